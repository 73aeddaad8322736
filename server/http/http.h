/*
 * http.h - the HTTP server and the request handlers see. http.c is the only file that
 * includes <microhttpd.h>; handlers get a struct req and answer with req_reply_*.
 *
 * Per request, before the body is read: route lookup (404/405), header size (431), access
 * (the hook given to http_start: 401/403/503), body size (413) and media type (415). Then the
 * body is read into the request arena and the handler runs on a worker thread of
 * libmicrohttpd's pool.
 *
 * Not here: any database, any notion of identity (the access hook owns both), any endpoint.
 */
#ifndef PATROL_HTTP_H
#define PATROL_HTTP_H

#include "err.h"
#include "router.h"

#include <stdbool.h>
#include <stddef.h>

struct app; /* the owner's context, handed to handlers; opaque here */
struct arena;
struct http_server;
struct http_stream;
struct metrics;

#define HTTP_MAX_HEADERS_OUT 8

struct req {
    struct app *app;     /* http_options.app, for the handler */
    struct arena *arena; /* freed when the request completes */
    const char *method;
    const char *path;   /* decoded, without the query string */
    char rid[40];       /* request id, also sent back as X-Request-Id */
    const char *remote; /* client address */
    const struct route *route;
    size_t route_index;
    struct route_params params;
    void *who;  /* the caller, as the access hook set it (opaque here); NULL on public routes */
    char *body; /* NUL-terminated, in the arena; NULL when there is none */
    size_t body_len;
    void *conn; /* the library's connection; only http.c looks inside */

    /* The reply, set through req_reply_* */
    int status;
    const char *resp_type;
    const char *resp_body; /* in the arena or static */
    size_t resp_len;
    int nheaders;
    const char *hname[HTTP_MAX_HEADERS_OUT], *hvalue[HTTP_MAX_HEADERS_OUT];
    struct http_stream *stream; /* set by req_reply_stream; only http.c looks inside */
};

/*
 * The access hook: decides, before the body is read, whether r may run r->route (asked only
 * for routes with roles != 0). Returns ERR_OK, having set r->who if it likes; or the error to
 * reply with (401, 403, 503...), with the message for the client in msg. It may block (it may
 * ask a database).
 */
typedef enum err (*http_access_fn)(void *ctx, struct req *r, char *msg, size_t msglen);

struct http_options {
    const char *listen; /* numeric address to bind */
    long port;          /* 0: any free port */
    /* With fixed_path set, every request is routed as if its path were fixed_path (a device
     * protocol's own port, where clients post to any path); the original path is still
     * logged. */
    const char *fixed_path;
    long threads;                /* worker threads */
    long max_connections;        /* connections in all */
    long max_per_ip;             /* connections per client address */
    long connection_timeout_s;   /* idle connections are closed after this */
    long max_header_bytes;       /* larger request headers get 431 */
    const struct router *router; /* borrowed; outlives the server */
    struct metrics *metrics;     /* borrowed; every finished request is observed */
    http_access_fn access;       /* NULL: routes with roles are refused (403) */
    void *access_ctx;
    struct app *app; /* handed to handlers as r->app */
};

/*
 * Starts listening with o (copied; what it points to is borrowed). Returns NULL with a reason
 * in msg when the port cannot be bound.
 */
struct http_server *http_start(const struct http_options *o, char *msg, size_t msglen);

/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *s);

/*
 * Stops accepting, ends every streamed body, waits up to grace_s for in-flight requests to
 * finish, then closes every connection and frees s.
 */
void http_stop(struct http_server *s, long grace_s);

/* Request accessors; results are borrowed (valid until the request completes) or NULL. */
const char *req_header(struct req *r, const char *name);
const char *req_query(struct req *r, const char *name);
const char *req_param(struct req *r, const char *name);

/*
 * Calls fn for every query argument (name, value; value may be NULL for "?flag"), in order,
 * until fn returns non-zero, which is then returned. 0 when all were seen.
 */
int req_query_foreach(struct req *r, int (*fn)(void *ctx, const char *name, const char *value),
                      void *ctx);

/* Sets the reply. body is copied when the response is built; it may live in the arena. */
void req_reply(struct req *r, int status, const char *content_type, const char *body, size_t len);

/*
 * A streamed body (server-sent events): produced piece by piece while the client reads,
 * for as long as the producer likes. On a libmicrohttpd thread, read(ctx, buf, max) writes
 * up to max bytes and returns how many (> 0), 0 when it has nothing to send now, or -1 to end
 * the body. After a 0 the connection is parked (it holds no thread) until ready(ctx) returns
 * non-zero; ready is polled about every 100 ms from another thread while the stream is parked,
 * never at the same time as read, so it must be cheap and only read what read leaves behind
 * (or atomics). free(ctx) runs exactly once, when the response is finished or the request ends
 * without it. When the server stops, every stream ends (read is not called again).
 */
struct req_stream {
    long (*read)(void *ctx, char *buf, size_t max);
    int (*ready)(void *ctx);
    void (*free)(void *ctx);
    void *ctx;
};

/*
 * Replies with status and a streamed body of content_type (borrowed: static or arena); st is
 * copied and its ctx taken (freed through st->free even on failure). Headers added with
 * req_add_header go out as usual. On out of memory replies 500 instead.
 */
void req_reply_stream(struct req *r, int status, const char *content_type,
                      const struct req_stream *st);

/* Adds a response header (name and value borrowed: static or arena). */
void req_add_header(struct req *r, const char *name, const char *value);

/* Is the request's Content-Type (parameters ignored) the media type type? */
bool req_media_is(struct req *r, const char *type);

/* Replies with {"error":{"code","message"}} and the error's status. */
void req_reply_error(struct req *r, enum err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

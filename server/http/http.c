/*
 * http.c - patrold's HTTP server on libmicrohttpd: an internal thread pool over epoll, limits
 * on connections, per-IP connections, idle time and header memory, one arena per request, the
 * checks done before a body is read, streamed bodies (server-sent events: parked connections
 * woken by a ticker thread), and graceful shutdown. The only file that includes <microhttpd.h>.
 *
 * Not here: what any endpoint does (api/, ogcapi/), who a caller is (the access hook of
 * handler/access.c), any database.
 */
#include "http.h"

#include "arena.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "strbuf.h"
#include "utf8.h"

#include <jansson.h>
#include <microhttpd.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A chunked body past its route's cap is read and dropped up to this many bytes, so the
 * client still gets its 413; beyond that the connection is cut. */
#define HTTP_DISCARD_MAX (64u << 20)

/* How often parked streams are asked whether they have something to send. */
#define HTTP_STREAM_TICK_MS 100
#define HTTP_STREAM_BLOCK   4096

struct http_server {
    struct MHD_Daemon *d;
    struct http_options o; /* fixed_path: route every request as this path (NULL: its own) */
    int port;
    atomic_long in_flight;
    atomic_ullong next_id;
    char rid_prefix[8];

    /* Streamed responses handed to libmicrohttpd, under streams_mu. */
    pthread_mutex_t streams_mu;
    pthread_cond_t streams_cv; /* wakes the ticker early when stopping */
    struct http_stream *streams;
    int stopping; /* under streams_mu: every stream ends, none parks */
    pthread_t ticker;
};

/* A streamed body (req_reply_stream). */
struct http_stream {
    struct req_stream cb;
    struct http_server *s;
    struct MHD_Connection *conn;
    int handed; /* given to libmicrohttpd, which frees it through stream_free */
    int parked; /* suspended, waiting for cb.ready (under streams_mu) */
    struct http_stream *prev, *next;
};

/* Per-request state beyond what handlers see. */
struct req_state {
    struct req r;
    struct http_server *s;
    struct timespec t0;
    struct strbuf body; /* being received; copied into the arena when complete */
    size_t discarded;
    int too_large;
    int replied_early; /* a response was queued before the body was read */
    char remote[INET6_ADDRSTRLEN];
};

/* ---- request accessors ---- */

const char *req_header(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_query(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_walk {
    int (*fn)(void *ctx, const char *name, const char *value);
    void *ctx;
    int rc;
};

static enum MHD_Result query_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct query_walk *w = cls;
    (void)kind;
    w->rc = w->fn(w->ctx, key, value);
    return w->rc == 0 ? MHD_YES : MHD_NO;
}

int req_query_foreach(struct req *r, int (*fn)(void *ctx, const char *name, const char *value),
                      void *ctx)
{
    struct query_walk w = { fn, ctx, 0 };
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_one, &w);
    return w.rc;
}

const char *req_param(struct req *r, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < r->params.n; i++)
        if (r->params.name_len[i] == len && strncmp(r->params.name[i], name, len) == 0)
            return r->params.value[i];
    return NULL;
}

static void stream_discard(struct http_stream *st)
{
    if (st == NULL)
        return;
    if (st->cb.free != NULL)
        st->cb.free(st->cb.ctx);
    free(st);
}

void req_reply(struct req *r, int status, const char *content_type, const char *body, size_t len)
{
    stream_discard(r->stream); /* a later reply replaces a stream not yet sent */
    r->stream = NULL;
    r->status = status;
    r->resp_type = content_type;
    r->resp_body = body ? body : "";
    r->resp_len = body ? len : 0;
}

void req_reply_stream(struct req *r, int status, const char *content_type,
                      const struct req_stream *st)
{
    struct http_stream *hs = calloc(1, sizeof(*hs));
    if (hs == NULL) {
        if (st->free != NULL)
            st->free(st->ctx);
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    hs->cb = *st;
    hs->conn = r->conn;
    req_reply(r, status, content_type, NULL, 0);
    r->stream = hs;
}

void req_add_header(struct req *r, const char *name, const char *value)
{
    if (r->nheaders >= HTTP_MAX_HEADERS_OUT) {
        log_msg(LOG_ERROR, r->rid, "too many response headers, dropped %s", name);
        return;
    }
    r->hname[r->nheaders] = name;
    r->hvalue[r->nheaders] = value;
    r->nheaders++;
}

void req_reply_error(struct req *r, enum err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = arena_vprintf(r->arena, fmt, ap);
    va_end(ap);
    if (msg != NULL)
        utf8_repair(msg); /* a message cut inside a character, or echoing bytes of the client */

    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", err_slug(e), "message",
                          msg ? msg : err_slug(e));
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    char *body = text ? arena_strdup(r->arena, text) : NULL;
    free(text);
    json_decref(j);
    if (body == NULL)
        body = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    req_reply(r, err_status(e), "application/json", body, strlen(body));
    if (e == ERR_UNAVAILABLE)
        req_add_header(r, "Retry-After", "2");
    else if (e == ERR_UNAUTHORIZED)
        req_add_header(r, "WWW-Authenticate", "Bearer realm=\"patrolgis\"");
    else if (e == ERR_RATE_LIMITED)
        req_add_header(r, "Retry-After", "1");
}

/* ---- the pre-body checks ---- */

struct header_sum {
    size_t bytes;
};

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct header_sum *h = cls;
    (void)kind;
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

/*
 * Does the media type of content_type (parameters ignored; NULL never matches) appear in list,
 * a comma-separated list of types ("a/b,c/d")? Case-insensitive, as media types are.
 */
static bool http_media_type_in(const char *list, const char *content_type)
{
    if (content_type == NULL)
        return false;
    size_t len = strcspn(content_type, ";");
    while (len > 0 && content_type[len - 1] == ' ')
        len--;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == len && strncasecmp(p, content_type, len) == 0)
            return true;
        p += n;
        if (*p == ',')
            p++;
    }
    return false;
}

bool req_media_is(struct req *r, const char *type)
{
    return http_media_type_in(type, req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
}

static int has_body(struct req *r, unsigned long long *declared)
{
    const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    *declared = 0;
    if (cl != NULL) {
        int64_t n;
        /* libmicrohttpd has parsed it already; a value we cannot read counts as too large. */
        *declared = parse_i64(cl, 0, INT64_MAX, &n) == ERR_OK ? (unsigned long long)n : ULLONG_MAX;
        return *declared > 0;
    }
    return te != NULL && strcasecmp(te, "chunked") == 0;
}

/* Asks the access hook whether r may run its route. Returns 0 when the handler may run;
 * otherwise the reply is set. */
static int check_access(struct http_server *s, struct req *r)
{
    char msg[160] = "";
    enum err e = ERR_FORBIDDEN;
    if (s->o.access != NULL)
        e = s->o.access(s->o.access_ctx, r, msg, sizeof(msg));
    else
        snprintf(msg, sizeof(msg), "no access control is configured for %s", r->route->path);
    if (e == ERR_OK)
        return 0;
    req_reply_error(r, e, "%s", msg);
    return -1;
}

/* Runs every check that needs no body. Returns 0 to go on reading the body. */
static int precheck(struct req_state *st)
{
    struct req *r = &st->r;
    struct http_server *s = st->s;
    char allow[64];
    unsigned long long declared;

    const char *path = s->o.fixed_path ? s->o.fixed_path : r->path;
    enum route_match m = router_match(s->o.router, r->method, path, r->arena, &r->route,
                                      &r->route_index, &r->params, allow, sizeof(allow));
    if (m == ROUTE_NO_PATH) {
        req_reply_error(r, ERR_NOT_FOUND, "no such resource: %s", r->path);
        return -1;
    }
    if (m == ROUTE_NO_METHOD) {
        req_reply_error(r, ERR_METHOD_NOT_ALLOWED, "%s is not allowed on %s (allowed: %s)",
                        r->method, r->path, allow);
        req_add_header(r, "Allow", arena_strdup(r->arena, allow));
        return -1;
    }

    struct header_sum h = { 0 };
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, sum_header, &h);
    if ((long)h.bytes > s->o.max_header_bytes) {
        req_reply_error(r, ERR_HEADERS_TOO_LARGE, "request headers are %zu bytes; the limit is %ld",
                        h.bytes, s->o.max_header_bytes);
        return -1;
    }

    if (r->route->roles != 0 && check_access(s, r) != 0)
        return -1;

    if (has_body(r, &declared)) {
        if (r->route->max_body == 0) {
            req_reply_error(r, ERR_TOO_LARGE, "%s %s takes no request body", r->method,
                            r->route->path);
            return -1;
        }
        if (declared > r->route->max_body) {
            req_reply_error(r, ERR_TOO_LARGE, "the body is %llu bytes; the limit here is %zu",
                            declared, r->route->max_body);
            return -1;
        }
        const char *ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (r->route->body_types != NULL && !http_media_type_in(r->route->body_types, ct)) {
            req_reply_error(r, ERR_UNSUPPORTED_MEDIA,
                            "Content-Type %s is not accepted here; send %s", ct ? ct : "(none)",
                            r->route->body_types);
            return -1;
        }
    }
    return 0;
}

/* ---- streamed bodies ---- */

/*
 * libmicrohttpd asks for more of a streamed body. Nothing to send: park the connection
 * (MHD_suspend_connection from the content reader, which its documentation allows) until the
 * ticker sees the stream ready; it then resumes it and this runs again.
 */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_stream *st = cls;
    struct http_server *s = st->s;
    (void)pos;
    pthread_mutex_lock(&s->streams_mu);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->streams_mu);
    if (stopping)
        return MHD_CONTENT_READER_END_OF_STREAM;
    long n = st->cb.read(st->cb.ctx, buf, max);
    if (n > 0)
        return (ssize_t)(n <= (long)max ? n : (long)max);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    pthread_mutex_lock(&s->streams_mu);
    if (s->stopping) {
        pthread_mutex_unlock(&s->streams_mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    MHD_suspend_connection(st->conn);
    st->parked = 1;
    pthread_mutex_unlock(&s->streams_mu);
    return 0;
}

static void stream_free(void *cls)
{
    struct http_stream *st = cls;
    struct http_server *s = st->s;
    pthread_mutex_lock(&s->streams_mu);
    if (st->prev != NULL)
        st->prev->next = st->next;
    else if (s->streams == st)
        s->streams = st->next;
    if (st->next != NULL)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&s->streams_mu);
    stream_discard(st);
}

/* Resumes parked streams that are ready (all of them when stopping). Under streams_mu. */
static void streams_wake(struct http_server *s)
{
    for (struct http_stream *st = s->streams; st != NULL; st = st->next) {
        if (!st->parked)
            continue;
        if (s->stopping || st->cb.ready == NULL || st->cb.ready(st->cb.ctx)) {
            st->parked = 0;
            MHD_resume_connection(st->conn);
        }
    }
}

static void *ticker_main(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->streams_mu);
    while (!s->stopping) {
        streams_wake(s);
        struct timespec deadline = clock_deadline(HTTP_STREAM_TICK_MS);
        pthread_cond_timedwait(&s->streams_cv, &s->streams_mu, &deadline);
    }
    streams_wake(s);
    pthread_mutex_unlock(&s->streams_mu);
    return NULL;
}

static struct MHD_Response *stream_response(struct http_server *s, struct req *r)
{
    struct http_stream *st = r->stream;
    st->s = s;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_read, st, stream_free);
    if (resp == NULL)
        return NULL;
    r->stream = NULL;
    st->handed = 1;
    pthread_mutex_lock(&s->streams_mu);
    st->next = s->streams;
    if (s->streams != NULL)
        s->streams->prev = st;
    s->streams = st;
    pthread_mutex_unlock(&s->streams_mu);
    return resp;
}

/* ---- libmicrohttpd callbacks ---- */

static enum MHD_Result queue_reply(struct http_server *s, struct MHD_Connection *c, struct req *r)
{
    if (r->status == 0) {
        log_msg(LOG_ERROR, r->rid, "handler for %s %s set no reply", r->method, r->path);
        req_reply_error(r, ERR_INTERNAL, "internal error (request %s)", r->rid);
    }
    struct MHD_Response *resp = NULL;
    if (r->stream != NULL)
        resp = stream_response(s, r);
    else
        resp = MHD_create_response_from_buffer(r->resp_len, (void *)(uintptr_t)r->resp_body,
                                               MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_type);
    MHD_add_response_header(resp, "X-Request-Id", r->rid);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->hname[i], r->hvalue[i]);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int valid_rid(const char *s)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    for (; s[n]; n++) {
        char ch = s[n];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_' || ch == '.';
        if (!ok || n >= 36)
            return 0;
    }
    return n > 0;
}

static struct req_state *req_begin(struct http_server *s, struct MHD_Connection *c, const char *url,
                                   const char *method)
{
    struct req_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->r.arena = arena_new();
    if (st->r.arena == NULL) {
        free(st);
        return NULL;
    }
    st->s = s;
    clock_gettime(CLOCK_MONOTONIC, &st->t0);
    st->r.app = s->o.app;
    strbuf_init(&st->body, 0);
    st->r.conn = c;
    st->r.method = arena_strdup(st->r.arena, method);
    st->r.path = arena_strdup(st->r.arena, url);
    st->r.route_index = (size_t)-1;

    const char *given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (valid_rid(given))
        snprintf(st->r.rid, sizeof(st->r.rid), "%s", given);
    else
        snprintf(st->r.rid, sizeof(st->r.rid), "%s-%llu", s->rid_prefix,
                 (unsigned long long)atomic_fetch_add(&s->next_id, 1));

    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    st->remote[0] = '\0';
    if (ci != NULL && ci->client_addr != NULL) {
        socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                               : sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, len, st->remote, sizeof(st->remote), NULL, 0,
                        NI_NUMERICHOST) != 0)
            st->remote[0] = '\0';
    }
    st->r.remote = st->remote;
    atomic_fetch_add(&s->in_flight, 1);
    return st;
}

static int body_append(struct req_state *st, const char *data, size_t n)
{
    if (st->body.len + n > st->r.route->max_body) {
        st->too_large = 1;
        st->discarded += n;
        return st->discarded <= HTTP_DISCARD_MAX ? 0 : -1;
    }
    strbuf_add(&st->body, data, n);
    return strbuf_error(&st->body) == ERR_OK ? 0 : -1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    (void)version;

    if (st == NULL) {
        st = req_begin(s, c, url, method);
        if (st == NULL)
            return MHD_NO;
        *con_cls = st;
        if (precheck(st) != 0) {
            st->replied_early = 1;
            return queue_reply(s, c, &st->r);
        }
        return MHD_YES;
    }
    if (st->replied_early)
        return MHD_YES; /* the rest of an unwanted body */
    if (*upload_data_size > 0) {
        int rc = body_append(st, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return rc == 0 ? MHD_YES : MHD_NO;
    }

    struct req *r = &st->r;
    if (st->too_large) {
        req_reply_error(r, ERR_TOO_LARGE, "the body is over %zu bytes, the limit here",
                        r->route->max_body);
        return queue_reply(s, c, r);
    }
    if (st->body.p != NULL) {
        r->body = arena_strndup(r->arena, st->body.p, st->body.len);
        r->body_len = st->body.len;
        strbuf_free(&st->body);
        if (r->body == NULL) {
            req_reply_error(r, ERR_INTERNAL, "out of memory");
            return queue_reply(s, c, r);
        }
    }
    r->route->fn(r);
    return queue_reply(s, c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct req_state *st = *con_cls;
    (void)c;
    if (st == NULL)
        return;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = clock_elapsed_s(&st->t0, &t1);
    struct req *r = &st->r;
    int status = r->status ? r->status : 499; /* the client went away before a reply */
    metrics_observe(s->o.metrics, r->route ? (long)r->route_index : -1, r->method, status, secs);
    log_msg(status >= 500 ? LOG_WARN : LOG_INFO, r->rid, "%s %s %d %.1fms%s%s%s", r->method,
            r->path, status, secs * 1000.0, r->remote[0] ? " from " : "", r->remote,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection ended early)");
    strbuf_free(&st->body);
    stream_discard(r->stream); /* a stream that never reached libmicrohttpd */
    arena_free(r->arena);
    free(st);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_msg(LOG_WARN, NULL, "http: %s", buf);
}

static void server_free(struct http_server *s)
{
    pthread_mutex_destroy(&s->streams_mu);
    pthread_cond_destroy(&s->streams_cv);
    free(s);
}

struct http_server *http_start(const struct http_options *o, char *msg, size_t msglen)
{
    const char *listen = o->listen;
    long port = o->port;
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
    struct addrinfo *ai = NULL;
    char service[16];
    unsigned char rnd[3];

    snprintf(service, sizeof(service), "%ld", port);
    int gai = getaddrinfo(listen, service, &hints, &ai);
    if (gai != 0) {
        snprintf(msg, msglen, "listen address '%s': %s", listen, gai_strerror(gai));
        return NULL;
    }
    struct http_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        freeaddrinfo(ai);
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    s->o = *o;
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_cond_init(&s->streams_cv, NULL);
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    snprintf(s->rid_prefix, sizeof(s->rid_prefix), "%02x%02x%02x", rnd[0], rnd[1], rnd[2]);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Header memory: our own 431 check runs below this; libmicrohttpd's (an HTML 431) only
     * past it. */
    size_t memory_limit = (size_t)o->max_header_bytes * 2 + 32768;
    /* The logger goes first so libmicrohttpd reports problems with the other options. */
    s->d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)o->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory_limit,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (s->d == NULL) {
        snprintf(msg, msglen, "cannot listen on %s port %ld (in use, or not permitted)", listen,
                 port);
        server_free(s);
        return NULL;
    }
    if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
        snprintf(msg, msglen, "cannot start a thread");
        MHD_stop_daemon(s->d);
        server_free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : (int)port;
    return s;
}

int http_port(const struct http_server *s)
{
    return s->port;
}

void http_stop(struct http_server *s, long grace_s)
{
    if (s == NULL)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* End every stream: the parked ones are resumed and read no further. */
    pthread_mutex_lock(&s->streams_mu);
    s->stopping = 1;
    streams_wake(s);
    pthread_cond_signal(&s->streams_cv);
    pthread_mutex_unlock(&s->streams_mu);
    pthread_join(s->ticker, NULL);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long pending;
    while ((pending = atomic_load(&s->in_flight)) > 0) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= grace_s) {
            log_warn("shutdown: %ld request(s) still in flight after %lds; closing", pending,
                     grace_s);
            break;
        }
        struct timespec pause = { 0, 20 * 1000000L };
        nanosleep(&pause, NULL);
    }
    MHD_stop_daemon(s->d);
    server_free(s);
}

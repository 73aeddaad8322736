/*
 * router.h - the route table: method, path pattern, handler, the roles it accepts and the
 * body it takes. API files each declare a static array of routes and hand it to router_add;
 * the HTTP layer matches requests against it and the OpenAPI document is generated from it.
 * The roles of a route are bits this file does not interpret (auth.h names them); 0 means a
 * public route, which the access hook is not asked about.
 *
 * Patterns are literal segments and {name} segments ("/api/v1/tokens/{id}"). HEAD matches GET.
 */
#ifndef PATROL_ROUTER_H
#define PATROL_ROUTER_H

#include "err.h"

#include <stddef.h>

struct arena;
struct req;

/* A handler always replies through the req_reply_* functions of http.h. */
typedef void (*route_fn)(struct req *r);

struct route {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;   /* pattern */
    route_fn fn;
    unsigned roles;         /* who may call: bits the access hook interprets; 0 = public */
    size_t max_body;        /* larger bodies get 413; 0 = no body accepted */
    const char *body_types; /* accepted media types, comma separated; NULL = any */
    const char *summary;    /* one line, for OpenAPI */
    const char *tag;        /* OpenAPI tag */
};

#define ROUTER_MAX_PARAMS 4

struct route_params {
    int n;
    const char *name[ROUTER_MAX_PARAMS]; /* borrowed from the route pattern */
    size_t name_len[ROUTER_MAX_PARAMS];
    char *value[ROUTER_MAX_PARAMS]; /* in the request arena */
};

enum route_match { ROUTE_FOUND, ROUTE_NO_PATH, ROUTE_NO_METHOD };

struct router;

/* New empty router, or NULL when out of memory. */
struct router *router_new(void);
void router_free(struct router *rt);

/*
 * Adds n routes. The array is borrowed and must outlive the router (use static arrays).
 * Returns ERR_OK; ERR_INVALID_ARGUMENT when a pattern is malformed (more than
 * ROUTER_MAX_PARAMS parameters, an unclosed brace), and nothing is added; ERR_INTERNAL when
 * out of memory.
 */
enum err router_add(struct router *rt, const struct route *routes, size_t n);

/*
 * Matches method and (decoded) path. On ROUTE_FOUND, *out and *index are set and params
 * filled (values allocated in a). On ROUTE_NO_METHOD, allow receives the methods the path
 * accepts ("GET, POST"). Trailing slashes are not ignored: "/a/" is not "/a".
 */
enum route_match router_match(const struct router *rt, const char *method, const char *path,
                              struct arena *a, const struct route **out, size_t *index,
                              struct route_params *params, char *allow, size_t allow_len);

size_t router_count(const struct router *rt);
const struct route *router_get(const struct router *rt, size_t i);

#endif

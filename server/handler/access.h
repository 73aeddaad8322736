/*
 * access.h - the glue between the transport (http/) and the store (store/) that every handler
 * needs: a pooled database connection for the request, and the access hook that http_start is
 * given, which authenticates a request and checks its role against the route's.
 *
 * Not here: tokens and roles themselves (auth.h), the transport (http.h).
 */
#ifndef PATROL_ACCESS_H
#define PATROL_ACCESS_H

#include "err.h"

#include <stddef.h>

struct db_conn;
struct identity;
struct req;

/*
 * A pooled database connection for this request (r->app->pool), or NULL after replying 503
 * with Retry-After (the pool is exhausted or the database unreachable; the reason goes to the
 * log). Give it back with req_db_release before the handler returns.
 */
struct db_conn *req_db_acquire(struct req *r);
void req_db_release(struct req *r, struct db_conn *c);

/*
 * The access hook (http_access_fn; ctx is unused: the struct app is r->app): resolves the bearer
 * token of r to an identity in r's arena (r->who), and refuses a role the route does not accept.
 * Every refusal (401, 403) is audited. A database that cannot be asked gives 503.
 */
enum err access_check(void *ctx, struct req *r, char *msg, size_t msglen);

/* The caller of an authenticated route (r->who, set by access_check). */
const struct identity *req_identity(const struct req *r);

#endif

/*
 * access.c - a database connection per request and the access hook (see access.h).
 */
#include "access.h"

#include "app.h"
#include "arena.h"
#include "auth.h"
#include "db.h"
#include "http.h"
#include "log.h"

#include <stdio.h>

/* Takes a connection for r; on failure logs why and writes the client's message into msg. */
static struct db_conn *acquire(struct req *r, char *msg, size_t msglen)
{
    char why[160];
    struct db_conn *c = NULL;
    if (db_acquire(r->app->pool, &c, why, sizeof(why)) != ERR_OK) {
        log_msg(LOG_WARN, r->rid, "%s %s: %s", r->method, r->path, why);
        snprintf(msg, msglen, "the database is not available; retry shortly");
        return NULL;
    }
    return c;
}

struct db_conn *req_db_acquire(struct req *r)
{
    char msg[160];
    struct db_conn *c = acquire(r, msg, sizeof(msg));
    if (c == NULL)
        req_reply_error(r, ERR_UNAVAILABLE, "%s", msg);
    return c;
}

void req_db_release(struct req *r, struct db_conn *c)
{
    db_release(r->app->pool, c);
}

enum err access_check(void *ctx, struct req *r, char *msg, size_t msglen)
{
    (void)ctx; /* the struct app, which every request also carries as r->app */
    struct identity *who = arena_calloc(r->arena, 1, sizeof(*who));
    if (who == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_INTERNAL;
    }
    struct db_conn *c = acquire(r, msg, msglen);
    if (c == NULL)
        return ERR_UNAVAILABLE;
    enum err e = auth_bearer(c, req_header(r, "Authorization"), who, r->rid, msg, msglen);
    if (e == ERR_OK && (who->role & r->route->roles) == 0) {
        e = ERR_FORBIDDEN;
        snprintf(msg, msglen, "role %s may not %s %s", auth_role_name(who->role), r->method,
                 r->route->path);
    }
    if (e == ERR_UNAUTHORIZED || e == ERR_FORBIDDEN)
        auth_record_denial(c, who, r->rid, r->remote, r->method, r->path, err_status(e), msg);
    req_db_release(r, c);
    if (e == ERR_OK)
        r->who = who;
    else if (e != ERR_UNAUTHORIZED && e != ERR_FORBIDDEN)
        snprintf(msg, msglen, "could not check the credentials; retry shortly");
    return e;
}

const struct identity *req_identity(const struct req *r)
{
    return r->who;
}

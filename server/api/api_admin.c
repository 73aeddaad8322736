/*
 * api_admin.c - administration over HTTP: users, devices and tokens (admin only). The work
 * itself is in accounts.c, shared with the command line.
 */
#include "api.h"

#include "accounts.h"
#include "access.h"
#include "app.h"
#include "db.h"
#include "http.h"
#include "json.h"
#include "req_json.h"
#include "parse.h"
#include "pgjson.h"
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_MAX_BODY (64 * 1024)

static void account_ctx_init(struct account_ctx *x, struct req *r, struct db_conn *c, char *actor,
                             size_t actor_len, char *msg, size_t msglen)
{
    auth_actor(req_identity(r), actor, actor_len);
    x->c = c;
    x->actor = actor;
    x->rid = r->rid;
    x->msg = msg;
    x->msglen = msglen;
    msg[0] = '\0';
}

/* Replies with a query's rows as a JSON array of objects under `key`. */
static void reply_rows(struct req *r, struct stmt *s, const char *key)
{
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    PGresult *res;
    enum err e = db_exec(c, s, 0, NULL, &res, r->rid);
    req_db_release(r, c);
    if (e != ERR_OK) {
        req_reply_error(r, e, "could not read %s", key);
        return;
    }
    json_t *rows = pgjson_rows(res);
    PQclear(res);
    json_t *body = json_object();
    json_object_set_new(body, key, rows);
    req_reply_json(r, 200, body);
}

static struct stmt st_users =
    STMT("admin_users", "SELECT id, name, display_name, role, disabled,"
                        " to_char(created_at AT TIME ZONE 'UTC',"
                        "         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at"
                        " FROM users ORDER BY id");

static void get_users(struct req *r)
{
    reply_rows(r, &st_users, "users");
}

static void post_users(struct req *r)
{
    static const char *const allowed[] = { "name", "role", "display_name", "password", NULL };
    const char *name, *role, *display, *password;
    json_t *j = req_json_object(r);
    if (j == NULL)
        return;
    if (json_only_members(r, j, allowed) != 0 || json_opt_string(r, j, "name", &name) != 0 ||
        json_opt_string(r, j, "role", &role) != 0 ||
        json_opt_string(r, j, "display_name", &display) != 0 ||
        json_opt_string(r, j, "password", &password) != 0)
        goto out;
    if (name == NULL || role == NULL) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "members 'name' and 'role' are required");
        goto out;
    }
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        goto out;
    char actor[160], msg[256];
    struct account_ctx x;
    long long id = 0;
    account_ctx_init(&x, r, c, actor, sizeof(actor), msg, sizeof(msg));
    char created[40] = "";
    enum err e =
        accounts_user_create(&x, name, role, display, password, &id, created, sizeof(created));
    req_db_release(r, c);
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", msg);
        goto out;
    }
    /* The same shape as a row of GET /api/v1/users. */
    req_reply_json(r, 201,
                   json_pack("{s:I,s:s,s:s?,s:s,s:b,s:s}", "id", (json_int_t)id, "name", name,
                             "display_name", display, "role", role, "disabled", 0, "created_at",
                             created));
out:
    json_decref(j);
}

static void post_tokens(struct req *r)
{
    static const char *const allowed[] = { "user", "device", "label", "expires_days", NULL };
    const char *user, *device, *label;
    long long days = 0;
    int have_days;
    json_t *j = req_json_object(r);
    if (j == NULL)
        return;
    if (json_only_members(r, j, allowed) != 0 || json_opt_string(r, j, "user", &user) != 0 ||
        json_opt_string(r, j, "device", &device) != 0 ||
        json_opt_string(r, j, "label", &label) != 0 ||
        json_opt_int(r, j, "expires_days", &days, &have_days) != 0)
        goto out;
    if ((user == NULL) == (device == NULL)) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "give exactly one of 'user' and 'device'");
        goto out;
    }
    if (days < 0 || days > 36500) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "expires_days must be 0 (never) to 36500");
        goto out;
    }
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        goto out;
    char actor[160], msg[256], token[AUTH_TOKEN_LEN + 1], expires[40] = "";
    struct account_ctx x;
    long long id = 0;
    account_ctx_init(&x, r, c, actor, sizeof(actor), msg, sizeof(msg));
    enum err e = accounts_token_issue(&x, user ? WHO_USER : WHO_DEVICE, user ? user : device, label,
                                      (long)days, token, &id, expires, sizeof(expires));
    req_db_release(r, c);
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", msg);
        goto out;
    }
    req_reply_json(r, 201,
                   json_pack("{s:I,s:s,s:s?,s:s?}", "id", (json_int_t)id, "token", token, "label",
                             label, "expires_at", expires[0] ? expires : NULL));
out:
    json_decref(j);
}

static void delete_token(struct req *r)
{
    const char *sid = req_param(r, "id");
    int64_t id;
    if (parse_i64(sid, 1, INT64_MAX, &id) != ERR_OK) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "a token id is a positive integer");
        return;
    }
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    char actor[160], msg[256];
    struct account_ctx x;
    account_ctx_init(&x, r, c, actor, sizeof(actor), msg, sizeof(msg));
    enum err e = accounts_token_revoke(&x, id);
    req_db_release(r, c);
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", msg);
        return;
    }
    req_reply(r, 204, "application/json", "", 0);
}

static struct stmt st_tokens = STMT(
    "admin_tokens",
    "SELECT t.id, u.name AS user, d.name AS device, t.label,"
    " to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at,"
    " to_char(t.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS expires_at,"
    " t.revoked_at IS NOT NULL AS revoked"
    " FROM tokens t LEFT JOIN users u ON u.id = t.user_id"
    " LEFT JOIN devices d ON d.id = t.device_id ORDER BY t.id");

static void get_tokens(struct req *r)
{
    reply_rows(r, &st_tokens, "tokens");
}

static struct stmt st_devices =
    STMT("admin_devices", "SELECT id, name, kind, unit, jt808_terminal, disabled,"
                          " to_char(created_at AT TIME ZONE 'UTC',"
                          "         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at"
                          " FROM devices ORDER BY id");

static void get_devices(struct req *r)
{
    reply_rows(r, &st_devices, "devices");
}

static void post_devices(struct req *r)
{
    static const char *const allowed[] = { "name", "kind", "unit", NULL };
    const char *name, *kind, *unit;
    json_t *j = req_json_object(r);
    if (j == NULL)
        return;
    if (json_only_members(r, j, allowed) != 0 || json_opt_string(r, j, "name", &name) != 0 ||
        json_opt_string(r, j, "kind", &kind) != 0 || json_opt_string(r, j, "unit", &unit) != 0)
        goto out;
    if (name == NULL) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "member 'name' is required");
        goto out;
    }
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        goto out;
    char actor[160], msg[256], token[AUTH_TOKEN_LEN + 1], ident[AUTH_IDENT_LEN + 1];
    struct account_ctx x;
    long long id = 0;
    account_ctx_init(&x, r, c, actor, sizeof(actor), msg, sizeof(msg));
    enum err e = accounts_device_create(&x, name, kind, unit, ident, token, &id);
    req_db_release(r, c);
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", msg);
        goto out;
    }
    req_reply_json(r, 201,
                   json_pack("{s:I,s:s,s:s,s:s?,s:s,s:s}", "id", (json_int_t)id, "name", name,
                             "kind", kind ? kind : "phone", "unit", unit, "token", token, "ident",
                             ident));
out:
    json_decref(j);
}

static const struct route admin_routes[] = {
    { "GET", "/api/v1/users", get_users, ROLES_ADMIN, 0, NULL, "List users", "admin" },
    { "POST", "/api/v1/users", post_users, ROLES_ADMIN, ADMIN_MAX_BODY, "application/json",
      "Create a user (viewer, editor or admin)", "admin" },
    { "GET", "/api/v1/tokens", get_tokens, ROLES_ADMIN, 0, NULL, "List tokens (never their values)",
      "admin" },
    { "POST", "/api/v1/tokens", post_tokens, ROLES_ADMIN, ADMIN_MAX_BODY, "application/json",
      "Issue a token for a user or a device; the value is shown once", "admin" },
    { "DELETE", "/api/v1/tokens/{id}", delete_token, ROLES_ADMIN, 0, NULL, "Revoke a token",
      "admin" },
    { "GET", "/api/v1/devices", get_devices, ROLES_ADMIN, 0, NULL, "List devices", "admin" },
    { "POST", "/api/v1/devices", post_devices, ROLES_ADMIN, ADMIN_MAX_BODY, "application/json",
      "Register a device; returns its identifier and token once", "admin" },
};

enum err api_admin_register(struct router *rt)
{
    return router_add(rt, admin_routes, sizeof(admin_routes) / sizeof(admin_routes[0]));
}

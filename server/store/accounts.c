/*
 * accounts.c - user, device and token bookkeeping (see accounts.h).
 */
#include "accounts.h"

#include "db.h"
#include "auth.h"
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Name rules shared by users and devices: 1..64 bytes, no spaces or control characters. */
static int accounts_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch <= ' ' || ch == 0x7f)
            return 0;
    }
    return 1;
}

/* Opens the transaction and names the actor for the audit triggers. */
static enum err tx_begin(struct account_ctx *x)
{
    enum err e = db_begin(x->c, x->rid);
    if (e == ERR_OK)
        e = db_set_actor(x->c, x->actor, x->rid);
    if (e != ERR_OK) {
        snprintf(x->msg, x->msglen, "database unavailable");
        db_rollback(x->c, x->rid);
    }
    return e;
}

static enum err tx_end(struct account_ctx *x, enum err e)
{
    if (e == ERR_OK) {
        e = db_commit(x->c, x->rid);
        if (e != ERR_OK)
            snprintf(x->msg, x->msglen, "could not commit: the database is unavailable");
    } else {
        db_rollback(x->c, x->rid);
    }
    return e;
}

static enum err db_failure(struct account_ctx *x, enum err e, const char *what)
{
    if (e == ERR_CONFLICT)
        snprintf(x->msg, x->msglen, "%s already exists", what);
    else if (e == ERR_UNAVAILABLE)
        snprintf(x->msg, x->msglen, "the database is unavailable; retry shortly");
    else
        snprintf(x->msg, x->msglen, "could not store %s", what);
    return e;
}

static struct stmt st_user_insert =
    STMT("accounts_user_insert", "INSERT INTO users (name, role, display_name, password_hash)"
                                 " VALUES ($1, $2, $3, $4) RETURNING id,"
                                 " to_char(created_at AT TIME ZONE 'UTC',"
                                 "         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");

enum err accounts_user_create(struct account_ctx *x, const char *name, const char *role,
                              const char *display_name, const char *password, long long *id,
                              char *created_at, size_t created_len)
{
    char pwhash[256];
    unsigned r = auth_role_parse(role);
    if (!accounts_name_valid(name)) {
        snprintf(x->msg, x->msglen, "a user name is 1 to 64 bytes without spaces");
        return ERR_INVALID_ARGUMENT;
    }
    if (r == 0 || r == ROLE_DEVICE) {
        snprintf(x->msg, x->msglen, "role must be viewer, editor or admin");
        return ERR_INVALID_ARGUMENT;
    }
    if (password != NULL) {
        if (strlen(password) < 8 || strlen(password) > 1024) {
            snprintf(x->msg, x->msglen, "a password has 8 to 1024 bytes");
            return ERR_INVALID_ARGUMENT;
        }
        if (auth_password_hash(password, pwhash, sizeof(pwhash)) != 0) {
            snprintf(x->msg, x->msglen, "could not hash the password");
            return ERR_INTERNAL;
        }
    }
    enum err e = tx_begin(x);
    if (e != ERR_OK)
        return e;
    const char *params[4] = { name, role, display_name, password ? pwhash : NULL };
    PGresult *res;
    e = db_exec(x->c, &st_user_insert, 4, params, &res, x->rid);
    if (e == ERR_OK) {
        *id = parse_cell_i64(PQgetvalue(res, 0, 0));
        snprintf(created_at, created_len, "%s", PQgetvalue(res, 0, 1));
        PQclear(res);
    } else {
        char what[128];
        snprintf(what, sizeof(what), "a user named '%s'", name);
        db_failure(x, e, what);
    }
    return tx_end(x, e);
}

static struct stmt st_owner_user =
    STMT("accounts_owner_user", "SELECT id FROM users WHERE name = $1");
static struct stmt st_owner_device =
    STMT("accounts_owner_device", "SELECT id FROM devices WHERE name = $1");
static struct stmt st_token_insert =
    STMT("accounts_token_insert",
         "INSERT INTO tokens (user_id, device_id, token_hash, label, expires_at)"
         " VALUES ($1::bigint, $2::bigint, $3::bytea, $4,"
         "         CASE WHEN $5::int > 0 THEN now() + make_interval(days => $5::int) END)"
         " RETURNING id, coalesce(to_char(expires_at AT TIME ZONE 'UTC',"
         "                                'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')");

/* Inserts a token for an owner id inside the caller's transaction. */
static enum err token_insert(struct account_ctx *x, enum who_kind kind, const char *owner_id,
                             const char *label, long expires_days, char *token, long long *id,
                             char *expires_at, size_t expires_len)
{
    char hash[3 + 2 * AUTH_HASH_LEN], days[24];
    if (auth_token_new(token) != 0) {
        snprintf(x->msg, x->msglen, "no randomness available");
        return ERR_INTERNAL;
    }
    auth_hash_bytea(token, hash);
    snprintf(days, sizeof(days), "%ld", expires_days);
    const char *params[5] = { kind == WHO_USER ? owner_id : NULL,
                              kind == WHO_DEVICE ? owner_id : NULL, hash, label, days };
    PGresult *res;
    enum err e = db_exec(x->c, &st_token_insert, 5, params, &res, x->rid);
    if (e != ERR_OK)
        return db_failure(x, e, "the token");
    *id = parse_cell_i64(PQgetvalue(res, 0, 0));
    if (expires_at != NULL)
        snprintf(expires_at, expires_len, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    return ERR_OK;
}

enum err accounts_token_issue(struct account_ctx *x, enum who_kind owner_kind, const char *owner,
                              const char *label, long expires_days, char *token, long long *id,
                              char *expires_at, size_t expires_len)
{
    if (expires_days < 0 || expires_days > 36500) {
        snprintf(x->msg, x->msglen, "expires_days must be 0 (never) to 36500");
        return ERR_INVALID_ARGUMENT;
    }
    enum err e = tx_begin(x);
    if (e != ERR_OK)
        return e;
    const char *params[1] = { owner };
    PGresult *res;
    e = db_exec(x->c, owner_kind == WHO_USER ? &st_owner_user : &st_owner_device, 1, params, &res,
                x->rid);
    if (e == ERR_OK && PQntuples(res) == 0) {
        snprintf(x->msg, x->msglen, "no %s named '%s'", owner_kind == WHO_USER ? "user" : "device",
                 owner);
        e = ERR_NOT_FOUND;
    } else if (e == ERR_OK) {
        e = token_insert(x, owner_kind, PQgetvalue(res, 0, 0), label, expires_days, token, id,
                         expires_at, expires_len);
    } else {
        db_failure(x, e, "the token");
    }
    PQclear(res);
    return tx_end(x, e);
}

static struct stmt st_token_revoke =
    STMT("accounts_token_revoke", "UPDATE tokens SET revoked_at = now()"
                                  " WHERE id = $1::bigint AND revoked_at IS NULL");

enum err accounts_token_revoke(struct account_ctx *x, long long id)
{
    char sid[24];
    snprintf(sid, sizeof(sid), "%lld", id);
    enum err e = tx_begin(x);
    if (e != ERR_OK)
        return e;
    const char *params[1] = { sid };
    PGresult *res;
    e = db_exec(x->c, &st_token_revoke, 1, params, &res, x->rid);
    if (e == ERR_OK) {
        if (strcmp(PQcmdTuples(res), "1") != 0) {
            snprintf(x->msg, x->msglen, "no active token with id %lld", id);
            e = ERR_NOT_FOUND;
        }
        PQclear(res);
    } else {
        db_failure(x, e, "the revocation");
    }
    return tx_end(x, e);
}

static struct stmt st_device_insert =
    STMT("accounts_device_insert", "INSERT INTO devices (name, kind, unit, ident_hash)"
                                   " VALUES ($1, $2, $3, $4::bytea) RETURNING id");

enum err accounts_device_create(struct account_ctx *x, const char *name, const char *kind,
                                const char *unit, char *ident, char *token, long long *id)
{
    char hash[3 + 2 * AUTH_HASH_LEN], sid[24];
    long long token_id;
    if (!accounts_name_valid(name)) {
        snprintf(x->msg, x->msglen, "a device name is 1 to 64 bytes without spaces");
        return ERR_INVALID_ARGUMENT;
    }
    if (kind == NULL)
        kind = "phone";
    if (strcmp(kind, "phone") != 0 && strcmp(kind, "jt808") != 0 && strcmp(kind, "other") != 0) {
        snprintf(x->msg, x->msglen, "kind must be phone, jt808 or other");
        return ERR_INVALID_ARGUMENT;
    }
    if (auth_ident_new(ident) != 0) {
        snprintf(x->msg, x->msglen, "no randomness available");
        return ERR_INTERNAL;
    }
    auth_hash_bytea(ident, hash);
    enum err e = tx_begin(x);
    if (e != ERR_OK)
        return e;
    const char *params[4] = { name, kind, unit, hash };
    PGresult *res;
    e = db_exec(x->c, &st_device_insert, 4, params, &res, x->rid);
    if (e == ERR_OK) {
        *id = parse_cell_i64(PQgetvalue(res, 0, 0));
        PQclear(res);
        snprintf(sid, sizeof(sid), "%lld", *id);
        e = token_insert(x, WHO_DEVICE, sid, "device", 0, token, &token_id, NULL, 0);
    } else {
        char what[128];
        snprintf(what, sizeof(what), "a device named '%s'", name);
        db_failure(x, e, what);
    }
    return tx_end(x, e);
}

/*
 * auth.c - bearer tokens and password hashes (see auth.h). Randomness and SHA-256 come from
 * OpenSSL, argon2id from libargon2. A token is looked up by its hash; the stored hash is then
 * compared in constant time.
 */
#include "auth.h"

#include "db.h"
#include "log.h"
#include "parse.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int auth_token_new(char *out)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33]; /* 32 random bytes, padded to a multiple of 3 */
    char text[44];         /* 11 groups of 4; the last character carries only padding */
    size_t prefix = strlen(AUTH_TOKEN_PREFIX);

    if (RAND_bytes(raw, 32) != 1)
        return -1;
    raw[32] = 0;
    for (int i = 0, o = 0; i < 33; i += 3, o += 4) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        text[o] = b64url[(v >> 18) & 63];
        text[o + 1] = b64url[(v >> 12) & 63];
        text[o + 2] = b64url[(v >> 6) & 63];
        text[o + 3] = b64url[v & 63];
    }
    memcpy(out, AUTH_TOKEN_PREFIX, prefix);
    memcpy(out + prefix, text, AUTH_TOKEN_LEN - prefix);
    out[AUTH_TOKEN_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(text, sizeof(text));
    return 0;
}

int auth_ident_new(char *out)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned char raw[AUTH_IDENT_LEN];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    for (int i = 0; i < AUTH_IDENT_LEN; i++)
        out[i] = b32[raw[i] & 31];
    out[AUTH_IDENT_LEN] = '\0';
    return 0;
}

static void sha256(const char *s, unsigned char out[AUTH_HASH_LEN])
{
    unsigned int len = AUTH_HASH_LEN;
    if (EVP_Digest(s, strlen(s), out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0, AUTH_HASH_LEN); /* cannot happen with the default provider */
}

void auth_hash_bytea(const char *s, char *out)
{
    unsigned char h[AUTH_HASH_LEN];
    sha256(s, h);
    out[0] = '\\';
    out[1] = 'x';
    db_hex(h, sizeof(h), out + 2);
}

static const struct {
    unsigned role;
    const char *name;
} roles[] = {
    { ROLE_DEVICE, "device" },
    { ROLE_VIEWER, "viewer" },
    { ROLE_EDITOR, "editor" },
    { ROLE_ADMIN, "admin" },
};

unsigned auth_role_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (name != NULL && strcmp(name, roles[i].name) == 0)
            return roles[i].role;
    return 0;
}

const char *auth_role_name(unsigned role)
{
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (role == roles[i].role)
            return roles[i].name;
    return "";
}

static struct stmt st_token = STMT(
    "auth_token", "SELECT t.id, t.token_hash, coalesce(u.id, d.id), coalesce(u.name, d.name),"
                  "       CASE WHEN t.user_id IS NOT NULL THEN u.role ELSE 'device' END,"
                  "       t.last_used_at IS NULL OR t.last_used_at < now() - interval '60 seconds'"
                  "  FROM tokens t"
                  "  LEFT JOIN users u ON u.id = t.user_id"
                  "  LEFT JOIN devices d ON d.id = t.device_id"
                  " WHERE t.token_hash = $1::bytea AND t.revoked_at IS NULL"
                  "   AND (t.expires_at IS NULL OR t.expires_at > now())"
                  "   AND NOT coalesce(u.disabled, d.disabled, true)");

/* last_used_at is kept to the minute: one write per token and minute, not per request. */
static struct stmt st_touch = STMT("auth_touch", "UPDATE tokens SET last_used_at = now()"
                                                 " WHERE id = $1::bigint");

enum err auth_bearer(struct db_conn *c, const char *header, struct identity *who, const char *rid,
                     char *msg, size_t msglen)
{
    char hash[3 + 2 * AUTH_HASH_LEN];
    memset(who, 0, sizeof(*who));
    if (header == NULL) {
        snprintf(msg, msglen, "this resource needs a bearer token (Authorization: Bearer ...)");
        return ERR_UNAUTHORIZED;
    }
    if (strncasecmp(header, "Bearer ", 7) != 0) {
        snprintf(msg, msglen, "the Authorization header must be 'Bearer <token>'");
        return ERR_UNAUTHORIZED;
    }
    const char *token = header + 7;
    while (*token == ' ')
        token++;
    if (strlen(token) != AUTH_TOKEN_LEN ||
        strncmp(token, AUTH_TOKEN_PREFIX, strlen(AUTH_TOKEN_PREFIX)) != 0) {
        snprintf(msg, msglen, "the bearer token is not a patrolgis token");
        return ERR_UNAUTHORIZED;
    }
    auth_hash_bytea(token, hash);
    const char *params[1] = { hash };
    PGresult *res = NULL;
    enum err e = db_exec(c, &st_token, 1, params, &res, rid);
    if (e != ERR_OK)
        return e;
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(msg, msglen, "the bearer token is unknown, revoked or expired");
        return ERR_UNAUTHORIZED;
    }
    /* The row was found by its hash; compare the stored hash in constant time anyway so no
     * index or collation quirk can ever let a different token through. */
    const char *stored = PQgetvalue(res, 0, 1);
    if (strlen(stored) != strlen(hash) || CRYPTO_memcmp(stored, hash, strlen(hash)) != 0) {
        PQclear(res);
        snprintf(msg, msglen, "the bearer token is unknown, revoked or expired");
        return ERR_UNAUTHORIZED;
    }
    who->token_id = parse_cell_i64(PQgetvalue(res, 0, 0));
    who->id = parse_cell_i64(PQgetvalue(res, 0, 2));
    snprintf(who->name, sizeof(who->name), "%s", PQgetvalue(res, 0, 3));
    who->role = auth_role_parse(PQgetvalue(res, 0, 4));
    who->kind = who->role == ROLE_DEVICE ? WHO_DEVICE : WHO_USER;
    int stale = PQgetvalue(res, 0, 5)[0] == 't';
    const char *token_id = PQgetvalue(res, 0, 0);
    if (stale && db_exec(c, &st_touch, 1, &token_id, NULL, rid) != ERR_OK)
        log_msg(LOG_WARN, rid, "could not record the token's use: %s", db_error_message(c));
    PQclear(res);
    if (who->role == 0) {
        snprintf(msg, msglen, "the token's owner has no valid role");
        return ERR_UNAUTHORIZED;
    }
    return ERR_OK;
}

static struct stmt st_device_by_ident =
    STMT("ingest_device_by_ident", "SELECT id, name FROM devices"
                                   " WHERE ident_hash = $1::bytea AND NOT disabled");

enum err auth_device_ident(struct db_conn *c, const char *ident, struct identity *who,
                           const char *rid, const char *remote, const char *method,
                           const char *path, char *msg, size_t msglen)
{
    char hash[3 + 2 * AUTH_HASH_LEN];
    memset(who, 0, sizeof(*who));
    auth_hash_bytea(ident, hash);
    const char *params[1] = { hash };
    PGresult *res = NULL;
    enum err e = db_exec(c, &st_device_by_ident, 1, params, &res, rid);
    if (e != ERR_OK) {
        snprintf(msg, msglen, "could not look up the device; retry shortly");
        return e;
    }
    if (PQntuples(res) == 1) {
        who->kind = WHO_DEVICE;
        who->role = ROLE_DEVICE;
        who->id = parse_cell_i64(PQgetvalue(res, 0, 0));
        snprintf(who->name, sizeof(who->name), "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    if (who->kind == WHO_DEVICE)
        return ERR_OK;
    /* The identifier is a secret: only a prefix of its hash is logged. */
    struct identity nobody = { .kind = WHO_NONE };
    const char *why = "unknown or disabled OsmAnd device identifier";
    log_msg(LOG_WARN, rid, "osmand: %s (sha256 %.14s...) from %s", why, hash + 2, remote);
    auth_record_denial(c, &nobody, rid, remote, method, path, 403, why);
    snprintf(msg, msglen,
             "this device identifier is not registered (or the device is disabled); ask an "
             "administrator for the identifier of `patrold device add`");
    return ERR_FORBIDDEN;
}

void auth_actor(const struct identity *who, char *out, size_t outlen)
{
    if (who->kind == WHO_USER)
        snprintf(out, outlen, "user:%s", who->name);
    else if (who->kind == WHO_DEVICE)
        snprintf(out, outlen, "device:%s", who->name);
    else
        snprintf(out, outlen, "anonymous");
}

static struct stmt st_deny =
    STMT("auth_deny", "INSERT INTO audit_log (actor, action, target, request_id, remote_addr,"
                      " detail) VALUES ($1, 'deny', $2, $3, $4, $5)");

void auth_record_denial(struct db_conn *c, const struct identity *who, const char *rid,
                        const char *remote, const char *method, const char *path, int status,
                        const char *reason)
{
    char actor[160], target[512], detail[400];
    auth_actor(who, actor, sizeof(actor));
    snprintf(target, sizeof(target), "%s %s", method, path);
    snprintf(detail, sizeof(detail), "%d: %s", status, reason);
    const char *params[5] = { actor, target, rid, remote, detail };
    if (db_exec(c, &st_deny, 5, params, NULL, rid) != ERR_OK)
        log_msg(LOG_WARN, rid, "could not audit a denial: %s", db_error_message(c));
}

/* argon2id parameters: RFC 9106's second recommended option (64 MiB, 3 passes). */
#define PW_T_COST   3
#define PW_M_COST   (64 * 1024)
#define PW_PARALLEL 1
#define PW_SALT_LEN 16
#define PW_HASH_LEN 32

int auth_password_hash(const char *password, char *out, size_t outlen)
{
    unsigned char salt[PW_SALT_LEN];
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -1;
    int rc = argon2id_hash_encoded(PW_T_COST, PW_M_COST, PW_PARALLEL, password, strlen(password),
                                   salt, sizeof(salt), PW_HASH_LEN, out, outlen);
    return rc == ARGON2_OK ? 0 : -1;
}

int auth_password_verify(const char *encoded, const char *password)
{
    return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

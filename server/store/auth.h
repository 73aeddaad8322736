/*
 * auth.h - who is calling: bearer tokens (random, stored as SHA-256, revocable, optionally
 * expiring) for users and devices, and argon2id password hashes for users who log in.
 *
 * The roles live here, with identity: route tables (router.h) carry them as bits, and the
 * access hook (handler/access.c) compares them with the caller's.
 *
 * Not here: the HTTP side (http.c, access.c).
 */
#ifndef PATROL_AUTH_H
#define PATROL_AUTH_H

#include "err.h"

#include <stddef.h>

struct db_conn;

/* Roles a caller can hold; a route accepts a set of them (0 = public, no token needed). */
enum role {
    ROLE_DEVICE = 1u << 0,
    ROLE_VIEWER = 1u << 1,
    ROLE_EDITOR = 1u << 2,
    ROLE_ADMIN = 1u << 3,
};
#define ROLES_PUBLIC 0u
#define ROLES_READ   (ROLE_VIEWER | ROLE_EDITOR | ROLE_ADMIN)
#define ROLES_EDIT   (ROLE_EDITOR | ROLE_ADMIN)
#define ROLES_ADMIN  ((unsigned)ROLE_ADMIN)
#define ROLES_ANY    (ROLE_DEVICE | ROLES_READ)

#define AUTH_TOKEN_PREFIX "ptk_"
#define AUTH_TOKEN_LEN    (4 + 43) /* prefix + base64url of 32 random bytes */
#define AUTH_IDENT_LEN    20       /* device identifier: 100 random bits in base32 */
#define AUTH_HASH_LEN     32

enum who_kind { WHO_NONE, WHO_USER, WHO_DEVICE };

struct identity {
    enum who_kind kind;
    long long id; /* users.id or devices.id */
    long long token_id;
    unsigned role; /* one enum role bit */
    char name[128];
};

/* A new random token into out (AUTH_TOKEN_LEN + 1 bytes). Returns 0, -1 if no randomness. */
int auth_token_new(char *out);

/* A new random device identifier (lowercase letters and digits) into out (AUTH_IDENT_LEN+1). */
int auth_ident_new(char *out);

/* SHA-256 of s as "\x" + 64 hex digits (a bytea literal), into out (67 bytes). */
void auth_hash_bytea(const char *s, char *out);

/* Role name ("viewer", ...) to its bit, 0 when unknown; and back ("" when unknown). */
unsigned auth_role_parse(const char *name);
const char *auth_role_name(unsigned role);

/*
 * Resolves an Authorization header value ("Bearer <token>", NULL when absent) to an
 * identity. Returns ERR_OK, ERR_UNAUTHORIZED (msg says why), or a database error.
 */
enum err auth_bearer(struct db_conn *c, const char *header, struct identity *who, const char *rid,
                     char *msg, size_t msglen);

/*
 * Resolves an OsmAnd / Traccar Client device identifier (the device's secret, sent in the
 * clear by those clients) to the device's identity: ERR_OK with who set (WHO_DEVICE); or
 * ERR_FORBIDDEN for an unknown or disabled device, after logging a prefix of its hash and
 * auditing the denial of method path from remote; or a database error. msg says why.
 */
enum err auth_device_ident(struct db_conn *c, const char *ident, struct identity *who,
                           const char *rid, const char *remote, const char *method,
                           const char *path, char *msg, size_t msglen);

/* argon2id hash of a password in PHC string form into out. Returns 0 or -1. */
int auth_password_hash(const char *password, char *out, size_t outlen);

/* 1 when password matches the encoded hash, else 0. */
int auth_password_verify(const char *encoded, const char *password);

/*
 * Records a refused request in audit_log (action "deny"). Best effort: a failure is logged,
 * not returned, since the request is refused either way.
 */
void auth_record_denial(struct db_conn *c, const struct identity *who, const char *rid,
                        const char *remote, const char *method, const char *path, int status,
                        const char *reason);

/* "user:NAME" / "device:NAME" / "anonymous" for audit records, into out. */
void auth_actor(const struct identity *who, char *out, size_t outlen);

#endif

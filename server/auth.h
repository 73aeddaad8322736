/*
 * auth.h - who is calling: bearer tokens (random, stored as SHA-256, revocable, optionally
 * expiring) for users and devices, and argon2id password hashes for users who log in.
 *
 * Not here: which route accepts which role (router.h), the HTTP side (http.c).
 */
#ifndef PATROL_AUTH_H
#define PATROL_AUTH_H

#include "err.h"

#include <stddef.h>

struct db_conn;

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

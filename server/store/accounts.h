/*
 * accounts.h - users, devices and their tokens: the operations shared by the admin API
 * (api_admin.c) and the operator's command line (cli.c). Each runs in one transaction on the
 * given connection, with `actor` recorded by the audit triggers.
 *
 * Errors: ERR_INVALID_ARGUMENT (a bad name, role, kind or password), ERR_NOT_FOUND (no such
 * owner or token), ERR_CONFLICT (the name is taken), or a database error; msg says which.
 */
#ifndef PATROL_ACCOUNTS_H
#define PATROL_ACCOUNTS_H

#include "auth.h"
#include "err.h"

#include <stddef.h>

struct db_conn;

struct account_ctx {
    struct db_conn *c;
    const char *actor; /* "user:NAME", "cli:ROLE" */
    const char *rid;   /* request id or NULL */
    char *msg;
    size_t msglen;
};

/*
 * Creates a user. password may be NULL (token-only user). *id receives the new id and
 * created_at its creation time (RFC 3339 UTC).
 */
enum err accounts_user_create(struct account_ctx *x, const char *name, const char *role,
                              const char *display_name, const char *password, long long *id,
                              char *created_at, size_t created_len);

/*
 * Issues a token for the user (owner_kind WHO_USER) or device (WHO_DEVICE) named owner.
 * expires_days 0 means no expiry. token receives the plain token (AUTH_TOKEN_LEN + 1
 * bytes): it is shown once and only its hash is stored. expires_at (may be NULL) receives
 * the expiry as RFC 3339 UTC, "" for none. expires_at receives the expiry as
 * RFC 3339 UTC ("" for none).
 */
enum err accounts_token_issue(struct account_ctx *x, enum who_kind owner_kind, const char *owner,
                              const char *label, long expires_days, char *token, long long *id,
                              char *expires_at, size_t expires_len);

/* Revokes a token by id. */
enum err accounts_token_revoke(struct account_ctx *x, long long id);

/*
 * Creates a device with a fresh identifier (ident: AUTH_IDENT_LEN + 1 bytes, for OsmAnd /
 * Traccar Client) and a fresh token; only their hashes are stored.
 */
enum err accounts_device_create(struct account_ctx *x, const char *name, const char *kind,
                                const char *unit, char *ident, char *token, long long *id);

#endif

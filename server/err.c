/*
 * err.c - the table behind err.h: status and slug of each error, and SQLSTATE translation.
 */
#include "err.h"

#include <string.h>

static const struct {
    int status;
    const char *slug;
} err_table[ERR__COUNT] = {
    [ERR_OK] = { 200, "ok" },
    [ERR_INVALID_ARGUMENT] = { 400, "invalid_argument" },
    [ERR_UNAUTHORIZED] = { 401, "unauthorized" },
    [ERR_FORBIDDEN] = { 403, "forbidden" },
    [ERR_NOT_FOUND] = { 404, "not_found" },
    [ERR_METHOD_NOT_ALLOWED] = { 405, "method_not_allowed" },
    [ERR_CONFLICT] = { 409, "conflict" },
    [ERR_PRECONDITION] = { 412, "precondition_failed" },
    [ERR_TOO_LARGE] = { 413, "too_large" },
    [ERR_UNSUPPORTED_MEDIA] = { 415, "unsupported_media_type" },
    [ERR_UNPROCESSABLE] = { 422, "unprocessable" },
    [ERR_RATE_LIMITED] = { 429, "rate_limited" },
    [ERR_HEADERS_TOO_LARGE] = { 431, "headers_too_large" },
    [ERR_INTERNAL] = { 500, "internal" },
    [ERR_UNAVAILABLE] = { 503, "unavailable" },
    [ERR_TIMEOUT] = { 504, "timeout" },
};

int err_status(enum err e)
{
    if ((unsigned)e >= ERR__COUNT)
        return 500;
    return err_table[e].status;
}

const char *err_slug(enum err e)
{
    if ((unsigned)e >= ERR__COUNT)
        return "internal";
    return err_table[e].slug;
}

enum err err_from_sqlstate(const char *s)
{
    if (s == NULL || strlen(s) != 5)
        return ERR_UNAVAILABLE; /* no SQLSTATE: the connection is gone */

    /* Exact codes first, then classes. */
    if (strcmp(s, "23505") == 0 || strcmp(s, "23503") == 0 || strcmp(s, "23P01") == 0)
        return ERR_CONFLICT; /* unique, foreign key, exclusion */
    if (strcmp(s, "23514") == 0 || strcmp(s, "23502") == 0)
        return ERR_UNPROCESSABLE; /* check, not null */
    if (strcmp(s, "57014") == 0)
        return ERR_TIMEOUT; /* query_canceled: statement_timeout */
    if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 || strcmp(s, "55P03") == 0)
        return ERR_UNAVAILABLE; /* serialization failure, deadlock, lock not available */
    if (strncmp(s, "22", 2) == 0)
        return ERR_INVALID_ARGUMENT; /* data exception */
    if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 || strncmp(s, "57P", 3) == 0)
        return ERR_UNAVAILABLE; /* connection, resources, admin shutdown */
    return ERR_INTERNAL;
}

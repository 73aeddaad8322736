/*
 * err.c - the table behind err.h: status and slug of each error.
 */
#include "err.h"

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

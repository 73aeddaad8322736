/*
 * err.h - the one error model of patrold.
 *
 * Every failure a client can see is one `enum err`; a table maps it to an HTTP status and a
 * stable slug used in error bodies ({"error":{"code":slug,"message":...}}). SQLSTATE codes are
 * translated in the store layer (db.h) and nowhere else. This file knows nothing of HTTP
 * libraries or libpq.
 */
#ifndef PATROL_ERR_H
#define PATROL_ERR_H

enum err {
    ERR_OK = 0,
    ERR_INVALID_ARGUMENT,   /* 400 */
    ERR_UNAUTHORIZED,       /* 401 */
    ERR_FORBIDDEN,          /* 403 */
    ERR_NOT_FOUND,          /* 404 */
    ERR_METHOD_NOT_ALLOWED, /* 405 */
    ERR_CONFLICT,           /* 409 */
    ERR_PRECONDITION,       /* 412 */
    ERR_TOO_LARGE,          /* 413 */
    ERR_UNSUPPORTED_MEDIA,  /* 415 */
    ERR_UNPROCESSABLE,      /* 422 */
    ERR_RATE_LIMITED,       /* 429 */
    ERR_HEADERS_TOO_LARGE,  /* 431 */
    ERR_INTERNAL,           /* 500 */
    ERR_UNAVAILABLE,        /* 503 */
    ERR_TIMEOUT,            /* 504 */
    ERR__COUNT
};

/* HTTP status of an error (200 for ERR_OK). */
int err_status(enum err e);

/* Stable slug of an error, e.g. "invalid_argument". Never NULL. */
const char *err_slug(enum err e);

#endif

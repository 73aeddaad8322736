/*
 * parse.c - the strict number parsers of parse.h.
 */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum err parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL)
        return ERR_INVALID_ARGUMENT;
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return ERR_INVALID_ARGUMENT; /* empty, a sign alone, a space, "0x" ... */
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return ERR_INVALID_ARGUMENT;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return ERR_INVALID_ARGUMENT;
    *out = v;
    return ERR_OK;
}

enum err parse_long(const char *s, long min, long max, long *out)
{
    int64_t v;
    enum err e = parse_i64(s, min, max, &v);
    if (e == ERR_OK)
        *out = (long)v;
    return e;
}

enum err parse_double(const char *s, double *out)
{
    const char *p = s;
    int digits = 0;
    if (s == NULL)
        return ERR_INVALID_ARGUMENT;
    /* The grammar is checked here, not left to strtod, which also takes hex, nan, inf and
     * leading spaces. */
    if (*p == '+' || *p == '-')
        p++;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return ERR_INVALID_ARGUMENT;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return ERR_INVALID_ARGUMENT;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p != '\0')
        return ERR_INVALID_ARGUMENT;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return ERR_INVALID_ARGUMENT;
    *out = v;
    return ERR_OK;
}

enum err parse_double_list(const char *s, double *v, size_t max, size_t *n, const char **bad)
{
    *n = 0;
    if (bad != NULL)
        *bad = NULL;
    if (s == NULL)
        return ERR_INVALID_ARGUMENT;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        char num[64];
        if (*n == max || len == 0 || len >= sizeof(num))
            return ERR_INVALID_ARGUMENT;
        memcpy(num, p, len);
        num[len] = '\0';
        if (parse_double(num, &v[*n]) != ERR_OK) {
            if (bad != NULL)
                *bad = p;
            return ERR_INVALID_ARGUMENT;
        }
        (*n)++;
        p += len;
        if (*p == '\0')
            return ERR_OK;
        p++; /* a comma: another piece must follow (an empty one is refused above) */
    }
}

enum err parse_count(const char *s, const char *name, long def, long min, long max, long *out,
                     char *msg, size_t msglen)
{
    long v;
    *out = def;
    if (s == NULL)
        return ERR_OK;
    if (parse_long(s, min, LONG_MAX, &v) != ERR_OK) {
        snprintf(msg, msglen, "%s must be an integer of at least %ld", name, min);
        return ERR_INVALID_ARGUMENT;
    }
    *out = v > max ? max : v;
    return ERR_OK;
}

int64_t parse_cell_i64(const char *s)
{
    return s != NULL ? strtoll(s, NULL, 10) : 0;
}

double parse_cell_double(const char *s)
{
    return s != NULL ? strtod(s, NULL) : 0.0;
}

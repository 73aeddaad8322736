/*
 * parse.h - strict number parsing of text from outside (query arguments, path segments,
 * options, database cells that must hold a number): the whole string is the number, base 10,
 * no spaces, no trailing bytes, in the range asked; as curl's curlx_str_number does instead of
 * strtol. Nothing else in patrold calls strtol/strtoll/strtod on client text.
 */
#ifndef PATROL_PARSE_H
#define PATROL_PARSE_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

/*
 * An integer: optional '-' or '+', then decimal digits only, and min <= value <= max.
 * ERR_OK with *out set, or ERR_INVALID_ARGUMENT (*out untouched) for NULL, an empty string,
 * any other byte, or a value out of range (overflow included).
 */
enum err parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* As parse_i64 for `long`. */
enum err parse_long(const char *s, long min, long max, long *out);

/*
 * A finite floating-point number in strtod's decimal syntax (no hex, no inf/nan, no leading
 * space), the whole string. ERR_OK or ERR_INVALID_ARGUMENT.
 */
enum err parse_double(const char *s, double *out);

/*
 * The one rule for page sizes and offsets (`limit`, `offset`) of every listing, without a
 * request: s NULL (absent) gives def; not an integer, or below min, is ERR_INVALID_ARGUMENT
 * with "<name> must be an integer of at least <min>" in msg; above max it is clamped to max
 * (OGC API - Features permits it, and clients such as QGIS and GDAL ask for large pages).
 * *out is set (def on an error).
 */
enum err parse_count(const char *s, const char *name, long def, long min, long max, long *out,
                     char *msg, size_t msglen);

/*
 * A comma-separated list of at most max numbers, each as parse_double takes it (so no space,
 * no empty piece, no trailing comma; a piece is shorter than 64 bytes). ERR_OK with v[0 .. *n)
 * set. ERR_INVALID_ARGUMENT otherwise, with *n the numbers read before the fault; *bad (when
 * not NULL) then points at the piece that is not a number, or is NULL when the list's shape
 * is wrong (an empty or overlong piece, more than max).
 */
enum err parse_double_list(const char *s, double *v, size_t max, size_t *n, const char **bad);

/* For database cells known to hold an integer / a number (no check): 0 for NULL. */
int64_t parse_cell_i64(const char *s);
double parse_cell_double(const char *s);

#endif

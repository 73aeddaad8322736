/*
 * api_args.h - what the read-only report and listing handlers share: refusing query arguments
 * they do not take, the `format=json|csv` argument, and a query result replied as a CSV
 * download (pgjson.h: UTF-8 BOM for Excel, formula cells quoted).
 *
 * Each function that can refuse returns the error (enum err) after replying with it (400, or
 * 500 when out of memory); ERR_OK otherwise.
 */
#ifndef PATROL_API_ARGS_H
#define PATROL_API_ARGS_H

#include "err.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct req;

/* ERR_OK when every query argument's name is in allowed (NULL-terminated); else 400. */
enum err api_only_args(struct req *r, const char *const *allowed);

/*
 * The query argument `name` under the one rule for page sizes and offsets (parse_count,
 * parse.h): absent gives def, not an integer or below min is refused (400), above max is
 * clamped to max. Replies say which limit they used. Returns ERR_OK, or the error already
 * replied.
 */
enum err api_arg_count(struct req *r, const char *name, long def, long min, long max, long *out);

/* `format`: absent or json (*csv false), csv (*csv true); anything else 400. */
enum err api_arg_format(struct req *r, bool *csv);

/*
 * Replies 200 with the rows of res: as CSV (api_reply_csv) when csv, else as the JSON object
 * body (taken; released either way) with "count" (the number of rows) and rows_key (the rows,
 * pgjson.h) added. res stays the caller's.
 */
void api_reply_rows(struct req *r, const PGresult *res, bool csv, const char *filename,
                    json_t *body, const char *rows_key);

#endif

/*
 * api_args.h - what the read-only report and listing handlers share: refusing query arguments
 * they do not take, the `format=json|csv` argument, and a query result replied as a CSV
 * download (pgjson.h: UTF-8 BOM for Excel, formula cells quoted).
 *
 * Each function that can refuse has already replied (400, or 500 when out of memory) when it
 * returns -1.
 */
#ifndef PATROL_API_ARGS_H
#define PATROL_API_ARGS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

struct req;

/* 0 when every query argument's name is in allowed (NULL-terminated); else 400, -1. */
int api_only_args(struct req *r, const char *const *allowed);

/* `format`: absent or json (*csv false), csv (*csv true); anything else 400, -1. */
int api_arg_format(struct req *r, bool *csv);

/* Replies 200 with res as CSV, offered for download as "<filename>.csv". */
void api_reply_csv(struct req *r, const PGresult *res, const char *filename);

/*
 * Replies 200 with the rows of res: as CSV (api_reply_csv) when csv, else as the JSON object
 * body (taken; released either way) with "count" (the number of rows) and rows_key (the rows,
 * pgjson.h) added. res stays the caller's.
 */
void api_reply_rows(struct req *r, const PGresult *res, bool csv, const char *filename,
                    json_t *body, const char *rows_key);

#endif

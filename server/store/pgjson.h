/*
 * pgjson.h - query results as JSON rows or as CSV for Excel. Column types come from the
 * result: int2/4/8 become JSON integers, float4/8 and numeric JSON reals, bool true/false,
 * json/jsonb embedded documents, everything else strings; NULL is null (or an empty cell).
 */
#ifndef PATROL_PGJSON_H
#define PATROL_PGJSON_H

#include <jansson.h>
#include <libpq-fe.h>

/* A new JSON array with one object per row (column name: value), or NULL when out of memory. */
json_t *pgjson_rows(const PGresult *res);

/*
 * The result as CSV text (new, free it): a UTF-8 byte order mark so Excel reads Chinese
 * text, a header row of column names, RFC 4180 quoting, CRLF line ends. Text cells that a
 * spreadsheet would run as a formula (starting with = + - @, tab or CR) are prefixed with a quote.
 * *len receives the length. NULL when out of memory.
 */
char *pgjson_csv(const PGresult *res, size_t *len);

#endif

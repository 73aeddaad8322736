/*
 * pgjson.c - PGresult to JSON rows and to CSV (see pgjson.h).
 */
#include "pgjson.h"
#include "parse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs of PostgreSQL's built-in types (pg_type.dat; stable across versions). */
#define OID_BOOL    16
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_JSON    114
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700
#define OID_JSONB   3802

static json_t *cell(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    const char *v = PQgetvalue(res, row, col);
    switch (PQftype(res, col)) {
    case OID_BOOL:
        return json_boolean(v[0] == 't');
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        return json_integer(parse_cell_i64(v));
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC: {
        /* NaN, ±Infinity and numerics beyond a double have no JSON number: their text. */
        double d = parse_cell_double(v);
        json_t *j = isfinite(d) ? json_real(d) : NULL;
        return j ? j : json_string(v);
    }
    case OID_JSON:
    case OID_JSONB: {
        json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
        return j ? j : json_string(v);
    }
    default:
        return json_string(v);
    }
}

json_t *pgjson_rows(const PGresult *res)
{
    json_t *rows = json_array();
    if (rows == NULL)
        return NULL;
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *row = json_object();
        for (int k = 0; k < PQnfields(res); k++)
            json_object_set_new(row, PQfname(res, k), cell(res, i, k));
        if (json_array_append_new(rows, row) != 0) {
            json_decref(rows);
            return NULL;
        }
    }
    return rows;
}

static void csv_field(FILE *f, const char *v, int text)
{
    int quote = strpbrk(v, ",\"\r\n") != NULL;
    /* OWASP's formula triggers: a spreadsheet that trims a leading tab or CR sees the rest. */
    int formula = text && v[0] != '\0' && strchr("=+-@\t\r", v[0]) != NULL;
    if (quote || formula)
        fputc('"', f);
    if (formula)
        fputc('\'', f);
    for (const char *p = v; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    if (quote || formula)
        fputc('"', f);
}

char *pgjson_csv(const PGresult *res, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL)
        return NULL;
    fputs("\xEF\xBB\xBF", f);
    for (int k = 0; k < PQnfields(res); k++) {
        if (k)
            fputc(',', f);
        csv_field(f, PQfname(res, k), 1);
    }
    fputs("\r\n", f);
    for (int i = 0; i < PQntuples(res); i++) {
        for (int k = 0; k < PQnfields(res); k++) {
            Oid t = PQftype(res, k);
            int text = t != OID_INT2 && t != OID_INT4 && t != OID_INT8 && t != OID_FLOAT4 &&
                       t != OID_FLOAT8 && t != OID_NUMERIC && t != OID_BOOL;
            if (k)
                fputc(',', f);
            if (PQgetisnull(res, i, k))
                continue;
            if (t == OID_BOOL)
                fputs(PQgetvalue(res, i, k)[0] == 't' ? "true" : "false", f);
            else
                csv_field(f, PQgetvalue(res, i, k), text);
        }
        fputs("\r\n", f);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}

/*
 * api_args.c - query arguments and CSV replies shared by the read handlers (see api_args.h).
 */
#include "api_args.h"

#include "arena.h"
#include "err.h"
#include "http.h"
#include "json.h"
#include "parse.h"
#include "req_json.h"
#include "pgjson.h"

#include <stdlib.h>
#include <string.h>

struct arg_check {
    const char *const *allowed;
    const char *bad;
};

static int known_arg(void *ctx, const char *name, const char *value)
{
    struct arg_check *a = ctx;
    (void)value;
    for (const char *const *k = a->allowed; *k; k++)
        if (strcmp(*k, name) == 0)
            return 0;
    a->bad = name;
    return 1;
}

enum err api_only_args(struct req *r, const char *const *allowed)
{
    struct arg_check ac = { allowed, NULL };
    if (req_query_foreach(r, known_arg, &ac) == 0)
        return ERR_OK;
    req_reply_error(r, ERR_INVALID_ARGUMENT, "unknown query parameter '%s'", ac.bad);
    return ERR_INVALID_ARGUMENT;
}

enum err api_arg_count(struct req *r, const char *name, long def, long min, long max, long *out)
{
    char msg[160];
    enum err e = parse_count(req_query(r, name), name, def, min, max, out, msg, sizeof(msg));
    if (e != ERR_OK)
        req_reply_error(r, e, "%s", msg);
    return e;
}

enum err api_arg_format(struct req *r, bool *csv)
{
    const char *f = req_query(r, "format");
    *csv = f != NULL && strcmp(f, "csv") == 0;
    if (f == NULL || strcmp(f, "json") == 0 || *csv)
        return ERR_OK;
    req_reply_error(r, ERR_INVALID_ARGUMENT, "format is json or csv");
    return ERR_INVALID_ARGUMENT;
}

/* Replies 200 with res as CSV, offered for download as "<filename>.csv". */
static void api_reply_csv(struct req *r, const PGresult *res, const char *filename)
{
    size_t len = 0;
    char *csv = pgjson_csv(res, &len);
    char *copy = csv ? arena_strndup(r->arena, csv, len) : NULL;
    free(csv);
    if (copy == NULL) {
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    req_reply(r, 200, "text/csv; charset=utf-8", copy, len);
    req_add_header(r, "Content-Disposition",
                   arena_printf(r->arena, "attachment; filename=\"%s.csv\"", filename));
}

void api_reply_rows(struct req *r, const PGresult *res, bool csv, const char *filename,
                    json_t *body, const char *rows_key)
{
    if (csv) {
        json_decref(body);
        api_reply_csv(r, res, filename);
        return;
    }
    json_t *rows = pgjson_rows(res);
    if (body == NULL || rows == NULL ||
        json_object_set_new(body, "count", json_integer(PQntuples(res))) != 0 ||
        json_object_set_new(body, rows_key, rows) != 0) {
        json_decref(body);
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    req_reply_json(r, 200, body);
}

/*
 * ogc_query.c - the query arguments of OGC API - Features items as a WHERE clause and bound
 * values (see ogc_query.h). Conditions are assembled from the layer catalog's column names
 * and fixed templates; every value a client sends is a parameter.
 *
 * Not here: the request, replies and the SQL's execution (ogc_read.c), the property rules of
 * writes (layerdef.c).
 */
#include "ogc_query.h"

#include "arena.h"
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ogc_query_init(struct ogc_query *q, struct arena *a, const struct layer_def *l)
{
    memset(q, 0, sizeof(*q));
    q->arena = a;
    q->l = l;
    q->where = "";
    q->limit = OGC_LIMIT_DEF;
}

/* Appends a condition (NULL: out of memory) to the WHERE clause. */
static enum err add_cond(struct ogc_query *q, const char *cond, char *msg, size_t msglen)
{
    const char *where = cond == NULL ? NULL
                                     : arena_printf(q->arena, "%s%s%s", q->where,
                                                    q->where[0] ? " AND " : " WHERE ", cond);
    if (where == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_INTERNAL;
    }
    q->where = where;
    return ERR_OK;
}

/* Binds value as the next parameter; *k is its number ($k). */
static enum err add_param(struct ogc_query *q, const char *value, int *k, char *msg, size_t msglen)
{
    if (q->n >= OGC_QUERY_MAX_PARAMS) {
        snprintf(msg, msglen, "too many query parameters");
        return ERR_INVALID_ARGUMENT;
    }
    if (value == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_INTERNAL;
    }
    q->params[q->n++] = value;
    *k = q->n;
    return ERR_OK;
}

enum err ogc_query_crs(struct arena *a, const char *param, const char *name, struct ogc_crs *out,
                       char *msg, size_t msglen)
{
    out->crs = CRS_WGS84;
    out->swap = false;
    out->uri = crs_uri(CRS_WGS84);
    if (name == NULL)
        return ERR_OK;
    if (crs_parse(name, &out->crs) != 0) {
        snprintf(msg, msglen, "%s '%s' is not supported; use CRS84, EPSG:4490, EPSG:3857 or gcj02",
                 param, name);
        return ERR_INVALID_ARGUMENT;
    }
    out->swap = crs_axis_lat_first(name);
    out->uri = out->swap ? arena_strdup(a, name) : crs_uri(out->crs);
    return ERR_OK;
}

enum err ogc_query_filter(struct ogc_query *q, const char *const *known, const char *name,
                          const char *value, char *msg, size_t msglen)
{
    for (const char *const *k = known; *k; k++)
        if (strcmp(*k, name) == 0)
            return ERR_OK;
    const struct prop_def *p = layerdef_prop(q->l, name);
    if (p == NULL || !(p->flags & PROP_FILTER)) {
        snprintf(msg, msglen,
                 "unknown query parameter '%s' (filters on %s: see the collection's properties)",
                 name, q->l->id);
        return ERR_INVALID_ARGUMENT;
    }
    if (value == NULL) {
        snprintf(msg, msglen, "filter '%s' needs a value", name);
        return ERR_INVALID_ARGUMENT;
    }
    if (p->type == PROP_INT) {
        /* strtoll's syntax (leading space, a sign), as PostgreSQL's bigint input takes it. */
        char *end;
        errno = 0;
        (void)strtoll(value, &end, 10);
        if (errno != 0 || *end != '\0' || end == value) {
            snprintf(msg, msglen, "filter '%s' must be an integer", name);
            return ERR_INVALID_ARGUMENT;
        }
    } else if (p->type == PROP_BOOL && strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
        snprintf(msg, msglen, "filter '%s' must be true or false", name);
        return ERR_INVALID_ARGUMENT;
    }
    int k;
    enum err e = add_param(q, value, &k, msg, msglen);
    if (e != ERR_OK)
        return e;
    return add_cond(q, arena_printf(q->arena, "t.%s = $%d%s", p->name, k, layerdef_sql_cast(p)),
                    msg, msglen);
}

enum err ogc_query_bbox(struct ogc_query *q, const char *bbox, const char *bbox_crs, char *msg,
                        size_t msglen)
{
    double v[6];
    size_t n;
    if (bbox == NULL)
        return ERR_OK;
    /* Each comma-separated piece is one strict number (parse.h): no spaces, no hex, no empty
     * piece, so no trailing comma either. */
    if (parse_double_list(bbox, v, 6, &n, NULL) != ERR_OK || (n != 4 && n != 6)) {
        snprintf(msg, msglen, "bbox must be 4 (or 6) comma-separated numbers: minx,miny,maxx,maxy");
        return ERR_INVALID_ARGUMENT;
    }
    double x0 = v[0], y0 = v[1], x1 = v[n == 4 ? 2 : 3], y1 = v[n == 4 ? 3 : 4];
    struct ogc_crs bc;
    enum err e = ogc_query_crs(q->arena, "bbox-crs", bbox_crs, &bc, msg, msglen);
    if (e != ERR_OK)
        return e;
    if (bc.swap) {
        double t = x0;
        x0 = y0;
        y0 = t;
        t = x1;
        x1 = y1;
        y1 = t;
    }
    if (crs_to_wgs84(bc.crs, &x0, &y0) != 0 || crs_to_wgs84(bc.crs, &x1, &y1) != 0 || x0 > x1 ||
        y0 > y1) {
        snprintf(msg, msglen, "bbox %s is not a valid box in its CRS", bbox);
        return ERR_INVALID_ARGUMENT;
    }
    double w[4] = { x0, y0, x1, y1 };
    int k = 0;
    for (int i = 0; i < 4; i++) {
        e = add_param(q, arena_printf(q->arena, "%.10f", w[i]), &k, msg, msglen);
        if (e != ERR_OK)
            return e;
    }
    const char *env = arena_printf(q->arena,
                                   "ST_MakeEnvelope($%d::float8, $%d::float8, "
                                   "$%d::float8, $%d::float8, 4326)",
                                   k - 3, k - 2, k - 1, k);
    const char *geom = q->l->geom_col;
    return add_cond(
        q,
        env ? arena_printf(q->arena, "t.%s && %s AND ST_Intersects(t.%s, %s)", geom, env, geom, env)
            : NULL,
        msg, msglen);
}

static bool valid_instant(const char *s)
{
    return layerdef_valid_timestamp(s) || layerdef_valid_date(s);
}

enum err ogc_query_datetime(struct ogc_query *q, const char *datetime, char *msg, size_t msglen)
{
    const char *s = datetime;
    if (s == NULL)
        return ERR_OK;
    const char *slash = strchr(s, '/');
    const char *col = q->l->time_col;
    struct arena *a = q->arena;
    int k;
    enum err e;
    if (slash == NULL) {
        if (!valid_instant(s))
            goto bad;
        e = add_param(q, s, &k, msg, msglen);
        if (e != ERR_OK)
            return e;
        if (layerdef_valid_date(s))
            return add_cond(
                q, arena_printf(a, "t.%s >= $%d::date AND t.%s < $%d::date + 1", col, k, col, k),
                msg, msglen);
        return add_cond(q, arena_printf(a, "t.%s = $%d::timestamptz", col, k), msg, msglen);
    }
    char *from = arena_strndup(a, s, (size_t)(slash - s));
    const char *to = slash + 1;
    if (from == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_INTERNAL;
    }
    bool open_from = from[0] == '\0' || strcmp(from, "..") == 0;
    bool open_to = to[0] == '\0' || strcmp(to, "..") == 0;
    if ((open_from && open_to) || (!open_from && !valid_instant(from)) ||
        (!open_to && !valid_instant(to)))
        goto bad;
    if (!open_from) {
        e = add_param(q, from, &k, msg, msglen);
        if (e == ERR_OK)
            e = add_cond(q, arena_printf(a, "t.%s >= $%d::timestamptz", col, k), msg, msglen);
        if (e != ERR_OK)
            return e;
    }
    if (!open_to) {
        e = add_param(q, to, &k, msg, msglen);
        if (e != ERR_OK)
            return e;
        /* A date as the end includes that day. */
        const char *cond = layerdef_valid_date(to)
                               ? arena_printf(a, "t.%s < $%d::date + 1", col, k)
                               : arena_printf(a, "t.%s <= $%d::timestamptz", col, k);
        return add_cond(q, cond, msg, msglen);
    }
    return ERR_OK;
bad:
    snprintf(msg, msglen,
             "datetime '%s' is not an RFC 3339 instant or interval (a/b, with .. for open)", s);
    return ERR_INVALID_ARGUMENT;
}

enum err ogc_query_page(struct ogc_query *q, const char *limit, const char *offset, char *msg,
                        size_t msglen)
{
    enum err e =
        parse_count(limit, "limit", OGC_LIMIT_DEF, 1, OGC_LIMIT_MAX, &q->limit, msg, msglen);
    if (e == ERR_OK)
        e = parse_count(offset, "offset", 0, 0, OGC_OFFSET_MAX, &q->offset, msg, msglen);
    return e;
}

/*
 * ogc_read.c - the features of a layer read through OGC API - Features: pages of items
 * (filtered through ogc_query.c, with numberMatched and next/prev links) and one item with its
 * ETag (If-None-Match gives 304), as GeoJSON in the CRS asked for (crs=; latitude first for an
 * EPSG URI, as Part 2 requires). The SQL is assembled from the catalog's column names; client
 * values are always bound parameters.
 *
 * Not here: turning query arguments into SQL (ogc_query.c), writes (ogc_write.c).
 */
#include "ogc_internal.h"

#include "access.h"
#include "arena.h"
#include "crs.h"
#include "db.h"
#include "geoctx.h"
#include "geojson.h"
#include "http.h"
#include "req_json.h"
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEATURES_PRECISION 7 /* decimals of degrees: about 1 cm */

/*
 * The output CRS asked for by the query argument param (crs=); ERR_INVALID_ARGUMENT, replied,
 * for one that is not offered. The message quotes the whole name.
 */
static enum err parse_out_crs(struct req *r, const char *param, struct ogc_crs *oc)
{
    const char *name = req_query(r, param);
    size_t msglen = (name ? strlen(name) : 0) + 128;
    char *msg = arena_alloc(r->arena, msglen);
    enum err e = msg ? ogc_query_crs(r->arena, param, name, oc, msg, msglen) : ERR_INTERNAL;
    if (e != ERR_OK)
        req_reply_error(r, e, "%s", msg ? msg : "out of memory");
    return e;
}

static int swap_xy(double *x, double *y, void *userdata)
{
    (void)userdata;
    double t = *x;
    *x = *y;
    *y = t;
    return 1;
}

/* GeoJSON of a stored geometry (hex WKB, WGS84) in the requested CRS, or json null. */
static json_t *geometry_json(GEOSContextHandle_t h, const char *hexwkb, const struct ogc_crs *oc)
{
    if (hexwkb == NULL || hexwkb[0] == '\0')
        return json_null();
    GEOSWKBReader *rd = GEOSWKBReader_create_r(h);
    GEOSGeometry *g = GEOSWKBReader_readHEX_r(h, rd, (const unsigned char *)hexwkb, strlen(hexwkb));
    GEOSWKBReader_destroy_r(h, rd);
    if (g == NULL)
        return NULL;
    if (oc->crs != CRS_WGS84) {
        GEOSGeometry *t = crs_transform_geometry(h, g, CRS_WGS84, oc->crs);
        GEOSGeom_destroy_r(h, g);
        g = t;
        if (g == NULL)
            return NULL;
    }
    if (oc->swap) {
        GEOSGeometry *t = GEOSGeom_transformXY_r(h, g, swap_xy, NULL);
        GEOSGeom_destroy_r(h, g);
        g = t;
        if (g == NULL)
            return NULL;
    }
    json_t *j = geojson_write(h, g, oc->crs == CRS_WEB_MERCATOR ? 2 : FEATURES_PRECISION);
    GEOSGeom_destroy_r(h, g);
    return j;
}

/* The SELECT list shared by item reads: id, hex WKB, properties, version[, children]. */
static char *select_sql(struct req *r, const struct layer_def *l)
{
    const char *children = "";
    if (l->child != NULL)
        children = arena_printf(r->arena,
                                ", (SELECT coalesce(json_agg(to_jsonb(w) - '%s' ORDER BY w.id),"
                                " '[]')::text FROM %s w WHERE w.%s = t.id)",
                                l->child_fk, l->child->id, l->child_fk);
    return arena_printf(r->arena,
                        "SELECT t.id, encode(ST_AsBinary(t.%s), 'hex'), (to_jsonb(t) - '%s')::text,"
                        " floor(extract(epoch FROM t.updated_at) * 1000000)::bigint%s FROM %s t",
                        l->geom_col, l->geom_col, children, l->id);
}

/* One row of select_sql as a GeoJSON Feature; NULL when out of memory. */
static json_t *row_feature(GEOSContextHandle_t h, const struct layer_def *l, PGresult *res, int row,
                           const struct ogc_crs *oc)
{
    json_t *props = json_loads(PQgetvalue(res, row, 2), 0, NULL);
    json_t *geom = geometry_json(h, PQgetisnull(res, row, 1) ? NULL : PQgetvalue(res, row, 1), oc);
    if (props == NULL || geom == NULL) {
        json_decref(props);
        json_decref(geom);
        return NULL;
    }
    json_object_del(props, "id");
    if (l->child != NULL)
        json_object_set_new(props, l->child_key, json_loads(PQgetvalue(res, row, 4), 0, NULL));
    return json_pack("{s:s,s:I,s:o,s:o}", "type", "Feature", "id",
                     (json_int_t)parse_cell_i64(PQgetvalue(res, row, 0)), "geometry", geom,
                     "properties", props);
}

/* The parameters of the items request; any other query argument is a property filter. */
static const char *const items_params[] = { "limit",    "offset", "bbox", "bbox-crs",
                                            "datetime", "crs",    "f",    NULL };

/* v percent-encoded for a query string (RFC 3986: unreserved characters stay). */
static const char *url_encode(struct req *r, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = arena_alloc(r->arena, strlen(v) * 3 + 1);
    char *o = out;
    if (out == NULL)
        return "";
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (keep) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

struct filter_walk {
    struct ogc_query *q;
    char *msg;
    size_t msglen;
    enum err e;
};

static int filter_arg(void *ctx, const char *name, const char *value)
{
    struct filter_walk *fw = ctx;
    fw->e = ogc_query_filter(fw->q, items_params, name, value, fw->msg, fw->msglen);
    return fw->e != ERR_OK;
}

/*
 * The items query of r for layer l: the page, the property filters in the request's order,
 * bbox, datetime; the first refusal wins. Returns ERR_OK, or the error after replying with it.
 */
static enum err items_query(struct req *r, const struct layer_def *l, struct ogc_query *q)
{
    /* Messages that quote a client's value are cut at 200 bytes, as they always were; one that
     * quotes a bbox-crs name has room for all of it, as parse_out_crs's have. */
    const char *bbox_crs = req_query(r, "bbox-crs");
    size_t msglen = 200;
    size_t bbox_msglen = bbox_crs != NULL ? strlen(bbox_crs) + 128 : 0;
    if (bbox_msglen < msglen)
        bbox_msglen = msglen;
    char *msg = arena_alloc(r->arena, bbox_msglen);
    if (msg == NULL) {
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return ERR_INTERNAL;
    }
    ogc_query_init(q, r->arena, l);
    enum err e = ogc_query_page(q, req_query(r, "limit"), req_query(r, "offset"), msg, msglen);
    if (e == ERR_OK) {
        struct filter_walk fw = { q, msg, msglen, ERR_OK };
        req_query_foreach(r, filter_arg, &fw);
        e = fw.e;
    }
    if (e == ERR_OK)
        e = ogc_query_bbox(q, req_query(r, "bbox"), bbox_crs, msg, bbox_msglen);
    if (e == ERR_OK)
        e = ogc_query_datetime(q, req_query(r, "datetime"), msg, msglen);
    if (e != ERR_OK)
        req_reply_error(r, e, "%s", msg);
    return e;
}

void ogc_get_items(struct req *r)
{
    const struct layer_def *l;
    struct ogc_crs oc;
    struct ogc_query q;
    if (ogc_path_layer(r, &l) != ERR_OK || ogc_check_format(r) != ERR_OK ||
        parse_out_crs(r, "crs", &oc) != ERR_OK || items_query(r, l, &q) != ERR_OK)
        return;
    long limit = q.limit, offset = q.offset;
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    PGresult *res = NULL, *cnt = NULL;
    char *sql = arena_printf(r->arena, "%s%s ORDER BY t.id LIMIT %ld OFFSET %ld", select_sql(r, l),
                             q.where, limit, offset);
    char *count_sql = arena_printf(r->arena, "SELECT count(*) FROM %s t%s", l->id, q.where);
    enum err e = db_exec_params(c, sql, q.n, q.params, &res, r->rid);
    if (e == ERR_OK)
        e = db_exec_params(c, count_sql, q.n, q.params, &cnt, r->rid);
    req_db_release(r, c);
    if (e != ERR_OK) {
        PQclear(res);
        req_reply_error(
            r, e, e == ERR_INVALID_ARGUMENT ? "a filter value is not valid" : "could not read %s",
            l->id);
        return;
    }
    long long matched = parse_cell_i64(PQgetvalue(cnt, 0, 0));
    PQclear(cnt);

    GEOSContextHandle_t h = geoctx_geos();
    json_t *features = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *f = row_feature(h, l, res, i, &oc);
        if (f == NULL) {
            PQclear(res);
            json_decref(features);
            req_reply_error(r, ERR_INTERNAL, "could not encode a feature of %s", l->id);
            return;
        }
        json_array_append_new(features, f);
    }
    int returned = PQntuples(res);
    PQclear(res);

    /* Links keep every argument but offset. */
    const char *qs = "";
    const char *keys[] = { "limit", "bbox", "bbox-crs", "datetime", "crs" };
    char *self_q = arena_printf(r->arena, "limit=%ld", limit);
    for (size_t i = 1; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *v = req_query(r, keys[i]);
        if (v != NULL)
            self_q = arena_printf(r->arena, "%s&%s=%s", self_q, keys[i], url_encode(r, v));
    }
    for (const struct prop_def *p = l->props; p->name; p++) {
        const char *v = (p->flags & PROP_FILTER) ? req_query(r, p->name) : NULL;
        if (v != NULL)
            self_q = arena_printf(r->arena, "%s&%s=%s", self_q, p->name, url_encode(r, v));
    }
    qs = self_q;
    const char *items = arena_printf(r->arena, "%s/collections/%s/items", ogc_base_url(r), l->id);
    json_t *links = json_array();
    json_array_append_new(links,
                          ogc_link(arena_printf(r->arena, "%s?%s&offset=%ld", items, qs, offset),
                                   "self", "application/geo+json", NULL));
    if (offset + returned < matched)
        json_array_append_new(
            links, ogc_link(arena_printf(r->arena, "%s?%s&offset=%ld", items, qs, offset + limit),
                            "next", "application/geo+json", "next page"));
    if (offset > 0)
        json_array_append_new(links, ogc_link(arena_printf(r->arena, "%s?%s&offset=%ld", items, qs,
                                                           offset > limit ? offset - limit : 0),
                                              "prev", "application/geo+json", "previous page"));
    json_t *body =
        json_pack("{s:s,s:o,s:I,s:i,s:o}", "type", "FeatureCollection", "features", features,
                  "numberMatched", (json_int_t)matched, "numberReturned", returned, "links", links);
    req_reply_json(r, 200, body);
    r->resp_type = "application/geo+json";
    req_add_header(r, "Content-Crs", arena_printf(r->arena, "<%s>", oc.uri));
}

/*
 * Reads feature fid of l in crs oc: ERR_OK with the Feature in *out (new) and its version (the
 * ETag's number); ERR_NOT_FOUND when there is none, ERR_INTERNAL when it cannot be encoded,
 * or the database's error. Nothing is replied.
 */
enum err ogc_read_feature(struct req *r, struct db_conn *c, const struct layer_def *l,
                          long long fid, const struct ogc_crs *oc, json_t **out, long long *version)
{
    PGresult *res;
    char id[24];
    snprintf(id, sizeof(id), "%lld", fid);
    const char *params[1] = { id };
    char *sql = arena_printf(r->arena, "%s WHERE t.id = $1::bigint", select_sql(r, l));
    *out = NULL;
    enum err e = db_exec_params(c, sql, 1, params, &res, r->rid);
    if (e != ERR_OK)
        return e;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return ERR_NOT_FOUND;
    }
    *out = row_feature(geoctx_geos(), l, res, 0, oc);
    *version = parse_cell_i64(PQgetvalue(res, 0, 3));
    PQclear(res);
    return *out != NULL ? ERR_OK : ERR_INTERNAL;
}

/* Replies with one feature, its ETag and links. */
void ogc_reply_feature(struct req *r, int status, const struct layer_def *l, json_t *f,
                       long long fid, long long version, const struct ogc_crs *oc)
{
    const char *b = ogc_base_url(r);
    const char *self = arena_printf(r->arena, "%s/collections/%s/items/%lld", b, l->id, fid);
    json_t *links = json_array();
    json_array_append_new(links, ogc_link(self, "self", "application/geo+json", NULL));
    json_array_append_new(links, ogc_link(arena_printf(r->arena, "%s/collections/%s", b, l->id),
                                          "collection", "application/json", l->title));
    json_object_set_new(f, "links", links);
    req_reply_json(r, status, f);
    r->resp_type = "application/geo+json";
    req_add_header(r, "ETag", arena_printf(r->arena, "\"%lld\"", version));
    req_add_header(r, "Content-Crs", arena_printf(r->arena, "<%s>", oc->uri));
    if (status == 201)
        req_add_header(r, "Location", self);
}

void ogc_get_item(struct req *r)
{
    const struct layer_def *l;
    struct ogc_crs oc;
    long long fid, version = 0;
    if (ogc_path_layer(r, &l) != ERR_OK || ogc_path_fid(r, &fid) != ERR_OK ||
        ogc_check_format(r) != ERR_OK || parse_out_crs(r, "crs", &oc) != ERR_OK)
        return;
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    json_t *f;
    enum err e = ogc_read_feature(r, c, l, fid, &oc, &f, &version);
    req_db_release(r, c);
    if (e != ERR_OK) {
        if (e == ERR_NOT_FOUND)
            req_reply_error(r, e, "no feature %lld in %s", fid, l->id);
        else
            req_reply_error(r, e, "could not read feature %lld of %s", fid, l->id);
        return;
    }
    const char *inm = req_header(r, "If-None-Match");
    char etag[32];
    snprintf(etag, sizeof(etag), "\"%lld\"", version);
    if (inm != NULL && strcmp(inm, etag) == 0) {
        json_decref(f);
        req_reply(r, 304, "application/geo+json", "", 0);
        req_add_header(r, "ETag", arena_strdup(r->arena, etag));
        return;
    }
    ogc_reply_feature(r, 200, l, f, fid, version, &oc);
}

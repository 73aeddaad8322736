/*
 * api_features.c - the town's layers over OGC API - Features: Part 1 Core with GeoJSON,
 * Part 2 (crs=, bbox-crs=) and Part 4 create / replace / update / delete. QGIS and GDAL's
 * OAPIF driver are the clients this is built for.
 *
 * Everything is driven by the layer catalog (layerdef.c): SQL is assembled from its column
 * names (never from request text; values are always bound parameters). Geometry is
 * validated by geojson.c and converted by crs.c. Writes run in one transaction with the
 * caller named for the audit triggers; the tables' triggers NOTIFY the server.
 *
 * Not here: the catalog and property rules (layerdef.c), the spatial reports (api_reports.c).
 */
#include "ogcapi.h"

#include "access.h"
#include "api_args.h"
#include "app.h"
#include "arena.h"
#include "auth.h"
#include "crs.h"
#include "db.h"
#include "geoctx.h"
#include "geojson.h"
#include "http.h"
#include "json.h"
#include "req_json.h"
#include "layerdef.h"
#include "log.h"
#include "ogc_query.h"
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FEATURES_MAX_BODY    (16u << 20)
#define FEATURES_PRECISION   7 /* decimals of degrees: about 1 cm */
#define FEATURES_WRITE_TYPES "application/geo+json,application/json"
#define FEATURES_PATCH_TYPES "application/geo+json,application/json,application/merge-patch+json"

static const char *const conformance[] = {
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
};

/* ---- small helpers ---- */

/* The absolute base URL of this server as the client reached it. */
static const char *base_url(struct req *r)
{
    const char *host = req_header(r, "Host");
    const char *proto = req_header(r, "X-Forwarded-Proto");
    if (proto == NULL || (strcmp(proto, "https") != 0 && strcmp(proto, "http") != 0))
        proto = "http";
    return arena_printf(r->arena, "%s://%s", proto, host ? host : "localhost");
}

static json_t *link(const char *href, const char *rel, const char *type, const char *title)
{
    json_t *l = json_pack("{s:s,s:s}", "href", href, "rel", rel);
    if (type != NULL)
        json_object_set_new(l, "type", json_string(type));
    if (title != NULL)
        json_object_set_new(l, "title", json_string(title));
    return l;
}

/* The layer named by the path's {cid} in *out; ERR_NOT_FOUND, replied, when there is none. */
static enum err path_layer(struct req *r, const struct layer_def **out)
{
    *out = layerdef_find(req_param(r, "cid"));
    if (*out != NULL)
        return ERR_OK;
    req_reply_error(r, ERR_NOT_FOUND, "no collection '%s'", req_param(r, "cid"));
    return ERR_NOT_FOUND;
}

/* The path's {fid} as a positive integer; else ERR_NOT_FOUND, replied (no such feature). */
static enum err path_fid(struct req *r, long long *fid)
{
    const char *s = req_param(r, "fid");
    int64_t v;
    if (parse_i64(s, 1, INT64_MAX, &v) != ERR_OK) {
        req_reply_error(r, ERR_NOT_FOUND, "no feature '%s' (feature ids are positive integers)", s);
        return ERR_NOT_FOUND;
    }
    *fid = v;
    return ERR_OK;
}

/* The `f` parameter: only JSON is served; anything else is ERR_INVALID_ARGUMENT, replied. */
static enum err check_format(struct req *r)
{
    const char *f = req_query(r, "f");
    if (f == NULL || strcmp(f, "json") == 0 || strcmp(f, "geojson") == 0)
        return ERR_OK;
    req_reply_error(r, ERR_INVALID_ARGUMENT, "format '%s' is not offered; use f=json", f);
    return ERR_INVALID_ARGUMENT;
}

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
                     (json_int_t)strtoll(PQgetvalue(res, row, 0), NULL, 10), "geometry", geom,
                     "properties", props);
}

/* ---- landing page, conformance, collections ---- */

static void get_landing(struct req *r)
{
    if (check_format(r) != ERR_OK)
        return;
    const char *b = base_url(r);
    json_t *links = json_array();
    json_array_append_new(
        links, link(arena_printf(r->arena, "%s/", b), "self", "application/json", "this document"));
    json_array_append_new(
        links, link(arena_printf(r->arena, "%s/api/openapi.json", b), "service-desc",
                    "application/vnd.oai.openapi+json;version=3.0", "the API definition"));
    json_array_append_new(links, link(arena_printf(r->arena, "%s/conformance", b), "conformance",
                                      "application/json", "conformance classes"));
    json_array_append_new(links, link(arena_printf(r->arena, "%s/collections", b), "data",
                                      "application/json", "the town's layers"));
    req_reply_json(r, 200,
                   json_pack("{s:s,s:s,s:o}", "title", "patrolgis 校园安全巡逻地理信息服务",
                             "description",
                             "School perimeters, patrol points, dangerous waters, risky roads, "
                             "venues and stations of the town",
                             "links", links));
}

static void get_conformance(struct req *r)
{
    if (check_format(r) != ERR_OK)
        return;
    json_t *list = json_array();
    for (size_t i = 0; i < sizeof(conformance) / sizeof(conformance[0]); i++)
        json_array_append_new(list, json_string(conformance[i]));
    req_reply_json(r, 200, json_pack("{s:o}", "conformsTo", list));
}

static json_t *crs_list(void)
{
    json_t *list = json_array();
    for (int c = 0; c < CRS__COUNT; c++)
        json_array_append_new(list, json_string(crs_uri((enum crs)c)));
    return list;
}

/* Collection metadata; extent is the layer's bounding box from PostGIS (NULL when empty). */
static json_t *collection_json(struct req *r, const struct layer_def *l, const char *extent)
{
    const char *b = base_url(r);
    const char *self = arena_printf(r->arena, "%s/collections/%s", b, l->id);
    json_t *links = json_array();
    json_array_append_new(links, link(self, "self", "application/json", l->title));
    json_array_append_new(links, link(arena_printf(r->arena, "%s/items", self), "items",
                                      "application/geo+json", l->title));
    /* GDAL's OAPIF driver takes field types from this schema instead of guessing them from
     * the first page (which would make 64-bit OSM ids 32-bit integers). */
    json_array_append_new(links, link(arena_printf(r->arena, "%s/schema.xsd", self), "describedBy",
                                      "application/xml", "XML Schema of the features"));
    json_t *c =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:s}", "id", l->id, "title", l->title, "description",
                  l->description ? l->description : "", "itemType", "feature", "links", links,
                  "crs", crs_list(), "storageCrs", crs_uri(CRS_WGS84));
    json_object_set_new(c, "title_zh", json_string(l->title_zh));
    double x0, y0, x1, y1;
    if (extent != NULL && sscanf(extent, "BOX(%lf %lf,%lf %lf)", &x0, &y0, &x1, &y1) == 4)
        json_object_set_new(c, "extent",
                            json_pack("{s:{s:[[f,f,f,f]],s:s}}", "spatial", "bbox", x0, y0, x1, y1,
                                      "crs", crs_uri(CRS_WGS84)));
    return c;
}

/* The layer's bounding box as PostGIS writes it ("BOX(...)") in *ext, NULL when it is empty. */
static enum err layer_extent(struct req *r, struct db_conn *c, const struct layer_def *l,
                             const char **ext)
{
    PGresult *res;
    char *sql = arena_printf(r->arena, "SELECT ST_Extent(%s)::text FROM %s", l->geom_col, l->id);
    *ext = NULL;
    enum err e = db_exec_params(c, sql, 0, NULL, &res, r->rid);
    if (e != ERR_OK)
        return e;
    if (!PQgetisnull(res, 0, 0))
        *ext = arena_strdup(r->arena, PQgetvalue(res, 0, 0));
    PQclear(res);
    return ERR_OK;
}

static void get_collections(struct req *r)
{
    if (check_format(r) != ERR_OK)
        return;
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    json_t *list = json_array();
    enum err e = ERR_OK;
    for (size_t i = 0; i < layerdef_count && e == ERR_OK; i++) {
        const char *ext;
        e = layer_extent(r, c, layerdef_all[i], &ext);
        json_array_append_new(list, collection_json(r, layerdef_all[i], ext));
    }
    req_db_release(r, c);
    if (e != ERR_OK) {
        json_decref(list);
        req_reply_error(r, e, "could not read the collections");
        return;
    }
    json_t *links = json_array();
    json_array_append_new(links, link(arena_printf(r->arena, "%s/collections", base_url(r)), "self",
                                      "application/json", "collections"));
    req_reply_json(
        r, 200, json_pack("{s:o,s:o,s:o}", "links", links, "collections", list, "crs", crs_list()));
}

static void get_collection(struct req *r)
{
    const struct layer_def *l;
    if (path_layer(r, &l) != ERR_OK || check_format(r) != ERR_OK)
        return;
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    const char *ext;
    enum err e = layer_extent(r, c, l, &ext);
    req_db_release(r, c);
    if (e != ERR_OK) {
        req_reply_error(r, e, "could not read collection %s", l->id);
        return;
    }
    req_reply_json(r, 200, collection_json(r, l, ext));
}

/* The XML Schema type of a property, for GDAL. */
static const char *xsd_type(const struct prop_def *p)
{
    switch (p->type) {
    case PROP_INT:
        return "xs:long";
    case PROP_NUMBER:
        return "xs:double";
    case PROP_BOOL:
        return "xs:boolean";
    case PROP_DATE:
        return "xs:date";
    case PROP_TIMESTAMP:
        return "xs:dateTime";
    default:
        return "xs:string"; /* text, times of day, MM-DD, JSON objects and arrays */
    }
}

static const char *xsd_geometry(const struct layer_def *l)
{
    if (l->geom_types == GEOJSON_POINT)
        return "gml:PointPropertyType";
    if (l->geom_types == GEOJSON_LINESTRING)
        return "gml:CurvePropertyType";
    if (l->geom_types == GEOJSON_MULTIPOLYGON)
        return "gml:MultiSurfacePropertyType";
    return "gml:GeometryPropertyType";
}

static void get_schema(struct req *r)
{
    const struct layer_def *l;
    if (path_layer(r, &l) != ERR_OK)
        return;
    char *x = arena_printf(
        r->arena,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\""
        " xmlns:gml=\"http://www.opengis.net/gml/3.2\" xmlns:pg=\"urn:patrolgis\""
        " targetNamespace=\"urn:patrolgis\" elementFormDefault=\"qualified\">\n"
        "<xs:element name=\"%s\" type=\"pg:%sType\" substitutionGroup=\"gml:AbstractFeature\"/>\n"
        "<xs:complexType name=\"%sType\"><xs:complexContent>"
        "<xs:extension base=\"gml:AbstractFeatureType\"><xs:sequence>\n"
        "<xs:element name=\"%s\" type=\"%s\" minOccurs=\"0\"/>\n",
        l->id, l->id, l->id, l->geom_col, xsd_geometry(l));
    for (const struct prop_def *p = l->props; p->name != NULL; p++) {
        if (strcmp(p->name, "id") == 0)
            continue; /* the feature id, not a property */
        x = arena_printf(r->arena, "%s<xs:element name=\"%s\" type=\"%s\" minOccurs=\"0\"/>\n", x,
                         p->name, xsd_type(p));
    }
    x = arena_printf(r->arena,
                     "%s</xs:sequence></xs:extension></xs:complexContent>"
                     "</xs:complexType>\n</xs:schema>\n",
                     x);
    req_reply(r, 200, "application/xml; charset=utf-8", x, strlen(x));
}

/* ---- item queries ---- */

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
    size_t crs_msglen = bbox_crs ? strlen(bbox_crs) + 128 : 0;
    size_t msglen = 200;
    char *msg = arena_alloc(r->arena, crs_msglen > msglen ? crs_msglen : msglen);
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
        e = ogc_query_bbox(q, req_query(r, "bbox"), bbox_crs, msg,
                           crs_msglen > msglen ? crs_msglen : msglen);
    if (e == ERR_OK)
        e = ogc_query_datetime(q, req_query(r, "datetime"), msg, msglen);
    if (e != ERR_OK)
        req_reply_error(r, e, "%s", msg);
    return e;
}

static void get_items(struct req *r)
{
    const struct layer_def *l;
    struct ogc_crs oc;
    struct ogc_query q;
    if (path_layer(r, &l) != ERR_OK || check_format(r) != ERR_OK ||
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
    long long matched = strtoll(PQgetvalue(cnt, 0, 0), NULL, 10);
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
    const char *items = arena_printf(r->arena, "%s/collections/%s/items", base_url(r), l->id);
    json_t *links = json_array();
    json_array_append_new(links, link(arena_printf(r->arena, "%s?%s&offset=%ld", items, qs, offset),
                                      "self", "application/geo+json", NULL));
    if (offset + returned < matched)
        json_array_append_new(
            links, link(arena_printf(r->arena, "%s?%s&offset=%ld", items, qs, offset + limit),
                        "next", "application/geo+json", "next page"));
    if (offset > 0)
        json_array_append_new(links, link(arena_printf(r->arena, "%s?%s&offset=%ld", items, qs,
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
static enum err read_feature(struct req *r, struct db_conn *c, const struct layer_def *l,
                             long long fid, const struct ogc_crs *oc, json_t **out,
                             long long *version)
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
    *version = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    PQclear(res);
    return *out != NULL ? ERR_OK : ERR_INTERNAL;
}

/* Replies with one feature, its ETag and links. */
static void reply_feature(struct req *r, int status, const struct layer_def *l, json_t *f,
                          long long fid, long long version, const struct ogc_crs *oc)
{
    const char *b = base_url(r);
    const char *self = arena_printf(r->arena, "%s/collections/%s/items/%lld", b, l->id, fid);
    json_t *links = json_array();
    json_array_append_new(links, link(self, "self", "application/geo+json", NULL));
    json_array_append_new(links, link(arena_printf(r->arena, "%s/collections/%s", b, l->id),
                                      "collection", "application/json", l->title));
    json_object_set_new(f, "links", links);
    req_reply_json(r, status, f);
    r->resp_type = "application/geo+json";
    req_add_header(r, "ETag", arena_printf(r->arena, "\"%lld\"", version));
    req_add_header(r, "Content-Crs", arena_printf(r->arena, "<%s>", oc->uri));
    if (status == 201)
        req_add_header(r, "Location", self);
}

static void get_item(struct req *r)
{
    const struct layer_def *l;
    struct ogc_crs oc;
    long long fid, version = 0;
    if (path_layer(r, &l) != ERR_OK || path_fid(r, &fid) != ERR_OK || check_format(r) != ERR_OK ||
        parse_out_crs(r, "crs", &oc) != ERR_OK)
        return;
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    json_t *f;
    enum err e = read_feature(r, c, l, fid, &oc, &f, &version);
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
    reply_feature(r, 200, l, f, fid, version, &oc);
}

/* ---- writes ---- */

/* Columns (and so parameters) of one INSERT or UPDATE: more than any layer of the catalog has
 * (layerdef_check lets through only the layer's own properties). */
#define WRITE_MAX_COLUMNS 32

/* One feature's write, validated and turned into SQL parameters. */
struct feature_write {
    const char *geom_hex; /* hex WKB in WGS84; NULL with geom_given: set to NULL */
    bool geom_given;
    json_t *props; /* borrowed from the request document */
};

/*
 * One write request: its connection and input CRS, and the message of its failure. Functions
 * that can fail return the enum err and leave the message in msg (fail), prefixed with where
 * (which feature of a collection, which window).
 */
struct write_ctx {
    struct req *r;
    struct db_conn *c;
    const struct layer_def *l;
    enum crs in_crs;
    bool in_swap;
    char where[64]; /* "" or "features[3]: " (and "windows[1]: ") */
    char msg[512];
};

static enum err fail(struct write_ctx *w, enum err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the message of e (prefixed with w->where) into w->msg and returns e. */
static enum err fail(struct write_ctx *w, enum err e, const char *fmt, ...)
{
    char text[360];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(w->msg, sizeof(w->msg), "%s%s", w->where, text);
    return e;
}

/* A copy of a coordinates array with the first two numbers of every position swapped. */
static json_t *swap_positions(json_t *a)
{
    if (!json_is_array(a))
        return json_incref(a);
    json_t *out = json_array();
    size_t n = json_array_size(a);
    bool position = n >= 2 && json_is_number(json_array_get(a, 0));
    for (size_t i = 0; i < n; i++) {
        size_t from = position && i < 2 ? 1 - i : i;
        json_t *e = json_array_get(a, from);
        json_array_append_new(out, position ? json_incref(e) : swap_positions(e));
    }
    return out;
}

/* A shallow copy of a geometry object whose positions are lat/lon, as lon/lat. */
static json_t *swap_geometry_axes(json_t *g)
{
    json_t *copy = json_copy(g);
    json_t *coords = json_object_get(g, "coordinates");
    if (copy != NULL && coords != NULL)
        json_object_set_new(copy, "coordinates", swap_positions(coords));
    return copy;
}

/* Reads geometry g under the layer's rules into fw (hex WKB in WGS84). */
static enum err check_geometry(struct write_ctx *w, json_t *g, struct feature_write *fw)
{
    const struct layer_def *l = w->l;
    struct geojson_rules rules = { .types = l->geom_types,
                                   .promote_multi = l->promote_multi,
                                   .crs = w->in_crs };
    const struct ogcapi_options *oo = w->r->app->ogcapi;
    if (oo != NULL && oo->has_town_bbox) {
        rules.has_bbox = true;
        rules.min_lon = oo->town_bbox[0];
        rules.min_lat = oo->town_bbox[1];
        rules.max_lon = oo->town_bbox[2];
        rules.max_lat = oo->town_bbox[3];
    }
    GEOSContextHandle_t h = geoctx_geos();
    GEOSGeometry *geom = NULL;
    struct geojson_error ge;
    /* Lat/lon-ordered input (an EPSG URI as crs): read it with the axes swapped. */
    json_t *input = w->in_swap ? swap_geometry_axes(g) : json_incref(g);
    int rc = input ? geojson_read(h, input, &rules, &geom, &ge) : -1;
    json_decref(input);
    if (input == NULL)
        return fail(w, ERR_INTERNAL, "out of memory");
    if (rc != 0)
        return fail(w, ge.kind, "geometry%s%s: %s (%s)", ge.path[0] ? " at " : "", ge.path,
                    ge.message, ge.code);
    GEOSWKBWriter *wr = GEOSWKBWriter_create_r(h);
    size_t len = 0;
    unsigned char *hex = GEOSWKBWriter_writeHEX_r(h, wr, geom, &len);
    GEOSWKBWriter_destroy_r(h, wr);
    GEOSGeom_destroy_r(h, geom);
    if (hex == NULL)
        return fail(w, ERR_INTERNAL, "could not encode the geometry");
    fw->geom_hex = arena_strndup(w->r->arena, (const char *)hex, len);
    GEOSFree_r(h, hex);
    fw->geom_given = true;
    return ERR_OK;
}

/* Validates a GeoJSON Feature for the layer; fills fw. */
static enum err check_feature(struct write_ctx *w, json_t *f, enum prop_mode mode,
                              struct feature_write *fw, long long path_fid)
{
    const struct layer_def *l = w->l;
    memset(fw, 0, sizeof(*fw));
    if (!json_is_object(f))
        return fail(w, ERR_INVALID_ARGUMENT, "a feature must be a JSON object");
    json_t *type = json_object_get(f, "type");
    /* A merge patch may leave out "type"; anything else must be a Feature. */
    bool untyped_patch = type == NULL && mode == PROP_PATCH;
    if (!untyped_patch &&
        (!json_is_string(type) || strcmp(json_string_value(type), "Feature") != 0))
        return fail(w, ERR_INVALID_ARGUMENT, "\"type\" must be \"Feature\"");
    if (json_object_get(f, "crs") != NULL)
        return fail(w, ERR_INVALID_ARGUMENT,
                    "a \"crs\" member is not GeoJSON (RFC 7946); send WGS84 or use ?crs=");
    json_t *id = json_object_get(f, "id");
    if (id != NULL && !json_is_null(id)) {
        if (path_fid == 0)
            return fail(w, ERR_INVALID_ARGUMENT, "the server assigns ids: remove \"id\"");
        if (!json_is_integer(id) || json_integer_value(id) != path_fid)
            return fail(w, ERR_INVALID_ARGUMENT, "\"id\" does not match the feature's URL");
    }
    fw->props = json_object_get(f, "properties");
    if (fw->props == NULL || json_is_null(fw->props))
        fw->props = NULL;
    else if (!json_is_object(fw->props))
        return fail(w, ERR_INVALID_ARGUMENT, "\"properties\" must be an object or null");

    json_t *g = json_object_get(f, "geometry");
    enum err e;
    if (g == NULL) {
        if (mode != PROP_PATCH)
            return fail(w, ERR_INVALID_ARGUMENT, "a feature needs a \"geometry\" member");
    } else if (json_is_null(g)) {
        if (!l->geom_nullable)
            return fail(w, ERR_UNPROCESSABLE, "features of %s need a geometry", l->id);
        fw->geom_given = true;
    } else {
        e = check_geometry(w, g, fw);
        if (e != ERR_OK)
            return e;
    }
    char msg[300];
    if (fw->props == NULL) {
        /* No properties: check an empty object, kept alive by the feature document. */
        fw->props = json_object();
        json_object_set_new(f, "properties", fw->props);
    }
    e = layerdef_check(l, fw->props, mode, "", msg, sizeof(msg));
    if (e != ERR_OK)
        return fail(w, e, "%s", msg);
    return ERR_OK;
}

/* Maps a failed write statement (its error e) to a client error with a reason. */
static enum err db_fail(struct write_ctx *w, enum err e, bool deleting)
{
    enum db_violation v = db_error_violation(w->c);
    const char *constraint = db_error_constraint(w->c);
    if (v == DB_VIOLATION_FOREIGN_KEY)
        return deleting ? fail(w, ERR_CONFLICT,
                               "other records still refer to this feature (%s); remove them first",
                               constraint)
                        : fail(w, ERR_UNPROCESSABLE, "a referenced record does not exist (%s)",
                               constraint);
    if (v == DB_VIOLATION_CHECK)
        return fail(w, ERR_UNPROCESSABLE, "the values break the rule %s", constraint);
    if (v == DB_VIOLATION_UNIQUE)
        return fail(w, ERR_CONFLICT, "a feature with these values exists (%s)", constraint);
    if (e == ERR_INVALID_ARGUMENT)
        return fail(w, e, "a value is not valid for its column: %s", db_error_message(w->c));
    return fail(w, e, "could not write to %s", w->l->id);
}

/* Writes the children (patrol windows) of parent id: replaces them all. */
static enum err write_children(struct write_ctx *w, long long id, json_t *children)
{
    const struct layer_def *cl = w->l->child;
    char sid[24];
    snprintf(sid, sizeof(sid), "%lld", id);
    const char *p1[1] = { sid };
    char *del =
        arena_printf(w->r->arena, "DELETE FROM %s WHERE %s = $1::bigint", cl->id, w->l->child_fk);
    enum err e = db_exec_params(w->c, del, 1, p1, NULL, w->r->rid);
    if (e != ERR_OK)
        return db_fail(w, e, false);
    size_t i;
    json_t *child;
    json_array_foreach(children, i, child)
    {
        const char *params[WRITE_MAX_COLUMNS];
        char *owned[WRITE_MAX_COLUMNS];
        int n = 0;
        char *cols = arena_strdup(w->r->arena, w->l->child_fk);
        char *vals = arena_strdup(w->r->arena, "$1::bigint");
        params[n] = sid;
        owned[n++] = NULL;
        const char *key;
        json_t *v;
        json_object_foreach(child, key, v)
        {
            const struct prop_def *p = layerdef_prop(cl, key);
            owned[n] = layerdef_sql_value(p, v);
            params[n] = owned[n];
            n++;
            cols = arena_printf(w->r->arena, "%s, %s", cols, p->name);
            vals = arena_printf(w->r->arena, "%s, $%d%s", vals, n, layerdef_sql_cast(p));
        }
        char *sql =
            arena_printf(w->r->arena, "INSERT INTO %s (%s) VALUES (%s)", cl->id, cols, vals);
        e = db_exec_params(w->c, sql, n, params, NULL, w->r->rid);
        for (int k = 0; k < n; k++)
            free(owned[k]);
        if (e != ERR_OK) {
            snprintf(w->where + strlen(w->where), sizeof(w->where) - strlen(w->where),
                     "windows[%zu]: ", i);
            return db_fail(w, e, false);
        }
    }
    return ERR_OK;
}

/*
 * Inserts (fid 0) or updates feature fid from fw in mode, with *id_out set to its id. Must run
 * inside the caller's transaction.
 */
static enum err store_feature(struct write_ctx *w, struct feature_write *fw, enum prop_mode mode,
                              long long fid, long long *id_out)
{
    const struct layer_def *l = w->l;
    struct arena *a = w->r->arena;
    const char *params[WRITE_MAX_COLUMNS];
    char *owned[WRITE_MAX_COLUMNS] = { 0 };
    int n = 0;
    /* Parallel lists of columns and their value expressions. */
    const char *cols[WRITE_MAX_COLUMNS], *vals[WRITE_MAX_COLUMNS];
    int ncols = 0;

    if (fw->geom_given) {
        cols[ncols] = l->geom_col;
        if (fw->geom_hex != NULL) {
            params[n++] = fw->geom_hex;
            vals[ncols++] = arena_printf(a, "ST_GeomFromWKB(decode($%d, 'hex'), 4326)", n);
        } else {
            vals[ncols++] = "NULL";
        }
    }
    for (const struct prop_def *p = l->props; p->name != NULL; p++) {
        if ((p->flags & PROP_READONLY) || (l->child_key && strcmp(p->name, l->child_key) == 0))
            continue;
        json_t *v = json_object_get(fw->props, p->name);
        if (v == NULL && mode == PROP_PATCH)
            continue;
        cols[ncols] = p->name;
        if (v == NULL) {
            vals[ncols++] = "DEFAULT"; /* replace: what is not given is reset */
        } else if (json_is_null(v)) {
            vals[ncols++] = (p->flags & PROP_NULLABLE) ? "NULL" : "DEFAULT";
        } else {
            owned[n] = layerdef_sql_value(p, v);
            params[n] = owned[n];
            n++;
            vals[ncols++] = arena_printf(a, "$%d%s", n, layerdef_sql_cast(p));
        }
    }
    char *list1 = arena_strdup(a, ""), *list2 = arena_strdup(a, "");
    for (int i = 0; i < ncols; i++) {
        const char *sep = i ? ", " : "";
        if (fid == 0) {
            list1 = arena_printf(a, "%s%s%s", list1, sep, cols[i]);
            list2 = arena_printf(a, "%s%s%s", list2, sep, vals[i]);
        } else {
            list1 = arena_printf(a, "%s%s%s = %s", list1, sep, cols[i], vals[i]);
        }
    }
    char *sql;
    if (fid == 0) {
        sql = arena_printf(a, "INSERT INTO %s (%s) VALUES (%s) RETURNING id", l->id, list1, list2);
    } else {
        /* A patch of the children alone still touches the row: its version changes. */
        params[n++] = arena_printf(a, "%lld", fid);
        sql = arena_printf(a, "UPDATE %s SET %s WHERE id = $%d::bigint RETURNING id", l->id,
                           ncols ? list1 : "updated_at = now()", n);
    }
    PGresult *res;
    enum err e = db_exec_params(w->c, sql, n, params, &res, w->r->rid);
    for (int k = 0; k < n; k++)
        free(owned[k]);
    if (e != ERR_OK)
        return db_fail(w, e, false);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return fail(w, ERR_NOT_FOUND, "no feature %lld in %s", fid, l->id);
    }
    *id_out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    json_t *children = l->child_key ? json_object_get(fw->props, l->child_key) : NULL;
    if (l->child != NULL && (children != NULL || mode != PROP_PATCH)) {
        json_t *none = json_array();
        e = write_children(w, *id_out, json_is_array(children) ? children : none);
        json_decref(none);
    }
    return e;
}

/* Refuses a write to a read-only layer: ERR_METHOD_NOT_ALLOWED, replied, with Allow. */
static enum err check_writable(struct req *r, const struct layer_def *l)
{
    if (l->writable)
        return ERR_OK;
    req_reply_error(r, ERR_METHOD_NOT_ALLOWED, "%s is imported data and read-only here", l->id);
    req_add_header(r, "Allow", "GET");
    return ERR_METHOD_NOT_ALLOWED;
}

/*
 * Opens a write: the layer must be writable, the input CRS known, the body a JSON object
 * (*doc, new). Returns ERR_OK, or the error after replying with it.
 */
static enum err begin_write(struct req *r, struct write_ctx *w, const struct layer_def *l,
                            json_t **doc)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
    w->l = l;
    *doc = NULL;
    enum err e = check_writable(r, l);
    if (e != ERR_OK)
        return e;
    /* Part 4 names the input CRS in Content-Crs; ?crs= is accepted too. */
    const char *content_crs = req_header(r, "Content-Crs");
    const char *name = req_query(r, "crs");
    char *stripped = NULL;
    if (content_crs != NULL) {
        size_t len = strlen(content_crs);
        if (len >= 2 && content_crs[0] == '<' && content_crs[len - 1] == '>')
            stripped = arena_strndup(r->arena, content_crs + 1, len - 2);
        else
            stripped = arena_strdup(r->arena, content_crs);
        name = stripped;
    }
    w->in_crs = CRS_WGS84;
    if (name != NULL) {
        if (crs_parse(name, &w->in_crs) != 0) {
            req_reply_error(r, ERR_INVALID_ARGUMENT, "input CRS '%s' is not supported", name);
            return ERR_INVALID_ARGUMENT;
        }
        w->in_swap = crs_axis_lat_first(name);
    }
    *doc = req_json_object(r);
    return *doc != NULL ? ERR_OK : ERR_INVALID_ARGUMENT; /* replied by req_json_object */
}

/*
 * Takes a connection and begins the transaction with the caller named for the audit triggers.
 * Returns ERR_OK, or the error after replying with it.
 */
static enum err open_tx(struct write_ctx *w)
{
    char actor[160];
    w->c = req_db_acquire(w->r);
    if (w->c == NULL)
        return ERR_UNAVAILABLE; /* replied by req_db_acquire */
    auth_actor(req_identity(w->r), actor, sizeof(actor));
    enum err e = db_begin(w->c, w->r->rid);
    if (e == ERR_OK)
        e = db_set_actor(w->c, actor, w->r->rid);
    if (e != ERR_OK) {
        req_db_release(w->r, w->c);
        w->c = NULL;
        req_reply_error(w->r, e, "the database is not available; retry shortly");
    }
    return e;
}

/*
 * Ends the transaction of a write whose outcome is e: commits when e is ERR_OK, else rolls
 * back, and gives the connection back. Returns ERR_OK when committed; otherwise the error
 * (e, or the commit's) after replying with it and w's message.
 */
static enum err close_tx(struct write_ctx *w, enum err e)
{
    if (e == ERR_OK) {
        e = db_commit(w->c, w->r->rid);
        if (e != ERR_OK)
            fail(w, e, "the change could not be committed; nothing was written");
    } else {
        db_rollback(w->c, w->r->rid);
    }
    req_db_release(w->r, w->c);
    w->c = NULL;
    if (e != ERR_OK)
        req_reply_error(w->r, e, "%s", w->msg);
    return e;
}

/*
 * Locks feature fid for an edit and checks If-Match: ERR_OK, or ERR_NOT_FOUND (no such
 * feature), ERR_PRECONDITION (a stale version) or the database's error, with w's message.
 */
static enum err lock_version(struct write_ctx *w, long long fid)
{
    char sid[24];
    snprintf(sid, sizeof(sid), "%lld", fid);
    const char *params[1] = { sid };
    char *sql = arena_printf(w->r->arena,
                             "SELECT floor(extract(epoch FROM updated_at) * 1000000)::bigint"
                             " FROM %s WHERE id = $1::bigint FOR UPDATE",
                             w->l->id);
    PGresult *res;
    enum err e = db_exec_params(w->c, sql, 1, params, &res, w->r->rid);
    if (e != ERR_OK)
        return db_fail(w, e, false);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return fail(w, ERR_NOT_FOUND, "no feature %lld in %s", fid, w->l->id);
    }
    char etag[40];
    snprintf(etag, sizeof(etag), "\"%s\"", PQgetvalue(res, 0, 0));
    PQclear(res);
    const char *match = req_header(w->r, "If-Match");
    if (match != NULL && strcmp(match, "*") != 0 && strstr(match, etag) == NULL)
        return fail(w, ERR_PRECONDITION,
                    "feature %lld was changed since you read it (it is now %s, you had %s); "
                    "read it again",
                    fid, etag, match);
    return ERR_OK;
}

/* The features of a POST body: one Feature (doc itself) or a FeatureCollection's array. */
static enum err post_features(struct req *r, json_t *doc, json_t **features, size_t *count)
{
    json_t *type = json_object_get(doc, "type");
    bool many = json_is_string(type) && strcmp(json_string_value(type), "FeatureCollection") == 0;
    *features = many ? json_object_get(doc, "features") : NULL;
    *count = 1;
    if (!many)
        return ERR_OK;
    if (!json_is_array(*features)) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "a FeatureCollection needs a \"features\" array");
        return ERR_INVALID_ARGUMENT;
    }
    if (json_object_get(doc, "crs") != NULL) {
        req_reply_error(r, ERR_INVALID_ARGUMENT,
                        "a \"crs\" member is not GeoJSON (RFC 7946); send WGS84 or use ?crs=");
        return ERR_INVALID_ARGUMENT;
    }
    *count = json_array_size(*features);
    if (*count == 0) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "the FeatureCollection is empty");
        return ERR_INVALID_ARGUMENT;
    }
    return ERR_OK;
}

static void post_items(struct req *r)
{
    const struct layer_def *l;
    struct write_ctx w;
    json_t *doc, *features;
    size_t count;
    if (path_layer(r, &l) != ERR_OK || begin_write(r, &w, l, &doc) != ERR_OK)
        return;
    if (post_features(r, doc, &features, &count) != ERR_OK) {
        json_decref(doc);
        return;
    }
    bool many = features != NULL;
    struct feature_write *fws = arena_calloc(r->arena, count, sizeof(*fws));
    /* Everything is checked before anything is written. */
    for (size_t i = 0; i < count; i++) {
        if (many)
            snprintf(w.where, sizeof(w.where), "features[%zu]: ", i);
        enum err e =
            check_feature(&w, many ? json_array_get(features, i) : doc, PROP_CREATE, &fws[i], 0);
        if (e != ERR_OK) {
            req_reply_error(r, e, "%s", w.msg);
            json_decref(doc);
            return;
        }
    }
    if (open_tx(&w) != ERR_OK) {
        json_decref(doc);
        return;
    }
    json_t *ids = json_array();
    long long id = 0;
    enum err e = ERR_OK;
    for (size_t i = 0; i < count && e == ERR_OK; i++) {
        if (many)
            snprintf(w.where, sizeof(w.where), "features[%zu]: ", i);
        e = store_feature(&w, &fws[i], PROP_CREATE, 0, &id);
        json_array_append_new(ids, json_integer(id));
    }
    struct ogc_crs oc = { CRS_WGS84, false, crs_uri(CRS_WGS84) };
    long long version = 0;
    json_t *f = NULL;
    if (e == ERR_OK && !many) {
        e = read_feature(r, w.c, l, id, &oc, &f, &version);
        if (e != ERR_OK)
            fail(&w, e, "could not read back the new feature");
    }
    json_decref(doc);
    if (close_tx(&w, e) != ERR_OK) {
        json_decref(ids);
        json_decref(f);
        return;
    }
    if (!many) {
        json_decref(ids);
        reply_feature(r, 201, l, f, id, version, &oc);
        return;
    }
    req_reply_json(
        r, 201,
        json_pack("{s:s,s:i,s:o}", "collection", l->id, "numberCreated", (int)count, "ids", ids));
    req_add_header(r, "Location",
                   arena_printf(r->arena, "%s/collections/%s/items", base_url(r), l->id));
}

/* PUT (replace) and PATCH (merge) of one feature. */
static void edit_item(struct req *r, enum prop_mode mode)
{
    const struct layer_def *l;
    struct write_ctx w;
    long long fid, id = 0, version = 0;
    json_t *doc;
    if (path_layer(r, &l) != ERR_OK || path_fid(r, &fid) != ERR_OK ||
        begin_write(r, &w, l, &doc) != ERR_OK)
        return;
    struct feature_write fw;
    enum err e = check_feature(&w, doc, mode, &fw, fid);
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", w.msg);
        json_decref(doc);
        return;
    }
    if (open_tx(&w) != ERR_OK) {
        json_decref(doc);
        return;
    }
    struct ogc_crs oc = { CRS_WGS84, false, crs_uri(CRS_WGS84) };
    json_t *f = NULL;
    e = lock_version(&w, fid);
    if (e == ERR_OK)
        e = store_feature(&w, &fw, mode, fid, &id);
    if (e == ERR_OK) {
        e = read_feature(r, w.c, l, fid, &oc, &f, &version);
        if (e != ERR_OK)
            fail(&w, e, "could not read back the feature");
    }
    json_decref(doc);
    if (close_tx(&w, e) != ERR_OK) {
        json_decref(f);
        return;
    }
    reply_feature(r, 200, l, f, fid, version, &oc);
}

static void put_item(struct req *r)
{
    edit_item(r, PROP_REPLACE);
}

static void patch_item(struct req *r)
{
    edit_item(r, PROP_PATCH);
}

static void delete_item(struct req *r)
{
    const struct layer_def *l;
    long long fid;
    if (path_layer(r, &l) != ERR_OK || path_fid(r, &fid) != ERR_OK ||
        check_writable(r, l) != ERR_OK)
        return;
    struct write_ctx w = { .r = r, .l = l };
    if (open_tx(&w) != ERR_OK)
        return;
    enum err e = lock_version(&w, fid);
    if (e == ERR_OK) {
        char sid[24];
        snprintf(sid, sizeof(sid), "%lld", fid);
        const char *params[1] = { sid };
        char *sql = arena_printf(r->arena, "DELETE FROM %s WHERE id = $1::bigint", l->id);
        e = db_exec_params(w.c, sql, 1, params, NULL, r->rid);
        if (e != ERR_OK)
            e = db_fail(&w, e, true);
    }
    if (close_tx(&w, e) != ERR_OK)
        return;
    req_reply(r, 204, "application/json", "", 0);
}

static const struct route feature_routes[] = {
    { "GET", "/", get_landing, ROLES_PUBLIC, 0, NULL, "OGC API landing page", "features" },
    { "GET", "/conformance", get_conformance, ROLES_PUBLIC, 0, NULL, "OGC API conformance classes",
      "features" },
    { "GET", "/collections", get_collections, ROLES_READ, 0, NULL, "The town's layers",
      "features" },
    { "GET", "/collections/{cid}", get_collection, ROLES_READ, 0, NULL, "One layer", "features" },
    { "GET", "/collections/{cid}/schema.xsd", get_schema, ROLES_READ, 0, NULL,
      "XML Schema of a layer's features (field types for GDAL and QGIS)", "features" },
    { "GET", "/collections/{cid}/items", get_items, ROLES_READ, 0, NULL,
      "Features of a layer (bbox, datetime, limit, offset, crs, property filters)", "features" },
    { "POST", "/collections/{cid}/items", post_items, ROLES_EDIT, FEATURES_MAX_BODY,
      FEATURES_WRITE_TYPES, "Create a feature, or a FeatureCollection in one transaction",
      "features" },
    { "GET", "/collections/{cid}/items/{fid}", get_item, ROLES_READ, 0, NULL, "One feature",
      "features" },
    { "PUT", "/collections/{cid}/items/{fid}", put_item, ROLES_EDIT, FEATURES_MAX_BODY,
      FEATURES_WRITE_TYPES, "Replace a feature (If-Match: its ETag)", "features" },
    { "PATCH", "/collections/{cid}/items/{fid}", patch_item, ROLES_EDIT, FEATURES_MAX_BODY,
      FEATURES_PATCH_TYPES, "Update a feature by merge (If-Match: its ETag)", "features" },
    { "DELETE", "/collections/{cid}/items/{fid}", delete_item, ROLES_EDIT, 0, NULL,
      "Delete a feature (If-Match: its ETag)", "features" },
};

enum err api_features_register(struct router *rt)
{
    return router_add(rt, feature_routes, sizeof(feature_routes) / sizeof(feature_routes[0]));
}

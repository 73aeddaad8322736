/*
 * ogcapi.c - the routes of OGC API - Features (Part 1 Core with GeoJSON, Part 2 crs= and
 * bbox-crs=, Part 4 create / replace / update / delete; QGIS and GDAL's OAPIF driver are the
 * clients it is built for), and the request helpers all its handlers use: the base URL, links,
 * the {cid} and {fid} of the path, the f= argument.
 *
 * Not here: the handlers (ogc_meta.c, ogc_read.c, ogc_write.c), the query parsers
 * (ogc_query.c), the layer catalog (layerdef.c), the spatial reports (api/api_reports.c).
 */
#include "ogcapi.h"

#include "arena.h"
#include "auth.h"
#include "http.h"
#include "ogc_internal.h"
#include "parse.h"

#include <stdint.h>
#include <string.h>

#define FEATURES_MAX_BODY    (16u << 20)
#define FEATURES_WRITE_TYPES "application/geo+json,application/json"
#define FEATURES_PATCH_TYPES "application/geo+json,application/json,application/merge-patch+json"

/* The absolute base URL of this server as the client reached it. */
const char *ogc_base_url(struct req *r)
{
    const char *host = req_header(r, "Host");
    const char *proto = req_header(r, "X-Forwarded-Proto");
    if (proto == NULL || (strcmp(proto, "https") != 0 && strcmp(proto, "http") != 0))
        proto = "http";
    return arena_printf(r->arena, "%s://%s", proto, host ? host : "localhost");
}

json_t *ogc_link(const char *href, const char *rel, const char *type, const char *title)
{
    json_t *l = json_pack("{s:s,s:s}", "href", href, "rel", rel);
    if (type != NULL)
        json_object_set_new(l, "type", json_string(type));
    if (title != NULL)
        json_object_set_new(l, "title", json_string(title));
    return l;
}

/* The layer named by the path's {cid} in *out; ERR_NOT_FOUND, replied, when there is none. */
enum err ogc_path_layer(struct req *r, const struct layer_def **out)
{
    *out = layerdef_find(req_param(r, "cid"));
    if (*out != NULL)
        return ERR_OK;
    req_reply_error(r, ERR_NOT_FOUND, "no collection '%s'", req_param(r, "cid"));
    return ERR_NOT_FOUND;
}

/* The path's {fid} as a positive integer; else ERR_NOT_FOUND, replied (no such feature). */
enum err ogc_path_fid(struct req *r, long long *fid)
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
enum err ogc_check_format(struct req *r)
{
    const char *f = req_query(r, "f");
    if (f == NULL || strcmp(f, "json") == 0 || strcmp(f, "geojson") == 0)
        return ERR_OK;
    req_reply_error(r, ERR_INVALID_ARGUMENT, "format '%s' is not offered; use f=json", f);
    return ERR_INVALID_ARGUMENT;
}

static const struct route feature_routes[] = {
    { "GET", "/", ogc_get_landing, ROLES_PUBLIC, 0, NULL, "OGC API landing page", "features" },
    { "GET", "/conformance", ogc_get_conformance, ROLES_PUBLIC, 0, NULL,
      "OGC API conformance classes", "features" },
    { "GET", "/collections", ogc_get_collections, ROLES_READ, 0, NULL, "The town's layers",
      "features" },
    { "GET", "/collections/{cid}", ogc_get_collection, ROLES_READ, 0, NULL, "One layer",
      "features" },
    { "GET", "/collections/{cid}/schema.xsd", ogc_get_schema, ROLES_READ, 0, NULL,
      "XML Schema of a layer's features (field types for GDAL and QGIS)", "features" },
    { "GET", "/collections/{cid}/items", ogc_get_items, ROLES_READ, 0, NULL,
      "Features of a layer (bbox, datetime, limit, offset, crs, property filters)", "features" },
    { "POST", "/collections/{cid}/items", ogc_post_items, ROLES_EDIT, FEATURES_MAX_BODY,
      FEATURES_WRITE_TYPES, "Create a feature, or a FeatureCollection in one transaction",
      "features" },
    { "GET", "/collections/{cid}/items/{fid}", ogc_get_item, ROLES_READ, 0, NULL, "One feature",
      "features" },
    { "PUT", "/collections/{cid}/items/{fid}", ogc_put_item, ROLES_EDIT, FEATURES_MAX_BODY,
      FEATURES_WRITE_TYPES, "Replace a feature (If-Match: its ETag)", "features" },
    { "PATCH", "/collections/{cid}/items/{fid}", ogc_patch_item, ROLES_EDIT, FEATURES_MAX_BODY,
      FEATURES_PATCH_TYPES, "Update a feature by merge (If-Match: its ETag)", "features" },
    { "DELETE", "/collections/{cid}/items/{fid}", ogc_delete_item, ROLES_EDIT, 0, NULL,
      "Delete a feature (If-Match: its ETag)", "features" },
};

enum err api_features_register(struct router *rt)
{
    return router_add(rt, feature_routes, sizeof(feature_routes) / sizeof(feature_routes[0]));
}

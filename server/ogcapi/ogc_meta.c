/*
 * ogc_meta.c - what OGC API - Features says about itself and the town's layers: the landing
 * page, the conformance classes, the collections with their extents and CRSs, and each
 * layer's XML Schema (GDAL and QGIS take field types from it). All of it is generated from the
 * layer catalog (layerdef.c); the only SQL is a layer's extent.
 *
 * Not here: the features themselves (ogc_read.c, ogc_write.c).
 */
#include "ogc_internal.h"

#include "access.h"
#include "arena.h"
#include "crs.h"
#include "db.h"
#include "geojson.h"
#include "http.h"
#include "req_json.h"

#include <stdio.h>
#include <string.h>

static const char *const conformance[] = {
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
};

void ogc_get_landing(struct req *r)
{
    if (ogc_check_format(r) != ERR_OK)
        return;
    const char *b = ogc_base_url(r);
    json_t *links = json_array();
    json_array_append_new(links, ogc_link(arena_printf(r->arena, "%s/", b), "self",
                                          "application/json", "this document"));
    json_array_append_new(
        links, ogc_link(arena_printf(r->arena, "%s/api/openapi.json", b), "service-desc",
                        "application/vnd.oai.openapi+json;version=3.0", "the API definition"));
    json_array_append_new(links,
                          ogc_link(arena_printf(r->arena, "%s/conformance", b), "conformance",
                                   "application/json", "conformance classes"));
    json_array_append_new(links, ogc_link(arena_printf(r->arena, "%s/collections", b), "data",
                                          "application/json", "the town's layers"));
    req_reply_json(r, 200,
                   json_pack("{s:s,s:s,s:o}", "title", "patrolgis 校园安全巡逻地理信息服务",
                             "description",
                             "School perimeters, patrol points, dangerous waters, risky roads, "
                             "venues and stations of the town",
                             "links", links));
}

void ogc_get_conformance(struct req *r)
{
    if (ogc_check_format(r) != ERR_OK)
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
    const char *b = ogc_base_url(r);
    const char *self = arena_printf(r->arena, "%s/collections/%s", b, l->id);
    json_t *links = json_array();
    json_array_append_new(links, ogc_link(self, "self", "application/json", l->title));
    json_array_append_new(links, ogc_link(arena_printf(r->arena, "%s/items", self), "items",
                                          "application/geo+json", l->title));
    /* GDAL's OAPIF driver takes field types from this schema instead of guessing them from
     * the first page (which would make 64-bit OSM ids 32-bit integers). */
    json_array_append_new(links,
                          ogc_link(arena_printf(r->arena, "%s/schema.xsd", self), "describedBy",
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

void ogc_get_collections(struct req *r)
{
    if (ogc_check_format(r) != ERR_OK)
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
    json_array_append_new(links, ogc_link(arena_printf(r->arena, "%s/collections", ogc_base_url(r)),
                                          "self", "application/json", "collections"));
    req_reply_json(
        r, 200, json_pack("{s:o,s:o,s:o}", "links", links, "collections", list, "crs", crs_list()));
}

void ogc_get_collection(struct req *r)
{
    const struct layer_def *l;
    if (ogc_path_layer(r, &l) != ERR_OK || ogc_check_format(r) != ERR_OK)
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

void ogc_get_schema(struct req *r)
{
    const struct layer_def *l;
    if (ogc_path_layer(r, &l) != ERR_OK)
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

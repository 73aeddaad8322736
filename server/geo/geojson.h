/*
 * geojson.h - GeoJSON (RFC 7946) geometry objects in and out of GEOS, validated with reasons.
 *
 * geojson_read walks an already parsed jansson value (the JSON text is jansson's business)
 * and builds a 2D GEOS geometry, refusing anything that is not strictly valid GeoJSON or not
 * a valid geometry by GEOS, with a stable code, an HTTP class, a message and where it is.
 * Nothing is ever repaired. geojson_write is the reverse, with rounding and RFC 7946 winding.
 * GEOS is used only through its reentrant API with the caller's handle. This file knows
 * nothing of HTTP or the database: callers turn a struct geojson_error into a reply.
 */
#ifndef PATROL_GEOJSON_H
#define PATROL_GEOJSON_H

#include "crs.h"
#include "err.h"

#include <geos_c.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Geometry types, as bits of an allowed-types mask. */
enum geojson_type {
    GEOJSON_POINT = 1u << 0,
    GEOJSON_MULTIPOINT = 1u << 1,
    GEOJSON_LINESTRING = 1u << 2,
    GEOJSON_MULTILINESTRING = 1u << 3,
    GEOJSON_POLYGON = 1u << 4,
    GEOJSON_MULTIPOLYGON = 1u << 5,
    GEOJSON_ANY = (1u << 6) - 1,
};

#define GEOJSON_MAX_VERTICES_DEFAULT 20000

/*
 * What a caller accepts. A zeroed struct (or NULL) means the defaults: every type, at most
 * GEOJSON_MAX_VERTICES_DEFAULT vertices, no bounding box, no promotion, WGS84 input.
 */
struct geojson_rules {
    unsigned types;      /* mask of enum geojson_type; 0 means GEOJSON_ANY */
    size_t max_vertices; /* positions in the whole geometry; 0 means the default */
    bool has_bbox;       /* positions must lie in [min_lon, max_lon] x [min_lat, max_lat] */
    double min_lon, min_lat, max_lon, max_lat;
    /*
     * Promote Point, LineString and Polygon to MultiPoint, MultiLineString, MultiPolygon. A
     * single type is then allowed when its Multi type is in `types` (or is itself).
     */
    bool promote_multi;
    /*
     * The CRS of the incoming coordinates (default CRS_WGS84). Positions are converted to
     * WGS84 as they are read; range and bbox checks and GEOS validity apply to the converted
     * lon/lat, which is what the result holds.
     */
    enum crs crs;
};

/*
 * Why a geometry was refused.
 *   code: a stable slug (static string):
 *     bad_structure      not a geometry object, type or coordinates missing or mistyped (400)
 *     crs_member         a "crs" member: RFC 7946 removed it, coordinates are WGS84 (400)
 *     bad_position       a position without 2 or 3 numbers (400)
 *     not_finite         a coordinate that is not a finite number (a string, null...) (400)
 *     type_not_allowed   GeometryCollection, or a type the rules do not allow (422)
 *     empty_geometry     empty coordinates, or a polygon without rings (422)
 *     out_of_range       longitude outside [-180, 180], latitude outside [-90, 90], outside
 *                        the rules' bbox, or not convertible from the input CRS (422)
 *     too_few_points     a LineString under 2 positions, a linear ring under 4 (422)
 *     ring_not_closed    a linear ring whose last position is not its first (422)
 *     too_many_vertices  more positions than the rules allow (413: a size limit)
 *     invalid_geometry   GEOS says invalid: message is its reason and location (422)
 *     internal           out of memory or a GEOS failure (500)
 *   kind: the matching enum err (err_status gives the HTTP status).
 *   path: where, relative to the geometry object: "type", "crs", "coordinates",
 *     "coordinates[0][3]" (a position), "coordinates[0][3][1]" (one number of it); "" for
 *     the object itself.
 *   has_location, lon, lat: for invalid_geometry (and out_of_range against the bbox), the
 *     problem's lon/lat.
 */
struct geojson_error {
    const char *code;
    enum err kind;
    char message[256];
    char path[96];
    bool has_location;
    double lon, lat;
};

/*
 * Reads a GeoJSON geometry object (borrowed) into a new 2D GEOS geometry (altitudes dropped).
 * Returns 0 with *out set (GEOSGeom_destroy_r it), or -1 with *err filled and *out NULL.
 * rules may be NULL (defaults); err must not be NULL. The SRID of the result is 0. Any winding
 * is accepted (RFC 7946 says parsers should not reject it); ring closure compares longitude
 * and latitude only.
 */
int geojson_read(GEOSContextHandle_t h, json_t *geometry, const struct geojson_rules *rules,
                 GEOSGeometry **out, struct geojson_error *err);

/*
 * A new GeoJSON geometry object for g (borrowed): {"type":...,"coordinates":...}, 2D, with
 * every coordinate rounded to `precision` decimals (7 for degrees, about 1 cm; 2 for metres;
 * negative: no rounding), exterior rings counter-clockwise and holes clockwise (RFC 7946
 * right-hand rule). GeometryCollections are written with "geometries"; empty geometries with
 * empty coordinates. Returns NULL when out of memory or on a GEOS failure. json_decref it.
 *
 * jansson prints reals with 17 significant digits (113.12345669999999) unless told
 * otherwise: dump with JSON_REAL_PRECISION(15) to print the rounded values as they are, or
 * use geojson_write_text.
 */
json_t *geojson_write(GEOSContextHandle_t h, const GEOSGeometry *g, int precision);

/* As geojson_write, serialised compactly (new string, free with free()), or NULL. */
char *geojson_write_text(GEOSContextHandle_t h, const GEOSGeometry *g, int precision);

#endif

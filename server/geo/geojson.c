/*
 * geojson.c - GeoJSON geometry objects to GEOS and back.
 *
 * The reader is type-directed: the geometry type fixes how deep the coordinates nest, so
 * garbage of any depth is refused at the first level where it does not fit, without
 * recursion on the input. Checks run from the structure down to the geometry: members,
 * type, positions (count, numbers, range, bbox), vertex limit, sequences (length, closure),
 * then GEOSisValidDetail_r. The first failure wins and says where it is.
 */
#include "geojson.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nesting of coordinates below "coordinates" (MultiPolygon: polygon, ring, position, number). */
#define GEOJSON_MAX_DEPTH 4

struct reader {
    GEOSContextHandle_t h;
    struct geojson_rules rules; /* defaults resolved */
    struct geojson_error *err;
    size_t vertices;
    int depth;                         /* entries of idx in use */
    size_t idx[GEOJSON_MAX_DEPTH + 1]; /* the current path below "coordinates" */
};

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                    */

static void set_error(struct geojson_error *e, const char *code, enum err kind, const char *path,
                      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void set_error(struct geojson_error *e, const char *code, enum err kind, const char *path,
                      const char *fmt, va_list ap)
{
    e->code = code;
    e->kind = kind;
    snprintf(e->path, sizeof(e->path), "%s", path);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
}

static int fail_at(struct reader *r, const char *path, const char *code, enum err kind,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail_at(struct reader *r, const char *path, const char *code, enum err kind,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_error(r->err, code, kind, path, fmt, ap);
    va_end(ap);
    return -1;
}

/* The current path: "coordinates" followed by the indexes in r->idx. */
static void format_path(const struct reader *r, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "coordinates");
    for (int i = 0; i < r->depth && len < size; i++) {
        int n = snprintf(buf + len, size - len, "[%zu]", r->idx[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* Fails at the current coordinates path, message prefixed with that path. */
static int fail(struct reader *r, const char *code, enum err kind, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct reader *r, const char *code, enum err kind, const char *fmt, ...)
{
    char path[sizeof(r->err->path)];
    char what[192];
    format_path(r, path, sizeof(path));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return fail_at(r, path, code, kind, "%s: %s", path, what);
}

static int fail_internal(struct reader *r, const char *what)
{
    return fail_at(r, "", "internal", ERR_INTERNAL, "%s", what);
}

static void path_push(struct reader *r, size_t i)
{
    r->idx[r->depth++] = i;
}

static void path_pop(struct reader *r)
{
    r->depth--;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

/* ---------------------------------------------------------------------------------------- */
/* Positions and sequences                                                                   */

/* Reads one position (path already pushed) into xy[0..1], converted and checked. */
static int read_position(struct reader *r, json_t *pos, double *xy)
{
    if (!json_is_array(pos))
        return fail(r, "bad_structure", ERR_INVALID_ARGUMENT,
                    "a position must be an array of 2 or 3 numbers, got %s", json_kind(pos));
    size_t n = json_array_size(pos);
    for (size_t i = 0; i < n; i++) {
        json_t *num = json_array_get(pos, i);
        if (json_is_array(num) || json_is_object(num)) {
            path_push(r, i);
            return fail(r, "bad_structure", ERR_INVALID_ARGUMENT, "expected a number, got %s",
                        json_kind(num));
        }
    }
    if (n < 2 || n > 3)
        return fail(r, "bad_position", ERR_INVALID_ARGUMENT,
                    "a position has 2 or 3 numbers (longitude, latitude[, altitude]), got %zu", n);
    double v[3];
    for (size_t i = 0; i < n; i++) {
        json_t *num = json_array_get(pos, i);
        path_push(r, i);
        if (!json_is_number(num))
            return fail(r, "not_finite", ERR_INVALID_ARGUMENT,
                        "a coordinate must be a finite number, got %s", json_kind(num));
        v[i] = json_number_value(num);
        if (!isfinite(v[i]))
            return fail(r, "not_finite", ERR_INVALID_ARGUMENT,
                        "a coordinate must be a finite number");
        path_pop(r);
    }
    double x = v[0], y = v[1]; /* an altitude is checked as a number, then dropped */
    if (r->rules.crs != CRS_WGS84 && crs_to_wgs84(r->rules.crs, &x, &y) != 0)
        return fail(r, "out_of_range", ERR_UNPROCESSABLE,
                    "[%.10g, %.10g] cannot be converted from %s", v[0], v[1],
                    crs_uri(r->rules.crs));
    if (x < -180.0 || x > 180.0)
        return fail(r, "out_of_range", ERR_UNPROCESSABLE, "longitude %.10g is outside [-180, 180]",
                    x);
    if (y < -90.0 || y > 90.0)
        return fail(r, "out_of_range", ERR_UNPROCESSABLE, "latitude %.10g is outside [-90, 90]", y);
    if (r->rules.has_bbox && (x < r->rules.min_lon || x > r->rules.max_lon ||
                              y < r->rules.min_lat || y > r->rules.max_lat)) {
        fail(r, "out_of_range", ERR_UNPROCESSABLE,
             "[%.10g, %.10g] is outside the allowed area [%.10g, %.10g, %.10g, %.10g]", x, y,
             r->rules.min_lon, r->rules.min_lat, r->rules.max_lon, r->rules.max_lat);
        r->err->has_location = true;
        r->err->lon = x;
        r->err->lat = y;
        return -1;
    }
    xy[0] = x;
    xy[1] = y;
    return 0;
}

/* Counts n more vertices against the limit; on failure the path names the first one past it. */
static int count_vertices(struct reader *r, size_t n)
{
    size_t room = r->rules.max_vertices - r->vertices;
    if (n <= room) {
        r->vertices += n;
        return 0;
    }
    path_push(r, room);
    return fail(r, "too_many_vertices", ERR_TOO_LARGE, "more than %zu positions in the geometry",
                r->rules.max_vertices);
}

/* An array of positions (LineString or ring) as a new coordinate sequence, or NULL. */
static GEOSCoordSequence *read_sequence(struct reader *r, json_t *arr, bool ring)
{
    if (!json_is_array(arr)) {
        fail(r, "bad_structure", ERR_INVALID_ARGUMENT, "expected an array of positions, got %s",
             json_kind(arr));
        return NULL;
    }
    size_t n = json_array_size(arr);
    if (n > 0 && !json_is_array(json_array_get(arr, 0))) {
        /* one level of nesting short: say so rather than count the numbers as positions */
        path_push(r, 0);
        fail(r, "bad_structure", ERR_INVALID_ARGUMENT,
             "expected a position (an array of numbers), got %s",
             json_kind(json_array_get(arr, 0)));
        return NULL;
    }
    size_t min = ring ? 4 : 2;
    if (n < min) {
        fail(r, "too_few_points", ERR_UNPROCESSABLE, "a %s needs at least %zu positions, got %zu",
             ring ? "linear ring" : "LineString", min, n);
        return NULL;
    }
    if (count_vertices(r, n) != 0)
        return NULL;
    double *buf = calloc(n, 2 * sizeof(double));
    if (buf == NULL) {
        fail_internal(r, "out of memory");
        return NULL;
    }
    GEOSCoordSequence *seq = NULL;
    for (size_t i = 0; i < n; i++) {
        path_push(r, i);
        if (read_position(r, json_array_get(arr, i), buf + 2 * i) != 0)
            goto out;
        path_pop(r);
    }
    if (ring && (buf[0] != buf[2 * n - 2] || buf[1] != buf[2 * n - 1])) {
        path_push(r, n - 1);
        fail(r, "ring_not_closed", ERR_UNPROCESSABLE,
             "a linear ring must end where it starts: [%.10g, %.10g] is not [%.10g, %.10g]",
             buf[2 * n - 2], buf[2 * n - 1], buf[0], buf[1]);
        goto out;
    }
    seq = GEOSCoordSeq_copyFromBuffer_r(r->h, buf, (unsigned)n, 0, 0);
    if (seq == NULL)
        fail_internal(r, "cannot build a coordinate sequence");
out:
    free(buf);
    return seq;
}

/* ---------------------------------------------------------------------------------------- */
/* Geometries                                                                                */

/*
 * GEOS constructors take ownership of their parts (also on failure, which only happens on
 * an exception): parts are never destroyed after being handed over.
 */

/* One point; MultiPoint counts its vertices up front, a lone Point is one vertex. */
static GEOSGeometry *read_point(struct reader *r, json_t *pos)
{
    double xy[2];
    if (read_position(r, pos, xy) != 0)
        return NULL;
    GEOSGeometry *g = GEOSGeom_createPointFromXY_r(r->h, xy[0], xy[1]);
    if (g == NULL)
        fail_internal(r, "cannot build a point");
    return g;
}

static GEOSGeometry *read_linestring(struct reader *r, json_t *arr)
{
    GEOSCoordSequence *seq = read_sequence(r, arr, false);
    if (seq == NULL)
        return NULL;
    GEOSGeometry *g = GEOSGeom_createLineString_r(r->h, seq);
    if (g == NULL)
        fail_internal(r, "cannot build a LineString");
    return g;
}

static void destroy_all(GEOSContextHandle_t h, GEOSGeometry **parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        GEOSGeom_destroy_r(h, parts[i]);
}

static GEOSGeometry *read_polygon(struct reader *r, json_t *rings)
{
    if (!json_is_array(rings)) {
        fail(r, "bad_structure", ERR_INVALID_ARGUMENT, "expected an array of rings, got %s",
             json_kind(rings));
        return NULL;
    }
    size_t n = json_array_size(rings);
    if (n == 0) {
        fail(r, "empty_geometry", ERR_UNPROCESSABLE, "a Polygon needs an exterior ring");
        return NULL;
    }
    if (n > UINT_MAX) {
        fail(r, "too_many_vertices", ERR_TOO_LARGE, "too many rings");
        return NULL;
    }
    GEOSGeometry **parts = calloc(n, sizeof(*parts));
    if (parts == NULL) {
        fail_internal(r, "out of memory");
        return NULL;
    }
    GEOSGeometry *g = NULL;
    size_t made = 0;
    for (; made < n; made++) {
        path_push(r, made);
        GEOSCoordSequence *seq = read_sequence(r, json_array_get(rings, made), true);
        if (seq == NULL)
            goto out;
        parts[made] = GEOSGeom_createLinearRing_r(r->h, seq);
        if (parts[made] == NULL) {
            fail_internal(r, "cannot build a linear ring");
            goto out;
        }
        path_pop(r);
    }
    g = GEOSGeom_createPolygon_r(r->h, parts[0], parts + 1, (unsigned)(n - 1));
    made = 0; /* handed over */
    if (g == NULL)
        fail_internal(r, "cannot build a Polygon");
out:
    destroy_all(r->h, parts, made);
    free(parts);
    return g;
}

enum part_kind { PART_POINT, PART_LINESTRING, PART_POLYGON };

static GEOSGeometry *read_part(struct reader *r, enum part_kind kind, json_t *v)
{
    switch (kind) {
    case PART_POINT:
        return read_point(r, v);
    case PART_LINESTRING:
        return read_linestring(r, v);
    case PART_POLYGON:
        return read_polygon(r, v);
    }
    return NULL;
}

static GEOSGeometry *read_multi(struct reader *r, enum part_kind kind, int geos_type, json_t *arr)
{
    size_t n = json_array_size(arr); /* arr is an array: checked by the caller */
    if (n > UINT_MAX) {
        fail(r, "too_many_vertices", ERR_TOO_LARGE, "too many parts");
        return NULL;
    }
    if (kind == PART_POINT && count_vertices(r, n) != 0)
        return NULL;
    GEOSGeometry **parts = calloc(n > 0 ? n : 1, sizeof(*parts));
    if (parts == NULL) {
        fail_internal(r, "out of memory");
        return NULL;
    }
    GEOSGeometry *g = NULL;
    size_t made = 0;
    for (; made < n; made++) {
        path_push(r, made);
        parts[made] = read_part(r, kind, json_array_get(arr, made));
        if (parts[made] == NULL)
            goto out;
        path_pop(r);
    }
    g = GEOSGeom_createCollection_r(r->h, geos_type, parts, (unsigned)n);
    made = 0; /* handed over */
    if (g == NULL)
        fail_internal(r, "cannot build a collection");
out:
    destroy_all(r->h, parts, made);
    free(parts);
    return g;
}

struct type_info {
    const char *name;
    enum geojson_type bit;
    enum geojson_type multi; /* what promotion gives (itself for Multi types) */
    enum part_kind part;
    int multi_geos_type; /* the GEOS collection type, -1 for single types */
};

static const struct type_info types[] = {
    { "Point", GEOJSON_POINT, GEOJSON_MULTIPOINT, PART_POINT, -1 },
    { "MultiPoint", GEOJSON_MULTIPOINT, GEOJSON_MULTIPOINT, PART_POINT, GEOS_MULTIPOINT },
    { "LineString", GEOJSON_LINESTRING, GEOJSON_MULTILINESTRING, PART_LINESTRING, -1 },
    { "MultiLineString", GEOJSON_MULTILINESTRING, GEOJSON_MULTILINESTRING, PART_LINESTRING,
      GEOS_MULTILINESTRING },
    { "Polygon", GEOJSON_POLYGON, GEOJSON_MULTIPOLYGON, PART_POLYGON, -1 },
    { "MultiPolygon", GEOJSON_MULTIPOLYGON, GEOJSON_MULTIPOLYGON, PART_POLYGON, GEOS_MULTIPOLYGON },
};

static const int promoted_geos_type[] = {
    [PART_POINT] = GEOS_MULTIPOINT,
    [PART_LINESTRING] = GEOS_MULTILINESTRING,
    [PART_POLYGON] = GEOS_MULTIPOLYGON,
};

/* The type entry named by the "type" member, or NULL after failing. */
static const struct type_info *read_type(struct reader *r, json_t *geometry)
{
    json_t *t = json_object_get(geometry, "type");
    if (!json_is_string(t)) {
        if (t == NULL)
            fail_at(r, "type", "bad_structure", ERR_INVALID_ARGUMENT,
                    "a geometry needs a \"type\" member");
        else
            fail_at(r, "type", "bad_structure", ERR_INVALID_ARGUMENT,
                    "\"type\" must be a string, got %s", json_kind(t));
        return NULL;
    }
    const char *name = json_string_value(t);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(name, types[i].name) == 0)
            return &types[i];
    }
    if (strcmp(name, "GeometryCollection") == 0)
        fail_at(r, "type", "type_not_allowed", ERR_UNPROCESSABLE,
                "GeometryCollection is not accepted: send a Multi* geometry");
    else if (strcmp(name, "Feature") == 0 || strcmp(name, "FeatureCollection") == 0)
        fail_at(r, "type", "bad_structure", ERR_INVALID_ARGUMENT,
                "expected a geometry object, got a %s", name);
    else
        fail_at(r, "type", "bad_structure", ERR_INVALID_ARGUMENT,
                "unknown geometry type \"%.40s\" (types are case-sensitive)", name);
    return NULL;
}

static bool type_allowed(const struct reader *r, const struct type_info *t)
{
    unsigned mask = r->rules.types;
    if (mask & (unsigned)t->bit)
        return true;
    return r->rules.promote_multi && (mask & (unsigned)t->multi);
}

static int check_valid(struct reader *r, const GEOSGeometry *g)
{
    char *reason = NULL;
    GEOSGeometry *where = NULL;
    char ok = GEOSisValidDetail_r(r->h, g, 0, &reason, &where);
    if (ok == 1)
        return 0;
    if (ok != 0)
        return fail_internal(r, "GEOS could not check validity");
    double x = 0.0, y = 0.0;
    bool located = where != NULL && GEOSGeomGetX_r(r->h, where, &x) == 1 &&
                   GEOSGeomGetY_r(r->h, where, &y) == 1;
    if (located)
        fail_at(r, "coordinates", "invalid_geometry", ERR_UNPROCESSABLE, "%s at %.10g %.10g",
                reason ? reason : "Invalid geometry", x, y);
    else
        fail_at(r, "coordinates", "invalid_geometry", ERR_UNPROCESSABLE, "%s",
                reason ? reason : "Invalid geometry");
    r->err->has_location = located;
    r->err->lon = x;
    r->err->lat = y;
    GEOSFree_r(r->h, reason);
    GEOSGeom_destroy_r(r->h, where);
    return -1;
}

int geojson_read(GEOSContextHandle_t h, json_t *geometry, const struct geojson_rules *rules,
                 GEOSGeometry **out, struct geojson_error *err)
{
    struct reader r = { .h = h, .err = err };
    if (rules != NULL)
        r.rules = *rules;
    if (r.rules.types == 0)
        r.rules.types = GEOJSON_ANY;
    if (r.rules.max_vertices == 0)
        r.rules.max_vertices = GEOJSON_MAX_VERTICES_DEFAULT;
    memset(err, 0, sizeof(*err));
    *out = NULL;

    if (!json_is_object(geometry))
        return fail_at(&r, "", "bad_structure", ERR_INVALID_ARGUMENT,
                       "a geometry must be a JSON object, got %s",
                       geometry ? json_kind(geometry) : "nothing");
    if (json_object_get(geometry, "crs") != NULL)
        return fail_at(&r, "crs", "crs_member", ERR_INVALID_ARGUMENT,
                       "a \"crs\" member is not allowed (RFC 7946: coordinates are WGS84 "
                       "longitude, latitude); use the crs parameter instead");
    const struct type_info *t = read_type(&r, geometry);
    if (t == NULL)
        return -1;
    if (!type_allowed(&r, t))
        return fail_at(&r, "type", "type_not_allowed", ERR_UNPROCESSABLE,
                       "a %s is not allowed here", t->name);
    json_t *coords = json_object_get(geometry, "coordinates");
    if (coords == NULL)
        return fail_at(&r, "coordinates", "bad_structure", ERR_INVALID_ARGUMENT,
                       "a %s needs a \"coordinates\" member", t->name);
    if (!json_is_array(coords))
        return fail_at(&r, "coordinates", "bad_structure", ERR_INVALID_ARGUMENT,
                       "\"coordinates\" must be an array, got %s", json_kind(coords));
    if (json_array_size(coords) == 0)
        return fail_at(&r, "coordinates", "empty_geometry", ERR_UNPROCESSABLE,
                       "an empty %s is not accepted", t->name);

    GEOSGeometry *g;
    if (t->multi_geos_type >= 0)
        g = read_multi(&r, t->part, t->multi_geos_type, coords);
    else
        g = read_part(&r, t->part, coords);
    if (g == NULL)
        return -1;
    if (r.rules.promote_multi && t->multi_geos_type < 0) {
        GEOSGeometry *parts[1] = { g };
        g = GEOSGeom_createCollection_r(h, promoted_geos_type[t->part], parts, 1);
        if (g == NULL)
            return fail_internal(&r, "cannot build a collection");
    }
    if (check_valid(&r, g) != 0) {
        GEOSGeom_destroy_r(h, g);
        return -1;
    }
    *out = g;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Writing                                                                                   */

struct writer {
    GEOSContextHandle_t h;
    double scale; /* 10^precision, or 0 for no rounding */
};

static double round_to(const struct writer *w, double v)
{
    if (w->scale == 0.0)
        return v;
    double r = round(v * w->scale) / w->scale;
    return r == 0.0 ? 0.0 : r; /* no "-0.0" */
}

static json_t *write_xy(const struct writer *w, double x, double y)
{
    json_t *pos = json_array();
    if (pos == NULL || json_array_append_new(pos, json_real(round_to(w, x))) != 0 ||
        json_array_append_new(pos, json_real(round_to(w, y))) != 0) {
        json_decref(pos);
        return NULL;
    }
    return pos;
}

/* The positions of seq as an array, in reverse order when reverse is set. */
static json_t *write_sequence(const struct writer *w, const GEOSCoordSequence *seq, bool reverse)
{
    unsigned n = 0;
    if (GEOSCoordSeq_getSize_r(w->h, seq, &n) == 0)
        return NULL;
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++) {
        double x, y;
        unsigned k = reverse ? n - 1 - i : i;
        if (GEOSCoordSeq_getXY_r(w->h, seq, k, &x, &y) == 0 ||
            json_array_append_new(arr, write_xy(w, x, y)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *write_linear(const struct writer *w, const GEOSGeometry *g)
{
    const GEOSCoordSequence *seq = GEOSGeom_getCoordSeq_r(w->h, g);
    return seq ? write_sequence(w, seq, false) : NULL;
}

/*
 * Twice the signed area of seq as it will be written (rounded), > 0 for counter-clockwise.
 * With rounding, coordinates are taken relative to the first vertex in units of the output
 * grid, which are whole numbers that long double multiplies exactly for degrees.
 */
static long double written_area2(const struct writer *w, const GEOSCoordSequence *seq, unsigned n)
{
    long double sum = 0, px = 0, py = 0;
    long double s = w->scale != 0.0 ? (long double)w->scale : 1.0L;
    double x0 = 0, y0 = 0;
    for (unsigned i = 0; i < n; i++) {
        double x, y;
        if (GEOSCoordSeq_getXY_r(w->h, seq, i, &x, &y) == 0)
            return 0;
        x = round_to(w, x);
        y = round_to(w, y);
        if (i == 0) {
            x0 = x;
            y0 = y;
        }
        long double dx = ((long double)x - x0) * s, dy = ((long double)y - y0) * s;
        if (w->scale != 0.0) {
            dx = roundl(dx);
            dy = roundl(dy);
        }
        sum += px * dy - dx * py;
        px = dx;
        py = dy;
    }
    return sum;
}

/*
 * A ring, turned counter-clockwise (exterior) or clockwise (hole) as RFC 7946 asks, judged on
 * the coordinates as written: rounding can flip a tiny ring, so the rounded ring decides; one
 * that rounds to no area keeps the orientation GEOS sees in the original.
 */
static json_t *write_ring(const struct writer *w, const GEOSGeometry *ring, bool exterior)
{
    const GEOSCoordSequence *seq = GEOSGeom_getCoordSeq_r(w->h, ring);
    if (seq == NULL)
        return NULL;
    char ccw = 0;
    bool reverse = false;
    unsigned n = 0;
    /* isCCW needs a proper ring; an empty one has no orientation to fix */
    if (GEOSCoordSeq_getSize_r(w->h, seq, &n) != 0 && n >= 4) {
        long double area2 = written_area2(w, seq, n);
        if (area2 != 0)
            reverse = exterior ? area2 < 0 : area2 > 0;
        else if (GEOSCoordSeq_isCCW_r(w->h, seq, &ccw) != 0)
            reverse = exterior ? !ccw : ccw;
    }
    return write_sequence(w, seq, reverse);
}

static json_t *write_polygon(const struct writer *w, const GEOSGeometry *g)
{
    json_t *rings = json_array();
    if (rings == NULL || GEOSisEmpty_r(w->h, g) == 1)
        return rings;
    const GEOSGeometry *shell = GEOSGetExteriorRing_r(w->h, g);
    int nholes = GEOSGetNumInteriorRings_r(w->h, g);
    if (shell == NULL || nholes < 0 || json_array_append_new(rings, write_ring(w, shell, true)))
        goto fail;
    for (int i = 0; i < nholes; i++) {
        const GEOSGeometry *hole = GEOSGetInteriorRingN_r(w->h, g, i);
        if (hole == NULL || json_array_append_new(rings, write_ring(w, hole, false)) != 0)
            goto fail;
    }
    return rings;
fail:
    json_decref(rings);
    return NULL;
}

static json_t *write_coordinates(const struct writer *w, const GEOSGeometry *g);

static json_t *write_parts(const struct writer *w, const GEOSGeometry *g)
{
    int n = GEOSGetNumGeometries_r(w->h, g);
    json_t *arr = n >= 0 ? json_array() : NULL;
    if (arr == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        const GEOSGeometry *part = GEOSGetGeometryN_r(w->h, g, i);
        if (part == NULL || json_array_append_new(arr, write_coordinates(w, part)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* The "coordinates" value of a non-collection-of-collections geometry, or NULL. */
static json_t *write_coordinates(const struct writer *w, const GEOSGeometry *g)
{
    switch (GEOSGeomTypeId_r(w->h, g)) {
    case GEOS_POINT: {
        double x, y;
        if (GEOSisEmpty_r(w->h, g) == 1)
            return json_array();
        if (GEOSGeomGetX_r(w->h, g, &x) != 1 || GEOSGeomGetY_r(w->h, g, &y) != 1)
            return NULL;
        return write_xy(w, x, y);
    }
    case GEOS_LINESTRING:
    case GEOS_LINEARRING:
        return write_linear(w, g);
    case GEOS_POLYGON:
        return write_polygon(w, g);
    case GEOS_MULTIPOINT:
    case GEOS_MULTILINESTRING:
    case GEOS_MULTIPOLYGON:
        return write_parts(w, g);
    default:
        return NULL;
    }
}

static const char *geojson_type_name(int geos_type)
{
    switch (geos_type) {
    case GEOS_POINT:
        return "Point";
    case GEOS_LINESTRING:
    case GEOS_LINEARRING:
        return "LineString";
    case GEOS_POLYGON:
        return "Polygon";
    case GEOS_MULTIPOINT:
        return "MultiPoint";
    case GEOS_MULTILINESTRING:
        return "MultiLineString";
    case GEOS_MULTIPOLYGON:
        return "MultiPolygon";
    case GEOS_GEOMETRYCOLLECTION:
        return "GeometryCollection";
    default:
        return NULL;
    }
}

static json_t *write_geometry(const struct writer *w, const GEOSGeometry *g, int depth)
{
    int type = GEOSGeomTypeId_r(w->h, g);
    const char *name = geojson_type_name(type);
    if (name == NULL || depth > 32)
        return NULL;
    json_t *obj = json_object();
    if (obj == NULL || json_object_set_new(obj, "type", json_string(name)) != 0)
        goto fail;
    if (type != GEOS_GEOMETRYCOLLECTION) {
        if (json_object_set_new(obj, "coordinates", write_coordinates(w, g)) != 0)
            goto fail;
        return obj;
    }
    json_t *members = json_array();
    if (json_object_set_new(obj, "geometries", members) != 0)
        goto fail;
    int n = GEOSGetNumGeometries_r(w->h, g);
    for (int i = 0; i < n; i++) {
        const GEOSGeometry *part = GEOSGetGeometryN_r(w->h, g, i);
        if (part == NULL || json_array_append_new(members, write_geometry(w, part, depth + 1)))
            goto fail;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

json_t *geojson_write(GEOSContextHandle_t h, const GEOSGeometry *g, int precision)
{
    struct writer w = { .h = h, .scale = 0.0 };
    if (g == NULL)
        return NULL;
    if (precision >= 0)
        w.scale = pow(10.0, precision > 15 ? 15 : precision);
    return write_geometry(&w, g, 0);
}

char *geojson_write_text(GEOSContextHandle_t h, const GEOSGeometry *g, int precision)
{
    json_t *j = geojson_write(h, g, precision);
    if (j == NULL)
        return NULL;
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(j);
    return text;
}

/*
 * test_geojson.c - GeoJSON geometries in and out: every refusal with its code, class and
 * location; round trips; altitude dropped; promotion to Multi*; RFC 7946 winding on output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "geoctx.h"
#include "geojson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GEOSContextHandle_t h;

static int setup(void **state)
{
    (void)state;
    h = geoctx_geos();
    return h == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    geoctx_release();
    return 0;
}

/* Parses text (it must be JSON) and reads it as a geometry. */
static int read_text(const char *text, const struct geojson_rules *rules, GEOSGeometry **g,
                     struct geojson_error *e)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    if (j == NULL)
        fail_msg("test JSON does not parse: %s: %s", je.text, text);
    int rc = geojson_read(h, j, rules, g, e);
    json_decref(j);
    if (rc == 0) {
        assert_non_null(*g);
    } else {
        assert_null(*g);
        assert_non_null(e->code);
        assert_true(e->message[0] != '\0');
    }
    return rc;
}

/* Expects a refusal with this code, HTTP status and path; returns the error for more checks. */
static struct geojson_error refused(const char *text, const struct geojson_rules *rules,
                                    const char *code, int status, const char *path)
{
    GEOSGeometry *g = NULL;
    struct geojson_error e;
    if (read_text(text, rules, &g, &e) == 0) {
        GEOSGeom_destroy_r(h, g);
        fail_msg("accepted: %s", text);
    }
    if (strcmp(e.code, code) != 0 || strcmp(e.path, path) != 0 || err_status(e.kind) != status)
        fail_msg("%s\n  got %s %d at '%s': %s\n  want %s %d at '%s'", text, e.code,
                 err_status(e.kind), e.path, e.message, code, status, path);
    return e;
}

static GEOSGeometry *accepted(const char *text, const struct geojson_rules *rules)
{
    GEOSGeometry *g = NULL;
    struct geojson_error e;
    if (read_text(text, rules, &g, &e) != 0)
        fail_msg("refused (%s at '%s': %s): %s", e.code, e.path, e.message, text);
    return g;
}

#define SQUARE "[[113,28],[113.01,28],[113.01,28.01],[113,28.01],[113,28]]"

static void test_invalid_geometry(void **state)
{
    (void)state;
    struct geojson_error e =
        refused("{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[113.001,28.001],[113.001,28],"
                "[113,28.001],[113,28]]]}",
                NULL, "invalid_geometry", 422, "coordinates");
    assert_true(e.has_location);
    assert_true(fabs(e.lon - 113.0005) < 1e-9 && fabs(e.lat - 28.0005) < 1e-9);
    assert_string_equal(e.message, "Self-intersection at 113.0005 28.0005");

    /* A hole outside its shell; two overlapping parts of a MultiPolygon. */
    e = refused("{\"type\":\"Polygon\",\"coordinates\":[" SQUARE ",[[114,28],[114.001,28],"
                "[114.001,28.001],[114,28]]]}",
                NULL, "invalid_geometry", 422, "coordinates");
    assert_non_null(strstr(e.message, "Hole lies outside shell"));
    e = refused("{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQUARE "],[[[113.005,28],"
                "[113.02,28],[113.02,28.01],[113.005,28.01],[113.005,28]]]]}",
                NULL, "invalid_geometry", 422, "coordinates");
    assert_true(e.has_location);
    /* A LineString whose two positions are the same point. */
    e = refused("{\"type\":\"LineString\",\"coordinates\":[[113,28],[113,28]]}", NULL,
                "invalid_geometry", 422, "coordinates");
    assert_non_null(strstr(e.message, "Too few points"));
}

static void test_ring_not_closed(void **state)
{
    (void)state;
    struct geojson_error e = refused("{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[113.01,"
                                     "28],[113.01,28.01],[113,28.01]]]}",
                                     NULL, "ring_not_closed", 422, "coordinates[0][3]");
    assert_non_null(strstr(e.message, "coordinates[0][3]"));
    refused("{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQUARE "],[" SQUARE
            ",[[113.002,28.002],[113.002,28.004],[113.004,28.004],[113.004,28.003],"
            "[113.003,28.002]]]]}",
            NULL, "ring_not_closed", 422, "coordinates[1][1][4]");
}

static void test_out_of_range(void **state)
{
    (void)state;
    struct geojson_error e = refused("{\"type\":\"Point\",\"coordinates\":[200,28]}", NULL,
                                     "out_of_range", 422, "coordinates");
    assert_non_null(strstr(e.message, "longitude 200 is outside [-180, 180]"));
    e = refused("{\"type\":\"LineString\",\"coordinates\":[[113,28],[113,-91]]}", NULL,
                "out_of_range", 422, "coordinates[1]");
    assert_non_null(strstr(e.message, "latitude -91 is outside [-90, 90]"));
    refused("{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[113.01,28],[-180.5,28.01],"
            "[113,28.01],[113,28]]]}",
            NULL, "out_of_range", 422, "coordinates[0][2]");
    /* The edges themselves are in range. */
    GEOSGeometry *g =
        accepted("{\"type\":\"MultiPoint\",\"coordinates\":[[180,90],[-180,-90]]}", NULL);
    GEOSGeom_destroy_r(h, g);

    /* A town's bounding box. */
    struct geojson_rules town = {
        .has_bbox = true, .min_lon = 112.9, .min_lat = 27.9, .max_lon = 113.1, .max_lat = 28.1
    };
    g = accepted("{\"type\":\"Polygon\",\"coordinates\":[" SQUARE "]}", &town);
    GEOSGeom_destroy_r(h, g);
    e = refused("{\"type\":\"MultiPoint\",\"coordinates\":[[113,28],[113.2,28]]}", &town,
                "out_of_range", 422, "coordinates[1]");
    assert_true(e.has_location && e.lon == 113.2 && e.lat == 28.0);
    assert_non_null(strstr(e.message, "outside the allowed area"));
}

static char *big_linestring(size_t n)
{
    size_t cap = 64 + n * 32;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t len = (size_t)snprintf(s, cap, "{\"type\":\"LineString\",\"coordinates\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s[%.7f,%.7f]", i ? "," : "",
                                113.0 + (double)i * 1e-5, 28.0 + (double)(i % 2) * 1e-5);
    snprintf(s + len, cap - len, "]}");
    return s;
}

static void test_too_many_vertices(void **state)
{
    (void)state;
    char *ok = big_linestring(20000);
    GEOSGeometry *g = accepted(ok, NULL);
    assert_int_equal(GEOSGeomGetNumPoints_r(h, g), 20000);
    GEOSGeom_destroy_r(h, g);
    free(ok);
    char *big = big_linestring(20001);
    struct geojson_error e = refused(big, NULL, "too_many_vertices", 413, "coordinates[20000]");
    assert_non_null(strstr(e.message, "more than 20000"));
    free(big);

    /* The limit counts the whole geometry, and names the first vertex past it. */
    struct geojson_rules small = { .max_vertices = 8 };
    refused("{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQUARE "],[" SQUARE "]]}", &small,
            "too_many_vertices", 413, "coordinates[1][0][3]");
    refused("{\"type\":\"MultiPoint\",\"coordinates\":[[1,1],[2,2],[3,3],[4,4],[5,5],[6,6],"
            "[7,7],[8,8],[9,9]]}",
            &small, "too_many_vertices", 413, "coordinates[8]");
    small.max_vertices = 10;
    g = accepted("{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQUARE "],[[[114,28],[114.01,"
                 "28],[114.01,28.01],[114,28.01],[114,28]]]]}",
                 &small);
    GEOSGeom_destroy_r(h, g);
}

static void test_crs_member(void **state)
{
    (void)state;
    struct geojson_error e =
        refused("{\"type\":\"Point\",\"coordinates\":[113,28],\"crs\":{\"type\":\"name\","
                "\"properties\":{\"name\":\"EPSG:4490\"}}}",
                NULL, "crs_member", 400, "crs");
    assert_non_null(strstr(e.message, "RFC 7946"));
    refused("{\"type\":\"Point\",\"coordinates\":[113,28],\"crs\":null}", NULL, "crs_member", 400,
            "crs");
    /* bbox and foreign members are allowed by RFC 7946. */
    GEOSGeometry *g = accepted(
        "{\"type\":\"Point\",\"coordinates\":[113,28],\"bbox\":[113,28,113,28],\"x\":1}", NULL);
    GEOSGeom_destroy_r(h, g);
}

static void test_type_not_allowed(void **state)
{
    (void)state;
    struct geojson_rules points = { .types = GEOJSON_POINT };
    refused("{\"type\":\"Polygon\",\"coordinates\":[" SQUARE "]}", &points, "type_not_allowed", 422,
            "type");
    refused("{\"type\":\"MultiPoint\",\"coordinates\":[[113,28]]}", &points, "type_not_allowed",
            422, "type");
    struct geojson_error e = refused(
        "{\"type\":\"GeometryCollection\",\"geometries\":[{\"type\":\"Point\",\"coordinates\":"
        "[113,28]}]}",
        NULL, "type_not_allowed", 422, "type");
    assert_non_null(strstr(e.message, "GeometryCollection"));
    /* Without promotion a Polygon is not a MultiPolygon. */
    struct geojson_rules multi = { .types = GEOJSON_MULTIPOLYGON };
    refused("{\"type\":\"Polygon\",\"coordinates\":[" SQUARE "]}", &multi, "type_not_allowed", 422,
            "type");
}

static void test_bad_position(void **state)
{
    (void)state;
    struct geojson_error e =
        refused("{\"type\":\"LineString\",\"coordinates\":[[113,28,0,5],[113.1,28]]}", NULL,
                "bad_position", 400, "coordinates[0]");
    assert_non_null(strstr(e.message, "got 4"));
    refused("{\"type\":\"Point\",\"coordinates\":[113]}", NULL, "bad_position", 400, "coordinates");
    refused("{\"type\":\"MultiPoint\",\"coordinates\":[[113,28],[]]}", NULL, "bad_position", 400,
            "coordinates[1]");
}

static void test_empty(void **state)
{
    (void)state;
    static const char *const types[] = { "Point",           "MultiPoint", "LineString",
                                         "MultiLineString", "Polygon",    "MultiPolygon" };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"type\":\"%s\",\"coordinates\":[]}", types[i]);
        refused(text, NULL, "empty_geometry", 422, "coordinates");
    }
    refused("{\"type\":\"Polygon\",\"coordinates\":[[]]}", NULL, "too_few_points", 422,
            "coordinates[0]");
    refused("{\"type\":\"MultiPolygon\",\"coordinates\":[[]]}", NULL, "empty_geometry", 422,
            "coordinates[0]");
    refused("{\"type\":\"MultiLineString\",\"coordinates\":[[[113,28],[114,28]],[]]}", NULL,
            "too_few_points", 422, "coordinates[1]");
}

static void test_too_few_points(void **state)
{
    (void)state;
    refused("{\"type\":\"LineString\",\"coordinates\":[[113,28]]}", NULL, "too_few_points", 422,
            "coordinates");
    struct geojson_error e =
        refused("{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[113.01,28],[113,28]]]}", NULL,
                "too_few_points", 422, "coordinates[0]");
    assert_non_null(strstr(e.message, "at least 4"));
}

static void test_not_numbers(void **state)
{
    (void)state;
    struct geojson_error e = refused("{\"type\":\"Point\",\"coordinates\":[\"113\",28]}", NULL,
                                     "not_finite", 400, "coordinates[0]");
    assert_non_null(strstr(e.message, "got a string"));
    refused("{\"type\":\"Point\",\"coordinates\":[113,null]}", NULL, "not_finite", 400,
            "coordinates[1]");
    refused("{\"type\":\"LineString\",\"coordinates\":[[113,28],[113.1,28,\"12m\"]]}", NULL,
            "not_finite", 400, "coordinates[1][2]");
    refused("{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[113.01,true],[113.01,28.01],"
            "[113,28]]]}",
            NULL, "not_finite", 400, "coordinates[0][1][1]");
    /* jansson itself refuses NaN, Infinity and overflowing numbers before we see them. */
    json_error_t je;
    assert_null(json_loads("{\"type\":\"Point\",\"coordinates\":[NaN,28]}", 0, &je));
    assert_null(json_loads("{\"type\":\"Point\",\"coordinates\":[1e999,28]}", 0, &je));
    /* Big integers are numbers, just out of range. */
    refused("{\"type\":\"Point\",\"coordinates\":[9223372036854775807,28]}", NULL, "out_of_range",
            422, "coordinates");
}

static void test_bad_structure(void **state)
{
    (void)state;
    refused("[1,2]", NULL, "bad_structure", 400, "");
    refused("\"Point\"", NULL, "bad_structure", 400, "");
    refused("{\"coordinates\":[113,28]}", NULL, "bad_structure", 400, "type");
    refused("{\"type\":7,\"coordinates\":[113,28]}", NULL, "bad_structure", 400, "type");
    refused("{\"type\":\"point\",\"coordinates\":[113,28]}", NULL, "bad_structure", 400, "type");
    refused("{\"type\":\"Feature\",\"geometry\":null,\"properties\":{}}", NULL, "bad_structure",
            400, "type");
    refused("{\"type\":\"Point\"}", NULL, "bad_structure", 400, "coordinates");
    refused("{\"type\":\"Point\",\"coordinates\":{\"x\":113}}", NULL, "bad_structure", 400,
            "coordinates");
    refused("{\"type\":\"LineString\",\"coordinates\":[113,28]}", NULL, "bad_structure", 400,
            "coordinates[0]");
    refused("{\"type\":\"MultiPolygon\",\"coordinates\":[" SQUARE "]}", NULL, "bad_structure", 400,
            "coordinates[0][0][0]");
    refused("{\"type\":\"Point\",\"coordinates\":[[113,28]]}", NULL, "bad_structure", 400,
            "coordinates[0]");
    assert_int_equal(
        geojson_read(h, NULL, NULL, &(GEOSGeometry *){ NULL }, &(struct geojson_error){ 0 }), -1);
}

static void test_deep_garbage(void **state)
{
    (void)state;
    /* 1000 levels of arrays: refused at the first level that does not fit ... */
    enum { DEPTH = 1000 };
    size_t cap = 128 + 2 * DEPTH;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t len = (size_t)snprintf(s, cap, "{\"type\":\"MultiPolygon\",\"coordinates\":");
    for (int i = 0; i < DEPTH; i++)
        s[len++] = '[';
    s[len++] = '1';
    for (int i = 0; i < DEPTH; i++)
        s[len++] = ']';
    s[len++] = '}';
    s[len] = '\0';
    refused(s, NULL, "too_few_points", 422, "coordinates[0][0]");
    /* ... or where a number belongs. */
    len = (size_t)snprintf(s, cap, "{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[");
    for (int i = 0; i < DEPTH - 20; i++)
        s[len++] = '[';
    s[len++] = '1';
    for (int i = 0; i < DEPTH - 20; i++)
        s[len++] = ']';
    snprintf(s + len, cap - len, ",28],[1,2],[113,28]]]}");
    struct geojson_error e = refused(s, NULL, "bad_structure", 400, "coordinates[0][1][0]");
    assert_non_null(strstr(e.message, "expected a number, got an array"));
    free(s);
    refused("{\"type\":\"MultiLineString\",\"coordinates\":[[{\"a\":[1,2]}],[[1,2],[3,4]]]}", NULL,
            "bad_structure", 400, "coordinates[0][0]");
    refused("{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[113,{}],[1,2],[113,28]]]}", NULL,
            "bad_structure", 400, "coordinates[0][1][1]");
}

/* read -> write -> read gives the same geometry, vertex for vertex. */
static void round_trip(const char *text, const char *want_type)
{
    GEOSGeometry *a = accepted(text, NULL);
    char *out = geojson_write_text(h, a, 7);
    assert_non_null(out);
    GEOSGeometry *b = accepted(out, NULL);
    if (GEOSEqualsExact_r(h, a, b, 0.0) != 1)
        fail_msg("round trip changed %s into %s", text, out);
    json_t *j = geojson_write(h, b, 7);
    assert_string_equal(json_string_value(json_object_get(j, "type")), want_type);
    json_decref(j);
    GEOSGeom_destroy_r(h, a);
    GEOSGeom_destroy_r(h, b);
    free(out);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip("{\"type\":\"Point\",\"coordinates\":[113.1234567,28.7654321]}", "Point");
    round_trip("{\"type\":\"MultiPoint\",\"coordinates\":[[113,28],[-179.9999999,-89.5]]}",
               "MultiPoint");
    round_trip("{\"type\":\"LineString\",\"coordinates\":[[113,28],[113.0000001,28.0000001],"
               "[114,29]]}",
               "LineString");
    round_trip("{\"type\":\"MultiLineString\",\"coordinates\":[[[113,28],[114,29]],[[115,30],"
               "[116,31],[115,31]]]}",
               "MultiLineString");
    round_trip("{\"type\":\"Polygon\",\"coordinates\":[" SQUARE ",[[113.002,28.002],"
               "[113.002,28.004],[113.004,28.004],[113.002,28.002]]]}",
               "Polygon");
    round_trip("{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQUARE "],[[[114,28],[114.01,"
               "28],[114.01,28.01],[114,28.01],[114,28]]]]}",
               "MultiPolygon");

    /* Rounding to 7 decimals, printed as such; no negative zero. */
    GEOSGeometry *g = GEOSGeom_createPointFromXY_r(h, 113.123456789, -0.00000001);
    char *text = geojson_write_text(h, g, 7);
    assert_string_equal(text, "{\"type\":\"Point\",\"coordinates\":[113.1234568,0.0]}");
    free(text);
    text = geojson_write_text(h, g, -1);
    assert_string_equal(text, "{\"type\":\"Point\",\"coordinates\":[113.123456789,-1e-8]}");
    free(text);
    GEOSGeom_destroy_r(h, g);

    /* Writing what the reader refuses: empty geometries, collections. */
    GEOSWKTReader *rd = GEOSWKTReader_create_r(h);
    g = GEOSWKTReader_read_r(h, rd, "GEOMETRYCOLLECTION(POINT(1 2),POINT EMPTY,POLYGON EMPTY)");
    text = geojson_write_text(h, g, 7);
    assert_string_equal(text, "{\"type\":\"GeometryCollection\",\"geometries\":["
                              "{\"type\":\"Point\",\"coordinates\":[1.0,2.0]},"
                              "{\"type\":\"Point\",\"coordinates\":[]},"
                              "{\"type\":\"Polygon\",\"coordinates\":[]}]}");
    free(text);
    GEOSGeom_destroy_r(h, g);
    GEOSWKTReader_destroy_r(h, rd);
}

static void test_altitude_dropped(void **state)
{
    (void)state;
    GEOSGeometry *g = accepted("{\"type\":\"LineString\",\"coordinates\":[[113,28,50.5],"
                               "[113.01,28],[113.02,28.01,-3]]}",
                               NULL);
    assert_int_equal(GEOSHasZ_r(h, g), 0);
    assert_int_equal(GEOSGeom_getCoordinateDimension_r(h, g), 2);
    char *text = geojson_write_text(h, g, 7);
    assert_string_equal(text, "{\"type\":\"LineString\",\"coordinates\":[[113.0,28.0],"
                              "[113.01,28.0],[113.02,28.01]]}");
    free(text);
    GEOSGeom_destroy_r(h, g);
    g = accepted("{\"type\":\"Point\",\"coordinates\":[113,28,12]}", NULL);
    assert_int_equal(GEOSHasZ_r(h, g), 0);
    GEOSGeom_destroy_r(h, g);
}

static void test_promotion(void **state)
{
    (void)state;
    struct geojson_rules schools = { .types = GEOJSON_MULTIPOLYGON, .promote_multi = true };
    GEOSGeometry *g = accepted("{\"type\":\"Polygon\",\"coordinates\":[" SQUARE "]}", &schools);
    assert_int_equal(GEOSGeomTypeId_r(h, g), GEOS_MULTIPOLYGON);
    assert_int_equal(GEOSGetNumGeometries_r(h, g), 1);
    json_t *j = geojson_write(h, g, 7);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "MultiPolygon");
    json_decref(j);
    GEOSGeom_destroy_r(h, g);
    g = accepted("{\"type\":\"MultiPolygon\",\"coordinates\":[[" SQUARE "]]}", &schools);
    assert_int_equal(GEOSGeomTypeId_r(h, g), GEOS_MULTIPOLYGON);
    GEOSGeom_destroy_r(h, g);
    refused("{\"type\":\"LineString\",\"coordinates\":[[113,28],[114,28]]}", &schools,
            "type_not_allowed", 422, "type");

    struct geojson_rules roads = { .types = GEOJSON_MULTILINESTRING | GEOJSON_LINESTRING,
                                   .promote_multi = true };
    g = accepted("{\"type\":\"LineString\",\"coordinates\":[[113,28],[114,28]]}", &roads);
    assert_int_equal(GEOSGeomTypeId_r(h, g), GEOS_MULTILINESTRING);
    GEOSGeom_destroy_r(h, g);
}

/* Orientation of ring i (0: exterior) of the polygon in a written GeoJSON text. */
static bool ring_ccw(const char *text, int i)
{
    GEOSGeometry *g = accepted(text, NULL);
    const GEOSGeometry *ring =
        i == 0 ? GEOSGetExteriorRing_r(h, g) : GEOSGetInteriorRingN_r(h, g, i - 1);
    char ccw = 0;
    assert_int_equal(GEOSCoordSeq_isCCW_r(h, GEOSGeom_getCoordSeq_r(h, ring), &ccw), 1);
    GEOSGeom_destroy_r(h, g);
    return ccw == 1;
}

static void test_winding(void **state)
{
    (void)state;
    /* Clockwise shell, counter-clockwise hole: both wrong for RFC 7946, both accepted. */
    GEOSGeometry *g =
        accepted("{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[113,28.01],[113.01,28.01],"
                 "[113.01,28],[113,28]],[[113.002,28.002],[113.004,28.002],[113.004,28.004],"
                 "[113.002,28.002]]]}",
                 NULL);
    assert_false(ring_ccw("{\"type\":\"Polygon\",\"coordinates\":[[[113,28],[113,28.01],"
                          "[113.01,28.01],[113.01,28],[113,28]]]}",
                          0));
    char *text = geojson_write_text(h, g, 7);
    assert_true(ring_ccw(text, 0));
    assert_false(ring_ccw(text, 1));
    /* Same polygon, only the ring order of vertices changed. */
    GEOSGeometry *back = accepted(text, NULL);
    assert_int_equal(GEOSEquals_r(h, g, back), 1);
    GEOSGeom_destroy_r(h, back);
    free(text);
    GEOSGeom_destroy_r(h, g);

    /* Already right: left alone. */
    const char *good = "{\"type\":\"Polygon\",\"coordinates\":[" SQUARE "]}";
    g = accepted(good, NULL);
    text = geojson_write_text(h, g, 7);
    assert_string_equal(text, "{\"type\":\"Polygon\",\"coordinates\":[[[113.0,28.0],[113.01,28.0],"
                              "[113.01,28.01],[113.0,28.01],[113.0,28.0]]]}");
    free(text);
    GEOSGeom_destroy_r(h, g);
}

static void test_input_crs(void **state)
{
    (void)state;
    /* GCJ-02 in, WGS84 out. */
    struct geojson_rules gcj = { .crs = CRS_GCJ02 };
    GEOSGeometry *g = accepted(
        "{\"type\":\"Point\",\"coordinates\":[116.41024449916938,39.91640428150164]}", &gcj);
    double x, y;
    GEOSGeomGetX_r(h, g, &x);
    GEOSGeomGetY_r(h, g, &y);
    assert_true(fabs(x - 116.404) < 1e-6 && fabs(y - 39.915) < 1e-6);
    GEOSGeom_destroy_r(h, g);

    /* Web Mercator metres in: range checks apply to the converted lon/lat. */
    struct geojson_rules merc = { .crs = CRS_WEB_MERCATOR };
    g = accepted("{\"type\":\"Point\",\"coordinates\":[12579102.4,3248973.8]}", &merc);
    GEOSGeomGetX_r(h, g, &x);
    GEOSGeomGetY_r(h, g, &y);
    assert_true(fabs(x - 113.0) < 1e-6 && fabs(y - 28.0) < 1e-6);
    GEOSGeom_destroy_r(h, g);
    struct geojson_error e = refused("{\"type\":\"Point\",\"coordinates\":[30000000,0]}", &merc,
                                     "out_of_range", 422, "coordinates");
    assert_non_null(strstr(e.message, "cannot be converted from"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_geometry), cmocka_unit_test(test_ring_not_closed),
        cmocka_unit_test(test_out_of_range),     cmocka_unit_test(test_too_many_vertices),
        cmocka_unit_test(test_crs_member),       cmocka_unit_test(test_type_not_allowed),
        cmocka_unit_test(test_bad_position),     cmocka_unit_test(test_empty),
        cmocka_unit_test(test_too_few_points),   cmocka_unit_test(test_not_numbers),
        cmocka_unit_test(test_bad_structure),    cmocka_unit_test(test_deep_garbage),
        cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_altitude_dropped),
        cmocka_unit_test(test_promotion),        cmocka_unit_test(test_winding),
        cmocka_unit_test(test_input_crs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * fuzz_geojson.c - libFuzzer target for geojson_read and geojson_write.
 *
 * The bytes are parsed by jansson as the server does, then read as a geometry under two rule
 * sets: the defaults, and a school layer's (MultiPolygon with promotion, a town's bounding
 * box, a small vertex limit, GCJ-02 input). Besides no crash, no leak and no sanitizer report,
 * it asserts what geojson.h promises:
 *   - a refusal has a code from the documented list, with its class, and a message;
 *   - an accepted geometry, written without rounding, has the input's type (or its Multi
 *     type when promoted) and the input's longitude and latitude bit for bit (converted from
 *     GCJ-02 when that is the input CRS, altitudes dropped), rings possibly reversed for the
 *     RFC 7946 winding;
 *   - that output reads again (default rules) and writes back bit for bit the same;
 *   - written with 7 decimals, every coordinate is the unrounded one rounded to 7 decimals
 *     (within half a unit of the 7th decimal, and a fixed point of the rounding);
 *     geojson_write_text prints exactly those values; reading the rounded output again fails
 *     only as invalid_geometry (rounding may make a ring touch itself), and when it reads,
 *     it writes back the same values;
 *   - the rounded output keeps the RFC 7946 winding, where rounding cannot have flipped it.
 */
#include "geoctx.h"
#include "geojson.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_geojson: %s: ", #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Nesting of "coordinates" above the positions, per type. */
static int type_depth(const char *type, bool *polygonal)
{
    static const struct {
        const char *name;
        int depth;
        bool polygonal;
    } types[] = {
        { "Point", 0, false },           { "MultiPoint", 1, false }, { "LineString", 1, false },
        { "MultiLineString", 2, false }, { "Polygon", 2, true },     { "MultiPolygon", 3, true },
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(type, types[i].name) == 0) {
            *polygonal = types[i].polygonal;
            return types[i].depth;
        }
    }
    return -1;
}

static bool same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Output position out is input position in (2 or 3 numbers), converted from crs. */
static bool same_pos(json_t *in, json_t *out, enum crs crs)
{
    if (!json_is_array(out) || json_array_size(out) != 2 || json_array_size(in) < 2)
        return false;
    double x = json_number_value(json_array_get(in, 0));
    double y = json_number_value(json_array_get(in, 1));
    if (crs != CRS_WGS84 && crs_to_wgs84(crs, &x, &y) != 0)
        return false;
    return json_is_real(json_array_get(out, 0)) && json_is_real(json_array_get(out, 1)) &&
           same_bits(x, json_real_value(json_array_get(out, 0))) &&
           same_bits(y, json_real_value(json_array_get(out, 1)));
}

static bool same_coords(json_t *in, json_t *out, int depth, enum crs crs, bool polygonal)
{
    if (depth == 0)
        return same_pos(in, out, crs);
    size_t n = json_array_size(in);
    if (!json_is_array(out) || json_array_size(out) != n)
        return false;
    bool forward = true;
    for (size_t i = 0; i < n && forward; i++)
        forward =
            same_coords(json_array_get(in, i), json_array_get(out, i), depth - 1, crs, polygonal);
    if (forward || depth != 1 || !polygonal)
        return forward;
    for (size_t i = 0; i < n; i++) /* a ring turned round for the winding rule */
        if (!same_pos(json_array_get(in, i), json_array_get(out, n - 1 - i), crs))
            return false;
    return true;
}

static bool rounded_from(json_t *full, json_t *r7, int depth);

/* Is ring r7 the rounding of ring full read backwards (the winding is decided after
 * rounding, so a ring can be turned round at 7 decimals and not at full precision)? */
static bool rounded_reversed(json_t *full, json_t *r7)
{
    size_t n = json_array_size(full);
    if (n < 4 || !json_is_array(r7) || json_array_size(r7) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!rounded_from(json_array_get(full, i), json_array_get(r7, n - 1 - i), 0))
            return false;
    return true;
}

/* Same structure; each value of r7 is the one of full rounded to 7 decimals (rings may be
 * turned round, see rounded_reversed). */
static bool rounded_from(json_t *full, json_t *r7, int depth)
{
    size_t n = json_array_size(full);
    if (!json_is_array(r7) || json_array_size(r7) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (depth > 0) {
            if (!rounded_from(json_array_get(full, i), json_array_get(r7, i), depth - 1) &&
                !(depth == 2 && rounded_reversed(json_array_get(full, i), json_array_get(r7, i))))
                return false;
            continue;
        }
        double v = json_real_value(json_array_get(full, i));
        double r = json_real_value(json_array_get(r7, i));
        if (!json_is_real(json_array_get(r7, i)) || fabs(r - v) > 0.5e-7 + 1e-12 ||
            !same_bits(round(r * 1e7) / 1e7 + 0.0, r + 0.0))
            return false;
    }
    return true;
}

__extension__ typedef __int128 wide;

static int64_t units(json_t *v)
{
    return llround(json_real_value(v) * 1e7); /* exact: v is a multiple of 1e-7 */
}

/*
 * RFC 7946 winding of a 7-decimal output: exterior rings counter-clockwise, holes clockwise,
 * by the exact signed area on the 1e-7 grid of the coordinates as written. The writer decides
 * the winding after rounding, so every ring with an area on that grid is judged (the seed
 * winding_flips_when_rounded.json is a ring that rounding once turned clockwise).
 */
static void check_winding(json_t *polygon, const char *type)
{
    for (size_t r = 0; r < json_array_size(polygon); r++) {
        json_t *ring = json_array_get(polygon, r);
        size_t n = json_array_size(ring);
        if (n < 4)
            continue;
        int64_t x0 = units(json_array_get(json_array_get(ring, 0), 0));
        int64_t y0 = units(json_array_get(json_array_get(ring, 0), 1));
        wide area2 = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            json_t *a = json_array_get(ring, i), *b = json_array_get(ring, i + 1);
            int64_t ax = units(json_array_get(a, 0)) - x0, ay = units(json_array_get(a, 1)) - y0;
            int64_t bx = units(json_array_get(b, 0)) - x0, by = units(json_array_get(b, 1)) - y0;
            area2 += (wide)ax * by - (wide)bx * ay;
        }
        if (area2 != 0)
            CHECK((r == 0) == (area2 > 0), "%s: ring %zu written %s", type, r,
                  area2 > 0 ? "counter-clockwise" : "clockwise");
    }
}

static const char *const codes[][2] = {
    { "bad_structure", "400" },     { "crs_member", "400" },       { "bad_position", "400" },
    { "not_finite", "400" },        { "type_not_allowed", "422" }, { "empty_geometry", "422" },
    { "out_of_range", "422" },      { "too_few_points", "422" },   { "ring_not_closed", "422" },
    { "too_many_vertices", "413" }, { "invalid_geometry", "422" }, { "internal", "500" },
};

static void check_error(const struct geojson_error *e)
{
    CHECK(e->code != NULL, "no code");
    CHECK(e->message[0] != '\0', "%s without a message", e->code);
    CHECK(memchr(e->path, '\0', sizeof(e->path)) != NULL, "path not terminated");
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strcmp(e->code, codes[i][0]) == 0) {
            CHECK(err_status(e->kind) == atoi(codes[i][1]), "%s has status %d", e->code,
                  err_status(e->kind));
            return;
        }
    }
    CHECK(false, "undocumented code %s", e->code);
}

static void read_and_write(GEOSContextHandle_t h, json_t *j, const struct geojson_rules *rules)
{
    GEOSGeometry *g = NULL;
    struct geojson_error err;
    if (geojson_read(h, j, rules, &g, &err) != 0) {
        CHECK(g == NULL, "refused with a geometry");
        check_error(&err);
        return;
    }
    enum crs crs = rules ? rules->crs : CRS_WGS84;
    bool promote = rules && rules->promote_multi;

    /* Unrounded: the input's positions, bit for bit. */
    json_t *full = geojson_write(h, g, -1);
    if (full == NULL) { /* out of memory */
        GEOSGeom_destroy_r(h, g);
        return;
    }
    const char *in_type = json_string_value(json_object_get(j, "type"));
    const char *out_type = json_string_value(json_object_get(full, "type"));
    bool in_poly = false, out_poly = false;
    int in_depth = type_depth(in_type, &in_poly), out_depth = type_depth(out_type, &out_poly);
    CHECK(in_depth >= 0 && out_depth >= 0, "types %s -> %s", in_type, out_type);
    json_t *in_coords = json_object_get(j, "coordinates");
    json_t *out_coords = json_object_get(full, "coordinates");
    if (strcmp(in_type, out_type) != 0) {
        char multi[32];
        snprintf(multi, sizeof(multi), "Multi%s", in_type);
        CHECK(promote && strcmp(out_type, multi) == 0, "%s written as %s", in_type, out_type);
        CHECK(json_array_size(out_coords) == 1, "promoted %s has %zu parts", in_type,
              json_array_size(out_coords));
        out_coords = json_array_get(out_coords, 0);
    }
    CHECK(same_coords(in_coords, out_coords, in_depth, crs, in_poly),
          "%s: coordinates changed (crs %d)", in_type, (int)crs);

    /* The output reads again and writes back the same. */
    GEOSGeometry *again = NULL;
    int rc = geojson_read(h, full, NULL, &again, &err);
    CHECK(rc == 0, "own output refused: %s at %s: %s", err.code, err.path, err.message);
    json_t *full2 = geojson_write(h, again, -1);
    if (full2 != NULL) {
        CHECK(strcmp(json_string_value(json_object_get(full2, "type")), out_type) == 0,
              "type changed on the second round");
        CHECK(same_coords(json_object_get(full, "coordinates"),
                          json_object_get(full2, "coordinates"), out_depth, CRS_WGS84, false),
              "%s: second round changed coordinates", out_type);
    }
    json_decref(full2);
    GEOSGeom_destroy_r(h, again);

    /* Rounded to 7 decimals. */
    json_t *r7 = geojson_write(h, g, 7);
    if (r7 != NULL) {
        CHECK(rounded_from(json_object_get(full, "coordinates"), json_object_get(r7, "coordinates"),
                           out_depth),
              "%s: 7-decimal output is not the rounded coordinates", out_type);
        char *text = geojson_write_text(h, g, 7);
        if (text != NULL) {
            json_t *parsed = json_loads(text, 0, NULL);
            CHECK(parsed != NULL && same_coords(json_object_get(r7, "coordinates"),
                                                json_object_get(parsed, "coordinates"), out_depth,
                                                CRS_WGS84, false),
                  "write_text does not print the rounded values: %s", text);
            json_decref(parsed);
            free(text);
        }
        json_t *c7 = json_object_get(r7, "coordinates");
        if (out_poly && out_depth == 2)
            check_winding(c7, out_type);
        else if (out_poly)
            for (size_t i = 0; i < json_array_size(c7); i++)
                check_winding(json_array_get(c7, i), out_type);
        GEOSGeometry *g7 = NULL;
        if (geojson_read(h, r7, NULL, &g7, &err) != 0) {
            CHECK(strcmp(err.code, "invalid_geometry") == 0, "rounded output refused: %s: %s",
                  err.code, err.message);
        } else {
            json_t *r7b = geojson_write(h, g7, 7);
            if (r7b != NULL)
                CHECK(same_coords(json_object_get(r7, "coordinates"),
                                  json_object_get(r7b, "coordinates"), out_depth, CRS_WGS84,
                                  out_poly),
                      "%s: rounding twice changed coordinates", out_type);
            json_decref(r7b);
            GEOSGeom_destroy_r(h, g7);
        }
    }
    json_decref(r7);
    json_decref(full);
    GEOSGeom_destroy_r(h, g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GEOSContextHandle_t h = geoctx_geos();
    if (h == NULL)
        return 0;
    json_error_t jerr;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        return 0;
    static const struct geojson_rules school = { .types = GEOJSON_MULTIPOLYGON,
                                                 .max_vertices = 64,
                                                 .has_bbox = true,
                                                 .min_lon = 112.5,
                                                 .min_lat = 27.5,
                                                 .max_lon = 113.5,
                                                 .max_lat = 28.5,
                                                 .promote_multi = true,
                                                 .crs = CRS_GCJ02 };
    read_and_write(h, j, NULL);
    read_and_write(h, j, &school);
    json_decref(j);
    return 0;
}

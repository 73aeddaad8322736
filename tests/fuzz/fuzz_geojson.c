/*
 * fuzz_geojson.c - libFuzzer target for geojson_read (and geojson_write on what it accepts).
 *
 * The bytes are parsed by jansson as the server does, then read as a geometry under two rule
 * sets: the defaults, and a school layer's (MultiPolygon with promotion, a town's bounding
 * box, a small vertex limit, GCJ-02 input). Accepted geometries are written back and read
 * again. No crash, no leak, no sanitizer report; nothing else is asserted.
 */
#include "geoctx.h"
#include "geojson.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_and_write(GEOSContextHandle_t h, json_t *j, const struct geojson_rules *rules)
{
    GEOSGeometry *g = NULL;
    struct geojson_error err;
    if (geojson_read(h, j, rules, &g, &err) != 0)
        return;
    json_t *out = geojson_write(h, g, 7);
    GEOSGeometry *again = NULL;
    if (out != NULL && geojson_read(h, out, NULL, &again, &err) == 0)
        GEOSGeom_destroy_r(h, again);
    json_decref(out);
    free(geojson_write_text(h, g, -1));
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

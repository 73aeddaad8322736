/*
 * test_mvt.c - the MVT encoder (server/tiles/mvt.c): output unpacked with protobuf-c's
 * generated reader and a command decoder written from the spec (tests/fuzz/mvt_decode.h);
 * the spec's own examples byte for byte, dedup, ids, zigzag limits, winding after rounding,
 * degenerate parts, multipolygons with holes, empty tiles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mvt.h"
#include "vector_tile.pb-c.h"
#include "../fuzz/mvt_decode.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct fixture {
    struct arena *a;
    struct mvt_tile *t;
    struct mvt_layer *l;
    VectorTile__Tile *tile;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->a = arena_new();
    f->t = mvt_tile_new(f->a);
    assert_int_equal(mvt_layer_add(f->t, "schools", MVT_EXTENT_DEFAULT, &f->l), ERR_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->tile != NULL)
        vector_tile__tile__free_unpacked(f->tile, NULL);
    arena_free(f->a);
    free(f);
    return 0;
}

/* Encodes and unpacks the fixture's tile. */
static VectorTile__Tile *encode(struct fixture *f)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(mvt_tile_encode(f->t, &buf, &len), ERR_OK);
    assert_non_null(buf);
    if (f->tile != NULL)
        vector_tile__tile__free_unpacked(f->tile, NULL);
    f->tile = vector_tile__tile__unpack(NULL, len, buf);
    assert_non_null(f->tile);
    return f->tile;
}

static void assert_geometry(const VectorTile__Tile__Feature *ft, const uint32_t *want, size_t n)
{
    assert_int_equal(ft->n_geometry, n);
    assert_memory_equal(ft->geometry, want, n * sizeof(*want));
}

static const VectorTile__Tile__Feature *only_feature(VectorTile__Tile *t)
{
    assert_int_equal(t->n_layers, 1);
    assert_int_equal(t->layers[0]->n_features, 1);
    return t->layers[0]->features[0];
}

/* The spec's examples (README 4.3.5): facts of the spec, encoded by us. */
static void test_spec_examples(void **state)
{
    struct fixture *f = *state;
    struct mvt_layer *l = f->l;
    static const double point[] = { 25, 17 };
    static const double multipoint[] = { 5, 7, 3, 2 };
    static const double line[] = { 2, 2, 2, 10, 10, 10 };
    static const double line2[] = { 1, 1, 3, 5 };
    static const double poly[] = { 3, 6, 8, 12, 20, 34, 3, 6 };
    assert_int_equal(mvt_feature_begin(l, 1, MVT_POINT), ERR_OK);
    assert_int_equal(mvt_feature_add_points(l, point, 1), ERR_OK);
    assert_int_equal(mvt_feature_begin(l, 2, MVT_POINT), ERR_OK);
    assert_int_equal(mvt_feature_add_points(l, multipoint, 2), ERR_OK);
    assert_int_equal(mvt_feature_begin(l, 3, MVT_LINESTRING), ERR_OK);
    assert_int_equal(mvt_feature_add_line(l, line, 3), ERR_OK);
    assert_int_equal(mvt_feature_begin(l, 4, MVT_LINESTRING), ERR_OK);
    assert_int_equal(mvt_feature_add_line(l, line, 3), ERR_OK);
    assert_int_equal(mvt_feature_add_line(l, line2, 2), ERR_OK);
    assert_int_equal(mvt_feature_begin(l, 5, MVT_POLYGON), ERR_OK);
    const double *rings[] = { poly };
    size_t counts[] = { 4 };
    assert_int_equal(mvt_feature_add_polygon(l, rings, counts, 1), ERR_OK);
    VectorTile__Tile *t = encode(f);
    VectorTile__Tile__Feature **ft = t->layers[0]->features;
    assert_int_equal(t->layers[0]->n_features, 5);
    static const uint32_t g_point[] = { 9, 50, 34 };
    static const uint32_t g_multipoint[] = { 17, 10, 14, 3, 9 };
    static const uint32_t g_line[] = { 9, 4, 4, 18, 0, 16, 16, 0 };
    static const uint32_t g_multiline[] = { 9, 4, 4, 18, 0, 16, 16, 0, 9, 17, 17, 10, 4, 8 };
    static const uint32_t g_poly[] = { 9, 6, 12, 18, 10, 12, 24, 44, 15 };
    assert_geometry(ft[0], g_point, 3);
    assert_geometry(ft[1], g_multipoint, 5);
    assert_geometry(ft[2], g_line, 8);
    assert_geometry(ft[3], g_multiline, 14);
    assert_geometry(ft[4], g_poly, 9);
    assert_int_equal(ft[0]->type, VECTOR_TILE__TILE__GEOM_TYPE__POINT);
    assert_int_equal(ft[3]->type, VECTOR_TILE__TILE__GEOM_TYPE__LINESTRING);
    assert_int_equal(ft[4]->type, VECTOR_TILE__TILE__GEOM_TYPE__POLYGON);
}

/* The spec's multipolygon example: two polygons, the second with a hole. */
static void test_multipolygon_with_hole(void **state)
{
    struct fixture *f = *state;
    static const double p1[] = { 0, 0, 10, 0, 10, 10, 0, 10, 0, 0 };
    static const double p2[] = { 11, 11, 20, 11, 20, 20, 11, 20 };
    static const double h2[] = { 13, 13, 13, 17, 17, 17, 17, 13, 13, 13 };
    const double *r1[] = { p1 }, *r2[] = { p2, h2 };
    size_t c1[] = { 5 }, c2[] = { 4, 5 };
    assert_int_equal(mvt_feature_begin(f->l, 7, MVT_POLYGON), ERR_OK);
    assert_int_equal(mvt_feature_add_polygon(f->l, r1, c1, 1), ERR_OK);
    assert_int_equal(mvt_feature_add_polygon(f->l, r2, c2, 2), ERR_OK);
    static const uint32_t want[] = { 9, 0,  0,  26, 20, 0, 0, 20, 19, 0, 15, 9, 22, 2, 26, 18, 0,
                                     0, 18, 17, 0,  15, 9, 4, 13, 26, 0, 8,  8, 0,  0, 7,  15 };
    const VectorTile__Tile__Feature *ft = only_feature(encode(f));
    assert_geometry(ft, want, sizeof(want) / sizeof(want[0]));
    struct mvtd *d = calloc(1, sizeof(*d));
    assert_true(mvtd_decode(ft->geometry, ft->n_geometry, 3, d));
    assert_int_equal(d->nparts, 3);
    assert_int_equal(d->area_sign[0], 1);
    assert_int_equal(d->area_sign[1], 1);
    assert_int_equal(d->area_sign[2], -1);
    free(d);
}

static void test_version_extent_ids(void **state)
{
    struct fixture *f = *state;
    struct mvt_layer *small = NULL, *dup = NULL;
    assert_int_equal(mvt_layer_add(f->t, "tracks", 512, &small), ERR_OK);
    assert_int_equal(mvt_layer_add(f->t, "tracks", 512, &dup), ERR_INVALID_ARGUMENT);
    assert_null(dup);
    assert_int_equal(mvt_layer_add(f->t, "x", 0, &dup), ERR_INVALID_ARGUMENT);
    assert_int_equal(mvt_layer_add(f->t, "", 4096, &dup), ERR_INVALID_ARGUMENT);
    static const double p[] = { 1, 2 };
    assert_int_equal(mvt_feature_begin(f->l, 0, MVT_POINT), ERR_OK);
    assert_int_equal(mvt_feature_add_points(f->l, p, 1), ERR_OK);
    assert_int_equal(mvt_feature_begin(f->l, UINT64_MAX, MVT_POINT), ERR_OK);
    assert_int_equal(mvt_feature_add_points(f->l, p, 1), ERR_OK);
    assert_int_equal(mvt_feature_begin(small, 42, MVT_POINT), ERR_OK);
    assert_int_equal(mvt_feature_add_points(small, p, 1), ERR_OK);
    VectorTile__Tile *t = encode(f);
    assert_int_equal(t->n_layers, 2);
    assert_string_equal(t->layers[0]->name, "schools");
    assert_int_equal(t->layers[0]->version, 2);
    assert_true(t->layers[0]->has_extent);
    assert_int_equal(t->layers[0]->extent, 4096);
    assert_string_equal(t->layers[1]->name, "tracks");
    assert_int_equal(t->layers[1]->version, 2);
    assert_int_equal(t->layers[1]->extent, 512);
    assert_true(t->layers[0]->features[0]->has_id);
    assert_int_equal(t->layers[0]->features[0]->id, 0);
    assert_true(t->layers[0]->features[1]->id == UINT64_MAX);
    assert_int_equal(t->layers[1]->features[0]->id, 42);
}

static void test_key_value_dedup(void **state)
{
    struct fixture *f = *state;
    struct mvt_layer *l = f->l;
    static const double p[] = { 1, 2 };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mvt_feature_begin(l, (uint64_t)i, MVT_POINT), ERR_OK);
        assert_int_equal(mvt_feature_add_string(l, "kind", "kindergarten"), ERR_OK);
        assert_int_equal(mvt_feature_add_int(l, "pupils", i == 2 ? -5 : 5), ERR_OK);
        assert_int_equal(mvt_feature_add_double(l, "radius", 150.5), ERR_OK);
        assert_int_equal(mvt_feature_add_bool(l, "in_season", i == 1), ERR_OK);
        assert_int_equal(mvt_feature_add_points(l, p, 1), ERR_OK);
    }
    assert_int_equal(mvt_feature_add_string(l, "kind", "again"), ERR_INVALID_ARGUMENT);
    assert_int_equal(mvt_feature_add_string(l, "", "x"), ERR_INVALID_ARGUMENT);
    /* a string "5" and the integer 5 are different values */
    assert_int_equal(mvt_feature_begin(l, 3, MVT_POINT), ERR_OK);
    assert_int_equal(mvt_feature_add_string(l, "pupils", "5"), ERR_OK);
    assert_int_equal(mvt_feature_add_points(l, p, 1), ERR_OK);
    /* a dropped feature leaves no key or value behind */
    assert_int_equal(mvt_feature_begin(l, 4, MVT_POINT), ERR_OK);
    assert_int_equal(mvt_feature_add_string(l, "orphan", "nobody"), ERR_OK);
    VectorTile__Tile__Layer *ly = encode(f)->layers[0];
    assert_int_equal(ly->n_features, 4);
    assert_int_equal(ly->n_keys, 4);
    assert_string_equal(ly->keys[0], "kind");
    assert_string_equal(ly->keys[1], "pupils");
    /* kindergarten, 5, 150.5, false, true, -5, "5" */
    assert_int_equal(ly->n_values, 7);
    assert_string_equal(ly->values[0]->string_value, "kindergarten");
    assert_true(ly->values[1]->has_uint_value);
    assert_int_equal(ly->values[1]->uint_value, 5);
    assert_true(ly->values[2]->has_double_value);
    assert_true(ly->values[2]->double_value == 150.5);
    assert_true(ly->values[3]->has_bool_value && !ly->values[3]->bool_value);
    assert_true(ly->values[4]->has_bool_value && ly->values[4]->bool_value);
    assert_true(ly->values[5]->has_sint_value);
    assert_int_equal(ly->values[5]->sint_value, -5);
    assert_string_equal(ly->values[6]->string_value, "5");
    static const uint32_t tags0[] = { 0, 0, 1, 1, 2, 2, 3, 3 };
    static const uint32_t tags1[] = { 0, 0, 1, 1, 2, 2, 3, 4 };
    static const uint32_t tags2[] = { 0, 0, 1, 5, 2, 2, 3, 3 };
    static const uint32_t tags3[] = { 1, 6 };
    assert_int_equal(ly->features[0]->n_tags, 8);
    assert_memory_equal(ly->features[0]->tags, tags0, sizeof(tags0));
    assert_memory_equal(ly->features[1]->tags, tags1, sizeof(tags1));
    assert_memory_equal(ly->features[2]->tags, tags2, sizeof(tags2));
    assert_int_equal(ly->features[3]->n_tags, 2);
    assert_memory_equal(ly->features[3]->tags, tags3, sizeof(tags3));
}

/* Many distinct values: the hash tables grow and still deduplicate. */
static void test_many_values(void **state)
{
    struct fixture *f = *state;
    static const double p[] = { 1, 2 };
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "school %d", i % 700);
        assert_int_equal(mvt_feature_begin(f->l, (uint64_t)i, MVT_POINT), ERR_OK);
        assert_int_equal(mvt_feature_add_string(f->l, "name", name), ERR_OK);
        assert_int_equal(mvt_feature_add_int(f->l, "n", i % 300), ERR_OK);
        assert_int_equal(mvt_feature_add_points(f->l, p, 1), ERR_OK);
    }
    VectorTile__Tile__Layer *ly = encode(f)->layers[0];
    assert_int_equal(ly->n_features, 2000);
    assert_int_equal(ly->n_keys, 2);
    assert_int_equal(ly->n_values, 1000);
    for (size_t i = 0; i < ly->n_features; i++) {
        const VectorTile__Tile__Value *v = ly->values[ly->features[i]->tags[1]];
        char name[32];
        snprintf(name, sizeof(name), "school %zu", i % 700);
        assert_string_equal(v->string_value, name);
        assert_int_equal(ly->values[ly->features[i]->tags[3]]->uint_value, i % 300);
    }
}

static void test_zigzag_extremes(void **state)
{
    struct fixture *f = *state;
    struct mvt_layer *l = f->l;
    const double corners[] = { INT32_MIN, INT32_MAX, -2147483648.4, 2147483647.4 };
    assert_int_equal(mvt_feature_begin(l, 1, MVT_POINT), ERR_OK);
    assert_int_equal(mvt_feature_add_points(l, corners, 1), ERR_OK);
    /* the second point repeats the first after rounding: dropped */
    assert_int_equal(mvt_feature_add_points(l, corners + 2, 1), ERR_OK);
    /* a delta of 2^32 - 1 does not fit sint32: refused, the feature unchanged */
    const double far[] = { INT32_MAX, INT32_MIN };
    assert_int_equal(mvt_feature_add_points(l, far, 1), ERR_INVALID_ARGUMENT);
    const double out_of_range[][2] = { { 2147483647.5, 0 }, { -2147483648.5, 0 }, { NAN, 0 },
                                       { 0, INFINITY },     { 0, -INFINITY },     { 1e300, 0 } };
    for (size_t i = 0; i < sizeof(out_of_range) / sizeof(out_of_range[0]); i++)
        assert_int_equal(mvt_feature_add_points(l, out_of_range[i], 1), ERR_INVALID_ARGUMENT);
    /* a line whose step is too long, after a good one: the good one stays */
    assert_int_equal(mvt_feature_begin(l, 2, MVT_LINESTRING), ERR_OK);
    const double good[] = { 0, 0, 1, 1 };
    const double bad[] = { INT32_MIN, 0, INT32_MAX, 0 };
    assert_int_equal(mvt_feature_add_line(l, good, 2), ERR_OK);
    assert_int_equal(mvt_feature_add_line(l, bad, 2), ERR_INVALID_ARGUMENT);
    assert_int_equal(mvt_feature_begin(l, 3, MVT_LINESTRING), ERR_OK);
    const double edge[] = { 0, 0, INT32_MAX, INT32_MIN };
    assert_int_equal(mvt_feature_add_line(l, edge, 2), ERR_OK);
    VectorTile__Tile__Layer *ly = encode(f)->layers[0];
    assert_int_equal(ly->n_features, 3);
    static const uint32_t g1[] = { 9, UINT32_MAX, UINT32_MAX - 1 };
    static const uint32_t g2[] = { 9, 0, 0, 10, 2, 2 };
    static const uint32_t g3[] = { 9, 0, 0, 10, UINT32_MAX - 1, UINT32_MAX };
    assert_geometry(ly->features[0], g1, 3);
    assert_geometry(ly->features[1], g2, 6);
    assert_geometry(ly->features[2], g3, 6);
}

static void test_winding_after_rounding(void **state)
{
    struct fixture *f = *state;
    struct mvt_layer *l = f->l;
    /* counter-clockwise on screen (negative area): turned round, first point kept */
    static const double ccw[] = { 0, 0, 0, 10, 10, 10, 10, 0, 0, 0 };
    /* a hole given clockwise: turned counter-clockwise */
    static const double hole_cw[] = { 2, 2, 4, 2, 4, 4, 2, 4 };
    const double *r1[] = { ccw, hole_cw };
    size_t c1[] = { 5, 4 };
    assert_int_equal(mvt_feature_begin(l, 1, MVT_POLYGON), ERR_OK);
    assert_int_equal(mvt_feature_add_polygon(l, r1, c1, 2), ERR_OK);
    /* positive area (+1) as given, negative (-5) once rounded: must come out turned round */
    static const double tiny[] = { 0, 0, 10, 0.6, 5, 0.4 };
    const double *r2[] = { tiny };
    size_t c2[] = { 3 };
    assert_int_equal(mvt_feature_begin(l, 2, MVT_POLYGON), ERR_OK);
    assert_int_equal(mvt_feature_add_polygon(l, r2, c2, 1), ERR_OK);
    VectorTile__Tile__Layer *ly = encode(f)->layers[0];
    assert_int_equal(ly->n_features, 2);
    struct mvtd *d = calloc(1, sizeof(*d));
    assert_true(mvtd_decode(ly->features[0]->geometry, ly->features[0]->n_geometry, 3, d));
    assert_int_equal(d->nparts, 2);
    assert_int_equal(d->area_sign[0], 1);
    assert_int_equal(d->area_sign[1], -1);
    static const int64_t ex[] = { 0, 10, 10, 0 }, ey[] = { 0, 0, 10, 10 };
    static const int64_t hx[] = { 2, 2, 4, 4 }, hy[] = { 2, 4, 4, 2 };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(d->x[i], ex[i]);
        assert_int_equal(d->y[i], ey[i]);
        assert_int_equal(d->x[4 + i], hx[i]);
        assert_int_equal(d->y[4 + i], hy[i]);
    }
    assert_true(mvtd_decode(ly->features[1]->geometry, ly->features[1]->n_geometry, 3, d));
    assert_int_equal(d->nparts, 1);
    assert_int_equal(d->area_sign[0], 1);
    static const uint32_t g_tiny[] = { 9, 0, 0, 18, 10, 0, 10, 2, 15 }; /* (0,0) (5,0) (10,1) */
    assert_geometry(ly->features[1], g_tiny, 9);
    free(d);
}

static void test_degenerate_parts(void **state)
{
    struct fixture *f = *state;
    struct mvt_layer *l = f->l;
    /* a line that rounds to one point: dropped, the feature with it (and its properties) */
    static const double short_line[] = { 0, 0, 0.2, 0.1, -0.3, 0.4 };
    assert_int_equal(mvt_feature_begin(l, 1, MVT_LINESTRING), ERR_OK);
    assert_int_equal(mvt_feature_add_string(l, "gone", "yes"), ERR_OK);
    assert_int_equal(mvt_feature_add_line(l, short_line, 3), ERR_OK);
    assert_int_equal(mvt_feature_end(l), ERR_OK);
    assert_int_equal(mvt_layer_feature_count(l), 0);
    /* repeated points removed */
    static const double rep[] = { 0, 0, 0, 0, 1, 1, 1.2, 1.1, 1, 1 };
    assert_int_equal(mvt_feature_begin(l, 2, MVT_LINESTRING), ERR_OK);
    assert_int_equal(mvt_feature_add_line(l, rep, 5), ERR_OK);
    assert_int_equal(mvt_feature_add_line(l, rep, 0), ERR_OK);
    assert_int_equal(mvt_feature_add_line(l, rep, 1), ERR_OK);
    /* a polygon: a collinear exterior drops its (valid) hole; a good polygon whose holes are
     * a two-point ring and a zero-area ring keeps only itself */
    static const double flat[] = { 0, 0, 5, 5, 10, 10, 0, 0 };
    static const double sq[] = { 0, 0, 10, 0, 10, 10, 0, 10 };
    static const double hole[] = { 2, 2, 2, 4, 4, 4, 4, 2 };
    static const double two[] = { 3, 3, 3.1, 3.1, 6, 6, 3, 3 };
    static const double zero[] = { 1, 1, 2, 2, 3, 3 };
    const double *r1[] = { flat, hole }, *r2[] = { sq, two, zero, hole };
    size_t c1[] = { 4, 4 }, c2[] = { 4, 4, 3, 4 };
    assert_int_equal(mvt_feature_begin(l, 3, MVT_POLYGON), ERR_OK);
    assert_int_equal(mvt_feature_add_polygon(l, r1, c1, 2), ERR_OK);
    assert_int_equal(mvt_feature_end(l), ERR_OK);
    assert_int_equal(mvt_layer_feature_count(l), 1);
    assert_int_equal(mvt_feature_begin(l, 4, MVT_POLYGON), ERR_OK);
    assert_int_equal(mvt_feature_add_polygon(l, r2, c2, 4), ERR_OK);
    /* type mismatches are refused */
    assert_int_equal(mvt_feature_add_line(l, rep, 5), ERR_INVALID_ARGUMENT);
    assert_int_equal(mvt_feature_add_points(l, rep, 1), ERR_INVALID_ARGUMENT);
    VectorTile__Tile__Layer *ly = encode(f)->layers[0];
    assert_int_equal(ly->n_keys, 0);
    assert_int_equal(ly->n_values, 0);
    assert_int_equal(ly->n_features, 2);
    static const uint32_t g_rep[] = { 9, 0, 0, 10, 2, 2 };
    assert_geometry(ly->features[0], g_rep, 6);
    assert_int_equal(ly->features[1]->id, 4);
    static const uint32_t g_poly[] = { 9, 0, 0,  26, 20, 0, 0, 20, 19, 0, 15,
                                       9, 4, 15, 26, 0,  4, 4, 0,  0,  3, 15 };
    assert_geometry(ly->features[1], g_poly, sizeof(g_poly) / sizeof(g_poly[0]));
}

static void test_empty_tile(void **state)
{
    struct fixture *f = *state;
    uint8_t *buf = NULL;
    size_t len = 99;
    /* a layer without features is not written: the tile is zero bytes */
    assert_int_equal(mvt_tile_encode(f->t, &buf, &len), ERR_OK);
    assert_non_null(buf);
    assert_int_equal(len, 0);
    struct mvt_tile *t = mvt_tile_new(f->a);
    assert_int_equal(mvt_tile_encode(t, &buf, &len), ERR_OK);
    assert_int_equal(len, 0);
    VectorTile__Tile *u = vector_tile__tile__unpack(NULL, len, buf);
    assert_non_null(u);
    assert_int_equal(u->n_layers, 0);
    vector_tile__tile__free_unpacked(u, NULL);
    /* no open feature */
    assert_int_equal(mvt_feature_add_bool(f->l, "x", true), ERR_INVALID_ARGUMENT);
    assert_int_equal(mvt_feature_add_points(f->l, NULL, 0), ERR_INVALID_ARGUMENT);
    assert_int_equal(mvt_feature_end(f->l), ERR_OK);
    assert_int_equal(mvt_feature_begin(f->l, 1, (enum mvt_geom_type)0), ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spec_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multipolygon_with_hole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_extent_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_value_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zigzag_extremes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_winding_after_rounding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_degenerate_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_tile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_geoctx.c - each thread has its own GEOS and PROJ contexts, and both work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "geoctx.h"

#include <math.h>
#include <pthread.h>

struct seen {
    GEOSContextHandle_t geos;
    PJ_CONTEXT *proj;
    double x, y;
    int valid;
};

static void *worker(void *arg)
{
    struct seen *s = arg;
    s->geos = geoctx_geos();
    s->proj = geoctx_proj();
    /* The same handle on a second call within the thread. */
    if (geoctx_geos() != s->geos || geoctx_proj() != s->proj)
        return NULL;
    GEOSWKTReader *rd = GEOSWKTReader_create_r(s->geos);
    GEOSGeometry *bowtie = GEOSWKTReader_read_r(s->geos, rd, "POLYGON((0 0,1 1,1 0,0 1,0 0))");
    s->valid = GEOSisValid_r(s->geos, bowtie);
    GEOSGeom_destroy_r(s->geos, bowtie);
    GEOSWKTReader_destroy_r(s->geos, rd);

    PJ *p = proj_create_crs_to_crs(s->proj, "EPSG:4326", "EPSG:3857", NULL);
    PJ *norm = p ? proj_normalize_for_visualization(s->proj, p) : NULL;
    if (norm != NULL) {
        PJ_COORD c = proj_coord(113.0, 28.0, 0, 0); /* lon, lat after normalisation */
        PJ_COORD out = proj_trans(norm, PJ_FWD, c);
        s->x = out.xy.x;
        s->y = out.xy.y;
    }
    proj_destroy(norm);
    proj_destroy(p);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct seen a = { 0 }, b = { 0 };
    pthread_t ta, tb;
    pthread_create(&ta, NULL, worker, &a);
    pthread_join(ta, NULL); /* a's contexts are destroyed at its exit ... */
    pthread_create(&tb, NULL, worker, &b);
    pthread_join(tb, NULL);
    assert_non_null(a.geos);
    assert_non_null(a.proj);
    assert_int_equal(a.valid, 0); /* a bowtie is not valid */
    /* Web Mercator of 113E 28N, to the millimetre. */
    assert_true(fabs(a.x - 12579102.4) < 1.0);
    assert_true(fabs(a.y - 3248973.8) < 1.0);
    assert_true(fabs(b.x - a.x) < 1e-6);

    /* ... and the main thread gets its own, released on demand. */
    GEOSContextHandle_t mine = geoctx_geos();
    assert_non_null(mine);
    geoctx_release();
    assert_non_null(geoctx_geos());
    geoctx_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_crs.c - CRS names, PROJ conversions, the GCJ-02 formula and its iterated inverse,
 * the local metric against geodesics, and per-thread PROJ state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "crs.h"
#include "geoctx.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>

#define SEED 20240601u

/* splitmix64: deterministic, the same numbers on every machine. */
static uint64_t rng_state;

static double rng_uniform(double lo, double hi)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return lo + (hi - lo) * ((double)(z >> 11) / 9007199254740992.0);
}

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum crs crs;
        bool lat_first;
    } ok[] = {
        { "EPSG:4326", CRS_WGS84, false },
        { "epsg:4326", CRS_WGS84, false },
        { "http://www.opengis.net/def/crs/OGC/1.3/CRS84", CRS_WGS84, false },
        { "https://www.opengis.net/def/crs/OGC/1.3/CRS84", CRS_WGS84, false },
        { "http://www.opengis.net/def/crs/EPSG/0/4326", CRS_WGS84, true },
        { "urn:ogc:def:crs:EPSG::4326", CRS_WGS84, true },
        { "EPSG:4490", CRS_CGCS2000, false },
        { "http://www.opengis.net/def/crs/EPSG/0/4490", CRS_CGCS2000, true },
        { "EPSG:3857", CRS_WEB_MERCATOR, false },
        { "http://www.opengis.net/def/crs/EPSG/0/3857", CRS_WEB_MERCATOR, false },
        { "gcj02", CRS_GCJ02, false },
        { "GCJ-02", CRS_GCJ02, false },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        enum crs c = CRS__COUNT;
        assert_int_equal(crs_parse(ok[i].name, &c), 0);
        assert_int_equal(c, ok[i].crs);
        assert_int_equal(crs_axis_lat_first(ok[i].name), ok[i].lat_first);
    }
    enum crs c = CRS_GCJ02;
    assert_int_equal(crs_parse("EPSG:4327", &c), -1);
    assert_int_equal(crs_parse("", &c), -1);
    assert_int_equal(crs_parse(NULL, &c), -1);
    assert_int_equal(crs_parse("http://www.opengis.net/def/crs/EPSG/0/43260", &c), -1);
    assert_int_equal(c, CRS_GCJ02); /* untouched */
    assert_string_equal(crs_uri(CRS_CGCS2000), "http://www.opengis.net/def/crs/EPSG/0/4490");
    assert_string_equal(crs_uri(CRS_WGS84), "http://www.opengis.net/def/crs/OGC/1.3/CRS84");
}

static void test_web_mercator(void **state)
{
    (void)state;
    double x = 113.0, y = 28.0;
    assert_int_equal(crs_from_wgs84(CRS_WEB_MERCATOR, &x, &y), 0);
    assert_true(fabs(x - 12579102.4) < 0.1);
    assert_true(fabs(y - 3248973.8) < 0.1);
    assert_int_equal(crs_to_wgs84(CRS_WEB_MERCATOR, &x, &y), 0);
    assert_true(fabs(x - 113.0) < 1e-9 && fabs(y - 28.0) < 1e-9);

    x = 180.0, y = 0.0;
    assert_int_equal(crs_from_wgs84(CRS_WEB_MERCATOR, &x, &y), 0);
    assert_true(fabs(x - 20037508.342789244) < 1e-6);
    assert_true(fabs(y) < 1e-6);
    x = 0.0, y = 85.0511287798066;
    assert_int_equal(crs_from_wgs84(CRS_WEB_MERCATOR, &x, &y), 0);
    assert_true(fabs(y - 20037508.342789244) < 1e-3);

    /* No latitude past the pole, no easting past the antimeridian: errors, input unchanged. */
    x = 10.0, y = 91.0;
    assert_int_equal(crs_from_wgs84(CRS_WEB_MERCATOR, &x, &y), -1);
    assert_true(x == 10.0 && y == 91.0);
    x = 30000000.0, y = 0.0;
    assert_int_equal(crs_to_wgs84(CRS_WEB_MERCATOR, &x, &y), -1);
    assert_true(x == 30000000.0 && y == 0.0);
    x = -20037508.342789244, y = 0.0;
    assert_int_equal(crs_to_wgs84(CRS_WEB_MERCATOR, &x, &y), 0);
    assert_true(fabs(x + 180.0) < 1e-9);
    x = NAN;
    assert_int_equal(crs_to_wgs84(CRS_GCJ02, &x, &y), -1);
    assert_int_equal(crs_to_wgs84(CRS__COUNT, &y, &y), -1);
}

static void test_cgcs2000(void **state)
{
    (void)state;
    for (double lon = 74.0; lon <= 134.0; lon += 6.0) {
        for (double lat = 19.0; lat <= 53.0; lat += 4.0) {
            double x = lon, y = lat;
            assert_int_equal(crs_to_wgs84(CRS_CGCS2000, &x, &y), 0);
            assert_true(fabs(x - lon) < 1e-6 && fabs(y - lat) < 1e-6);
            x = lon, y = lat;
            assert_int_equal(crs_from_wgs84(CRS_CGCS2000, &x, &y), 0);
            assert_true(fabs(x - lon) < 1e-6 && fabs(y - lat) < 1e-6);
        }
    }
}

static void test_gcj02_forward(void **state)
{
    (void)state;
    /* The reference pair published with the common open implementations (Beijing). */
    double glon, glat;
    crs_gcj02_forward(116.404, 39.915, &glon, &glat);
    assert_true(fabs(glon - 116.41024449916938) < 1e-9);
    assert_true(fabs(glat - 39.91640428150164) < 1e-9);
    double shift = crs_geodesic_distance(116.404, 39.915, glon, glat);
    printf("gcj02: Beijing reference point shifts by %.1f m\n", shift);
    assert_true(shift > 100.0 && shift < 700.0);

    /* Through the generic entry point too. */
    double x = 116.404, y = 39.915;
    assert_int_equal(crs_from_wgs84(CRS_GCJ02, &x, &y), 0);
    assert_true(x == glon && y == glat);

    /* The shift stays in the hundreds of metres across China. */
    double lo = INFINITY, hi = 0.0;
    rng_state = SEED;
    for (int i = 0; i < 2000; i++) {
        double lon = rng_uniform(73.0, 135.0), lat = rng_uniform(18.0, 53.5);
        crs_gcj02_forward(lon, lat, &glon, &glat);
        double d = crs_geodesic_distance(lon, lat, glon, glat);
        lo = fmin(lo, d);
        hi = fmax(hi, d);
    }
    printf("gcj02: shift over China %.1f .. %.1f m\n", lo, hi);
    assert_true(lo > 0.0 && hi < 1000.0);
}

static void test_gcj02_outside_china(void **state)
{
    (void)state;
    static const double places[][2] = {
        { 2.3522, 48.8566 },   /* Paris */
        { -74.006, 40.7128 },  /* New York */
        { 139.6917, 35.6895 }, /* Tokyo: east of the box */
        { 103.8198, 0.5 },     /* south of the box */
        { 71.9, 40.0 },        /* west of the box */
        { 120.0, 56.0 },       /* north of the box */
        { -180.0, -90.0 },
    };
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        double x = places[i][0], y = places[i][1];
        assert_int_equal(crs_from_wgs84(CRS_GCJ02, &x, &y), 0);
        assert_true(x == places[i][0] && y == places[i][1]);
        assert_int_equal(crs_to_wgs84(CRS_GCJ02, &x, &y), 0);
        assert_true(x == places[i][0] && y == places[i][1]);
        assert_int_equal(crs_gcj02_inverse(places[i][0], places[i][1], &x, &y), 0);
    }
}

static void test_gcj02_inverse(void **state)
{
    (void)state;
    rng_state = SEED;
    printf("gcj02 inverse: seed %u, 10000 points in lon 73..135, lat 18..53.5\n", SEED);
    double worst = 0.0, worst_deg = 0.0, sum = 0.0;
    int max_iter = 0;
    for (int i = 0; i < 10000; i++) {
        double lon = rng_uniform(73.0, 135.0), lat = rng_uniform(18.0, 53.5);
        double x = lon, y = lat;
        assert_int_equal(crs_from_wgs84(CRS_GCJ02, &x, &y), 0);
        double gx = x, gy = y;
        assert_int_equal(crs_to_wgs84(CRS_GCJ02, &x, &y), 0);
        double err = crs_geodesic_distance(lon, lat, x, y);
        worst = fmax(worst, err);
        worst_deg = fmax(worst_deg, fmax(fabs(x - lon), fabs(y - lat)));
        sum += err;
        double ix, iy;
        int n = crs_gcj02_inverse(gx, gy, &ix, &iy);
        assert_true(n > 0);
        assert_true(ix == x && iy == y);
        if (n > max_iter)
            max_iter = n;
        assert_true(err < 0.5);
    }
    printf("gcj02 inverse: max error %.3g m (%.3g deg), mean %.3g m, at most %d iterations\n",
           worst, worst_deg, sum / 10000.0, max_iter);
    assert_true(worst < 0.05); /* the iteration stops within 1e-7 deg, about 1 cm */
}

static void test_local_metric(void **state)
{
    (void)state;
    rng_state = SEED + 1;
    static const double dists[] = { 5000.0, 100.0 };
    static const double limits[] = { 1e-3, 1e-4 };
    for (int k = 0; k < 2; k++) {
        double worst = 0.0;
        for (int i = 0; i < 2000; i++) {
            double lon0 = rng_uniform(73.0, 135.0), lat0 = rng_uniform(18.0, 53.5);
            double bearing = rng_uniform(0.0, 2.0 * M_PI);
            struct local_metric m;
            crs_local_metric(lon0, lat0, &m);
            double lon, lat;
            crs_local_from_xy(&m, dists[k] * sin(bearing), dists[k] * cos(bearing), &lon, &lat);
            double planar = crs_local_distance(&m, lon0, lat0, lon, lat);
            assert_true(fabs(planar - dists[k]) < 1e-6);
            double geodesic = crs_geodesic_distance(lon0, lat0, lon, lat);
            double rel = fabs(planar - geodesic) / geodesic;
            worst = fmax(worst, rel);
        }
        printf("local metric: worst relative error at %.0f m: %.3g%% (limit %.3g%%)\n", dists[k],
               worst * 100.0, limits[k] * 100.0);
        assert_true(worst < limits[k]);
    }
    /* One degree of latitude at 30N is 110 852 m; of longitude 96 486 m (WGS84). */
    struct local_metric m;
    crs_local_metric(113.0, 30.0, &m);
    assert_true(fabs(m.my - 110852.4) < 1.0);
    assert_true(fabs(m.mx - 96486.3) < 1.0);
    double x, y;
    crs_local_to_xy(&m, 113.001, 30.001, &x, &y);
    assert_true(fabs(x - m.mx * 0.001) < 1e-6 && fabs(y - m.my * 0.001) < 1e-6);
}

static void test_geodesic(void **state)
{
    (void)state;
    /* A quarter of the equator, and one degree along a meridian from the equator. */
    assert_true(fabs(crs_geodesic_distance(0, 0, 90, 0) - 10018754.171394622) < 1e-3);
    assert_true(fabs(crs_geodesic_distance(0, 0, 0, 1) - 110574.38855779878) < 1e-3);
    assert_true(crs_geodesic_distance(113, 28, 113, 28) == 0.0);
}

static void test_transform_geometry(void **state)
{
    (void)state;
    GEOSContextHandle_t h = geoctx_geos();
    GEOSWKTReader *rd = GEOSWKTReader_create_r(h);
    GEOSGeometry *poly =
        GEOSWKTReader_read_r(h, rd,
                             "POLYGON((113 28,113.01 28,113.01 28.01,113 28.01,113 28),"
                             "(113.002 28.002,113.002 28.004,113.004 28.004,113.002 28.002))");
    assert_non_null(poly);
    for (enum crs c = CRS_WGS84; c < CRS__COUNT; c++) {
        GEOSGeometry *there = crs_transform_geometry(h, poly, CRS_WGS84, c);
        assert_non_null(there);
        GEOSGeometry *back = crs_transform_geometry(h, there, c, CRS_WGS84);
        assert_non_null(back);
        /* GCJ-02's inverse stops within 1e-7 degrees; PROJ's round trips are exact. */
        assert_int_equal(GEOSEqualsExact_r(h, poly, back, c == CRS_GCJ02 ? 2e-7 : 1e-9), 1);
        if (c == CRS_WEB_MERCATOR) {
            double x;
            GEOSGeom_getXMin_r(h, there, &x);
            assert_true(fabs(x - 12579102.4) < 0.1);
        }
        GEOSGeom_destroy_r(h, back);
        GEOSGeom_destroy_r(h, there);
    }
    /* From GCJ-02 straight to Web Mercator goes through WGS84. */
    GEOSGeometry *a = crs_transform_geometry(h, poly, CRS_GCJ02, CRS_WEB_MERCATOR);
    GEOSGeometry *b = crs_transform_geometry(h, poly, CRS_GCJ02, CRS_WGS84);
    GEOSGeometry *c = crs_transform_geometry(h, b, CRS_WGS84, CRS_WEB_MERCATOR);
    assert_int_equal(GEOSEqualsExact_r(h, a, c, 1e-6), 1);
    GEOSGeom_destroy_r(h, a);
    GEOSGeom_destroy_r(h, b);
    GEOSGeom_destroy_r(h, c);
    GEOSGeom_destroy_r(h, poly);

    GEOSGeometry *pole = GEOSWKTReader_read_r(h, rd, "LINESTRING(0 0,0 91)");
    assert_null(crs_transform_geometry(h, pole, CRS_WGS84, CRS_WEB_MERCATOR));
    GEOSGeom_destroy_r(h, pole);
    GEOSWKTReader_destroy_r(h, rd);

    /* Releasing the thread's contexts drops the cached operations with them. */
    geoctx_release();
    double x = 113.0, y = 28.0;
    assert_int_equal(crs_from_wgs84(CRS_WEB_MERCATOR, &x, &y), 0);
    assert_true(fabs(x - 12579102.4) < 0.1);
    geoctx_release();
}

#define NPTS 500

struct job {
    double in[NPTS][2];
    double out[NPTS][6];
    int failures;
};

static void run_job(struct job *j)
{
    for (int i = 0; i < NPTS; i++) {
        double *o = j->out[i];
        double x = j->in[i][0], y = j->in[i][1];
        j->failures += crs_from_wgs84(CRS_WEB_MERCATOR, &x, &y) != 0;
        o[0] = x;
        o[1] = y;
        x = j->in[i][0], y = j->in[i][1];
        j->failures += crs_from_wgs84(CRS_CGCS2000, &x, &y) != 0;
        j->failures += crs_to_wgs84(CRS_GCJ02, &x, &y) != 0;
        o[2] = x;
        o[3] = y;
        x = o[0], y = o[1];
        j->failures += crs_to_wgs84(CRS_WEB_MERCATOR, &x, &y) != 0;
        o[4] = x;
        o[5] = y;
    }
}

static void *worker(void *arg)
{
    run_job(arg);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    static struct job ref, a, b;
    rng_state = SEED + 2;
    for (int i = 0; i < NPTS; i++) {
        ref.in[i][0] = rng_uniform(73.0, 135.0);
        ref.in[i][1] = rng_uniform(18.0, 53.5);
    }
    a = ref;
    b = ref;
    run_job(&ref);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, worker, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, worker, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.failures, ref.failures);
    assert_int_equal(b.failures, ref.failures);
    for (int i = 0; i < NPTS; i++) {
        for (int k = 0; k < 6; k++) {
            assert_true(a.out[i][k] == ref.out[i][k]);
            assert_true(b.out[i][k] == ref.out[i][k]);
        }
    }
    geoctx_release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_web_mercator),
        cmocka_unit_test(test_cgcs2000),
        cmocka_unit_test(test_gcj02_forward),
        cmocka_unit_test(test_gcj02_outside_china),
        cmocka_unit_test(test_gcj02_inverse),
        cmocka_unit_test(test_local_metric),
        cmocka_unit_test(test_geodesic),
        cmocka_unit_test(test_transform_geometry),
        cmocka_unit_test(test_threads),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    geoctx_release();
    return rc;
}

/*
 * test_zones.c - zone events (server/track/zones.h): entering and leaving polygons and buffered
 * lines with interpolated instants, hysteresis and confirmation against GPS drift, merging,
 * WKB input, bad input, and the late-batch property (any permutation and split into batches
 * gives the stays of one sorted batch, after every batch).
 *
 * Seeds: PATROLGIS_SEED (default 20240917) is printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "geoctx.h"
#include "zones.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed0 = 20240917;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_range(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static const double LON0 = 112.9388, LAT0 = 28.2282;
static const int64_t T0 = 1717200000000;
static struct localmetric M; /* metres around (LON0, LAT0), linear part */

static double lon_of(double x)
{
    return LON0 + x / M.kx0;
}

static double lat_of(double y)
{
    return LAT0 + y / M.ky0;
}

static struct fix at_xy(int64_t t, double x, double y)
{
    return (struct fix){ t, lon_of(x), lat_of(y), 0 };
}

/* WKT of the rectangle [x0, x1] x [y0, y1] (metres around the origin). */
static void rect_wkt(char *buf, size_t cap, double x0, double y0, double x1, double y1)
{
    snprintf(buf, cap, "POLYGON((%.9f %.9f,%.9f %.9f,%.9f %.9f,%.9f %.9f,%.9f %.9f))", lon_of(x0),
             lat_of(y0), lon_of(x1), lat_of(y0), lon_of(x1), lat_of(y1), lon_of(x0), lat_of(y1),
             lon_of(x0), lat_of(y0));
}

static struct zoneindex *build(const struct zone_def *d, size_t n)
{
    struct zoneindex *zi = NULL;
    assert_int_equal(zoneindex_build(d, n, &zi), ERR_OK);
    return zi;
}

static struct zones_result run(const struct zoneindex *zi, const struct fix *f, size_t n,
                               const struct zones_params *p)
{
    struct zones_result r;
    assert_int_equal(zones_compute(zi, f, n, p, &r), ERR_OK);
    return r;
}

/* A pond 100 x 60 m; drive east through it at 5 m/s. */
static void test_polygon_enter_exit(void **state)
{
    (void)state;
    char wkt[512];
    rect_wkt(wkt, sizeof(wkt), 0, -30, 100, 30);
    struct zone_def d = { "waters", 42, wkt, NULL, 0, -1, -1 };
    struct zoneindex *zi = build(&d, 1);
    assert_true(fabs(zones_distance_m(zi, 0, lon_of(50), lat_of(0))) < 1e-9); /* inside: 0 */
    assert_true(fabs(zones_distance_m(zi, 0, lon_of(-20), lat_of(0)) - 20.0) < 0.01);
    struct fix f[100];
    for (int i = 0; i < 100; i++) /* x = -97.5 + 5 i: crosses 0 at t = 19.5 s */
        f[i] = at_xy(T0 + i * 1000, -97.5 + 5.0 * i, 0);
    struct zones_params p;
    zones_params_default(&p);
    struct zones_result r = run(zi, f, 100, &p);
    assert_int_equal(r.n_events, 2);
    assert_int_equal(r.events[0].kind, ZONE_ENTER);
    assert_string_equal(zones_event_kind_name(r.events[0].kind), "zone_enter");
    assert_string_equal(r.events[0].zone_layer, "waters");
    assert_int_equal(r.events[0].zone_id, 42);
    /* enter at x = 0 (t 19.5 s), exit at x = 110 (100 + hysteresis 10: t 41.5 s) */
    assert_true(llabs(r.events[0].t_ms - (T0 + 19500)) <= 2);
    assert_int_equal(r.events[1].kind, ZONE_EXIT);
    assert_true(llabs(r.events[1].t_ms - (T0 + 41500)) <= 2);
    assert_true(r.tail_clean);
    zones_result_free(&r);
    zoneindex_free(zi);
}

/* A river drawn as a line: in within 20 m, out beyond 30 m; a quick crossing is not a stay. */
static void test_line_buffer_and_confirm(void **state)
{
    (void)state;
    char wkt[256];
    snprintf(wkt, sizeof(wkt), "LINESTRING(%.9f %.9f,%.9f %.9f)", lon_of(-1000), lat_of(0),
             lon_of(1000), lat_of(0));
    struct zone_def d = { "waters", 7, wkt, NULL, 0, -1, -1 };
    struct zoneindex *zi = build(&d, 1);
    struct zones_params p;
    zones_params_default(&p);
    struct fix f[200];
    /* walking north across at 2 m/s: in from y = -20 to y = +30: 25 s >= 20 s: a stay */
    for (int i = 0; i < 80; i++)
        f[i] = at_xy(T0 + i * 1000, 0, -59 + 2.0 * i);
    struct zones_result r = run(zi, f, 80, &p);
    assert_int_equal(r.n_events, 2);
    assert_true(llabs(r.events[0].t_ms - (T0 + 19500)) <= 2);
    assert_true(llabs(r.events[1].t_ms - (T0 + 44500)) <= 2);
    zones_result_free(&r);
    /* driving across a bridge at 10 m/s: 5 s in the buffer: no event */
    for (int i = 0; i < 20; i++)
        f[i] = at_xy(T0 + i * 1000, 0, -95 + 10.0 * i);
    r = run(zi, f, 20, &p);
    assert_int_equal(r.n_events, 0);
    assert_true(r.tail_clean);
    zones_result_free(&r);
    zoneindex_free(zi);
}

/* Parked at the edge of a school perimeter with +-8 m of drift: one enter, no flapping. */
static void test_edge_drift(void **state)
{
    (void)state;
    char wkt[512];
    rect_wkt(wkt, sizeof(wkt), 0, -100, 200, 100);
    struct zone_def d = { "schools", 3, wkt, NULL, 0, -1, -1 };
    struct zoneindex *zi = build(&d, 1);
    struct zones_params p;
    zones_params_default(&p);
    uint64_t s = seed0 ^ 11;
    enum { N = 600 };
    struct fix *f = malloc(N * sizeof(*f));
    for (int i = 0; i < N; i++)
        f[i] = at_xy(T0 + i * 1000, rng_range(&s, -8, 8), rng_range(&s, -8, 8));
    struct zones_result r = run(zi, f, N, &p);
    assert_int_equal(r.n_events, 1);
    assert_int_equal(r.events[0].kind, ZONE_ENTER);
    assert_int_equal(r.n_stays, 1);
    assert_true(r.stays[0].open);
    zones_result_free(&r);
    zoneindex_free(zi);
    /* without hysteresis and confirmation it flaps */
    d.hysteresis_m = 0;
    zi = build(&d, 1);
    p.confirm_s = 0;
    r = run(zi, f, N, &p);
    printf("edge drift: 1 event with defaults, %zu without hysteresis or confirmation\n",
           r.n_events);
    assert_true(r.n_events > 50);
    zones_result_free(&r);
    zoneindex_free(zi);
    free(f);
}

static void test_spike_and_merge(void **state)
{
    (void)state;
    char wkt[512];
    rect_wkt(wkt, sizeof(wkt), 0, -50, 100, 50);
    struct zone_def d = { "waters", 1, wkt, NULL, 0, -1, -1 };
    struct zoneindex *zi = build(&d, 1);
    struct zones_params p;
    zones_params_default(&p);
    struct fix f[300];
    /* 200 m away, one 3 s spike into the pond: nothing */
    for (int i = 0; i < 100; i++)
        f[i] = at_xy(T0 + i * 1000, (i >= 40 && i < 43) ? 50 : 300, 0);
    struct zones_result r = run(zi, f, 100, &p);
    assert_int_equal(r.n_events, 0);
    zones_result_free(&r);
    /* in 60 s, out (beyond the hysteresis) 10 s, in 60 s, out: one stay */
    for (int i = 0; i < 200; i++) {
        bool in = (i >= 20 && i < 80) || (i >= 90 && i < 150);
        f[i] = at_xy(T0 + i * 1000, in ? 50 : 200, 0);
    }
    r = run(zi, f, 200, &p);
    assert_int_equal(r.n_stays, 1);
    assert_int_equal(r.n_events, 2);
    assert_false(r.stays[0].open);
    zones_result_free(&r);
    /* in at the end, exit 10 s before the last fix: exit not confirmed yet (open) */
    r = run(zi, f, 160, &p);
    assert_int_equal(r.n_stays, 1);
    assert_true(r.stays[0].open);
    assert_int_equal(r.n_events, 1);
    assert_false(r.tail_clean);
    zones_result_free(&r);
    /* 10 s in at the very end: pending, nothing reported, not clean */
    r = run(zi, f, 30, &p);
    assert_int_equal(r.n_stays, 0);
    assert_false(r.tail_clean);
    zones_result_free(&r);
    /* a gap longer than max_gap ends a stay at the last fix before it */
    struct fix g[80];
    for (int i = 0; i < 40; i++)
        g[i] = at_xy(T0 + i * 1000, 50, 0);
    for (int i = 40; i < 80; i++)
        g[i] = at_xy(T0 + 600000 + i * 1000, 50, 0);
    r = run(zi, g, 80, &p);
    assert_int_equal(r.n_stays, 2);
    assert_int_equal(r.stays[0].exit_ms, T0 + 39000);
    zones_result_free(&r);
    zoneindex_free(zi);
}

static void test_wkb_layers_and_bad_input(void **state)
{
    (void)state;
    GEOSContextHandle_t h = geoctx_geos();
    char wkt[512];
    rect_wkt(wkt, sizeof(wkt), 0, -50, 100, 50);
    GEOSWKTReader *rd = GEOSWKTReader_create_r(h);
    GEOSGeometry *g = GEOSWKTReader_read_r(h, rd, wkt);
    GEOSWKBWriter *wr = GEOSWKBWriter_create_r(h);
    size_t len;
    unsigned char *wkb = GEOSWKBWriter_write_r(h, wr, g, &len);
    struct zone_def d[2] = { { "waters", 5, NULL, wkb, len, -1, -1 },
                             { "schools", 5, wkt, NULL, 0, 5, 0 } };
    struct zoneindex *zi = build(d, 2);
    assert_int_equal(zoneindex_count(zi), 2);
    struct fix f[60];
    for (int i = 0; i < 60; i++)
        f[i] = at_xy(T0 + i * 1000, -100 + 5.0 * i, 0);
    struct zones_params p;
    zones_params_default(&p);
    struct zones_result r = run(zi, f, 60, &p);
    /* schools (buffer 5 m) is entered 1 s before waters; events sorted by time */
    assert_true(r.n_events >= 2);
    assert_string_equal(r.events[0].zone_layer, "schools");
    assert_string_equal(r.events[1].zone_layer, "waters");
    assert_true(r.events[1].t_ms - r.events[0].t_ms == 1000);
    zones_result_free(&r);
    zoneindex_free(zi);

    struct zoneindex *bad = NULL;
    struct zone_def b = { "waters", 1, "POLYGON((0 0, 1 1", NULL, 0, -1, -1 };
    assert_int_equal(zoneindex_build(&b, 1, &bad), ERR_INVALID_ARGUMENT);
    b.wkt = "POLYGON EMPTY";
    assert_int_equal(zoneindex_build(&b, 1, &bad), ERR_INVALID_ARGUMENT);
    b.wkt = "POINT(10 89.5)";
    assert_int_equal(zoneindex_build(&b, 1, &bad), ERR_INVALID_ARGUMENT);
    b.wkt = "POINT(10 20)";
    b.layer = NULL;
    assert_int_equal(zoneindex_build(&b, 1, &bad), ERR_INVALID_ARGUMENT);
    b.layer = "waters";
    b.buffer_m = NAN;
    assert_int_equal(zoneindex_build(&b, 1, &bad), ERR_INVALID_ARGUMENT);
    assert_null(bad);
    zoneindex_free(NULL);
    zones_result_free(NULL);

    struct zone_def ok = { "waters", 1, "POINT(10 20)", NULL, 0, -1, -1 };
    zi = build(&ok, 1);
    struct fix uns[2] = { { T0 + 1000, 10, 20, 0 }, { T0, 10, 20, 0 } };
    assert_int_equal(zones_compute(zi, uns, 2, &p, &r), ERR_INVALID_ARGUMENT);
    p.confirm_s = -1;
    assert_int_equal(zones_compute(zi, uns, 1, &p, &r), ERR_INVALID_ARGUMENT);
    zoneindex_free(zi);

    GEOSFree_r(h, wkb);
    GEOSWKBWriter_destroy_r(h, wr);
    GEOSGeom_destroy_r(h, g);
    GEOSWKTReader_destroy_r(h, rd);
}

/* ---- late batches -------------------------------------------------------------------- */

struct store {
    struct fix *fix;
    size_t n_fix;
    struct zone_stay *s;
    size_t n_s;
};

static bool has_fix(const struct store *st, int64_t t)
{
    for (size_t i = 0; i < st->n_fix; i++)
        if (st->fix[i].t_ms == t)
            return true;
    return false;
}

static int cmp_stay(const void *pa, const void *pb)
{
    const struct zone_stay *a = pa, *b = pb;
    if (a->enter_ms != b->enter_ms)
        return (a->enter_ms > b->enter_ms) - (a->enter_ms < b->enter_ms);
    int c = strcmp(a->layer, b->layer);
    if (c != 0)
        return c;
    return (a->zone_id > b->zone_id) - (a->zone_id < b->zone_id);
}

static void batch(struct store *st, const struct zoneindex *zi, const struct zones_params *p,
                  const struct fix *b, size_t nb, int *attempts)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < nb; i++) {
        if (has_fix(st, b[i].t_ms))
            continue;
        size_t k = st->n_fix++;
        while (k > 0 && st->fix[k - 1].t_ms > b[i].t_ms) {
            st->fix[k] = st->fix[k - 1];
            k--;
        }
        st->fix[k] = b[i];
        lo = b[i].t_ms < lo ? b[i].t_ms : lo;
        hi = b[i].t_ms > hi ? b[i].t_ms : hi;
    }
    if (lo > hi)
        return;
    int64_t from, to, upto;
    zones_affected_span(p, lo, hi, st->s, st->n_s, &from, &to);
    struct zones_result res;
    for (;;) {
        size_t i0 = 0, i1;
        while (i0 < st->n_fix && st->fix[i0].t_ms < from)
            i0++;
        for (i1 = i0; i1 < st->n_fix && st->fix[i1].t_ms <= to; i1++)
            ;
        assert_int_equal(zones_compute(zi, st->fix + i0, i1 - i0, p, &res), ERR_OK);
        (*attempts)++;
        if (zones_settled(p, &res, hi, i1 == st->n_fix, to, st->s, st->n_s, &upto))
            break;
        to = zones_widen(p, from, to);
        zones_result_free(&res);
    }
    size_t k = 0;
    for (size_t i = 0; i < st->n_s; i++)
        if (st->s[i].enter_ms < from || st->s[i].enter_ms > upto)
            st->s[k++] = st->s[i];
    for (size_t i = 0; i < res.n_stays; i++)
        st->s[k++] = res.stays[i];
    st->n_s = k;
    zones_result_free(&res);
}

static void test_late_batches_property(void **state)
{
    (void)state;
    uint64_t s = seed0 ^ 12;
    enum { CASES = 80, MAXF = 700 };
    char w1[512], w2[512], w3[256];
    rect_wkt(w1, sizeof(w1), -100, -60, 60, 40);
    rect_wkt(w2, sizeof(w2), 80, 50, 200, 180);
    snprintf(w3, sizeof(w3), "LINESTRING(%.9f %.9f,%.9f %.9f,%.9f %.9f)", lon_of(-300),
             lat_of(-150), lon_of(0), lat_of(-120), lon_of(300), lat_of(-200));
    struct zone_def defs[3] = { { "waters", 1, w1, NULL, 0, -1, -1 },
                                { "schools", 2, w2, NULL, 0, -1, 5 },
                                { "waters", 3, w3, NULL, 0, -1, -1 } };
    struct zoneindex *zi = build(defs, 3);
    struct fix *f = malloc(MAXF * sizeof(*f)), *perm = malloc(MAXF * sizeof(*perm));
    size_t total_stays = 0, batches = 0;
    int attempts = 0;
    for (int c = 0; c < CASES; c++) {
        struct zones_params p;
        zones_params_default(&p);
        p.max_gap_s = rng_range(&s, 20, 150);
        p.confirm_s = rng_range(&s, 0, 60);
        size_t n = 100 + (size_t)rng_range(&s, 0, MAXF - 100);
        double x = rng_range(&s, -300, 300), y = rng_range(&s, -300, 300);
        int64_t t = T0;
        for (size_t i = 0; i < n; i++) {
            double step = rng_range(&s, 0, 1) < 0.8 ? 1 : rng_range(&s, 2, 40);
            if (rng_range(&s, 0, 1) < 0.01)
                step += rng_range(&s, 100, 300);
            t += (int64_t)(step * 1000) + (int64_t)rng_range(&s, 1, 999);
            x += rng_range(&s, -12, 12);
            y += rng_range(&s, -12, 12);
            x = x > 350 ? 350 : (x < -350 ? -350 : x);
            y = y > 350 ? 350 : (y < -350 ? -350 : y);
            f[i] = at_xy(t, x, y);
            if (rng_range(&s, 0, 1) < 0.04)
                f[i].flags = 1;
        }
        struct zones_result truth = run(zi, f, n, &p);
        total_stays += truth.n_stays;
        memcpy(perm, f, n * sizeof(*f));
        for (size_t i = n; i > 1; i--) {
            size_t j = (size_t)rng_range(&s, 0, (double)i);
            struct fix tmp = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = tmp;
        }
        struct store st = { malloc(n * sizeof(struct fix)), 0,
                            malloc(4 * n * sizeof(struct zone_stay) + 1), 0 };
        for (size_t i = 0; i < n;) {
            size_t nb = 1 + (size_t)rng_range(&s, 0, 40);
            nb = i + nb > n ? n - i : nb;
            batch(&st, zi, &p, perm + i, nb, &attempts);
            batches++;
            i += nb;
            struct zones_result now = run(zi, st.fix, st.n_fix, &p);
            qsort(st.s, st.n_s, sizeof(*st.s), cmp_stay);
            bool same = now.n_stays == st.n_s;
            for (size_t k = 0; same && k < now.n_stays; k++)
                same = st.s[k].enter_ms == now.stays[k].enter_ms &&
                       st.s[k].exit_ms == now.stays[k].exit_ms &&
                       st.s[k].open == now.stays[k].open && st.s[k].zone_id == now.stays[k].zone_id;
            if (!same)
                fail_msg("case %d after %zu of %zu fixes: %zu stored stays, %zu expected", c, i, n,
                         st.n_s, now.n_stays);
            zones_result_free(&now);
        }
        assert_int_equal(st.n_s, truth.n_stays);
        zones_result_free(&truth);
        free(st.fix);
        free(st.s);
    }
    printf("zones late batches: %d random tracks, %zu stays, %zu batches, %d computations: "
           "equal to one sorted batch after every batch\n",
           CASES, total_stays, batches, attempts);
    free(f);
    free(perm);
    zoneindex_free(zi);
}

int main(void)
{
    const char *env = getenv("PATROLGIS_SEED");
    if (env != NULL && *env != '\0')
        seed0 = strtoull(env, NULL, 10);
    printf("test_zones: seed %" PRIu64 " (set PATROLGIS_SEED to replay)\n", seed0);
    localmetric_init(&M, LON0, LAT0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_polygon_enter_exit),
        cmocka_unit_test(test_line_buffer_and_confirm),
        cmocka_unit_test(test_edge_drift),
        cmocka_unit_test(test_spike_and_merge),
        cmocka_unit_test(test_wkb_layers_and_bad_input),
        cmocka_unit_test(test_late_batches_property),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    geoctx_release();
    return rc;
}

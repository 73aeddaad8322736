/*
 * test_visits.c - visits of a device at patrol points (server/track/visits.h,
 * server/geo/pointindex.h): interpolated enter/exit, drive-bys between sparse fixes, hysteresis
 * against drift, merging, gaps, outliers, the local metric against the geodesic, the grid index
 * against brute force, and the late-batch property: any permutation of the fixes, split into
 * batches and processed through visits_affected_span / visits_settled, stores exactly the visits of
 * one sorted batch.
 *
 * Seeds: PATROLGIS_SEED (default 20240917) is printed; every random test derives from it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "visits.h"

#include <geodesic.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------- */

static uint64_t seed0 = 20240917;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static double rng_range(uint64_t *s, double lo, double hi)
{
    return lo + (hi - lo) * rng_unit(s);
}

static const double LON0 = 112.9388, LAT0 = 28.2282; /* Changsha */
static const int64_t T0 = 1717200000000;             /* 2024-06-01T00:00:00Z */

/* (lon, lat) x metres east and y metres north of (LON0, LAT0). */
static struct fix at_xy(int64_t t_ms, double x, double y)
{
    struct localmetric m;
    localmetric_init(&m, LON0, LAT0);
    return (struct fix){ t_ms, LON0 + x / m.kx0, LAT0 + y / m.ky0, 0 };
}

static struct visits_point pt(int64_t id, double x, double y, double r, double h)
{
    struct fix f = at_xy(0, x, y);
    return (struct visits_point){ id, f.lon, f.lat, r, h, 60 };
}

static struct pointindex *index_of(const struct visits_point *pts, size_t n)
{
    struct pointindex *idx = NULL;
    assert_int_equal(pointindex_build(pts, n, &idx), ERR_OK);
    return idx;
}

static struct visits_result compute(const struct pointindex *idx, const struct fix *f, size_t n,
                                    const struct visits_params *p)
{
    struct visits_result r;
    assert_int_equal(visits_compute(idx, f, n, p, &r), ERR_OK);
    return r;
}

/* Time at which a straight east-west drive (speed v, passing x = 0 at t = 0, offset y0 north)
 * is at distance d from the origin, on the approaching (-1) or leaving (+1) side. */
static double cross_time(double v, double y0, double d, int side)
{
    return side * sqrt(d * d - y0 * y0) / v;
}

/* ---- local metric ------------------------------------------------------------------------ */

static void test_metric_vs_geodesic(void **state)
{
    (void)state;
    struct geod_geodesic g;
    geod_init(&g, 6378137.0, 1.0 / 298.257223563);
    uint64_t s = seed0 ^ 1;
    double worst = 0.0;
    for (int i = 0; i < 100000; i++) {
        double lat0 = rng_range(&s, 18.0, 53.0), lon0 = rng_range(&s, 73.0, 135.0);
        double az = rng_range(&s, 0.0, 360.0), d = rng_range(&s, 0.0, 1000.0);
        double lat, lon, az2;
        geod_direct(&g, lat0, lon0, az, d, &lat, &lon, &az2);
        struct visits_point p = { 1, lon0, lat0, 50, 10, 0 };
        double e = fabs(visits_distance_m(&p, lon, lat) - d);
        if (e > worst)
            worst = e;
    }
    printf("local metric vs geodesic, 100000 pairs up to 1 km: max error %.3g m\n", worst);
    assert_true(worst < 1e-4);
}

/* ---- scenarios --------------------------------------------------------------------------- */

/* A car at 10 m/s through a point (r 50, h 10): enters at 50 m, leaves at 60 m. */
static void test_pass_through_interpolated(void **state)
{
    (void)state;
    struct visits_point p = pt(7, 0, 0, 50, 10);
    struct pointindex *idx = index_of(&p, 1);
    struct fix f[40];
    for (int i = 0; i < 40; i++) /* 1 Hz, x from -195 to +195, 0.5 s phase */
        f[i] = at_xy(T0 + i * 1000, -195.0 + 10.0 * i, 0.0);
    struct visits_params prm;
    visits_params_default(&prm);
    struct visits_result r = compute(idx, f, 40, &prm);
    assert_int_equal(r.n, 1);
    const struct visit *v = &r.visits[0];
    assert_int_equal(v->point_id, 7);
    assert_false(v->open);
    /* x = -50 at t = 14.5 s, x = +60 at t = 25.5 s (to the millisecond) */
    assert_true(llabs(v->enter_ms - (T0 + 14500)) <= 1);
    assert_true(llabs(v->exit_ms - (T0 + 25500)) <= 1);
    assert_true(fabs(v->dwell_s - 11.0) < 0.003);
    assert_true(v->min_dist_m < 0.01);
    assert_false(r.tail_clean); /* the last fix is 13.5 s after the exit: a merge is possible */
    visits_result_free(&r);
    pointindex_free(idx);
}

/* Issue 4: 40 km/h, passing 20 m from the point between two fixes 15 s apart: one visit. */
static void test_drive_by_sparse(void **state)
{
    (void)state;
    struct visits_point p = pt(1, 0, 0, 50, 10);
    struct pointindex *idx = index_of(&p, 1);
    double v = 40.0 / 3.6;
    struct fix f[6];
    for (int i = 0; i < 6; i++) { /* fixes at t = -37.5, -22.5, -7.5, 7.5, ... s */
        double t = -37.5 + 15.0 * i;
        f[i] = at_xy(T0 + (int64_t)llround(t * 1000), v * t, 20.0);
    }
    for (int i = 0; i < 6; i++) /* every fix is outside the radius */
        assert_false(visits_within(&p, f[i].lon, f[i].lat));
    struct visits_params prm;
    visits_params_default(&prm);
    struct visits_result r = compute(idx, f, 6, &prm);
    assert_int_equal(r.n, 1);
    double te = cross_time(v, 20, 50, -1), tx = cross_time(v, 20, 60, +1);
    printf("drive-by: enter %+.3f s (expected %+.3f), exit %+.3f s (expected %+.3f), "
           "closest %.3f m\n",
           (r.visits[0].enter_ms - T0) / 1000.0, te, (r.visits[0].exit_ms - T0) / 1000.0, tx,
           r.visits[0].min_dist_m);
    assert_true(fabs((r.visits[0].enter_ms - T0) / 1000.0 - te) < 0.002);
    assert_true(fabs((r.visits[0].exit_ms - T0) / 1000.0 - tx) < 0.002);
    assert_true(fabs(r.visits[0].min_dist_m - 20.0) < 0.01);
    visits_result_free(&r);

    /* 60 m away: no visit, however the fixes fall. */
    for (int i = 0; i < 6; i++) {
        double t = -37.5 + 15.0 * i;
        f[i] = at_xy(T0 + (int64_t)llround(t * 1000), v * t, 60.0);
    }
    r = compute(idx, f, 6, &prm);
    assert_int_equal(r.n, 0);
    visits_result_free(&r);
    pointindex_free(idx);
}

/* Parked at the edge with +-8 m noise: hysteresis 10 m gives one visit; 0 m (and no merging)
 * would flap. */
static void test_edge_drift_no_flap(void **state)
{
    (void)state;
    uint64_t s = seed0 ^ 2;
    enum { N = 900 };
    struct fix *f = malloc(N * sizeof(*f));
    for (int i = 0; i < N; i++) /* parked 50 m from the point, noise +-8 m on each axis */
        f[i] = at_xy(T0 + i * 1000, 50.0 + rng_range(&s, -8, 8), rng_range(&s, -8, 8));
    struct visits_params prm;
    visits_params_default(&prm);
    struct visits_point p = pt(1, 0, 0, 50, 10);
    struct pointindex *idx = index_of(&p, 1);
    struct visits_result r = compute(idx, f, N, &prm);
    assert_int_equal(r.n, 1);
    assert_true(r.visits[0].open);
    visits_result_free(&r);
    pointindex_free(idx);

    p.hysteresis_m = 0;
    prm.merge_gap_s = 0;
    idx = index_of(&p, 1);
    r = compute(idx, f, N, &prm);
    printf("edge drift: 1 visit with hysteresis 10 m, %zu without hysteresis or merging\n", r.n);
    assert_true(r.n > 50);
    visits_result_free(&r);
    pointindex_free(idx);
    free(f);
}

/* Parked inside for a while: dwell and open/closed. */
static struct fix *parked(int64_t t0, int n, double x, int *out_n)
{
    struct fix *f = malloc((size_t)n * sizeof(*f));
    for (int i = 0; i < n; i++)
        f[i] = at_xy(t0 + i * 1000, x, 0);
    *out_n = n;
    return f;
}

static void test_merge_and_gap(void **state)
{
    (void)state;
    struct visits_point p = pt(1, 0, 0, 50, 10);
    struct pointindex *idx = index_of(&p, 1);
    struct visits_params prm;
    visits_params_default(&prm);
    /* inside 0..20 s, outside (200 m) 21..50 s, inside 51..70 s: gap of ~30 s -> merged */
    struct fix f[80];
    int n = 0;
    for (int i = 0; i <= 70; i++) {
        double x = (i <= 20 || i >= 51) ? 0.0 : 200.0;
        f[n++] = at_xy(T0 + i * 1000, x, 0);
    }
    struct visits_result r = compute(idx, f, (size_t)n, &prm);
    assert_int_equal(r.n, 1);
    assert_true(r.visits[0].open);
    assert_int_equal(r.visits[0].enter_ms, T0);
    visits_result_free(&r);

    /* the same with 100 s outside: two visits */
    struct fix g[141];
    for (int i = 0; i <= 140; i++)
        g[i] = at_xy(T0 + i * 1000, (i <= 20 || i >= 121) ? 0.0 : 200.0, 0);
    r = compute(idx, g, 141, &prm);
    assert_int_equal(r.n, 2);
    visits_result_free(&r);

    /* gap > max_gap: inside 0..10 s, nothing until 300 s, inside 300..310 s -> two visits,
     * the first ending at its last fix (no interpolation across the gap). */
    int na, nb;
    struct fix *a = parked(T0, 11, 5.0, &na);
    struct fix *b = parked(T0 + 300000, 11, 5.0, &nb);
    struct fix h[22];
    memcpy(h, a, sizeof(*a) * 11);
    memcpy(h + 11, b, sizeof(*b) * 11);
    r = compute(idx, h, 22, &prm);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.visits[0].exit_ms, T0 + 10000);
    assert_false(r.visits[0].open);
    assert_int_equal(r.visits[1].enter_ms, T0 + 300000);
    assert_int_equal(r.visits[1].exit_ms, T0 + 310000); /* open: up to the last fix */
    assert_true(r.visits[1].open);
    assert_true(fabs(r.visits[0].dwell_s - 10.0) < 1e-9);
    visits_result_free(&r);
    free(a);
    free(b);
    pointindex_free(idx);
}

static void test_outliers_ignored(void **state)
{
    (void)state;
    struct visits_point p = pt(1, 0, 0, 50, 10);
    struct pointindex *idx = index_of(&p, 1);
    struct visits_params prm;
    visits_params_default(&prm);
    struct fix f[3] = { at_xy(T0, 500, 0), at_xy(T0 + 1000, 0, 0), at_xy(T0 + 2000, 500, 10) };
    f[1].flags = 1; /* outlier speed: the jump to the gate is not real */
    struct visits_result r = compute(idx, f, 3, &prm);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.n_used, 2);
    visits_result_free(&r);
    /* a NaN in an ignored fix is fine; in a used one it is an error */
    f[1].lon = NAN;
    r = compute(idx, f, 3, &prm);
    visits_result_free(&r);
    f[1].flags = 0;
    struct visits_result bad;
    assert_int_equal(visits_compute(idx, f, 3, &prm, &bad), ERR_INVALID_ARGUMENT);
    pointindex_free(idx);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct visits_point p = pt(1, 0, 0, 50, 10);
    struct pointindex *idx = index_of(&p, 1);
    struct visits_params prm;
    visits_params_default(&prm);
    struct fix f[2] = { at_xy(T0 + 1000, 0, 0), at_xy(T0, 0, 0) };
    struct visits_result r;
    assert_int_equal(visits_compute(idx, f, 2, &prm, &r), ERR_INVALID_ARGUMENT);
    f[1].t_ms = T0 + 1000; /* the same millisecond: taken in the given order */
    assert_int_equal(visits_compute(idx, f, 2, &prm, &r), ERR_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.visits[0].enter_ms, T0 + 1000);
    visits_result_free(&r);
    prm.max_gap_s = 0;
    f[1].t_ms = T0 + 2000;
    assert_int_equal(visits_compute(idx, f, 2, &prm, &r), ERR_INVALID_ARGUMENT);
    pointindex_free(idx);

    struct visits_point two[2] = { pt(1, 0, 0, 50, 10), pt(1, 100, 0, 50, 10) };
    struct pointindex *bad = NULL;
    assert_int_equal(pointindex_build(two, 2, &bad), ERR_INVALID_ARGUMENT); /* duplicate id */
    two[1].id = 2;
    two[1].radius_m = 0;
    assert_int_equal(pointindex_build(two, 2, &bad), ERR_INVALID_ARGUMENT);
    two[1].radius_m = 50;
    two[1].lat = 89.0;
    assert_int_equal(pointindex_build(two, 2, &bad), ERR_INVALID_ARGUMENT);
    assert_null(bad);
    pointindex_free(NULL);
    visits_result_free(NULL);

    /* an empty index and no fixes are fine */
    struct pointindex *empty = index_of(NULL, 0);
    prm.max_gap_s = 120;
    assert_int_equal(visits_compute(empty, NULL, 0, &prm, &r), ERR_OK);
    assert_int_equal(r.n, 0);
    assert_true(r.tail_clean);
    visits_result_free(&r);
    pointindex_free(empty);
}

/*
 * The grid index finds everything: 10 000 points in a 10 x 10 km town (radii 5..1000 m, a few
 * huge ones), random tracks; every used fix within a point's radius lies inside a visit of that
 * point, and every visit's closest approach is within its radius.
 */
static void test_index_complete(void **state)
{
    (void)state;
    uint64_t s = seed0 ^ 3;
    enum { NP = 10000, NF = 20000 };
    struct visits_point *pts = malloc(NP * sizeof(*pts));
    for (int i = 0; i < NP; i++) {
        double r = i % 97 == 0 ? rng_range(&s, 200, 1000) : rng_range(&s, 5, 80);
        pts[i] = pt(i + 1, rng_range(&s, -5000, 5000), rng_range(&s, -5000, 5000), r,
                    rng_range(&s, 0, 15));
    }
    pts[0].radius_m = 60000; /* one point covering the whole town: the "wide" list */
    struct pointindex *idx = index_of(pts, NP);
    struct fix *f = malloc(NF * sizeof(*f));
    double x = 0, y = 0, hd = 0;
    int64_t t = T0;
    for (int i = 0; i < NF; i++) {
        hd += rng_range(&s, -0.3, 0.3);
        double dt = rng_unit(&s) < 0.1 ? rng_range(&s, 5, 30) : 1.0;
        x += cos(hd) * 12 * dt;
        y += sin(hd) * 12 * dt;
        if (fabs(x) > 5000 || fabs(y) > 5000)
            hd += M_PI, x = x > 5000 ? 5000 : (x < -5000 ? -5000 : x),
                        y = y > 5000 ? 5000 : (y < -5000 ? -5000 : y);
        t += (int64_t)(dt * 1000);
        f[i] = at_xy(t, x, y);
    }
    struct visits_params prm;
    visits_params_default(&prm);
    struct visits_result r = compute(idx, f, NF, &prm);
    size_t checked = 0;
    for (int k = 0; k < NP; k++) {
        for (int i = 0; i < NF; i += 7) {
            if (!visits_within(&pts[k], f[i].lon, f[i].lat))
                continue;
            checked++;
            bool found = false;
            for (size_t j = 0; j < r.n && !found; j++)
                found = r.visits[j].point_id == pts[k].id && r.visits[j].enter_ms <= f[i].t_ms &&
                        r.visits[j].exit_ms >= f[i].t_ms;
            if (!found)
                for (size_t j = 0; j < r.n; j++)
                    if (r.visits[j].point_id == pts[k].id)
                        printf("visit %" PRId64 "..%" PRId64 " open %d\n",
                               r.visits[j].enter_ms - T0, r.visits[j].exit_ms - T0,
                               r.visits[j].open);
            if (!found)
                fail_msg("fix %d (t %" PRId64 ") at %.3f m of point %d (r %.3f) not in a visit", i,
                         f[i].t_ms - T0, visits_distance_m(&pts[k], f[i].lon, f[i].lat), k,
                         pts[k].radius_m);
        }
    }
    for (size_t j = 0; j < r.n; j++) {
        const struct visits_point *p = &pts[r.visits[j].point_id - 1];
        assert_true(r.visits[j].min_dist_m <= p->radius_m + 1e-6);
        assert_true(r.visits[j].exit_ms >= r.visits[j].enter_ms);
    }
    printf("index: %zu visits, %zu (fix, point) inside pairs all covered\n", r.n, checked);
    assert_true(checked > 1000);
    visits_result_free(&r);
    pointindex_free(idx);
    free(f);
    free(pts);
}

/* ---- the late-batch property --------------------------------------------------------------- */

struct store {
    struct fix *fix; /* the "positions" table of one device, sorted by time */
    size_t n_fix, cap_fix;
    struct visit *v; /* its "visits" table */
    size_t n_v, cap_v;
};

static bool store_has(const struct store *st, int64_t t)
{
    size_t lo = 0, hi = st->n_fix;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (st->fix[mid].t_ms < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->n_fix && st->fix[lo].t_ms == t;
}

static void store_insert(struct store *st, const struct fix *f)
{
    if (st->n_fix == st->cap_fix) {
        st->cap_fix = st->cap_fix ? st->cap_fix * 2 : 64;
        st->fix = realloc(st->fix, st->cap_fix * sizeof(*st->fix));
    }
    size_t i = st->n_fix;
    while (i > 0 && st->fix[i - 1].t_ms > f->t_ms) {
        st->fix[i] = st->fix[i - 1];
        i--;
    }
    st->fix[i] = *f;
    st->n_fix++;
}

/* One batch as the server would process it; returns the number of compute attempts. */
static int process_batch(struct store *st, const struct pointindex *idx,
                         const struct visits_params *prm, const struct fix *batch, size_t nb)
{
    int64_t a = INT64_MAX, b = INT64_MIN;
    for (size_t i = 0; i < nb; i++) {
        if (store_has(st, batch[i].t_ms))
            continue; /* ON CONFLICT DO NOTHING */
        store_insert(st, &batch[i]);
        a = batch[i].t_ms < a ? batch[i].t_ms : a;
        b = batch[i].t_ms > b ? batch[i].t_ms : b;
    }
    if (a > b)
        return 0; /* nothing new: nothing to do */
    int64_t from, to, upto;
    visits_affected_span(prm, a, b, st->v, st->n_v, &from, &to);
    assert_true(from < a && to > b);
    int attempts = 0;
    struct visits_result res;
    for (;;) {
        size_t i0 = 0, i1;
        while (i0 < st->n_fix && st->fix[i0].t_ms < from)
            i0++;
        i1 = i0;
        while (i1 < st->n_fix && st->fix[i1].t_ms <= to)
            i1++;
        bool at_end = i1 == st->n_fix;
        assert_int_equal(visits_compute(idx, st->fix + i0, i1 - i0, prm, &res), ERR_OK);
        attempts++;
        if (visits_settled(prm, &res, b, at_end, to, st->v, st->n_v, &upto))
            break;
        to = visits_widen(prm, from, to);
        visits_result_free(&res);
    }
    /* delete visits with from <= enter <= upto, insert the fresh ones */
    size_t k = 0;
    for (size_t i = 0; i < st->n_v; i++)
        if (st->v[i].enter_ms < from || st->v[i].enter_ms > upto)
            st->v[k++] = st->v[i];
    st->n_v = k;
    if (st->n_v + res.n > st->cap_v) {
        st->cap_v = (st->n_v + res.n) * 2;
        st->v = realloc(st->v, st->cap_v * sizeof(*st->v));
    }
    for (size_t i = 0; i < res.n; i++) {
        assert_true(res.visits[i].enter_ms >= from && res.visits[i].enter_ms <= upto);
        st->v[st->n_v++] = res.visits[i];
    }
    visits_result_free(&res);
    return attempts;
}

static int cmp_visit(const void *pa, const void *pb)
{
    const struct visit *a = pa, *b = pb;
    if (a->enter_ms != b->enter_ms)
        return (a->enter_ms > b->enter_ms) - (a->enter_ms < b->enter_ms);
    return (a->point_id > b->point_id) - (a->point_id < b->point_id);
}

static bool visit_equal(const struct visit *a, const struct visit *b)
{
    return a->point_id == b->point_id && a->enter_ms == b->enter_ms && a->exit_ms == b->exit_ms &&
           a->open == b->open && a->dwell_s == b->dwell_s && a->min_dist_m == b->min_dist_m;
}

/* The store holds exactly what one sorted pass over its fixes gives. */
static bool store_consistent(struct store *st, const struct pointindex *idx,
                             const struct visits_params *prm)
{
    struct visits_result now = compute(idx, st->fix, st->n_fix, prm);
    if (st->n_v > 1)
        qsort(st->v, st->n_v, sizeof(*st->v), cmp_visit);
    bool same = now.n == st->n_v;
    for (size_t k = 0; same && k < now.n; k++)
        same = visit_equal(&st->v[k], &now.visits[k]);
    visits_result_free(&now);
    return same;
}

/* A random track wandering among points: drives, stops, drifts, sparse stretches, gaps. */
static size_t random_track(uint64_t *s, struct fix *f, size_t max, const struct visits_point *pts,
                           size_t np)
{
    size_t n = 0;
    int64_t t = T0 + (int64_t)rng_range(s, 0, 86400000);
    double x = rng_range(s, -400, 400), y = rng_range(s, -400, 400);
    size_t want = 50 + (size_t)rng_range(s, 0, (double)(max - 50));
    while (n < want) {
        /* pick a target: a point (to visit it) or anywhere */
        double tx, ty;
        struct localmetric m;
        localmetric_init(&m, LON0, LAT0);
        if (np > 0 && rng_unit(s) < 0.7) {
            const struct visits_point *p = &pts[(size_t)rng_range(s, 0, (double)np)];
            double off = rng_unit(s) < 0.3 ? p->radius_m + rng_range(s, 0, p->hysteresis_m)
                                           : rng_range(s, 0, 1.5) * p->radius_m;
            double ang = rng_range(s, 0, 2 * M_PI);
            tx = (p->lon - LON0) * m.kx0 + off * cos(ang);
            ty = (p->lat - LAT0) * m.ky0 + off * sin(ang);
        } else {
            tx = rng_range(s, -500, 500);
            ty = rng_range(s, -500, 500);
        }
        double speed = rng_range(s, 2, 20);
        double step_s = rng_unit(s) < 0.3 ? rng_range(s, 5, 40) : 1.0 + rng_range(s, 0, 1);
        while (n < want) {
            double dx = tx - x, dy = ty - y, d = sqrt(dx * dx + dy * dy);
            double adv = speed * step_s;
            if (d <= adv) {
                x = tx;
                y = ty;
            } else {
                x += dx / d * adv;
                y += dy / d * adv;
            }
            double dt_ms = step_s * 1000.0;
            if (rng_unit(s) < 0.02)
                dt_ms += rng_range(s, 60000, 400000); /* a gap, maybe longer than max_gap */
            t += (int64_t)dt_ms + (int64_t)rng_range(s, 1, 999);
            struct fix fx = at_xy(t, x + rng_range(s, -6, 6), y + rng_range(s, -6, 6));
            if (rng_unit(s) < 0.05)
                fx.flags = 1u << (int)rng_range(s, 0, 4); /* outliers */
            f[n++] = fx;
            if (d <= adv) {
                /* stay a while at the target with drift */
                int stay =
                    rng_unit(s) < 0.1 ? (int)rng_range(s, 300, 900) : (int)rng_range(s, 0, 120);
                for (int k = 0; k < stay && n < want; k++) {
                    t += 1000 + (int64_t)rng_range(s, 0, 2000);
                    f[n++] = at_xy(t, x + rng_range(s, -8, 8), y + rng_range(s, -8, 8));
                }
                break;
            }
        }
    }
    return n;
}

static void test_late_batches_property(void **state)
{
    (void)state;
    uint64_t s = seed0 ^ 4;
    enum { CASES = 240, MAXF = 2500 };
    struct fix *f = malloc(MAXF * sizeof(*f));
    struct fix *perm = malloc(2 * MAXF * sizeof(*perm));
    size_t total_visits = 0, total_batches = 0, widened = 0, merges_possible = 0;
    for (int c = 0; c < CASES; c++) {
        size_t np = 1 + (size_t)rng_range(&s, 0, 6);
        struct visits_point pts[8];
        for (size_t i = 0; i < np; i++)
            pts[i] = pt((int64_t)i + 100, rng_range(&s, -300, 300), rng_range(&s, -300, 300),
                        rng_range(&s, 5, 100), rng_range(&s, 0, 15));
        struct pointindex *idx = index_of(pts, np);
        struct visits_params prm;
        visits_params_default(&prm);
        prm.max_gap_s = rng_range(&s, 20, 150);
        prm.merge_gap_s = rng_unit(&s) < 0.2 ? 0.0 : rng_range(&s, 1, 120);
        merges_possible += prm.merge_gap_s > prm.max_gap_s;
        size_t n = random_track(&s, f, MAXF, pts, np);

        struct visits_result truth = compute(idx, f, n, &prm);
        total_visits += truth.n;

        /* a permutation: shuffled, or in time order with delayed chunks (dead zones),
         * plus re-sent duplicates */
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            perm[m++] = f[i];
        int mode = (int)rng_range(&s, 0, 3);
        if (mode == 0) {
            for (size_t i = m; i > 1; i--) {
                size_t j = (size_t)rng_range(&s, 0, (double)i);
                struct fix tmp = perm[i - 1];
                perm[i - 1] = perm[j];
                perm[j] = tmp;
            }
        } else if (mode == 1) {
            /* move a few contiguous chunks to the end (uploaded late, in order) */
            for (int k = 0; k < 3; k++) {
                size_t a = (size_t)rng_range(&s, 0, (double)m);
                size_t len = (size_t)rng_range(&s, 1, 200);
                if (a + len > m)
                    len = m - a;
                struct fix *tmp = malloc(len * sizeof(*tmp) + 1);
                memcpy(tmp, perm + a, len * sizeof(*tmp));
                memmove(perm + a, perm + a + len, (m - a - len) * sizeof(*perm));
                memcpy(perm + m - len, tmp, len * sizeof(*tmp));
                free(tmp);
            }
        } /* mode 2: time order (the live stream) */
        size_t dups = (size_t)rng_range(&s, 0, 30);
        for (size_t k = 0; k < dups; k++)
            perm[m++] = f[(size_t)rng_range(&s, 0, (double)n)];

        struct store st = { 0 };
        size_t i = 0;
        while (i < m) {
            size_t nb = 1 + (size_t)rng_range(&s, 0, rng_unit(&s) < 0.5 ? 10 : 300);
            if (i + nb > m)
                nb = m - i;
            /* a batch's own order does not matter to the server: it sorts nothing */
            int attempts = process_batch(&st, idx, &prm, perm + i, nb);
            widened += attempts > 1;
            total_batches++;
            i += nb;
            /* after every batch the store equals one sorted pass over what it holds */
            if (!store_consistent(&st, idx, &prm))
                fail_msg("case %d, after %zu of %zu fixes: stored visits differ", c, i, m);
        }
        assert_int_equal(st.n_fix, n);
        if (st.n_v > 1)
            qsort(st.v, st.n_v, sizeof(*st.v), cmp_visit);
        if (st.n_v != truth.n)
            fail_msg("case %d (seed %" PRIu64 "): %zu stored visits, %zu expected", c, seed0,
                     st.n_v, truth.n);
        for (size_t k = 0; k < truth.n; k++) {
            if (!visit_equal(&st.v[k], &truth.visits[k]))
                fail_msg("case %d visit %zu: point %" PRId64 " %" PRId64 "..%" PRId64
                         " vs point %" PRId64 " %" PRId64 "..%" PRId64,
                         c, k, st.v[k].point_id, st.v[k].enter_ms, st.v[k].exit_ms,
                         truth.visits[k].point_id, truth.visits[k].enter_ms,
                         truth.visits[k].exit_ms);
        }
        /* re-sending everything changes nothing */
        process_batch(&st, idx, &prm, f, n);
        assert_int_equal(st.n_v, truth.n);

        visits_result_free(&truth);
        free(st.fix);
        free(st.v);
        pointindex_free(idx);
    }
    printf("late batches: %d random tracks, %zu visits, %zu batches (%zu needed a wider span, "
           "%zu cases with merge_gap > max_gap): all equal to one sorted batch\n",
           CASES, total_visits, total_batches, widened, merges_possible);
    free(f);
    free(perm);
}

/*
 * Why the end of a recomputation depends on the fixes: parked 55 m from a point (r 50, h 15),
 * in its hysteresis band, for 20 minutes: no visit. One late fix at 40 m at minute 5 starts a
 * visit that lasts as long as the car stays in the band, far beyond any fixed margin.
 */
static void test_late_fix_extends_visit(void **state)
{
    (void)state;
    struct visits_point p = pt(1, 0, 0, 50, 15);
    struct pointindex *idx = index_of(&p, 1);
    struct visits_params prm;
    visits_params_default(&prm);
    struct store st = { 0 };
    enum { N = 1200 };
    struct fix *f = malloc(N * sizeof(*f));
    for (int i = 0; i < N; i++)
        f[i] = at_xy(T0 + i * 1000, 55.0, (i % 2) ? 1.0 : -1.0);
    process_batch(&st, idx, &prm, f, N);
    assert_int_equal(st.n_v, 0);
    struct fix late = at_xy(T0 + 300500, 40.0, 0.0);
    int attempts = process_batch(&st, idx, &prm, &late, 1);
    assert_int_equal(st.n_v, 1);
    assert_true(st.v[0].open);
    assert_int_equal(st.v[0].exit_ms, T0 + (N - 1) * 1000);
    printf("late fix in the band: one visit to the end of the data after %d attempts\n", attempts);
    assert_true(attempts > 1);
    assert_true(store_consistent(&st, idx, &prm));
    free(f);
    free(st.fix);
    free(st.v);
    pointindex_free(idx);
}

/*
 * Why stored visits set the end too: inside (30 m) for 100 s, then in the band (55 m) with a
 * second stay inside at 800..900 s, leaving at 1000 s: one visit. Late fixes at 150..160 s show
 * the car 500 m away: the visit splits in two, and the second part (800..1000 s) lies far
 * beyond the span the new fixes alone would ask for; the stored visit carries `to` past it.
 */
static void test_late_fixes_split_visit(void **state)
{
    (void)state;
    struct visits_point p = pt(1, 0, 0, 50, 15);
    struct pointindex *idx = index_of(&p, 1);
    struct visits_params prm;
    visits_params_default(&prm);
    struct store st = { 0 };
    enum { N = 1200 };
    struct fix *f = malloc(N * sizeof(*f));
    for (int i = 0; i < N; i++)
        f[i] = at_xy(T0 + i * 1000, (i < 100 || (i >= 800 && i < 900)) ? 30.0 : 55.0, 0.0);
    for (int i = 1000; i < N; i++)
        f[i] = at_xy(T0 + i * 1000, 400.0, 0.0);
    process_batch(&st, idx, &prm, f, N);
    assert_int_equal(st.n_v, 1);
    struct fix away[11];
    for (int i = 0; i < 11; i++)
        away[i] = at_xy(T0 + 150500 + i * 1000, 500.0, 0.0);
    process_batch(&st, idx, &prm, away, 11);
    assert_true(store_consistent(&st, idx, &prm));
    assert_int_equal(st.n_v, 2);
    assert_true(st.v[1].enter_ms >= T0 + 799000 && !st.v[1].open);
    free(f);
    free(st.fix);
    free(st.v);
    pointindex_free(idx);
}

/* The span rule in isolation: from lies before the new fixes and every chained visit. */
static void test_affected_span(void **state)
{
    (void)state;
    struct visits_params prm;
    visits_params_default(&prm);
    int64_t from, to;
    visits_affected_span(&prm, T0, T0 + 1000, NULL, 0, &from, &to);
    assert_int_equal(from, T0 - 240001);
    assert_true(to > T0 + 1000 + 240000);
    /* a visit ending 100 s before new_from: inside the lead-in, so from goes before it; and a
     * visit chained to it 150 s earlier (< max_gap + merge_gap apart) too */
    struct visit old[2] = { { 0, 1, T0 - 400000, T0 - 350000, 50, 3, false },
                            { 0, 1, T0 - 200000, T0 - 100000, 100, 3, false } };
    visits_affected_span(&prm, T0, T0 + 1000, old, 2, &from, &to);
    assert_int_equal(from, T0 - 400000 - 120001);
    /* an open visit after the new fixes: up to the end of the data */
    struct visit open = { 0, 1, T0 + 5000, T0 + 9000, 4, 3, true };
    visits_affected_span(&prm, T0, T0 + 1000, &open, 1, &from, &to);
    assert_int_equal(to, INT64_MAX);
}

int main(void)
{
    const char *env = getenv("PATROLGIS_SEED");
    if (env != NULL && *env != '\0')
        seed0 = strtoull(env, NULL, 10);
    printf("test_visits: seed %" PRIu64 " (set PATROLGIS_SEED to replay)\n", seed0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_vs_geodesic),
        cmocka_unit_test(test_pass_through_interpolated),
        cmocka_unit_test(test_drive_by_sparse),
        cmocka_unit_test(test_edge_drift_no_flap),
        cmocka_unit_test(test_merge_and_gap),
        cmocka_unit_test(test_outliers_ignored),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_index_complete),
        cmocka_unit_test(test_affected_span),
        cmocka_unit_test(test_late_fix_extends_visit),
        cmocka_unit_test(test_late_fixes_split_visit),
        cmocka_unit_test(test_late_batches_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

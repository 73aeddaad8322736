/*
 * test_ingest_fix.c - the per-fix checks (reject reasons, flags, CRS conversion), fix-time and
 * number parsing, and the impossible-speed filter: spikes, steps, track ends, and the property
 * that matters for late and shuffled batches: updating only the window around each batch's
 * new fixes (as ingest.c does against the database) gives the same flags as recomputing the
 * whole track, for random tracks in any arrival order and any split into batches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "geoctx.h"
#include "ingest_fix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEED 20261128u

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static double rng_uniform(double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next() >> 11) / 9007199254740992.0);
}

static size_t rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

static const struct ingest_limits limits = { 100, 200, 0 };
static const int64_t NOW = INT64_C(1795820700000); /* 2026-11-28T07:05:00+08:00 */

/* ---- parsing ---- */

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int epoch;
        int64_t ms;
    } ok[] = {
        { "2026-11-28T07:05:00+08:00", 0, INT64_C(1795820700000) },
        { "2026-11-28T07:05:00+0800", 0, INT64_C(1795820700000) },
        { "2026-11-28 07:05:00+08", 0, INT64_C(1795820700000) },
        { "2026-11-27T23:05:00Z", 0, INT64_C(1795820700000) },
        { "2026-11-27t23:05:00z", 0, INT64_C(1795820700000) },
        { "2024-02-29T23:59:59.123Z", 0, INT64_C(1709251199123) },
        { "2024-02-29T23:59:59.1234567Z", 0, INT64_C(1709251199123) },
        { "2024-02-29T23:59:59,5Z", 0, INT64_C(1709251199500) },
        { "2000-01-01T00:00Z", 0, INT64_C(946684800000) },
        { "2014-09-10T06:54:07+02:00", 0, INT64_C(1410324847000) },
        { "1795820700", 1, INT64_C(1795820700000) },
        { "1795820700000", 1, INT64_C(1795820700000) },
        { "1795820700.25", 1, INT64_C(1795820700250) },
        { "2147483646", 1, INT64_C(2147483646000) },
        { "2147483647", 1, INT64_C(2147483647) }, /* from 2^31-1 on: milliseconds */
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t ms = 0;
        if (ingest_parse_time(ok[i].s, ok[i].epoch, INGEST_ZONE_REQUIRED, &ms) != 0)
            fail_msg("%s did not parse", ok[i].s);
        if (ms != ok[i].ms)
            fail_msg("%s: %lld, expected %lld", ok[i].s, (long long)ms, (long long)ok[i].ms);
    }
    static const char *const bad[] = {
        "",
        "2026-11-28",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "garbage",
        "2026-11-28T24:00:00Z",
        "2026-11-28T07:05:00+24:00",
        "1e9",
        "-5",
        "2026-11-28T07:05:00 Z",
        "2026-11-28T07:05:00+08:00x",
        "12.",
        "0x10",
        "2026-11-28T07:05:00.Z",
        "1969-12-31T23:59:59Z",
        "99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        if (ingest_parse_time(bad[i], 1, INGEST_ZONE_REQUIRED, &ms) == 0)
            fail_msg("'%s' parsed as %lld", bad[i], (long long)ms);
    }
    int64_t ms;
    /* Without a zone: refused, UTC or local time as asked. */
    assert_int_equal(ingest_parse_time("2026-11-27T23:05:00", 0, INGEST_ZONE_REQUIRED, &ms), -1);
    assert_int_equal(ingest_parse_time("2026-11-27T23:05:00", 0, INGEST_ZONE_UTC, &ms), 0);
    assert_true(ms == INT64_C(1795820700000));
    setenv("TZ", "Asia/Shanghai", 1);
    tzset();
    assert_int_equal(ingest_parse_time("2026-11-28 07:05:00", 0, INGEST_ZONE_LOCAL, &ms), 0);
    assert_true(ms == INT64_C(1795820700000));
    /* A leap second is the last millisecond of its minute. */
    assert_int_equal(ingest_parse_time("2016-12-31T23:59:60Z", 0, INGEST_ZONE_REQUIRED, &ms), 0);
    assert_true(ms == INT64_C(1483228799999));
}

/* ---- checks ---- */

static struct ingest_fix fix(int64_t t, double lon, double lat)
{
    struct ingest_fix f;
    ingest_fix_init(&f);
    f.t_ms = t;
    f.lon = lon;
    f.lat = lat;
    return f;
}

static void test_check_rejects(void **state)
{
    (void)state;
    struct ingest_fix f[16];
    size_t n = 0;
    f[n++] = fix(NOW, 112.9, 27.9);                        /* 0 good */
    f[n++] = fix(INGEST_NO_TIME, 112.9, 27.9);             /* 1 no time */
    f[n++] = fix(INT64_C(915148800000), 112.9, 27.9);      /* 2 1999 */
    f[n++] = fix(NOW + INGEST_FUTURE_MS + 1, 112.9, 27.9); /* 3 future */
    f[n++] = fix(NOW + INGEST_FUTURE_MS, 112.9, 27.9);     /* 4 just in time: accepted */
    f[n++] = fix(NOW, NAN, 27.9);                          /* 5 not finite */
    f[n++] = fix(NOW, 181, 27.9);                          /* 6 out of range */
    f[n++] = fix(NOW, 112.9, -90.5);                       /* 7 out of range */
    f[n++] = fix(NOW, INFINITY, 0);                        /* 8 */
    f[n] = fix(NOW, 112.9, 27.9);                          /* 9 negative speed */
    f[n++].speed_kmh = -1;
    f[n] = fix(NOW, 112.9, 27.9); /* 10 heading 400 */
    f[n++].heading = 400;
    f[n] = fix(NOW, 112.9, 27.9); /* 11 altitude inf */
    f[n++].altitude_m = INFINITY;
    struct ingest_verdict v[16];
    size_t ok = ingest_check(f, n, CRS_WGS84, NOW, &limits, v);
    assert_int_equal(ok, 2);
    assert_null(v[0].reject);
    assert_null(v[4].reject);
    assert_string_equal(v[1].reject, "the fix has no time");
    assert_string_equal(v[2].reject, "the fix time is before 2000-01-01");
    assert_string_equal(v[3].reject, "the fix time is more than 5 minutes in the future");
    for (size_t i = 5; i < n; i++)
        assert_non_null(v[i].reject);
    assert_string_equal(v[6].reject, "lon must be within -180..180 and lat within -90..90");

    /* Retention: older than the limit is rejected when a limit is set. */
    struct ingest_limits lim = { 100, 200, 30 };
    f[0] = fix(NOW - INT64_C(31) * 86400000, 112.9, 27.9);
    f[1] = fix(NOW - INT64_C(29) * 86400000, 112.9, 27.9);
    assert_int_equal(ingest_check(f, 2, CRS_WGS84, NOW, &lim, v), 1);
    assert_string_equal(v[0].reject, "the fix time is older than the retention period");
}

static void test_check_flags_and_crs(void **state)
{
    (void)state;
    struct ingest_fix f[5];
    f[0] = fix(NOW, 112.9, 27.9);
    f[0].accuracy_m = 150;                  /* poor */
    f[1] = fix(NOW, 0.0000001, -0.0000005); /* null island */
    f[2] = fix(NOW, 112.9, 27.9);
    f[2].valid = 0;
    f[3] = fix(NOW, 112.9, 27.9);
    f[3].accuracy_m = 100; /* at the limit: fine */
    f[3].valid = 1;
    f[4] = fix(NOW, 0.5, 0);
    struct ingest_verdict v[5];
    assert_int_equal(ingest_check(f, 5, CRS_WGS84, NOW, &limits, v), 5);
    assert_int_equal(v[0].flags, INGEST_FLAG_ACCURACY);
    assert_int_equal(v[1].flags, INGEST_FLAG_ZERO);
    assert_int_equal(v[2].flags, INGEST_FLAG_INVALID);
    assert_int_equal(v[3].flags, 0);
    assert_int_equal(v[4].flags, 0);

    /* GCJ-02 in, WGS84 out: the forward offset of the stored position gives the input back. */
    struct ingest_fix g = fix(NOW, 112.9, 27.9);
    assert_int_equal(ingest_check(&g, 1, CRS_GCJ02, NOW, &limits, v), 1);
    assert_true(fabs(g.lon - 112.9) > 1e-4); /* it moved (hundreds of metres) */
    double glon, glat;
    crs_gcj02_forward(g.lon, g.lat, &glon, &glat);
    assert_true(fabs(glon - 112.9) < 1e-7 && fabs(glat - 27.9) < 1e-7);

    /* CGCS2000 is within centimetres of WGS84. */
    struct ingest_fix c = fix(NOW, 112.9, 27.9);
    assert_int_equal(ingest_check(&c, 1, CRS_CGCS2000, NOW, &limits, v), 1);
    assert_true(fabs(c.lon - 112.9) < 1e-6 && fabs(c.lat - 27.9) < 1e-6);
    geoctx_release();
}

/* ---- the speed filter ---- */

/* A point d metres north of (lon0, lat0) at second s. */
static struct ingest_pt pt(int64_t s, double north_m, int flags)
{
    struct ingest_pt p = {
        .t_ms = s * 1000, .lon = 11.5, .lat = 48.1 + north_m / 111200.0, .flags = flags
    };
    return p;
}

static int speed_bits(const struct ingest_pt *p, size_t n, char *out)
{
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = (p[i].new_flags & INGEST_FLAG_SPEED) ? 'X' : '.';
        count += out[i] == 'X';
    }
    out[n] = '\0';
    return count;
}

static void test_speed_spike_step_ends(void **state)
{
    (void)state;
    char bits[32];
    /* 10 m/s (36 km/h) with one spike 2 km away at t=3 */
    struct ingest_pt a[6] = { pt(0, 0, 0),    pt(1, 10, 0), pt(2, 20, 0),
                              pt(3, 2000, 0), pt(4, 40, 0), pt(5, 50, 0) };
    ingest_speed_flags(a, 6, 200);
    speed_bits(a, 6, bits);
    assert_string_equal(bits, "...X..");

    /* A step (GPS frozen, then a 470 m jump in 1 s, then moving on from there) */
    struct ingest_pt b[6] = { pt(0, 0, 0),   pt(1, 0, 0),   pt(2, 0, 0),
                              pt(3, 470, 0), pt(4, 485, 0), pt(5, 500, 0) };
    ingest_speed_flags(b, 6, 200);
    speed_bits(b, 6, bits);
    assert_string_equal(bits, "...X..");

    /* At the ends the single neighbour decides */
    struct ingest_pt c[4] = { pt(0, -3000, 0), pt(1, 0, 0), pt(2, 10, 0), pt(3, 5000, 0) };
    ingest_speed_flags(c, 4, 200);
    speed_bits(c, 4, bits);
    assert_string_equal(bits, "X..X");

    /* Two fixes, impossible: both flagged; one fix alone: never */
    struct ingest_pt d[2] = { pt(0, 0, 0), pt(1, 1000, 0) };
    ingest_speed_flags(d, 2, 200);
    speed_bits(d, 2, bits);
    assert_string_equal(bits, "XX");
    ingest_speed_flags(d, 1, 200);
    assert_int_equal(d[0].new_flags, 0);

    /* Points with other flags are not neighbours and keep their flags; a stale speed bit
     * on a point that is no longer an outlier is cleared. */
    struct ingest_pt e[5] = { pt(0, 0, 0), pt(1, 3000, INGEST_FLAG_ACCURACY), pt(2, 20, 0),
                              pt(3, 30, INGEST_FLAG_SPEED), pt(4, 40, 0) };
    ingest_speed_flags(e, 5, 200);
    assert_int_equal(e[1].new_flags, INGEST_FLAG_ACCURACY);
    speed_bits(e, 5, bits);
    assert_string_equal(bits, ".....");

    /* Just under and just over the limit: 55 m/s = 198 km/h, 56 m/s = 201.6 km/h */
    struct ingest_pt f[3] = { pt(0, 0, 0), pt(1, 55, 0), pt(2, 110, 0) };
    ingest_speed_flags(f, 3, 200);
    assert_int_equal(speed_bits(f, 3, bits), 0);
    struct ingest_pt g[3] = { pt(0, 0, 0), pt(1, 56.5, 0), pt(2, 57, 0) };
    ingest_speed_flags(g, 3, 200);
    speed_bits(g, 3, bits);
    assert_string_equal(bits, "X.."); /* the first fix is the odd one out */
}

static void test_clusters(void **state)
{
    (void)state;
    int64_t t[] = { 0, 1000, 61000, 200000, 200500, 900000 };
    int64_t lo[6], hi[6];
    size_t n = ingest_clusters(t, 6, lo, hi);
    assert_int_equal(n, 3);
    assert_true(lo[0] == 0 && hi[0] == 61000);
    assert_true(lo[1] == 200000 && hi[1] == 200500);
    assert_true(lo[2] == 900000 && hi[2] == 900000);
    assert_int_equal(ingest_clusters(t, 0, lo, hi), 0);
}

/* ---- windowed updates equal a full recomputation (the property of late batches) ---- */

struct store {
    struct ingest_pt *p;
    size_t n;
};

static int cmp_pt(const void *a, const void *b)
{
    const struct ingest_pt *x = a, *y = b;
    return x->t_ms < y->t_ms ? -1 : x->t_ms > y->t_ms;
}

static int cmp_t(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int candidate(const struct ingest_pt *p)
{
    return (p->flags & ~INGEST_FLAG_SPEED) == 0;
}

/* What ingest.c's window query returns: the stored rows inside each cluster and up to
 * INGEST_WINDOW_CANDIDATES candidates before and after each. */
static size_t load_window(const struct store *s, const int64_t *lo, const int64_t *hi, size_t ncl,
                          struct ingest_pt *w)
{
    unsigned char *take = calloc(s->n ? s->n : 1, 1);
    size_t n = 0;
    for (size_t k = 0; k < ncl; k++) {
        size_t first = 0;
        while (first < s->n && s->p[first].t_ms < lo[k])
            first++;
        size_t i = first;
        for (; i < s->n && s->p[i].t_ms <= hi[k]; i++)
            take[i] = 1;
        int seen = 0;
        for (size_t j = first; j-- > 0 && seen < INGEST_WINDOW_CANDIDATES;)
            if (candidate(&s->p[j])) {
                take[j] = 1;
                seen++;
            }
        seen = 0;
        for (; i < s->n && seen < INGEST_WINDOW_CANDIDATES; i++)
            if (candidate(&s->p[i])) {
                take[i] = 1;
                seen++;
            }
    }
    for (size_t i = 0; i < s->n; i++)
        if (take[i])
            w[n++] = s->p[i];
    free(take);
    return n;
}

/* ingest_batch's flag logic against an in-memory store. */
static void store_batch(struct store *s, const struct ingest_pt *batch, size_t nb, double max_kmh)
{
    int64_t *fresh = malloc(nb * sizeof(*fresh)), *lo = malloc(nb * sizeof(*lo)),
            *hi = malloc(nb * sizeof(*hi));
    size_t nf = 0;
    for (size_t i = 0; i < nb; i++) {
        int dup = 0;
        for (size_t j = 0; j < s->n && !dup; j++)
            dup = s->p[j].t_ms == batch[i].t_ms;
        if (dup)
            continue;
        s->p[s->n] = batch[i];
        s->p[s->n].flags &= ~INGEST_FLAG_SPEED; /* stored with the per-fix flags only */
        s->n++;
        fresh[nf++] = batch[i].t_ms;
    }
    qsort(s->p, s->n, sizeof(*s->p), cmp_pt);
    qsort(fresh, nf, sizeof(*fresh), cmp_t);
    size_t ncl = ingest_clusters(fresh, nf, lo, hi);
    struct ingest_pt *w = malloc((s->n ? s->n : 1) * sizeof(*w));
    size_t nw = load_window(s, lo, hi, ncl, w);
    ingest_speed_flags(w, nw, max_kmh);
    ingest_affected(w, nw, lo, hi, ncl);
    for (size_t i = 0; i < nw; i++) {
        if (!w[i].affected || w[i].new_flags == w[i].flags)
            continue;
        for (size_t j = 0; j < s->n; j++)
            if (s->p[j].t_ms == w[i].t_ms)
                s->p[j].flags = w[i].new_flags;
    }
    free(w);
    free(fresh);
    free(lo);
    free(hi);
}

/* A random drive: speeds 0..90 km/h, 1..40 s apart, with spikes, steps, stops, and fixes
 * flagged for other reasons. */
static size_t random_track(struct ingest_pt *p, size_t n)
{
    double north = 0, east = 0;
    int64_t t = 1000000;
    for (size_t i = 0; i < n; i++) {
        t += 1000 * (int64_t)(1 + rng_below(rng_below(4) == 0 ? 40 : 3));
        double r = rng_uniform(0, 1);
        if (r < 0.05) { /* a step: the track jumps and goes on from there */
            north += rng_uniform(-3000, 3000);
            east += rng_uniform(-3000, 3000);
        } else if (r > 0.2) {
            north += rng_uniform(-25, 25);
            east += rng_uniform(-25, 25);
        }
        double dn = north, de = east;
        if (rng_uniform(0, 1) < 0.07) { /* a spike: this fix alone is far off */
            dn += rng_uniform(-5000, 5000);
            de += rng_uniform(-5000, 5000);
        }
        p[i].t_ms = t;
        p[i].lat = 48.1 + dn / 111200.0;
        p[i].lon = 11.5 + de / 74300.0;
        p[i].flags = rng_uniform(0, 1) < 0.05 ? INGEST_FLAG_ACCURACY : 0;
    }
    return n;
}

static void test_windowed_equals_full(void **state)
{
    (void)state;
    rng_state = SEED;
    print_message("seed %u\n", SEED);
    enum { N = 160, ROUNDS = 300 };
    struct ingest_pt track[N], shuffled[N], full[N], stored[N];
    for (int round = 0; round < ROUNDS; round++) {
        size_t n = random_track(track, 20 + rng_below(N - 20));
        memcpy(full, track, n * sizeof(*full));
        ingest_speed_flags(full, n, 200);

        /* any permutation, any split into batches, some fixes sent twice */
        memcpy(shuffled, track, n * sizeof(*shuffled));
        int mode = round % 3; /* 0 shuffled, 1 sorted, 2 reversed */
        for (size_t i = n; mode == 0 && i > 1; i--) {
            size_t j = rng_below(i);
            struct ingest_pt tmp = shuffled[i - 1];
            shuffled[i - 1] = shuffled[j];
            shuffled[j] = tmp;
        }
        for (size_t i = 0; mode == 2 && i < n / 2; i++) {
            struct ingest_pt tmp = shuffled[i];
            shuffled[i] = shuffled[n - 1 - i];
            shuffled[n - 1 - i] = tmp;
        }
        struct store s = { stored, 0 };
        for (size_t at = 0; at < n;) {
            size_t nb = 1 + rng_below(rng_below(2) ? 3 : 40);
            if (nb > n - at)
                nb = n - at;
            store_batch(&s, shuffled + at, nb, 200);
            if (rng_below(5) == 0)
                store_batch(&s, shuffled + at, nb, 200); /* a re-sent batch */
            at += nb;
        }
        assert_int_equal(s.n, n);
        for (size_t i = 0; i < n; i++) {
            int want = full[i].new_flags;
            if (stored[i].t_ms != full[i].t_ms || stored[i].flags != want)
                fail_msg("round %d (mode %d), fix %zu of %zu: flags %d after batches, %d when "
                         "computed over the whole track",
                         round, mode, i, n, stored[i].flags, want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_check_rejects),
        cmocka_unit_test(test_check_flags_and_crs),
        cmocka_unit_test(test_speed_spike_step_ends),
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_windowed_equals_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * bench_engine - fixes per second of the visit engine (visits_compute) on one core.
 *
 * A town of 10 x 10 km with N patrol points placed at random (radius 30..100 m, hysteresis
 * 10 m) and one car's day at 1 Hz: it drives at 30..60 km/h between random places, stops at
 * some patrol points for 1..5 minutes, with +-3 m of GPS noise. Prints the compiler, flags,
 * CPU, commit and seed, the index build time, and fixes/s (best and median of the runs), and
 * as a reference the same fixes checked point by point without the index (the fix predicate
 * only, on a sample of fixes).
 *
 * Then zones_compute over the same fixes against Z zones (school perimeters and ponds as
 * rectangles of 50..300 m, one river line in 20: GEOS prepared geometries and an STRtree).
 *
 * Usage: bench_engine [--points N] [--fixes N] [--zones N] [--runs N] [--seed N]
 * Defaults: 10000 points, 100000 fixes, 1000 zones, 5 runs, seed 20240917. Not a test: the ctest
 * entry (label bench) only smoke-runs it with tiny sizes.
 */
#include "geoctx.h"
#include "visits.h"
#include "zones.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_FLAGS
#define BENCH_FLAGS "?"
#endif
#ifndef BENCH_COMMIT
#define BENCH_COMMIT "?"
#endif

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

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c != NULL) {
                c += 1 + (c[1] == ' ');
                c[strcspn(c, "\n")] = '\0';
                snprintf(buf, cap, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool arg_u64(int argc, char **argv, int *i, const char *name, uint64_t *out)
{
    if (strcmp(argv[*i], name) != 0)
        return false;
    if (*i + 1 >= argc) {
        fprintf(stderr, "bench_engine: %s needs a value\n", name);
        exit(2);
    }
    char *end;
    *out = strtoull(argv[++*i], &end, 10);
    if (*end != '\0') {
        fprintf(stderr, "bench_engine: bad value for %s\n", name);
        exit(2);
    }
    return true;
}

int main(int argc, char **argv)
{
    uint64_t np = 10000, nf = 100000, nz = 1000, runs = 5, seed = 20240917;
    for (int i = 1; i < argc; i++) {
        if (!arg_u64(argc, argv, &i, "--points", &np) && !arg_u64(argc, argv, &i, "--fixes", &nf) &&
            !arg_u64(argc, argv, &i, "--zones", &nz) && !arg_u64(argc, argv, &i, "--runs", &runs) &&
            !arg_u64(argc, argv, &i, "--seed", &seed)) {
            fprintf(stderr, "usage: bench_engine [--points N] [--fixes N] [--zones N] [--runs N] "
                            "[--seed N]\n");
            return 2;
        }
    }
    if (np == 0 || nf == 0 || runs == 0 || np > 10000000 || nf > 100000000 || nz > 1000000) {
        fprintf(stderr, "bench_engine: sizes out of range\n");
        return 2;
    }
    char cpu[256];
    cpu_model(cpu, sizeof(cpu));
    printf("bench_engine: visits_compute, one core\n");
    printf("compiler: %s\nflags: %s\ncpu: %s\ncommit: %s\nseed: %" PRIu64 "\n", __VERSION__,
           BENCH_FLAGS, cpu, BENCH_COMMIT, seed);

    const double lon0 = 112.9388, lat0 = 28.2282; /* a town near Changsha */
    struct localmetric m;
    localmetric_init(&m, lon0, lat0);
    uint64_t s = seed;
    struct visits_point *pts = malloc(np * sizeof(*pts));
    struct fix *f = malloc(nf * sizeof(*f));
    if (pts == NULL || f == NULL)
        return 1;
    for (uint64_t i = 0; i < np; i++) {
        double x = rng_range(&s, -5000, 5000), y = rng_range(&s, -5000, 5000);
        pts[i] = (struct visits_point){
            (int64_t)i + 1, lon0 + x / m.kx0, lat0 + y / m.ky0, rng_range(&s, 30, 100), 10, 60
        };
    }

    /* the car's day */
    double x = 0, y = 0;
    int64_t t = 1717200000000;
    uint64_t n = 0;
    while (n < nf) {
        double tx, ty;
        bool stop = rng_range(&s, 0, 1) < 0.3;
        if (stop) {
            const struct visits_point *p = &pts[(size_t)rng_range(&s, 0, (double)np)];
            tx = (p->lon - lon0) * m.kx0;
            ty = (p->lat - lat0) * m.ky0;
        } else {
            tx = rng_range(&s, -5000, 5000);
            ty = rng_range(&s, -5000, 5000);
        }
        double v = rng_range(&s, 30, 60) / 3.6;
        for (;;) {
            double dx = tx - x, dy = ty - y, d = sqrt(dx * dx + dy * dy);
            if (d <= v) {
                x = tx;
                y = ty;
            } else {
                x += dx / d * v;
                y += dy / d * v;
            }
            t += 1000;
            if (n < nf) {
                f[n++] = (struct fix){ t, lon0 + (x + rng_range(&s, -3, 3)) / m.kx0,
                                       lat0 + (y + rng_range(&s, -3, 3)) / m.ky0, 0 };
            }
            if (d <= v || n >= nf)
                break;
        }
        int park = stop ? (int)rng_range(&s, 60, 300) : 0;
        for (int k = 0; k < park && n < nf; k++) {
            t += 1000;
            f[n++] = (struct fix){ t, lon0 + (x + rng_range(&s, -3, 3)) / m.kx0,
                                   lat0 + (y + rng_range(&s, -3, 3)) / m.ky0, 0 };
        }
    }

    double t0 = now_s();
    struct pointindex *idx = NULL;
    if (pointindex_build(pts, np, &idx) != ERR_OK) {
        fprintf(stderr, "bench_engine: index build failed\n");
        return 1;
    }
    double build_s = now_s() - t0;
    printf("points: %" PRIu64 " in 10 x 10 km (radius 30..100 m), index built in %.1f ms\n", np,
           build_s * 1e3);

    struct visits_params prm;
    visits_params_default(&prm);
    double *rate = malloc(runs * sizeof(*rate));
    size_t visits = 0;
    for (uint64_t r = 0; r < runs; r++) {
        struct visits_result res;
        t0 = now_s();
        if (visits_compute(idx, f, nf, &prm, &res) != ERR_OK) {
            fprintf(stderr, "bench_engine: visits_compute failed\n");
            return 1;
        }
        rate[r] = (double)nf / (now_s() - t0);
        visits = res.n;
        visits_result_free(&res);
    }
    qsort(rate, runs, sizeof(*rate), cmp_double);
    printf("fixes: %" PRIu64 " at 1 Hz, %zu visits\n", nf, visits);
    printf("visits_compute: %.0f fixes/s best, %.0f fixes/s median of %" PRIu64 " runs\n",
           rate[runs - 1], rate[runs / 2], runs);

    /* reference: every point checked at every fix (no index, no segments), with the per-point
     * metric precomputed as the engine has it */
    uint64_t sample = nf < 5000 ? nf : 5000;
    volatile size_t hits = 0;
    t0 = now_s();
    for (uint64_t i = 0; i < sample; i++) {
        for (uint64_t k = 0; k < np; k++) {
            const struct pointindex_geo *g = pointindex_geo(idx, k);
            double px, py;
            hits += localmetric_eval(&g->m, f[i].lon, f[i].lat, &px, &py) <= g->r2;
        }
    }
    double brute = (double)sample / (now_s() - t0);
    printf("reference, every point at every fix without the index: %.0f fixes/s "
           "(engine/reference = %.0f; %zu hits in the sample)\n",
           brute, rate[runs / 2] / brute, (size_t)hits);
    printf("target: >= 1000000 fixes/s: %s\n", rate[runs / 2] >= 1e6 ? "met" : "NOT met");

    /* zones */
    struct zone_def *zd = malloc((nz ? nz : 1) * sizeof(*zd));
    char(*wkt)[256] = malloc((nz ? nz : 1) * sizeof(*wkt));
    for (uint64_t i = 0; i < nz; i++) {
        double cx = rng_range(&s, -5000, 5000), cy = rng_range(&s, -5000, 5000);
        double w = rng_range(&s, 50, 300), h = rng_range(&s, 50, 300);
        double x0 = lon0 + (cx - w / 2) / m.kx0, x1 = lon0 + (cx + w / 2) / m.kx0;
        double y0 = lat0 + (cy - h / 2) / m.ky0, y1 = lat0 + (cy + h / 2) / m.ky0;
        if (i % 20 == 19)
            snprintf(wkt[i], sizeof(wkt[i]), "LINESTRING(%.7f %.7f,%.7f %.7f,%.7f %.7f)", x0, y0,
                     x1, y0 + (y1 - y0) / 3, x1 + (x1 - x0), y1);
        else
            snprintf(wkt[i], sizeof(wkt[i]),
                     "POLYGON((%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f))", x0, y0, x1, y0,
                     x1, y1, x0, y1, x0, y0);
        zd[i] = (struct zone_def){
            i % 2 ? "schools" : "waters", (int64_t)i + 1, wkt[i], NULL, 0, -1, -1
        };
    }
    t0 = now_s();
    struct zoneindex *zi = NULL;
    if (zoneindex_build(zd, nz, &zi) != ERR_OK) {
        fprintf(stderr, "bench_engine: zone index build failed\n");
        return 1;
    }
    printf("zones: %" PRIu64 " (rectangles 50..300 m, 1 in 20 a line), index built in %.1f ms\n",
           nz, (now_s() - t0) * 1e3);
    struct zones_params zp;
    zones_params_default(&zp);
    size_t events = 0;
    for (uint64_t r = 0; r < runs; r++) {
        struct zones_result zr;
        t0 = now_s();
        if (zones_compute(zi, f, nf, &zp, &zr) != ERR_OK) {
            fprintf(stderr, "bench_engine: zones_compute failed\n");
            return 1;
        }
        rate[r] = (double)nf / (now_s() - t0);
        events = zr.n_events;
        zones_result_free(&zr);
    }
    qsort(rate, runs, sizeof(*rate), cmp_double);
    printf("zones_compute: %.0f fixes/s best, %.0f fixes/s median (%zu events)\n", rate[runs - 1],
           rate[runs / 2], events);
    zoneindex_free(zi);
    free(wkt);
    free(zd);
    geoctx_release();
    free(rate);
    pointindex_free(idx);
    free(pts);
    free(f);
    return 0;
}

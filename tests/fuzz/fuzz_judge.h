/*
 * fuzz_judge.h - what every ingest fuzz target does with a message its decoder accepted:
 * ingest_check it as the server would (the default limits, a retention, a fixed "now"), so
 * the checks run on whatever the decoder let through, and assert what ingest_fix.h promises
 * of the verdicts: every accepted fix has a sane time (from 2000 on, within the retention,
 * at most INGEST_FUTURE_MS after now), a finite WGS84 longitude in -180..180 and latitude in
 * -90..90, optional numbers that are absent or in their ranges, and exactly the flags its
 * values call for; every rejected one has a reason; the count returned is the accepted count.
 */
#ifndef PATROL_FUZZ_JUDGE_H
#define PATROL_FUZZ_JUDGE_H

#include "arena.h"
#include "ingest_fix.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_NOW_MS INT64_C(1795820700000)

#define FUZZ_JUDGE_CHECK(cond, i, f)                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr,                                                                        \
                    "fuzz_judge: fix %zu accepted but not (%s): t_ms %lld lon %.17g lat %.17g "    \
                    "speed %g heading %g accuracy %g altitude %g hdop %g battery %g valid %d\n",   \
                    i, #cond, (long long)(f)->t_ms, (f)->lon, (f)->lat, (f)->speed_kmh,            \
                    (f)->heading, (f)->accuracy_m, (f)->altitude_m, (f)->hdop, (f)->battery,       \
                    (f)->valid);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static inline void fuzz_judge(struct arena *a, const struct ingest_msg *m)
{
    static const struct ingest_limits lim = { 100, 200, 400 };
    struct ingest_verdict *v = arena_calloc(a, m->n, sizeof(*v));
    if (v == NULL)
        return;
    size_t accepted = ingest_check(m->fixes, m->n, m->crs, FUZZ_NOW_MS, &lim, v);
    size_t count = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct ingest_fix *f = &m->fixes[i];
        if (v[i].reject != NULL) {
            if (v[i].reject[0] == '\0') {
                fprintf(stderr, "fuzz_judge: fix %zu rejected without a reason\n", i);
                abort();
            }
            continue;
        }
        count++;
        FUZZ_JUDGE_CHECK(f->t_ms != INGEST_NO_TIME, i, f);
        FUZZ_JUDGE_CHECK(f->t_ms >= INGEST_MIN_TIME_MS, i, f);
        FUZZ_JUDGE_CHECK(f->t_ms <= FUZZ_NOW_MS + INGEST_FUTURE_MS, i, f);
        FUZZ_JUDGE_CHECK(f->t_ms >= FUZZ_NOW_MS - (int64_t)lim.retention_days * 86400000, i, f);
        FUZZ_JUDGE_CHECK(isfinite(f->lon) && f->lon >= -180 && f->lon <= 180, i, f);
        FUZZ_JUDGE_CHECK(isfinite(f->lat) && f->lat >= -90 && f->lat <= 90, i, f);
        FUZZ_JUDGE_CHECK(isnan(f->speed_kmh) || (isfinite(f->speed_kmh) && f->speed_kmh >= 0), i,
                         f);
        FUZZ_JUDGE_CHECK(isnan(f->heading) || (f->heading >= 0 && f->heading <= 360), i, f);
        FUZZ_JUDGE_CHECK(isnan(f->accuracy_m) || (isfinite(f->accuracy_m) && f->accuracy_m >= 0), i,
                         f);
        FUZZ_JUDGE_CHECK(!isinf(f->altitude_m) && !isinf(f->hdop) && !isinf(f->battery), i, f);
        FUZZ_JUDGE_CHECK(f->valid >= -1 && f->valid <= 1, i, f);
        int want = 0;
        if (!isnan(f->accuracy_m) && f->accuracy_m > lim.max_accuracy_m)
            want |= INGEST_FLAG_ACCURACY;
        if (fabs(f->lon) < INGEST_ZERO_DEG && fabs(f->lat) < INGEST_ZERO_DEG)
            want |= INGEST_FLAG_ZERO;
        if (f->valid == 0)
            want |= INGEST_FLAG_INVALID;
        FUZZ_JUDGE_CHECK(v[i].flags == want, i, f);
    }
    if (accepted != count) {
        fprintf(stderr, "fuzz_judge: ingest_check says %zu accepted, the verdicts %zu\n", accepted,
                count);
        abort();
    }
}

#endif

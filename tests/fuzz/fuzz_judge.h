/*
 * fuzz_judge.h - what every ingest fuzz target does with a message its decoder accepted:
 * ingest_check it as the server would (the default limits, a retention, a fixed "now"), so
 * the checks run on whatever the decoder let through.
 */
#ifndef PATROL_FUZZ_JUDGE_H
#define PATROL_FUZZ_JUDGE_H

#include "arena.h"
#include "ingest_fix.h"

#include <stdint.h>

#define FUZZ_NOW_MS INT64_C(1795820700000)

static inline void fuzz_judge(struct arena *a, const struct ingest_msg *m)
{
    static const struct ingest_limits lim = { 100, 200, 400 };
    struct ingest_verdict *v = arena_calloc(a, m->n, sizeof(*v));
    if (v != NULL)
        ingest_check(m->fixes, m->n, m->crs, FUZZ_NOW_MS, &lim, v);
}

#endif

/*
 * span.h - which part of one device's track to recompute when fixes arrive late or shuffled.
 *
 * The visit engine (visits.h) and the zone engine (zones.h) both turn a device's time-ordered
 * fixes into intervals through a state machine that looks at consecutive fixes at most gap_ms
 * apart, then drops intervals shorter than drop_ms and merges intervals closer than merge_ms.
 * When new fixes with times in [new_from, new_to] are added, this module says which span
 * [from, to] of the track to reload and recompute, and which stored intervals the result
 * replaces, so that the stored result equals processing every fix in time order (docs/engine.md,
 * "Late and shuffled fixes").
 *
 * The rule (argued in docs/engine.md; exercised by the property tests):
 *  - start: `from` lies at least 2 gap + 2 drop before new_from, and no stored interval touches
 *    [from - merge, from + gap + drop]. Then the track before the first fix at or after `from`
 *    is unchanged, no stored interval can merge across it, and starting the state machine there
 *    afresh gives what processing everything gives (with drop_ms > 0 any difference is confined
 *    to an interval shorter than drop_ms, which is dropped either way).
 *  - end: the recomputation must end at a fix g later than new_to where neither the fresh
 *    result (no interval open, none ended within merge_ms before g: the engine reports this as
 *    tail_clean) nor the stored one (no stored interval with enter <= g and exit >= g - merge)
 *    carries anything across g. Whether that holds depends on the fixes, so the caller loads,
 *    computes, asks span_settled, and widens `to` until it says yes (or the data ends).
 *  - replace: delete stored intervals with enter in [from, replace_to], insert the fresh ones.
 *
 * What it is not: the engine or the database code. Pure functions on plain arrays.
 */
#ifndef PATROL_SPAN_H
#define PATROL_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The engine's time constants, milliseconds, all >= 0. */
struct span_rules {
    int64_t gap_ms;   /* consecutive fixes further apart are not joined */
    int64_t merge_ms; /* intervals closer than this merge */
    int64_t drop_ms;  /* raw intervals shorter than this are dropped (0: none) */
};

/* A stored interval; open = still going at the end of the data (its exit is then ignored). */
struct span_iv {
    int64_t enter_ms, exit_ms;
    bool open;
};

/* The stored intervals of one device, read through get (so callers keep their own structs). */
struct span_old {
    const void *items; /* borrowed */
    size_t n;
    void (*get)(const void *items, size_t i, struct span_iv *iv);
};

/*
 * The span to reload for new fixes with times in [new_from_ms, new_to_ms] (new_from <= new_to),
 * given the stored intervals `old` of the same device (any order). *to_ms is a first
 * guess (INT64_MAX: up to the end of the data); span_settled has the last word on the end.
 * Pass every stored interval that touches [*from_ms - gap - merge - drop, *to_ms]; when the
 * answer reaches beyond what was passed, pass more and call again.
 */
void span_affected(const struct span_rules *r, int64_t new_from_ms, int64_t new_to_ms,
                   const struct span_old *old, int64_t *from_ms, int64_t *to_ms);

/*
 * Whether a recomputation over the fixes in [from, to] can be stored. last_fix_ms is the time of
 * the last fix the engine used (n_used of them), tail_clean what it reported, at_end whether the
 * device has no fix later than `to`. On true, *replace_to_ms is the end of the span of stored
 * intervals (by enter time, from `from`) that the fresh result replaces; INT64_MAX at the end of
 * the data. On false widen `to` (span_widen) and recompute.
 */
bool span_settled(const struct span_rules *r, int64_t new_to_ms, size_t n_used, int64_t last_fix_ms,
                  bool tail_clean, bool at_end, int64_t to_ms, const struct span_old *old,
                  int64_t *replace_to_ms);

/* A wider `to` for the next attempt (at least doubles the span, saturates at INT64_MAX). */
int64_t span_widen(const struct span_rules *r, int64_t from_ms, int64_t to_ms);

/* a + b, a - b clamped to the int64 range (times near the ends mean "unbounded"). */
int64_t span_add(int64_t a, int64_t b);
int64_t span_sub(int64_t a, int64_t b);

#endif

/*
 * visits.h - visits of one device at patrol points, from its GPS fixes (docs/engine.md).
 *
 * A pure function of (point index, fixes, parameters): no database, no clock, no global state.
 *
 * Semantics:
 *  - Fixes with any of params.ignore_flags set (positions.flags: outliers, poor accuracy, zero
 *    fixes...) are skipped. The others, in time order, form segments between consecutive fixes
 *    at most max_gap_s apart, along which the car moves in a straight line (in lon/lat) at
 *    constant speed.
 *  - A visit of point P starts at the first instant the track comes within radius_m of P: at a
 *    fix, exactly when visits_within(P, fix) holds; inside a segment, where the segment meets
 *    the circle (a drive-by between two sparse fixes counts). It ends at the instant the track
 *    goes beyond radius_m + hysteresis_m. Instants are found on the segment to better than
 *    0.25 ms and rounded to the millisecond.
 *  - A gap longer than max_gap_s ends every visit at the last fix before the gap; after it the
 *    track starts afresh (a visit only if the next fix is within the radius).
 *  - Visits of the same point whose gap (next enter - previous exit) is shorter than
 *    merge_gap_s merge into one.
 *  - dwell_s = exit - enter of the merged visit; min_dist_m = the closest approach of the
 *    interpolated track during the visit. A visit still going at the last fix is open, with
 *    exit = that fix's time.
 *
 * Late and shuffled fixes: see visits_affected_span below; the result of that procedure equals
 * visits_compute over all fixes in time order (tests/unit/test_visits.c, property test).
 *
 * What it is not: check-in rules (checkin.h), zones (zones.h), storage.
 */
#ifndef PATROL_VISITS_H
#define PATROL_VISITS_H

#include "err.h"
#include "pointindex.h"
#include "span.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One GPS fix of one device. */
struct fix {
    int64_t t_ms;    /* fix time, ms since the Unix epoch (UTC) */
    double lon, lat; /* WGS84 degrees */
    unsigned flags;  /* positions.flags */
};

#define VISITS_MAX_GAP_S    120.0
#define VISITS_MERGE_GAP_S  60.0
#define VISITS_IGNORE_FLAGS 0xFFFFFFFFu /* any flag makes a fix an outlier for the engine */

struct visits_params {
    double max_gap_s;      /* > 0 */
    double merge_gap_s;    /* >= 0 */
    unsigned ignore_flags; /* fixes with (flags & ignore_flags) != 0 are skipped */
};

/* The defaults above. */
void visits_params_default(struct visits_params *p);

struct visit {
    int64_t id;        /* database id; 0 in visits_compute's output */
    int64_t point_id;  /* visits_point.id */
    int64_t enter_ms;  /* UTC ms */
    int64_t exit_ms;   /* >= enter_ms; the last fix's time while open */
    double dwell_s;    /* (exit_ms - enter_ms) / 1000 */
    double min_dist_m; /* closest approach during the visit */
    bool open;         /* still inside at the last fix */
};

struct visits_result {
    struct visit *visits; /* new, sorted by (enter_ms, point_id); free with visits_result_free */
    size_t n;
    size_t n_used;        /* fixes used (not ignored) */
    int64_t first_fix_ms; /* first and last used fix (0 when n_used = 0) */
    int64_t last_fix_ms;
    bool tail_clean; /* at the last used fix no visit is open and none ended within merge_gap */
};

/*
 * Visits of one device: n fixes (borrowed) sorted by t_ms, against the points of idx
 * (borrowed, read-only: idx may be shared between threads). Fixes with the same t_ms (fix times
 * that differ below the millisecond) are taken in the order given: sort by the full fix time.
 * Returns ERR_INVALID_ARGUMENT for unsorted times, a non-finite or out-of-range coordinate in a
 * used fix, or bad parameters; ERR_INTERNAL when out of memory. On ERR_OK
 * *out holds new memory (free with visits_result_free); on error *out is empty.
 */
enum err visits_compute(const struct pointindex *idx, const struct fix *fixes, size_t n,
                        const struct visits_params *p, struct visits_result *out);

/* Frees out->visits and empties *out. NULL is a no-op. */
void visits_result_free(struct visits_result *out);

/*
 * Late batches. New fixes of one device were stored, with times in [new_from_ms, new_to_ms]
 * (include any stored fix whose flags changed). `old` holds the device's stored visits (at
 * least those touching [from - 4 min, to]; any order; borrowed). The caller then does:
 *
 *   visits_affected_span(p, a, b, old, n_old, &from, &to);
 *   for (;;) {
 *       load the device's fixes with from <= t <= to (and learn whether any fix is later);
 *       visits_compute(idx, fixes, n, p, &res);
 *       if (visits_settled(p, &res, b, at_end, to, old, n_old, &upto))
 *           break;
 *       to = visits_widen(p, from, to); visits_result_free(&res);
 *   }
 *   in one transaction: delete the device's visits with from <= enter <= upto; insert res.
 *
 * and the stored visits equal visits_compute over all the device's fixes (span.h says why).
 * `from` lies before the new fixes by at least 2 max_gap and before every visit chained to
 * them by gaps shorter than max_gap + merge_gap; `to` is a first guess.
 */
void visits_affected_span(const struct visits_params *p, int64_t new_from_ms, int64_t new_to_ms,
                          const struct visit *old, size_t n_old, int64_t *from_ms, int64_t *to_ms);

/* Whether res (computed over the fixes in [from, to_ms]) may be stored; see above. */
bool visits_settled(const struct visits_params *p, const struct visits_result *res,
                    int64_t new_to_ms, bool at_end, int64_t to_ms, const struct visit *old,
                    size_t n_old, int64_t *replace_to_ms);

/* A wider `to` for the next attempt. */
int64_t visits_widen(const struct visits_params *p, int64_t from_ms, int64_t to_ms);

/* The span rules of these parameters (ms). */
void visits_span_rules(const struct visits_params *p, struct span_rules *r);

#endif

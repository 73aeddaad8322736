/*
 * checkin.h - check-ins of patrol windows and presence at gates (docs/engine.md).
 *
 * Given a patrol point, one of its windows, a local date D, the visits of that point (from any
 * device) and "now", the status of the window on D:
 *  - not_applicable: the window does not apply on D (weekday not in its mask, D outside its
 *    date range (exam days), or the point out of season on D);
 *  - done: at least required_visits distinct visits *qualify* (dwell_s >= min_dwell_s and an
 *    overlap with the window [start, end) of at least min_dwell_s), the earliest of them
 *    starting at or before start + grace_s;
 *  - late: enough qualifying visits, but the earliest starts after start + grace_s;
 *  - missed: not enough qualifying visits and the window has ended (now >= end);
 *  - pending: not enough yet and the window has not ended (it is open, or still to come).
 * A status is a function of the data so far: a late batch can turn missed into done (the
 * caller re-evaluates the windows whose dates the recomputed visits touch).
 *
 * Presence (the "police seen at the gate" figure) is the length of the union of the visits
 * with a period, so two cars there at once count once.
 *
 * Which announcement a stored row's change makes (checkin_missed, checkin_resolved) is decided
 * here too (checkin_event_for); writing it is the caller's.
 *
 * What it is not: the visit engine (visits.h) or storage. Pure functions; time-zone conversion
 * is injected (tzconv.h).
 */
#ifndef PATROL_CHECKIN_H
#define PATROL_CHECKIN_H

#include "err.h"
#include "tzconv.h"
#include "visits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An active season as month * 100 + day, inclusive; may wrap the year end (11-01..02-28). */
struct checkin_season {
    bool all_year;
    int16_t start_mmdd, end_mmdd;
};

/*
 * Parses patrol_points.season_start/season_end ("MM-DD", 02-29 allowed): both NULL is all year.
 * ERR_INVALID_ARGUMENT for one NULL, a malformed value or an impossible day.
 */
enum err checkin_season_parse(const char *start, const char *end, struct checkin_season *out);

/* Whether day number `day` (tzconv.h) falls in the season. */
bool checkin_season_contains(const struct checkin_season *s, int32_t day);

/* The point as check-ins see it. */
struct checkin_point {
    int64_t id;
    int32_t min_dwell_s; /* >= 0 */
    struct checkin_season season;
};

/* A patrol window (docs/data-model.md, patrol_windows). */
struct checkin_window {
    int64_t id;
    int64_t point_id;
    unsigned days;           /* ISO weekday mask: bit 0 = Monday ... bit 6 = Sunday (1..127) */
    int32_t start_s, end_s;  /* local seconds since midnight, 0 <= start < end <= 86400 */
    int32_t required_visits; /* >= 1 */
    int32_t grace_s;         /* >= 0 */
    bool has_dates;          /* date_from..date_to (day numbers, inclusive) apply */
    int32_t date_from, date_to;
};

enum checkin_status {
    CHECKIN_NOT_APPLICABLE,
    CHECKIN_PENDING,
    CHECKIN_DONE,
    CHECKIN_LATE,
    CHECKIN_MISSED,
};

/* "not_applicable", "pending", "done", "late", "missed" (the checkins.status values). */
const char *checkin_status_name(enum checkin_status s);

/* The status named s (as checkin_status_name writes it); false for anything else. */
bool checkin_status_parse(const char *s, enum checkin_status *out);

struct checkin_result {
    enum checkin_status status;
    int64_t window_from_ms, window_to_ms; /* the window on D in UTC ms (0 when not applicable) */
    size_t n_counted;                     /* qualifying visits (all of them, in enter order) */
    bool has_first;   /* first_ms is set: there is at least one qualifying visit */
    int64_t first_ms; /* when the earliest qualifying visit was first there within W */
};

/*
 * Evaluates window w of point pt on local day `day` at instant now_ms. visits (borrowed, any
 * order; visits of other points are ignored) are the point's visits near that day. The ids of
 * the qualifying visits, in enter order, go to ids[0 .. min(n_counted, ids_cap)) (ids may be
 * NULL when ids_cap is 0). ERR_INVALID_ARGUMENT for a window that does not belong to pt or
 * breaks the ranges above.
 */
enum err checkin_evaluate(const struct checkin_point *pt, const struct checkin_window *w,
                          const struct tzconv *tz, int32_t day, int64_t now_ms,
                          const struct visit *visits, size_t n, int64_t *ids, size_t ids_cap,
                          struct checkin_result *out);

/* The announcement of a check-in row's change (events.kind). */
enum checkin_event {
    CHECKIN_EVENT_NONE,
    CHECKIN_EVENT_MISSED,   /* "checkin_missed", at the window's end */
    CHECKIN_EVENT_RESOLVED, /* "checkin_resolved", when it was found */
};

/* "checkin_missed", "checkin_resolved"; NULL for CHECKIN_EVENT_NONE. */
const char *checkin_event_name(enum checkin_event k);

/*
 * What a stored check-in row that just changed (its status, visits or first arrival) must
 * announce. It changed from `was` (had_row false: the window had no row that day; was is then
 * ignored) to `now`. announce: the change is news (new fixes, the periodic pass); false for a
 * recomputation after a layer edit. live_day: the row's day is not closed for good by the
 * periodic pass (engine_state's missed_through is before it).
 *  - announce: a row that is missed announces checkin_missed (the events table keeps one per
 *    window and date, so a missed row whose visits changed announces nothing new), a missed
 *    row turned done or late announces checkin_resolved;
 *  - quiet: corrections are not announced, except a window closing unseen (no row or pending
 *    -> missed) on a live day: checkin_missed, which no later periodic pass would write.
 * Everything else announces nothing.
 */
enum checkin_event checkin_event_for(bool had_row, enum checkin_status was, enum checkin_status now,
                                     bool announce, bool live_day);

/*
 * Presence of point_id in [from_ms, to_ms): the total length in ms of the union of its visits
 * with the period. ERR_INTERNAL when out of memory, ERR_INVALID_ARGUMENT for from > to.
 */
enum err checkin_presence_ms(const struct visit *visits, size_t n, int64_t point_id,
                             int64_t from_ms, int64_t to_ms, int64_t *out_ms);

#endif

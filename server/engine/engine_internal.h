/*
 * engine_internal.h - what the files of the check-in worker share, and nothing outside
 * engine/ includes: the layer snapshot, the engine itself, one transaction's record of what
 * it wrote, the fixes cache, and the functions each file offers the others.
 *
 *   snapshot.c       the immutable snapshot of points, windows and zones (build, swap, find)
 *   tx.c             one device's transaction; what a transaction wrote, published after
 *                    COMMIT; the device's fixes, loaded once and sliced
 *   late_batch.c     the late-batch procedure, once for every kind of stored interval
 *   engine_visits.c  the visits table, as a kind of interval for late_batch.c
 *   engine_stays.c   the zone_stays table and its zone_enter / zone_exit events, another kind
 *   checkins.c       check-in evaluation and the upsert of its rows and events
 *   periodic.c       engine_state, the periodic pass, recomputation after layer edits
 *   worker.c         the thread, queue rounds, start and stop, metrics
 *
 * In SQL, instants travel as integer milliseconds since the epoch (patrolgis_ms_ts and
 * patrolgis_ts_ms, migration 0008) and local days as day numbers (date '1970-01-01' + d).
 *
 * What it is not: an API. engine.h is the engine's contract with the rest of patrold.
 */
#ifndef PATROL_ENGINE_INTERNAL_H
#define PATROL_ENGINE_INTERNAL_H

#include "engine.h"

#include "checkin.h"
#include "db.h"
#include "diff.h"
#include "parse.h"
#include "span.h"
#include "tzconv.h"
#include "visits.h"
#include "zones.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENGINE_RID    "engine"
#define ENGINE_MIN_MS 60000LL

/* The columns an INSERT INTO events AS e returns for publication (tx_pubs_add). */
#define ENGINE_EVENT_RETURNING "RETURNING e.id, " ENGINE_EVENT_JSON ", e.kind, e.device_id"

/* ---- the layer snapshot (snapshot.c) --------------------------------------------------------- */

struct snap_point {
    int64_t id;
    int64_t school_id; /* 0: none */
    struct checkin_point cp;
    char *name;
    size_t w0, nw; /* its windows: snapshot.windows[w0 .. w0 + nw) */
};

struct snap_window {
    struct checkin_window w;
    char *name;
    char start[9], end[9]; /* local "HH:MM:SS" */
    int64_t created_ms;    /* when the window was created (UTC ms) */
};

struct snap_zone {
    const char *layer; /* "schools" or "waters" (static) */
    int64_t id;
    struct checkin_season season;
    char *name;
};

/* Immutable once built; only the worker thread sees it. */
struct snapshot {
    unsigned long long gen[4];
    struct pointindex *points;
    struct snap_point *pts; /* sorted by id, as pointindex order */
    size_t npts;
    struct snap_window *windows; /* sorted by (point_id, id) */
    size_t nwindows;
    struct zoneindex *zones; /* the worker's only: GEOS reads are not promised thread-safe */
    struct snap_zone *zmeta; /* sorted by (layer, id) */
    size_t nzones;
    /* digests of what results depend on, read in the snapshot's own transaction: "geometry"
     * (points' places, radii, hysteresis, dwell; zones' shapes and seasons) changes visits and
     * zone stays, "rules" (windows, points' seasons and dwell) changes check-ins */
    char geometry_digest[65], rules_digest[65];
};

/* ---- the engine (worker.c) ------------------------------------------------------------------- */

struct engine {
    struct engine_config cfg; /* cfg.clock is never NULL here */
    struct db_listener *listener;
    struct eventhub *hub;
    struct tzconv tz;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;   /* under mu */
    int kicked; /* under mu: a NOTIFY arrived */

    struct snapshot *snap; /* the current one; only the worker thread sees it */
    bool snap_checked;     /* the current snapshot's digests were compared (periodic_apply_edits) */

    /* stats, read by engine_metrics_text on other threads */
    atomic_long queue_rows;
    atomic_llong last_run_ms, last_pass_ms;
    atomic_ullong runs, failures, visits_written, stays_written, checkins_written, events_written,
        snapshots;
    atomic_long npoints, nwindows, nzones;
};

/* ---- one transaction (tx.c) ------------------------------------------------------------------ */

/* An event row written, to publish after COMMIT. */
struct pub {
    int64_t id;
    int64_t device_id;
    char *kind;
    char *json;
};

/* A point whose visits changed, and the local days the changes touch. */
struct touched {
    int64_t point_id;
    int32_t day_from, day_to;
};

struct tx {
    struct engine *e;
    struct db_conn *c;
    const struct snapshot *snap;
    int64_t now_ms; /* the engine's clock when the transaction began */
    struct pub *pubs;
    size_t npubs, cappubs;
    struct touched *touched;
    size_t ntouched, captouched;
    unsigned long long visits, stays, checkins; /* rows written */
    /* recomputation after a layer edit, not news: no check-in announcements are written and
     * no event goes to the streams (recomputed zone events are stored as usual) */
    bool quiet;
    int32_t live_from; /* quiet: the first local day not closed for good (periodic_live_from) */
    /* days before this local day: only windows that already have a check-in row are
     * evaluated (a layer edit corrects what was judged; it does not judge days nobody did);
     * 0: no such limit */
    int32_t existing_only_before;
};

/* The fixes of one device, loaded once per transaction and sliced (fixes_get). */
struct fixes {
    int64_t device_id;
    int64_t from, to; /* loaded range (to = INT64_MAX: to the end of the data) */
    bool loaded;
    struct fix *v;
    size_t n;
};

/* ---- result cells and parameters ------------------------------------------------------------- */

static inline int64_t cell_i64(const PGresult *r, int row, int col)
{
    return parse_cell_i64(PQgetvalue(r, row, col));
}

static inline double cell_f(const PGresult *r, int row, int col)
{
    return parse_cell_double(PQgetvalue(r, row, col));
}

static inline bool cell_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

static inline bool cell_bool(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

/* The cell as a new string ("" for NULL), or NULL when out of memory. */
static inline char *cell_dup(const PGresult *r, int row, int col)
{
    return strdup(cell_null(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static inline void fmt_i64(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%lld", (long long)v);
}

/* ---- snapshot.c ------------------------------------------------------------------------------ */

/* Rebuilds e->snap when a layer changed (or there is none). Returns whether one exists. */
bool snapshot_refresh(struct engine *e);

/* Frees s and everything it holds, on the thread that built it. NULL is a no-op. */
void snapshot_free(struct snapshot *s);

/* The zone of that layer and id in s, or NULL. */
const struct snap_zone *snapshot_zone(const struct snapshot *s, const char *layer, int64_t id);

/* ---- tx.c ------------------------------------------------------------------------------------ */

/* Frees what t recorded (events, touched points) and zeroes its counters. */
void tx_clear(struct tx *t);

/* Records event rows (columns col0..: id, json, kind, device_id) for publication. */
enum err tx_pubs_add(struct tx *t, const PGresult *r, int col0);

/* Records that point_id's visits changed over [from_ms, to_ms] (for checkins_run). */
enum err tx_touch(struct tx *t, int64_t point_id, int64_t from_ms, int64_t to_ms);

/* Ends a transaction of the worker's: COMMIT and publish its events, or roll it back (a
 * failure, logged as `what`). Returns err, or the COMMIT's failure. */
enum err tx_finish(struct tx *t, enum err err, const char *what);

/*
 * The device's fixes with from <= t <= to (to = INT64_MAX: all later ones) as a slice of the
 * cache f (borrowed until the next call), and whether no fix is later than `to`.
 */
enum err fixes_get(struct tx *t, struct fixes *f, int64_t from, int64_t to, const struct fix **out,
                   size_t *n, bool *at_end);

/* Processes the queued spans of one device in one transaction. *skipped: locked elsewhere. */
enum err tx_run_device(struct engine *e, struct db_conn *c, int64_t device_id, bool *skipped);

/* ---- late_batch.c, engine_visits.c, engine_stays.c ------------------------------------------ */

/* The stored intervals of one device that a late batch has loaded. */
struct late_old {
    void *items;  /* kind->diff.size bytes each: what span.h and diff.h read */
    int64_t *ids; /* the row id of each */
    size_t n;
    int64_t lo; /* every stored interval ending at or after lo (open ones: all) is loaded */
};

/* A fresh computation over the fixes of [from, to]. */
struct late_fresh {
    void *items; /* kind->diff.size bytes each, held by res */
    size_t n;
    size_t n_used;       /* fixes used */
    int64_t last_fix_ms; /* the last fix used */
    bool tail_clean;     /* nothing carried across it (span.h) */
    union {
        struct visits_result visits;
        struct zones_result zones;
    } res; /* the kind's own result */
};

/*
 * A kind of interval that a late batch recomputes and stores (visits, zone stays): what
 * late_batch_run needs to know of it.
 */
struct late_kind {
    struct diff_spec diff; /* element size, key order, equal values */
    /* whether there is anything to compute against (NULL: always) */
    bool (*active)(const struct tx *t);
    void (*rules)(struct span_rules *r); /* its engine's time constants */
    void (*interval)(const void *items, size_t i, struct span_iv *iv); /* as span_old.get */
    /* the device's stored intervals ending at or after lo (open ones: all), replacing what
     * old held */
    enum err (*load)(struct tx *t, int64_t device_id, int64_t lo, struct late_old *old);
    void (*old_free)(struct late_old *old); /* frees and empties (an empty one: no-op) */
    enum err (*compute)(struct tx *t, const struct fix *fixes, size_t n, struct late_fresh *out);
    void (*fresh_free)(struct late_fresh *f); /* frees and empties (an empty one: no-op) */
    /* keeps the fresh intervals that count, compacted at the front (NULL: all) */
    size_t (*keep)(struct tx *t, void *items, size_t n);
    /* writes the operations in their order (old_i indexes old->items and old->ids, new_i
     * fresh) and counts the rows written in t */
    enum err (*write)(struct tx *t, int64_t device_id, const struct late_old *old,
                      const void *fresh, const struct diff_result *ops);
};

extern const struct late_kind engine_visits_kind; /* engine_visits.c */
extern const struct late_kind engine_stays_kind;  /* engine_stays.c */

/*
 * The late-batch procedure (docs/engine.md, "Late and shuffled fixes") for new fixes of the
 * device with times in [a, b], for one kind of interval: the affected span over the stored
 * intervals (loaded further back while the span needs it), the fixes of [from, to], compute,
 * settled or widen, then the stored intervals with enter in [from, upto] made equal to the
 * fresh ones: the operations of diff.h, written by the kind.
 */
enum err late_batch_run(struct tx *t, const struct late_kind *k, struct fixes *fx,
                        int64_t device_id, int64_t a, int64_t b);

/* ---- checkins.c ------------------------------------------------------------------------------ */

/*
 * Evaluates the windows of the points whose visits changed (tx_touch), on the days the
 * changes touch, and of every point on the local days [all_from, all_to] (none when all_from >
 * all_to); no day after today.
 */
enum err checkins_run(struct tx *t, int32_t all_from, int32_t all_to);

/* ---- periodic.c ------------------------------------------------------------------------------ */

/* Sets t->live_from: the first local day the periodic pass has not closed for good. */
enum err periodic_live_from(struct tx *t);

/* Applies a layer edit the current snapshot shows (digests against engine_state). */
void periodic_apply_edits(struct engine *e);

/* The periodic pass; false when it waits for a recomputation (try again soon). */
bool periodic_pass(struct engine *e);

#endif

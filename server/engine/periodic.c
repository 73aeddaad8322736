/*
 * periodic.c - what the clock and layer edits make the engine redo, and engine_state, where
 * what must survive a restart is kept: the periodic pass (every window that has started, from
 * the first day not closed for good to today: pending, done, late or missed; catches up the
 * days of an outage, then moves missed_through), and the application of a layer edit (the
 * snapshot's geometry and rules digests against those stored: devices requeued to recompute
 * visits and stays quietly, windows re-evaluated quietly once that is done).
 *
 * What it is not: the evaluation itself (checkins.c) or the queue (tx.c, worker.c).
 */
#include "engine_internal.h"

#include "clock.h"
#include "log.h"

#define ENGINE_CATCHUP_DAYS 31 /* the periodic pass looks back at most this far (outages) */
/* the longest a layer recomputation holds off the periodic pass and the rules re-evaluation */
#define ENGINE_RECOMPUTE_WAIT "10 minutes"

static struct stmt st_state_get =
    STMT("engine_state_get", "SELECT value FROM engine_state WHERE name = $1 FOR UPDATE");

static struct stmt st_state_set =
    STMT("engine_state_set", "INSERT INTO engine_state (name, value) VALUES ($1, $2)"
                             " ON CONFLICT (name) DO UPDATE"
                             "   SET value = EXCLUDED.value, updated_at = now()"
                             " WHERE engine_state.value <> EXCLUDED.value");

/* Every device with an unflagged fix since $1 (ms): its span from then to that fix, queued. */
static struct stmt st_requeue = STMT(
    "engine_requeue", "WITH q AS (INSERT INTO engine_queue (device_id, new_from, new_to,"
                      "                                    recompute)"
                      "           SELECT device_id, patrolgis_ms_ts($1::bigint), fix_time, true"
                      "             FROM device_latest"
                      "            WHERE fix_time >= patrolgis_ms_ts($1::bigint)"
                      "           RETURNING 1)"
                      " SELECT count(*) FROM q");

/* The value stored under name, locked until the end of the transaction, in buf ("": none). */
static enum err state_get(struct db_conn *c, const char *name, char *buf, size_t n)
{
    const char *params[1] = { name };
    PGresult *r = NULL;
    enum err e = db_exec(c, &st_state_get, 1, params, &r, ENGINE_RID);
    buf[0] = '\0';
    if (e == ERR_OK && PQntuples(r) == 1)
        snprintf(buf, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return e;
}

static enum err state_set(struct db_conn *c, const char *name, const char *value)
{
    const char *params[2] = { name, value };
    return db_exec(c, &st_state_set, 2, params, NULL, ENGINE_RID);
}

static struct stmt st_missed_through =
    STMT("engine_missed_through", "SELECT value FROM engine_state WHERE name = 'missed_through'");

/* The day after engine_state's missed_through (yesterday when there is none), at most
 * ENGINE_CATCHUP_DAYS back: the days the periodic pass has not closed. */
enum err periodic_live_from(struct tx *t)
{
    PGresult *r = NULL;
    int32_t today = tzconv_local_day(&t->e->tz, t->now_ms), through;
    enum err e = db_exec(t->c, &st_missed_through, 0, NULL, &r, ENGINE_RID);
    t->live_from = today - 1;
    if (e == ERR_OK && PQntuples(r) == 1 && tzconv_parse_date(PQgetvalue(r, 0, 0), &through) &&
        through + 1 < t->live_from)
        t->live_from =
            through + 1 > today - ENGINE_CATCHUP_DAYS ? through + 1 : today - ENGINE_CATCHUP_DAYS;
    PQclear(r);
    return e;
}

/* Rows a layer edit queued that are not processed yet, and whether one of them has been
 * waiting for longer than ENGINE_RECOMPUTE_WAIT (a device whose run keeps failing, or whose
 * lock another session holds): then the recomputation no longer holds anything off. */
static struct stmt st_recompute_pending =
    STMT("engine_recompute_pending",
         "SELECT EXISTS (SELECT 1 FROM engine_queue WHERE recompute"
         "                  AND queued_at > now() - interval '" ENGINE_RECOMPUTE_WAIT "'),"
         "       EXISTS (SELECT 1 FROM engine_queue WHERE recompute"
         "                  AND queued_at <= now() - interval '" ENGINE_RECOMPUTE_WAIT "')");

static enum err recompute_pending(struct db_conn *c, bool *pending)
{
    PGresult *r = NULL;
    enum err e = db_exec(c, &st_recompute_pending, 0, NULL, &r, ENGINE_RID);
    *pending = e == ERR_OK && cell_bool(r, 0, 0);
    if (e == ERR_OK && cell_bool(r, 0, 1))
        log_warn("engine: a recomputation after a layer edit has been queued for "
                 "over " ENGINE_RECOMPUTE_WAIT
                 " (engine_queue rows with recompute = true); going on "
                 "without waiting for it");
    PQclear(r);
    return e;
}

/*
 * Compares the current snapshot's digests with those stored in engine_state by the last one
 * applied (so an edit made while patrold was stopped counts too), in one transaction, and
 * stores each digest once what it calls for is done or durably queued:
 *   geometry changed: every device with an unflagged fix in the last --recompute-days local
 *     days gets an engine_queue row for that span marked recompute (visits, zone stays and
 *     the check-ins they touch are redone by the queue, as for late fixes, but quietly);
 *   rules changed: every window of those days is re-evaluated, quietly - once no recompute
 *     row is left, so that it sees the recomputed visits. Until then the snapshot stays
 *     unchecked and this runs again at the next wake-up.
 * No digest stored yet (a new database): they are stored and nothing is redone.
 */
void periodic_apply_edits(struct engine *e)
{
    char msg[256], geo[72], rules[72];
    struct db_conn *c = NULL;
    if (e->snap_checked)
        return;
    if (db_acquire(e->cfg.pool, &c, msg, sizeof(msg)) != ERR_OK) {
        log_warn("engine: layer changes not applied yet: %s", msg);
        return;
    }
    struct tx t = {
        .e = e, .c = c, .snap = e->snap, .now_ms = clock_now_ms(e->cfg.clock), .quiet = true
    };
    int32_t today = tzconv_local_day(&e->tz, t.now_ms);
    int32_t first = today - (int32_t)e->cfg.recompute_days + 1;
    bool geo_changed = false, rules_changed = false, pending = false;
    long long queued = 0;
    enum err err = db_begin(c, ENGINE_RID);
    if (err == ERR_OK)
        err = state_get(c, "geometry_digest", geo, sizeof(geo));
    if (err == ERR_OK)
        err = state_get(c, "rules_digest", rules, sizeof(rules));
    if (err == ERR_OK) {
        geo_changed = geo[0] != '\0' && strcmp(geo, t.snap->geometry_digest) != 0;
        rules_changed = rules[0] != '\0' && strcmp(rules, t.snap->rules_digest) != 0;
    }
    if (err == ERR_OK && geo_changed && first <= today) {
        char from[24];
        fmt_i64(from, sizeof(from), tzconv_local_ms(&e->tz, first, 0));
        const char *params[1] = { from };
        PGresult *r = NULL;
        err = db_exec(c, &st_requeue, 1, params, &r, ENGINE_RID);
        if (err == ERR_OK)
            queued = cell_i64(r, 0, 0);
        PQclear(r);
    }
    if (err == ERR_OK)
        err = state_set(c, "geometry_digest", t.snap->geometry_digest);
    if (err == ERR_OK && rules_changed)
        err = recompute_pending(c, &pending);
    if (err == ERR_OK && rules_changed && !pending && first <= today)
        err = periodic_live_from(&t);
    t.existing_only_before = t.live_from;
    if (err == ERR_OK && rules_changed && !pending && first <= today)
        err = checkins_run(&t, first, today);
    if (err == ERR_OK && !pending)
        err = state_set(c, "rules_digest", t.snap->rules_digest);
    if (tx_finish(&t, err, "applying a layer change") == ERR_OK) {
        e->snap_checked = !pending;
        if (geo_changed)
            log_info("engine: places or zones edited: %lld device(s) queued to recompute the "
                     "last %ld day(s)",
                     queued, e->cfg.recompute_days);
        if (rules_changed && !pending)
            log_info("engine: windows or rules edited: %llu check-in(s) of the last %ld day(s) "
                     "changed",
                     t.checkins, e->cfg.recompute_days);
    }
    db_release(e->cfg.pool, c);
    tx_clear(&t);
}

/*
 * Every window that has started from the first day not closed for good (the day after
 * engine_state's missed_through; yesterday at least; at most ENGINE_CATCHUP_DAYS back) to
 * today: pending, done, late or missed. Then missed_through := the day before yesterday (a
 * window of yesterday may still be in its grace time after midnight). Returns false when it
 * did not run because a recomputation after a layer edit is still queued (try again soon).
 */
bool periodic_pass(struct engine *e)
{
    char msg[256], mark[32];
    struct db_conn *c = NULL;
    if (db_acquire(e->cfg.pool, &c, msg, sizeof(msg)) != ERR_OK) {
        log_warn("engine: periodic pass skipped: %s", msg);
        return true;
    }
    struct tx t = { .e = e, .c = c, .snap = e->snap, .now_ms = clock_now_ms(e->cfg.clock) };
    int32_t today = tzconv_local_day(&e->tz, t.now_ms);
    bool pending = !e->snap_checked;
    enum err err = db_begin(c, ENGINE_RID);
    if (err == ERR_OK && !pending)
        err = recompute_pending(c, &pending);
    if (err == ERR_OK && pending) {
        /* a layer edit is being applied (visits recomputed, or windows not yet re-evaluated):
         * judging windows now would announce what the recomputation may undo */
        db_rollback(c, ENGINE_RID);
        db_release(e->cfg.pool, c);
        tx_clear(&t);
        log_debug("engine: periodic pass waits for the recomputation after a layer edit");
        return false;
    }
    if (err == ERR_OK)
        err = state_get(c, "missed_through", mark, sizeof(mark)); /* locks the row */
    if (err == ERR_OK)
        err = periodic_live_from(&t);
    int32_t from = t.live_from;
    if (err == ERR_OK)
        err = checkins_run(&t, from, today);
    if (err == ERR_OK) {
        int32_t y, m, d;
        tzconv_civil_from_days(today - 2, &y, &m, &d);
        snprintf(mark, sizeof(mark), "%04d-%02d-%02d", (int)y, (int)m, (int)d);
        err = state_set(c, "missed_through", mark);
    }
    if (tx_finish(&t, err, "the periodic pass") == ERR_OK && (t.checkins > 0 || t.npubs > 0))
        log_info("engine: periodic pass over %d day(s): %llu check-in(s) changed, %zu event(s)",
                 (int)(today - from + 1), t.checkins, t.npubs);
    db_release(e->cfg.pool, c);
    tx_clear(&t);
    int64_t now = clock_now_ms(e->cfg.clock);
    atomic_store(&e->last_pass_ms, now);
    atomic_store(&e->last_run_ms, now);
    return true;
}

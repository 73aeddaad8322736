/*
 * worker.c - the engine's thread (see engine.h): wakes on NOTIFY patrolgis_engine or every
 * poll interval, refreshes the layer snapshot, applies layer edits, works through the queue
 * in rounds (devices in order of their oldest row, a bounded time per round) and runs the
 * periodic pass when it is due; start and stop, the event hub, and the metrics.
 *
 * What it is not: what happens to one device (tx.c) or in a pass (periodic.c).
 */
#include "engine_internal.h"

#include "clock.h"
#include "eventhub.h"
#include "log.h"
#include "strbuf.h"

#define ENGINE_HUB_CAPACITY 4096
#define ENGINE_DEVICE_BATCH 32
#define ENGINE_ROUND_MS     2000 /* a queue round yields after this long */

static struct stmt st_devices = STMT("engine_devices", "SELECT device_id"
                                                       " FROM engine_queue"
                                                       " WHERE device_id <> ALL($1::bigint[])"
                                                       " GROUP BY device_id"
                                                       " ORDER BY min(id) LIMIT $2::int");

static struct stmt st_queue_count = STMT("engine_queue_count", "SELECT count(*)"
                                                               " FROM engine_queue");

static bool should_stop(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    bool stop = e->stop != 0;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

/*
 * Works through the queue: devices in order of their oldest row; a device that fails waits
 * for the next round. Returns true when it stopped with work left (after ENGINE_ROUND_MS, so
 * that a busy queue does not hold off the periodic pass or a layer reload).
 */
static bool queue_round(struct engine *e)
{
    char msg[256];
    struct db_conn *c = NULL;
    if (db_acquire(e->cfg.pool, &c, msg, sizeof(msg)) != ERR_OK) {
        log_warn("engine: %s", msg);
        return false;
    }
    int64_t until = clock_mono_ms() + ENGINE_ROUND_MS;
    bool more = false;
    struct strbuf skip, lit; /* devices not to take again this round: "1,2", then "{1,2}" */
    strbuf_init(&skip, 0);
    strbuf_init(&lit, 0);
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", ENGINE_DEVICE_BATCH);
    while (!should_stop(e)) {
        strbuf_truncate(&lit, 0);
        strbuf_printf(&lit, "{%s}", skip.len > 0 ? skip.p : "");
        if (strbuf_error(&skip) != ERR_OK || strbuf_error(&lit) != ERR_OK)
            break;
        const char *params[2] = { lit.p, limit };
        PGresult *r = NULL;
        enum err err = db_exec(c, &st_devices, 2, params, &r, ENGINE_RID);
        if (err != ERR_OK) {
            log_warn("engine: cannot read the queue: %s", db_error_message(c));
            break;
        }
        int n = PQntuples(r);
        if (n > 0 && clock_mono_ms() >= until) {
            more = true;
            PQclear(r);
            break;
        }
        for (int i = 0; i < n && !should_stop(e); i++) {
            int64_t dev = cell_i64(r, i, 0);
            bool skipped = false;
            err = tx_run_device(e, c, dev, &skipped);
            if (err != ERR_OK) {
                atomic_fetch_add(&e->failures, 1);
                log_warn("engine: device %lld not processed (%s: %s); retrying later",
                         (long long)dev, err_slug(err), db_error_message(c));
            }
            if (err != ERR_OK || skipped)
                strbuf_printf(&skip, "%s%lld", skip.len > 0 ? "," : "", (long long)dev);
        }
        PQclear(r);
        if (n == 0)
            break;
    }
    strbuf_free(&skip);
    strbuf_free(&lit);
    PGresult *r = NULL;
    if (db_exec(c, &st_queue_count, 0, NULL, &r, ENGINE_RID) == ERR_OK)
        atomic_store(&e->queue_rows, (long)cell_i64(r, 0, 0));
    PQclear(r);
    db_release(e->cfg.pool, c);
    atomic_store(&e->last_run_ms, clock_now_ms(e->cfg.clock));
    return more;
}

static void on_notify(void *ctx, const char *payload)
{
    struct engine *e = ctx;
    (void)payload;
    pthread_mutex_lock(&e->mu);
    e->kicked = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static void *worker_main(void *arg)
{
    struct engine *e = arg;
    int64_t next_pass = 0; /* clock_mono_ms: durations do not follow the injected clock */
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        e->kicked = 0;
        pthread_mutex_unlock(&e->mu);

        bool more = false;
        if (snapshot_refresh(e)) {
            periodic_apply_edits(e);
            more = queue_round(e);
            if (clock_mono_ms() >= next_pass && !should_stop(e))
                next_pass = clock_mono_ms() + (periodic_pass(e) ? e->cfg.interval_s * 1000 : 1000);
        }

        pthread_mutex_lock(&e->mu);
        if (e->stop || e->kicked || more)
            continue;
        int64_t wait_ms = e->cfg.poll_ms;
        int64_t until_pass = next_pass - clock_mono_ms();
        if (until_pass < wait_ms)
            wait_ms = until_pass > 0 ? until_pass : 0;
        struct timespec deadline = clock_deadline(wait_ms);
        while (!e->stop && !e->kicked && pthread_cond_timedwait(&e->cv, &e->mu, &deadline) == 0)
            ; /* a spurious wake-up: wait on */
    }
    pthread_mutex_unlock(&e->mu);

    /* GEOS objects of the zone index belong to this thread's context: free them here */
    snapshot_free(e->snap);
    e->snap = NULL;
    return NULL;
}

struct engine *engine_start(const struct engine_config *cfg)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->cfg = *cfg;
    if (e->cfg.clock == NULL)
        e->cfg.clock = clock_system();
    if (e->cfg.interval_s <= 0)
        e->cfg.interval_s = 30;
    if (e->cfg.poll_ms <= 0)
        e->cfg.poll_ms = 5000;
    tzconv_process(&e->tz);
    e->hub = eventhub_new(ENGINE_HUB_CAPACITY);
    if (e->hub == NULL) {
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (pthread_create(&e->thread, NULL, worker_main, e) != 0)
        goto fail;
    /* After the thread: a NOTIFY (or a reconnection, when some may have been missed) only
     * kicks it, and the queue rows are the record, so nothing is lost in between. */
    e->listener = db_listener_start(cfg->db, DB_CHANNEL_ENGINE, on_notify, on_notify, e);
    if (e->listener == NULL) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
        goto fail;
    }
    return e;
fail:
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    eventhub_free(e->hub);
    free(e);
    return NULL;
}

void engine_stop(struct engine *e)
{
    if (e == NULL)
        return;
    db_listener_stop(e->listener);
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    eventhub_free(e->hub);
    free(e);
}

struct eventhub *engine_events(struct engine *e)
{
    return e->hub;
}

struct engine_stats {
    long queue_rows;         /* engine_queue rows at the last look */
    long long last_run_ms;   /* end of the last queue round or periodic pass (UTC ms, 0 never) */
    long long last_pass_ms;  /* end of the last periodic pass */
    unsigned long long runs; /* device transactions committed */
    unsigned long long failures;
    unsigned long long visits_written; /* visits inserted, updated or deleted */
    unsigned long long stays_written;  /* zone stays inserted, updated or deleted */
    unsigned long long checkins_written;
    unsigned long long events_written;
    unsigned long long snapshots; /* snapshots built */
    long points, windows, zones;  /* in the current snapshot */
};

/* A consistent-enough copy of the counters (each is read atomically). */
static void engine_get_stats(const struct engine *ce, struct engine_stats *out)
{
    struct engine *e = (struct engine *)ce; /* atomics are read, never written */
    out->queue_rows = atomic_load(&e->queue_rows);
    out->last_run_ms = atomic_load(&e->last_run_ms);
    out->last_pass_ms = atomic_load(&e->last_pass_ms);
    out->runs = atomic_load(&e->runs);
    out->failures = atomic_load(&e->failures);
    out->visits_written = atomic_load(&e->visits_written);
    out->stays_written = atomic_load(&e->stays_written);
    out->checkins_written = atomic_load(&e->checkins_written);
    out->events_written = atomic_load(&e->events_written);
    out->snapshots = atomic_load(&e->snapshots);
    out->points = atomic_load(&e->npoints);
    out->windows = atomic_load(&e->nwindows);
    out->zones = atomic_load(&e->nzones);
}

char *engine_metrics_text(const struct engine *e)
{
    struct strbuf b;
    strbuf_init(&b, 0);
    if (e != NULL) {
        struct engine_stats s;
        engine_get_stats(e, &s);
        strbuf_printf(
            &b,
            "# HELP patrold_engine_queue_rows Rows in engine_queue at the engine's last look.\n"
            "# TYPE patrold_engine_queue_rows gauge\n"
            "patrold_engine_queue_rows %ld\n"
            "# HELP patrold_engine_last_run_timestamp_seconds When the engine last finished a "
            "queue round or periodic pass.\n"
            "# TYPE patrold_engine_last_run_timestamp_seconds gauge\n"
            "patrold_engine_last_run_timestamp_seconds %.3f\n"
            "# HELP patrold_engine_last_pass_timestamp_seconds When the periodic check-in "
            "pass last finished.\n"
            "# TYPE patrold_engine_last_pass_timestamp_seconds gauge\n"
            "patrold_engine_last_pass_timestamp_seconds %.3f\n"
            "# HELP patrold_engine_runs_total Device transactions committed.\n"
            "# TYPE patrold_engine_runs_total counter\n"
            "patrold_engine_runs_total %llu\n"
            "# HELP patrold_engine_failures_total Device transactions and passes that "
            "failed (retried later).\n"
            "# TYPE patrold_engine_failures_total counter\n"
            "patrold_engine_failures_total %llu\n"
            "# HELP patrold_engine_rows_written_total Rows the engine inserted, updated or "
            "deleted.\n"
            "# TYPE patrold_engine_rows_written_total counter\n"
            "patrold_engine_rows_written_total{table=\"visits\"} %llu\n"
            "patrold_engine_rows_written_total{table=\"zone_stays\"} %llu\n"
            "patrold_engine_rows_written_total{table=\"checkins\"} %llu\n"
            "patrold_engine_rows_written_total{table=\"events\"} %llu\n"
            "# HELP patrold_engine_snapshots_total Layer snapshots built.\n"
            "# TYPE patrold_engine_snapshots_total counter\n"
            "patrold_engine_snapshots_total %llu\n"
            "# HELP patrold_engine_snapshot_items What the current layer snapshot holds.\n"
            "# TYPE patrold_engine_snapshot_items gauge\n"
            "patrold_engine_snapshot_items{kind=\"points\"} %ld\n"
            "patrold_engine_snapshot_items{kind=\"windows\"} %ld\n"
            "patrold_engine_snapshot_items{kind=\"zones\"} %ld\n",
            s.queue_rows, (double)s.last_run_ms / 1000.0, (double)s.last_pass_ms / 1000.0, s.runs,
            s.failures, s.visits_written, s.stays_written, s.checkins_written, s.events_written,
            s.snapshots, s.points, s.windows, s.zones);
    }
    return strbuf_take(&b); /* "" without an engine; NULL when out of memory */
}

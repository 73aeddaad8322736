/*
 * engine.h - the check-in and geofence engine's worker: the database glue around the pure
 * modules (visits.h, zones.h, checkin.h, span.h). One thread that
 *
 *  - keeps an immutable snapshot of the patrol points with their windows (pointindex) and of
 *    the zones (dangerous waters and school perimeters: zoneindex), built from PostGIS and
 *    rebuilt when the layers' generations (layers.h, fed by NOTIFY) of patrol_points,
 *    patrol_windows, waters or schools change;
 *  - wakes on NOTIFY patrolgis_engine (sent by ingestion with each engine_queue row) or every
 *    few seconds, and for each device with queued spans runs, in one REPEATABLE READ
 *    transaction, the late-batch procedure of visits.h for visits and of zones.h for zone
 *    stays (events zone_enter / zone_exit), re-evaluates the check-ins of every window of the
 *    points whose visits changed on the local days they touch, deletes the queue rows and
 *    commits: a crash before the commit loses nothing, the rows stay queued;
 *  - every interval (and at start) evaluates every window of yesterday and today (local time)
 *    that has started: open ones are pending (or done), closed ones without enough visits
 *    become missed, with one checkin_missed event per window and date;
 *  - publishes every event it wrote to an eventhub (server-sent event streams) after COMMIT.
 *
 * docs/engine.md ("The worker") has the details, engine_internal.h the files. What it is not:
 * HTTP (api_checkins.c) or the rules themselves (the pure modules).
 */
#ifndef PATROL_ENGINE_H
#define PATROL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

struct clock;
struct db_pool;
struct db_settings;
struct eventhub;
struct layers;

/*
 * The JSON of an events row aliased e, as SQL text: what GET /api/v1/events lists, what the
 * stream sends, what the engine publishes. Instants are UTC RFC 3339 with milliseconds
 * (patrolgis_iso, migration 0008).
 */
#define ENGINE_EVENT_JSON                                                                          \
    "json_build_object('id', e.id, 'at', patrolgis_iso(e.at), 'kind', e.kind,"                     \
    " 'device_id', e.device_id, 'point_id', e.point_id, 'zone_layer', e.zone_layer,"               \
    " 'zone_id', e.zone_id, 'payload', e.payload, 'created_at', "                                  \
    "patrolgis_iso(e.created_at))::text"

struct engine_config {
    struct db_pool *pool;         /* borrowed; must outlive engine_stop */
    const struct db_settings *db; /* for the LISTEN connection (copied) */
    struct layers *layers;        /* borrowed: generations of the layer tables */
    long interval_s;              /* the periodic pass (> 0) */
    long poll_ms;                 /* look at the queue at least this often without NOTIFY */
    long recompute_days;          /* after a layer edit: local days recomputed (0: none) */
    /* borrowed, must outlive engine_stop; NULL: the system clock. What "now" is: today and
     * yesterday, which windows have started or closed, the timestamps of the metrics. (Waits
     * and time budgets run on the monotonic clock; SQL's now() is the database's.) */
    const struct clock *clock;
};

struct engine;

/*
 * Starts the worker (it builds its first snapshot and runs the periodic pass at once). Returns
 * NULL when out of memory or a thread cannot start.
 */
struct engine *engine_start(const struct engine_config *cfg);

/* Wakes the worker, waits for it to finish what it is doing (no new transaction is begun),
 * stops it and frees e. NULL is a no-op. */
void engine_stop(struct engine *e);

/* The events written by the engine, for streams. Borrowed from e. */
struct eventhub *engine_events(struct engine *e);

/*
 * Appends the engine's metrics in the Prometheus text format to a new malloc'd string (free
 * it), or returns NULL when out of memory. e may be NULL (no engine lines).
 */
char *engine_metrics_text(const struct engine *e);

#endif

/*
 * engine_stays.c - the zone_stays table and its events as a kind of interval for the
 * late-batch procedure (late_batch.c): the device's stored stays, zones_compute over the
 * snapshot's zone index, the season filter (a water's stays count only in its season, judged
 * on the local day a stay begins), and the writing of the diff keyed on (layer, zone, enter),
 * one stay at a time in key order: a new stay inserts its zone_enter (and, once closed,
 * zone_exit) event, a vanished one deletes them, a stay whose end moved gets its exit event
 * added, moved or removed. Event payload: zone_name, dwell_s on exits.
 *
 * What it is not: the zone rules (track/zones.c), the procedure itself (late_batch.c) or the
 * zone index (snapshot.c).
 */
#include "engine_internal.h"

#include <jansson.h>

static struct stmt st_old_stays =
    STMT("engine_old_stays",
         "SELECT id, zone_layer, zone_id, patrolgis_ts_ms(enter_at),"
         " patrolgis_ts_ms(last_at), exit_at IS NULL"
         "  FROM zone_stays"
         " WHERE device_id = $1::bigint"
         "   AND coalesce(exit_at, 'infinity'::timestamptz) >= patrolgis_ms_ts($2::bigint)");

static struct stmt st_stay_insert =
    STMT("engine_stay_insert",
         "WITH"
         " en AS (INSERT INTO events AS e (at, kind, device_id, zone_layer, zone_id, payload)"
         "            VALUES (patrolgis_ms_ts($4::bigint), 'zone_enter', $1::bigint, $2,"
         " $3::bigint, $6::jsonb)"
         "            " ENGINE_EVENT_RETURNING
         "), ex AS (INSERT INTO events AS e (at, kind, device_id, zone_layer, zone_id,"
         " payload)"
         "        SELECT patrolgis_ms_ts($5::bigint), 'zone_exit', $1::bigint, $2,"
         " $3::bigint, $7::jsonb"
         "         WHERE $5::bigint IS NOT NULL " ENGINE_EVENT_RETURNING
         "), st AS (INSERT INTO zone_stays (device_id, zone_layer, zone_id, enter_at,"
         " exit_at, last_at,"
         "                                enter_event, exit_event)"
         "        SELECT $1::bigint, $2, $3::bigint, patrolgis_ms_ts($4::bigint),"
         " patrolgis_ms_ts($5::bigint), patrolgis_ms_ts($8::bigint),"
         "               (SELECT id FROM en),"
         " (SELECT id FROM ex) RETURNING id) SELECT * FROM en UNION ALL SELECT * FROM ex");

static struct stmt st_stay_delete =
    STMT("engine_stay_delete", "WITH"
                               " s AS (DELETE FROM zone_stays WHERE id = $1::bigint"
                               "           RETURNING enter_event, exit_event) DELETE"
                               " FROM events"
                               " WHERE id IN (SELECT enter_event FROM s UNION ALL"
                               "                                 SELECT exit_event FROM s)");

/* Updates a stay whose end changed; its exit event is added, moved or removed to match. */
static struct stmt st_stay_update =
    STMT("engine_stay_update",
         "WITH"
         " s AS (SELECT device_id, zone_layer, zone_id, exit_event FROM zone_stays"
         "            WHERE id = $1::bigint),"
         " gone AS (DELETE FROM events WHERE $2::bigint IS NULL"
         "            AND id = (SELECT exit_event FROM s)),"
         " moved AS (UPDATE events SET at = patrolgis_ms_ts($2::bigint), payload = $4::jsonb"
         "            WHERE $2::bigint IS NOT NULL AND id = (SELECT exit_event FROM s)"
         " RETURNING id),"
         " ex AS (INSERT INTO events AS e (at, kind, device_id, zone_layer, zone_id, payload)"
         "        SELECT patrolgis_ms_ts($2::bigint), 'zone_exit', s.device_id, s.zone_layer,"
         " s.zone_id, $4::jsonb"
         "          FROM s WHERE $2::bigint IS NOT NULL"
         "           AND NOT EXISTS (SELECT 1 FROM events x WHERE x.id = s.exit_event)"
         "        " ENGINE_EVENT_RETURNING
         "), up AS (UPDATE zone_stays SET exit_at = patrolgis_ms_ts($2::bigint),"
         " last_at = patrolgis_ms_ts($3::bigint),"
         "               exit_event = CASE WHEN $2::bigint IS NULL THEN NULL"
         "                                 ELSE coalesce((SELECT id FROM ex),"
         " (SELECT id FROM moved))"
         "                            END"
         "         WHERE id = $1::bigint) SELECT * FROM ex");

static void stays_old_free(struct late_old *old)
{
    struct zone_stay *v = old->items;
    for (size_t i = 0; i < old->n; i++)
        free((void *)v[i].layer);
    free(old->items);
    free(old->ids);
    memset(old, 0, sizeof(*old));
}

static enum err stays_load(struct tx *t, int64_t device_id, int64_t lo, struct late_old *old)
{
    char sd[24], sl[24];
    fmt_i64(sd, sizeof(sd), device_id);
    fmt_i64(sl, sizeof(sl), lo);
    const char *params[2] = { sd, sl };
    PGresult *r = NULL;
    enum err e = db_exec(t->c, &st_old_stays, 2, params, &r, ENGINE_RID);
    if (e != ERR_OK)
        return e;
    stays_old_free(old);
    size_t n = (size_t)PQntuples(r);
    struct zone_stay *v = calloc(n ? n : 1, sizeof(*v));
    old->ids = calloc(n ? n : 1, sizeof(*old->ids));
    old->items = v;
    if (v == NULL || old->ids == NULL) {
        PQclear(r);
        return ERR_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        old->ids[i] = cell_i64(r, row, 0);
        v[i] = (struct zone_stay){ .layer = cell_dup(r, row, 1),
                                   .zone_id = cell_i64(r, row, 2),
                                   .enter_ms = cell_i64(r, row, 3),
                                   .exit_ms = cell_i64(r, row, 4),
                                   .open = cell_bool(r, row, 5) };
        old->n = i + 1;
        if (v[i].layer == NULL) {
            PQclear(r);
            return ERR_INTERNAL;
        }
    }
    PQclear(r);
    old->lo = lo;
    return ERR_OK;
}

static bool stays_active(const struct tx *t)
{
    return t->snap->zones != NULL && zoneindex_count(t->snap->zones) > 0;
}

static void stays_rules(struct span_rules *r)
{
    struct zones_params p;
    zones_params_default(&p);
    zones_span_rules(&p, r);
}

static void stay_interval(const void *items, size_t i, struct span_iv *iv)
{
    const struct zone_stay *s = &((const struct zone_stay *)items)[i];
    *iv = (struct span_iv){ s->enter_ms, s->exit_ms, s->open };
}

static enum err stays_fresh(struct tx *t, const struct fix *fixes, size_t n, struct late_fresh *out)
{
    struct zones_params p;
    zones_params_default(&p);
    struct zones_result *res = &out->res.zones;
    enum err e = zones_compute(t->snap->zones, fixes, n, &p, res);
    if (e != ERR_OK)
        return e;
    out->items = res->stays;
    out->n = res->n_stays;
    out->n_used = res->n_used;
    out->last_fix_ms = res->last_fix_ms;
    out->tail_clean = res->tail_clean;
    return ERR_OK;
}

static void stays_fresh_free(struct late_fresh *f)
{
    zones_result_free(&f->res.zones);
    memset(f, 0, sizeof(*f));
}

static int cmp_stay(const void *a, const void *b)
{
    const struct zone_stay *x = a, *y = b;
    int c = strcmp(x->layer, y->layer);
    if (c != 0)
        return c;
    if (x->zone_id != y->zone_id)
        return (x->zone_id > y->zone_id) - (x->zone_id < y->zone_id);
    return (x->enter_ms > y->enter_ms) - (x->enter_ms < y->enter_ms);
}

static bool stay_same(const void *old, const void *fresh)
{
    const struct zone_stay *a = old, *b = fresh;
    return a->open == b->open && a->exit_ms == b->exit_ms;
}

/* The payload of a zone event: the zone's name, and the stay's length on an exit. */
static char *zone_payload(const struct snap_zone *z, const struct zone_stay *s, bool exit)
{
    json_t *j = json_pack("{s:s}", "zone_name", z ? z->name : "");
    if (j != NULL && exit)
        json_object_set_new(j, "dwell_s", json_real((double)(s->exit_ms - s->enter_ms) / 1000.0));
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(j);
    return text;
}

static enum err stay_insert(struct tx *t, int64_t device_id, const struct zone_stay *s)
{
    const struct snap_zone *z = snapshot_zone(t->snap, s->layer, s->zone_id);
    char sd[24], sz[24], se[24], sx[24], sl[24];
    fmt_i64(sd, sizeof(sd), device_id);
    fmt_i64(sz, sizeof(sz), s->zone_id);
    fmt_i64(se, sizeof(se), s->enter_ms);
    fmt_i64(sx, sizeof(sx), s->exit_ms);
    fmt_i64(sl, sizeof(sl), s->exit_ms);
    char *pen = zone_payload(z, s, false), *pex = zone_payload(z, s, true);
    enum err e = ERR_INTERNAL;
    if (pen != NULL && pex != NULL) {
        const char *params[8] = { sd, s->layer, sz, se, s->open ? NULL : sx, pen, pex, sl };
        PGresult *r = NULL;
        e = db_exec(t->c, &st_stay_insert, 8, params, &r, ENGINE_RID);
        if (e == ERR_OK)
            e = tx_pubs_add(t, r, 0);
        PQclear(r);
    }
    free(pen);
    free(pex);
    return e;
}

static enum err stay_update(struct tx *t, int64_t id, const struct zone_stay *s)
{
    const struct snap_zone *z = snapshot_zone(t->snap, s->layer, s->zone_id);
    char sid[24], sx[24], sl[24];
    fmt_i64(sid, sizeof(sid), id);
    fmt_i64(sx, sizeof(sx), s->exit_ms);
    fmt_i64(sl, sizeof(sl), s->exit_ms);
    char *pex = zone_payload(z, s, true);
    if (pex == NULL)
        return ERR_INTERNAL;
    const char *params[4] = { sid, s->open ? NULL : sx, sl, pex };
    PGresult *r = NULL;
    enum err e = db_exec(t->c, &st_stay_update, 4, params, &r, ENGINE_RID);
    if (e == ERR_OK)
        e = tx_pubs_add(t, r, 0);
    PQclear(r);
    free(pex);
    return e;
}

static enum err stay_delete(struct tx *t, int64_t id)
{
    char sid[24];
    fmt_i64(sid, sizeof(sid), id);
    const char *params[1] = { sid };
    return db_exec(t->c, &st_stay_delete, 1, params, NULL, ENGINE_RID);
}

/*
 * Keeps the stays of zones in season on the local day they start (waters have a season;
 * school perimeters do not). Returns the number kept, compacted at the front.
 */
static size_t stays_in_season(struct tx *t, void *items, size_t n)
{
    struct zone_stay *v = items;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct snap_zone *z = snapshot_zone(t->snap, v[i].layer, v[i].zone_id);
        int32_t day = tzconv_local_day(&t->e->tz, v[i].enter_ms);
        if (z != NULL && !checkin_season_contains(&z->season, day))
            continue;
        v[k++] = v[i];
    }
    return k;
}

/* The operations one stay at a time, in key order (events get their ids in that order). */
static enum err stays_write(struct tx *t, int64_t device_id, const struct late_old *old,
                            const void *fresh_items, const struct diff_result *d)
{
    const struct zone_stay *fresh = fresh_items;
    enum err e = ERR_OK;
    for (size_t k = 0; k < d->n && e == ERR_OK; k++) {
        const struct diff_op *op = &d->ops[k];
        if (op->kind == DIFF_DELETE)
            e = stay_delete(t, old->ids[op->old_i]);
        else if (op->kind == DIFF_INSERT)
            e = stay_insert(t, device_id, &fresh[op->new_i]);
        else
            e = stay_update(t, old->ids[op->old_i], &fresh[op->new_i]);
        t->stays++;
    }
    return e;
}

const struct late_kind engine_stays_kind = {
    .diff = { sizeof(struct zone_stay), cmp_stay, stay_same },
    .active = stays_active,
    .rules = stays_rules,
    .interval = stay_interval,
    .load = stays_load,
    .old_free = stays_old_free,
    .compute = stays_fresh,
    .fresh_free = stays_fresh_free,
    .keep = stays_in_season,
    .write = stays_write,
};

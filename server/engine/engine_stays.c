/*
 * engine_stays.c - the zone_stays table and its events: the device's stored stays, the
 * late-batch procedure of zones.h over them, the season filter (a water's stays count only
 * in its season, judged on the local day a stay begins), and the diff that makes the stored
 * stays equal the fresh ones, keyed on (layer, zone, enter). A new stay inserts its zone_enter
 * (and, once closed, zone_exit) event, a vanished one deletes them, a stay whose end moved
 * gets its exit event added, moved or removed. Event payload: zone_name, dwell_s on exits.
 *
 * What it is not: the zone rules (track/zones.c) or the zone index (snapshot.c).
 */
#include "engine_internal.h"

#include <jansson.h>

static struct stmt st_old_stays =
    STMT("engine_old_stays",
         "SELECT id, zone_layer, zone_id, patrolgis_ts_ms(enter_at),"
         " patrolgis_ts_ms(last_at), exit_at IS NULL,"
         "       coalesce(enter_event, 0), coalesce(exit_event, 0)"
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

struct old_stay {
    int64_t id;
    int64_t enter_event, exit_event;
    struct zone_stay s;
};

struct old_stays {
    struct old_stay *v;
    struct zone_stay *plain; /* the same, as zones.h takes them */
    size_t n;
    int64_t lo;
};

static void old_stays_free(struct old_stays *o)
{
    for (size_t i = 0; i < o->n; i++)
        free((void *)o->v[i].s.layer);
    free(o->v);
    free(o->plain);
    o->v = NULL;
    o->plain = NULL;
    o->n = 0;
}

static enum err old_stays_load(struct tx *t, int64_t device_id, int64_t lo, struct old_stays *o)
{
    char sd[24], sl[24];
    fmt_i64(sd, sizeof(sd), device_id);
    fmt_i64(sl, sizeof(sl), lo);
    const char *params[2] = { sd, sl };
    PGresult *r = NULL;
    enum err e = db_exec(t->c, &st_old_stays, 2, params, &r, ENGINE_RID);
    if (e != ERR_OK)
        return e;
    old_stays_free(o);
    size_t n = (size_t)PQntuples(r);
    o->v = calloc(n ? n : 1, sizeof(*o->v));
    o->plain = calloc(n ? n : 1, sizeof(*o->plain));
    if (o->v == NULL || o->plain == NULL) {
        PQclear(r);
        return ERR_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        struct old_stay *s = &o->v[i];
        s->id = cell_i64(r, row, 0);
        s->s.layer = cell_dup(r, row, 1);
        s->s.zone_id = cell_i64(r, row, 2);
        s->s.enter_ms = cell_i64(r, row, 3);
        s->s.exit_ms = cell_i64(r, row, 4);
        s->s.open = cell_bool(r, row, 5);
        s->enter_event = cell_i64(r, row, 6);
        s->exit_event = cell_i64(r, row, 7);
        o->n = i + 1;
        if (s->s.layer == NULL) {
            PQclear(r);
            return ERR_INTERNAL;
        }
        o->plain[i] = s->s;
    }
    PQclear(r);
    o->lo = lo;
    return ERR_OK;
}

static int cmp_stay(const struct zone_stay *x, const struct zone_stay *y)
{
    int c = strcmp(x->layer, y->layer);
    if (c != 0)
        return c;
    if (x->zone_id != y->zone_id)
        return (x->zone_id > y->zone_id) - (x->zone_id < y->zone_id);
    return (x->enter_ms > y->enter_ms) - (x->enter_ms < y->enter_ms);
}

static int cmp_old_stay(const void *a, const void *b)
{
    return cmp_stay(&((const struct old_stay *)a)->s, &((const struct old_stay *)b)->s);
}

static int cmp_new_stay(const void *a, const void *b)
{
    return cmp_stay(a, b);
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

static enum err stay_update(struct tx *t, const struct old_stay *o, const struct zone_stay *s)
{
    const struct snap_zone *z = snapshot_zone(t->snap, s->layer, s->zone_id);
    char sid[24], sx[24], sl[24];
    fmt_i64(sid, sizeof(sid), o->id);
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

static enum err stay_delete(struct tx *t, const struct old_stay *o)
{
    char sid[24];
    fmt_i64(sid, sizeof(sid), o->id);
    const char *params[1] = { sid };
    return db_exec(t->c, &st_stay_delete, 1, params, NULL, ENGINE_RID);
}

/*
 * Keeps the stays of zones in season on the local day they start (waters have a season;
 * school perimeters do not). Returns the number kept, compacted at the front.
 */
static size_t stays_in_season(struct tx *t, struct zone_stay *v, size_t n)
{
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

static enum err stays_replace(struct tx *t, int64_t device_id, struct old_stays *o, int64_t from,
                              int64_t upto, struct zone_stay *fresh, size_t n)
{
    size_t nold = 0;
    struct old_stay *old = malloc((o->n ? o->n : 1) * sizeof(*old));
    if (old == NULL)
        return ERR_INTERNAL;
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].s.enter_ms >= from && o->v[i].s.enter_ms <= upto)
            old[nold++] = o->v[i];
    if (nold > 1)
        qsort(old, nold, sizeof(*old), cmp_old_stay);
    if (n > 1)
        qsort(fresh, n, sizeof(*fresh), cmp_new_stay);
    enum err e = ERR_OK;
    size_t i = 0, j = 0;
    while (e == ERR_OK && (i < nold || j < n)) {
        int c = i == nold ? 1 : j == n ? -1 : cmp_stay(&old[i].s, &fresh[j]);
        if (c < 0) {
            e = stay_delete(t, &old[i++]);
            t->stays++;
        } else if (c > 0) {
            e = stay_insert(t, device_id, &fresh[j++]);
            t->stays++;
        } else {
            const struct old_stay *w = &old[i++];
            const struct zone_stay *v = &fresh[j++];
            if (w->s.open != v->open || w->s.exit_ms != v->exit_ms) {
                e = stay_update(t, w, v);
                t->stays++;
            }
        }
    }
    free(old);
    return e;
}

enum err device_zones(struct tx *t, struct fixes *fx, int64_t device_id, int64_t a, int64_t b)
{
    if (t->snap->zones == NULL || zoneindex_count(t->snap->zones) == 0)
        return ERR_OK;
    struct zones_params p;
    zones_params_default(&p);
    int64_t gap = (int64_t)(p.max_gap_s * 1000), conf = (int64_t)(p.confirm_s * 1000);
    int64_t margin = 2 * gap + 4 * conf + 4 * ENGINE_MIN_MS;
    struct old_stays o = { 0 };
    struct zones_result res = { 0 };
    int64_t from = 0, to = 0, upto = 0;
    enum err e = old_stays_load(t, device_id, span_sub(a, margin), &o);
    for (;;) {
        if (e != ERR_OK)
            goto out;
        zones_affected_span(&p, a, b, o.plain, o.n, &from, &to);
        int64_t need = span_sub(from, gap + 2 * conf + 4 * ENGINE_MIN_MS);
        if (need >= o.lo)
            break;
        e = old_stays_load(t, device_id, span_sub(need, margin), &o);
    }
    for (;;) {
        const struct fix *fv;
        size_t n;
        bool at_end;
        e = fixes_get(t, fx, from, to, &fv, &n, &at_end);
        if (e == ERR_OK)
            e = zones_compute(t->snap->zones, fv, n, &p, &res);
        if (e != ERR_OK)
            goto out;
        if (zones_settled(&p, &res, b, at_end, to, o.plain, o.n, &upto))
            break;
        to = zones_widen(&p, from, to);
        zones_result_free(&res);
    }
    size_t keep = stays_in_season(t, res.stays, res.n_stays);
    e = stays_replace(t, device_id, &o, from, upto, res.stays, keep);
out:
    zones_result_free(&res);
    old_stays_free(&o);
    return e;
}

/*
 * tx.c - one transaction of the worker's: what it wrote (event rows to publish after COMMIT,
 * points whose visits changed), its end (COMMIT and publish, or roll back), the device's fixes
 * loaded once and sliced, and the per-device transaction that consumes engine_queue rows:
 *
 *   BEGIN REPEATABLE READ (every statement sees the same committed fixes and queue rows;
 *   fixes committed meanwhile come with queue rows of their own, which this transaction
 *   neither sees nor deletes); lock the device (advisory); take its queue rows, new fixes
 *   first and rows a layer edit queued on their own (quiet); hull [a, b] of their spans (the
 *   late-batch procedure is exact for one span, and a hull is one span); visits; zone stays;
 *   check-ins of the points whose visits changed; delete the queue rows; COMMIT; publish.
 *
 * What it is not: the tables' own logic (engine_visits.c, engine_stays.c, checkins.c) or the
 * choice of devices (worker.c).
 */
#include "engine_internal.h"

#include "clock.h"
#include "eventhub.h"
#include "log.h"
#include "strbuf.h"

#include <jansson.h>

void tx_clear(struct tx *t)
{
    for (size_t i = 0; i < t->npubs; i++) {
        free(t->pubs[i].kind);
        free(t->pubs[i].json);
    }
    free(t->pubs);
    free(t->touched);
    t->pubs = NULL;
    t->touched = NULL;
    t->npubs = t->cappubs = t->ntouched = t->captouched = 0;
    t->visits = t->stays = t->checkins = 0;
}

/* The same JSON without json_build_object's spaces, as streams send it (new; NULL: OOM). */
static char *json_compact(const char *text)
{
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    char *out =
        j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) : strdup(text);
    json_decref(j);
    return out;
}

enum err tx_pubs_add(struct tx *t, const PGresult *r, int col0)
{
    for (int row = 0; row < PQntuples(r); row++) {
        if (cell_null(r, row, col0))
            continue;
        if (t->npubs == t->cappubs) {
            size_t nc = t->cappubs ? t->cappubs * 2 : 16;
            struct pub *g = realloc(t->pubs, nc * sizeof(*g));
            if (g == NULL)
                return ERR_INTERNAL;
            t->pubs = g;
            t->cappubs = nc;
        }
        struct pub *p = &t->pubs[t->npubs];
        p->id = cell_i64(r, row, col0);
        p->json = json_compact(PQgetvalue(r, row, col0 + 1));
        p->kind = cell_dup(r, row, col0 + 2);
        p->device_id = cell_null(r, row, col0 + 3) ? 0 : cell_i64(r, row, col0 + 3);
        if (p->json == NULL || p->kind == NULL) {
            free(p->json);
            free(p->kind);
            return ERR_INTERNAL;
        }
        t->npubs++;
    }
    return ERR_OK;
}

static int cmp_pub(const void *a, const void *b)
{
    const struct pub *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static void tx_publish(struct tx *t)
{
    if (t->npubs > 1)
        qsort(t->pubs, t->npubs, sizeof(*t->pubs), cmp_pub);
    for (size_t i = 0; i < t->npubs && !t->quiet; i++)
        eventhub_publish(t->e->hub, t->pubs[i].id, t->pubs[i].kind, t->pubs[i].device_id,
                         t->pubs[i].json);
    atomic_fetch_add(&t->e->events_written, t->npubs);
    atomic_fetch_add(&t->e->visits_written, t->visits);
    atomic_fetch_add(&t->e->stays_written, t->stays);
    atomic_fetch_add(&t->e->checkins_written, t->checkins);
}

enum err tx_touch(struct tx *t, int64_t point_id, int64_t from_ms, int64_t to_ms)
{
    int32_t d0 = tzconv_local_day(&t->e->tz, from_ms);
    int32_t d1 = tzconv_local_day(&t->e->tz, to_ms);
    for (size_t i = 0; i < t->ntouched; i++) {
        if (t->touched[i].point_id == point_id) {
            if (d0 < t->touched[i].day_from)
                t->touched[i].day_from = d0;
            if (d1 > t->touched[i].day_to)
                t->touched[i].day_to = d1;
            return ERR_OK;
        }
    }
    if (t->ntouched == t->captouched) {
        size_t nc = t->captouched ? t->captouched * 2 : 16;
        struct touched *g = realloc(t->touched, nc * sizeof(*g));
        if (g == NULL)
            return ERR_INTERNAL;
        t->touched = g;
        t->captouched = nc;
    }
    t->touched[t->ntouched++] = (struct touched){ point_id, d0, d1 };
    return ERR_OK;
}

enum err tx_finish(struct tx *t, enum err err, const char *what)
{
    if (err == ERR_OK)
        err = db_commit(t->c, ENGINE_RID);
    if (err == ERR_OK) {
        tx_publish(t);
        return ERR_OK;
    }
    db_rollback(t->c, ENGINE_RID);
    atomic_fetch_add(&t->e->failures, 1);
    log_warn("engine: %s failed (%s: %s); retrying later", what, err_slug(err),
             db_error_message(t->c));
    return err;
}

/* The device's fixes: loaded once per transaction, widened when a span needs more, sliced. */

static struct stmt st_fixes =
    STMT("engine_fixes",
         "SELECT patrolgis_ts_ms(fix_time), ST_X(geom), ST_Y(geom), flags"
         "  FROM positions"
         " WHERE device_id = $1::bigint"
         "   AND fix_time >= patrolgis_ms_ts($2::bigint) AND ($3::bigint IS NULL OR fix_time"
         " <= patrolgis_ms_ts($3::bigint))"
         " ORDER BY fix_time");

static struct stmt st_fix_after =
    STMT("engine_fix_after", "SELECT EXISTS (SELECT 1 FROM positions WHERE device_id = $1::bigint"
                             "               AND fix_time > patrolgis_ms_ts($2::bigint))");

static enum err fixes_load(struct tx *t, struct fixes *f, int64_t from, int64_t to)
{
    char sd[24], sf[24], st[24];
    fmt_i64(sd, sizeof(sd), f->device_id);
    fmt_i64(sf, sizeof(sf), from);
    fmt_i64(st, sizeof(st), to);
    const char *params[3] = { sd, sf, to == INT64_MAX ? NULL : st };
    PGresult *r = NULL;
    enum err e = db_exec(t->c, &st_fixes, 3, params, &r, ENGINE_RID);
    if (e != ERR_OK)
        return e;
    size_t n = (size_t)PQntuples(r);
    struct fix *v = malloc((n ? n : 1) * sizeof(*v));
    if (v == NULL) {
        PQclear(r);
        return ERR_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        v[i] = (struct fix){ .t_ms = cell_i64(r, row, 0),
                             .lon = cell_f(r, row, 1),
                             .lat = cell_f(r, row, 2),
                             .flags = (unsigned)cell_i64(r, row, 3) };
    }
    PQclear(r);
    free(f->v);
    f->v = v;
    f->n = n;
    f->from = from;
    f->to = to;
    f->loaded = true;
    return ERR_OK;
}

static size_t fixes_lower(const struct fixes *f, int64_t t)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->v[mid].t_ms < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

enum err fixes_get(struct tx *t, struct fixes *f, int64_t from, int64_t to, const struct fix **out,
                   size_t *n, bool *at_end)
{
    if (!f->loaded || from < f->from || to > f->to) {
        int64_t lo = f->loaded && f->from < from ? f->from : from;
        int64_t hi = f->loaded && f->to > to ? f->to : to;
        enum err e = fixes_load(t, f, lo, hi);
        if (e != ERR_OK)
            return e;
    }
    size_t i0 = fixes_lower(f, from);
    size_t i1 = to == INT64_MAX ? f->n : fixes_lower(f, span_add(to, 1));
    *out = f->v + i0;
    *n = i1 - i0;
    if (to == INT64_MAX) {
        *at_end = true;
        return ERR_OK;
    }
    if (i1 < f->n) {
        *at_end = false;
        return ERR_OK;
    }
    if (f->to == INT64_MAX) {
        *at_end = true;
        return ERR_OK;
    }
    char sd[24], st[24];
    fmt_i64(sd, sizeof(sd), f->device_id);
    fmt_i64(st, sizeof(st), to);
    const char *params[2] = { sd, st };
    PGresult *r = NULL;
    enum err e = db_exec(t->c, &st_fix_after, 2, params, &r, ENGINE_RID);
    if (e != ERR_OK)
        return e;
    *at_end = !cell_bool(r, 0, 0);
    PQclear(r);
    return ERR_OK;
}

static struct stmt st_lock =
    STMT("engine_lock", "SELECT pg_try_advisory_xact_lock(hashtext('patrolgis.engine'),"
                        " ($1::bigint % 2147483647)::int)");

static struct stmt st_take =
    STMT("engine_take", "SELECT id, floor(extract(epoch FROM new_from) * 1000)::bigint,"
                        "       ceil(extract(epoch FROM new_to) * 1000)::bigint, recompute"
                        "  FROM engine_queue"
                        " WHERE device_id = $1::bigint"
                        "   AND recompute = NOT EXISTS (SELECT 1 FROM engine_queue"
                        "                                WHERE device_id = $1::bigint"
                        "                                  AND NOT recompute)"
                        " ORDER BY id FOR UPDATE SKIP LOCKED");

static struct stmt st_done = STMT("engine_done", "DELETE"
                                                 " FROM engine_queue"
                                                 " WHERE id = ANY($1::bigint[])");

enum err tx_run_device(struct engine *e, struct db_conn *c, int64_t device_id, bool *skipped)
{
    struct tx t = { .e = e, .c = c, .snap = e->snap, .now_ms = clock_now_ms(e->cfg.clock) };
    struct fixes fx = { .device_id = device_id };
    struct strbuf ids;
    PGresult *r = NULL;
    char sd[24];
    strbuf_init(&ids, 0);
    fmt_i64(sd, sizeof(sd), device_id);
    const char *p1[1] = { sd };
    *skipped = false;

    enum err err = db_begin(c, ENGINE_RID);
    if (err == ERR_OK)
        err = db_exec_sql(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", NULL, ENGINE_RID);
    if (err == ERR_OK)
        err = db_exec(c, &st_lock, 1, p1, &r, ENGINE_RID);
    if (err != ERR_OK)
        goto out;
    if (!cell_bool(r, 0, 0)) {
        *skipped = true;
        goto out;
    }
    PQclear(r);
    r = NULL;
    err = db_exec(c, &st_take, 1, p1, &r, ENGINE_RID);
    if (err != ERR_OK)
        goto out;
    if (PQntuples(r) == 0) {
        *skipped = true;
        goto out;
    }
    int64_t a = INT64_MAX, b = INT64_MIN;
    /* rows of new fixes first; rows a layer edit queued (a recomputation) on their own */
    t.quiet = cell_bool(r, 0, 3);
    if (t.quiet)
        err = periodic_live_from(&t);
    if (err != ERR_OK)
        goto out;
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t f = cell_i64(r, row, 1), to = cell_i64(r, row, 2);
        if (f < a)
            a = f;
        if (to > b)
            b = to;
        strbuf_printf(&ids, "%s%s", row ? "," : "{", PQgetvalue(r, row, 0));
    }
    strbuf_printf(&ids, "}");
    if (strbuf_error(&ids) != ERR_OK) {
        err = ERR_INTERNAL;
        goto out;
    }
    err = late_batch_run(&t, &engine_visits_kind, &fx, device_id, a, b);
    if (err == ERR_OK)
        err = late_batch_run(&t, &engine_stays_kind, &fx, device_id, a, b);
    if (err == ERR_OK)
        err = checkins_run(&t, 1, 0); /* the points whose visits changed */
    if (err == ERR_OK) {
        const char *p2[1] = { ids.p };
        err = db_exec(c, &st_done, 1, p2, NULL, ENGINE_RID);
    }
    if (err == ERR_OK)
        err = db_commit(c, ENGINE_RID);
    if (err == ERR_OK) {
        tx_publish(&t);
        atomic_fetch_add(&e->runs, 1);
        log_debug("engine: device %lld, fixes %lld..%lld: %llu visit, %llu stay, %llu check-in "
                  "row(s) written, %zu event(s)",
                  (long long)device_id, (long long)a, (long long)b, t.visits, t.stays, t.checkins,
                  t.npubs);
    }
out:
    if (err != ERR_OK || *skipped)
        db_rollback(c, ENGINE_RID);
    PQclear(r);
    strbuf_free(&ids);
    free(fx.v);
    tx_clear(&t);
    return err;
}

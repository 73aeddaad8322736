/*
 * engine_visits.c - the visits table as a kind of interval for the late-batch procedure
 * (late_batch.c): the device's stored visits, visits_compute over the snapshot's points, and
 * the writing of the diff keyed on (point, enter): unchanged rows stay (their ids, which
 * check-ins list, do not move), changed ones are updated (an open visit growing with each
 * batch keeps its row), vanished ones deleted, new ones inserted, each in one statement. The
 * points and days whose visits changed go to the transaction, for checkins.c.
 *
 * What it is not: the visit rules (track/visits.c), the procedure itself (late_batch.c) or
 * check-ins (checkins.c).
 */
#include "engine_internal.h"

#include "strbuf.h"

#include <math.h>

static struct stmt st_old_visits =
    STMT("engine_old_visits",
         "SELECT id, point_id, patrolgis_ts_ms(enter_at),"
         "       CASE WHEN exit_at IS NULL"
         "            THEN round(extract(epoch FROM enter_at + dwell_s * interval '1 second')"
         " * 1000)"
         "            ELSE floor(extract(epoch FROM exit_at) * 1000) END::bigint,"
         "       dwell_s, coalesce(min_dist_m, 0), exit_at IS NULL"
         "  FROM visits"
         " WHERE device_id = $1::bigint"
         "   AND coalesce(exit_at, 'infinity'::timestamptz) >= patrolgis_ms_ts($2::bigint)");

static struct stmt st_visits_delete = STMT("engine_visits_delete", "DELETE"
                                                                   " FROM visits"
                                                                   " WHERE id = ANY($1::bigint[])");

static struct stmt st_visits_update =
    STMT("engine_visits_update",
         "UPDATE visits v SET exit_at = CASE WHEN u.open THEN NULL ELSE"
         " patrolgis_ms_ts(u.x::bigint) END,"
         "       dwell_s = u.d, min_dist_m = u.m"
         "  FROM unnest($1::bigint[], $2::bigint[], $3::bool[], $4::float8[], $5::float8[])"
         "       AS u(id, x, open, d, m)"
         " WHERE v.id = u.id");

static struct stmt st_visits_insert =
    STMT("engine_visits_insert",
         "INSERT INTO visits (device_id, point_id, enter_at, exit_at, dwell_s,"
         " min_dist_m) SELECT $1::bigint, u.p, patrolgis_ms_ts(u.e::bigint),"
         " CASE WHEN u.open THEN NULL ELSE patrolgis_ms_ts(u.x::bigint) END, u.d, u.m"
         "   FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bool[],"
         "               $6::float8[], $7::float8[]) AS u(p, e, x, open, d, m)");

static void visits_old_free(struct late_old *old)
{
    free(old->items);
    free(old->ids);
    memset(old, 0, sizeof(*old));
}

static enum err visits_load(struct tx *t, int64_t device_id, int64_t lo, struct late_old *old)
{
    char sd[24], sl[24];
    fmt_i64(sd, sizeof(sd), device_id);
    fmt_i64(sl, sizeof(sl), lo);
    const char *params[2] = { sd, sl };
    PGresult *r = NULL;
    enum err e = db_exec(t->c, &st_old_visits, 2, params, &r, ENGINE_RID);
    if (e != ERR_OK)
        return e;
    size_t n = (size_t)PQntuples(r);
    struct visit *v = malloc((n ? n : 1) * sizeof(*v));
    int64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (v == NULL || ids == NULL) {
        free(v);
        free(ids);
        PQclear(r);
        return ERR_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        v[i] = (struct visit){ .id = cell_i64(r, row, 0),
                               .point_id = cell_i64(r, row, 1),
                               .enter_ms = cell_i64(r, row, 2),
                               .exit_ms = cell_i64(r, row, 3),
                               .dwell_s = cell_f(r, row, 4),
                               .min_dist_m = cell_f(r, row, 5),
                               .open = cell_bool(r, row, 6) };
        ids[i] = v[i].id;
    }
    PQclear(r);
    visits_old_free(old);
    old->items = v;
    old->ids = ids;
    old->n = n;
    old->lo = lo;
    return ERR_OK;
}

static void visits_rules(struct span_rules *r)
{
    struct visits_params p;
    visits_params_default(&p);
    visits_span_rules(&p, r);
}

static void visit_interval(const void *items, size_t i, struct span_iv *iv)
{
    const struct visit *v = &((const struct visit *)items)[i];
    *iv = (struct span_iv){ v->enter_ms, v->exit_ms, v->open };
}

static enum err visits_fresh(struct tx *t, const struct fix *fixes, size_t n,
                             struct late_fresh *out)
{
    struct visits_params p;
    visits_params_default(&p);
    struct visits_result *res = &out->res.visits;
    enum err e = visits_compute(t->snap->points, fixes, n, &p, res);
    if (e != ERR_OK)
        return e;
    out->items = res->visits;
    out->n = res->n;
    out->n_used = res->n_used;
    out->last_fix_ms = res->last_fix_ms;
    out->tail_clean = res->tail_clean;
    return ERR_OK;
}

static void visits_fresh_free(struct late_fresh *f)
{
    visits_result_free(&f->res.visits);
    memset(f, 0, sizeof(*f));
}

static int cmp_visit_key(const void *a, const void *b)
{
    const struct visit *x = a, *y = b;
    if (x->point_id != y->point_id)
        return (x->point_id > y->point_id) - (x->point_id < y->point_id);
    return (x->enter_ms > y->enter_ms) - (x->enter_ms < y->enter_ms);
}

static bool visit_same(const void *old, const void *fresh)
{
    const struct visit *a = old, *b = fresh;
    return a->open == b->open && a->exit_ms == b->exit_ms && fabs(a->dwell_s - b->dwell_s) < 1e-9 &&
           fabs(a->min_dist_m - b->min_dist_m) < 1e-9;
}

/* Array literal of a double, enough digits to read back the same value. */
static void literal_double(struct strbuf *b, double v)
{
    strbuf_printf(b, "%.17g", isfinite(v) ? v : 0.0);
}

/*
 * The operations as three statements, each with arrays in key order: deletes, updates,
 * inserts. Records the touched points and days (a vanished visit's, a new one's, an updated
 * one's old and new extent).
 */
static enum err visits_write(struct tx *t, int64_t device_id, const struct late_old *old,
                             const void *fresh_items, const struct diff_result *d)
{
    const struct visit *ov = old->items, *fresh = fresh_items;
    struct strbuf del, uid, ux, uo, ud, um, ip, ie, ix, io, idw, im;
    struct strbuf *const all[] = { &del, &uid, &ux, &uo, &ud, &um, &ip, &ie, &ix, &io, &idw, &im };
    const size_t nall = sizeof(all) / sizeof(all[0]);
    for (size_t k = 0; k < nall; k++)
        strbuf_init(all[k], 0);
    size_t ndel = 0, nupd = 0, nins = 0;
    enum err e = ERR_OK;
    for (size_t k = 0; k < d->n && e == ERR_OK; k++) {
        const struct diff_op *op = &d->ops[k];
        const struct visit *touched_v = NULL, *touched_w = NULL;
        if (op->kind == DIFF_DELETE) {
            strbuf_printf(&del, "%s%lld", ndel++ ? "," : "{", (long long)old->ids[op->old_i]);
            touched_v = &ov[op->old_i];
        } else if (op->kind == DIFF_INSERT) {
            const struct visit *v = &fresh[op->new_i];
            const char *sep = nins++ ? "," : "{";
            strbuf_printf(&ip, "%s%lld", sep, (long long)v->point_id);
            strbuf_printf(&ie, "%s%lld", sep, (long long)v->enter_ms);
            strbuf_printf(&ix, "%s%lld", sep, (long long)v->exit_ms);
            strbuf_printf(&io, "%s%s", sep, v->open ? "t" : "f");
            strbuf_printf(&idw, "%s", sep);
            literal_double(&idw, v->dwell_s);
            strbuf_printf(&im, "%s", sep);
            literal_double(&im, v->min_dist_m);
            touched_v = v;
        } else {
            const struct visit *v = &fresh[op->new_i];
            const char *sep = nupd++ ? "," : "{";
            strbuf_printf(&uid, "%s%lld", sep, (long long)old->ids[op->old_i]);
            strbuf_printf(&ux, "%s%lld", sep, (long long)v->exit_ms);
            strbuf_printf(&uo, "%s%s", sep, v->open ? "t" : "f");
            strbuf_printf(&ud, "%s", sep);
            literal_double(&ud, v->dwell_s);
            strbuf_printf(&um, "%s", sep);
            literal_double(&um, v->min_dist_m);
            touched_v = v;
            touched_w = &ov[op->old_i];
        }
        e = tx_touch(t, touched_v->point_id, touched_v->enter_ms, touched_v->exit_ms);
        if (e == ERR_OK && touched_w != NULL)
            e = tx_touch(t, touched_w->point_id, touched_w->enter_ms, touched_w->exit_ms);
    }
    for (size_t k = 0; k < nall; k++) {
        strbuf_printf(all[k], "}");
        if (e == ERR_OK && strbuf_error(all[k]) != ERR_OK)
            e = ERR_INTERNAL;
    }
    if (e == ERR_OK && ndel > 0) {
        const char *params[1] = { del.p };
        e = db_exec(t->c, &st_visits_delete, 1, params, NULL, ENGINE_RID);
    }
    if (e == ERR_OK && nupd > 0) {
        const char *params[5] = { uid.p, ux.p, uo.p, ud.p, um.p };
        e = db_exec(t->c, &st_visits_update, 5, params, NULL, ENGINE_RID);
    }
    if (e == ERR_OK && nins > 0) {
        char sd[24];
        fmt_i64(sd, sizeof(sd), device_id);
        const char *params[7] = { sd, ip.p, ie.p, ix.p, io.p, idw.p, im.p };
        e = db_exec(t->c, &st_visits_insert, 7, params, NULL, ENGINE_RID);
    }
    if (e == ERR_OK)
        t->visits += ndel + nupd + nins;
    for (size_t k = 0; k < nall; k++)
        strbuf_free(all[k]);
    return e;
}

const struct late_kind engine_visits_kind = {
    .diff = { sizeof(struct visit), cmp_visit_key, visit_same },
    .active = NULL,
    .rules = visits_rules,
    .interval = visit_interval,
    .load = visits_load,
    .old_free = visits_old_free,
    .compute = visits_fresh,
    .fresh_free = visits_fresh_free,
    .keep = NULL,
    .write = visits_write,
};

/*
 * engine_visits.c - the visits table: the device's stored visits, the late-batch procedure of
 * visits.h over them (affected span, fixes, visits_compute, settled or widened), and the diff
 * that makes the stored visits with enter in [from, upto] equal the fresh ones: unchanged rows
 * stay (their ids, which check-ins list, do not move), changed ones are updated, vanished ones
 * deleted, new ones inserted. The points and days it touched go to the transaction.
 *
 * What it is not: the visit rules (track/visits.c) or check-ins (checkins.c).
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

struct old_visits {
    struct visit *v;
    size_t n;
    int64_t lo; /* every stored visit ending at or after lo (open ones: all) is in v */
};

static enum err old_visits_load(struct tx *t, int64_t device_id, int64_t lo, struct old_visits *o)
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
    if (v == NULL) {
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
    }
    PQclear(r);
    free(o->v);
    o->v = v;
    o->n = n;
    o->lo = lo;
    return ERR_OK;
}

static int cmp_visit_key(const void *a, const void *b)
{
    const struct visit *x = a, *y = b;
    if (x->point_id != y->point_id)
        return (x->point_id > y->point_id) - (x->point_id < y->point_id);
    return (x->enter_ms > y->enter_ms) - (x->enter_ms < y->enter_ms);
}

static bool visit_same(const struct visit *a, const struct visit *b)
{
    return a->open == b->open && a->exit_ms == b->exit_ms && fabs(a->dwell_s - b->dwell_s) < 1e-9 &&
           fabs(a->min_dist_m - b->min_dist_m) < 1e-9;
}

/* Array literal of a double, enough digits to read back the same value. */
static void literal_double(struct strbuf *b, double v)
{
    strbuf_printf(b, "%.17g", isfinite(v) ? v : 0.0);
}

/*
 * Makes the stored visits with enter in [from, upto] equal fresh[0..n): unchanged rows stay,
 * changed ones are updated, vanished ones deleted, new ones inserted. Records the touched
 * points and days.
 */
static enum err visits_replace(struct tx *t, int64_t device_id, const struct old_visits *o,
                               int64_t from, int64_t upto, struct visit *fresh, size_t n)
{
    size_t nold = 0;
    struct visit *old = malloc((o->n ? o->n : 1) * sizeof(*old));
    if (old == NULL)
        return ERR_INTERNAL;
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i].enter_ms >= from && o->v[i].enter_ms <= upto)
            old[nold++] = o->v[i];
    if (nold > 1)
        qsort(old, nold, sizeof(*old), cmp_visit_key);
    if (n > 1)
        qsort(fresh, n, sizeof(*fresh), cmp_visit_key);

    struct strbuf del, uid, ux, uo, ud, um, ip, ie, ix, io, idw, im;
    struct strbuf *const all[] = { &del, &uid, &ux, &uo, &ud, &um, &ip, &ie, &ix, &io, &idw, &im };
    const size_t nall = sizeof(all) / sizeof(all[0]);
    for (size_t k = 0; k < nall; k++)
        strbuf_init(all[k], 0);
    size_t ndel = 0, nupd = 0, nins = 0;
    enum err e = ERR_OK;
    size_t i = 0, j = 0;
    while (i < nold || j < n) {
        int c = i == nold ? 1 : j == n ? -1 : cmp_visit_key(&old[i], &fresh[j]);
        const struct visit *touched_v = NULL, *touched_w = NULL;
        if (c < 0) { /* vanished */
            strbuf_printf(&del, "%s%lld", ndel++ ? "," : "{", (long long)old[i].id);
            touched_v = &old[i++];
        } else if (c > 0) { /* new */
            const struct visit *v = &fresh[j++];
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
            const struct visit *v = &fresh[j++];
            const struct visit *w = &old[i++];
            if (!visit_same(v, w)) {
                const char *sep = nupd++ ? "," : "{";
                strbuf_printf(&uid, "%s%lld", sep, (long long)w->id);
                strbuf_printf(&ux, "%s%lld", sep, (long long)v->exit_ms);
                strbuf_printf(&uo, "%s%s", sep, v->open ? "t" : "f");
                strbuf_printf(&ud, "%s", sep);
                literal_double(&ud, v->dwell_s);
                strbuf_printf(&um, "%s", sep);
                literal_double(&um, v->min_dist_m);
                touched_v = v;
                touched_w = w;
            }
        }
        if (touched_v != NULL)
            e = tx_touch(t, touched_v->point_id, touched_v->enter_ms, touched_v->exit_ms);
        if (e == ERR_OK && touched_w != NULL)
            e = tx_touch(t, touched_w->point_id, touched_w->enter_ms, touched_w->exit_ms);
        if (e != ERR_OK)
            goto out;
    }
    for (size_t k = 0; k < nall; k++) {
        strbuf_printf(all[k], "}");
        if (strbuf_error(all[k]) != ERR_OK)
            e = ERR_INTERNAL;
    }
    if (e != ERR_OK)
        goto out;
    if (ndel > 0) {
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
    t->visits += ndel + nupd + nins;
out:
    for (size_t k = 0; k < nall; k++)
        strbuf_free(all[k]);
    free(old);
    return e;
}

enum err device_visits(struct tx *t, struct fixes *fx, int64_t device_id, int64_t a, int64_t b)
{
    struct visits_params p;
    visits_params_default(&p);
    struct span_rules rules;
    visits_span_rules(&p, &rules);
    int64_t margin = 2 * rules.gap_ms + 2 * rules.merge_ms + 4 * ENGINE_MIN_MS;
    struct old_visits o = { 0 };
    struct visits_result res = { 0 };
    int64_t from = 0, to = 0, upto = 0;
    enum err e = old_visits_load(t, device_id, span_sub(a, margin), &o);
    for (;;) {
        if (e != ERR_OK)
            goto out;
        visits_affected_span(&p, a, b, o.v, o.n, &from, &to);
        int64_t need = span_sub(from, rules.gap_ms + rules.merge_ms + 4 * ENGINE_MIN_MS);
        if (need >= o.lo)
            break;
        e = old_visits_load(t, device_id, span_sub(need, margin), &o);
    }
    for (;;) {
        const struct fix *fv;
        size_t n;
        bool at_end;
        e = fixes_get(t, fx, from, to, &fv, &n, &at_end);
        if (e == ERR_OK)
            e = visits_compute(t->snap->points, fv, n, &p, &res);
        if (e != ERR_OK)
            goto out;
        if (visits_settled(&p, &res, b, at_end, to, o.v, o.n, &upto))
            break;
        to = visits_widen(&p, from, to);
        visits_result_free(&res);
    }
    e = visits_replace(t, device_id, &o, from, upto, res.visits, res.n);
out:
    visits_result_free(&res);
    free(o.v);
    return e;
}

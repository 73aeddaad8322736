/*
 * checkins.c - check-in evaluation and storage: for (point, local days) items, every window
 * of the point that has started by now is evaluated (checkin_evaluate over the visits of all
 * devices at the point), changed rows are upserted, the rows of windows that do not apply are
 * deleted, and what each change announces (checkin_missed, checkin_resolved or nothing, as
 * checkin_event_for decides from the status before and after) is written as events. A window
 * that had closed before it was created is never missed.
 *
 * What it is not: the rules of a window's status or of its announcements (track/checkin.c),
 * or which days to judge when (tx.c after new fixes, periodic.c for the clock and for layer
 * edits).
 */
#include "engine_internal.h"

#include "log.h"
#include "strbuf.h"

#include <jansson.h>

static struct stmt st_point_visits =
    STMT("engine_point_visits",
         "SELECT id, point_id, patrolgis_ts_ms(enter_at),"
         "       CASE WHEN exit_at IS NULL"
         "            THEN round(extract(epoch FROM enter_at + dwell_s * interval '1 second')"
         "                       * 1000)"
         "            ELSE floor(extract(epoch FROM exit_at) * 1000) END::bigint,"
         "       dwell_s, exit_at IS NULL"
         "  FROM visits"
         " WHERE ($1::bigint[] IS NULL OR point_id = ANY($1::bigint[]))"
         "   AND enter_at < patrolgis_ms_ts($3::bigint) AND coalesce(exit_at,"
         " 'infinity'::timestamptz) >= patrolgis_ms_ts($2::bigint)"
         " ORDER BY point_id, enter_at, id");

/*
 * Upserts the evaluated check-ins ($1: JSON rows, i their index) where something changed, and
 * returns (i, check-in id, status before this statement or NULL: no row) of each row changed,
 * in the order of i. "old" reads the rows as they were before this statement (every part of a
 * WITH sees one snapshot), so what the change announces is decided on what really changed
 * (checkin_event_for); checkins_announce writes it.
 */
static struct stmt st_checkins_upsert = STMT(
    "engine_checkins_upsert",
    "WITH"
    " x AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"
    "        AS x(i int, w bigint, p bigint, d int, s text, v bigint[], f bigint)),"
    " old AS (SELECT c.window_id, c.local_date, c.status"
    "           FROM checkins c JOIN x ON c.window_id = x.w"
    "                                 AND c.local_date = date '1970-01-01' + x.d),"
    " up AS (INSERT INTO checkins AS c (point_id, window_id, local_date, status, visit_ids,"
    "                                   first_at)"
    "        SELECT x.p, x.w, date '1970-01-01' + x.d, x.s, x.v, patrolgis_ms_ts(x.f) FROM x"
    "        ON CONFLICT (window_id, local_date) DO UPDATE"
    "           SET point_id = EXCLUDED.point_id, status = EXCLUDED.status,"
    "               visit_ids = EXCLUDED.visit_ids, first_at = EXCLUDED.first_at"
    "         WHERE (c.point_id, c.status, c.visit_ids, c.first_at) IS DISTINCT FROM"
    "               (EXCLUDED.point_id, EXCLUDED.status, EXCLUDED.visit_ids, EXCLUDED.first_at)"
    "        RETURNING c.id, c.window_id, c.local_date)"
    " SELECT x.i, up.id, old.status"
    "   FROM up JOIN x ON x.w = up.window_id AND date '1970-01-01' + x.d = up.local_date"
    "   LEFT JOIN old ON old.window_id = up.window_id AND old.local_date = up.local_date"
    "  ORDER BY x.i");

/*
 * Writes the announcements of changed check-ins ($1: JSON rows with the event kind k, decided
 * by checkin_event_for, and the check-in id): checkin_missed at the window's end, with the
 * window, point and day; checkin_resolved when it was found, with the status and first
 * arrival too. ON CONFLICT DO NOTHING names no target: the only unique indexes of events are
 * the once-per-window-and-date guards (events_checkin_missed_once,
 * events_checkin_resolved_once) and the primary key. Returns the new events
 * (ENGINE_EVENT_RETURNING columns).
 */
static struct stmt st_checkins_announce = STMT(
    "engine_checkins_announce",
    "INSERT INTO events AS e (at, kind, point_id, payload)"
    " SELECT CASE WHEN x.k = 'checkin_missed' THEN patrolgis_ms_ts(x.e) ELSE now() END, x.k, x.p,"
    "        jsonb_build_object('window_id', x.w,"
    "                           'local_date', to_char(date '1970-01-01' + x.d, 'YYYY-MM-DD'),"
    "                           'point_id', x.p, 'point', x.pn, 'window', x.wn,"
    "                           'start', x.ws, 'end', x.we, 'school_id', x.sc,"
    "                           'checkin_id', x.id)"
    "        || CASE WHEN x.k = 'checkin_missed' THEN '{}'::jsonb"
    "                ELSE jsonb_build_object('status', x.s,"
    "                                        'first_at', patrolgis_iso(patrolgis_ms_ts(x.f)))"
    "           END"
    "   FROM jsonb_to_recordset($1::jsonb)"
    "        AS x(k text, id bigint, w bigint, p bigint, d int, s text, f bigint, e bigint,"
    "             pn text, wn text, ws text, we text, sc bigint)"
    " ON CONFLICT DO NOTHING"
    " " ENGINE_EVENT_RETURNING);

static struct stmt st_checkins_delete =
    STMT("engine_checkins_delete",
         "DELETE"
         " FROM checkins c USING jsonb_to_recordset($1::jsonb) AS x(w bigint, d int)"
         " WHERE c.window_id = x.w AND c.local_date = (date '1970-01-01' + x.d)");

/* The (window, local day number) pairs that have a row, for points $1 on days [$2, $3). */
static struct stmt st_existing =
    STMT("engine_existing", "SELECT window_id, local_date - date '1970-01-01' FROM checkins"
                            " WHERE point_id = ANY($1::bigint[])"
                            "   AND local_date >= date '1970-01-01' + $2::int"
                            "   AND local_date < date '1970-01-01' + $3::int"
                            " ORDER BY 1, 2");

static bool has_row(const PGresult *r, int64_t window_id, int32_t day)
{
    int lo = 0, hi = r ? PQntuples(r) : 0;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int64_t w = cell_i64(r, mid, 0), d = cell_i64(r, mid, 1);
        if (w < window_id || (w == window_id && d < day))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < (r ? PQntuples(r) : 0) && cell_i64(r, lo, 0) == window_id &&
           cell_i64(r, lo, 1) == day;
}

/* Which (point, local days) to evaluate: points index into snapshot.pts. */
struct eval_item {
    const struct snap_point *pt;
    int32_t day_from, day_to;
};

/* The statuses and days of the rows to upsert, in their order (what announcements depend on). */
struct judged {
    struct judged_row {
        enum checkin_status status;
        int32_t day;
    } * v;
    size_t n, cap;
};

static enum err judged_add(struct judged *j, enum checkin_status status, int32_t day)
{
    if (j->n == j->cap) {
        size_t nc = j->cap ? j->cap * 2 : 64;
        struct judged_row *g = realloc(j->v, nc * sizeof(*g));
        if (g == NULL)
            return ERR_INTERNAL;
        j->v = g;
        j->cap = nc;
    }
    j->v[j->n++] = (struct judged_row){ status, day };
    return ERR_OK;
}

/* Runs s with the compact JSON text of j as its one parameter (res may be NULL). */
static enum err exec_json(struct tx *t, struct stmt *s, const json_t *j, PGresult **res)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (text == NULL)
        return ERR_INTERNAL;
    const char *params[1] = { text };
    enum err e = db_exec(t->c, s, 1, params, res, ENGINE_RID);
    free(text);
    return e;
}

/* Writes the announcements (JSON rows with k and id) and records them for publication. */
static enum err checkins_announce(struct tx *t, const json_t *events)
{
    PGresult *r = NULL;
    enum err e = exec_json(t, &st_checkins_announce, events, &r);
    if (e == ERR_OK)
        e = tx_pubs_add(t, r, 0);
    PQclear(r);
    return e;
}

/*
 * Upserts the rows (JSON, judged parallel to them) that changed, and announces what each
 * change calls for (checkin_event_for): news or a quiet recomputation (t->quiet), on a day
 * the periodic pass has closed for good or not (t->live_from).
 */
static enum err checkins_upsert(struct tx *t, json_t *rows, const struct judged *judged)
{
    PGresult *r = NULL;
    enum err e = exec_json(t, &st_checkins_upsert, rows, &r);
    if (e != ERR_OK)
        return e;
    t->checkins += (unsigned long long)PQntuples(r);
    json_t *events = json_array();
    if (events == NULL)
        e = ERR_INTERNAL;
    for (int k = 0; e == ERR_OK && k < PQntuples(r); k++) {
        int64_t i = cell_i64(r, k, 0);
        enum checkin_status was = CHECKIN_PENDING;
        bool had_row = !cell_null(r, k, 2);
        if (i < 0 || (size_t)i >= judged->n ||
            (had_row && !checkin_status_parse(PQgetvalue(r, k, 2), &was))) {
            log_error("engine: check-in upsert returned row %lld with status \"%s\"", (long long)i,
                      PQgetvalue(r, k, 2));
            e = ERR_INTERNAL;
            break;
        }
        const struct judged_row *row = &judged->v[i];
        enum checkin_event ev =
            checkin_event_for(had_row, was, row->status, !t->quiet, row->day >= t->live_from);
        if (ev == CHECKIN_EVENT_NONE)
            continue;
        json_t *o = json_copy(json_array_get(rows, (size_t)i));
        if (o == NULL || json_object_set_new(o, "k", json_string(checkin_event_name(ev))) != 0 ||
            json_object_set_new(o, "id", json_integer((json_int_t)cell_i64(r, k, 1))) != 0) {
            json_decref(o);
            e = ERR_INTERNAL;
        } else if (json_array_append_new(events, o) != 0) {
            e = ERR_INTERNAL;
        }
    }
    PQclear(r);
    if (e == ERR_OK && json_array_size(events) > 0)
        e = checkins_announce(t, events);
    json_decref(events);
    return e;
}

/*
 * Evaluates every window of the items' points on their days (windows that have started by
 * now) and stores the results: upserts changed check-ins (with one checkin_missed event per
 * window and date), deletes the rows of windows that do not apply.
 */
static enum err checkins_evaluate(struct tx *t, const struct eval_item *items, size_t nitems)
{
    if (nitems == 0)
        return ERR_OK;
    const struct tzconv *tz = &t->e->tz;
    int32_t dmin = items[0].day_from, dmax = items[0].day_to;
    struct strbuf ids;
    strbuf_init(&ids, 0);
    for (size_t i = 0; i < nitems; i++) {
        if (items[i].day_from < dmin)
            dmin = items[i].day_from;
        if (items[i].day_to > dmax)
            dmax = items[i].day_to;
        strbuf_printf(&ids, "%s%lld", i ? "," : "{", (long long)items[i].pt->id);
    }
    strbuf_printf(&ids, "}");
    char s0[24], s1[24];
    fmt_i64(s0, sizeof(s0), tzconv_local_ms(tz, dmin, 0));
    fmt_i64(s1, sizeof(s1), tzconv_local_ms(tz, dmax + 1, 0));
    const char *params[3] = { ids.p, s0, s1 };
    PGresult *r = NULL, *existing = NULL;
    enum err e = strbuf_error(&ids) != ERR_OK
                     ? ERR_INTERNAL
                     : db_exec(t->c, &st_point_visits, 3, params, &r, ENGINE_RID);
    if (e == ERR_OK && t->existing_only_before > dmin) {
        char d0[16], d1[16];
        snprintf(d0, sizeof(d0), "%d", (int)dmin);
        snprintf(d1, sizeof(d1), "%d", (int)t->existing_only_before);
        const char *pe[3] = { ids.p, d0, d1 };
        e = db_exec(t->c, &st_existing, 3, pe, &existing, ENGINE_RID);
    }
    strbuf_free(&ids);
    if (e != ERR_OK) {
        PQclear(r);
        return e;
    }
    size_t nv = (size_t)PQntuples(r);
    struct visit *v = malloc((nv ? nv : 1) * sizeof(*v));
    int64_t *counted = malloc((nv ? nv : 1) * sizeof(*counted));
    json_t *up = json_array(), *del = json_array();
    struct judged judged = { 0 };
    if (v == NULL || counted == NULL || up == NULL || del == NULL) {
        e = ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < nv; i++) {
        int row = (int)i;
        v[i] = (struct visit){ .id = cell_i64(r, row, 0),
                               .point_id = cell_i64(r, row, 1),
                               .enter_ms = cell_i64(r, row, 2),
                               .exit_ms = cell_i64(r, row, 3),
                               .dwell_s = cell_f(r, row, 4),
                               .open = cell_bool(r, row, 5) };
    }
    for (size_t i = 0; i < nitems; i++) {
        const struct snap_point *pt = items[i].pt;
        /* this point's visits: a run of the result sorted by point */
        size_t a = 0, b = nv;
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            if (v[mid].point_id < pt->id)
                a = mid + 1;
            else
                b = mid;
        }
        for (b = a; b < nv && v[b].point_id == pt->id; b++)
            ;
        for (size_t k = 0; k < pt->nw; k++) {
            const struct snap_window *sw = &t->snap->windows[pt->w0 + k];
            for (int32_t day = items[i].day_from; day <= items[i].day_to; day++) {
                if (tzconv_local_ms(tz, day, sw->w.start_s) > t->now_ms)
                    continue; /* not started: no row yet */
                if (day < t->existing_only_before && !has_row(existing, sw->w.id, day))
                    continue;
                struct checkin_result res;
                e = checkin_evaluate(&pt->cp, &sw->w, tz, day, t->now_ms, v + a, b - a, counted,
                                     b - a, &res);
                if (e != ERR_OK) {
                    log_warn("engine: window %lld cannot be evaluated (%s)", (long long)sw->w.id,
                             err_slug(e));
                    e = ERR_OK;
                    continue;
                }
                /* A window that had closed before it was created: nobody could have known of
                 * it, so never "missed" (visits that qualify still count). */
                if (res.status == CHECKIN_NOT_APPLICABLE ||
                    (res.status == CHECKIN_MISSED && res.window_to_ms <= sw->created_ms)) {
                    json_array_append_new(
                        del, json_pack("{s:I,s:i}", "w", (json_int_t)sw->w.id, "d", (int)day));
                    continue;
                }
                json_t *vis = json_array();
                for (size_t q = 0; q < res.n_counted && q < b - a; q++)
                    json_array_append_new(vis, json_integer((json_int_t)counted[q]));
                json_t *row = json_pack(
                    "{s:I,s:I,s:I,s:i,s:s,s:o,s:o,s:I,s:s,s:s,s:s,s:s,s:o}", "i",
                    (json_int_t)json_array_size(up), "w", (json_int_t)sw->w.id, "p",
                    (json_int_t)pt->id, "d", (int)day, "s", checkin_status_name(res.status), "v",
                    vis, "f", res.has_first ? json_integer((json_int_t)res.first_ms) : json_null(),
                    "e", (json_int_t)res.window_to_ms, "pn", pt->name, "wn", sw->name, "ws",
                    sw->start, "we", sw->end, "sc",
                    pt->school_id ? json_integer((json_int_t)pt->school_id) : json_null());
                if (row == NULL || judged_add(&judged, res.status, day) != ERR_OK ||
                    json_array_append_new(up, row) != 0) {
                    json_decref(row);
                    e = ERR_INTERNAL;
                    goto out;
                }
            }
        }
    }
    if (json_array_size(up) > 0)
        e = checkins_upsert(t, up, &judged);
    if (e == ERR_OK && json_array_size(del) > 0)
        e = exec_json(t, &st_checkins_delete, del, NULL);
out:
    json_decref(up);
    json_decref(del);
    free(judged.v);
    free(counted);
    free(v);
    PQclear(r);
    PQclear(existing);
    return e;
}

static int cmp_touched(const void *a, const void *b)
{
    const struct touched *x = a, *y = b;
    return (x->point_id > y->point_id) - (x->point_id < y->point_id);
}

enum err checkins_run(struct tx *t, int32_t all_from, int32_t all_to)
{
    const struct snapshot *s = t->snap;
    int32_t today = tzconv_local_day(&t->e->tz, t->now_ms);
    if (all_to > today)
        all_to = today;
    bool all = all_from <= all_to;
    size_t cap = all ? s->npts : t->ntouched;
    struct eval_item *items = malloc((cap ? cap : 1) * sizeof(*items));
    if (items == NULL)
        return ERR_INTERNAL;
    if (t->ntouched > 1)
        qsort(t->touched, t->ntouched, sizeof(*t->touched), cmp_touched);
    size_t n = 0, k = 0;
    /* touched is sorted by point id, and so are the snapshot's points: one merge walk */
    for (size_t i = 0; i < s->npts && (all || k < t->ntouched); i++) {
        const struct snap_point *pt = &s->pts[i];
        while (k < t->ntouched && t->touched[k].point_id < pt->id)
            k++; /* a point the snapshot no longer has */
        bool hit = k < t->ntouched && t->touched[k].point_id == pt->id;
        if (pt->nw == 0 || (!all && !hit))
            continue;
        int32_t d0 = all ? all_from : INT32_MAX, d1 = all ? all_to : INT32_MIN;
        if (hit) {
            if (t->touched[k].day_from < d0)
                d0 = t->touched[k].day_from;
            if (t->touched[k].day_to > d1)
                d1 = t->touched[k].day_to;
        }
        if (d1 > today)
            d1 = today;
        if (d0 <= d1)
            items[n++] = (struct eval_item){ pt, d0, d1 };
    }
    enum err e = checkins_evaluate(t, items, n);
    free(items);
    return e;
}

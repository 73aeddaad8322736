/*
 * ingest.c - the ingestion transaction (see ingest.h). The new fixes go to PostgreSQL by one
 * binary COPY per batch; the other arrays (cluster bounds, re-flags) as text array parameters
 * of prepared statements (unnest on the server side), never as spliced SQL.
 *
 * Not here: the rules that judge a fix and the speed filter itself (ingest_fix.c).
 */
#include "ingest.h"

#include "db.h"
#include "log.h"
#include "strbuf.h"
#include "parse.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XSTR(x) STR_(x)
#define STR_(x) #x

/* ---- array literals "{a,b,...}" in a strbuf ---- */

/* Appends "," before every element but the first of an array literal "{...}". */
static void sb_sep(struct strbuf *b, size_t i)
{
    strbuf_adds(b, i == 0 ? "{" : ",");
}

static void sb_close(struct strbuf *b)
{
    strbuf_adds(b, "}");
}

/* ---- statements ---- */

static struct stmt st_lock = STMT("ingest_lock", "SELECT pg_advisory_xact_lock("
                                                 "hashtext('patrolgis.ingest'),"
                                                 " ($1::bigint % 2147483647)::int)");

static struct stmt st_partitions =
    STMT("ingest_partitions", "SELECT coalesce(sum(positions_ensure_partitions(m, m)), 0)::int"
                              "  FROM unnest($1::date[]) AS m"
                              " WHERE to_regclass('positions_p' || to_char(m, 'YYYYMM')) IS NULL");

/* Every stored fix inside each cluster, and the INGEST_WINDOW_CANDIDATES candidates (fixes
 * with no flag but the speed one) before and after it. */
static struct stmt st_window =
    STMT("ingest_window",
         "WITH c AS (SELECT timestamptz 'epoch' + lo * interval '1 millisecond' AS lo,"
         "                  timestamptz 'epoch' + hi * interval '1 millisecond' AS hi"
         "             FROM unnest($2::bigint[], $3::bigint[]) AS u(lo, hi)),"
         " w AS (SELECT p.fix_time, ST_X(p.geom) AS x, ST_Y(p.geom) AS y, p.flags"
         "         FROM c JOIN positions p ON p.device_id = $1::bigint"
         "                                 AND p.fix_time BETWEEN c.lo AND c.hi"
         "       UNION"
         "       SELECT b.* FROM c CROSS JOIN LATERAL"
         "         (SELECT fix_time, ST_X(geom), ST_Y(geom), flags FROM positions"
         "           WHERE device_id = $1::bigint AND fix_time < c.lo AND (flags & ~1) = 0"
         "           ORDER BY fix_time DESC LIMIT " XSTR(
             INGEST_WINDOW_CANDIDATES) ") b"
                                       "       UNION"
                                       "       SELECT a.* FROM c CROSS JOIN LATERAL"
                                       "         (SELECT fix_time, ST_X(geom), ST_Y(geom), flags "
                                       "FROM positions"
                                       "           WHERE device_id = $1::bigint AND fix_time > "
                                       "c.hi AND (flags & ~1) = 0"
                                       "           ORDER BY fix_time LIMIT " XSTR(
                                           INGEST_WINDOW_CANDIDATES) ") a)"
                                                                     " SELECT (extract(epoch FROM "
                                                                     "fix_time) * 1000)::bigint, "
                                                                     "x, y, flags"
                                                                     "   FROM w ORDER BY fix_time");

static struct stmt st_reflag = STMT(
    "ingest_reflag", "UPDATE positions p SET flags = u.f"
                     "  FROM unnest($2::bigint[], $3::int[]) AS u(t, f)"
                     " WHERE p.device_id = $1::bigint"
                     "   AND p.fix_time = timestamptz 'epoch' + u.t * interval '1 millisecond'");

/* device_latest = the newest fix without any flag (none: no row). */
static struct stmt st_latest =
    STMT("ingest_latest",
         "WITH newest AS (SELECT device_id, fix_time, geom, speed_kmh, heading FROM positions"
         "                 WHERE device_id = $1::bigint AND flags = 0"
         "                 ORDER BY fix_time DESC LIMIT 1),"
         " gone AS (DELETE FROM device_latest WHERE device_id = $1::bigint"
         "           AND NOT EXISTS (SELECT 1 FROM newest))"
         " INSERT INTO device_latest AS l (device_id, fix_time, geom, speed_kmh, heading)"
         " SELECT device_id, fix_time, geom, speed_kmh, heading FROM newest"
         " ON CONFLICT (device_id) DO UPDATE SET fix_time = EXCLUDED.fix_time,"
         "   geom = EXCLUDED.geom, speed_kmh = EXCLUDED.speed_kmh, heading = EXCLUDED.heading"
         " WHERE (l.fix_time, l.speed_kmh, l.heading) IS DISTINCT FROM"
         "       (EXCLUDED.fix_time, EXCLUDED.speed_kmh, EXCLUDED.heading)"
         "    OR NOT ST_Equals(l.geom, EXCLUDED.geom)");

static struct stmt st_queue = STMT(
    "ingest_queue",
    "WITH q AS (INSERT INTO engine_queue (device_id, new_from, new_to)"
    "           VALUES ($1::bigint, timestamptz 'epoch' + $2::bigint * interval '1 millisecond',"
    "                   timestamptz 'epoch' + $3::bigint * interval '1 millisecond')"
    "           RETURNING device_id)"
    " SELECT pg_notify('" DB_CHANNEL_ENGINE "', device_id::text) FROM q");

static struct stmt st_audit =
    STMT("ingest_audit", "INSERT INTO audit_log (actor, action, target, target_id, request_id,"
                         " detail) VALUES ($1, 'upload', 'positions', $2::bigint, $3, $4)");

/* ---- helpers ---- */

static const char *crs_column(enum crs c)
{
    switch (c) {
    case CRS_CGCS2000:
        return "cgcs2000";
    case CRS_GCJ02:
        return "gcj02";
    default:
        return "wgs84";
    }
}

/* The UTC year and month of a time in ms (H. Hinnant's civil_from_days). */
static void year_month(int64_t ms, int *y, int *m)
{
    int64_t z = (ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000) + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (mo <= 2));
    *m = mo;
}

struct keyed {
    int64_t t;
    size_t i; /* index in the request */
};

static int cmp_keyed(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The accepted fixes sorted by time; of equal times the first in the request is kept (the
 * others count as duplicates). Returns how many were kept in out[]. */
static size_t unique_by_time(const struct ingest_fix *fixes, size_t n,
                             const struct ingest_verdict *v, struct keyed *out)
{
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].reject == NULL)
            out[m++] = (struct keyed){ fixes[i].t_ms, i };
    qsort(out, m, sizeof(*out), cmp_keyed);
    for (size_t i = 0; i < m; i++)
        if (k == 0 || out[i].t != out[k - 1].t)
            out[k++] = out[i];
    return k;
}

/* ---- the transaction, step by step ---- */

struct work {
    struct db_conn *c;
    const struct ingest_request *rq;
    struct ingest_result *out;
    char id[24];
    int64_t *fresh; /* sorted times of the newly stored fixes */
    size_t nfresh;
    int64_t span_lo, span_hi; /* fix times stored or re-flagged by this batch */
    enum db_violation broke;  /* the rule whose failure rolled the transaction back */
    char *msg;
    size_t msglen;
};

/* The client's message for a database failure. */
static void db_failure(struct work *w, enum err e)
{
    snprintf(w->msg, w->msglen, "could not store the fixes (%s); nothing was stored",
             e == ERR_UNAVAILABLE ? "the database is not available; retry shortly"
             : e == ERR_TIMEOUT   ? "the database took too long; retry"
                                  : "database error");
}

static enum err exec(struct work *w, struct stmt *s, int np, const char *const *p, PGresult **res)
{
    enum err e = db_exec(w->c, s, np, p, res, w->rq->rid);
    if (e != ERR_OK)
        db_failure(w, e);
    return e;
}

static enum err oom(struct work *w)
{
    snprintf(w->msg, w->msglen, "out of memory; nothing was stored");
    return ERR_INTERNAL;
}

/*
 * Creates the monthly partitions the batch needs, in a short transaction of its own before the
 * batch's: positions_ensure_partitions() holds its lock until COMMIT, which would serialise
 * every batch behind one that creates a partition. Two sessions creating the same month race
 * (the loser's catalog view can predate the winner's COMMIT: "already exists"); a new
 * transaction sees the winner's table, so such a failure is retried. An extra partition is
 * harmless if the batch then fails.
 */
static enum err step_partitions(struct work *w, const struct keyed *k, size_t m)
{
    struct strbuf b;
    strbuf_init(&b, 0);
    int last_y = 0, last_m = 0;
    size_t nm = 0;
    for (size_t i = 0; i < m; i++) {
        int y, mo;
        year_month(k[i].t, &y, &mo);
        if (y == last_y && mo == last_m)
            continue;
        sb_sep(&b, nm++);
        strbuf_printf(&b, "%04d-%02d-01", y, mo);
        last_y = y;
        last_m = mo;
    }
    sb_close(&b);
    if (strbuf_error(&b) != ERR_OK) {
        strbuf_free(&b);
        return oom(w);
    }
    const char *params[1] = { b.p };
    PGresult *res = NULL;
    enum err e = ERR_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        e = exec(w, &st_partitions, 1, params, &res);
        enum db_violation v = db_error_violation(w->c);
        if (e == ERR_OK || (v != DB_VIOLATION_DUPLICATE_OBJECT && v != DB_VIOLATION_UNIQUE))
            break;
        log_msg(LOG_INFO, w->rq->rid, "ingest: partition created concurrently; retrying");
    }
    if (e == ERR_OK && strcmp(PQgetvalue(res, 0, 0), "0") != 0)
        log_msg(LOG_INFO, w->rq->rid, "ingest: created %s positions partition(s) for months %s",
                PQgetvalue(res, 0, 0), b.p);
    PQclear(res);
    strbuf_free(&b);
    return e;
}

/* Array literal of n int64 values. */
static void sb_i64s(struct strbuf *b, const int64_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sb_sep(b, i);
        strbuf_printf(b, "%lld", (long long)v[i]);
    }
    if (n == 0)
        strbuf_printf(b, "{");
    sb_close(b);
}

/* ---- PostgreSQL's binary COPY format (big-endian fields, each with its length) ---- */

static void sb_be(struct strbuf *b, uint64_t v, int bytes)
{
    unsigned char o[8];
    for (int i = 0; i < bytes; i++)
        o[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    strbuf_add(b, o, (size_t)bytes);
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static void copy_i32(struct strbuf *b, int32_t v)
{
    sb_be(b, 4, 4);
    sb_be(b, (uint32_t)v, 4);
}

static void copy_i64(struct strbuf *b, int64_t v)
{
    sb_be(b, 8, 4);
    sb_be(b, (uint64_t)v, 8);
}

/* float4; NaN (not given) is NULL */
static void copy_real(struct strbuf *b, double v)
{
    if (isnan(v)) {
        sb_be(b, UINT32_MAX, 4); /* length -1 */
        return;
    }
    float f = (float)v;
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    sb_be(b, 4, 4);
    sb_be(b, u, 4);
}

static void copy_text(struct strbuf *b, const char *s)
{
    size_t n = strlen(s);
    sb_be(b, n, 4);
    strbuf_add(b, s, n);
}

/* A geometry(Point, 4326) as EWKB: big-endian, point type with the SRID flag, SRID, x, y. */
static void copy_point(struct strbuf *b, double lon, double lat)
{
    sb_be(b, 25, 4);
    sb_be(b, 0, 1);
    sb_be(b, 0x20000001u, 4);
    sb_be(b, 4326, 4);
    sb_be(b, f64_bits(lon), 8);
    sb_be(b, f64_bits(lat), 8);
}

#define PG_EPOCH_MS INT64_C(946684800000) /* 2000-01-01, the zero of binary timestamps */

/* ---- the batch's fixes merged with the stored ones around them ---- */

/*
 * pts: the stored fixes around the batch (every one inside a cluster of the batch's times,
 * plus INGEST_WINDOW_CANDIDATES candidates on each side) merged with the batch's fixes that
 * are not stored yet, sorted by time. from[i] is the index in k[] of a new fix, -1 for a
 * stored one. A batch fix whose time is stored is a duplicate: the stored row wins, as
 * ON CONFLICT DO NOTHING would decide.
 */
struct window {
    struct ingest_pt *pts;
    long *from;
    size_t n;
};

static void window_free(struct window *win)
{
    free(win->pts);
    free(win->from);
}

/* Runs st_window around clusters of the sorted times t[0..n). */
static enum err load_window(struct work *w, const int64_t *t, size_t n, PGresult **res)
{
    enum err e;
    int64_t *lo = malloc((n ? n : 1) * sizeof(*lo)), *hi = malloc((n ? n : 1) * sizeof(*hi));
    struct strbuf blo, bhi;
    strbuf_init(&blo, 0);
    strbuf_init(&bhi, 0);
    if (lo == NULL || hi == NULL) {
        e = oom(w);
        goto out;
    }
    size_t ncl = ingest_clusters(t, n, lo, hi);
    sb_i64s(&blo, lo, ncl);
    sb_i64s(&bhi, hi, ncl);
    if (strbuf_error(&blo) != ERR_OK || strbuf_error(&bhi) != ERR_OK) {
        e = oom(w);
        goto out;
    }
    const char *params[3] = { w->id, blo.p, bhi.p };
    e = exec(w, &st_window, 3, params, res);
out:
    strbuf_free(&blo);
    strbuf_free(&bhi);
    free(lo);
    free(hi);
    return e;
}

/* Loads the window and merges the batch (k[0..m), sorted unique times) into it; fills
 * w->fresh with the times of the new fixes. */
static enum err step_window(struct work *w, const struct ingest_fix *fixes,
                            const struct ingest_verdict *v, const struct keyed *k, size_t m,
                            struct window *win)
{
    PGresult *res = NULL;
    int64_t *t = malloc((m ? m : 1) * sizeof(*t));
    enum err e;
    if (t == NULL)
        return oom(w);
    for (size_t j = 0; j < m; j++)
        t[j] = k[j].t;
    e = load_window(w, t, m, &res);
    if (e != ERR_OK)
        goto out;
    size_t nrows = (size_t)PQntuples(res), cap = nrows + m;
    win->pts = calloc(cap ? cap : 1, sizeof(*win->pts));
    win->from = malloc((cap ? cap : 1) * sizeof(*win->from));
    w->fresh = malloc((m ? m : 1) * sizeof(*w->fresh));
    if (win->pts == NULL || win->from == NULL || w->fresh == NULL) {
        e = oom(w);
        goto out;
    }
    size_t r = 0, j = 0, n = 0;
    while (r < nrows || j < m) {
        int64_t tr = r < nrows ? parse_cell_i64(PQgetvalue(res, (int)r, 0)) : INT64_MAX;
        struct ingest_pt *p = &win->pts[n];
        if (r < nrows && (j == m || tr <= k[j].t)) {
            p->t_ms = tr;
            p->lon = parse_cell_double(PQgetvalue(res, (int)r, 1));
            p->lat = parse_cell_double(PQgetvalue(res, (int)r, 2));
            p->flags = (int)parse_cell_i64(PQgetvalue(res, (int)r, 3));
            win->from[n++] = -1;
            if (j < m && tr == k[j].t)
                j++; /* stored already: a duplicate */
            r++;
        } else {
            const struct ingest_fix *f = &fixes[k[j].i];
            p->t_ms = f->t_ms;
            p->lon = f->lon;
            p->lat = f->lat;
            p->flags = v[k[j].i].flags;
            win->from[n++] = (long)j;
            w->fresh[w->nfresh++] = f->t_ms;
            j++;
        }
    }
    win->n = n;
    if (w->nfresh > 0) {
        w->span_lo = w->fresh[0];
        w->span_hi = w->fresh[w->nfresh - 1];
    }
out:
    PQclear(res);
    free(t);
    return e;
}

/* Recomputes the impossible-speed flag over the window (ingest_fix.h explains why the window
 * is enough) and marks the points whose flag may have changed. */
static enum err step_flags(struct work *w, struct window *win)
{
    int64_t *lo = malloc(w->nfresh * sizeof(*lo)), *hi = malloc(w->nfresh * sizeof(*hi));
    if (lo == NULL || hi == NULL) {
        free(lo);
        free(hi);
        return oom(w);
    }
    size_t ncl = ingest_clusters(w->fresh, w->nfresh, lo, hi);
    ingest_speed_flags(win->pts, win->n, w->rq->limits->max_speed_kmh);
    ingest_affected(win->pts, win->n, lo, hi, ncl);
    free(lo);
    free(hi);
    return ERR_OK;
}

/* Stores the new fixes, with their final flags, by one binary COPY. */
static enum err step_copy(struct work *w, const struct ingest_fix *fixes, const struct keyed *k,
                          const struct window *win)
{
    static const char sig[11] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0' };
    struct strbuf b;
    strbuf_init(&b, 0);
    const char *crs = crs_column(w->rq->crs);
    strbuf_add(&b, sig, sizeof(sig));
    sb_be(&b, 0, 4); /* flags */
    sb_be(&b, 0, 4); /* header extension length */
    for (size_t i = 0; i < win->n; i++) {
        if (win->from[i] < 0)
            continue;
        const struct ingest_pt *p = &win->pts[i];
        const struct ingest_fix *f = &fixes[k[win->from[i]].i];
        if (p->new_flags != 0)
            w->out->flagged++;
        sb_be(&b, 10, 2); /* fields, in the order of the COPY's column list */
        copy_i64(&b, w->rq->device_id);
        copy_i64(&b, (f->t_ms - PG_EPOCH_MS) * 1000);
        copy_point(&b, f->lon, f->lat);
        copy_real(&b, f->speed_kmh);
        copy_real(&b, f->heading);
        copy_real(&b, f->accuracy_m);
        copy_real(&b, f->altitude_m);
        copy_text(&b, w->rq->source);
        copy_text(&b, crs);
        copy_i32(&b, p->new_flags);
    }
    sb_be(&b, UINT16_MAX, 2); /* trailer: -1 */
    enum err e;
    if (strbuf_error(&b) != ERR_OK) {
        e = oom(w);
    } else {
        e = db_copy_in(w->c,
                       "COPY positions (device_id, fix_time, geom, speed_kmh, heading,"
                       " accuracy_m, altitude_m, source, src_crs, flags)"
                       " FROM STDIN (FORMAT binary)",
                       b.p, b.len, w->rq->rid);
        if (e != ERR_OK)
            db_failure(w, e);
    }
    strbuf_free(&b);
    return e;
}

/* Writes the changed speed flags of stored fixes in the window and widens the span to them. */
static enum err step_reflag(struct work *w, const struct window *win)
{
    struct strbuf ts, fl;
    strbuf_init(&ts, 0);
    strbuf_init(&fl, 0);
    size_t nchanged = 0;
    for (size_t i = 0; i < win->n; i++) {
        const struct ingest_pt *p = &win->pts[i];
        if (win->from[i] >= 0 || !p->affected || p->new_flags == p->flags)
            continue;
        sb_sep(&ts, nchanged);
        strbuf_printf(&ts, "%lld", (long long)p->t_ms);
        sb_sep(&fl, nchanged);
        strbuf_printf(&fl, "%d", p->new_flags);
        nchanged++;
        w->out->reflagged++;
        if (p->t_ms < w->span_lo)
            w->span_lo = p->t_ms;
        if (p->t_ms > w->span_hi)
            w->span_hi = p->t_ms;
    }
    enum err e = ERR_OK;
    sb_close(&ts);
    sb_close(&fl);
    if (strbuf_error(&ts) != ERR_OK || strbuf_error(&fl) != ERR_OK) {
        e = oom(w);
    } else if (nchanged > 0) {
        const char *params[3] = { w->id, ts.p, fl.p };
        e = exec(w, &st_reflag, 3, params, NULL);
    }
    strbuf_free(&ts);
    strbuf_free(&fl);
    return e;
}

static enum err step_queue(struct work *w)
{
    char from[24], to[24];
    snprintf(from, sizeof(from), "%lld", (long long)w->span_lo);
    snprintf(to, sizeof(to), "%lld", (long long)w->span_hi);
    const char *params[3] = { w->id, from, to };
    return exec(w, &st_queue, 3, params, NULL);
}

static enum err step_audit(struct work *w)
{
    char detail[200];
    snprintf(detail, sizeof(detail), "%s: %ld new, %ld duplicate, %ld flagged, %ld rejected",
             w->rq->source, w->out->fresh, w->out->duplicate, w->out->flagged, w->out->rejected);
    const char *params[4] = { w->rq->audit_actor, w->id, w->rq->rid ? w->rq->rid : "", detail };
    return exec(w, &st_audit, 4, params, NULL);
}

/* The transaction: lock, window, flags, COPY, re-flags, latest, queue, audit, COMMIT. Rolled
 * back on any failure. */
static enum err store(struct work *w, const struct ingest_fix *fixes,
                      const struct ingest_verdict *v, const struct keyed *k, size_t m)
{
    struct db_conn *c = w->c;
    const struct ingest_request *rq = w->rq;
    struct window win = { 0 };
    const char *id_params[1] = { w->id };
    free(w->fresh);
    w->fresh = NULL;
    w->nfresh = 0;
    w->out->flagged = w->out->reflagged = 0;
    w->broke = DB_VIOLATION_NONE;
    enum err e = db_begin(c, rq->rid);
    if (e != ERR_OK) {
        db_failure(w, e);
        return e;
    }
    if ((e = exec(w, &st_lock, 1, id_params, NULL)) != ERR_OK ||
        (e = step_window(w, fixes, v, k, m, &win)) != ERR_OK)
        goto out;
    w->out->fresh = (long)w->nfresh;
    w->out->duplicate = w->out->accepted - w->out->fresh;
    if (w->nfresh > 0) {
        if ((e = step_flags(w, &win)) != ERR_OK || (e = step_copy(w, fixes, k, &win)) != ERR_OK ||
            (e = step_reflag(w, &win)) != ERR_OK ||
            (e = exec(w, &st_latest, 1, id_params, NULL)) != ERR_OK ||
            (e = step_queue(w)) != ERR_OK)
            goto out;
    }
    if (rq->audit_actor != NULL && (e = step_audit(w)) != ERR_OK)
        goto out;
    e = db_commit(c, rq->rid);
    if (e != ERR_OK)
        snprintf(w->msg, w->msglen, "could not commit the fixes; nothing was stored, retry");
out:
    if (e != ERR_OK) {
        w->broke = db_error_violation(c);
        db_rollback(c, rq->rid);
    }
    window_free(&win);
    return e;
}

enum err ingest_batch(struct db_conn *c, const struct ingest_request *rq, struct ingest_fix *fixes,
                      size_t n, struct ingest_verdict *verdicts, struct ingest_result *out,
                      char *msg, size_t msglen)
{
    struct work w = { .c = c, .rq = rq, .out = out, .msg = msg, .msglen = msglen };
    struct keyed *k = NULL;
    enum err e;

    memset(out, 0, sizeof(*out));
    msg[0] = '\0';
    out->accepted = (long)ingest_check(fixes, n, rq->crs, rq->now_ms, rq->limits, verdicts);
    out->rejected = (long)n - out->accepted;
    if (out->accepted == 0) {
        snprintf(msg, msglen, "every fix was rejected; nothing was stored");
        return ERR_UNPROCESSABLE;
    }
    snprintf(w.id, sizeof(w.id), "%lld", rq->device_id);
    k = malloc((size_t)out->accepted * sizeof(*k));
    if (k == NULL)
        return oom(&w);
    size_t m = unique_by_time(fixes, n, verdicts, k);

    e = step_partitions(&w, k, m);
    /* A row of the batch stored by a writer that bypasses the device lock makes the COPY fail
     * with a unique violation; the second attempt sees that row as a duplicate. */
    for (int attempt = 0; e == ERR_OK; attempt++) {
        e = store(&w, fixes, verdicts, k, m);
        if (e == ERR_OK || attempt > 0 || w.broke != DB_VIOLATION_UNIQUE)
            break;
        log_msg(LOG_INFO, rq->rid, "ingest: a fix was stored concurrently; retrying the batch");
        e = ERR_OK;
    }
    if (e != ERR_OK)
        out->fresh = out->duplicate = out->flagged = out->reflagged = 0;
    free(w.fresh);
    free(k);
    return e;
}

/*
 * api_checkins.c - what the check-in engine produced, over HTTP (viewer and up):
 *   GET /api/v1/checkins                 check-ins of one local date (status per window)
 *   GET /api/v1/reports/checkins         done / late / missed / pending and compliance per
 *                                        school, point, device or day (JSON or CSV)
 *   GET /api/v1/reports/presence         minutes police were seen at each school's gates in its
 *                                        key periods (union of visits: two cars count once)
 *   GET /api/v1/visits                   visits in a time range
 *   GET /api/v1/events                   events in a time range
 *   GET /api/v1/events/stream            new events as server-sent events (Last-Event-ID)
 *   GET /api/v1/devices/{id}/track       a device's fixes as a GeoJSON line, split at gaps
 *
 * Times in answers are UTC RFC 3339 instants, local dates (YYYY-MM-DD, the server's zone) and
 * local clock times of windows and periods. Query instants are RFC 3339 with a zone, or a date
 * (its local midnight; as `to`, the end of that day).
 *
 * Not here: the engine (engine/) or ingestion (api_ingest.c).
 */
#include "api.h"
#include "api_args.h"

#include "access.h"
#include "app.h"
#include "arena.h"
#include "auth.h"
#include "clock.h"
#include "db.h"
#include "engine.h"
#include "eventhub.h"
#include "http.h"
#include "json.h"
#include "req_json.h"
#include "layerdef.h"
#include "parse.h"
#include "pgjson.h"
#include "router.h"
#include "strbuf.h"
#include "tzconv.h"
#include "visits.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIST_DEFAULT_LIMIT  1000
#define LIST_MAX_LIMIT      10000
#define TRACK_MAX_FIXES     200000
#define STREAM_BACKLOG      1000
#define STREAM_HEARTBEAT_MS 15000
#define STREAM_RETRY_MS     3000

#define XSTR_(x) #x
#define XSTR(x)  XSTR_(x)

/* ---- query arguments ------------------------------------------------------------------------ */

/* An optional positive id argument: ERR_OK with *out (NULL when absent), or the 400 replied. */
static enum err arg_id(struct req *r, const char *name, const char **out)
{
    int64_t v;
    *out = req_query(r, name);
    if (*out == NULL || parse_i64(*out, 1, INT64_MAX, &v) == ERR_OK)
        return ERR_OK;
    req_reply_error(r, ERR_INVALID_ARGUMENT, "%s must be a positive integer id", name);
    return ERR_INVALID_ARGUMENT;
}

static enum err arg_date(struct req *r, const char *name, const char **out)
{
    *out = req_query(r, name);
    if (*out == NULL || layerdef_valid_date(*out))
        return ERR_OK;
    req_reply_error(r, ERR_INVALID_ARGUMENT, "%s must be a date YYYY-MM-DD", name);
    return ERR_INVALID_ARGUMENT;
}

/*
 * An optional instant: RFC 3339 with a zone, or a date meaning its local midnight (as the end
 * of a range, end_of_day: the next midnight). *out is text for ::timestamptz, or NULL.
 */
static enum err arg_instant(struct req *r, const char *name, bool end_of_day, const char **out)
{
    const char *v = req_query(r, name);
    *out = v;
    if (v == NULL || layerdef_valid_timestamp(v))
        return ERR_OK;
    int32_t day;
    if (tzconv_parse_date(v, &day)) {
        if (end_of_day) {
            int32_t y, m, d;
            tzconv_civil_from_days(day + 1, &y, &m, &d);
            *out = arena_printf(r->arena, "%04d-%02d-%02d", (int)y, (int)m, (int)d);
        }
        return ERR_OK;
    }
    req_reply_error(r, ERR_INVALID_ARGUMENT,
                    "%s must be an RFC 3339 instant with a zone (2026-11-28T07:05:00+08:00) or a "
                    "date YYYY-MM-DD",
                    name);
    return ERR_INVALID_ARGUMENT;
}

/* `limit` as a bound parameter (api_arg_count: the one rule for page sizes). */
static enum err arg_limit(struct req *r, const char **out)
{
    long v;
    enum err e = api_arg_count(r, "limit", LIST_DEFAULT_LIMIT, 1, LIST_MAX_LIMIT, &v);
    if (e != ERR_OK)
        return e;
    *out = arena_printf(r->arena, "%ld", v);
    if (*out == NULL) {
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return ERR_INTERNAL;
    }
    return ERR_OK;
}

/* A kind name as events use them: lowercase letters, digits and '_'. */
static bool valid_kind(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return false;
    return n > 0 && n <= 64;
}

/* Runs s; on failure replies (503 when the database is away) and returns NULL. */
static PGresult *run(struct req *r, struct stmt *s, int n, const char *const *params,
                     const char *what)
{
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return NULL;
    PGresult *res = NULL;
    enum err e = db_exec(c, s, n, params, &res, r->rid);
    req_db_release(r, c);
    if (e != ERR_OK) {
        req_reply_error(r, e, "could not read %s", what);
        return NULL;
    }
    return res;
}

/* ---- check-ins ------------------------------------------------------------------------------ */

static struct stmt st_checkins =
    STMT("api_checkins",
         "SELECT c.id, to_char(c.local_date, 'YYYY-MM-DD') AS date, c.status,"
         "       c.point_id, p.name AS point_name, p.kind AS point_kind,"
         "       p.school_id, s.name AS school_name,"
         "       c.window_id, w.name AS window_name,"
         "       to_char(w.start_local, 'HH24:MI:SS') AS window_start,"
         "       to_char(w.end_local, 'HH24:MI:SS') AS window_end,"
         "       patrolgis_iso((c.local_date + w.start_local)::timestamptz) AS window_from,"
         "       patrolgis_iso((c.local_date + w.end_local)::timestamptz) AS window_to,"
         "       w.required_visits, w.grace_s, p.min_dwell_s,"
         "       to_jsonb(c.visit_ids) AS visit_ids,"
         "       patrolgis_iso(c.first_at) AS first_at,"
         "       (SELECT coalesce(jsonb_agg(DISTINCT jsonb_build_object('id', d.id, 'name',"
         " d.name)),"
         "                        '[]'::jsonb)"
         "          FROM visits v JOIN devices d ON d.id = v.device_id"
         "         WHERE v.id = ANY (c.visit_ids)) AS devices,"
         "       patrolgis_iso(c.updated_at) AS updated_at"
         "  FROM checkins c"
         "  JOIN patrol_windows w ON w.id = c.window_id"
         "  JOIN patrol_points p ON p.id = c.point_id"
         "  LEFT JOIN schools s ON s.id = p.school_id"
         " WHERE c.local_date = coalesce($1::date, current_date)"
         "   AND ($2::bigint IS NULL OR p.school_id = $2::bigint)"
         "   AND ($3::bigint IS NULL OR c.point_id = $3::bigint)"
         "   AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM visits v"
         "                                       WHERE v.id = ANY (c.visit_ids)"
         "                                         AND v.device_id = $4::bigint))"
         " ORDER BY p.school_id NULLS LAST, p.id, w.start_local, w.id");

static struct stmt st_today =
    STMT("api_checkins_today", "SELECT to_char(coalesce($1::date, current_date), 'YYYY-MM-DD')");

/*
 * Runs s for one local day (p[0]: the date, NULL = today) and replies with its rows: CSV named
 * "<name>-<date>.csv", or JSON: a report as {"report":name,"date","count","rows"}, a listing
 * as {"date","count",name:rows}.
 */
static void reply_for_day(struct req *r, struct stmt *s, int n, const char *const *p, bool csv,
                          const char *what, const char *name, bool report)
{
    PGresult *day = run(r, &st_today, 1, p, "the date");
    if (day == NULL)
        return;
    char *date = arena_strdup(r->arena, PQgetvalue(day, 0, 0));
    PQclear(day);
    PGresult *res = run(r, s, n, p, arena_printf(r->arena, "the %s", what));
    if (res == NULL)
        return;
    json_t *body = report ? json_pack("{s:s,s:s}", "report", name, "date", date)
                          : json_pack("{s:s}", "date", date);
    api_reply_rows(r, res, csv, arena_printf(r->arena, "%s-%s", name, date), body,
                   report ? "rows" : name);
    PQclear(res);
}

static void get_checkins(struct req *r)
{
    static const char *const allowed[] = { "date", "school", "point", "device", "format", NULL };
    const char *p[4];
    bool csv;
    if (api_only_args(r, allowed) != 0 || arg_date(r, "date", &p[0]) != 0 ||
        arg_id(r, "school", &p[1]) != 0 || arg_id(r, "point", &p[2]) != 0 ||
        arg_id(r, "device", &p[3]) != 0 || api_arg_format(r, &csv) != 0)
        return;
    reply_for_day(r, &st_checkins, 4, p, csv, "check-ins", "checkins", false);
}

/* ---- compliance report ---------------------------------------------------------------------- */

#define REPORT_CTE                                                                                 \
    "WITH c AS (SELECT c.*, p.school_id, p.name AS point_name FROM checkins c"                     \
    "             JOIN patrol_points p ON p.id = c.point_id"                                       \
    "            WHERE c.local_date BETWEEN coalesce($1::date, coalesce($2::date, current_date) "  \
    "- 6)"                                                                                         \
    "                                   AND coalesce($2::date, current_date)) "
#define REPORT_COUNTS                                                                              \
    " count(*) AS total,"                                                                          \
    " count(*) FILTER (WHERE c.status = 'done') AS done,"                                          \
    " count(*) FILTER (WHERE c.status = 'late') AS late,"                                          \
    " count(*) FILTER (WHERE c.status = 'missed') AS missed,"                                      \
    " count(*) FILTER (WHERE c.status = 'pending') AS pending,"                                    \
    " round(count(*) FILTER (WHERE c.status IN ('done', 'late'))::numeric"                         \
    "       / nullif(count(*) FILTER (WHERE c.status <> 'pending'), 0), 4) AS compliance_rate,"    \
    " round(count(*) FILTER (WHERE c.status = 'done')::numeric"                                    \
    "       / nullif(count(*) FILTER (WHERE c.status <> 'pending'), 0), 4) AS on_time_rate"

static struct stmt st_report_school =
    STMT("api_report_checkins_school",
         REPORT_CTE "SELECT c.school_id, s.name AS school_name," REPORT_COUNTS "  FROM c"
                    " LEFT JOIN schools s ON s.id = c.school_id"
                    " GROUP BY c.school_id, s.name"
                    " ORDER BY c.school_id NULLS LAST");

static struct stmt st_report_point =
    STMT("api_report_checkins_point",
         REPORT_CTE "SELECT c.point_id, c.point_name, c.school_id," REPORT_COUNTS "  FROM c"
                    " GROUP BY c.point_id, c.point_name, c.school_id"
                    " ORDER BY c.point_id");

static struct stmt st_report_device =
    STMT("api_report_checkins_device",
         REPORT_CTE "SELECT dv.device_id, d.name AS device_name," REPORT_COUNTS "  FROM c"
                    " LEFT JOIN LATERAL (SELECT DISTINCT v.device_id FROM visits v"
                    "                             WHERE v.id = ANY (c.visit_ids)) dv ON true"
                    "  LEFT JOIN devices d ON d.id = dv.device_id"
                    " GROUP BY dv.device_id, d.name"
                    " ORDER BY dv.device_id NULLS LAST");

static struct stmt st_report_day =
    STMT("api_report_checkins_day",
         REPORT_CTE "SELECT to_char(c.local_date, 'YYYY-MM-DD') AS date," REPORT_COUNTS "  FROM c"
                    " GROUP BY c.local_date"
                    " ORDER BY c.local_date");

static struct stmt st_report_range =
    STMT("api_report_checkins_range",
         "SELECT to_char(coalesce($1::date, coalesce($2::date, current_date) - 6), 'YYYY-MM-DD'),"
         "       to_char(coalesce($2::date, current_date), 'YYYY-MM-DD'),"
         "       coalesce($1::date, coalesce($2::date, current_date) - 6)"
         "         <= coalesce($2::date, current_date),"
         "       coalesce($2::date, current_date) - coalesce($1::date, coalesce($2::date,"
         "         current_date) - 6)");

static void get_report_checkins(struct req *r)
{
    static const char *const allowed[] = { "from", "to", "group", "format", NULL };
    const char *p[2];
    bool csv;
    if (api_only_args(r, allowed) != 0 || arg_date(r, "from", &p[0]) != 0 ||
        arg_date(r, "to", &p[1]) != 0 || api_arg_format(r, &csv) != 0)
        return;
    const char *group = req_query(r, "group");
    struct stmt *st = NULL;
    if (group == NULL || strcmp(group, "school") == 0)
        st = &st_report_school;
    else if (strcmp(group, "point") == 0)
        st = &st_report_point;
    else if (strcmp(group, "device") == 0)
        st = &st_report_device;
    else if (strcmp(group, "day") == 0)
        st = &st_report_day;
    if (st == NULL) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "group is school, point, device or day");
        return;
    }
    group = group ? group : "school";
    PGresult *range = run(r, &st_report_range, 2, p, "the date range");
    if (range == NULL)
        return;
    char *from = arena_strdup(r->arena, PQgetvalue(range, 0, 0));
    char *to = arena_strdup(r->arena, PQgetvalue(range, 0, 1));
    bool ordered = PQgetvalue(range, 0, 2)[0] == 't';
    long days = parse_cell_i64(PQgetvalue(range, 0, 3));
    PQclear(range);
    if (!ordered || days > 366) {
        req_reply_error(r, ERR_INVALID_ARGUMENT,
                        "from must not be after to, and the range is at "
                        "most 367 days");
        return;
    }
    PGresult *res = run(r, st, 2, p, "the check-in report");
    if (res == NULL)
        return;
    api_reply_rows(r, res, csv, arena_printf(r->arena, "checkins-by-%s-%s-%s", group, from, to),
                   json_pack("{s:s,s:s,s:s,s:s}", "report", "checkins", "group", group, "from",
                             from, "to", to),
                   "rows");
    PQclear(res);
}

/* ---- presence at school gates -----------------------------------------------------------------
 */

/* Key periods of each school (NULL: the column defaults) on the date; the visits of its gate
 * points clipped to each period; their union's length via a multirange. */
static struct stmt st_presence =
    STMT("api_report_presence",
         "WITH"
         " d AS (SELECT coalesce($1::date, current_date) AS day),"
         " per AS (SELECT s.id, s.name, x.period, x.t0, x.t1,"
         "                (d.day + x.t0)::timestamptz AS p0, (d.day + x.t1)::timestamptz AS p1"
         "           FROM schools s CROSS JOIN d CROSS JOIN LATERAL (VALUES"
         "             ('arrival', coalesce(s.arrival_start, '07:00'),"
         " coalesce(s.arrival_end, '08:30')),"
         "             ('dismissal', coalesce(s.dismissal_start, '16:00'),"
         "                           coalesce(s.dismissal_end, '18:00'))) AS x(period, t0,"
         " t1)),"
         " v AS (SELECT per.id, per.period, v.device_id,"
         "              tstzrange(greatest(v.enter_at, per.p0),"
         "                        least(coalesce(v.exit_at,"
         " v.enter_at + v.dwell_s * interval '1 second'),"
         "                              per.p1)) AS r"
         "         FROM per"
         "         JOIN patrol_points p ON p.school_id = per.id AND p.kind = 'gate'"
         "         JOIN visits v ON v.point_id = p.id AND v.enter_at < per.p1"
         "          AND coalesce(v.exit_at,"
         " v.enter_at + v.dwell_s * interval '1 second') > per.p0),"
         " u AS (SELECT id, period, range_agg(r) AS mr, count(*) AS visits,"
         "              count(DISTINCT device_id) AS devices FROM v GROUP BY id,"
         " period) SELECT per.id AS school_id, per.name AS school_name, per.period,"
         "        to_char(per.t0, 'HH24:MI') AS start, to_char(per.t1, 'HH24:MI') AS end,"
         "        round(coalesce((SELECT extract(epoch FROM sum(upper(x) - lower(x)))"
         "                          FROM unnest(u.mr) AS x), 0) / 60.0, 1) AS minutes,"
         "        coalesce(u.visits, 0) AS visits, coalesce(u.devices, 0) AS devices,"
         "        (SELECT count(*) FROM patrol_points g WHERE g.school_id = per.id"
         "           AND g.kind = 'gate') AS gates"
         "   FROM per"
         " LEFT JOIN u ON u.id = per.id AND u.period = per.period"
         "  ORDER BY per.id, per.t0");

static void get_report_presence(struct req *r)
{
    static const char *const allowed[] = { "date", "format", NULL };
    const char *p[1];
    bool csv;
    if (api_only_args(r, allowed) != 0 || arg_date(r, "date", &p[0]) != 0 ||
        api_arg_format(r, &csv) != 0)
        return;
    reply_for_day(r, &st_presence, 1, p, csv, "presence report", "presence", true);
}

/* ---- visits and events ------------------------------------------------------------------------
 */

static struct stmt st_visits =
    STMT("api_visits",
         "SELECT v.id, v.device_id, d.name AS device_name, v.point_id, p.name AS point_name,"
         "       p.kind AS point_kind, p.school_id,"
         "       patrolgis_iso(v.enter_at) AS enter_at, patrolgis_iso(v.exit_at) AS exit_at,"
         "       v.exit_at IS NULL AS open, round(v.dwell_s::numeric, 3) AS dwell_s,"
         "       round(v.min_dist_m::numeric, 2) AS min_dist_m"
         "  FROM visits v JOIN patrol_points p ON p.id = v.point_id"
         "  JOIN devices d ON d.id = v.device_id"
         " WHERE v.enter_at < coalesce($2::timestamptz, 'infinity')"
         "   AND coalesce(v.exit_at, 'infinity') >= coalesce($1::timestamptz,"
         " current_date::timestamptz)"
         "   AND ($3::bigint IS NULL OR v.point_id = $3::bigint)"
         "   AND ($4::bigint IS NULL OR v.device_id = $4::bigint)"
         " ORDER BY v.enter_at, v.id LIMIT $5::int + 1");

static void reply_list(struct req *r, PGresult *res, const char *key, long limit)
{
    json_t *rows = pgjson_rows(res);
    int n = PQntuples(res);
    PQclear(res);
    bool truncated = n > limit;
    if (rows != NULL && truncated)
        json_array_remove(rows, (size_t)limit);
    req_reply_json(r, 200,
                   json_pack("{s:i,s:i,s:b,s:o*}", "count", truncated ? (int)limit : n, "limit",
                             (int)limit, "truncated", truncated, key, rows));
}

static void get_visits(struct req *r)
{
    static const char *const allowed[] = { "from", "to", "point", "device", "limit", NULL };
    const char *p[5];
    if (api_only_args(r, allowed) != 0 || arg_instant(r, "from", false, &p[0]) != 0 ||
        arg_instant(r, "to", true, &p[1]) != 0 || arg_id(r, "point", &p[2]) != 0 ||
        arg_id(r, "device", &p[3]) != 0 || arg_limit(r, &p[4]) != 0)
        return;
    PGresult *res = run(r, &st_visits, 5, p, "the visits");
    if (res != NULL)
        reply_list(r, res, "visits", (long)parse_cell_i64(p[4]));
}

static struct stmt st_events =
    STMT("api_events", "SELECT (" ENGINE_EVENT_JSON
                       ")::json AS event FROM events e WHERE e.at >= coalesce($1::timestamptz,"
                       " current_date::timestamptz)"
                       "   AND e.at < coalesce($2::timestamptz, 'infinity')"
                       "   AND ($3::text IS NULL OR e.kind = $3)"
                       "   AND ($4::bigint IS NULL OR e.device_id = $4::bigint)"
                       "   AND ($6::bigint IS NULL OR e.id > $6::bigint) ORDER BY e.at,"
                       " e.id LIMIT $5::int + 1");

static void get_events(struct req *r)
{
    static const char *const allowed[] = {
        "from", "to", "kind", "device", "limit", "after_id", NULL
    };
    const char *p[6];
    if (api_only_args(r, allowed) != 0 || arg_instant(r, "from", false, &p[0]) != 0 ||
        arg_instant(r, "to", true, &p[1]) != 0 || arg_id(r, "device", &p[3]) != 0 ||
        arg_limit(r, &p[4]) != 0)
        return;
    p[2] = req_query(r, "kind");
    if (p[2] != NULL && !valid_kind(p[2])) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "kind is an event kind such as zone_enter");
        return;
    }
    int64_t after;
    p[5] = req_query(r, "after_id");
    if (p[5] != NULL && parse_i64(p[5], 0, INT64_MAX, &after) != ERR_OK) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "after_id must be an event id");
        return;
    }
    PGresult *res = run(r, &st_events, 6, p, "the events");
    if (res == NULL)
        return;
    long limit = (long)parse_cell_i64(p[4]);
    json_t *events = json_array();
    int n = PQntuples(res);
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(events, json_loads(PQgetvalue(res, i, 0), 0, NULL));
    PQclear(res);
    req_reply_json(r, 200,
                   json_pack("{s:i,s:i,s:b,s:o}", "count", n > limit ? (int)limit : n, "limit",
                             (int)limit, "truncated", n > limit, "events", events));
}

/* ---- the event stream -------------------------------------------------------------------------
 */

struct sse {
    struct eventhub *hub;
    int64_t cursor;    /* the last event id looked at */
    char *kind;        /* filter, or NULL */
    int64_t device;    /* filter, or 0 */
    struct strbuf out; /* bytes still to send: out.p[off .. out.len) */
    size_t off;
    int64_t last_write_ms; /* monotonic */
    bool end;              /* end the body once buf is sent */
};

static bool sse_append(struct sse *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool sse_append(struct sse *s, const char *fmt, ...)
{
    size_t before = s->out.len;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(&s->out, fmt, ap);
    va_end(ap);
    if (strbuf_error(&s->out) == ERR_OK)
        return true;
    strbuf_truncate(&s->out, before); /* out of memory: keep what was queued before */
    return false;
}

static bool sse_wants(const struct sse *s, const char *kind, int64_t device)
{
    return (s->kind == NULL || strcmp(s->kind, kind) == 0) &&
           (s->device == 0 || s->device == device);
}

static long sse_take(struct sse *s, char *buf, size_t max)
{
    size_t n = s->out.len - s->off;
    if (n > max)
        n = max;
    memcpy(buf, s->out.p + s->off, n);
    s->off += n;
    if (s->off == s->out.len) {
        s->off = 0;
        strbuf_truncate(&s->out, 0);
    }
    s->last_write_ms = clock_mono_ms();
    return (long)n;
}

static long sse_read(void *ctx, char *buf, size_t max)
{
    struct sse *s = ctx;
    if (s->off < s->out.len)
        return sse_take(s, buf, max);
    if (s->end)
        return -1;
    for (int k = 0; k < 256 && s->out.len < 65536; k++) {
        struct eventhub_event ev;
        enum eventhub_read rc = eventhub_next(s->hub, s->cursor, &ev);
        if (rc == EVENTHUB_GAP) {
            s->end = true; /* events were dropped: the client resumes from the database */
            break;
        }
        if (rc != EVENTHUB_FOUND)
            break;
        bool ok = true;
        if (sse_wants(s, ev.kind, ev.device_id))
            ok = sse_append(s, "id: %lld\ndata: %s\n\n", (long long)ev.id, ev.json);
        if (ok)
            s->cursor = ev.id;
        eventhub_event_clear(&ev);
        if (!ok)
            break;
    }
    if (s->out.len > 0)
        return sse_take(s, buf, max);
    if (s->end)
        return -1;
    if (clock_mono_ms() - s->last_write_ms >= STREAM_HEARTBEAT_MS &&
        sse_append(s, ": heartbeat\n\n"))
        return sse_take(s, buf, max);
    return 0;
}

static int sse_ready(void *ctx)
{
    struct sse *s = ctx;
    return s->end || eventhub_last_id(s->hub) > s->cursor ||
           clock_mono_ms() - s->last_write_ms >= STREAM_HEARTBEAT_MS;
}

static void sse_free(void *ctx)
{
    struct sse *s = ctx;
    free(s->kind);
    strbuf_free(&s->out);
    free(s);
}

static struct stmt st_backlog =
    STMT("api_events_backlog", "SELECT e.id, " ENGINE_EVENT_JSON " FROM events e"
                               " WHERE e.id > $1::bigint AND ($2::text IS NULL OR e.kind = $2)"
                               "   AND ($3::bigint IS NULL OR e.device_id = $3::bigint)"
                               " ORDER BY e.id LIMIT " XSTR(STREAM_BACKLOG));

static void get_events_stream(struct req *r)
{
    static const char *const allowed[] = { "kind", "device", "last_event_id", NULL };
    const char *dev;
    if (api_only_args(r, allowed) != 0 || arg_id(r, "device", &dev) != 0)
        return;
    const char *kind = req_query(r, "kind");
    if (kind != NULL && !valid_kind(kind)) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "kind is an event kind such as zone_enter");
        return;
    }
    const char *last = req_header(r, "Last-Event-ID");
    if (last == NULL)
        last = req_query(r, "last_event_id");
    int64_t last_id = 0;
    if (last != NULL && parse_i64(last, 0, INT64_MAX, &last_id) != ERR_OK) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "Last-Event-ID must be an event id");
        return;
    }
    if (r->app->engine == NULL) {
        req_reply_error(r, ERR_UNAVAILABLE, "the engine is not running");
        return;
    }
    struct sse *s = calloc(1, sizeof(*s));
    if (s == NULL || (kind != NULL && (s->kind = strdup(kind)) == NULL)) {
        if (s != NULL)
            sse_free(s);
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    s->hub = engine_events(r->app->engine);
    s->device = dev ? parse_cell_i64(dev) : 0;
    s->last_write_ms = clock_mono_ms();
    /* From now on, unless the client resumes: then what it missed, from the database first. */
    s->cursor = eventhub_last_id(s->hub);
    bool ok = sse_append(s, "retry: %d\n: patrolgis events\n\n", STREAM_RETRY_MS);
    if (last != NULL) {
        char lid[24];
        snprintf(lid, sizeof(lid), "%lld", (long long)last_id);
        const char *p[3] = { lid, kind, dev };
        PGresult *res = run(r, &st_backlog, 3, p, "the events");
        if (res == NULL) {
            sse_free(s);
            return;
        }
        s->cursor = last_id;
        for (int i = 0; i < PQntuples(res) && ok; i++) {
            json_t *j = json_loads(PQgetvalue(res, i, 1), 0, NULL);
            char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
            json_decref(j);
            ok = text != NULL && sse_append(s, "id: %s\ndata: %s\n\n", PQgetvalue(res, i, 0), text);
            free(text);
            s->cursor = parse_cell_i64(PQgetvalue(res, i, 0));
        }
        /* A full backlog may not be all: end after it, the client resumes from its last id. */
        if (PQntuples(res) == STREAM_BACKLOG)
            s->end = true;
        PQclear(res);
    }
    if (!ok) {
        sse_free(s);
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    req_add_header(r, "Cache-Control", "no-cache");
    req_add_header(r, "X-Accel-Buffering", "no");
    struct req_stream st = { sse_read, sse_ready, sse_free, s };
    req_reply_stream(r, 200, "text/event-stream; charset=utf-8", &st);
}

/* ---- a device's track -------------------------------------------------------------------------
 */

static struct stmt st_device = STMT("api_track_device", "SELECT name"
                                                        " FROM devices"
                                                        " WHERE id = $1::bigint");

static struct stmt st_track =
    STMT("api_track",
         "SELECT floor(extract(epoch FROM fix_time) * 1000)::bigint, ST_X(geom), ST_Y(geom),"
         " flags"
         "  FROM positions"
         " WHERE device_id = $1::bigint"
         "   AND fix_time >= coalesce($2::timestamptz, current_date::timestamptz)"
         "   AND fix_time < coalesce($3::timestamptz, 'infinity')"
         "   AND ($4::bool OR flags = 0)"
         " ORDER BY fix_time LIMIT $5::int");

static void get_track(struct req *r)
{
    static const char *const allowed[] = { "from", "to", "outliers", NULL };
    const char *p[5];
    int64_t id;
    if (parse_i64(req_param(r, "id"), 1, INT64_MAX, &id) != ERR_OK) {
        req_reply_error(r, ERR_NOT_FOUND, "no device %s", req_param(r, "id"));
        return;
    }
    if (api_only_args(r, allowed) != 0 || arg_instant(r, "from", false, &p[1]) != 0 ||
        arg_instant(r, "to", true, &p[2]) != 0)
        return;
    const char *outliers = req_query(r, "outliers");
    if (outliers != NULL && strcmp(outliers, "0") != 0 && strcmp(outliers, "1") != 0) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "outliers is 0 or 1");
        return;
    }
    bool with_outliers = outliers != NULL && outliers[0] == '1';
    p[0] = req_param(r, "id");
    p[3] = with_outliers ? "true" : "false";
    p[4] = arena_printf(r->arena, "%d", TRACK_MAX_FIXES + 1);
    PGresult *dev = run(r, &st_device, 1, p, "the device");
    if (dev == NULL)
        return;
    if (PQntuples(dev) == 0) {
        PQclear(dev);
        req_reply_error(r, ERR_NOT_FOUND, "no device %lld", (long long)id);
        return;
    }
    char *name = arena_strdup(r->arena, PQgetvalue(dev, 0, 0));
    PQclear(dev);
    PGresult *res = run(r, &st_track, 5, p, "the track");
    if (res == NULL)
        return;

    int n = PQntuples(res);
    bool truncated = n > TRACK_MAX_FIXES;
    if (truncated)
        n = TRACK_MAX_FIXES;
    int64_t gap_ms = (int64_t)(VISITS_MAX_GAP_S * 1000);
    json_t *lines = json_array(), *times = json_array();
    json_t *line = NULL, *ltimes = NULL;
    int64_t prev = 0;
    long isolated = 0, flagged = 0;
    for (int i = 0; i < n; i++) {
        int64_t t = parse_cell_i64(PQgetvalue(res, i, 0));
        if (parse_cell_i64(PQgetvalue(res, i, 3)) != 0)
            flagged++;
        if (line == NULL || t - prev > gap_ms) {
            if (line != NULL && json_array_size(line) < 2)
                isolated++;
            if (line != NULL && json_array_size(line) >= 2) {
                json_array_append_new(lines, line);
                json_array_append_new(times, ltimes);
            } else {
                json_decref(line);
                json_decref(ltimes);
            }
            line = json_array();
            ltimes = json_array();
        }
        json_array_append_new(line, json_pack("[ff]", parse_cell_double(PQgetvalue(res, i, 1)),
                                              parse_cell_double(PQgetvalue(res, i, 2))));
        json_array_append_new(ltimes, json_integer((json_int_t)t));
        prev = t;
    }
    if (line != NULL && json_array_size(line) >= 2) {
        json_array_append_new(lines, line);
        json_array_append_new(times, ltimes);
    } else {
        if (line != NULL)
            isolated++;
        json_decref(line);
        json_decref(ltimes);
    }
    PQclear(res);
    size_t nlines = json_array_size(lines);
    json_t *geometry = json_null();
    if (nlines == 1) {
        geometry =
            json_pack("{s:s,s:O}", "type", "LineString", "coordinates", json_array_get(lines, 0));
        json_t *only = json_incref(json_array_get(times, 0));
        json_decref(times);
        times = only;
    } else if (nlines > 1) {
        geometry = json_pack("{s:s,s:O}", "type", "MultiLineString", "coordinates", lines);
    }
    json_decref(lines);
    json_t *feature =
        json_pack("{s:s,s:I,s:o,s:{s:I,s:s,s:s?,s:s?,s:i,s:i,s:i,s:i,s:b,s:b,s:f,s:o}}", "type",
                  "Feature", "id", (json_int_t)id, "geometry", geometry, "properties", "device_id",
                  (json_int_t)id, "device_name", name, "from", p[1], "to", req_query(r, "to"),
                  "fixes", n, "segments", (int)nlines, "isolated_fixes", (int)isolated,
                  "outlier_fixes", (int)flagged, "outliers_included", with_outliers, "truncated",
                  truncated, "max_gap_s", VISITS_MAX_GAP_S, "times_ms", times);
    char *text = feature ? json_dumps(feature, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(feature);
    char *body = text ? arena_strdup(r->arena, text) : NULL;
    free(text);
    if (body == NULL) {
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    req_reply(r, 200, "application/geo+json", body, strlen(body));
}

/* ---- routes -----------------------------------------------------------------------------------
 */

static const struct route checkin_routes[] = {
    { "GET", "/api/v1/checkins", get_checkins, ROLES_READ, 0, NULL,
      "Check-ins of a local `date` (default today): status per window, counted visits, devices; "
      "filters `school`, `point`, `device`; `format=csv`",
      "checkins" },
    { "GET", "/api/v1/reports/checkins", get_report_checkins, ROLES_READ, 0, NULL,
      "Done, late, missed, pending and compliance per `group` (school, point, device, day) over "
      "local dates `from`..`to` (default the last 7 days); `format=csv`",
      "reports" },
    { "GET", "/api/v1/reports/presence", get_report_presence, ROLES_READ, 0, NULL,
      "Minutes police were seen at each school's gates in its arrival and dismissal periods on "
      "`date` (union of visits); `format=csv`",
      "reports" },
    { "GET", "/api/v1/visits", get_visits, ROLES_READ, 0, NULL,
      "Visits of devices at patrol points overlapping `from`..`to`; filters `point`, `device`",
      "checkins" },
    { "GET", "/api/v1/events", get_events, ROLES_READ, 0, NULL,
      "Events (zone_enter, zone_exit, checkin_missed, checkin_resolved) in `from`..`to`; "
      "filters `kind`, `device`, `after_id`",
      "checkins" },
    { "GET", "/api/v1/events/stream", get_events_stream, ROLES_READ, 0, NULL,
      "New events as server-sent events (text/event-stream); resumes after Last-Event-ID; "
      "filters `kind`, `device`",
      "checkins" },
    { "GET", "/api/v1/devices/{id}/track", get_track, ROLES_READ, 0, NULL,
      "A device's fixes in `from`..`to` as a GeoJSON LineString (MultiLineString split at gaps); "
      "`outliers=1` includes flagged fixes",
      "checkins" },
};

enum err api_checkins_register(struct router *rt)
{
    return router_add(rt, checkin_routes, sizeof(checkin_routes) / sizeof(checkin_routes[0]));
}

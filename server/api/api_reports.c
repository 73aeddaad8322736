/*
 * api_reports.c - the spatial questions the plan asks, as JSON or as CSV for Excel:
 *   venues of risky kinds near schools (四(四)), dangerous waters near schools with the
 *   drowning season (四(十一)), risky road segments near schools (四(五)), schools without an
 *   inspection in a month (四(二)).
 * Distances are metres on the WGS84 spheroid (PostGIS geography), never degrees.
 *
 * Not here: check-in compliance reports (they belong to the check-in engine's API).
 */
#include "api.h"
#include "api_args.h"

#include "access.h"
#include "app.h"
#include "arena.h"
#include "auth.h"
#include "db.h"
#include "http.h"
#include "json.h"
#include "req_json.h"
#include "layerdef.h"
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_MAX_PARAMS 4

/* One report: its SQL and the query parameters it takes, in $n order. */
struct report_param {
    const char *name;
    enum { RP_DISTANCE, RP_DATE, RP_MONTH, RP_KINDS } type;
    const char *def; /* default text, or NULL: SQL handles absence */
};

struct report {
    const char *name;
    struct stmt *stmt;
    struct report_param params[REPORT_MAX_PARAMS];
};

static const char *const risky_venues =
    "internet_cafe,game_hall,karaoke,small_hotel,rental_housing";

static struct stmt st_venues =
    STMT("report_venues",
         "SELECT s.id AS school_id, s.name AS school_name, s.kind AS school_kind,"
         "       v.id AS venue_id, v.name AS venue_name, v.kind AS venue_kind,"
         "       v.address AS venue_address,"
         "       round(ST_Distance(s.perimeter::geography, v.location::geography)::numeric, 1)"
         "         AS distance_m"
         "  FROM schools s"
         "  JOIN venues v ON ST_DWithin(s.perimeter::geography, v.location::geography, $1::float8)"
         " WHERE v.kind = ANY (string_to_array($2, ','))"
         " ORDER BY s.id, distance_m, v.id");

static struct stmt st_waters =
    STMT("report_waters",
         "SELECT s.id AS school_id, s.name AS school_name, s.kind AS school_kind,"
         "       w.id AS water_id, w.name AS water_name, w.kind AS water_kind, w.risk_level,"
         "       w.season_start, w.season_end,"
         "       patrolgis_in_season(w.season_start, w.season_end,"
         "                           coalesce($2::date, current_date)) AS in_season,"
         "       round(ST_Distance(s.perimeter::geography, w.geom::geography)::numeric, 1)"
         "         AS distance_m"
         "  FROM schools s"
         "  JOIN waters w ON ST_DWithin(s.perimeter::geography, w.geom::geography, $1::float8)"
         " ORDER BY s.id, distance_m, w.id");

static struct stmt st_segments =
    STMT("report_segments",
         "SELECT s.id AS school_id, s.name AS school_name, s.kind AS school_kind,"
         "       r.id AS segment_id, r.name AS segment_name, r.risk_level, r.reason, r.status,"
         "       round(ST_Distance(s.perimeter::geography, r.geom::geography)::numeric, 1)"
         "         AS distance_m"
         "  FROM schools s"
         "  JOIN road_segments r ON ST_DWithin(s.perimeter::geography, r.geom::geography,"
         "                                     $1::float8)"
         " ORDER BY s.id, distance_m, r.id");

static struct stmt st_not_inspected = STMT(
    "report_not_inspected",
    "WITH m AS (SELECT coalesce(to_date($1, 'YYYY-MM'), date_trunc('month', current_date)::date)"
    "           AS first_day)"
    "SELECT s.id AS school_id, s.name AS school_name, s.kind AS school_kind, s.remote,"
    "       to_char(m.first_day, 'YYYY-MM') AS month,"
    "       (SELECT max(i.inspected_at) FROM inspections i WHERE i.school_id = s.id)::text"
    "         AS last_inspected_at"
    "  FROM schools s, m"
    " WHERE NOT EXISTS (SELECT 1 FROM inspections i"
    "                    WHERE i.school_id = s.id AND i.inspected_at >= m.first_day"
    "                      AND i.inspected_at < m.first_day + interval '1 month')"
    " ORDER BY s.id");

static const struct report reports[] = {
    { "venues-near-schools",
      &st_venues,
      { { "distance", RP_DISTANCE, "200" }, { "kinds", RP_KINDS, NULL } } },
    { "waters-near-schools",
      &st_waters,
      { { "distance", RP_DISTANCE, "500" }, { "date", RP_DATE, NULL } } },
    { "road-segments-near-schools", &st_segments, { { "distance", RP_DISTANCE, "200" } } },
    { "schools-not-inspected", &st_not_inspected, { { "month", RP_MONTH, NULL } } },
};

static const char *const venue_kinds[] = { "internet_cafe",  "game_hall", "karaoke", "small_hotel",
                                           "rental_housing", "other",     NULL };

static int known_venue_kinds(const char *list)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int ok = 0;
        for (const char *const *k = venue_kinds; *k; k++)
            if (strlen(*k) == n && strncmp(*k, p, n) == 0)
                ok = 1;
        if (!ok)
            return 0;
        p += n;
        if (*p == ',')
            p++;
    }
    return list[0] != '\0';
}

/* Checks one parameter value: ERR_OK, or the error already replied (400). */
static enum err check_param(struct req *r, const struct report_param *p, const char *v)
{
    if (p->type == RP_DISTANCE) {
        double d;
        if (parse_double(v, &d) == ERR_OK && d > 0 && d <= 10000)
            return ERR_OK;
        req_reply_error(r, ERR_INVALID_ARGUMENT, "%s is metres, more than 0 and at most 10000",
                        p->name);
        return ERR_INVALID_ARGUMENT;
    }
    if (p->type == RP_DATE) {
        if (layerdef_valid_date(v))
            return ERR_OK;
        req_reply_error(r, ERR_INVALID_ARGUMENT, "%s must be a date YYYY-MM-DD", p->name);
        return ERR_INVALID_ARGUMENT;
    }
    if (p->type == RP_MONTH) {
        char day[11];
        snprintf(day, sizeof(day), "%.7s-01", v);
        if (strlen(v) == 7 && layerdef_valid_date(day))
            return ERR_OK;
        req_reply_error(r, ERR_INVALID_ARGUMENT, "%s must be a month YYYY-MM", p->name);
        return ERR_INVALID_ARGUMENT;
    }
    if (known_venue_kinds(v))
        return ERR_OK;
    req_reply_error(r, ERR_INVALID_ARGUMENT,
                    "%s is a comma-separated list of venue kinds (internet_cafe, game_hall, "
                    "karaoke, small_hotel, rental_housing, other)",
                    p->name);
    return ERR_INVALID_ARGUMENT;
}

static void run_report(struct req *r, const struct report *rep)
{
    const char *values[REPORT_MAX_PARAMS] = { 0 };
    int n = 0;
    const char *allowed[REPORT_MAX_PARAMS + 2] = { "format" };
    for (int i = 0; i < REPORT_MAX_PARAMS && rep->params[i].name; i++)
        allowed[i + 1] = rep->params[i].name;
    bool csv;
    if (api_only_args(r, allowed) != 0 || api_arg_format(r, &csv) != 0)
        return;
    json_t *used = json_object();
    for (; n < REPORT_MAX_PARAMS && rep->params[n].name; n++) {
        const struct report_param *p = &rep->params[n];
        const char *v = req_query(r, p->name);
        if (v != NULL && check_param(r, p, v) != 0) {
            json_decref(used);
            return;
        }
        values[n] = v ? v : (p->type == RP_KINDS ? risky_venues : p->def);
        json_object_set_new(used, p->name, values[n] ? json_string(values[n]) : json_null());
    }
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL) {
        json_decref(used);
        return;
    }
    PGresult *res;
    enum err e = db_exec(c, rep->stmt, n, values, &res, r->rid);
    req_db_release(r, c);
    if (e != ERR_OK) {
        json_decref(used);
        req_reply_error(r, e, "could not compute the report %s", rep->name);
        return;
    }
    api_reply_rows(r, res, csv, rep->name,
                   json_pack("{s:s,s:o}", "report", rep->name, "parameters", used), "rows");
    PQclear(res);
}

static void get_venues(struct req *r)
{
    run_report(r, &reports[0]);
}

static void get_waters(struct req *r)
{
    run_report(r, &reports[1]);
}

static void get_segments(struct req *r)
{
    run_report(r, &reports[2]);
}

static void get_not_inspected(struct req *r)
{
    run_report(r, &reports[3]);
}

static const struct route report_routes[] = {
    { "GET", "/api/v1/reports/venues-near-schools", get_venues, ROLES_READ, 0, NULL,
      "Risky venues within `distance` metres (default 200) of each school's perimeter", "reports" },
    { "GET", "/api/v1/reports/waters-near-schools", get_waters, ROLES_READ, 0, NULL,
      "Dangerous waters within `distance` metres (default 500) of each school, in season on "
      "`date`",
      "reports" },
    { "GET", "/api/v1/reports/road-segments-near-schools", get_segments, ROLES_READ, 0, NULL,
      "Risky road segments within `distance` metres (default 200) of each school", "reports" },
    { "GET", "/api/v1/reports/schools-not-inspected", get_not_inspected, ROLES_READ, 0, NULL,
      "Schools without an inspection in `month` (YYYY-MM, default this month)", "reports" },
};

enum err api_reports_register(struct router *rt)
{
    return router_add(rt, report_routes, sizeof(report_routes) / sizeof(report_routes[0]));
}

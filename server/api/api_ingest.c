/*
 * api_ingest.c - positions in and out over HTTP: the OsmAnd / Traccar Client endpoint (also
 * served on its own port, see main.c), position batches of a device (JSON, protobuf, GPX),
 * GPX uploads for a device by an editor, and the last fix of every device for the live map.
 *
 * Handlers only pick the decoder (proto_*.c), find the device, and turn ingest_batch's
 * outcome (ingest.c) into the reply; they reply only after the transaction has committed.
 */
#include "api.h"

#include "access.h"
#include "app.h"
#include "arena.h"
#include "auth.h"
#include "clock.h"
#include "db.h"
#include "http.h"
#include "ingest.h"
#include "json.h"
#include "req_json.h"
#include "log.h"
#include "parse.h"
#include "proto_batch.h"
#include "proto_gpx.h"
#include "proto_osmand.h"
#include "router.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POSITIONS_MAX_BODY    (8u << 20)  /* 10 000 fixes of JSON or GPX with room to spare */
#define OSMAND_MAX_BODY       (1u << 20)  /* one fix, or a Traccar Client JSON batch */
#define GPX_UPLOAD_MAX_BODY   (32u << 20) /* a logger's file uploaded by an editor */
#define GPX_UPLOAD_MAX_POINTS 100000
#define REJECTED_LISTED       1000 /* the reply lists at most this many rejected fixes */
#define POSITIONS_TYPES       "application/json,application/x-protobuf,application/gpx+xml"
#define GPX_TYPES             "application/gpx+xml,application/xml,text/xml"

static json_t *rejected_list(const struct ingest_verdict *v, size_t n)
{
    json_t *list = json_array();
    size_t listed = 0;
    for (size_t i = 0; i < n && listed < REJECTED_LISTED; i++) {
        if (v[i].reject == NULL)
            continue;
        json_array_append_new(
            list, json_pack("{s:I,s:s}", "index", (json_int_t)i, "reason", v[i].reject));
        listed++;
    }
    return list;
}

/* The reply for ingest_batch's outcome. */
static void reply_outcome(struct req *r, enum err e, const struct ingest_result *res,
                          const struct ingest_verdict *v, size_t n, const char *msg)
{
    if (e == ERR_UNPROCESSABLE) {
        req_reply_json(r, 422,
                       json_pack("{s:{s:s,s:s,s:o,s:I}}", "error", "code", err_slug(e), "message",
                                 msg, "rejected", rejected_list(v, n), "rejected_count",
                                 (json_int_t)res->rejected));
        return;
    }
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", msg);
        return;
    }
    req_reply_json(r, res->fresh > 0 ? 201 : 200,
                   json_pack("{s:I,s:I,s:I,s:o,s:I}", "new", (json_int_t)res->fresh, "duplicate",
                             (json_int_t)res->duplicate, "flagged", (json_int_t)res->flagged,
                             "rejected", rejected_list(v, n), "rejected_count",
                             (json_int_t)res->rejected));
}

/* Stores a decoded batch for a device on c (released here) and replies. */
static void store(struct req *r, struct db_conn *c, long long device_id, struct ingest_msg *m,
                  const char *source, const char *audit_actor)
{
    char msg[256];
    struct ingest_result res;
    struct ingest_verdict *v = arena_calloc(r->arena, m->n, sizeof(*v));
    if (v == NULL) {
        req_db_release(r, c);
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    struct ingest_request rq = { .device_id = device_id,
                                 .source = source,
                                 .crs = m->crs,
                                 .audit_actor = audit_actor,
                                 .now_ms = clock_wall_ms(),
                                 .limits = r->app->ingest_limits,
                                 .rid = r->rid };
    enum err e = ingest_batch(c, &rq, m->fixes, m->n, v, &res, msg, sizeof(msg));
    req_db_release(r, c);
    log_msg(e == ERR_OK || e == ERR_UNPROCESSABLE ? LOG_DEBUG : LOG_WARN, r->rid,
            "ingest %s device %lld: %zu fixes, %ld new, %ld duplicate, %ld flagged, %ld rejected,"
            " %ld re-flagged: %s",
            source, device_id, m->n, res.fresh, res.duplicate, res.flagged, res.rejected,
            res.reflagged, e == ERR_OK ? "committed" : err_slug(e));
    reply_outcome(r, e, &res, v, m->n, msg);
}

/* ---- OsmAnd / Traccar Client ---- */

struct query_params {
    struct arena *a;
    struct osmand_param *p;
    size_t n;
};

static int collect_param(void *ctx, const char *name, const char *value)
{
    struct query_params *q = ctx;
    if (q->n >= OSMAND_MAX_PARAMS)
        return 1;
    q->p[q->n].name = name;
    q->p[q->n].value = value;
    q->n++;
    return 0;
}

/* Decodes an OsmAnd request: query parameters first, else the body (JSON or a form). */
static enum err osmand_decode(struct req *r, struct ingest_msg *m, char *msg, size_t msglen)
{
    struct query_params q = { r->arena, arena_calloc(r->arena, OSMAND_MAX_PARAMS, sizeof(*q.p)),
                              0 };
    if (q.p == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_INTERNAL;
    }
    if (req_query_foreach(r, collect_param, &q) != 0) {
        snprintf(msg, msglen, "more than %d query parameters", OSMAND_MAX_PARAMS);
        return ERR_INVALID_ARGUMENT;
    }
    int64_t now = clock_wall_ms();
    if (q.n > 0 || r->body == NULL || r->body_len == 0)
        return osmand_from_params(r->arena, q.p, q.n, now, m, msg, msglen);
    size_t lead = strspn(r->body, " \t\r\n");
    if (req_media_is(r, "application/json") || r->body[lead] == '{')
        return osmand_parse_json(r->arena, r->body, r->body_len, INGEST_MAX_FIXES, m, msg, msglen);
    struct osmand_param *p;
    long n = osmand_split_form(r->arena, r->body, r->body_len, &p, msg, msglen);
    if (n < 0)
        return ERR_INVALID_ARGUMENT;
    return osmand_from_params(r->arena, p, (size_t)n, now, m, msg, msglen);
}

static void osmand(struct req *r)
{
    char msg[256];
    struct ingest_msg m;
    enum err e = osmand_decode(r, &m, msg, sizeof(msg));
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", msg);
        return;
    }
    if (m.device_ident == NULL || m.device_ident[0] == '\0') {
        req_reply_error(r, ERR_INVALID_ARGUMENT,
                        "the device identifier is missing (parameter 'id' or 'deviceid', or "
                        "'device_id' in JSON)");
        return;
    }
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    struct identity dev;
    e = auth_device_ident(c, m.device_ident, &dev, r->rid, r->remote, r->method, r->path, msg,
                          sizeof(msg));
    if (e != ERR_OK) {
        req_db_release(r, c);
        req_reply_error(r, e, "%s", msg);
        return;
    }
    store(r, c, dev.id, &m, "osmand", NULL);
}

/* ---- batches of a device ---- */

static void post_positions(struct req *r)
{
    char msg[256];
    struct ingest_msg m;
    enum err e;
    const char *source;
    if (r->body == NULL || r->body_len == 0) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "the request needs a body (%s)", POSITIONS_TYPES);
        return;
    }
    if (req_media_is(r, "application/x-protobuf")) {
        source = "protobuf";
        e = batch_parse_protobuf(r->arena, (const uint8_t *)r->body, r->body_len, INGEST_MAX_FIXES,
                                 &m, msg, sizeof(msg));
    } else if (req_media_is(r, "application/gpx+xml")) {
        source = "gpx";
        e = gpx_parse(r->arena, r->body, r->body_len, INGEST_MAX_FIXES, &m, msg, sizeof(msg));
    } else {
        source = "json";
        e = batch_parse_json(r->arena, r->body, r->body_len, INGEST_MAX_FIXES, &m, msg,
                             sizeof(msg));
    }
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", msg);
        return;
    }
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    /* The device is the token's, never the body's. */
    store(r, c, req_identity(r)->id, &m, source, NULL);
}

static struct stmt st_device_state =
    STMT("ingest_device_state", "SELECT disabled FROM devices WHERE id = $1::bigint");

static void post_device_gpx(struct req *r)
{
    char msg[256];
    const char *sid = req_param(r, "id");
    int64_t id;
    if (parse_i64(sid, 1, INT64_MAX, &id) != ERR_OK) {
        req_reply_error(r, ERR_NOT_FOUND, "no device '%s' (device ids are positive integers)", sid);
        return;
    }
    if (r->body == NULL || r->body_len == 0) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "the request needs a GPX body");
        return;
    }
    struct ingest_msg m;
    enum err e =
        gpx_parse(r->arena, r->body, r->body_len, GPX_UPLOAD_MAX_POINTS, &m, msg, sizeof(msg));
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", msg);
        return;
    }
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    const char *params[1] = { sid };
    PGresult *res = NULL;
    e = db_exec(c, &st_device_state, 1, params, &res, r->rid);
    int found = e == ERR_OK && PQntuples(res) == 1;
    int disabled = found && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!found || disabled) {
        req_db_release(r, c);
        if (e != ERR_OK)
            req_reply_error(r, e, "could not look up the device; retry shortly");
        else if (!found)
            req_reply_error(r, ERR_NOT_FOUND, "no device %lld", (long long)id);
        else
            req_reply_error(r, ERR_CONFLICT, "device %lld is disabled", (long long)id);
        return;
    }
    char actor[160];
    auth_actor(req_identity(r), actor, sizeof(actor));
    store(r, c, id, &m, "gpx", actor);
}

/* ---- the live map ---- */

static struct stmt st_latest =
    STMT("ingest_latest_fc",
         "SELECT json_build_object('type', 'FeatureCollection',"
         "  'generated_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
         "  'features', coalesce(json_agg(json_build_object("
         "    'type', 'Feature', 'id', d.id,"
         "    'geometry', ST_AsGeoJSON(l.geom, 7)::json,"
         "    'properties', json_build_object("
         "      'device_id', d.id, 'name', d.name, 'unit', d.unit, 'kind', d.kind,"
         "      'fix_time', to_char(l.fix_time AT TIME ZONE 'UTC',"
         "                          'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
         "      'speed_kmh', l.speed_kmh, 'heading', l.heading,"
         "      'age_s', greatest(0, floor(extract(epoch FROM now() - l.fix_time)))::bigint))"
         "    ORDER BY d.id), '[]'::json))::text"
         "  FROM device_latest l JOIN devices d ON d.id = l.device_id"
         " WHERE NOT d.disabled");

static void get_latest(struct req *r)
{
    struct db_conn *c = req_db_acquire(r);
    if (c == NULL)
        return;
    PGresult *res = NULL;
    enum err e = db_exec(c, &st_latest, 0, NULL, &res, r->rid);
    req_db_release(r, c);
    if (e != ERR_OK) {
        req_reply_error(r, e, "could not read the latest positions");
        return;
    }
    char *body = arena_strdup(r->arena, PQgetvalue(res, 0, 0));
    PQclear(res);
    if (body == NULL) {
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    req_reply(r, 200, "application/geo+json", body, strlen(body));
}

static const struct route ingest_routes[] = {
    { "GET", "/api/v1/osmand", osmand, ROLES_PUBLIC, 0, NULL,
      "OsmAnd / Traccar Client: one fix in query parameters (the id is the device's secret)",
      "ingest" },
    { "POST", "/api/v1/osmand", osmand, ROLES_PUBLIC, OSMAND_MAX_BODY, NULL,
      "OsmAnd / Traccar Client: query or form parameters, or the Traccar Client JSON body",
      "ingest" },
    { "POST", "/api/v1/positions", post_positions, ROLE_DEVICE, POSITIONS_MAX_BODY, POSITIONS_TYPES,
      "Upload up to 10 000 fixes of the calling device (JSON batch, protobuf PositionBatch, GPX)",
      "ingest" },
    { "POST", "/api/v1/devices/{id}/gpx", post_device_gpx, ROLES_EDIT, GPX_UPLOAD_MAX_BODY,
      GPX_TYPES, "Upload a GPS logger's GPX track for a device (up to 100 000 points)", "ingest" },
    { "GET", "/api/v1/positions/latest", get_latest, ROLES_READ, 0, NULL,
      "The last unflagged fix of every device, as GeoJSON (live map)", "ingest" },
};

enum err api_ingest_register(struct router *rt)
{
    return router_add(rt, ingest_routes, sizeof(ingest_routes) / sizeof(ingest_routes[0]));
}

/*
 * engine.c - the check-in and geofence engine's worker thread (see engine.h): snapshots of
 * the layers, the engine_queue consumer, the late-batch procedure against the visits,
 * zone_stays and events tables, check-in evaluation, recomputation after layer edits and the
 * periodic pass.
 *
 * Shape of one device's transaction (REPEATABLE READ, so every statement sees the same
 * committed fixes and queue rows; fixes committed meanwhile come with queue rows of their own,
 * which this transaction neither sees nor deletes):
 *   lock the device (advisory), take its queue rows, hull [a, b] of their spans;
 *   visits: affected span -> load fixes -> visits_compute -> settled/widen -> diff the stored
 *           visits with enter in [from, upto] against the fresh ones (unchanged rows keep their
 *           ids; changed ones are updated, vanished ones deleted, new ones inserted);
 *   zones:  the same over zone_stays, writing zone_enter / zone_exit events;
 *   check-ins: every window of every point whose visits changed, on the local days the changed
 *           visits touch, and (for new fixes) every window of the span's days before
 *           yesterday, for windows that have started;
 *   delete the queue rows; COMMIT; publish the new events (none for rows a layer edit queued:
 *   a recomputation is quiet).
 * Besides: snapshot_apply (recomputation after layer edits, engine_state digests) and the
 * periodic pass (pending and missed windows; catches up days after an outage).
 * The spans of one device's queued rows are merged into their hull: the procedure of visits.h
 * is exact for one span of new fixes, and a hull is one span.
 */
#include "engine.h"

#include "checkin.h"
#include "clock.h"
#include "db.h"
#include "eventhub.h"
#include "layers.h"
#include "log.h"
#include "parse.h"
#include "pointindex.h"
#include "strbuf.h"
#include "tzconv.h"
#include "visits.h"
#include "zones.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENGINE_RID          "engine"
#define ENGINE_HUB_CAPACITY 4096
#define ENGINE_DEVICE_BATCH 32
#define ENGINE_ROUND_MS     2000 /* a queue round yields after this long */
#define ENGINE_CATCHUP_DAYS 31   /* the periodic pass looks back at most this far (outages) */
/* the longest a layer recomputation holds off the periodic pass and the rules re-evaluation */
#define ENGINE_RECOMPUTE_WAIT "10 minutes"
#define MIN_MS                60000LL

/* In SQL, instants travel as integer milliseconds since the epoch (patrolgis_ms_ts and
 * patrolgis_ts_ms, migration 0008) and local days as day numbers (date '1970-01-01' + d). */

/* ---- snapshot ------------------------------------------------------------------------------ */

struct snap_point {
    int64_t id;
    int64_t school_id; /* 0: none */
    struct checkin_point cp;
    char *name;
    size_t w0, nw; /* its windows: snapshot.windows[w0 .. w0 + nw) */
};

struct snap_window {
    struct checkin_window w;
    char *name;
    char start[9], end[9]; /* local "HH:MM:SS" */
    int64_t created_ms;    /* when the window was created (UTC ms) */
};

struct snap_zone {
    const char *layer; /* "schools" or "waters" (static) */
    int64_t id;
    struct checkin_season season;
    char *name;
};

struct snapshot {
    unsigned long long gen[4];
    struct pointindex *points;
    struct snap_point *pts; /* sorted by id, as pointindex order */
    size_t npts;
    struct snap_window *windows; /* sorted by (point_id, id) */
    size_t nwindows;
    struct zoneindex *zones; /* the worker's only: GEOS reads are not promised thread-safe */
    struct snap_zone *zmeta; /* sorted by (layer, id) */
    size_t nzones;
    /* digests of what results depend on, read in the snapshot's own transaction: "geometry"
     * (points' places, radii, hysteresis, dwell; zones' shapes and seasons) changes visits and
     * zone stays, "rules" (windows, points' seasons and dwell) changes check-ins */
    char geometry_digest[65], rules_digest[65];
};

/* The layers whose generations make a snapshot stale. */
static const char *const snap_layers[4] = { "patrol_points", "patrol_windows", "waters",
                                            "schools" };

struct engine {
    struct engine_config cfg;
    struct db_listener *listener;
    struct eventhub *hub;
    struct tzconv tz;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;   /* under mu */
    int kicked; /* under mu: a NOTIFY arrived */

    struct snapshot *snap; /* the current one; only the worker thread sees it */
    bool snap_checked;     /* the current snapshot's digests were compared (snapshot_apply) */

    /* stats */
    atomic_long queue_rows;
    atomic_llong last_run_ms, last_pass_ms;
    atomic_ullong runs, failures, visits_written, stays_written, checkins_written, events_written,
        snapshots;
    atomic_long npoints, nwindows, nzones;
};

/* ---- result helpers ----------------------------------------------------------------------- */

static int64_t cell_i64(const PGresult *r, int row, int col)
{
    return parse_cell_i64(PQgetvalue(r, row, col));
}

static double cell_f(const PGresult *r, int row, int col)
{
    return parse_cell_double(PQgetvalue(r, row, col));
}

static bool cell_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

static bool cell_bool(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

static char *cell_dup(const PGresult *r, int row, int col)
{
    return strdup(cell_null(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static void fmt_i64(char *buf, size_t n, int64_t v)
{
    snprintf(buf, n, "%lld", (long long)v);
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static struct stmt st_snap_points =
    STMT("engine_snap_points",
         "SELECT id, ST_X(location), ST_Y(location), radius_m, hysteresis_m, min_dwell_s,"
         "       season_start, season_end, coalesce(school_id, 0), name"
         "  FROM patrol_points"
         " WHERE abs(ST_Y(location)) <= 85"
         " ORDER BY id");

static struct stmt st_snap_windows =
    STMT("engine_snap_windows",
         "SELECT id, point_id, days, extract(epoch FROM start_local)::int,"
         "       extract(epoch FROM end_local)::int, required_visits, grace_s,"
         "       date_from - date '1970-01-01', date_to - date '1970-01-01', name,"
         "       to_char(start_local, 'HH24:MI:SS'), to_char(end_local, 'HH24:MI:SS'),"
         "       patrolgis_ts_ms(created_at)"
         "  FROM patrol_windows"
         " ORDER BY point_id, id");

static struct stmt st_snap_schools =
    STMT("engine_snap_schools", "SELECT id, ST_AsBinary(perimeter), NULL, NULL, name"
                                "  FROM schools"
                                " ORDER BY id");

static struct stmt st_snap_waters =
    STMT("engine_snap_waters", "SELECT id, ST_AsBinary(geom), season_start,"
                               "       season_end, name"
                               " FROM waters"
                               " ORDER BY id");

/* A hash of every row's text in id order (geometry values print as hex EWKB, so any change
 * shows); rows are hashed one by one so that no string of all geometries is ever built. */
#define DIGEST_ROWS(cols, table)                                                                   \
    "coalesce((SELECT string_agg(encode(sha256(convert_to(r::text, 'UTF8')), 'hex'), ''"           \
    " ORDER BY r.id) FROM (SELECT " cols " FROM " table ") r), '')"
#define DIGEST_OF(parts) "encode(sha256(convert_to(" parts ", 'UTF8')), 'hex')"
#define GEOMETRY_ROWS                                                                              \
    DIGEST_ROWS("id, location, radius_m, hysteresis_m, min_dwell_s", "patrol_points")              \
    " || '|' || " DIGEST_ROWS("id, perimeter", "schools") " || '|' || " DIGEST_ROWS(               \
        "id, geom, season_start, season_end", "waters")
#define RULES_ROWS                                                                                 \
    DIGEST_ROWS("id, min_dwell_s, season_start, season_end", "patrol_points")                      \
    " || '|' || " DIGEST_ROWS("id, point_id, days, start_local, end_local, required_visits,"       \
                              " grace_s, date_from, date_to, created_at",                          \
                              "patrol_windows")
static struct stmt st_snap_digests =
    STMT("engine_snap_digests", "SELECT " DIGEST_OF(GEOMETRY_ROWS) ", " DIGEST_OF(RULES_ROWS));

static void snapshot_free(struct snapshot *s)
{
    if (s == NULL)
        return;
    pointindex_free(s->points);
    zoneindex_free(s->zones);
    for (size_t i = 0; i < s->npts; i++)
        free(s->pts[i].name);
    for (size_t i = 0; i < s->nwindows; i++)
        free(s->windows[i].name);
    for (size_t i = 0; i < s->nzones; i++)
        free(s->zmeta[i].name);
    free(s->pts);
    free(s->windows);
    free(s->zmeta);
    free(s);
}

/* A bytea cell (hex text output) as new malloc'd bytes; NULL when out of memory. */
static unsigned char *cell_bytea(const PGresult *r, int row, int col, size_t *len)
{
    unsigned char *esc = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), len);
    unsigned char *b = esc ? malloc(*len ? *len : 1) : NULL;
    if (b != NULL)
        memcpy(b, esc, *len);
    PQfreemem(esc);
    return b;
}

static enum err snap_load_points(struct db_conn *c, struct snapshot *s)
{
    PGresult *r = NULL;
    enum err e = db_exec(c, &st_snap_points, 0, NULL, &r, ENGINE_RID);
    if (e != ERR_OK)
        return e;
    size_t n = (size_t)PQntuples(r);
    struct visits_point *vp = calloc(n ? n : 1, sizeof(*vp));
    s->pts = calloc(n ? n : 1, sizeof(*s->pts));
    if (vp == NULL || s->pts == NULL) {
        e = ERR_INTERNAL;
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        struct snap_point *p = &s->pts[k];
        const char *ss = cell_null(r, row, 6) ? NULL : PQgetvalue(r, row, 6);
        const char *se = cell_null(r, row, 7) ? NULL : PQgetvalue(r, row, 7);
        p->id = cell_i64(r, row, 0);
        p->school_id = cell_i64(r, row, 8);
        p->cp.id = p->id;
        p->cp.min_dwell_s = (int32_t)cell_i64(r, row, 5);
        if (checkin_season_parse(ss, se, &p->cp.season) != ERR_OK) {
            log_warn("engine: patrol point %lld has a malformed season; left out",
                     (long long)p->id);
            continue;
        }
        p->name = cell_dup(r, row, 9);
        if (p->name == NULL) {
            e = ERR_INTERNAL;
            goto out;
        }
        vp[k] = (struct visits_point){ .id = p->id,
                                       .lon = cell_f(r, row, 1),
                                       .lat = cell_f(r, row, 2),
                                       .radius_m = cell_f(r, row, 3),
                                       .hysteresis_m = cell_f(r, row, 4),
                                       .min_dwell_s = p->cp.min_dwell_s };
        s->npts = ++k;
    }
    e = pointindex_build(vp, k, &s->points);
    if (e != ERR_OK)
        log_error("engine: cannot index the patrol points (%s)", err_slug(e));
out:
    free(vp);
    PQclear(r);
    return e;
}

static struct snap_point *snap_point_find(const struct snapshot *s, int64_t id)
{
    size_t lo = 0, hi = s->npts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->pts[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->npts && s->pts[lo].id == id ? &s->pts[lo] : NULL;
}

static enum err snap_load_windows(struct db_conn *c, struct snapshot *s)
{
    PGresult *r = NULL;
    enum err e = db_exec(c, &st_snap_windows, 0, NULL, &r, ENGINE_RID);
    if (e != ERR_OK)
        return e;
    size_t n = (size_t)PQntuples(r);
    s->windows = calloc(n ? n : 1, sizeof(*s->windows));
    if (s->windows == NULL) {
        PQclear(r);
        return ERR_INTERNAL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        struct snap_window *w = &s->windows[k];
        w->w.id = cell_i64(r, row, 0);
        w->w.point_id = cell_i64(r, row, 1);
        w->w.days = (unsigned)cell_i64(r, row, 2);
        w->w.start_s = (int32_t)cell_i64(r, row, 3);
        w->w.end_s = (int32_t)cell_i64(r, row, 4);
        w->w.required_visits = (int32_t)cell_i64(r, row, 5);
        w->w.grace_s = (int32_t)cell_i64(r, row, 6);
        w->w.has_dates = !cell_null(r, row, 7) && !cell_null(r, row, 8);
        if (w->w.has_dates) {
            w->w.date_from = (int32_t)cell_i64(r, row, 7);
            w->w.date_to = (int32_t)cell_i64(r, row, 8);
        }
        snprintf(w->start, sizeof(w->start), "%s", PQgetvalue(r, row, 10));
        snprintf(w->end, sizeof(w->end), "%s", PQgetvalue(r, row, 11));
        w->created_ms = cell_i64(r, row, 12);
        struct snap_point *p = snap_point_find(s, w->w.point_id);
        if (p == NULL)
            continue; /* its point was left out */
        w->name = cell_dup(r, row, 9);
        if (w->name == NULL) {
            PQclear(r);
            s->nwindows = k;
            return ERR_INTERNAL;
        }
        if (p->nw == 0)
            p->w0 = k;
        p->nw++;
        k++;
    }
    s->nwindows = k;
    PQclear(r);
    return ERR_OK;
}

static enum err snap_load_digests(struct db_conn *c, struct snapshot *s)
{
    PGresult *r = NULL;
    enum err e = db_exec(c, &st_snap_digests, 0, NULL, &r, ENGINE_RID);
    if (e == ERR_OK) {
        snprintf(s->geometry_digest, sizeof(s->geometry_digest), "%s", PQgetvalue(r, 0, 0));
        snprintf(s->rules_digest, sizeof(s->rules_digest), "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return e;
}

/* Zone definitions of one layer appended to defs/meta. */
static enum err snap_load_zones(struct db_conn *c, struct stmt *st, const char *layer,
                                struct zone_def **defs, struct snap_zone **meta, size_t *n,
                                size_t *cap)
{
    PGresult *r = NULL;
    enum err e = db_exec(c, st, 0, NULL, &r, ENGINE_RID);
    if (e != ERR_OK)
        return e;
    for (int row = 0; row < PQntuples(r); row++) {
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            struct zone_def *d = realloc(*defs, nc * sizeof(**defs));
            if (d != NULL)
                *defs = d;
            struct snap_zone *m = realloc(*meta, nc * sizeof(**meta));
            if (m != NULL)
                *meta = m;
            if (d == NULL || m == NULL) {
                PQclear(r);
                return ERR_INTERNAL;
            }
            *cap = nc;
        }
        struct snap_zone *m = &(*meta)[*n];
        struct zone_def *d = &(*defs)[*n];
        memset(m, 0, sizeof(*m));
        memset(d, 0, sizeof(*d));
        m->layer = layer;
        m->id = cell_i64(r, row, 0);
        const char *ss = cell_null(r, row, 2) ? NULL : PQgetvalue(r, row, 2);
        const char *se = cell_null(r, row, 3) ? NULL : PQgetvalue(r, row, 3);
        if (checkin_season_parse(ss, se, &m->season) != ERR_OK) {
            log_warn("engine: %s %lld has a malformed season; left out", layer, (long long)m->id);
            continue;
        }
        size_t len = 0;
        unsigned char *wkb = cell_bytea(r, row, 1, &len);
        m->name = cell_dup(r, row, 4);
        if (wkb == NULL || m->name == NULL) {
            free(wkb);
            free(m->name);
            PQclear(r);
            return ERR_INTERNAL;
        }
        d->layer = layer;
        d->id = m->id;
        d->wkb = wkb;
        d->wkb_len = len;
        d->buffer_m = -1;
        d->hysteresis_m = -1;
        (*n)++;
    }
    PQclear(r);
    return ERR_OK;
}

/*
 * Builds the zone index; when one geometry is refused, finds the bad ones one by one, logs
 * and leaves them out, so that one broken row does not switch the geofences off.
 */
static enum err snap_build_zones(struct snapshot *s, struct zone_def *defs, size_t n)
{
    enum err e = zoneindex_build(defs, n, &s->zones);
    if (e != ERR_INVALID_ARGUMENT)
        return e;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct zoneindex *one = NULL;
        if (zoneindex_build(&defs[i], 1, &one) != ERR_OK) {
            log_warn("engine: %s %lld has a geometry the zone index refuses; left out",
                     defs[i].layer, (long long)defs[i].id);
            free(s->zmeta[i].name);
            free((void *)defs[i].wkb);
            continue;
        }
        zoneindex_free(one);
        defs[k] = defs[i];
        s->zmeta[k] = s->zmeta[i];
        k++;
    }
    s->nzones = k;
    return zoneindex_build(defs, k, &s->zones);
}

/* A new snapshot from the database, or NULL (logged). */
static struct snapshot *snapshot_build(struct engine *e, const unsigned long long gen[4])
{
    char msg[256];
    struct db_conn *c = NULL;
    if (db_acquire(e->cfg.pool, &c, msg, sizeof(msg)) != ERR_OK) {
        log_warn("engine: cannot load the layers: %s", msg);
        return NULL;
    }
    struct snapshot *s = calloc(1, sizeof(*s));
    struct zone_def *defs = NULL;
    size_t nz = 0, capz = 0;
    enum err err = s ? db_begin(c, ENGINE_RID) : ERR_INTERNAL;
    if (err == ERR_OK)
        err = db_exec_sql(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL,
                          ENGINE_RID);
    if (err == ERR_OK)
        err = snap_load_points(c, s);
    if (err == ERR_OK)
        err = snap_load_windows(c, s);
    if (err == ERR_OK)
        err = snap_load_zones(c, &st_snap_schools, "schools", &defs, &s->zmeta, &nz, &capz);
    if (err == ERR_OK)
        err = snap_load_zones(c, &st_snap_waters, "waters", &defs, &s->zmeta, &nz, &capz);
    if (err == ERR_OK)
        err = snap_load_digests(c, s);
    if (s != NULL)
        s->nzones = nz;
    db_rollback(c, ENGINE_RID);
    db_release(e->cfg.pool, c);
    if (err == ERR_OK)
        err = snap_build_zones(s, defs, nz);
    for (size_t i = 0; i < (s ? s->nzones : 0); i++)
        free((void *)defs[i].wkb);
    free(defs);
    if (err != ERR_OK) {
        log_warn("engine: cannot build the layer snapshot (%s); keeping the previous one",
                 err_slug(err));
        snapshot_free(s);
        return NULL;
    }
    memcpy(s->gen, gen, sizeof(s->gen));
    return s;
}

static void snapshot_gens(struct engine *e, unsigned long long gen[4])
{
    for (int i = 0; i < 4; i++)
        gen[i] = layers_generation(e->cfg.layers, (size_t)layers_index(snap_layers[i]));
}

/* Rebuilds the snapshot when a layer changed (or there is none). Returns whether one exists. */
static bool snapshot_refresh(struct engine *e)
{
    unsigned long long gen[4];
    snapshot_gens(e, gen);
    if (e->snap != NULL && memcmp(gen, e->snap->gen, sizeof(gen)) == 0)
        return true;
    struct snapshot *s = snapshot_build(e, gen);
    if (s == NULL)
        return e->snap != NULL;
    snapshot_free(e->snap); /* nothing refers to it between transactions */
    e->snap = s;
    e->snap_checked = false;
    atomic_fetch_add(&e->snapshots, 1);
    atomic_store(&e->npoints, (long)s->npts);
    atomic_store(&e->nwindows, (long)s->nwindows);
    atomic_store(&e->nzones, (long)s->nzones);
    log_info("engine: layer snapshot with %zu patrol points, %zu windows, %zu zones", s->npts,
             s->nwindows, s->nzones);
    return true;
}

/* ---- what one transaction writes, published after COMMIT ----------------------------------- */

struct pub {
    int64_t id;
    int64_t device_id;
    char *kind;
    char *json;
};

/* A point whose visits changed, and the local days the changes touch. */
struct touched {
    int64_t point_id;
    int32_t day_from, day_to;
};

struct tx {
    struct engine *e;
    struct db_conn *c;
    const struct snapshot *snap;
    int64_t now_ms;
    struct pub *pubs;
    size_t npubs, cappubs;
    struct touched *touched;
    size_t ntouched, captouched;
    unsigned long long visits, stays, checkins; /* rows written */
    /* recomputation after a layer edit, not news: no check-in announcements are written and
     * no event goes to the streams (recomputed zone events are stored as usual) */
    bool quiet;
    int32_t live_from; /* quiet: the first local day not closed for good (tx_live_from) */
    /* days before this local day: only windows that already have a check-in row are
     * evaluated (a layer edit corrects what was judged; it does not judge days nobody did);
     * 0: no such limit */
    int32_t existing_only_before;
};

static void tx_clear(struct tx *t)
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

/* Records event rows (columns: id, json, kind, device_id) for publication. */
static enum err tx_pubs_add(struct tx *t, const PGresult *r, int col0)
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

static enum err tx_touch(struct tx *t, int64_t point_id, int64_t from_ms, int64_t to_ms)
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

/* ---- fixes of one device, loaded once per transaction and sliced --------------------------- */

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

struct fixes {
    int64_t device_id;
    int64_t from, to; /* loaded range (to = INT64_MAX: to the end of the data) */
    bool loaded;
    struct fix *v;
    size_t n;
};

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

/*
 * The device's fixes with from <= t <= to (to = INT64_MAX: all later ones) as a slice of the
 * cache, and whether no fix is later than `to`.
 */
static enum err fixes_get(struct tx *t, struct fixes *f, int64_t from, int64_t to,
                          const struct fix **out, size_t *n, bool *at_end)
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

/* ---- visits ------------------------------------------------------------------------------- */

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

/* The late-batch procedure of visits.h for new fixes in [a, b]. */
static enum err device_visits(struct tx *t, struct fixes *fx, int64_t device_id, int64_t a,
                              int64_t b)
{
    struct visits_params p;
    visits_params_default(&p);
    struct span_rules rules;
    visits_span_rules(&p, &rules);
    int64_t margin = 2 * rules.gap_ms + 2 * rules.merge_ms + 4 * MIN_MS;
    struct old_visits o = { 0 };
    struct visits_result res = { 0 };
    int64_t from = 0, to = 0, upto = 0;
    enum err e = old_visits_load(t, device_id, span_sub(a, margin), &o);
    for (;;) {
        if (e != ERR_OK)
            goto out;
        visits_affected_span(&p, a, b, o.v, o.n, &from, &to);
        int64_t need = span_sub(from, rules.gap_ms + rules.merge_ms + 4 * MIN_MS);
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

/* ---- zones -------------------------------------------------------------------------------- */

static struct stmt st_old_stays =
    STMT("engine_old_stays",
         "SELECT id, zone_layer, zone_id, patrolgis_ts_ms(enter_at),"
         " patrolgis_ts_ms(last_at), exit_at IS NULL,"
         "       coalesce(enter_event, 0), coalesce(exit_event, 0)"
         "  FROM zone_stays"
         " WHERE device_id = $1::bigint"
         "   AND coalesce(exit_at, 'infinity'::timestamptz) >= patrolgis_ms_ts($2::bigint)");

#define EVENT_RETURNING "RETURNING e.id, " ENGINE_EVENT_JSON ", e.kind, e.device_id"

static struct stmt st_stay_insert =
    STMT("engine_stay_insert",
         "WITH"
         " en AS (INSERT INTO events AS e (at, kind, device_id, zone_layer, zone_id, payload)"
         "            VALUES (patrolgis_ms_ts($4::bigint), 'zone_enter', $1::bigint, $2,"
         " $3::bigint, $6::jsonb)"
         "            " EVENT_RETURNING
         "), ex AS (INSERT INTO events AS e (at, kind, device_id, zone_layer, zone_id,"
         " payload)"
         "        SELECT patrolgis_ms_ts($5::bigint), 'zone_exit', $1::bigint, $2,"
         " $3::bigint, $7::jsonb"
         "         WHERE $5::bigint IS NOT NULL " EVENT_RETURNING
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
         "        " EVENT_RETURNING
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

static const struct snap_zone *snap_zone_find(const struct snapshot *s, const char *layer,
                                              int64_t id)
{
    size_t lo = 0, hi = s->nzones;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct snap_zone *z = &s->zmeta[mid];
        int c = strcmp(z->layer, layer);
        if (c < 0 || (c == 0 && z->id < id))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->nzones && strcmp(s->zmeta[lo].layer, layer) == 0 && s->zmeta[lo].id == id)
        return &s->zmeta[lo];
    return NULL;
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
    const struct snap_zone *z = snap_zone_find(t->snap, s->layer, s->zone_id);
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
    const struct snap_zone *z = snap_zone_find(t->snap, s->layer, s->zone_id);
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
        const struct snap_zone *z = snap_zone_find(t->snap, v[i].layer, v[i].zone_id);
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

/* The late-batch procedure of zones.h for new fixes in [a, b]. */
static enum err device_zones(struct tx *t, struct fixes *fx, int64_t device_id, int64_t a,
                             int64_t b)
{
    if (t->snap->zones == NULL || zoneindex_count(t->snap->zones) == 0)
        return ERR_OK;
    struct zones_params p;
    zones_params_default(&p);
    int64_t gap = (int64_t)(p.max_gap_s * 1000), conf = (int64_t)(p.confirm_s * 1000);
    int64_t margin = 2 * gap + 4 * conf + 4 * MIN_MS;
    struct old_stays o = { 0 };
    struct zones_result res = { 0 };
    int64_t from = 0, to = 0, upto = 0;
    enum err e = old_stays_load(t, device_id, span_sub(a, margin), &o);
    for (;;) {
        if (e != ERR_OK)
            goto out;
        zones_affected_span(&p, a, b, o.plain, o.n, &from, &to);
        int64_t need = span_sub(from, gap + 2 * conf + 4 * MIN_MS);
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

/* ---- check-ins ---------------------------------------------------------------------------- */

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
 * Upserts the evaluated check-ins ($1: JSON rows) and writes the events of status changes: a
 * row that becomes missed gets its checkin_missed event (once per window and date), a missed
 * row that late fixes turn done or late gets a checkin_resolved event (once too). When $2
 * (announce) is false - a recomputation after a layer edit - corrections are not announced;
 * only a window that closes unseen (no row or pending -> missed) on a day not closed for good
 * (local day number >= $3) still gets its checkin_missed, which no later pass would write. "old"
 * reads the rows as they were before this statement (every part of a WITH sees one snapshot). ON
 * CONFLICT DO NOTHING names no target: the only unique indexes of events are those two guards
 * (events_checkin_missed_once, events_checkin_resolved_once) and the primary key. Returns the
 * number of rows changed, then the new events (EVENT_RETURNING columns).
 */
static struct stmt st_checkins_upsert = STMT(
    "engine_checkins_upsert",
    "WITH"
    " x AS (SELECT * FROM jsonb_to_recordset($1::jsonb)"
    "        AS x(w bigint, p bigint, d int, s text, v bigint[], f bigint, e bigint,"
    "             pn text, wn text, ws text, we text, sc bigint)),"
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
    "        RETURNING c.id, c.window_id, c.local_date, c.status, c.first_at),"
    " chg AS (SELECT up.id, up.status, up.first_at, old.status AS was, x.*"
    "           FROM up JOIN x ON x.w = up.window_id AND date '1970-01-01' + x.d = up.local_date"
    "           LEFT JOIN old ON old.window_id = up.window_id AND old.local_date = up.local_date),"
    " ev AS (INSERT INTO events AS e (at, kind, point_id, payload)"
    "        SELECT CASE WHEN chg.status = 'missed' THEN patrolgis_ms_ts(chg.e) ELSE now() END,"
    "               CASE WHEN chg.status = 'missed' THEN 'checkin_missed'"
    "                    ELSE 'checkin_resolved' END, chg.p,"
    "               jsonb_build_object('window_id', chg.w,"
    "                                  'local_date', to_char(date '1970-01-01' + chg.d,"
    "                                                        'YYYY-MM-DD'),"
    "                                  'point_id', chg.p, 'point', chg.pn, 'window', chg.wn,"
    "                                  'start', chg.ws, 'end', chg.we, 'school_id', chg.sc,"
    "                                  'checkin_id', chg.id)"
    "               || CASE WHEN chg.status = 'missed' THEN '{}'::jsonb"
    "                       ELSE jsonb_build_object('status', chg.status,"
    "                                               'first_at', patrolgis_iso(chg.first_at))"
    "                  END"
    "          FROM chg"
    "         WHERE CASE WHEN $2::bool"
    "                    THEN chg.status = 'missed'"
    "                         OR (chg.was = 'missed' AND chg.status IN ('done', 'late'))"
    "                    ELSE chg.status = 'missed' AND coalesce(chg.was, 'pending') = 'pending'"
    "                         AND chg.d >= $3::int END"
    "        ON CONFLICT DO NOTHING"
    "        " EVENT_RETURNING ")"
    " SELECT (SELECT count(*) FROM up), ev.* FROM (SELECT 1) one LEFT JOIN ev ON true");

static struct stmt st_checkins_delete =
    STMT("engine_checkins_delete",
         "DELETE"
         " FROM checkins c USING jsonb_to_recordset($1::jsonb) AS x(w bigint, d int)"
         " WHERE c.window_id = x.w AND c.local_date = (date '1970-01-01' + x.d)");

static struct stmt st_missed_through =
    STMT("engine_missed_through", "SELECT value FROM engine_state WHERE name = 'missed_through'");

/* Sets t->live_from: the day after engine_state's missed_through (yesterday when there is
 * none), at most ENGINE_CATCHUP_DAYS back - the days the periodic pass has not closed. */
static enum err tx_live_from(struct tx *t)
{
    PGresult *r = NULL;
    int32_t today = tzconv_local_day(&t->e->tz, t->now_ms), through;
    enum err e = db_exec(t->c, &st_missed_through, 0, NULL, &r, ENGINE_RID);
    t->live_from = today - 1;
    if (e == ERR_OK && PQntuples(r) == 1 && tzconv_parse_date(PQgetvalue(r, 0, 0), &through) &&
        through + 1 < t->live_from)
        t->live_from =
            through + 1 > today - ENGINE_CATCHUP_DAYS ? through + 1 : today - ENGINE_CATCHUP_DAYS;
    PQclear(r);
    return e;
}

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
                    "{s:I,s:I,s:i,s:s,s:o,s:o,s:I,s:s,s:s,s:s,s:s,s:o}", "w", (json_int_t)sw->w.id,
                    "p", (json_int_t)pt->id, "d", (int)day, "s", checkin_status_name(res.status),
                    "v", vis, "f",
                    res.has_first ? json_integer((json_int_t)res.first_ms) : json_null(), "e",
                    (json_int_t)res.window_to_ms, "pn", pt->name, "wn", sw->name, "ws", sw->start,
                    "we", sw->end, "sc",
                    pt->school_id ? json_integer((json_int_t)pt->school_id) : json_null());
                if (row == NULL || json_array_append_new(up, row) != 0) {
                    e = ERR_INTERNAL;
                    goto out;
                }
            }
        }
    }
    if (json_array_size(up) > 0) {
        char *text = json_dumps(up, JSON_COMPACT);
        char live[16];
        snprintf(live, sizeof(live), "%d", (int)t->live_from);
        const char *p3[3] = { text, t->quiet ? "false" : "true", live };
        PGresult *ur = NULL;
        e = text ? db_exec(t->c, &st_checkins_upsert, 3, p3, &ur, ENGINE_RID) : ERR_INTERNAL;
        free(text);
        if (e == ERR_OK) {
            t->checkins += (unsigned long long)cell_i64(ur, 0, 0);
            e = tx_pubs_add(t, ur, 1);
        }
        PQclear(ur);
    }
    if (e == ERR_OK && json_array_size(del) > 0) {
        char *text = json_dumps(del, JSON_COMPACT);
        const char *p1[1] = { text };
        e = text ? db_exec(t->c, &st_checkins_delete, 1, p1, NULL, ENGINE_RID) : ERR_INTERNAL;
        free(text);
    }
out:
    json_decref(up);
    json_decref(del);
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

/*
 * Evaluates the windows of the points whose visits changed, on the days the changes touch,
 * and of every point on the local days [all_from, all_to] (none when all_from > all_to); no
 * day after today.
 */
static enum err checkins_run(struct tx *t, int32_t all_from, int32_t all_to)
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

/* ---- one device ---------------------------------------------------------------------------- */

static struct stmt st_devices = STMT("engine_devices", "SELECT device_id"
                                                       " FROM engine_queue"
                                                       " WHERE device_id <> ALL($1::bigint[])"
                                                       " GROUP BY device_id"
                                                       " ORDER BY min(id) LIMIT $2::int");

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

static struct stmt st_queue_count = STMT("engine_queue_count", "SELECT count(*)"
                                                               " FROM engine_queue");

/* Processes the queued spans of one device in one transaction. *skipped: locked elsewhere. */
static enum err device_run(struct engine *e, struct db_conn *c, int64_t device_id, bool *skipped)
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
        err = tx_live_from(&t);
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
    err = device_visits(&t, &fx, device_id, a, b);
    if (err == ERR_OK)
        err = device_zones(&t, &fx, device_id, a, b);
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

static bool should_stop(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    bool stop = e->stop != 0;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

/*
 * Works through the queue: devices in order of their oldest row; a device that fails waits
 * for the next round. Returns true when it stopped with work left (after ENGINE_ROUND_MS, so
 * that a busy queue does not hold off the periodic pass or a layer reload).
 */
static bool queue_round(struct engine *e)
{
    char msg[256];
    struct db_conn *c = NULL;
    if (db_acquire(e->cfg.pool, &c, msg, sizeof(msg)) != ERR_OK) {
        log_warn("engine: %s", msg);
        return false;
    }
    int64_t until = clock_mono_ms() + ENGINE_ROUND_MS;
    bool more = false;
    struct strbuf skip, lit; /* devices not to take again this round: "1,2", then "{1,2}" */
    strbuf_init(&skip, 0);
    strbuf_init(&lit, 0);
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", ENGINE_DEVICE_BATCH);
    while (!should_stop(e)) {
        strbuf_reset(&lit);
        strbuf_printf(&lit, "{%s}", skip.len > 0 ? skip.p : "");
        if (strbuf_error(&skip) != ERR_OK || strbuf_error(&lit) != ERR_OK)
            break;
        const char *params[2] = { lit.p, limit };
        PGresult *r = NULL;
        enum err err = db_exec(c, &st_devices, 2, params, &r, ENGINE_RID);
        if (err != ERR_OK) {
            log_warn("engine: cannot read the queue: %s", db_error_message(c));
            break;
        }
        int n = PQntuples(r);
        if (n > 0 && clock_mono_ms() >= until) {
            more = true;
            PQclear(r);
            break;
        }
        for (int i = 0; i < n && !should_stop(e); i++) {
            int64_t dev = cell_i64(r, i, 0);
            bool skipped = false;
            err = device_run(e, c, dev, &skipped);
            if (err != ERR_OK) {
                atomic_fetch_add(&e->failures, 1);
                log_warn("engine: device %lld not processed (%s: %s); retrying later",
                         (long long)dev, err_slug(err), db_error_message(c));
            }
            if (err != ERR_OK || skipped)
                strbuf_printf(&skip, "%s%lld", skip.len > 0 ? "," : "", (long long)dev);
        }
        PQclear(r);
        if (n == 0)
            break;
    }
    strbuf_free(&skip);
    strbuf_free(&lit);
    PGresult *r = NULL;
    if (db_exec(c, &st_queue_count, 0, NULL, &r, ENGINE_RID) == ERR_OK)
        atomic_store(&e->queue_rows, (long)cell_i64(r, 0, 0));
    PQclear(r);
    db_release(e->cfg.pool, c);
    atomic_store(&e->last_run_ms, clock_now_ms(e->cfg.clock));
    return more;
}

/* ---- engine_state: what must survive a restart ------------------------------------------ */

static struct stmt st_state_get =
    STMT("engine_state_get", "SELECT value FROM engine_state WHERE name = $1 FOR UPDATE");

static struct stmt st_state_set =
    STMT("engine_state_set", "INSERT INTO engine_state (name, value) VALUES ($1, $2)"
                             " ON CONFLICT (name) DO UPDATE"
                             "   SET value = EXCLUDED.value, updated_at = now()"
                             " WHERE engine_state.value <> EXCLUDED.value");

/* Every device with an unflagged fix since $1 (ms): its span from then to that fix, queued. */
static struct stmt st_requeue = STMT(
    "engine_requeue", "WITH q AS (INSERT INTO engine_queue (device_id, new_from, new_to,"
                      "                                    recompute)"
                      "           SELECT device_id, patrolgis_ms_ts($1::bigint), fix_time, true"
                      "             FROM device_latest"
                      "            WHERE fix_time >= patrolgis_ms_ts($1::bigint)"
                      "           RETURNING 1)"
                      " SELECT count(*) FROM q");

/* The value stored under name, locked until the end of the transaction, in buf ("": none). */
static enum err state_get(struct db_conn *c, const char *name, char *buf, size_t n)
{
    const char *params[1] = { name };
    PGresult *r = NULL;
    enum err e = db_exec(c, &st_state_get, 1, params, &r, ENGINE_RID);
    buf[0] = '\0';
    if (e == ERR_OK && PQntuples(r) == 1)
        snprintf(buf, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return e;
}

static enum err state_set(struct db_conn *c, const char *name, const char *value)
{
    const char *params[2] = { name, value };
    return db_exec(c, &st_state_set, 2, params, NULL, ENGINE_RID);
}

/* Ends a transaction of the worker's: COMMIT and publish its events, or roll it back. */
static enum err tx_finish(struct tx *t, enum err err, const char *what)
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

/* ---- layer edits ---------------------------------------------------------------------------- */

/* Rows a layer edit queued that are not processed yet, and whether one of them has been
 * waiting for longer than ENGINE_RECOMPUTE_WAIT (a device whose run keeps failing, or whose
 * lock another session holds): then the recomputation no longer holds anything off. */
static struct stmt st_recompute_pending =
    STMT("engine_recompute_pending",
         "SELECT EXISTS (SELECT 1 FROM engine_queue WHERE recompute"
         "                  AND queued_at > now() - interval '" ENGINE_RECOMPUTE_WAIT "'),"
         "       EXISTS (SELECT 1 FROM engine_queue WHERE recompute"
         "                  AND queued_at <= now() - interval '" ENGINE_RECOMPUTE_WAIT "')");

static enum err recompute_pending(struct db_conn *c, bool *pending)
{
    PGresult *r = NULL;
    enum err e = db_exec(c, &st_recompute_pending, 0, NULL, &r, ENGINE_RID);
    *pending = e == ERR_OK && cell_bool(r, 0, 0);
    if (e == ERR_OK && cell_bool(r, 0, 1))
        log_warn("engine: a recomputation after a layer edit has been queued for "
                 "over " ENGINE_RECOMPUTE_WAIT
                 " (engine_queue rows with recompute = true); going on "
                 "without waiting for it");
    PQclear(r);
    return e;
}

/*
 * Compares the current snapshot's digests with those stored in engine_state by the last one
 * applied (so an edit made while patrold was stopped counts too), in one transaction, and
 * stores each digest once what it calls for is done or durably queued:
 *   geometry changed: every device with an unflagged fix in the last --recompute-days local
 *     days gets an engine_queue row for that span marked recompute (visits, zone stays and
 *     the check-ins they touch are redone by the queue, as for late fixes, but quietly);
 *   rules changed: every window of those days is re-evaluated, quietly - once no recompute
 *     row is left, so that it sees the recomputed visits. Until then the snapshot stays
 *     unchecked and this runs again at the next wake-up.
 * No digest stored yet (a new database): they are stored and nothing is redone.
 */
static void snapshot_apply(struct engine *e)
{
    char msg[256], geo[72], rules[72];
    struct db_conn *c = NULL;
    if (e->snap_checked)
        return;
    if (db_acquire(e->cfg.pool, &c, msg, sizeof(msg)) != ERR_OK) {
        log_warn("engine: layer changes not applied yet: %s", msg);
        return;
    }
    struct tx t = {
        .e = e, .c = c, .snap = e->snap, .now_ms = clock_now_ms(e->cfg.clock), .quiet = true
    };
    int32_t today = tzconv_local_day(&e->tz, t.now_ms);
    int32_t first = today - (int32_t)e->cfg.recompute_days + 1;
    bool geo_changed = false, rules_changed = false, pending = false;
    long long queued = 0;
    enum err err = db_begin(c, ENGINE_RID);
    if (err == ERR_OK)
        err = state_get(c, "geometry_digest", geo, sizeof(geo));
    if (err == ERR_OK)
        err = state_get(c, "rules_digest", rules, sizeof(rules));
    if (err == ERR_OK) {
        geo_changed = geo[0] != '\0' && strcmp(geo, t.snap->geometry_digest) != 0;
        rules_changed = rules[0] != '\0' && strcmp(rules, t.snap->rules_digest) != 0;
    }
    if (err == ERR_OK && geo_changed && first <= today) {
        char from[24];
        fmt_i64(from, sizeof(from), tzconv_local_ms(&e->tz, first, 0));
        const char *params[1] = { from };
        PGresult *r = NULL;
        err = db_exec(c, &st_requeue, 1, params, &r, ENGINE_RID);
        if (err == ERR_OK)
            queued = cell_i64(r, 0, 0);
        PQclear(r);
    }
    if (err == ERR_OK)
        err = state_set(c, "geometry_digest", t.snap->geometry_digest);
    if (err == ERR_OK && rules_changed)
        err = recompute_pending(c, &pending);
    if (err == ERR_OK && rules_changed && !pending && first <= today)
        err = tx_live_from(&t);
    t.existing_only_before = t.live_from;
    if (err == ERR_OK && rules_changed && !pending && first <= today)
        err = checkins_run(&t, first, today);
    if (err == ERR_OK && !pending)
        err = state_set(c, "rules_digest", t.snap->rules_digest);
    if (tx_finish(&t, err, "applying a layer change") == ERR_OK) {
        e->snap_checked = !pending;
        if (geo_changed)
            log_info("engine: places or zones edited: %lld device(s) queued to recompute the "
                     "last %ld day(s)",
                     queued, e->cfg.recompute_days);
        if (rules_changed && !pending)
            log_info("engine: windows or rules edited: %llu check-in(s) of the last %ld day(s) "
                     "changed",
                     t.checkins, e->cfg.recompute_days);
    }
    db_release(e->cfg.pool, c);
    tx_clear(&t);
}

/* ---- the periodic pass --------------------------------------------------------------------- */

/*
 * Every window that has started from the first day not closed for good (the day after
 * engine_state's missed_through; yesterday at least; at most ENGINE_CATCHUP_DAYS back) to
 * today: pending, done, late or missed. Then missed_through := the day before yesterday (a
 * window of yesterday may still be in its grace time after midnight). Returns false when it
 * did not run because a recomputation after a layer edit is still queued (try again soon).
 */
static bool periodic_pass(struct engine *e)
{
    char msg[256], mark[32];
    struct db_conn *c = NULL;
    if (db_acquire(e->cfg.pool, &c, msg, sizeof(msg)) != ERR_OK) {
        log_warn("engine: periodic pass skipped: %s", msg);
        return true;
    }
    struct tx t = { .e = e, .c = c, .snap = e->snap, .now_ms = clock_now_ms(e->cfg.clock) };
    int32_t today = tzconv_local_day(&e->tz, t.now_ms);
    bool pending = !e->snap_checked;
    enum err err = db_begin(c, ENGINE_RID);
    if (err == ERR_OK && !pending)
        err = recompute_pending(c, &pending);
    if (err == ERR_OK && pending) {
        /* a layer edit is being applied (visits recomputed, or windows not yet re-evaluated):
         * judging windows now would announce what the recomputation may undo */
        db_rollback(c, ENGINE_RID);
        db_release(e->cfg.pool, c);
        tx_clear(&t);
        log_debug("engine: periodic pass waits for the recomputation after a layer edit");
        return false;
    }
    if (err == ERR_OK)
        err = state_get(c, "missed_through", mark, sizeof(mark)); /* locks the row */
    if (err == ERR_OK)
        err = tx_live_from(&t);
    int32_t from = t.live_from;
    if (err == ERR_OK)
        err = checkins_run(&t, from, today);
    if (err == ERR_OK) {
        int32_t y, m, d;
        tzconv_civil_from_days(today - 2, &y, &m, &d);
        snprintf(mark, sizeof(mark), "%04d-%02d-%02d", (int)y, (int)m, (int)d);
        err = state_set(c, "missed_through", mark);
    }
    if (tx_finish(&t, err, "the periodic pass") == ERR_OK && (t.checkins > 0 || t.npubs > 0))
        log_info("engine: periodic pass over %d day(s): %llu check-in(s) changed, %zu event(s)",
                 (int)(today - from + 1), t.checkins, t.npubs);
    db_release(e->cfg.pool, c);
    tx_clear(&t);
    int64_t now = clock_now_ms(e->cfg.clock);
    atomic_store(&e->last_pass_ms, now);
    atomic_store(&e->last_run_ms, now);
    return true;
}

/* ---- the thread ---------------------------------------------------------------------------- */

static void on_notify(void *ctx, const char *payload)
{
    struct engine *e = ctx;
    (void)payload;
    pthread_mutex_lock(&e->mu);
    e->kicked = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

static void *worker_main(void *arg)
{
    struct engine *e = arg;
    int64_t next_pass = 0; /* clock_mono_ms: durations do not follow the injected clock */
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        e->kicked = 0;
        pthread_mutex_unlock(&e->mu);

        bool more = false;
        if (snapshot_refresh(e)) {
            snapshot_apply(e);
            more = queue_round(e);
            if (clock_mono_ms() >= next_pass && !should_stop(e))
                next_pass = clock_mono_ms() + (periodic_pass(e) ? e->cfg.interval_s * 1000 : 1000);
        }

        pthread_mutex_lock(&e->mu);
        if (e->stop || e->kicked || more)
            continue;
        int64_t wait_ms = e->cfg.poll_ms;
        int64_t until_pass = next_pass - clock_mono_ms();
        if (until_pass < wait_ms)
            wait_ms = until_pass > 0 ? until_pass : 0;
        struct timespec deadline = clock_deadline(wait_ms);
        while (!e->stop && !e->kicked && pthread_cond_timedwait(&e->cv, &e->mu, &deadline) == 0)
            ; /* a spurious wake-up: wait on */
    }
    pthread_mutex_unlock(&e->mu);

    /* GEOS objects of the zone index belong to this thread's context: free them here */
    snapshot_free(e->snap);
    e->snap = NULL;
    return NULL;
}

struct engine *engine_start(const struct engine_config *cfg)
{
    struct engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->cfg = *cfg;
    if (e->cfg.clock == NULL)
        e->cfg.clock = clock_system();
    if (e->cfg.interval_s <= 0)
        e->cfg.interval_s = 30;
    if (e->cfg.poll_ms <= 0)
        e->cfg.poll_ms = 5000;
    tzconv_process(&e->tz);
    e->hub = eventhub_new(ENGINE_HUB_CAPACITY);
    if (e->hub == NULL) {
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (pthread_create(&e->thread, NULL, worker_main, e) != 0)
        goto fail;
    /* After the thread: a NOTIFY (or a reconnection, when some may have been missed) only
     * kicks it, and the queue rows are the record, so nothing is lost in between. */
    e->listener = db_listener_start(cfg->db, DB_CHANNEL_ENGINE, on_notify, on_notify, e);
    if (e->listener == NULL) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
        goto fail;
    }
    return e;
fail:
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    eventhub_free(e->hub);
    free(e);
    return NULL;
}

void engine_stop(struct engine *e)
{
    if (e == NULL)
        return;
    db_listener_stop(e->listener);
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    eventhub_free(e->hub);
    free(e);
}

struct eventhub *engine_events(struct engine *e)
{
    return e->hub;
}

struct engine_stats {
    long queue_rows;         /* engine_queue rows at the last look */
    long long last_run_ms;   /* end of the last queue round or periodic pass (UTC ms, 0 never) */
    long long last_pass_ms;  /* end of the last periodic pass */
    unsigned long long runs; /* device transactions committed */
    unsigned long long failures;
    unsigned long long visits_written; /* visits inserted, updated or deleted */
    unsigned long long stays_written;  /* zone stays inserted, updated or deleted */
    unsigned long long checkins_written;
    unsigned long long events_written;
    unsigned long long snapshots; /* snapshots built */
    long points, windows, zones;  /* in the current snapshot */
};

/* A consistent-enough copy of the counters (each is read atomically). */
static void engine_get_stats(const struct engine *ce, struct engine_stats *out)
{
    struct engine *e = (struct engine *)ce; /* atomics are read, never written */
    out->queue_rows = atomic_load(&e->queue_rows);
    out->last_run_ms = atomic_load(&e->last_run_ms);
    out->last_pass_ms = atomic_load(&e->last_pass_ms);
    out->runs = atomic_load(&e->runs);
    out->failures = atomic_load(&e->failures);
    out->visits_written = atomic_load(&e->visits_written);
    out->stays_written = atomic_load(&e->stays_written);
    out->checkins_written = atomic_load(&e->checkins_written);
    out->events_written = atomic_load(&e->events_written);
    out->snapshots = atomic_load(&e->snapshots);
    out->points = atomic_load(&e->npoints);
    out->windows = atomic_load(&e->nwindows);
    out->zones = atomic_load(&e->nzones);
}

char *engine_metrics_text(const struct engine *e)
{
    struct strbuf b;
    strbuf_init(&b, 0);
    if (e != NULL) {
        struct engine_stats s;
        engine_get_stats(e, &s);
        strbuf_printf(
            &b,
            "# HELP patrold_engine_queue_rows Rows in engine_queue at the engine's last look.\n"
            "# TYPE patrold_engine_queue_rows gauge\n"
            "patrold_engine_queue_rows %ld\n"
            "# HELP patrold_engine_last_run_timestamp_seconds When the engine last finished a "
            "queue round or periodic pass.\n"
            "# TYPE patrold_engine_last_run_timestamp_seconds gauge\n"
            "patrold_engine_last_run_timestamp_seconds %.3f\n"
            "# HELP patrold_engine_last_pass_timestamp_seconds When the periodic check-in "
            "pass last finished.\n"
            "# TYPE patrold_engine_last_pass_timestamp_seconds gauge\n"
            "patrold_engine_last_pass_timestamp_seconds %.3f\n"
            "# HELP patrold_engine_runs_total Device transactions committed.\n"
            "# TYPE patrold_engine_runs_total counter\n"
            "patrold_engine_runs_total %llu\n"
            "# HELP patrold_engine_failures_total Device transactions and passes that "
            "failed (retried later).\n"
            "# TYPE patrold_engine_failures_total counter\n"
            "patrold_engine_failures_total %llu\n"
            "# HELP patrold_engine_rows_written_total Rows the engine inserted, updated or "
            "deleted.\n"
            "# TYPE patrold_engine_rows_written_total counter\n"
            "patrold_engine_rows_written_total{table=\"visits\"} %llu\n"
            "patrold_engine_rows_written_total{table=\"zone_stays\"} %llu\n"
            "patrold_engine_rows_written_total{table=\"checkins\"} %llu\n"
            "patrold_engine_rows_written_total{table=\"events\"} %llu\n"
            "# HELP patrold_engine_snapshots_total Layer snapshots built.\n"
            "# TYPE patrold_engine_snapshots_total counter\n"
            "patrold_engine_snapshots_total %llu\n"
            "# HELP patrold_engine_snapshot_items What the current layer snapshot holds.\n"
            "# TYPE patrold_engine_snapshot_items gauge\n"
            "patrold_engine_snapshot_items{kind=\"points\"} %ld\n"
            "patrold_engine_snapshot_items{kind=\"windows\"} %ld\n"
            "patrold_engine_snapshot_items{kind=\"zones\"} %ld\n",
            s.queue_rows, (double)s.last_run_ms / 1000.0, (double)s.last_pass_ms / 1000.0, s.runs,
            s.failures, s.visits_written, s.stays_written, s.checkins_written, s.events_written,
            s.snapshots, s.points, s.windows, s.zones);
    }
    return strbuf_take(&b); /* "" without an engine; NULL when out of memory */
}

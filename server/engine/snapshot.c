/*
 * snapshot.c - the engine's immutable snapshot of the layers: patrol points (a pointindex)
 * with their windows, and the zones (a zoneindex of school perimeters and waters, with each
 * water's season), read in one REPEATABLE READ READ ONLY transaction together with the
 * digests that tell a layer edit (periodic.c applies them); rebuilt when the generations of
 * the layer tables change, and swapped in between transactions.
 *
 * What it is not: what the snapshot is used for (visits, stays, check-ins) or when the
 * worker looks (worker.c). A row the indexes refuse is logged and left out.
 */
#include "engine_internal.h"

#include "layers.h"
#include "log.h"
#include "pointindex.h"

/* The layers whose generations make a snapshot stale. */
static const char *const snap_layers[4] = { "patrol_points", "patrol_windows", "waters",
                                            "schools" };

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

void snapshot_free(struct snapshot *s)
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

bool snapshot_refresh(struct engine *e)
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

const struct snap_zone *snapshot_zone(const struct snapshot *s, const char *layer, int64_t id)
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

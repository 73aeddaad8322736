/*
 * zones.c - zone stays and events: GEOS prepared geometries in a local metric frame per zone,
 * an STRtree over their lon/lat boxes (grown by buffer + hysteresis), a per-zone hysteresis
 * state machine over the fixes, then drop-short / merge-close confirmation.
 */
#include "zones.h"

#include "geoctx.h"
#include "localmetric.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BISECT_MS    0.5
#define BISECT_STEPS 64

struct zone {
    char *layer;
    int64_t id;
    double lon0, lat0, kx, ky; /* local frame: x = (lon - lon0) kx, y = (lat - lat0) ky */
    double buffer, outer;      /* in at <= buffer, out beyond outer = buffer + hysteresis */
    GEOSGeometry *local;       /* the geometry in the local frame */
    const GEOSPreparedGeometry *prep;
    GEOSGeometry *box; /* lon/lat box reaching `outer` around the geometry: the tree's key */
};

struct zoneindex {
    size_t n;
    struct zone *z;
    GEOSSTRtree *tree;
};

void zones_params_default(struct zones_params *p)
{
    p->max_gap_s = VISITS_MAX_GAP_S;
    p->confirm_s = ZONES_CONFIRM_S;
    p->ignore_flags = VISITS_IGNORE_FLAGS;
}

const char *zones_event_kind_name(enum zone_event_kind k)
{
    return k == ZONE_ENTER ? "zone_enter" : "zone_exit";
}

size_t zoneindex_count(const struct zoneindex *zi)
{
    return zi->n;
}

void zoneindex_free(struct zoneindex *zi)
{
    if (zi == NULL)
        return;
    GEOSContextHandle_t h = geoctx_geos();
    if (h != NULL) {
        if (zi->tree != NULL)
            GEOSSTRtree_destroy_r(h, zi->tree);
        for (size_t i = 0; i < zi->n; i++) {
            if (zi->z[i].prep != NULL)
                GEOSPreparedGeom_destroy_r(h, zi->z[i].prep);
            if (zi->z[i].local != NULL)
                GEOSGeom_destroy_r(h, zi->z[i].local);
            if (zi->z[i].box != NULL)
                GEOSGeom_destroy_r(h, zi->z[i].box);
        }
    }
    for (size_t i = 0; i < zi->n; i++)
        free(zi->z[i].layer);
    free(zi->z);
    free(zi);
}

static int to_local(double *x, double *y, void *userdata)
{
    const struct zone *z = userdata;
    *x = (*x - z->lon0) * z->kx;
    *y = (*y - z->lat0) * z->ky;
    return 1;
}

static GEOSGeometry *read_geometry(GEOSContextHandle_t h, const struct zone_def *d)
{
    GEOSGeometry *g = NULL;
    if (d->wkt != NULL) {
        GEOSWKTReader *r = GEOSWKTReader_create_r(h);
        if (r == NULL)
            return NULL;
        g = GEOSWKTReader_read_r(h, r, d->wkt);
        GEOSWKTReader_destroy_r(h, r);
    } else if (d->wkb != NULL) {
        GEOSWKBReader *r = GEOSWKBReader_create_r(h);
        if (r == NULL)
            return NULL;
        g = GEOSWKBReader_read_r(h, r, d->wkb, d->wkb_len);
        GEOSWKBReader_destroy_r(h, r);
    }
    return g;
}

/* Sets up zone z from definition d; geometry g (lon/lat) is consumed. */
static enum err zone_init(GEOSContextHandle_t h, struct zone *z, const struct zone_def *d,
                          GEOSGeometry *g)
{
    double xmin, ymin, xmax, ymax;
    if (GEOSisEmpty_r(h, g) != 0 || GEOSGeom_getExtent_r(h, g, &xmin, &ymin, &xmax, &ymax) != 1 ||
        xmin < -180.0 || xmax > 180.0 || ymin < -85.0 || ymax > 85.0) {
        GEOSGeom_destroy_r(h, g);
        return ERR_INVALID_ARGUMENT;
    }
    int dims = GEOSGeom_getDimensions_r(h, g);
    z->buffer = d->buffer_m >= 0.0 ? d->buffer_m : (dims == 2 ? 0.0 : ZONES_LINE_BUFFER_M);
    z->outer = z->buffer + (d->hysteresis_m >= 0.0 ? d->hysteresis_m : ZONES_HYSTERESIS_M);
    if (!isfinite(z->outer) || z->outer > 100000.0) {
        GEOSGeom_destroy_r(h, g);
        return ERR_INVALID_ARGUMENT;
    }
    z->id = d->id;
    z->lon0 = 0.5 * (xmin + xmax);
    z->lat0 = 0.5 * (ymin + ymax);
    struct localmetric m;
    localmetric_init(&m, z->lon0, z->lat0);
    z->kx = m.kx0;
    z->ky = m.ky0;

    /* The box: degrees of latitude and (at the latitude furthest from the equator) longitude. */
    double reach = z->outer * 1.01 + 1.0;
    double dlat = reach / m.ky0;
    double far = fabs(ymin) > fabs(ymax) ? fabs(ymin) : fabs(ymax);
    far += dlat;
    if (far > 89.0)
        far = 89.0;
    struct localmetric mf;
    localmetric_init(&mf, 0.0, far);
    double dlon = reach / mf.kx0;
    z->box = GEOSGeom_createRectangle_r(h, xmin - dlon, ymin - dlat, xmax + dlon, ymax + dlat);
    z->local = GEOSGeom_transformXY_r(h, g, to_local, z);
    GEOSGeom_destroy_r(h, g);
    if (z->box == NULL || z->local == NULL)
        return ERR_INTERNAL;
    z->prep = GEOSPrepare_r(h, z->local);
    return z->prep != NULL ? ERR_OK : ERR_INTERNAL;
}

static void ignore_item(void *item, void *userdata)
{
    (void)item;
    (void)userdata;
}

enum err zoneindex_build(const struct zone_def *defs, size_t n, struct zoneindex **out)
{
    *out = NULL;
    if (n >= (size_t)INT32_MAX || (n > 0 && defs == NULL))
        return ERR_INVALID_ARGUMENT;
    GEOSContextHandle_t h = geoctx_geos();
    if (h == NULL)
        return ERR_INTERNAL;
    struct zoneindex *zi = calloc(1, sizeof(*zi));
    if (zi == NULL)
        return ERR_INTERNAL;
    zi->z = calloc(n ? n : 1, sizeof(*zi->z));
    zi->tree = GEOSSTRtree_create_r(h, 10);
    if (zi->z == NULL || zi->tree == NULL) {
        zoneindex_free(zi);
        return ERR_INTERNAL;
    }
    enum err e = ERR_OK;
    for (size_t i = 0; i < n && e == ERR_OK; i++) {
        const struct zone_def *d = &defs[i];
        if (d->layer == NULL || d->layer[0] == '\0' || !isfinite(d->buffer_m) ||
            !isfinite(d->hysteresis_m)) {
            e = ERR_INVALID_ARGUMENT;
            break;
        }
        zi->n = i + 1; /* zone i is freed from now on */
        zi->z[i].layer = strdup(d->layer);
        if (zi->z[i].layer == NULL) {
            e = ERR_INTERNAL;
            break;
        }
        GEOSGeometry *g = read_geometry(h, d);
        if (g == NULL) {
            e = ERR_INVALID_ARGUMENT;
            break;
        }
        e = zone_init(h, &zi->z[i], d, g);
        if (e == ERR_OK)
            GEOSSTRtree_insert_r(h, zi->tree, zi->z[i].box, &zi->z[i]);
    }
    if (e != ERR_OK) {
        zoneindex_free(zi);
        return e;
    }
    /* Force the lazily built parts (the tree, the prepared geometries' indexes) now. */
    GEOSGeometry *probe = GEOSGeom_createPointFromXY_r(h, 0.0, 0.0);
    if (probe == NULL) {
        zoneindex_free(zi);
        return ERR_INTERNAL;
    }
    GEOSSTRtree_query_r(h, zi->tree, probe, ignore_item, NULL);
    for (size_t i = 0; i < zi->n; i++) {
        double d;
        GEOSPreparedDistance_r(h, zi->z[i].prep, probe, &d);
        GEOSPreparedIntersects_r(h, zi->z[i].prep, probe);
    }
    GEOSGeom_destroy_r(h, probe);
    *out = zi;
    return ERR_OK;
}

static double zone_dist(GEOSContextHandle_t h, const struct zone *z, double lon, double lat)
{
    GEOSGeometry *pt =
        GEOSGeom_createPointFromXY_r(h, (lon - z->lon0) * z->kx, (lat - z->lat0) * z->ky);
    if (pt == NULL)
        return -1.0;
    double d = -1.0;
    if (GEOSPreparedDistance_r(h, z->prep, pt, &d) != 1)
        d = -1.0;
    GEOSGeom_destroy_r(h, pt);
    return d;
}

double zones_distance_m(const struct zoneindex *zi, size_t i, double lon, double lat)
{
    GEOSContextHandle_t h = geoctx_geos();
    if (h == NULL || i >= zi->n)
        return -1.0;
    return zone_dist(h, &zi->z[i], lon, lat);
}

/* ---- the state machine --------------------------------------------------------------------- */

struct raw {
    uint32_t zone;
    int64_t enter_ms, exit_ms;
    bool open;
};

struct zwork {
    const struct zoneindex *zi;
    GEOSContextHandle_t h;
    int32_t *cur;  /* per zone: its open raw stay, -1 when out */
    int32_t *apos; /* per zone: position in active, -1 */
    uint32_t *stamp;
    uint32_t qid;
    uint32_t *active;
    size_t n_active;
    uint32_t *cand;
    size_t n_cand;
    struct raw *raw;
    size_t n_raw, cap_raw;
    enum err err;
};

static void collect(void *item, void *userdata)
{
    struct zwork *w = userdata;
    size_t i = (size_t)((const struct zone *)item - w->zi->z);
    if (w->stamp[i] == w->qid)
        return;
    w->stamp[i] = w->qid;
    w->cand[w->n_cand++] = (uint32_t)i;
}

static double dist_at(struct zwork *w, uint32_t k, double lon, double lat)
{
    double d = zone_dist(w->h, &w->zi->z[k], lon, lat);
    if (d < 0.0)
        w->err = ERR_INTERNAL;
    return d;
}

/* First parameter in (lo, hi] on the other side of `limit` than a (lo_in: distance <= limit). */
static double bisect(struct zwork *w, uint32_t k, const struct fix *a, const struct fix *b,
                     double limit, bool lo_in)
{
    double lo = 0.0, hi = 1.0, dt = (double)(b->t_ms - a->t_ms);
    for (int i = 0; i < BISECT_STEPS && (hi - lo) * dt > BISECT_MS && w->err == ERR_OK; i++) {
        double s = 0.5 * (lo + hi);
        double d = dist_at(w, k, a->lon + s * (b->lon - a->lon), a->lat + s * (b->lat - a->lat));
        if ((d <= limit) == lo_in)
            lo = s;
        else
            hi = s;
    }
    return hi;
}

static void enter(struct zwork *w, uint32_t k, int64_t t)
{
    if (w->n_raw == w->cap_raw) {
        size_t ncap = w->cap_raw ? w->cap_raw * 2 : 64;
        struct raw *nr = realloc(w->raw, ncap * sizeof(*nr));
        if (nr == NULL) {
            w->err = ERR_INTERNAL;
            return;
        }
        w->raw = nr;
        w->cap_raw = ncap;
    }
    w->cur[k] = (int32_t)w->n_raw;
    w->raw[w->n_raw++] = (struct raw){ k, t, t, false };
    w->apos[k] = (int32_t)w->n_active;
    w->active[w->n_active++] = k;
}

static void leave(struct zwork *w, uint32_t k, int64_t t)
{
    w->raw[w->cur[k]].exit_ms = t;
    w->cur[k] = -1;
    size_t pos = (size_t)w->apos[k];
    uint32_t moved = w->active[--w->n_active];
    w->active[pos] = moved;
    w->apos[moved] = (int32_t)pos;
    w->apos[k] = -1;
}

static int64_t time_at(const struct fix *a, const struct fix *b, double s)
{
    return a->t_ms + llround(s * (double)(b->t_ms - a->t_ms));
}

/* Candidates for fix f: zones whose box holds it, not yet stamped with qid. */
static void query(struct zwork *w, const struct fix *f)
{
    w->n_cand = 0;
    GEOSGeometry *pt = GEOSGeom_createPointFromXY_r(w->h, f->lon, f->lat);
    if (pt == NULL) {
        w->err = ERR_INTERNAL;
        return;
    }
    GEOSSTRtree_query_r(w->h, w->zi->tree, pt, collect, w);
    GEOSGeom_destroy_r(w->h, pt);
}

static uint32_t next_qid(struct zwork *w)
{
    if (w->qid == UINT32_MAX) {
        memset(w->stamp, 0, w->zi->n * sizeof(*w->stamp));
        w->qid = 0;
    }
    return ++w->qid;
}

static void run_start(struct zwork *w, const struct fix *f)
{
    next_qid(w);
    query(w, f);
    for (size_t i = 0; i < w->n_cand && w->err == ERR_OK; i++) {
        uint32_t k = w->cand[i];
        if (dist_at(w, k, f->lon, f->lat) <= w->zi->z[k].buffer)
            enter(w, k, f->t_ms);
    }
}

static void segment(struct zwork *w, const struct fix *a, const struct fix *b)
{
    uint32_t qid = next_qid(w);
    for (size_t j = w->n_active; j-- > 0 && w->err == ERR_OK;) {
        uint32_t k = w->active[j];
        w->stamp[k] = qid;
        if (dist_at(w, k, b->lon, b->lat) > w->zi->z[k].outer) {
            double s = bisect(w, k, a, b, w->zi->z[k].outer, true);
            leave(w, k, time_at(a, b, s));
        }
    }
    query(w, b);
    for (size_t i = 0; i < w->n_cand && w->err == ERR_OK; i++) {
        uint32_t k = w->cand[i];
        if (dist_at(w, k, b->lon, b->lat) <= w->zi->z[k].buffer) {
            double s = bisect(w, k, a, b, w->zi->z[k].buffer, false);
            enter(w, k, time_at(a, b, s));
        }
    }
}

/* ---- confirmation and output ------------------------------------------------------------- */

static int cmp_raw(const void *pa, const void *pb)
{
    const struct raw *a = pa, *b = pb;
    if (a->zone != b->zone)
        return (a->zone > b->zone) - (a->zone < b->zone);
    return (a->enter_ms > b->enter_ms) - (a->enter_ms < b->enter_ms);
}

static int cmp_stay(const void *pa, const void *pb)
{
    const struct zone_stay *a = pa, *b = pb;
    if (a->enter_ms != b->enter_ms)
        return (a->enter_ms > b->enter_ms) - (a->enter_ms < b->enter_ms);
    int c = strcmp(a->layer, b->layer);
    if (c != 0)
        return c;
    return (a->zone_id > b->zone_id) - (a->zone_id < b->zone_id);
}

static int cmp_event(const void *pa, const void *pb)
{
    const struct zone_event *a = pa, *b = pb;
    if (a->t_ms != b->t_ms)
        return (a->t_ms > b->t_ms) - (a->t_ms < b->t_ms);
    if (a->kind != b->kind)
        return a->kind == ZONE_EXIT ? -1 : 1;
    int c = strcmp(a->zone_layer, b->zone_layer);
    if (c != 0)
        return c;
    return (a->zone_id > b->zone_id) - (a->zone_id < b->zone_id);
}

/* Drops short raw stays, merges close ones, marks unconfirmed ends open; fills out. */
static enum err confirm(const struct zoneindex *zi, struct raw *raw, size_t n_raw, int64_t last,
                        int64_t confirm_ms, struct zones_result *out)
{
    if (n_raw > 1)
        qsort(raw, n_raw, sizeof(*raw), cmp_raw);
    out->stays = malloc((n_raw ? n_raw : 1) * sizeof(*out->stays));
    if (out->stays == NULL)
        return ERR_INTERNAL;
    size_t ns = 0;
    bool clean = true;
    for (size_t i = 0; i < n_raw;) {
        size_t j = i;
        while (j < n_raw && raw[j].zone == raw[i].zone)
            j++;
        const struct zone *z = &zi->z[raw[i].zone];
        bool have = false, pending = false;
        int64_t pending_enter = 0;
        struct zone_stay cur = { 0 };
        for (size_t k = i; k < j; k++) {
            int64_t end = raw[k].open ? last : raw[k].exit_ms;
            if (raw[k].open)
                clean = false;
            if (end - raw[k].enter_ms < confirm_ms) {
                if (raw[k].open) {
                    pending = true; /* may still become a stay */
                    pending_enter = raw[k].enter_ms;
                }
                continue;
            }
            if (have && raw[k].enter_ms - cur.exit_ms < confirm_ms) {
                cur.exit_ms = end;
                cur.open = raw[k].open;
                continue;
            }
            if (have)
                out->stays[ns++] = cur;
            cur = (struct zone_stay){ z->layer, z->id, raw[k].enter_ms, end, raw[k].open };
            have = true;
        }
        if (have) {
            /* an exit is confirmed only once confirm_s has passed with nothing to merge */
            if (last - cur.exit_ms < confirm_ms ||
                (pending && pending_enter - cur.exit_ms < confirm_ms)) {
                cur.open = true;
            }
            if (cur.open) {
                cur.exit_ms = last;
                clean = false;
            }
            out->stays[ns++] = cur;
        }
        i = j;
    }
    qsort(out->stays, ns, sizeof(*out->stays), cmp_stay);
    out->n_stays = ns;
    out->tail_clean = clean;

    out->events = malloc((ns > 0 ? 2 * ns : 1) * sizeof(*out->events));
    if (out->events == NULL)
        return ERR_INTERNAL;
    size_t ne = 0;
    for (size_t i = 0; i < ns; i++) {
        const struct zone_stay *s = &out->stays[i];
        out->events[ne++] = (struct zone_event){ ZONE_ENTER, s->layer, s->zone_id, s->enter_ms };
        if (!s->open)
            out->events[ne++] = (struct zone_event){ ZONE_EXIT, s->layer, s->zone_id, s->exit_ms };
    }
    qsort(out->events, ne, sizeof(*out->events), cmp_event);
    out->n_events = ne;
    return ERR_OK;
}

void zones_result_free(struct zones_result *r)
{
    if (r == NULL)
        return;
    free(r->stays);
    free(r->events);
    memset(r, 0, sizeof(*r));
}

static void zwork_free(struct zwork *w)
{
    free(w->cur);
    free(w->apos);
    free(w->stamp);
    free(w->active);
    free(w->cand);
    free(w->raw);
}

void zones_span_rules(const struct zones_params *p, struct span_rules *r)
{
    r->gap_ms = llround(p->max_gap_s * 1000.0);
    r->merge_ms = llround(p->confirm_s * 1000.0);
    r->drop_ms = r->merge_ms;
}

enum err zones_compute(const struct zoneindex *zi, const struct fix *fixes, size_t n,
                       const struct zones_params *p, struct zones_result *out)
{
    memset(out, 0, sizeof(*out));
    if (zi == NULL || p == NULL || (n > 0 && fixes == NULL) || !isfinite(p->max_gap_s) ||
        !(p->max_gap_s > 0.0) || p->max_gap_s > 86400.0 || !isfinite(p->confirm_s) ||
        p->confirm_s < 0.0 || p->confirm_s > 86400.0)
        return ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        const struct fix *f = &fixes[i];
        if (i > 0 && f->t_ms < fixes[i - 1].t_ms)
            return ERR_INVALID_ARGUMENT;
        if (!(f->flags & p->ignore_flags) && !(isfinite(f->lon) && isfinite(f->lat) &&
                                               fabs(f->lon) <= 180.0 && fabs(f->lat) <= 90.0))
            return ERR_INVALID_ARGUMENT;
    }
    struct span_rules rules;
    zones_span_rules(p, &rules);

    struct zwork w = { .zi = zi, .h = geoctx_geos(), .err = ERR_OK };
    size_t m = zi->n ? zi->n : 1;
    w.cur = malloc(m * sizeof(*w.cur));
    w.apos = malloc(m * sizeof(*w.apos));
    w.stamp = calloc(m, sizeof(*w.stamp));
    w.active = malloc(m * sizeof(*w.active));
    w.cand = malloc(m * sizeof(*w.cand));
    if (w.h == NULL || !w.cur || !w.apos || !w.stamp || !w.active || !w.cand) {
        zwork_free(&w);
        return ERR_INTERNAL;
    }
    for (size_t i = 0; i < zi->n; i++)
        w.cur[i] = w.apos[i] = -1;

    const struct fix *prev = NULL;
    for (size_t i = 0; i < n && w.err == ERR_OK; i++) {
        const struct fix *f = &fixes[i];
        if (f->flags & p->ignore_flags)
            continue;
        if (prev == NULL || f->t_ms - prev->t_ms > rules.gap_ms) {
            if (prev == NULL)
                out->first_fix_ms = f->t_ms;
            while (prev != NULL && w.n_active > 0)
                leave(&w, w.active[w.n_active - 1], prev->t_ms);
            run_start(&w, f);
        } else {
            segment(&w, prev, f);
        }
        prev = f;
        out->n_used++;
    }
    enum err e = w.err;
    if (e == ERR_OK && prev != NULL) {
        out->last_fix_ms = prev->t_ms;
        for (size_t j = 0; j < w.n_active; j++) {
            struct raw *r = &w.raw[w.cur[w.active[j]]];
            r->exit_ms = prev->t_ms;
            r->open = true;
        }
    }
    if (e == ERR_OK)
        e = confirm(zi, w.raw, w.n_raw, out->last_fix_ms, rules.merge_ms, out);
    if (e == ERR_OK && prev != NULL) {
        for (size_t i = 0; i < out->n_stays; i++)
            if (out->stays[i].exit_ms >= span_sub(prev->t_ms, rules.merge_ms))
                out->tail_clean = false;
    }
    if (e == ERR_OK && prev == NULL)
        out->tail_clean = true;
    zwork_free(&w);
    if (e != ERR_OK)
        zones_result_free(out);
    return e;
}

static void stay_iv(const void *items, size_t i, struct span_iv *iv)
{
    const struct zone_stay *s = &((const struct zone_stay *)items)[i];
    iv->enter_ms = s->enter_ms;
    iv->exit_ms = s->exit_ms;
    iv->open = s->open;
}

void zones_affected_span(const struct zones_params *p, int64_t new_from_ms, int64_t new_to_ms,
                         const struct zone_stay *old, size_t n_old, int64_t *from_ms,
                         int64_t *to_ms)
{
    struct span_rules r;
    zones_span_rules(p, &r);
    struct span_old o = { old, n_old, stay_iv };
    span_affected(&r, new_from_ms, new_to_ms, &o, from_ms, to_ms);
}

bool zones_settled(const struct zones_params *p, const struct zones_result *res, int64_t new_to_ms,
                   bool at_end, int64_t to_ms, const struct zone_stay *old, size_t n_old,
                   int64_t *replace_to_ms)
{
    struct span_rules r;
    zones_span_rules(p, &r);
    struct span_old o = { old, n_old, stay_iv };
    return span_settled(&r, new_to_ms, res->n_used, res->last_fix_ms, res->tail_clean, at_end,
                        to_ms, &o, replace_to_ms);
}

int64_t zones_widen(const struct zones_params *p, int64_t from_ms, int64_t to_ms)
{
    struct span_rules r;
    zones_span_rules(p, &r);
    return span_widen(&r, from_ms, to_ms);
}

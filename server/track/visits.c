/*
 * visits.c - the visit state machine over one device's track.
 *
 * Per point the state is outside or inside (an open visit). Each track segment is checked
 * against the points still inside and against the index's candidates for the segment's box.
 * Along a segment the local coordinates around a point are quadratic polynomials in the
 * segment parameter s (localmetric.h), so the squared distance q(s) is a quartic that is
 * convex for any realistic segment; crossings of the radius are found by bisection between
 * endpoints whose side is decided by the exact per-fix predicate, and a drive-by (both ends
 * outside) by first locating the closest approach.
 */
#include "visits.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BISECT_MS    0.25 /* crossing instants to within this, before rounding to ms */
#define BISECT_STEPS 64

void visits_params_default(struct visits_params *p)
{
    p->max_gap_s = VISITS_MAX_GAP_S;
    p->merge_gap_s = VISITS_MERGE_GAP_S;
    p->ignore_flags = VISITS_IGNORE_FLAGS;
}

void visits_result_free(struct visits_result *out)
{
    if (out == NULL)
        return;
    free(out->visits);
    memset(out, 0, sizeof(*out));
}

struct work {
    const struct pointindex *idx;
    int64_t merge_ms;
    int32_t *cur;  /* per point: its open visit, -1 when outside */
    int32_t *last; /* per point: its latest visit (for merging), -1 when none */
    int32_t *apos; /* per point: position in active, -1 when not there */
    uint32_t *stamp;
    uint32_t qid;
    uint32_t *active; /* points with an open visit */
    size_t n_active;
    uint32_t *cand;
    struct visit *v; /* min_dist_m holds the squared distance until the end */
    size_t n, cap;
    bool oom;
};

/* Coefficients of x(s), y(s) around one point along segment a -> b. */
struct poly {
    double x0, x1, x2, y0, y1, y2;
};

static void poly_init(struct poly *c, const struct localmetric *m, const struct fix *a,
                      const struct fix *b)
{
    double u = a->lon - m->lon0, v = a->lat - m->lat0;
    double du = b->lon - a->lon, dv = b->lat - a->lat;
    double kxv = m->kx0 + m->kx1 * v;
    double kyv = m->ky0 + m->ky1 * v;
    c->x0 = u * kxv;
    c->x1 = du * kxv + u * m->kx1 * dv;
    c->x2 = du * m->kx1 * dv;
    c->y0 = v * kyv;
    c->y1 = dv * kyv + v * m->ky1 * dv;
    c->y2 = m->ky1 * dv * dv;
}

static double poly_q(const struct poly *c, double s)
{
    double x = c->x0 + s * (c->x1 + s * c->x2);
    double y = c->y0 + s * (c->y1 + s * c->y2);
    return x * x + y * y;
}

/* Parameter in [0, 1] of the closest approach of the chord c(0) -> c(1). */
static double chord_closest(const struct poly *c, double s0, double s1)
{
    double dx = c->x1 + c->x2, dy = c->y1 + c->y2;
    double len2 = dx * dx + dy * dy;
    double s = len2 > 0.0 ? -(c->x0 * dx + c->y0 * dy) / len2 : 0.0;
    if (s < s0)
        s = s0;
    if (s > s1)
        s = s1;
    return s;
}

/* Minimiser of the (convex) quartic on [0, 1]: Newton on q' from the chord's estimate. */
static double poly_argmin(const struct poly *c)
{
    double s = chord_closest(c, 0.0, 1.0);
    for (int i = 0; i < 6; i++) {
        double x = c->x0 + s * (c->x1 + s * c->x2), y = c->y0 + s * (c->y1 + s * c->y2);
        double dx = c->x1 + 2.0 * s * c->x2, dy = c->y1 + 2.0 * s * c->y2;
        double d1 = x * dx + y * dy;
        double d2 = dx * dx + dy * dy + 2.0 * (x * c->x2 + y * c->y2);
        if (!(d2 > 0.0))
            break;
        double ns = s - d1 / d2;
        if (ns < 0.0)
            ns = 0.0;
        if (ns > 1.0)
            ns = 1.0;
        if (ns == s)
            break;
        s = ns;
    }
    return s;
}

/*
 * The first parameter in (lo, hi] on the other side of threshold r2 than lo, to BISECT_MS:
 * the side of lo is lo_inside (q <= r2), hi is on the other side.
 */
static double bisect(const struct poly *c, double r2, double lo, double hi, bool lo_inside,
                     double dt_ms)
{
    for (int i = 0; i < BISECT_STEPS && (hi - lo) * dt_ms > BISECT_MS; i++) {
        double mid = 0.5 * (lo + hi);
        if ((poly_q(c, mid) <= r2) == lo_inside)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

static int64_t time_at(const struct fix *a, const struct fix *b, double s)
{
    return a->t_ms + llround(s * (double)(b->t_ms - a->t_ms));
}

static void min_update(struct work *w, int32_t vi, double q)
{
    if (q < w->v[vi].min_dist_m)
        w->v[vi].min_dist_m = q;
}

/* Closest approach over [s0, s1] of the segment, ends' squared distances q0, q1 known. */
static void min_over(struct work *w, int32_t vi, const struct poly *c, double s0, double s1,
                     double q0, double q1)
{
    min_update(w, vi, q0);
    min_update(w, vi, q1);
    double s = chord_closest(c, s0, s1);
    if (s > s0 && s < s1)
        min_update(w, vi, poly_q(c, s));
}

static void activate(struct work *w, uint32_t k)
{
    w->apos[k] = (int32_t)w->n_active;
    w->active[w->n_active++] = k;
}

static void deactivate(struct work *w, uint32_t k)
{
    size_t pos = (size_t)w->apos[k];
    uint32_t moved = w->active[--w->n_active];
    w->active[pos] = moved;
    w->apos[moved] = (int32_t)pos;
    w->apos[k] = -1;
}

/* Point k's track comes within its radius at t (squared distance q): open or reopen a visit. */
static void enter(struct work *w, uint32_t k, int64_t t, double q)
{
    int32_t vi = w->last[k];
    if (vi >= 0 && t - w->v[vi].exit_ms < w->merge_ms) {
        min_update(w, vi, q);
    } else {
        if (w->n == w->cap) {
            size_t ncap = w->cap ? w->cap * 2 : 64;
            struct visit *nv = realloc(w->v, ncap * sizeof(*nv));
            if (nv == NULL) {
                w->oom = true;
                return;
            }
            w->v = nv;
            w->cap = ncap;
        }
        vi = (int32_t)w->n++;
        w->v[vi] = (struct visit){ .point_id = pointindex_point(w->idx, k)->id,
                                   .enter_ms = t,
                                   .exit_ms = t,
                                   .min_dist_m = q };
        w->last[k] = vi;
    }
    w->cur[k] = vi;
    activate(w, k);
}

static void leave(struct work *w, uint32_t k, int64_t t)
{
    w->v[w->cur[k]].exit_ms = t;
    w->cur[k] = -1;
    deactivate(w, k);
}

/* Segment a -> b for point k, inside at a. */
static void seg_inside(struct work *w, uint32_t k, const struct fix *a, const struct fix *b)
{
    const struct pointindex_geo *g = pointindex_geo(w->idx, k);
    double xa, ya, xb, yb;
    double qa = localmetric_eval(&g->m, a->lon, a->lat, &xa, &ya);
    double qb = localmetric_eval(&g->m, b->lon, b->lat, &xb, &yb);
    struct poly c;
    poly_init(&c, &g->m, a, b);
    int32_t vi = w->cur[k];
    if (qb <= g->outer2) {
        min_over(w, vi, &c, 0.0, 1.0, qa, qb);
        return;
    }
    double sx = bisect(&c, g->outer2, 0.0, 1.0, true, (double)(b->t_ms - a->t_ms));
    min_over(w, vi, &c, 0.0, sx, qa, poly_q(&c, sx));
    leave(w, k, time_at(a, b, sx));
}

/* Segment a -> b for point k, outside at a: a visit may start (and even end) on it. */
static void seg_outside(struct work *w, uint32_t k, const struct fix *a, const struct fix *b)
{
    const struct pointindex_geo *g = pointindex_geo(w->idx, k);
    double xa, ya, xb, yb;
    double qa = localmetric_eval(&g->m, a->lon, a->lat, &xa, &ya);
    double qb = localmetric_eval(&g->m, b->lon, b->lat, &xb, &yb);
    double dt = (double)(b->t_ms - a->t_ms);
    struct poly c;
    double se, qe;

    if (qa <= g->r2) {
        poly_init(&c, &g->m, a, b);
        se = 0.0;
        qe = qa;
    } else if (qb <= g->r2) {
        poly_init(&c, &g->m, a, b);
        se = bisect(&c, g->r2, 0.0, 1.0, false, dt);
        qe = poly_q(&c, se);
    } else {
        /* Both ends outside: reject on the chord unless it passes near the circle. */
        double dx = xb - xa, dy = yb - ya, len2 = dx * dx + dy * dy;
        double s = len2 > 0.0 ? -(xa * dx + ya * dy) / len2 : 0.0;
        s = s < 0.0 ? 0.0 : (s > 1.0 ? 1.0 : s);
        double px = xa + s * dx, py = ya + s * dy;
        poly_init(&c, &g->m, a, b);
        double reach = g->r + 0.25 * (fabs(c.x2) + fabs(c.y2)) + 1e-6;
        if (px * px + py * py > reach * reach)
            return;
        double sm = poly_argmin(&c);
        if (!(sm > 0.0 && sm < 1.0) || poly_q(&c, sm) > g->r2)
            return;
        se = bisect(&c, g->r2, 0.0, sm, false, dt);
        qe = poly_q(&c, se);
    }
    enter(w, k, time_at(a, b, se), qe);
    if (w->oom)
        return;
    int32_t vi = w->cur[k];
    if (qb <= g->outer2) {
        min_over(w, vi, &c, se, 1.0, qe, qb);
        return;
    }
    double sx = bisect(&c, g->outer2, se, 1.0, true, dt);
    min_over(w, vi, &c, se, sx, qe, poly_q(&c, sx));
    leave(w, k, time_at(a, b, sx));
}

static uint32_t next_qid(struct work *w)
{
    if (w->qid == UINT32_MAX) {
        memset(w->stamp, 0, pointindex_count(w->idx) * sizeof(*w->stamp));
        w->qid = 0;
    }
    return ++w->qid;
}

/* First fix of a run (start of data or after a gap): visits start only at the fix itself. */
static void run_start(struct work *w, const struct fix *f)
{
    uint32_t qid = next_qid(w);
    size_t n = pointindex_query(w->idx, f->lon, f->lat, f->lon, f->lat, w->stamp, qid, w->cand);
    for (size_t i = 0; i < n && !w->oom; i++) {
        uint32_t k = w->cand[i];
        const struct pointindex_geo *g = pointindex_geo(w->idx, k);
        double x, y;
        double q = localmetric_eval(&g->m, f->lon, f->lat, &x, &y);
        if (q <= g->r2)
            enter(w, k, f->t_ms, q);
    }
}

static void segment(struct work *w, const struct fix *a, const struct fix *b)
{
    uint32_t qid = next_qid(w);
    /* Points inside first (backwards: leaving swaps the last active point into this slot). */
    for (size_t j = w->n_active; j-- > 0;) {
        uint32_t k = w->active[j];
        w->stamp[k] = qid;
        seg_inside(w, k, a, b);
    }
    double lon0 = a->lon < b->lon ? a->lon : b->lon, lon1 = a->lon < b->lon ? b->lon : a->lon;
    double lat0 = a->lat < b->lat ? a->lat : b->lat, lat1 = a->lat < b->lat ? b->lat : a->lat;
    size_t n = pointindex_query(w->idx, lon0, lat0, lon1, lat1, w->stamp, qid, w->cand);
    for (size_t i = 0; i < n && !w->oom; i++)
        seg_outside(w, w->cand[i], a, b);
}

static void close_all(struct work *w, int64_t t)
{
    while (w->n_active > 0)
        leave(w, w->active[w->n_active - 1], t);
}

static int cmp_visit(const void *pa, const void *pb)
{
    const struct visit *a = pa, *b = pb;
    if (a->enter_ms != b->enter_ms)
        return (a->enter_ms > b->enter_ms) - (a->enter_ms < b->enter_ms);
    if (a->point_id != b->point_id)
        return (a->point_id > b->point_id) - (a->point_id < b->point_id);
    return (a->exit_ms > b->exit_ms) - (a->exit_ms < b->exit_ms);
}

static bool params_valid(const struct visits_params *p)
{
    return isfinite(p->max_gap_s) && p->max_gap_s > 0.0 && p->max_gap_s <= 86400.0 &&
           isfinite(p->merge_gap_s) && p->merge_gap_s >= 0.0 && p->merge_gap_s <= 86400.0;
}

static bool fix_valid(const struct fix *f)
{
    return isfinite(f->lon) && isfinite(f->lat) && f->lon >= -180.0 && f->lon <= 180.0 &&
           f->lat >= -90.0 && f->lat <= 90.0;
}

void visits_span_rules(const struct visits_params *p, struct span_rules *r)
{
    r->gap_ms = llround(p->max_gap_s * 1000.0);
    r->merge_ms = llround(p->merge_gap_s * 1000.0);
    r->drop_ms = 0;
}

static void work_free(struct work *w)
{
    free(w->cur);
    free(w->last);
    free(w->apos);
    free(w->stamp);
    free(w->active);
    free(w->cand);
    free(w->v);
}

static enum err work_init(struct work *w, const struct pointindex *idx, int64_t merge_ms)
{
    size_t np = pointindex_count(idx);
    size_t m = np ? np : 1;
    memset(w, 0, sizeof(*w));
    w->idx = idx;
    w->merge_ms = merge_ms;
    w->cur = malloc(m * sizeof(*w->cur));
    w->last = malloc(m * sizeof(*w->last));
    w->apos = malloc(m * sizeof(*w->apos));
    w->stamp = calloc(m, sizeof(*w->stamp));
    w->active = malloc(m * sizeof(*w->active));
    w->cand = malloc(m * sizeof(*w->cand));
    if (!w->cur || !w->last || !w->apos || !w->stamp || !w->active || !w->cand) {
        work_free(w);
        return ERR_INTERNAL;
    }
    for (size_t i = 0; i < np; i++) {
        w->cur[i] = -1;
        w->last[i] = -1;
        w->apos[i] = -1;
    }
    return ERR_OK;
}

enum err visits_compute(const struct pointindex *idx, const struct fix *fixes, size_t n,
                        const struct visits_params *p, struct visits_result *out)
{
    memset(out, 0, sizeof(*out));
    if (idx == NULL || p == NULL || (n > 0 && fixes == NULL) || !params_valid(p))
        return ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && fixes[i].t_ms < fixes[i - 1].t_ms)
            return ERR_INVALID_ARGUMENT;
        if (!(fixes[i].flags & p->ignore_flags) && !fix_valid(&fixes[i]))
            return ERR_INVALID_ARGUMENT;
    }
    struct span_rules rules;
    visits_span_rules(p, &rules);

    struct work w;
    if (work_init(&w, idx, rules.merge_ms) != ERR_OK)
        return ERR_INTERNAL;
    const struct fix *prev = NULL;
    for (size_t i = 0; i < n && !w.oom; i++) {
        const struct fix *f = &fixes[i];
        if (f->flags & p->ignore_flags)
            continue;
        if (prev == NULL || f->t_ms - prev->t_ms > rules.gap_ms) {
            if (prev != NULL)
                close_all(&w, prev->t_ms);
            run_start(&w, f);
            out->first_fix_ms = prev == NULL ? f->t_ms : out->first_fix_ms;
        } else {
            segment(&w, prev, f);
        }
        prev = f;
        out->n_used++;
    }
    if (w.oom) {
        work_free(&w);
        memset(out, 0, sizeof(*out));
        return ERR_INTERNAL;
    }

    bool clean = w.n_active == 0;
    if (prev != NULL) {
        out->last_fix_ms = prev->t_ms;
        for (size_t j = 0; j < w.n_active; j++) {
            struct visit *v = &w.v[w.cur[w.active[j]]];
            v->exit_ms = prev->t_ms;
            v->open = true;
        }
        for (size_t i = 0; i < w.n; i++)
            if (w.v[i].exit_ms >= span_sub(prev->t_ms, rules.merge_ms))
                clean = false;
    }
    for (size_t i = 0; i < w.n; i++) {
        w.v[i].dwell_s = (double)(w.v[i].exit_ms - w.v[i].enter_ms) / 1000.0;
        w.v[i].min_dist_m = sqrt(w.v[i].min_dist_m);
    }
    if (w.n > 1)
        qsort(w.v, w.n, sizeof(*w.v), cmp_visit);
    out->visits = w.v;
    out->n = w.n;
    out->tail_clean = clean;
    w.v = NULL;
    work_free(&w);
    return ERR_OK;
}

static void visit_iv(const void *items, size_t i, struct span_iv *iv)
{
    const struct visit *v = &((const struct visit *)items)[i];
    iv->enter_ms = v->enter_ms;
    iv->exit_ms = v->exit_ms;
    iv->open = v->open;
}

void visits_affected_span(const struct visits_params *p, int64_t new_from_ms, int64_t new_to_ms,
                          const struct visit *old, size_t n_old, int64_t *from_ms, int64_t *to_ms)
{
    struct span_rules r;
    visits_span_rules(p, &r);
    struct span_old o = { old, n_old, visit_iv };
    span_affected(&r, new_from_ms, new_to_ms, &o, from_ms, to_ms);
}

bool visits_settled(const struct visits_params *p, const struct visits_result *res,
                    int64_t new_to_ms, bool at_end, int64_t to_ms, const struct visit *old,
                    size_t n_old, int64_t *replace_to_ms)
{
    struct span_rules r;
    visits_span_rules(p, &r);
    struct span_old o = { old, n_old, visit_iv };
    return span_settled(&r, new_to_ms, res->n_used, res->last_fix_ms, res->tail_clean, at_end,
                        to_ms, &o, replace_to_ms);
}

int64_t visits_widen(const struct visits_params *p, int64_t from_ms, int64_t to_ms)
{
    struct span_rules r;
    visits_span_rules(p, &r);
    return span_widen(&r, from_ms, to_ms);
}

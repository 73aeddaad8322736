/*
 * late_batch.c - the late-batch procedure, once for every kind of stored interval (visits,
 * zone stays: struct late_kind): which span of a device's track new fixes in [a, b] change,
 * recomputed until it is settled (span.h), and the stored intervals of that span made equal
 * to the fresh ones by the operations of diff.h.
 *
 *   load the stored intervals ending after a margin before a;
 *   span_affected -> [from, to]; while `from` needs stored intervals from further back,
 *     load those too and ask again;
 *   loop: the fixes of [from, to] -> compute -> span_settled? else widen `to`;
 *   keep the fresh intervals that count; diff the stored ones with enter in [from, upto]
 *   against them; the kind writes the operations.
 *
 * What it is not: the tables (engine_visits.c, engine_stays.c write rows) or the rules of the
 * span (track/span.c).
 */
#include "engine_internal.h"

/*
 * How far before `from` the stored intervals must be known for span_affected to be sure of
 * it: the reach of one gap, merge and drop, plus slack. Loads go a gap, merge and drop
 * further back still, so that a `from` that moves back a little needs no second load.
 */
static int64_t reach_ms(const struct span_rules *r)
{
    return span_add(span_add(span_add(r->gap_ms, r->merge_ms), r->drop_ms), 4 * ENGINE_MIN_MS);
}

static int64_t margin_ms(const struct span_rules *r)
{
    return span_add(reach_ms(r), span_add(span_add(r->gap_ms, r->merge_ms), r->drop_ms));
}

/*
 * The stored intervals the fresh ones replace (enter in [from, upto]) as a compact copy for
 * diff_compute, with map[k] the index in old of copy k. New memory in *items and *map.
 */
static enum err replaced(const struct late_kind *k, const struct late_old *old, int64_t from,
                         int64_t upto, void **items, size_t **map, size_t *n)
{
    size_t size = k->diff.size, m = old->n ? old->n : 1;
    unsigned char *v = malloc(m * size);
    size_t *ix = malloc(m * sizeof(*ix));
    if (v == NULL || ix == NULL) {
        free(v);
        free(ix);
        return ERR_INTERNAL;
    }
    size_t c = 0;
    for (size_t i = 0; i < old->n; i++) {
        struct span_iv iv;
        k->interval(old->items, i, &iv);
        if (iv.enter_ms >= from && iv.enter_ms <= upto) {
            memcpy(v + c * size, (const unsigned char *)old->items + i * size, size);
            ix[c++] = i;
        }
    }
    *items = v;
    *map = ix;
    *n = c;
    return ERR_OK;
}

enum err late_batch_run(struct tx *t, const struct late_kind *k, struct fixes *fx,
                        int64_t device_id, int64_t a, int64_t b)
{
    if (k->active != NULL && !k->active(t))
        return ERR_OK;
    struct span_rules rules;
    k->rules(&rules);
    int64_t reach = reach_ms(&rules), margin = margin_ms(&rules);
    struct late_old old = { 0 };
    struct late_fresh fresh = { 0 };
    struct diff_result ops = { 0 };
    void *cand = NULL;
    size_t *map = NULL, ncand = 0;
    int64_t from = 0, to = 0, upto = 0;

    enum err e = k->load(t, device_id, span_sub(a, margin), &old);
    for (;;) {
        if (e != ERR_OK)
            goto out;
        struct span_old so = { old.items, old.n, k->interval };
        span_affected(&rules, a, b, &so, &from, &to);
        int64_t need = span_sub(from, reach);
        if (need >= old.lo)
            break;
        e = k->load(t, device_id, span_sub(need, margin), &old);
    }
    for (;;) {
        const struct fix *fv;
        size_t n;
        bool at_end;
        e = fixes_get(t, fx, from, to, &fv, &n, &at_end);
        if (e == ERR_OK)
            e = k->compute(t, fv, n, &fresh);
        if (e != ERR_OK)
            goto out;
        struct span_old so = { old.items, old.n, k->interval };
        if (span_settled(&rules, b, fresh.n_used, fresh.last_fix_ms, fresh.tail_clean, at_end, to,
                         &so, &upto))
            break;
        to = span_widen(&rules, from, to);
        k->fresh_free(&fresh);
    }
    size_t nfresh = k->keep != NULL ? k->keep(t, fresh.items, fresh.n) : fresh.n;
    e = replaced(k, &old, from, upto, &cand, &map, &ncand);
    if (e == ERR_OK)
        e = diff_compute(&k->diff, cand, ncand, fresh.items, nfresh, &ops);
    if (e != ERR_OK)
        goto out;
    for (size_t i = 0; i < ops.n; i++)
        if (ops.ops[i].kind != DIFF_INSERT)
            ops.ops[i].old_i = map[ops.ops[i].old_i];
    e = k->write(t, device_id, &old, fresh.items, &ops);
out:
    diff_result_free(&ops);
    free(cand);
    free(map);
    k->fresh_free(&fresh);
    k->old_free(&old);
    return e;
}

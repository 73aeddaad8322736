/*
 * span.c - the affected-span rule for late and shuffled fixes (see span.h for the argument).
 */
#include "span.h"

int64_t span_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

int64_t span_sub(int64_t a, int64_t b)
{
    if (b == INT64_MIN)
        return span_add(span_add(a, INT64_MAX), 1);
    return span_add(a, -b);
}

/* Does stored interval i carry state across the window [lo, hi] (touch it or stay open)? */
static bool touches(const struct span_old *old, size_t i, int64_t lo, int64_t hi, struct span_iv *v)
{
    old->get(old->items, i, v);
    return v->enter_ms <= hi && (v->open || v->exit_ms >= lo);
}

void span_affected(const struct span_rules *r, int64_t new_from_ms, int64_t new_to_ms,
                   const struct span_old *old, int64_t *from_ms, int64_t *to_ms)
{
    struct span_iv v;
    int64_t lead = span_add(r->gap_ms, r->drop_ms); /* X + D */
    int64_t from = span_sub(new_from_ms, span_add(span_add(lead, lead), 1));
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < old->n; i++) {
            int64_t lo = span_sub(from, r->merge_ms);
            int64_t hi = span_add(from, lead);
            if (touches(old, i, lo, hi, &v)) {
                from = span_sub(v.enter_ms, span_add(lead, 1));
                changed = true;
            }
        }
    }

    /* End: a first guess past every stored interval near new_to; span_settled decides. */
    int64_t tail = span_add(r->gap_ms, r->merge_ms); /* X + G */
    int64_t to = span_add(new_to_ms, span_add(span_add(lead, lead), span_add(r->merge_ms, 1)));
    changed = true;
    while (changed && to != INT64_MAX) {
        changed = false;
        for (size_t i = 0; i < old->n; i++) {
            if (!touches(old, i, span_sub(to, tail), to, &v))
                continue;
            int64_t next = v.open ? INT64_MAX : span_add(v.exit_ms, span_add(tail, 1));
            if (next > to) {
                to = next;
                changed = true;
            }
        }
    }
    *from_ms = from;
    *to_ms = to;
}

bool span_settled(const struct span_rules *r, int64_t new_to_ms, size_t n_used, int64_t last_fix_ms,
                  bool tail_clean, bool at_end, int64_t to_ms, const struct span_old *old,
                  int64_t *replace_to_ms)
{
    struct span_iv v;
    if (at_end) {
        *replace_to_ms = INT64_MAX;
        return true;
    }
    if (n_used == 0) {
        /* No usable fix in [from, to], which is longer than every constant: nothing crosses. */
        *replace_to_ms = to_ms;
        return true;
    }
    if (last_fix_ms <= new_to_ms || !tail_clean)
        return false;
    for (size_t i = 0; i < old->n; i++)
        if (touches(old, i, span_sub(last_fix_ms, r->merge_ms), last_fix_ms, &v))
            return false;
    *replace_to_ms = last_fix_ms;
    return true;
}

int64_t span_widen(const struct span_rules *r, int64_t from_ms, int64_t to_ms)
{
    int64_t step = span_sub(to_ms, from_ms);
    int64_t floor_step = span_add(span_add(r->gap_ms, r->merge_ms), span_add(r->drop_ms, 1000));
    floor_step = span_add(floor_step, floor_step);
    if (step < floor_step)
        step = floor_step;
    return span_add(to_ms, step);
}

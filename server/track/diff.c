/*
 * diff.c - stored versus fresh intervals as delete / update / insert operations (see diff.h):
 * both sides sorted by key through index arrays (a stable merge sort, so equal keys keep their
 * index order), then one merge walk. Not the writing of rows: that is the caller's.
 */
#include "diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const void *elem(const struct diff_spec *spec, const void *base, size_t i)
{
    return (const unsigned char *)base + i * spec->size;
}

/* Sorts idx[0 .. n) by the key of base[idx[k]], stably; tmp has room for n indices. */
static void sort_indices(const struct diff_spec *spec, const void *base, size_t *idx, size_t *tmp,
                         size_t n)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = mid + width < n ? mid + width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                /* <= keeps the left run first on equal keys: stable */
                if (spec->cmp(elem(spec, base, idx[i]), elem(spec, base, idx[j])) <= 0)
                    tmp[k++] = idx[i++];
                else
                    tmp[k++] = idx[j++];
            }
            while (i < mid)
                tmp[k++] = idx[i++];
            while (j < hi)
                tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof(*idx));
    }
}

/* New index array 0 .. n-1 sorted by key, or NULL when out of memory. */
static size_t *sorted_indices(const struct diff_spec *spec, const void *base, size_t n)
{
    size_t m = n ? n : 1;
    if (m > SIZE_MAX / sizeof(size_t))
        return NULL;
    size_t *idx = malloc(m * sizeof(*idx));
    size_t *tmp = malloc(m * sizeof(*tmp));
    if (idx == NULL || tmp == NULL) {
        free(idx);
        free(tmp);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    sort_indices(spec, base, idx, tmp, n);
    free(tmp);
    return idx;
}

enum err diff_compute(const struct diff_spec *spec, const void *old, size_t n_old,
                      const void *fresh, size_t n_fresh, struct diff_result *out)
{
    memset(out, 0, sizeof(*out));
    if (spec == NULL || spec->size == 0 || spec->cmp == NULL || spec->same == NULL ||
        (n_old > 0 && old == NULL) || (n_fresh > 0 && fresh == NULL) || n_old > SIZE_MAX - n_fresh)
        return ERR_INVALID_ARGUMENT;
    size_t cap = n_old + n_fresh ? n_old + n_fresh : 1; /* at most one operation per element */
    if (cap > SIZE_MAX / sizeof(struct diff_op))
        return ERR_INTERNAL;
    size_t *io = sorted_indices(spec, old, n_old);
    size_t *in = sorted_indices(spec, fresh, n_fresh);
    struct diff_op *ops = malloc(cap * sizeof(*ops));
    if (io == NULL || in == NULL || ops == NULL) {
        free(io);
        free(in);
        free(ops);
        return ERR_INTERNAL;
    }
    size_t i = 0, j = 0, n = 0;
    while (i < n_old || j < n_fresh) {
        int c = i == n_old     ? 1
                : j == n_fresh ? -1
                               : spec->cmp(elem(spec, old, io[i]), elem(spec, fresh, in[j]));
        if (c < 0) {
            ops[n++] = (struct diff_op){ DIFF_DELETE, io[i++], SIZE_MAX };
            out->n_delete++;
        } else if (c > 0) {
            ops[n++] = (struct diff_op){ DIFF_INSERT, SIZE_MAX, in[j++] };
            out->n_insert++;
        } else {
            size_t a = io[i++], b = in[j++];
            if (!spec->same(elem(spec, old, a), elem(spec, fresh, b))) {
                ops[n++] = (struct diff_op){ DIFF_UPDATE, a, b };
                out->n_update++;
            }
        }
    }
    free(io);
    free(in);
    out->ops = ops;
    out->n = n;
    return ERR_OK;
}

void diff_result_free(struct diff_result *out)
{
    if (out == NULL)
        return;
    free(out->ops);
    memset(out, 0, sizeof(*out));
}

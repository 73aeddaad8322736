/*
 * diff.h - which stored intervals to delete, update and insert so that they equal a fresh
 * computation: the last step of a late batch (docs/engine.md, "Late and shuffled fixes"),
 * for visits and zone stays alike.
 *
 * Both sides are arrays of one element type, in any order. Elements are matched by key (cmp):
 * equal keys pair up in index order (the first stored one with the first fresh one, and so
 * on). A pair whose values differ (same() is false) is an update of the stored element in
 * place, so its row id survives; a pair with equal values is left alone; a stored element left
 * unpaired is deleted, a fresh one left unpaired inserted. Operations come in key order (equal
 * keys: pairs first, in index order, then the unpaired ones), which is the order the caller
 * writes them in.
 *
 * What it is not: storage or the interval engines. A pure function: it says what to write,
 * the caller writes it.
 */
#ifndef PATROL_DIFF_H
#define PATROL_DIFF_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>

/* How to compare elements of one type. */
struct diff_spec {
    size_t size;                                      /* bytes of one element (> 0) */
    int (*cmp)(const void *a, const void *b);         /* key order, as qsort's comparator */
    bool (*same)(const void *old, const void *fresh); /* values of a key pair are equal */
};

enum diff_kind {
    DIFF_DELETE, /* old_i vanished */
    DIFF_UPDATE, /* old_i takes the value of new_i */
    DIFF_INSERT, /* new_i is new */
};

struct diff_op {
    enum diff_kind kind;
    size_t old_i; /* index into the stored array (DIFF_DELETE, DIFF_UPDATE), else SIZE_MAX */
    size_t new_i; /* index into the fresh array (DIFF_UPDATE, DIFF_INSERT), else SIZE_MAX */
};

struct diff_result {
    struct diff_op *ops; /* new, in key order; free with diff_result_free */
    size_t n;
    size_t n_delete, n_update, n_insert;
};

/*
 * The operations that make old[0 .. n_old) equal fresh[0 .. n_fresh) (both borrowed, left
 * untouched; NULL allowed for an empty side). ERR_INVALID_ARGUMENT for a bad spec, ERR_INTERNAL
 * when out of memory. On ERR_OK *out holds new memory (diff_result_free); on error it is empty.
 */
enum err diff_compute(const struct diff_spec *spec, const void *old, size_t n_old,
                      const void *fresh, size_t n_fresh, struct diff_result *out);

/* Frees out->ops and empties *out. NULL is a no-op. */
void diff_result_free(struct diff_result *out);

#endif

/*
 * test_diff.c - stored versus fresh intervals as delete / update / insert (server/track/diff.h):
 * equal sets, inserts only, deletes only, updates in place, key order of the operations,
 * duplicate keys, empty inputs, bad arguments, and a random property test against a naive
 * quadratic reference (seed printed; PATROLGIS_TEST_SEED replays one).
 *
 * Links patrol_track alone: the diff is pure (no libpq, no HTTP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "diff.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An interval as the engine keys it: (layer, owner, enter) -> (exit, open). */
struct iv {
    const char *layer;
    int64_t owner;
    int64_t enter;
    int64_t exit;
    bool open;
};

static int cmp_iv(const void *a, const void *b)
{
    const struct iv *x = a, *y = b;
    int c = strcmp(x->layer, y->layer);
    if (c != 0)
        return c;
    if (x->owner != y->owner)
        return (x->owner > y->owner) - (x->owner < y->owner);
    return (x->enter > y->enter) - (x->enter < y->enter);
}

static bool same_iv(const void *a, const void *b)
{
    const struct iv *x = a, *y = b;
    return x->exit == y->exit && x->open == y->open;
}

static const struct diff_spec spec = { sizeof(struct iv), cmp_iv, same_iv };

static struct diff_result run(const struct iv *old, size_t n_old, const struct iv *fresh,
                              size_t n_fresh)
{
    struct diff_result r;
    assert_int_equal(diff_compute(&spec, old, n_old, fresh, n_fresh, &r), ERR_OK);
    assert_int_equal(r.n, r.n_delete + r.n_update + r.n_insert);
    return r;
}

static void assert_op(const struct diff_op *op, enum diff_kind kind, size_t old_i, size_t new_i)
{
    assert_int_equal(op->kind, kind);
    assert_int_equal(op->old_i, old_i);
    assert_int_equal(op->new_i, new_i);
}

static void test_equal_sets(void **state)
{
    (void)state;
    struct iv old[] = { { "waters", 2, 100, 200, false },
                        { "schools", 7, 50, 60, false },
                        { "waters", 2, 300, 400, true } };
    /* the same elements in another order */
    struct iv fresh[] = { old[2], old[0], old[1] };
    struct diff_result r = run(old, 3, fresh, 3);
    assert_int_equal(r.n, 0);
    diff_result_free(&r);
}

static void test_insert_only(void **state)
{
    (void)state;
    struct iv fresh[] = { { "v", 3, 500, 600, false }, { "v", 1, 100, 200, false } };
    struct diff_result r = run(NULL, 0, fresh, 2);
    assert_int_equal(r.n_insert, 2);
    assert_op(&r.ops[0], DIFF_INSERT, SIZE_MAX, 1); /* key order: owner 1 first */
    assert_op(&r.ops[1], DIFF_INSERT, SIZE_MAX, 0);
    diff_result_free(&r);
}

static void test_delete_only(void **state)
{
    (void)state;
    struct iv old[] = { { "v", 1, 100, 200, false }, { "v", 1, 50, 70, false } };
    struct diff_result r = run(old, 2, NULL, 0);
    assert_int_equal(r.n_delete, 2);
    assert_op(&r.ops[0], DIFF_DELETE, 1, SIZE_MAX);
    assert_op(&r.ops[1], DIFF_DELETE, 0, SIZE_MAX);
    diff_result_free(&r);
}

static void test_updates_in_place(void **state)
{
    (void)state;
    /* an open visit that grew, one that closed, one unchanged */
    struct iv old[] = { { "v", 1, 100, 200, true },
                        { "v", 2, 100, 300, true },
                        { "v", 3, 100, 400, false } };
    struct iv fresh[] = { { "v", 3, 100, 400, false },
                          { "v", 2, 100, 350, false },
                          { "v", 1, 100, 260, true } };
    struct diff_result r = run(old, 3, fresh, 3);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.n_update, 2);
    assert_op(&r.ops[0], DIFF_UPDATE, 0, 2);
    assert_op(&r.ops[1], DIFF_UPDATE, 1, 1);
    diff_result_free(&r);
}

static void test_ordering(void **state)
{
    (void)state;
    /* deletes, updates and inserts interleave in key order (layer, owner, enter) */
    struct iv old[] = { { "waters", 1, 10, 20, false },
                        { "schools", 9, 10, 20, false },
                        { "schools", 1, 30, 40, false } };
    struct iv fresh[] = { { "waters", 1, 10, 25, false },
                          { "schools", 1, 5, 8, false },
                          { "schools", 5, 10, 20, false } };
    struct diff_result r = run(old, 3, fresh, 3);
    assert_int_equal(r.n, 5);
    assert_op(&r.ops[0], DIFF_INSERT, SIZE_MAX, 1); /* schools 1 @5 */
    assert_op(&r.ops[1], DIFF_DELETE, 2, SIZE_MAX); /* schools 1 @30 */
    assert_op(&r.ops[2], DIFF_INSERT, SIZE_MAX, 2); /* schools 5 @10 */
    assert_op(&r.ops[3], DIFF_DELETE, 1, SIZE_MAX); /* schools 9 @10 */
    assert_op(&r.ops[4], DIFF_UPDATE, 0, 0);        /* waters 1 @10 */
    diff_result_free(&r);
}

static void test_duplicates(void **state)
{
    (void)state;
    /* equal keys pair up in index order; the rest are deleted or inserted */
    struct iv old[] = { { "v", 1, 100, 200, false },
                        { "v", 1, 100, 210, false },
                        { "v", 1, 100, 220, false } };
    struct iv fresh[] = { { "v", 1, 100, 210, false }, { "v", 1, 100, 210, false } };
    struct diff_result r = run(old, 3, fresh, 2);
    assert_int_equal(r.n, 2);
    assert_op(&r.ops[0], DIFF_UPDATE, 0, 0); /* 200 -> 210 */
    /* old[1] pairs with fresh[1]: same value, left alone */
    assert_op(&r.ops[1], DIFF_DELETE, 2, SIZE_MAX);
    diff_result_free(&r);

    r = run(fresh, 2, old, 3);
    assert_int_equal(r.n, 2);
    assert_op(&r.ops[0], DIFF_UPDATE, 0, 0);
    assert_op(&r.ops[1], DIFF_INSERT, SIZE_MAX, 2);
    diff_result_free(&r);
}

static void test_empty_and_bad(void **state)
{
    (void)state;
    struct diff_result r = run(NULL, 0, NULL, 0);
    assert_int_equal(r.n, 0);
    assert_non_null(r.ops);
    diff_result_free(&r);
    assert_null(r.ops);
    diff_result_free(&r);
    diff_result_free(NULL);

    struct iv one = { "v", 1, 1, 2, false };
    struct diff_spec bad = spec;
    assert_int_equal(diff_compute(NULL, &one, 1, &one, 1, &r), ERR_INVALID_ARGUMENT);
    bad.size = 0;
    assert_int_equal(diff_compute(&bad, &one, 1, &one, 1, &r), ERR_INVALID_ARGUMENT);
    bad = spec;
    bad.same = NULL;
    assert_int_equal(diff_compute(&bad, &one, 1, &one, 1, &r), ERR_INVALID_ARGUMENT);
    assert_int_equal(diff_compute(&spec, NULL, 1, &one, 1, &r), ERR_INVALID_ARGUMENT);
    assert_int_equal(diff_compute(&spec, &one, 1, NULL, 1, &r), ERR_INVALID_ARGUMENT);
    assert_null(r.ops);
    assert_int_equal(r.n, 0);
}

/* ---- property test ------------------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static struct iv random_iv(int64_t keys)
{
    static const char *const layers[] = { "schools", "waters" };
    return (struct iv){ layers[rnd() % 2], (int64_t)(rnd() % (uint64_t)keys),
                        (int64_t)(rnd() % (uint64_t)keys) * 1000, (int64_t)(rnd() % 3),
                        rnd() % 4 == 0 };
}

/*
 * The naive answer: the k-th stored element of a key (in index order) pairs with the k-th
 * fresh one of that key. kind_old[i] / kind_new[j]: what happens to each element (-1: left
 * alone), partner_old[i]: its pair.
 */
static void reference(const struct iv *old, size_t n_old, const struct iv *fresh, size_t n_fresh,
                      int *kind_old, size_t *partner_old, int *kind_new)
{
    bool *used = calloc(n_fresh ? n_fresh : 1, sizeof(*used));
    assert_non_null(used);
    for (size_t j = 0; j < n_fresh; j++)
        kind_new[j] = DIFF_INSERT;
    for (size_t i = 0; i < n_old; i++) {
        kind_old[i] = DIFF_DELETE;
        partner_old[i] = SIZE_MAX;
        for (size_t j = 0; j < n_fresh; j++) {
            if (!used[j] && cmp_iv(&old[i], &fresh[j]) == 0) {
                used[j] = true;
                partner_old[i] = j;
                kind_old[i] = same_iv(&old[i], &fresh[j]) ? -1 : DIFF_UPDATE;
                kind_new[j] = kind_old[i];
                break;
            }
        }
    }
    free(used);
}

static void check_against_reference(const struct iv *old, size_t n_old, const struct iv *fresh,
                                    size_t n_fresh)
{
    size_t m_old = n_old ? n_old : 1, m_new = n_fresh ? n_fresh : 1;
    int *kind_old = malloc(m_old * sizeof(int)), *kind_new = malloc(m_new * sizeof(int));
    int *seen_old = calloc(m_old, sizeof(int)), *seen_new = calloc(m_new, sizeof(int));
    size_t *partner = malloc(m_old * sizeof(size_t));
    assert_true(kind_old && kind_new && seen_old && seen_new && partner);
    reference(old, n_old, fresh, n_fresh, kind_old, partner, kind_new);

    struct diff_result r = run(old, n_old, fresh, n_fresh);
    const struct iv *prev = NULL;
    for (size_t k = 0; k < r.n; k++) {
        const struct diff_op *op = &r.ops[k];
        const struct iv *key = op->kind == DIFF_INSERT ? &fresh[op->new_i] : &old[op->old_i];
        if (prev != NULL)
            assert_true(cmp_iv(prev, key) <= 0); /* key order */
        prev = key;
        if (op->kind != DIFF_INSERT) {
            assert_true(op->old_i < n_old);
            assert_int_equal(seen_old[op->old_i]++, 0);
            assert_int_equal(kind_old[op->old_i], op->kind);
        }
        if (op->kind != DIFF_DELETE) {
            assert_true(op->new_i < n_fresh);
            assert_int_equal(seen_new[op->new_i]++, 0);
            assert_int_equal(kind_new[op->new_i], op->kind);
        }
        if (op->kind == DIFF_UPDATE)
            assert_int_equal(partner[op->old_i], op->new_i);
        else if (op->kind == DIFF_DELETE)
            assert_int_equal(op->new_i, SIZE_MAX);
        else
            assert_int_equal(op->old_i, SIZE_MAX);
    }
    /* every element the reference changes has its operation; the others have none */
    for (size_t i = 0; i < n_old; i++)
        assert_int_equal(seen_old[i], kind_old[i] >= 0);
    for (size_t j = 0; j < n_fresh; j++)
        assert_int_equal(seen_new[j], kind_new[j] >= 0);
    diff_result_free(&r);
    free(kind_old);
    free(kind_new);
    free(seen_old);
    free(seen_new);
    free(partner);
}

static void test_random_against_reference(void **state)
{
    (void)state;
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("PATROLGIS_TEST_SEED");
    if (env != NULL)
        seed = strtoull(env, NULL, 10);
    printf("test_diff: seed %" PRIu64 " (PATROLGIS_TEST_SEED=%" PRIu64 " replays it)\n", seed,
           seed);
    rng_state = seed ? seed : 1;
    for (int round = 0; round < 2000; round++) {
        size_t n_old = (size_t)(rnd() % 40), n_fresh = (size_t)(rnd() % 40);
        int64_t keys = 1 + (int64_t)(rnd() % 12); /* few keys: many duplicates */
        struct iv old[40], fresh[40];
        for (size_t i = 0; i < n_old; i++)
            old[i] = random_iv(keys);
        for (size_t j = 0; j < n_fresh; j++) {
            /* mostly the stored ones, some changed, some new */
            if (n_old > 0 && rnd() % 3 != 0) {
                fresh[j] = old[rnd() % n_old];
                if (rnd() % 4 == 0)
                    fresh[j].exit += 1;
            } else {
                fresh[j] = random_iv(keys);
            }
        }
        check_against_reference(old, n_old, fresh, n_fresh);
    }
    /* large: a recomputation of thousands of intervals */
    size_t n = 3000;
    struct iv *old = malloc(n * sizeof(*old)), *fresh = malloc(n * sizeof(*fresh));
    assert_true(old && fresh);
    for (size_t i = 0; i < n; i++)
        old[i] = random_iv(400);
    for (size_t i = 0; i < n; i++) {
        fresh[i] = rnd() % 5 ? old[(i * 7919) % n] : random_iv(400);
        if (rnd() % 10 == 0)
            fresh[i].open = !fresh[i].open;
    }
    check_against_reference(old, n, fresh, n);
    free(old);
    free(fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_sets),    cmocka_unit_test(test_insert_only),
        cmocka_unit_test(test_delete_only),   cmocka_unit_test(test_updates_in_place),
        cmocka_unit_test(test_ordering),      cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_empty_and_bad), cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_arena.c - the request arena: alignment, growth, big blocks, strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arena.h"

#include <string.h>

static void test_alignment_and_growth(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    assert_non_null(a);
    for (int i = 1; i < 5000; i++) {
        unsigned char *p = arena_alloc(a, (size_t)(i % 97) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 97) + 1); /* ASan catches overlaps/overruns */
    }
    assert_true(arena_used(a) > 5000);
    arena_free(a);
}

static void test_big_block(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    char *small = arena_alloc(a, 10);
    char *big = arena_alloc(a, 5u << 20);
    assert_non_null(small);
    assert_non_null(big);
    memset(big, 1, 5u << 20);
    strcpy(small, "intact"); /* NOLINT: test literal fits */
    assert_string_equal(small, "intact");
    assert_null(arena_alloc(a, SIZE_MAX - 4));
    assert_null(arena_calloc(a, SIZE_MAX / 2, 4));
    arena_free(a);
}

static void test_strings(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    assert_null(arena_strdup(a, NULL));
    assert_string_equal(arena_strdup(a, "学校"), "学校");
    assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
    assert_string_equal(arena_printf(a, "%d-%s", 42, "x"), "42-x");
    int *z = arena_calloc(a, 100, sizeof(int));
    for (int i = 0; i < 100; i++)
        assert_int_equal(z[i], 0);
    arena_free(a);
    arena_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_growth),
        cmocka_unit_test(test_big_block),
        cmocka_unit_test(test_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

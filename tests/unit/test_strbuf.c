/* test_strbuf.c - the capped growable buffer: appends, formatting, the cap, sticky failure,
 * truncation, take. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

static void test_empty(void **state)
{
    (void)state;
    struct strbuf b;
    strbuf_init(&b, 0);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(strbuf_error(&b), ERR_OK);
    char *s = strbuf_take(&b); /* an empty buffer gives "" */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    assert_null(b.p);
    strbuf_free(&b); /* free of an empty buffer */
    strbuf_free(&b);
}

static void test_appends_and_growth(void **state)
{
    (void)state;
    struct strbuf b;
    strbuf_init(&b, 0);
    strbuf_adds(&b, "学校");
    strbuf_add(&b, ",", 1);
    strbuf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.p, "学校,42-x");
    assert_int_equal(b.len, strlen("学校,42-x"));
    /* grow well past the first allocation; bytes with NULs inside are kept */
    for (int i = 0; i < 10000; i++)
        strbuf_add(&b, "a\0b", 3);
    assert_int_equal(b.len, strlen("学校,42-x") + 30000);
    assert_int_equal(b.p[b.len], '\0');
    assert_memory_equal(b.p + b.len - 3, "a\0b", 3);
    assert_true(b.cap > b.len);
    strbuf_add(&b, NULL, 0); /* nothing */
    assert_int_equal(strbuf_error(&b), ERR_OK);
    strbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void test_cap_is_sticky(void **state)
{
    (void)state;
    struct strbuf b;
    strbuf_init(&b, 8);
    strbuf_adds(&b, "12345678"); /* exactly the cap */
    assert_int_equal(strbuf_error(&b), ERR_OK);
    assert_string_equal(b.p, "12345678");
    strbuf_adds(&b, "9");
    assert_int_equal(strbuf_error(&b), ERR_TOO_LARGE);
    assert_string_equal(b.p, "12345678"); /* nothing half-written */
    strbuf_printf(&b, "%s", "");          /* later appends do nothing */
    strbuf_adds(&b, "");
    assert_int_equal(strbuf_error(&b), ERR_TOO_LARGE);
    assert_null(strbuf_take(&b)); /* a failed buffer hands out nothing and is emptied */
    assert_null(b.p);
    assert_int_equal(b.max, 8); /* the cap stays */
    strbuf_printf(&b, "%s", "123456789");
    assert_int_equal(strbuf_error(&b), ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    strbuf_free(&b);
}

static void test_truncate_clears_failure(void **state)
{
    (void)state;
    struct strbuf b;
    strbuf_init(&b, 6);
    strbuf_adds(&b, "abcd");
    strbuf_adds(&b, "efg"); /* over the cap */
    assert_int_equal(strbuf_error(&b), ERR_TOO_LARGE);
    strbuf_truncate(&b, 2);
    assert_int_equal(strbuf_error(&b), ERR_OK);
    assert_string_equal(b.p, "ab");
    strbuf_truncate(&b, 99); /* longer than the content: only the failure is cleared */
    assert_string_equal(b.p, "ab");
    strbuf_adds(&b, "xyz");
    char *s = strbuf_take(&b);
    assert_string_equal(s, "abxyz");
    free(s);
}

static void test_huge_request_refused(void **state)
{
    (void)state;
    struct strbuf b;
    strbuf_init(&b, 0);
    strbuf_adds(&b, "x");
    strbuf_add(&b, "y", SIZE_MAX - 1); /* would overflow the length: refused, not wrapped */
    assert_int_equal(strbuf_error(&b), ERR_TOO_LARGE);
    assert_string_equal(b.p, "x");
    strbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_appends_and_growth),
        cmocka_unit_test(test_cap_is_sticky),
        cmocka_unit_test(test_truncate_clears_failure),
        cmocka_unit_test(test_huge_request_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_parse.c - the strict number parsers: whole string, base 10, range, no overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parse.h"

#include <limits.h>
#include <math.h>

static void test_i64_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t v;
    } ok[] = {
        { "0", 0 },
        { "7", 7 },
        { "-7", -7 },
        { "+7", 7 },
        { "007", 7 },
        { "9223372036854775807", INT64_MAX },
        { "-9223372036854775808", INT64_MIN },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = 12345;
        assert_int_equal(parse_i64(ok[i].s, INT64_MIN, INT64_MAX, &v), ERR_OK);
        assert_true(v == ok[i].v);
    }
}

static void test_i64_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "-",
        "+",
        " 1",
        "1 ",
        "1x",
        "0x10",
        "1e3",
        "1.0",
        "--1",
        "+-1",
        "١", /* Arabic-Indic one */
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 12345;
        if (parse_i64(bad[i], INT64_MIN, INT64_MAX, &v) != ERR_INVALID_ARGUMENT)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(v == 12345); /* untouched */
    }
    int64_t v = 0;
    assert_int_equal(parse_i64(NULL, 0, 1, &v), ERR_INVALID_ARGUMENT);
}

static void test_ranges(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(parse_i64("1", 1, 10, &v), ERR_OK);
    assert_int_equal(parse_i64("10", 1, 10, &v), ERR_OK);
    assert_int_equal(parse_i64("0", 1, 10, &v), ERR_INVALID_ARGUMENT);
    assert_int_equal(parse_i64("11", 1, 10, &v), ERR_INVALID_ARGUMENT);
    long l = 3;
    assert_int_equal(parse_long("65535", 1, 65535, &l), ERR_OK);
    assert_int_equal(l, 65535);
    assert_int_equal(parse_long("65536", 1, 65535, &l), ERR_INVALID_ARGUMENT);
    assert_int_equal(l, 65535);
    assert_int_equal(parse_long("-1", 0, LONG_MAX, &l), ERR_INVALID_ARGUMENT);
}

static void test_double(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        double v;
    } ok
        [] = {
            { "0", 0 },  { "-0.5", -0.5 }, { "113.25", 113.25 },
            { "+1", 1 }, { "1e3", 1000 },  { ".5", 0.5 },
            { "5.", 5 }, { "1E-7", 1e-7 }, { "1e-400", 0.0 }, /* underflow to zero is a number */
        };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        double v = -1;
        if (parse_double(ok[i].s, &v) != ERR_OK)
            fail_msg("'%s' was refused", ok[i].s);
        assert_true(v == ok[i].v);
    }
    static const char *const bad[] = {
        "",      " 1",    "1 ",     "1,5",  "nan", "NaN", "inf", "-Infinity",
        "0x1p3", "1e400", "-1e400", "1..2", "e5",  "--1", "1e",  "abc",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double v = 7;
        if (parse_double(bad[i], &v) != ERR_INVALID_ARGUMENT)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(v == 7);
    }
    double v;
    assert_int_equal(parse_double(NULL, &v), ERR_INVALID_ARGUMENT);
}

static void test_double_list(void **state)
{
    (void)state;
    double v[4] = { 0 };
    size_t n = 99;
    const char *bad = "x";
    assert_int_equal(parse_double_list("1,-2.5,3e1", v, 4, &n, &bad), ERR_OK);
    assert_int_equal(n, 3);
    assert_null(bad);
    assert_true(v[0] == 1 && v[1] == -2.5 && v[2] == 30);
    assert_int_equal(parse_double_list("7", v, 4, &n, NULL), ERR_OK);
    assert_int_equal(n, 1);
    /* a piece that is no number: named, with the count before it */
    const char *s = "1,2,x1,4";
    assert_int_equal(parse_double_list(s, v, 4, &n, &bad), ERR_INVALID_ARGUMENT);
    assert_int_equal(n, 2);
    assert_ptr_equal(bad, s + 4);
    /* faults of shape: bad stays NULL */
    static const char *const shape[] = {
        "",     ",1",        "1,",
        "1,,2", "1,2,3,4,5", "1,0000000000000000000000000000000000000000000000000000000000000001"
    };
    for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
        bad = "x";
        if (parse_double_list(shape[i], v, 4, &n, &bad) != ERR_INVALID_ARGUMENT || bad != NULL)
            fail_msg("'%s': not a fault of shape", shape[i]);
    }
    assert_int_equal(parse_double_list(NULL, v, 4, &n, &bad), ERR_INVALID_ARGUMENT);
}

static void test_cells(void **state)
{
    (void)state;
    assert_true(parse_cell_i64("123") == 123);
    assert_true(parse_cell_i64("-5") == -5);
    assert_true(parse_cell_i64(NULL) == 0);
    assert_true(parse_cell_double("2.5") == 2.5);
    assert_true(parse_cell_double(NULL) == 0.0);
    assert_true(isnan(parse_cell_double("NaN"))); /* database text, not client text */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i64_accepts), cmocka_unit_test(test_i64_refuses),
        cmocka_unit_test(test_ranges),      cmocka_unit_test(test_double),
        cmocka_unit_test(test_double_list), cmocka_unit_test(test_cells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

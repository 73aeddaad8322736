/* test_err.c - every error has a status and a slug; SQLSTATEs map as documented. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "db.h"
#include "err.h"

#include <string.h>

static void test_table_complete(void **state)
{
    (void)state;
    for (int e = 0; e < ERR__COUNT; e++) {
        assert_true(err_status((enum err)e) >= 200);
        assert_non_null(err_slug((enum err)e));
        assert_true(strlen(err_slug((enum err)e)) > 1);
        for (int f = 0; f < e; f++)
            assert_string_not_equal(err_slug((enum err)e), err_slug((enum err)f));
    }
    assert_int_equal(err_status(ERR_INVALID_ARGUMENT), 400);
    assert_int_equal(err_status(ERR_UNAUTHORIZED), 401);
    assert_int_equal(err_status(ERR_FORBIDDEN), 403);
    assert_int_equal(err_status(ERR_TOO_LARGE), 413);
    assert_int_equal(err_status(ERR_UNSUPPORTED_MEDIA), 415);
    assert_int_equal(err_status(ERR_UNPROCESSABLE), 422);
    assert_int_equal(err_status(ERR_HEADERS_TOO_LARGE), 431);
    assert_int_equal(err_status(ERR_UNAVAILABLE), 503);
    assert_string_equal(err_slug(ERR_UNSUPPORTED_MEDIA), "unsupported_media_type");
    assert_int_equal(err_status((enum err)999), 500);
    assert_string_equal(err_slug((enum err)999), "internal");
}

static void test_sqlstate(void **state)
{
    (void)state;
    assert_int_equal(db_err_from_sqlstate("23505"), ERR_CONFLICT);
    assert_int_equal(db_err_from_sqlstate("23503"), ERR_CONFLICT);
    assert_int_equal(db_err_from_sqlstate("23514"), ERR_UNPROCESSABLE);
    assert_int_equal(db_err_from_sqlstate("57014"), ERR_TIMEOUT);
    assert_int_equal(db_err_from_sqlstate("22P02"), ERR_INVALID_ARGUMENT);
    assert_int_equal(db_err_from_sqlstate("08006"), ERR_UNAVAILABLE);
    assert_int_equal(db_err_from_sqlstate("57P01"), ERR_UNAVAILABLE);
    assert_int_equal(db_err_from_sqlstate("53300"), ERR_UNAVAILABLE);
    assert_int_equal(db_err_from_sqlstate("42P01"), ERR_INTERNAL);
    assert_int_equal(db_err_from_sqlstate(NULL), ERR_UNAVAILABLE);
    assert_int_equal(db_err_from_sqlstate(""), ERR_UNAVAILABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_complete),
        cmocka_unit_test(test_sqlstate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_checkin_event.c - which announcement a check-in row's change makes
 * (checkin_event_for, server/track/checkin.h): every transition from no row or each status to
 * each status, announced and quiet, on live days and days closed for good; plus the names and
 * the status parser.
 *
 * Links patrol_track alone: the rule is pure (no libpq, no HTTP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "checkin.h"

#include <stdio.h>

#define NONE     CHECKIN_EVENT_NONE
#define MISSED   CHECKIN_EVENT_MISSED
#define RESOLVED CHECKIN_EVENT_RESOLVED

/* Rows: before (no row, then each status); columns: after. */
enum { BEFORE = 6, AFTER = 5 };
static const enum checkin_status statuses[AFTER] = { CHECKIN_NOT_APPLICABLE, CHECKIN_PENDING,
                                                     CHECKIN_DONE, CHECKIN_LATE, CHECKIN_MISSED };
static const char *const before_names[BEFORE] = { "(no row)", "not_applicable", "pending",
                                                  "done",     "late",           "missed" };

/* New fixes and the periodic pass: every missed row announces checkin_missed (the events table
 * keeps one per window and date), missed -> done or late announces checkin_resolved. */
static const enum checkin_event announced[BEFORE][AFTER] = {
    /*                 n/a   pending done      late      missed */
    /* (no row)  */ { NONE, NONE, NONE, NONE, MISSED },
    /* n/a       */ { NONE, NONE, NONE, NONE, MISSED },
    /* pending   */ { NONE, NONE, NONE, NONE, MISSED },
    /* done      */ { NONE, NONE, NONE, NONE, MISSED },
    /* late      */ { NONE, NONE, NONE, NONE, MISSED },
    /* missed    */ { NONE, NONE, RESOLVED, RESOLVED, MISSED },
};

/* A recomputation after a layer edit, on a day not closed for good: only a window closing
 * unseen (no row or pending -> missed) is announced. */
static const enum checkin_event quiet_live[BEFORE][AFTER] = {
    /*                 n/a   pending done  late  missed */
    /* (no row)  */ { NONE, NONE, NONE, NONE, MISSED },
    /* n/a       */ { NONE, NONE, NONE, NONE, NONE },
    /* pending   */ { NONE, NONE, NONE, NONE, MISSED },
    /* done      */ { NONE, NONE, NONE, NONE, NONE },
    /* late      */ { NONE, NONE, NONE, NONE, NONE },
    /* missed    */ { NONE, NONE, NONE, NONE, NONE },
};

static enum checkin_event event_for(int before, int after, bool announce, bool live)
{
    bool had_row = before > 0;
    enum checkin_status was = had_row ? statuses[before - 1] : CHECKIN_PENDING;
    return checkin_event_for(had_row, was, statuses[after], announce, live);
}

static void check_table(const enum checkin_event want[BEFORE][AFTER], bool announce, bool live)
{
    for (int b = 0; b < BEFORE; b++) {
        for (int a = 0; a < AFTER; a++) {
            enum checkin_event got = event_for(b, a, announce, live);
            if (got != want[b][a])
                fail_msg("%s -> %s (%s, %s day): %d, want %d", before_names[b],
                         checkin_status_name(statuses[a]), announce ? "announced" : "quiet",
                         live ? "live" : "closed", (int)got, (int)want[b][a]);
        }
    }
}

static void test_announced(void **state)
{
    (void)state;
    check_table(announced, true, true);
    check_table(announced, true, false); /* whether the day is closed does not matter */
}

static void test_quiet_on_a_live_day(void **state)
{
    (void)state;
    check_table(quiet_live, false, true);
}

static void test_quiet_on_a_day_closed_for_good(void **state)
{
    (void)state;
    for (int b = 0; b < BEFORE; b++)
        for (int a = 0; a < AFTER; a++)
            assert_int_equal(event_for(b, a, false, false), NONE);
}

static void test_no_row_ignores_was(void **state)
{
    (void)state;
    /* without a row, whatever `was` holds is not read */
    for (int w = 0; w < AFTER; w++) {
        for (int a = 0; a < AFTER; a++) {
            assert_int_equal(checkin_event_for(false, statuses[w], statuses[a], true, true),
                             announced[0][a]);
            assert_int_equal(checkin_event_for(false, statuses[w], statuses[a], false, true),
                             quiet_live[0][a]);
        }
    }
}

static void test_names_and_parse(void **state)
{
    (void)state;
    assert_string_equal(checkin_event_name(MISSED), "checkin_missed");
    assert_string_equal(checkin_event_name(RESOLVED), "checkin_resolved");
    assert_null(checkin_event_name(NONE));
    for (int a = 0; a < AFTER; a++) {
        enum checkin_status s = CHECKIN_NOT_APPLICABLE;
        assert_true(checkin_status_parse(checkin_status_name(statuses[a]), &s));
        assert_int_equal(s, statuses[a]);
    }
    enum checkin_status s = CHECKIN_DONE;
    assert_false(checkin_status_parse("Missed", &s));
    assert_false(checkin_status_parse("", &s));
    assert_false(checkin_status_parse("missed ", &s));
    assert_false(checkin_status_parse(NULL, &s));
    assert_int_equal(s, CHECKIN_DONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_announced),
        cmocka_unit_test(test_quiet_on_a_live_day),
        cmocka_unit_test(test_quiet_on_a_day_closed_for_good),
        cmocka_unit_test(test_no_row_ignores_was),
        cmocka_unit_test(test_names_and_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

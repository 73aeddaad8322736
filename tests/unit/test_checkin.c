/*
 * test_checkin.c - check-in status per window and local day (server/track/checkin.h), seasons, exam
 * days, required visits, grace, presence, and the time-zone conversions (server/base/tzconv.h);
 * plus the issue-4 scenarios end to end from fixes through visits_compute to a status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "checkin.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tzconv shanghai; /* fixed +08:00 */
static int32_t monday;         /* 2024-06-03, a Monday */

static int64_t local(int32_t day, int h, int m, int s)
{
    return tzconv_local_ms(&shanghai, day, h * 3600 + m * 60 + s);
}

static struct visit visit_at(int64_t id, int64_t point, int64_t enter, int64_t exit)
{
    return (struct visit){ id, point, enter, exit, (double)(exit - enter) / 1000.0, 5.0, false };
}

/* The gate of a primary school: min dwell 60 s, arrival window 07:00-08:30 on school days. */
static const struct checkin_point gate = { 10, 60, { true, 0, 0 } };
static const struct checkin_window arrival = { 100, 10,  31,    7 * 3600, 8 * 3600 + 1800,
                                               1,   300, false, 0,        0 };

static struct checkin_result eval(const struct checkin_point *p, const struct checkin_window *w,
                                  int32_t day, int64_t now, const struct visit *v, size_t n)
{
    struct checkin_result r;
    int64_t ids[8];
    assert_int_equal(checkin_evaluate(p, w, &shanghai, day, now, v, n, ids, 8, &r), ERR_OK);
    return r;
}

static void test_tzconv(void **state)
{
    (void)state;
    assert_int_equal(tzconv_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(tzconv_days_from_civil(2000, 3, 1), 11017);
    int32_t y, m, d;
    tzconv_civil_from_days(-1, &y, &m, &d);
    assert_true(y == 1969 && m == 12 && d == 31);
    for (int32_t n = -800000; n < 800000; n += 997) {
        tzconv_civil_from_days(n, &y, &m, &d);
        assert_int_equal(tzconv_days_from_civil(y, m, d), n);
    }
    assert_int_equal(tzconv_weekday(monday), 0);
    assert_int_equal(tzconv_weekday(monday + 6), 6);
    assert_int_equal(tzconv_weekday(0), 3); /* 1970-01-01, a Thursday */
    int32_t n;
    assert_true(tzconv_parse_date("2024-02-29", &n));
    assert_false(tzconv_parse_date("2023-02-29", &n));
    assert_false(tzconv_parse_date("2024-6-03", &n));
    assert_false(tzconv_parse_date("2024-06-03x", &n));
    /* 07:00 in Shanghai is 23:00 UTC the day before */
    assert_int_equal(local(monday, 7, 0, 0), 1717369200000LL);
    assert_int_equal(tzconv_local_day(&shanghai, 1717344000000LL), monday); /* local midnight */
    assert_int_equal(tzconv_local_day(&shanghai, 1717344000000LL - 1), monday - 1);

    /* The process zone agrees with the fixed offset today, and knows China's DST of 1988. */
    setenv("TZ", "Asia/Shanghai", 1);
    struct tzconv proc;
    tzconv_process(&proc);
    assert_int_equal(tzconv_local_ms(&proc, monday, 7 * 3600), local(monday, 7, 0, 0));
    assert_int_equal(tzconv_local_day(&proc, 1717344000000LL - 1), monday - 1);
    int32_t summer88 = tzconv_days_from_civil(1988, 7, 1);
    assert_int_equal(tzconv_local_ms(&proc, summer88, 12 * 3600),
                     ((int64_t)summer88 * 86400 + 12 * 3600 - 9 * 3600) * 1000);
}

static void test_season(void **state)
{
    (void)state;
    struct checkin_season s;
    assert_int_equal(checkin_season_parse(NULL, NULL, &s), ERR_OK);
    assert_true(s.all_year);
    assert_int_equal(checkin_season_parse("05-01", "10-31", &s), ERR_OK);
    assert_true(checkin_season_contains(&s, tzconv_days_from_civil(2024, 5, 1)));
    assert_true(checkin_season_contains(&s, tzconv_days_from_civil(2024, 10, 31)));
    assert_false(checkin_season_contains(&s, tzconv_days_from_civil(2024, 11, 1)));
    assert_false(checkin_season_contains(&s, tzconv_days_from_civil(2024, 4, 30)));
    assert_int_equal(checkin_season_parse("11-01", "02-29", &s), ERR_OK); /* wraps */
    assert_true(checkin_season_contains(&s, tzconv_days_from_civil(2024, 12, 25)));
    assert_true(checkin_season_contains(&s, tzconv_days_from_civil(2025, 1, 15)));
    assert_false(checkin_season_contains(&s, tzconv_days_from_civil(2025, 3, 1)));
    assert_int_equal(checkin_season_parse("05-01", NULL, &s), ERR_INVALID_ARGUMENT);
    assert_int_equal(checkin_season_parse("02-30", "03-01", &s), ERR_INVALID_ARGUMENT);
    assert_int_equal(checkin_season_parse("5-01", "10-31", &s), ERR_INVALID_ARGUMENT);
    assert_int_equal(checkin_season_parse("13-01", "10-31", &s), ERR_INVALID_ARGUMENT);
}

static void test_done_late_missed_pending(void **state)
{
    (void)state;
    int64_t after = local(monday, 9, 0, 0);
    /* done: there 06:58-07:06, overlap 6 min, arrived before 07:05 */
    struct visit v = visit_at(1, 10, local(monday, 6, 58, 0), local(monday, 7, 6, 0));
    struct checkin_result r = eval(&gate, &arrival, monday, after, &v, 1);
    assert_int_equal(r.status, CHECKIN_DONE);
    assert_string_equal(checkin_status_name(r.status), "done");
    assert_int_equal(r.n_counted, 1);
    assert_true(r.has_first);
    assert_int_equal(r.first_ms, local(monday, 7, 0, 0));
    assert_int_equal(r.window_from_ms, local(monday, 7, 0, 0));
    assert_int_equal(r.window_to_ms, local(monday, 8, 30, 0));

    /* late: 07:20-07:25 */
    v = visit_at(2, 10, local(monday, 7, 20, 0), local(monday, 7, 25, 0));
    r = eval(&gate, &arrival, monday, after, &v, 1);
    assert_int_equal(r.status, CHECKIN_LATE);
    assert_int_equal(r.first_ms, local(monday, 7, 20, 0));

    /* missed: nothing by 08:30; pending before and during the window */
    r = eval(&gate, &arrival, monday, after, NULL, 0);
    assert_int_equal(r.status, CHECKIN_MISSED);
    assert_false(r.has_first);
    r = eval(&gate, &arrival, monday, local(monday, 8, 29, 59), NULL, 0);
    assert_int_equal(r.status, CHECKIN_PENDING);
    r = eval(&gate, &arrival, monday, local(monday, 8, 30, 0), NULL, 0);
    assert_int_equal(r.status, CHECKIN_MISSED);
    r = eval(&gate, &arrival, monday, local(monday, 6, 0, 0), NULL, 0);
    assert_int_equal(r.status, CHECKIN_PENDING);
    /* done while the window is still open */
    v = visit_at(3, 10, local(monday, 7, 1, 0), local(monday, 7, 3, 0));
    r = eval(&gate, &arrival, monday, local(monday, 7, 3, 0), &v, 1);
    assert_int_equal(r.status, CHECKIN_DONE);
    /* visits of another point or another day do not count */
    v = visit_at(4, 11, local(monday, 7, 1, 0), local(monday, 7, 3, 0));
    r = eval(&gate, &arrival, monday, after, &v, 1);
    assert_int_equal(r.status, CHECKIN_MISSED);
    v = visit_at(5, 10, local(monday - 7, 7, 1, 0), local(monday - 7, 7, 3, 0));
    r = eval(&gate, &arrival, monday, after, &v, 1);
    assert_int_equal(r.status, CHECKIN_MISSED);
}

static void test_dwell_and_overlap_too_short(void **state)
{
    (void)state;
    int64_t after = local(monday, 9, 0, 0);
    /* 40 s at the gate: dwell below 60 s */
    struct visit v = visit_at(1, 10, local(monday, 7, 10, 0), local(monday, 7, 10, 40));
    assert_int_equal(eval(&gate, &arrival, monday, after, &v, 1).status, CHECKIN_MISSED);
    /* 30 min there, but only 30 s of it inside the window */
    v = visit_at(2, 10, local(monday, 6, 30, 0), local(monday, 7, 0, 30));
    assert_int_equal(eval(&gate, &arrival, monday, after, &v, 1).status, CHECKIN_MISSED);
    /* exactly 60 s of overlap counts */
    v = visit_at(3, 10, local(monday, 6, 30, 0), local(monday, 7, 1, 0));
    assert_int_equal(eval(&gate, &arrival, monday, after, &v, 1).status, CHECKIN_DONE);
    /* the end is exclusive: a visit from 08:29:00 to 08:35 overlaps exactly 60 s */
    v = visit_at(4, 10, local(monday, 8, 29, 0), local(monday, 8, 35, 0));
    assert_int_equal(eval(&gate, &arrival, monday, after, &v, 1).status, CHECKIN_LATE);
    v = visit_at(5, 10, local(monday, 8, 29, 1), local(monday, 8, 35, 0));
    assert_int_equal(eval(&gate, &arrival, monday, after, &v, 1).status, CHECKIN_MISSED);
}

/* A visit arriving across the end of the grace period. */
static void test_grace_boundary(void **state)
{
    (void)state;
    int64_t after = local(monday, 9, 0, 0);
    struct visit v = visit_at(1, 10, local(monday, 7, 5, 0), local(monday, 7, 15, 0));
    assert_int_equal(eval(&gate, &arrival, monday, after, &v, 1).status, CHECKIN_DONE);
    v.enter_ms += 1;
    v.dwell_s -= 0.001;
    assert_int_equal(eval(&gate, &arrival, monday, after, &v, 1).status, CHECKIN_LATE);
    /* an early short stay (too short to count) does not make a later one on time */
    struct visit two[2] = { visit_at(2, 10, local(monday, 7, 0, 0), local(monday, 7, 0, 20)),
                            visit_at(3, 10, local(monday, 7, 30, 0), local(monday, 7, 40, 0)) };
    assert_int_equal(eval(&gate, &arrival, monday, after, two, 2).status, CHECKIN_LATE);
    struct checkin_window nograce = arrival;
    nograce.grace_s = 0;
    v = visit_at(4, 10, local(monday, 7, 0, 1), local(monday, 7, 10, 0));
    assert_int_equal(eval(&gate, &nograce, monday, after, &v, 1).status, CHECKIN_LATE);
}

static void test_required_visits(void **state)
{
    (void)state;
    struct checkin_window w2 = arrival;
    w2.required_visits = 2;
    int64_t after = local(monday, 9, 0, 0);
    struct visit v[3] = {
        visit_at(7, 10, local(monday, 7, 2, 0), local(monday, 7, 5, 0)),
        visit_at(9, 10, local(monday, 7, 3, 0), local(monday, 7, 8, 0)), /* a second car */
        visit_at(8, 10, local(monday, 8, 0, 0), local(monday, 8, 10, 0)),
    };
    struct checkin_result r = eval(&gate, &w2, monday, after, v, 1);
    assert_int_equal(r.status, CHECKIN_MISSED);
    assert_int_equal(r.n_counted, 1);
    r = eval(&gate, &w2, monday, local(monday, 7, 30, 0), v, 1);
    assert_int_equal(r.status, CHECKIN_PENDING);
    int64_t ids[3] = { 0 };
    assert_int_equal(checkin_evaluate(&gate, &w2, &shanghai, monday, after, v, 3, ids, 3, &r),
                     ERR_OK);
    assert_int_equal(r.status, CHECKIN_DONE);
    assert_int_equal(r.n_counted, 3);
    assert_true(ids[0] == 7 && ids[1] == 9 && ids[2] == 8); /* in enter order */
    /* two visits both after the grace: late */
    assert_int_equal(eval(&gate, &w2, monday, after, v + 2, 1).status, CHECKIN_MISSED);
    struct visit lt[2] = { v[2],
                           visit_at(10, 10, local(monday, 7, 30, 0), local(monday, 7, 40, 0)) };
    assert_int_equal(eval(&gate, &w2, monday, after, lt, 2).status, CHECKIN_LATE);
}

static void test_not_applicable(void **state)
{
    (void)state;
    int64_t after = local(monday + 5, 9, 0, 0);
    /* Saturday is not a school day for a mask of 31 (Mon-Fri) */
    struct checkin_result r = eval(&gate, &arrival, monday + 5, after, NULL, 0);
    assert_int_equal(r.status, CHECKIN_NOT_APPLICABLE);
    assert_string_equal(checkin_status_name(r.status), "not_applicable");

    /* a water point, in season May..October, evening window every day */
    struct checkin_point water = { 20, 0, { false, 501, 1031 } };
    struct checkin_window evening = { 200, 20, 127, 17 * 3600, 19 * 3600, 1, 600, false, 0, 0 };
    int32_t december = tzconv_days_from_civil(2024, 12, 10);
    r = eval(&water, &evening, december, local(december, 20, 0, 0), NULL, 0);
    assert_int_equal(r.status, CHECKIN_NOT_APPLICABLE);
    r = eval(&water, &evening, monday, local(monday, 20, 0, 0), NULL, 0);
    assert_int_equal(r.status, CHECKIN_MISSED);

    /* an exam-day window: 2024-06-07..08 only */
    struct checkin_window exam = { 300,
                                   10,
                                   127,
                                   7 * 3600,
                                   9 * 3600,
                                   1,
                                   0,
                                   true,
                                   tzconv_days_from_civil(2024, 6, 7),
                                   tzconv_days_from_civil(2024, 6, 8) };
    int32_t d6 = tzconv_days_from_civil(2024, 6, 6);
    assert_int_equal(eval(&gate, &exam, d6, local(d6, 10, 0, 0), NULL, 0).status,
                     CHECKIN_NOT_APPLICABLE);
    assert_int_equal(eval(&gate, &exam, d6 + 1, local(d6 + 1, 10, 0, 0), NULL, 0).status,
                     CHECKIN_MISSED);
    assert_int_equal(eval(&gate, &exam, d6 + 2, local(d6 + 2, 10, 0, 0), NULL, 0).status,
                     CHECKIN_MISSED);
    assert_int_equal(eval(&gate, &exam, d6 + 3, local(d6 + 3, 10, 0, 0), NULL, 0).status,
                     CHECKIN_NOT_APPLICABLE);
}

static void test_bad_window(void **state)
{
    (void)state;
    struct checkin_result r;
    struct checkin_window w = arrival;
    w.point_id = 11;
    assert_int_equal(checkin_evaluate(&gate, &w, &shanghai, monday, 0, NULL, 0, NULL, 0, &r),
                     ERR_INVALID_ARGUMENT);
    w = arrival;
    w.end_s = w.start_s;
    assert_int_equal(checkin_evaluate(&gate, &w, &shanghai, monday, 0, NULL, 0, NULL, 0, &r),
                     ERR_INVALID_ARGUMENT);
    w = arrival;
    w.days = 0;
    assert_int_equal(checkin_evaluate(&gate, &w, &shanghai, monday, 0, NULL, 0, NULL, 0, &r),
                     ERR_INVALID_ARGUMENT);
    w = arrival;
    w.required_visits = 0;
    assert_int_equal(checkin_evaluate(&gate, &w, &shanghai, monday, 0, NULL, 0, NULL, 0, &r),
                     ERR_INVALID_ARGUMENT);
    w = arrival;
    w.has_dates = true;
    w.date_from = 10;
    w.date_to = 9;
    assert_int_equal(checkin_evaluate(&gate, &w, &shanghai, monday, 0, NULL, 0, NULL, 0, &r),
                     ERR_INVALID_ARGUMENT);
    assert_string_equal(checkin_status_name((enum checkin_status)42), "unknown");
}

static void test_presence(void **state)
{
    (void)state;
    int64_t from = local(monday, 16, 0, 0), to = local(monday, 18, 0, 0);
    struct visit v[4] = {
        visit_at(1, 10, local(monday, 15, 50, 0), local(monday, 16, 10, 0)), /* 10 min inside */
        visit_at(2, 10, local(monday, 16, 5, 0), local(monday, 16, 20, 0)),  /* +10 min union */
        visit_at(3, 10, local(monday, 17, 55, 0), local(monday, 18, 30, 0)), /* 5 min */
        visit_at(4, 11, local(monday, 16, 0, 0), local(monday, 18, 0, 0)),   /* other point */
    };
    int64_t ms;
    assert_int_equal(checkin_presence_ms(v, 4, 10, from, to, &ms), ERR_OK);
    assert_int_equal(ms, 25 * 60 * 1000);
    assert_int_equal(checkin_presence_ms(v, 4, 12, from, to, &ms), ERR_OK);
    assert_int_equal(ms, 0);
    assert_int_equal(checkin_presence_ms(v, 4, 10, to, from, &ms), ERR_INVALID_ARGUMENT);
}

/* ---- from fixes: visits_compute, then the window --------------------------------------- */

static struct fix fix_at(int64_t t, const struct localmetric *m, double x, double y)
{
    return (struct fix){ t, m->lon0 + x / m->kx0, m->lat0 + y / m->ky0, 0 };
}

/* A car drives east at v m/s along y = offset, passing x = 0 at t_pass, one fix every step_s;
 * optionally parks at x = 0 for park_s. */
static size_t drive(struct fix *f, const struct localmetric *m, int64_t t_pass, double v,
                    double offset, double step_s, double park_s)
{
    size_t n = 0;
    for (double t = -600; t <= 600 + park_s; t += step_s) {
        double x = t < 0 ? v * t : (t < park_s ? 0.0 : v * (t - park_s));
        f[n++] = fix_at(t_pass + (int64_t)llround(t * 1000), m, x, offset);
    }
    return n;
}

static enum checkin_status from_fixes(const struct checkin_point *cp,
                                      const struct checkin_window *w, double radius,
                                      const struct fix *f, size_t n, int64_t now)
{
    struct localmetric m;
    localmetric_init(&m, 112.9388, 28.2282);
    struct visits_point p = { cp->id, m.lon0, m.lat0, radius, 10, cp->min_dwell_s };
    struct pointindex *idx = NULL;
    assert_int_equal(pointindex_build(&p, 1, &idx), ERR_OK);
    struct visits_params prm;
    visits_params_default(&prm);
    struct visits_result vr;
    assert_int_equal(visits_compute(idx, f, n, &prm, &vr), ERR_OK);
    struct checkin_result r = eval(cp, w, monday, now, vr.visits, vr.n);
    visits_result_free(&vr);
    pointindex_free(idx);
    return r.status;
}

static void test_scenarios_from_fixes(void **state)
{
    (void)state;
    struct localmetric m;
    localmetric_init(&m, 112.9388, 28.2282);
    struct fix *f = malloc(4000 * sizeof(*f));
    int64_t after = local(monday, 9, 0, 0);
    size_t n;
    /* parks 3 min at the gate at 07:02 (1 Hz): done */
    n = drive(f, &m, local(monday, 7, 2, 0), 10, 0, 1, 180);
    assert_int_equal(from_fixes(&gate, &arrival, 50, f, n, after), CHECKIN_DONE);
    /* the same at 07:40: late */
    n = drive(f, &m, local(monday, 7, 40, 0), 10, 0, 1, 180);
    assert_int_equal(from_fixes(&gate, &arrival, 50, f, n, after), CHECKIN_LATE);
    /* drives past at 40 km/h without stopping: dwell too short at a gate */
    n = drive(f, &m, local(monday, 7, 2, 0), 40 / 3.6, 20, 1, 0);
    assert_int_equal(from_fixes(&gate, &arrival, 50, f, n, after), CHECKIN_MISSED);
    /* ... but a route point (min dwell 0) counts a drive-by even on 15 s fixes */
    struct checkin_point route = { 10, 0, { true, 0, 0 } };
    n = drive(f, &m, local(monday, 7, 2, 0) + 7500, 40 / 3.6, 20, 15, 0);
    assert_int_equal(from_fixes(&route, &arrival, 50, f, n, after), CHECKIN_DONE);
    /* nobody came: missed after the window, pending during it */
    n = drive(f, &m, local(monday, 7, 2, 0), 10, 500, 1, 0);
    assert_int_equal(from_fixes(&gate, &arrival, 50, f, n, after), CHECKIN_MISSED);
    assert_int_equal(from_fixes(&gate, &arrival, 50, f, n, local(monday, 7, 30, 0)),
                     CHECKIN_PENDING);
    free(f);
}

int main(void)
{
    tzconv_fixed(&shanghai, 8 * 3600);
    monday = tzconv_days_from_civil(2024, 6, 3);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tzconv),
        cmocka_unit_test(test_season),
        cmocka_unit_test(test_done_late_missed_pending),
        cmocka_unit_test(test_dwell_and_overlap_too_short),
        cmocka_unit_test(test_grace_boundary),
        cmocka_unit_test(test_required_visits),
        cmocka_unit_test(test_not_applicable),
        cmocka_unit_test(test_bad_window),
        cmocka_unit_test(test_presence),
        cmocka_unit_test(test_scenarios_from_fixes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_tzconv.c - civil dates as day numbers (checked against the C library over ±800 000
 * days), weekdays, date parsing, the fixed-offset zone (Asia/Shanghai as the product runs it,
 * odd and negative offsets, instants before 1970), and the process zone through TZ: UTC,
 * Asia/Shanghai (including its 1986-1991 summer time, which the fixed zone ignores), Europe/
 * Berlin's spring gap and autumn overlap, zones whose DST starts at midnight, POSIX TZ strings,
 * and unknown zone names. Every test sets TZ itself; the previous value is restored at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tzconv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char saved_tz[256];
static bool had_tz;

static int save_tz(void **state)
{
    (void)state;
    const char *tz = getenv("TZ");
    had_tz = tz != NULL;
    snprintf(saved_tz, sizeof(saved_tz), "%s", tz ? tz : "");
    return 0;
}

static int restore_tz(void **state)
{
    (void)state;
    if (had_tz)
        setenv("TZ", saved_tz, 1);
    else
        unsetenv("TZ");
    tzset();
    return 0;
}

/* The process zone set to name. */
static struct tzconv zone(const char *name)
{
    struct tzconv tz;
    assert_int_equal(setenv("TZ", name, 1), 0);
    tzconv_process(&tz);
    return tz;
}

/* UTC seconds of a UTC date and time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return (int64_t)tzconv_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

/* Local wall-clock seconds of a local date and time. */
static int64_t wall(int y, int mo, int d, int h, int mi, int s)
{
    return utc(y, mo, d, h, mi, s);
}

/* ---- civil dates ---------------------------------------------------------------------- */

static void test_days_from_civil(void **state)
{
    (void)state;
    static const struct {
        int32_t y, m, d, days;
    } cases[] = {
        { 1970, 1, 1, 0 },       { 1969, 12, 31, -1 },    { 1970, 1, 2, 1 },
        { 2000, 1, 1, 10957 },   { 2000, 2, 29, 11016 },  { 2000, 3, 1, 11017 },
        { 2024, 2, 29, 19782 },  { 2026, 11, 28, 20785 }, { 1900, 3, 1, -25508 },
        { 1600, 3, 1, -135080 }, { 1, 1, 1, -719162 },    { 0, 3, 1, -719468 },
        { -1, 12, 31, -719529 }, { 2200, 12, 31, 84370 }, { 9999, 12, 31, 2932896 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int32_t y, m, d;
        assert_int_equal(tzconv_days_from_civil(cases[i].y, cases[i].m, cases[i].d), cases[i].days);
        tzconv_civil_from_days(cases[i].days, &y, &m, &d);
        assert_int_equal(y, cases[i].y);
        assert_int_equal(m, cases[i].m);
        assert_int_equal(d, cases[i].d);
    }
}

/* Every day from about 220 BC to AD 4160 against gmtime_r, and back. */
static void test_civil_against_libc(void **state)
{
    (void)state;
    int32_t prev_y = 0, prev_m = 0, prev_d = 0;
    for (int32_t days = -800000; days <= 800000; days++) {
        int32_t y, m, d;
        tzconv_civil_from_days(days, &y, &m, &d);
        assert_int_equal(tzconv_days_from_civil(y, m, d), days);
        if (days > -800000) {
            /* consecutive: the next day of the same month, or the 1st of the next */
            bool next_day = y == prev_y && m == prev_m && d == prev_d + 1;
            bool next_month = d == 1 && ((y == prev_y && m == prev_m + 1) ||
                                         (y == prev_y + 1 && m == 1 && prev_m == 12));
            if (!next_day && !next_month)
                fail_msg("day %d is %d-%d-%d after %d-%d-%d", days, y, m, d, prev_y, prev_m,
                         prev_d);
        }
        prev_y = y;
        prev_m = m;
        prev_d = d;
        if (days % 97 == 0) {
            time_t t = (time_t)days * 86400;
            struct tm tm;
            assert_non_null(gmtime_r(&t, &tm));
            assert_int_equal(y, tm.tm_year + 1900);
            assert_int_equal(m, tm.tm_mon + 1);
            assert_int_equal(d, tm.tm_mday);
            /* ISO weekday: tm_wday is 0 for Sunday */
            assert_int_equal(tzconv_weekday(days), (tm.tm_wday + 6) % 7);
        }
    }
}

static void test_weekday(void **state)
{
    (void)state;
    assert_int_equal(tzconv_weekday(0), 3);  /* 1970-01-01 Thursday */
    assert_int_equal(tzconv_weekday(-1), 2); /* Wednesday */
    assert_int_equal(tzconv_weekday(-3), 0); /* 1969-12-29 Monday */
    assert_int_equal(tzconv_weekday(-4), 6); /* Sunday */
    assert_int_equal(tzconv_weekday(-7), 3);
    assert_int_equal(tzconv_weekday(tzconv_days_from_civil(2026, 11, 28)), 5); /* Saturday */
    assert_int_equal(tzconv_weekday(tzconv_days_from_civil(2026, 11, 30)), 0); /* Monday */
    assert_int_equal(tzconv_weekday(tzconv_days_from_civil(2000, 1, 1)), 5);
    assert_int_equal(tzconv_weekday(INT32_MIN), (int)((((int64_t)INT32_MIN % 7) + 10) % 7));
    assert_int_equal(tzconv_weekday(INT32_MAX), (int)(((int64_t)INT32_MAX + 3) % 7));
    for (int32_t d = -30; d < 30; d++) {
        assert_in_range(tzconv_weekday(d), 0, 6);
        assert_int_equal(tzconv_weekday(d + 1), (tzconv_weekday(d) + 1) % 7);
    }
}

static void test_parse_date(void **state)
{
    (void)state;
    static const char *const ok[] = { "1970-01-01", "2024-02-29", "2000-02-29", "2026-11-28",
                                      "1999-12-31", "0000-01-01", "9999-12-31", "2026-04-30" };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int32_t days = INT32_MIN, y, m, d;
        if (!tzconv_parse_date(ok[i], &days))
            fail_msg("refused: %s", ok[i]);
        tzconv_civil_from_days(days, &y, &m, &d);
        char back[16];
        snprintf(back, sizeof(back), "%04d-%02d-%02d", (int)y, (int)m, (int)d);
        assert_string_equal(back, ok[i]);
    }
    static const char *const bad[] = {
        "2023-02-29",
        "1900-02-29",
        "2100-02-29",
        "2026-02-30",
        "2026-04-31",
        "2026-13-01",
        "2026-00-01",
        "2026-01-00",
        "2026-01-32",
        "2026-1-01",
        "2026-01-1",
        "26-01-01",
        "2026/01/01",
        "2026-01-01 ",
        "2026-01-01T00:00",
        " 2026-01-01",
        "",
        "2026",
        "2026-01-",
        "-2026-01-01",
        "+2026-01-01",
        "２０２６-01-01",
        "2026-0x-01",
        NULL,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int32_t days = 12345;
        if (tzconv_parse_date(bad[i], &days))
            fail_msg("accepted: %s", bad[i] ? bad[i] : "NULL");
        assert_int_equal(days, 12345);
    }
}

/* ---- the fixed zone ------------------------------------------------------------------- */

static void test_fixed_shanghai(void **state)
{
    (void)state;
    struct tzconv tz;
    tzconv_fixed(&tz, 8 * 3600);
    int32_t d28 = tzconv_days_from_civil(2026, 11, 28);
    /* Local midnight of the 28th is 16:00Z on the 27th. */
    int64_t midnight = utc(2026, 11, 27, 16, 0, 0) * 1000;
    assert_int_equal(tzconv_local_ms(&tz, d28, 0), midnight);
    assert_int_equal(tzconv_local_day(&tz, midnight), d28);
    assert_int_equal(tzconv_local_day(&tz, midnight - 1), d28 - 1);
    assert_int_equal(tzconv_local_day(&tz, midnight + 86400000 - 1), d28);
    assert_int_equal(tzconv_local_day(&tz, midnight + 86400000), d28 + 1);
    /* 07:30 local; the end of the day is the next midnight. */
    assert_int_equal(tzconv_local_ms(&tz, d28, 7 * 3600 + 1800),
                     utc(2026, 11, 27, 23, 30, 0) * 1000);
    assert_int_equal(tzconv_local_ms(&tz, d28, 86400), tzconv_local_ms(&tz, d28 + 1, 0));
    assert_int_equal(tz.local_to_utc(&tz, wall(2026, 11, 28, 8, 0, 0)), utc(2026, 11, 28, 0, 0, 0));
    assert_int_equal(tz.utc_to_local(&tz, utc(2026, 11, 28, 0, 0, 0)), wall(2026, 11, 28, 8, 0, 0));
    /* Before 1970: days and seconds floor, they do not truncate toward zero. */
    assert_int_equal(tzconv_local_day(&tz, -1), 0); /* 1970-01-01 07:59:59.999 local */
    assert_int_equal(tzconv_local_day(&tz, -8 * 3600 * 1000), 0);
    assert_int_equal(tzconv_local_day(&tz, -8 * 3600 * 1000 - 1), -1);
    assert_int_equal(tzconv_local_day(&tz, -86400000LL * 365), -365);
}

static void test_fixed_offsets(void **state)
{
    (void)state;
    static const int32_t offsets[] = {
        0,          8 * 3600,        -5 * 3600, 5 * 3600 + 1800, -3 * 3600 - 1800, 14 * 3600,
        -12 * 3600, 5 * 3600 + 2700, 1
    };
    static const int32_t days[] = { -25000, -1, 0, 1, 10957, 20785, 84370 };
    for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
        struct tzconv tz;
        tzconv_fixed(&tz, offsets[o]);
        assert_int_equal(tz.offset_s, offsets[o]);
        for (size_t k = 0; k < sizeof(days) / sizeof(days[0]); k++) {
            int32_t d = days[k];
            assert_int_equal(tzconv_local_ms(&tz, d, 0), ((int64_t)d * 86400 - offsets[o]) * 1000);
            for (int32_t sec = 0; sec < 86400; sec += 599) {
                int64_t ms = tzconv_local_ms(&tz, d, sec);
                assert_int_equal(tzconv_local_day(&tz, ms), d);
                assert_int_equal(tzconv_local_day(&tz, ms + 999), d);
                assert_int_equal(
                    tz.utc_to_local(&tz, tz.local_to_utc(&tz, (int64_t)d * 86400 + sec)),
                    (int64_t)d * 86400 + sec);
            }
            int64_t last = tzconv_local_ms(&tz, d + 1, 0) - 1;
            assert_int_equal(tzconv_local_day(&tz, last), d);
            assert_int_equal(tzconv_local_day(&tz, last + 1), d + 1);
        }
    }
}

/* ---- the process zone ----------------------------------------------------------------- */

static void test_process_utc(void **state)
{
    (void)state;
    static const char *const names[] = { "UTC", "Etc/UTC", "UTC0", "" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct tzconv tz = zone(names[i]);
        static const int64_t instants[] = { 0, -1, 86399, 86400, 1795820700, -2208988800 };
        for (size_t k = 0; k < sizeof(instants) / sizeof(instants[0]); k++) {
            assert_int_equal(tz.utc_to_local(&tz, instants[k]), instants[k]);
            assert_int_equal(tz.local_to_utc(&tz, instants[k]), instants[k]);
        }
        assert_int_equal(tzconv_local_day(&tz, -1), -1);
        assert_int_equal(tzconv_local_day(&tz, 0), 0);
    }
}

/* The process zone of Asia/Shanghai agrees with the fixed +08:00 the product assumes. */
static void test_process_shanghai(void **state)
{
    (void)state;
    struct tzconv proc = zone("Asia/Shanghai"), fixed;
    tzconv_fixed(&fixed, 8 * 3600);
    for (int64_t t = utc(1992, 1, 1, 0, 0, 0); t < utc(2038, 1, 1, 0, 0, 0);
         t += 86400 * 7 + 3671) {
        assert_int_equal(proc.utc_to_local(&proc, t), fixed.utc_to_local(&fixed, t));
        assert_int_equal(proc.local_to_utc(&proc, t), fixed.local_to_utc(&fixed, t));
        assert_int_equal(tzconv_local_day(&proc, t * 1000), tzconv_local_day(&fixed, t * 1000));
    }
    int32_t d = tzconv_days_from_civil(2026, 11, 28);
    for (int32_t sec = 0; sec <= 86400; sec += 900)
        assert_int_equal(tzconv_local_ms(&proc, d, sec), tzconv_local_ms(&fixed, d, sec));
    /* China kept summer time from 1986 to 1991: +09:00 in July 1990. The fixed zone is exact
     * only from 1992 on, as tzconv.h says ("every date the product handles"). */
    int64_t july90 = utc(1990, 7, 1, 0, 0, 0);
    assert_int_equal(proc.utc_to_local(&proc, july90) - july90, 9 * 3600);
    assert_int_equal(fixed.utc_to_local(&fixed, july90) - july90, 8 * 3600);
}

static void test_process_berlin_offsets(void **state)
{
    (void)state;
    struct tzconv tz = zone("Europe/Berlin");
    /* Spring 2024: 01:00Z, local 02:00 becomes 03:00. */
    assert_int_equal(tz.utc_to_local(&tz, utc(2024, 3, 31, 0, 59, 59)),
                     wall(2024, 3, 31, 1, 59, 59));
    assert_int_equal(tz.utc_to_local(&tz, utc(2024, 3, 31, 1, 0, 0)), wall(2024, 3, 31, 3, 0, 0));
    /* Autumn 2024: 01:00Z, local 03:00 becomes 02:00 again. */
    assert_int_equal(tz.utc_to_local(&tz, utc(2024, 10, 27, 0, 59, 59)),
                     wall(2024, 10, 27, 2, 59, 59));
    assert_int_equal(tz.utc_to_local(&tz, utc(2024, 10, 27, 1, 0, 0)), wall(2024, 10, 27, 2, 0, 0));
    /* Unambiguous local times either side. */
    assert_int_equal(tz.local_to_utc(&tz, wall(2024, 7, 1, 12, 0, 0)), utc(2024, 7, 1, 10, 0, 0));
    assert_int_equal(tz.local_to_utc(&tz, wall(2024, 12, 1, 12, 0, 0)), utc(2024, 12, 1, 11, 0, 0));
    assert_int_equal(tz.local_to_utc(&tz, wall(2024, 3, 31, 1, 59, 59)),
                     utc(2024, 3, 31, 0, 59, 59));
    assert_int_equal(tz.local_to_utc(&tz, wall(2024, 3, 31, 3, 0, 0)), utc(2024, 3, 31, 1, 0, 0));
    assert_int_equal(tz.local_to_utc(&tz, wall(2024, 10, 27, 1, 59, 59)),
                     utc(2024, 10, 26, 23, 59, 59));
    assert_int_equal(tz.local_to_utc(&tz, wall(2024, 10, 27, 3, 0, 0)), utc(2024, 10, 27, 2, 0, 0));

    /* The days themselves: 23 and 25 hours long, and every instant on its own local day. */
    int32_t spring = tzconv_days_from_civil(2024, 3, 31),
            autumn = tzconv_days_from_civil(2024, 10, 27);
    assert_int_equal(tzconv_local_ms(&tz, spring + 1, 0) - tzconv_local_ms(&tz, spring, 0),
                     23 * 3600000LL);
    assert_int_equal(tzconv_local_ms(&tz, autumn + 1, 0) - tzconv_local_ms(&tz, autumn, 0),
                     25 * 3600000LL);
    assert_int_equal(tzconv_local_ms(&tz, spring, 0), utc(2024, 3, 30, 23, 0, 0) * 1000);
    assert_int_equal(tzconv_local_ms(&tz, autumn + 1, 0), utc(2024, 10, 27, 23, 0, 0) * 1000);
    for (int64_t t = utc(2024, 3, 30, 20, 0, 0); t < utc(2024, 4, 1, 4, 0, 0); t += 60) {
        int32_t d = tzconv_local_day(&tz, t * 1000);
        assert_true(tzconv_local_ms(&tz, d, 0) <= t * 1000);
        assert_true(t * 1000 < tzconv_local_ms(&tz, d + 1, 0));
    }
    for (int64_t t = utc(2024, 10, 26, 20, 0, 0); t < utc(2024, 10, 28, 4, 0, 0); t += 60) {
        int32_t d = tzconv_local_day(&tz, t * 1000);
        assert_true(tzconv_local_ms(&tz, d, 0) <= t * 1000);
        assert_true(t * 1000 < tzconv_local_ms(&tz, d + 1, 0));
    }
}

/* A local time the spring change skips is read at the old offset (tzconv.h). */
static void test_process_berlin_gap(void **state)
{
    (void)state;
    struct tzconv tz = zone("Europe/Berlin");
    int32_t spring = tzconv_days_from_civil(2024, 3, 31);
    /* 02:00, 02:30, 02:59:59 do not exist: +01:00 still applies. */
    static const int32_t secs[] = { 2 * 3600, 2 * 3600 + 1800, 3 * 3600 - 1 };
    /* Whatever the previous conversion was, in winter or in summer. */
    static const int64_t primers[] = { 1733050800 /* 2024-12-01 11:00Z */,
                                       1719835200 /* 2024-07-01 12:00Z */ };
    for (size_t p = 0; p < 2; p++) {
        for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
            (void)tz.local_to_utc(&tz, tz.utc_to_local(&tz, primers[p]));
            int64_t want = ((int64_t)spring * 86400 + secs[i] - 3600) * 1000;
            assert_int_equal(tzconv_local_ms(&tz, spring, secs[i]), want);
        }
    }
    /* A window 02:15-02:45 on that day is still 30 minutes long and in order. */
    int64_t a = tzconv_local_ms(&tz, spring, 2 * 3600 + 900);
    int64_t b = tzconv_local_ms(&tz, spring, 2 * 3600 + 2700);
    assert_int_equal(b - a, 1800000);
    /* Local times outside the gap round-trip. */
    for (int32_t sec = 0; sec < 86400; sec += 300) {
        if (sec >= 2 * 3600 && sec < 3 * 3600)
            continue;
        int64_t local = (int64_t)spring * 86400 + sec;
        assert_int_equal(tz.utc_to_local(&tz, tz.local_to_utc(&tz, local)), local);
    }
}

/*
 * A repeated local time is its first occurrence (tzconv.h). glibc's mktime with tm_isdst = -1,
 * which tzconv once used, picks the occurrence whose offset the previous mktime call in the
 * process used (a static guess shared by all threads): the answer depended on history.
 */
static void test_process_berlin_overlap(void **state)
{
    (void)state;
    struct tzconv tz = zone("Europe/Berlin");
    int32_t autumn = tzconv_days_from_civil(2024, 10, 27);
    int64_t local = (int64_t)autumn * 86400 + 2 * 3600 + 1800; /* 02:30, twice */
    int64_t first = utc(2024, 10, 27, 0, 30, 0), second = utc(2024, 10, 27, 1, 30, 0);

    (void)tz.local_to_utc(&tz, wall(2024, 7, 1, 12, 0, 0)); /* a summer conversion first */
    int64_t after_summer = tz.local_to_utc(&tz, local);
    (void)tz.local_to_utc(&tz, wall(2024, 12, 1, 12, 0, 0)); /* a winter conversion first */
    int64_t after_winter = tz.local_to_utc(&tz, local);
    /* Either way it is one of the two instants that show 02:30. */
    assert_true(after_summer == first || after_summer == second);
    assert_true(after_winter == first || after_winter == second);
    assert_int_equal(tz.utc_to_local(&tz, first), local);
    assert_int_equal(tz.utc_to_local(&tz, second), local);
    assert_int_equal(after_summer, first); /* the first occurrence, whatever came before */
    assert_int_equal(after_winter, first);
    /* Unambiguous times on that day are not affected. */
    assert_int_equal(tz.local_to_utc(&tz, (int64_t)autumn * 86400 + 3600),
                     utc(2024, 10, 26, 23, 0, 0));
    assert_int_equal(tz.local_to_utc(&tz, (int64_t)autumn * 86400 + 4 * 3600),
                     utc(2024, 10, 27, 3, 0, 0));
}

/*
 * In every zone, each local day's start maps back to that day, days follow each other, and
 * are 23 to 25 hours long (one hour of DST), over 2000-2030. Zones: the product's, Berlin,
 * New York, Beirut and Santiago (DST starting at midnight: the day starts at 01:00), Lord
 * Howe (a 30-minute change), Kolkata and Kathmandu (odd fixed offsets), Auckland (south).
 */
static void test_process_day_starts(void **state)
{
    (void)state;
    static const char *const names[] = { "Asia/Shanghai", "Europe/Berlin",    "America/New_York",
                                         "Asia/Beirut",   "America/Santiago", "Australia/Lord_Howe",
                                         "Asia/Kolkata",  "Asia/Kathmandu",   "Pacific/Auckland" };
    int32_t d0 = tzconv_days_from_civil(2000, 1, 1), d1 = tzconv_days_from_civil(2030, 12, 31);
    for (size_t z = 0; z < sizeof(names) / sizeof(names[0]); z++) {
        struct tzconv tz = zone(names[z]);
        int64_t july = utc(2024, 7, 1, 0, 0, 0);
        if (tz.utc_to_local(&tz, july) == july)
            fail_msg("%s: offset 0 in July: is the zone installed?", names[z]);
        int64_t prev = tzconv_local_ms(&tz, d0, 0);
        for (int32_t d = d0; d <= d1; d++) {
            int64_t start = prev, next = tzconv_local_ms(&tz, d + 1, 0);
            if (tzconv_local_day(&tz, start) != d || tzconv_local_day(&tz, next - 1) != d)
                fail_msg("%s: day %d starts at %lld ms, which is local day %d", names[z], d,
                         (long long)start, tzconv_local_day(&tz, start));
            int64_t len = next - start;
            if (len < 23 * 3600000LL || len > 25 * 3600000LL)
                fail_msg("%s: day %d is %lld ms long", names[z], d, (long long)len);
            prev = next;
        }
    }
}

/* POSIX TZ strings work as zones; an unknown name is UTC (main.c refuses those at start). */
static void test_process_zone_names(void **state)
{
    (void)state;
    int64_t t = utc(2026, 11, 28, 0, 0, 0);
    struct tzconv tz = zone("CST-8");
    assert_int_equal(tz.utc_to_local(&tz, t) - t, 8 * 3600);
    tz = zone(":Asia/Shanghai");
    assert_int_equal(tz.utc_to_local(&tz, t) - t, 8 * 3600);
    tz = zone("CET-1CEST,M3.5.0,M10.5.0/3");
    assert_int_equal(tz.utc_to_local(&tz, utc(2024, 7, 1, 0, 0, 0)) - utc(2024, 7, 1, 0, 0, 0),
                     7200);
    assert_int_equal(tz.local_to_utc(&tz, wall(2024, 3, 31, 2, 30, 0)), utc(2024, 3, 31, 1, 30, 0));

    static const char *const unknown[] = { "Nowhere/Atlantis", "Asia/Shang_hai", "asia/shanghai",
                                           "../../etc/passwd", "Asia/Shanghai ", "+08:00" };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        tz = zone(unknown[i]);
        int64_t off = tz.utc_to_local(&tz, t) - t;
        if (off != 0)
            fail_msg("TZ=%s: offset %lld, want UTC", unknown[i], (long long)off);
        assert_int_equal(tz.local_to_utc(&tz, t), t);
        assert_int_equal(tzconv_local_day(&tz, t * 1000), tzconv_days_from_civil(2026, 11, 28));
    }
    /* Switching back takes effect: tzconv_process re-reads TZ. */
    tz = zone("Asia/Shanghai");
    assert_int_equal(tz.utc_to_local(&tz, t) - t, 8 * 3600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_civil_against_libc),
        cmocka_unit_test(test_weekday),
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_fixed_shanghai),
        cmocka_unit_test(test_fixed_offsets),
        cmocka_unit_test(test_process_utc),
        cmocka_unit_test(test_process_shanghai),
        cmocka_unit_test(test_process_berlin_offsets),
        cmocka_unit_test(test_process_berlin_gap),
        cmocka_unit_test(test_process_berlin_overlap),
        cmocka_unit_test(test_process_day_starts),
        cmocka_unit_test(test_process_zone_names),
    };
    return cmocka_run_group_tests(tests, save_tz, restore_tz);
}

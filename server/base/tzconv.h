/*
 * tzconv.h - local calendar time for check-in windows: civil dates as day numbers, and an
 * injectable time-zone conversion (the server's zone, default Asia/Shanghai; tests use a fixed
 * offset).
 *
 * Two implementations: tzconv_fixed (a constant UTC offset: Asia/Shanghai has had no daylight
 * saving since 1991, so +08:00 is exact for every date the product handles) and tzconv_process
 * (the process's own zone through localtime_r, thread-safe and without hidden state; the zone
 * is whatever TZ held when the process first converted a time, so set TZ before starting
 * threads).
 *
 * What it is not: a tz database parser, or a formatter.
 */
#ifndef PATROL_TZCONV_H
#define PATROL_TZCONV_H

#include <stdbool.h>
#include <stdint.h>

struct tzconv {
    /*
     * UTC seconds of local wall-clock time local_s (seconds since 1970-01-01T00:00 on the local
     * calendar). A local time skipped by a DST change is taken as if the old offset still held,
     * a repeated one as its first occurrence, whatever was converted before.
     */
    int64_t (*local_to_utc)(const struct tzconv *tz, int64_t local_s);
    /* Local wall-clock seconds (as above) of UTC seconds utc_s. */
    int64_t (*utc_to_local)(const struct tzconv *tz, int64_t utc_s);
    int32_t offset_s; /* for tzconv_fixed */
};

/* A zone at a constant offset east of UTC, e.g. 8 * 3600 for Asia/Shanghai. */
void tzconv_fixed(struct tzconv *tz, int32_t offset_s);

/* The process's local zone (TZ). */
void tzconv_process(struct tzconv *tz);

/* Day number (days since 1970-01-01, negative before) of a proleptic Gregorian date. */
int32_t tzconv_days_from_civil(int32_t y, int32_t m, int32_t d);

/* The date of a day number. */
void tzconv_civil_from_days(int32_t days, int32_t *y, int32_t *m, int32_t *d);

/* ISO weekday index of a day number: 0 = Monday ... 6 = Sunday. */
int tzconv_weekday(int32_t days);

/* Parses "YYYY-MM-DD" (a valid date) into a day number; false when malformed. */
bool tzconv_parse_date(const char *s, int32_t *days);

/* Local day number of the UTC instant t_ms. */
int32_t tzconv_local_day(const struct tzconv *tz, int64_t t_ms);

/* UTC ms of second sec (0..86400) of local day `day`. */
int64_t tzconv_local_ms(const struct tzconv *tz, int32_t day, int32_t sec);

#endif

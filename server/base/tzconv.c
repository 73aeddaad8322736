/*
 * tzconv.c - civil-date arithmetic (H. Hinnant's days_from_civil / civil_from_days) and the
 * fixed-offset and process-zone conversions.
 */
#include "tzconv.h"

#include <stdbool.h>
#include <time.h>

static int64_t fixed_to_utc(const struct tzconv *tz, int64_t local_s)
{
    return local_s - tz->offset_s;
}

static int64_t fixed_to_local(const struct tzconv *tz, int64_t utc_s)
{
    return utc_s + tz->offset_s;
}

void tzconv_fixed(struct tzconv *tz, int32_t offset_s)
{
    tz->local_to_utc = fixed_to_utc;
    tz->utc_to_local = fixed_to_local;
    tz->offset_s = offset_s;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The process zone's UTC offset at UTC second t (localtime_r: thread-safe, no hidden state). */
static int64_t process_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL)
        return 0;
    return tm.tm_gmtoff;
}

/*
 * Not mktime: with tm_isdst = -1 glibc picks the occurrence of a repeated time whose offset
 * the previous mktime call of the process used, so the answer would depend on history. The
 * offsets a day before and a day after bracket any transition (zones change at most a few
 * times a year); a candidate is valid when the zone really has that offset at its instant.
 */
static int64_t process_to_utc(const struct tzconv *tz, int64_t local_s)
{
    (void)tz;
    int64_t before = process_offset(local_s - 86400), after = process_offset(local_s + 86400);
    int64_t t1 = local_s - before, t2 = local_s - after;
    bool ok1 = process_offset(t1) == before, ok2 = process_offset(t2) == after;
    if (ok1 && ok2)
        return t1 < t2 ? t1 : t2; /* repeated: the first occurrence */
    if (ok2)
        return t2;
    return t1; /* valid, or skipped by the change: as if the old offset still held */
}

static int64_t process_to_local(const struct tzconv *tz, int64_t utc_s)
{
    (void)tz;
    time_t t = (time_t)utc_s;
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL)
        return utc_s;
    return utc_s + tm.tm_gmtoff;
}

void tzconv_process(struct tzconv *tz)
{
    tzset();
    tz->local_to_utc = process_to_utc;
    tz->utc_to_local = process_to_local;
    tz->offset_s = 0;
}

int32_t tzconv_days_from_civil(int32_t y, int32_t m, int32_t d)
{
    y -= m <= 2;
    int32_t era = (y >= 0 ? y : y - 399) / 400;
    int32_t yoe = y - era * 400;
    int32_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tzconv_civil_from_days(int32_t days, int32_t *y, int32_t *m, int32_t *d)
{
    int32_t z = days + 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    int32_t doe = z - era * 146097;
    int32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int32_t mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

int tzconv_weekday(int32_t days)
{
    /* 1970-01-01 was a Thursday (index 3) */
    return (int)(((int64_t)days % 7 + 7 + 3) % 7);
}

static bool digits(const char *s, int n, int32_t *out)
{
    int32_t v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool tzconv_parse_date(const char *s, int32_t *days)
{
    int32_t y, m, d;
    if (s == NULL || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != '\0')
        return false;
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    int32_t n = tzconv_days_from_civil(y, m, d);
    int32_t y2, m2, d2;
    tzconv_civil_from_days(n, &y2, &m2, &d2);
    if (y2 != y || m2 != m || d2 != d)
        return false; /* 2023-02-30 */
    *days = n;
    return true;
}

int32_t tzconv_local_day(const struct tzconv *tz, int64_t t_ms)
{
    int64_t local = tz->utc_to_local(tz, floor_div(t_ms, 1000));
    return (int32_t)floor_div(local, 86400);
}

int64_t tzconv_local_ms(const struct tzconv *tz, int32_t day, int32_t sec)
{
    return tz->local_to_utc(tz, (int64_t)day * 86400 + sec) * 1000;
}

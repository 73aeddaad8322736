/*
 * ingest_fix.c - per-fix checks, fix-time and number parsing, and the impossible-speed filter
 * (see ingest_fix.h). Pure functions of their arguments: the clock is a parameter.
 *
 * Not here: the transaction that stores fixes (ingest.c), the protocols (proto_*.c).
 */
#include "ingest_fix.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ingest_fix_init(struct ingest_fix *f)
{
    f->t_ms = INGEST_NO_TIME;
    f->lon = f->lat = NAN;
    f->speed_kmh = f->heading = f->accuracy_m = f->altitude_m = NAN;
    f->hdop = f->battery = NAN;
    f->valid = -1;
}

/* ---- per-fix checks ---- */

static const char *check_optional(const struct ingest_fix *f)
{
    if (isinf(f->speed_kmh) || (!isnan(f->speed_kmh) && f->speed_kmh < 0))
        return "speed must be a finite number >= 0";
    if (isinf(f->heading) || (!isnan(f->heading) && (f->heading < 0 || f->heading > 360)))
        return "heading must be a number of degrees from 0 to 360";
    if (isinf(f->accuracy_m) || (!isnan(f->accuracy_m) && f->accuracy_m < 0))
        return "accuracy must be a finite number of metres >= 0";
    if (isinf(f->altitude_m) || isinf(f->hdop) || isinf(f->battery))
        return "altitude, hdop and battery must be finite";
    return NULL;
}

static const char *check_one(struct ingest_fix *f, enum crs crs, int64_t now_ms,
                             const struct ingest_limits *lim)
{
    if (f->t_ms == INGEST_NO_TIME)
        return "the fix has no time";
    if (f->t_ms < INGEST_MIN_TIME_MS)
        return "the fix time is before 2000-01-01";
    if (f->t_ms > now_ms + INGEST_FUTURE_MS)
        return "the fix time is more than 5 minutes in the future";
    if (lim->retention_days > 0 && f->t_ms < now_ms - (int64_t)lim->retention_days * 86400000)
        return "the fix time is older than the retention period";
    if (!isfinite(f->lon) || !isfinite(f->lat))
        return "lon and lat must be finite numbers";
    const char *why = check_optional(f);
    if (why != NULL)
        return why;
    double x = f->lon, y = f->lat;
    if (crs != CRS_WGS84 && crs_to_wgs84(crs, &x, &y) != 0)
        return "lon/lat cannot be converted from the batch's crs";
    if (!(x >= -180 && x <= 180 && y >= -90 && y <= 90))
        return "lon must be within -180..180 and lat within -90..90";
    f->lon = x;
    f->lat = y;
    return NULL;
}

size_t ingest_check(struct ingest_fix *fixes, size_t n, enum crs crs, int64_t now_ms,
                    const struct ingest_limits *lim, struct ingest_verdict *out)
{
    size_t accepted = 0;
    for (size_t i = 0; i < n; i++) {
        struct ingest_fix *f = &fixes[i];
        out[i].flags = 0;
        out[i].reject = check_one(f, crs, now_ms, lim);
        if (out[i].reject != NULL)
            continue;
        accepted++;
        if (!isnan(f->accuracy_m) && f->accuracy_m > lim->max_accuracy_m)
            out[i].flags |= INGEST_FLAG_ACCURACY;
        if (fabs(f->lon) < INGEST_ZERO_DEG && fabs(f->lat) < INGEST_ZERO_DEG)
            out[i].flags |= INGEST_FLAG_ZERO;
        if (f->valid == 0)
            out[i].flags |= INGEST_FLAG_INVALID;
    }
    return accepted;
}

/* ---- numbers and times ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* Reads exactly n digits at *p into *v; advances *p. */
static int read_digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return 0;
}

static int parse_epoch(const char *s, int64_t *ms)
{
    const char *p = s;
    int64_t whole = 0;
    int n = 0;
    while (isdigit((unsigned char)*p)) {
        if (n++ >= 15)
            return -1; /* past year 33000 even in milliseconds */
        whole = whole * 10 + (*p - '0');
        p++;
    }
    if (n == 0)
        return -1;
    if (*p == '\0') {
        *ms = whole < INT64_C(2147483647) ? whole * 1000 : whole;
        return 0;
    }
    if (*p != '.')
        return -1;
    p++;
    int64_t frac = 0, scale = 1;
    int fd = 0;
    while (isdigit((unsigned char)*p)) {
        if (fd < 3) {
            frac = frac * 10 + (*p - '0');
            scale *= 10;
        }
        fd++;
        p++;
    }
    if (fd == 0 || *p != '\0')
        return -1;
    *ms = whole * 1000 + frac * (1000 / scale);
    return 0;
}

int ingest_parse_time(const char *s, int epoch, enum ingest_zoneless zl, int64_t *ms)
{
    int y, mo, d, h, mi, sec = 0, msec = 0;
    const char *p = s;
    if (s == NULL)
        return -1;
    if (epoch && parse_epoch(s, ms) == 0)
        return 0;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi))
        return -1;
    if (*p == ':') {
        p++;
        if (read_digits(&p, 2, &sec))
            return -1;
        if (*p == '.' || *p == ',') {
            int fd = 0;
            p++;
            while (isdigit((unsigned char)*p)) {
                if (fd < 3)
                    msec = msec * 10 + (*p - '0');
                fd++;
                p++;
            }
            if (fd == 0)
                return -1;
            for (int i = fd; i < 3; i++)
                msec *= 10;
        }
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    if (sec == 60) { /* a leap second: the same instant as :59.999 for our purposes */
        sec = 59;
        msec = 999;
    }

    int64_t secs;
    if (*p == '\0') {
        if (zl == INGEST_ZONE_REQUIRED)
            return -1;
        if (zl == INGEST_ZONE_LOCAL) {
            struct tm tm = { .tm_year = y - 1900,
                             .tm_mon = mo - 1,
                             .tm_mday = d,
                             .tm_hour = h,
                             .tm_min = mi,
                             .tm_sec = sec,
                             .tm_isdst = -1 };
            time_t t = mktime(&tm);
            if (t == (time_t)-1)
                return -1;
            *ms = (int64_t)t * 1000 + msec;
            return 0;
        }
        secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    } else {
        int off = 0;
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            if (read_digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (*p != '\0' && read_digits(&p, 2, &om))
                return -1;
            if (oh > 23 || om > 59)
                return -1;
            off = sign * (oh * 3600 + om * 60);
        } else {
            return -1;
        }
        if (*p != '\0')
            return -1;
        secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    }
    *ms = secs * 1000 + msec;
    return 0;
}

/* ---- the speed filter ---- */

/* Implied speed in km/h between two points (geodesic metres over seconds; +inf when dt is 0). */
static double ingest_speed_kmh(const struct ingest_pt *a, const struct ingest_pt *b)
{
    double dt = fabs((double)(b->t_ms - a->t_ms)) / 1000.0;
    double m = crs_geodesic_distance(a->lon, a->lat, b->lon, b->lat);
    if (dt <= 0)
        return m > 0 ? INFINITY : 0;
    return m / dt * 3.6;
}

static bool is_candidate(const struct ingest_pt *p)
{
    return (p->flags & ~INGEST_FLAG_SPEED) == 0;
}

void ingest_speed_flags(struct ingest_pt *pts, size_t n, double max_kmh)
{
    /* Walk the candidates with a sliding view of four: prev2, prev, cur, next. */
    size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
    unsigned char *spike = malloc(n ? n : 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        pts[i].new_flags = pts[i].flags & ~INGEST_FLAG_SPEED;
        if (is_candidate(&pts[i]) && idx != NULL)
            idx[m++] = i;
    }
    if (idx == NULL || spike == NULL) {
        /* Out of memory: keep what is stored rather than guess. */
        for (size_t i = 0; i < n; i++)
            pts[i].new_flags = pts[i].flags;
        free(idx);
        free(spike);
        return;
    }
    for (size_t k = 0; k < m; k++) {
        bool has_in = k > 0, has_out = k + 1 < m;
        bool fast_in = has_in && ingest_speed_kmh(&pts[idx[k - 1]], &pts[idx[k]]) > max_kmh;
        bool fast_out = has_out && ingest_speed_kmh(&pts[idx[k]], &pts[idx[k + 1]]) > max_kmh;
        if (has_in && has_out)
            spike[k] = fast_in && fast_out;
        else
            spike[k] = fast_in || fast_out; /* at an end, the single neighbour decides */
    }
    for (size_t k = 0; k < m; k++) {
        bool jump = k > 0 && !spike[k] && !spike[k - 1] &&
                    ingest_speed_kmh(&pts[idx[k - 1]], &pts[idx[k]]) > max_kmh;
        if (spike[k] || jump)
            pts[idx[k]].new_flags |= INGEST_FLAG_SPEED;
    }
    free(idx);
    free(spike);
}

size_t ingest_clusters(const int64_t *t, size_t n, int64_t *lo, int64_t *hi)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && t[i] - hi[k - 1] <= INGEST_CLUSTER_GAP_MS) {
            hi[k - 1] = t[i];
            continue;
        }
        lo[k] = hi[k] = t[i];
        k++;
    }
    return k;
}

void ingest_affected(struct ingest_pt *pts, size_t n, const int64_t *lo, const int64_t *hi,
                     size_t nclusters)
{
    for (size_t i = 0; i < n; i++)
        pts[i].affected = 0;
    size_t first = 0; /* clusters are sorted and pts too: one forward walk */
    for (size_t k = 0; k < nclusters; k++) {
        while (first < n && pts[first].t_ms < lo[k])
            first++;
        size_t i = first;
        while (i < n && pts[i].t_ms <= hi[k])
            pts[i++].affected = 1;
        /* the last candidate before the cluster */
        for (size_t j = first; j-- > 0;) {
            if (is_candidate(&pts[j])) {
                pts[j].affected = 1;
                break;
            }
        }
        /* the first two candidates after it */
        for (int seen = 0; i < n && seen < 2; i++) {
            if (is_candidate(&pts[i])) {
                pts[i].affected = 1;
                seen++;
            }
        }
    }
}

/*
 * checkin.c - window status from visits, seasons, the announcement a status change makes, and
 * presence as a union of intervals. Not storage: the engine writes what these decide.
 */
#include "checkin.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
    [CHECKIN_NOT_APPLICABLE] = "not_applicable",
    [CHECKIN_PENDING] = "pending",
    [CHECKIN_DONE] = "done",
    [CHECKIN_LATE] = "late",
    [CHECKIN_MISSED] = "missed",
};

const char *checkin_status_name(enum checkin_status s)
{
    if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0]))
        return "unknown";
    return status_names[s];
}

bool checkin_status_parse(const char *s, enum checkin_status *out)
{
    for (size_t i = 0; s != NULL && i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum checkin_status)i;
            return true;
        }
    }
    return false;
}

const char *checkin_event_name(enum checkin_event k)
{
    switch (k) {
    case CHECKIN_EVENT_MISSED:
        return "checkin_missed";
    case CHECKIN_EVENT_RESOLVED:
        return "checkin_resolved";
    case CHECKIN_EVENT_NONE:
        break;
    }
    return NULL;
}

enum checkin_event checkin_event_for(bool had_row, enum checkin_status was, enum checkin_status now,
                                     bool announce, bool live_day)
{
    if (announce) {
        if (now == CHECKIN_MISSED)
            return CHECKIN_EVENT_MISSED;
        if (had_row && was == CHECKIN_MISSED && (now == CHECKIN_DONE || now == CHECKIN_LATE))
            return CHECKIN_EVENT_RESOLVED;
        return CHECKIN_EVENT_NONE;
    }
    if (now == CHECKIN_MISSED && (!had_row || was == CHECKIN_PENDING) && live_day)
        return CHECKIN_EVENT_MISSED;
    return CHECKIN_EVENT_NONE;
}

static const int8_t month_days[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

static bool parse_mmdd(const char *s, int16_t *out)
{
    if (s == NULL || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != '-' ||
        s[3] < '0' || s[3] > '9' || s[4] < '0' || s[4] > '9' || s[5] != '\0')
        return false;
    int m = (s[0] - '0') * 10 + (s[1] - '0');
    int d = (s[3] - '0') * 10 + (s[4] - '0');
    if (m < 1 || m > 12 || d < 1 || d > month_days[m])
        return false;
    *out = (int16_t)(m * 100 + d);
    return true;
}

enum err checkin_season_parse(const char *start, const char *end, struct checkin_season *out)
{
    out->all_year = false;
    out->start_mmdd = out->end_mmdd = 0;
    if (start == NULL && end == NULL) {
        out->all_year = true;
        return ERR_OK;
    }
    if (!parse_mmdd(start, &out->start_mmdd) || !parse_mmdd(end, &out->end_mmdd))
        return ERR_INVALID_ARGUMENT;
    return ERR_OK;
}

bool checkin_season_contains(const struct checkin_season *s, int32_t day)
{
    if (s->all_year)
        return true;
    int32_t y, m, d;
    tzconv_civil_from_days(day, &y, &m, &d);
    int mmdd = m * 100 + d;
    if (s->start_mmdd <= s->end_mmdd)
        return mmdd >= s->start_mmdd && mmdd <= s->end_mmdd;
    return mmdd >= s->start_mmdd || mmdd <= s->end_mmdd; /* wraps the year end */
}

static bool window_valid(const struct checkin_point *pt, const struct checkin_window *w)
{
    if (w->point_id != pt->id || pt->min_dwell_s < 0)
        return false;
    if (w->days < 1 || w->days > 127 || w->required_visits < 1 || w->grace_s < 0)
        return false;
    if (w->start_s < 0 || w->end_s > 86400 || w->start_s >= w->end_s)
        return false;
    return !w->has_dates || w->date_from <= w->date_to;
}

static bool window_applies(const struct checkin_point *pt, const struct checkin_window *w,
                           int32_t day)
{
    if (!(w->days & (1u << tzconv_weekday(day))))
        return false;
    if (w->has_dates && (day < w->date_from || day > w->date_to))
        return false;
    return checkin_season_contains(&pt->season, day);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Indexes of visits by (enter, id): insertion sort, as qsort has no context argument in C11
 * and the qualifying visits of one window are few. */
static void sort_indexes(const struct visit *v, size_t *ix, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        size_t cur = ix[i], j = i;
        while (j > 0) {
            const struct visit *a = &v[ix[j - 1]], *b = &v[cur];
            bool after = a->enter_ms > b->enter_ms || (a->enter_ms == b->enter_ms && a->id > b->id);
            if (!after)
                break;
            ix[j] = ix[j - 1];
            j--;
        }
        ix[j] = cur;
    }
}

enum err checkin_evaluate(const struct checkin_point *pt, const struct checkin_window *w,
                          const struct tzconv *tz, int32_t day, int64_t now_ms,
                          const struct visit *visits, size_t n, int64_t *ids, size_t ids_cap,
                          struct checkin_result *out)
{
    *out = (struct checkin_result){ .status = CHECKIN_NOT_APPLICABLE };
    if (!window_valid(pt, w) || (n > 0 && visits == NULL) || (ids_cap > 0 && ids == NULL))
        return ERR_INVALID_ARGUMENT;
    if (!window_applies(pt, w, day))
        return ERR_OK;
    int64_t ws = tzconv_local_ms(tz, day, w->start_s);
    int64_t we = tzconv_local_ms(tz, day, w->end_s);
    out->window_from_ms = ws;
    out->window_to_ms = we;

    size_t *ix = malloc((n ? n : 1) * sizeof(*ix));
    if (ix == NULL)
        return ERR_INTERNAL;
    int64_t need_ms = (int64_t)pt->min_dwell_s * 1000;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct visit *v = &visits[i];
        if (v->point_id != pt->id || v->dwell_s < (double)pt->min_dwell_s)
            continue;
        if (v->enter_ms >= we || v->exit_ms < ws)
            continue; /* no overlap with [ws, we) */
        if (min64(v->exit_ms, we) - max64(v->enter_ms, ws) < need_ms)
            continue;
        ix[k++] = i;
    }
    sort_indexes(visits, ix, k);
    for (size_t i = 0; i < k && i < ids_cap; i++)
        ids[i] = visits[ix[i]].id;
    out->n_counted = k;
    if (k > 0) {
        out->has_first = true;
        out->first_ms = max64(visits[ix[0]].enter_ms, ws);
    }
    if (k >= (size_t)w->required_visits) {
        bool on_time = visits[ix[0]].enter_ms <= ws + (int64_t)w->grace_s * 1000;
        out->status = on_time ? CHECKIN_DONE : CHECKIN_LATE;
    } else {
        out->status = now_ms >= we ? CHECKIN_MISSED : CHECKIN_PENDING;
    }
    free(ix);
    return ERR_OK;
}

struct span {
    int64_t from, to;
};

static int cmp_span(const void *pa, const void *pb)
{
    const struct span *a = pa, *b = pb;
    return (a->from > b->from) - (a->from < b->from);
}

enum err checkin_presence_ms(const struct visit *visits, size_t n, int64_t point_id,
                             int64_t from_ms, int64_t to_ms, int64_t *out_ms)
{
    *out_ms = 0;
    if (from_ms > to_ms || (n > 0 && visits == NULL))
        return ERR_INVALID_ARGUMENT;
    struct span *s = malloc((n ? n : 1) * sizeof(*s));
    if (s == NULL)
        return ERR_INTERNAL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (visits[i].point_id != point_id)
            continue;
        int64_t a = max64(visits[i].enter_ms, from_ms), b = min64(visits[i].exit_ms, to_ms);
        if (a < b)
            s[k++] = (struct span){ a, b };
    }
    qsort(s, k, sizeof(*s), cmp_span);
    int64_t total = 0, cur_from = 0, cur_to = 0;
    for (size_t i = 0; i < k; i++) {
        if (i == 0 || s[i].from > cur_to) {
            total += cur_to - cur_from;
            cur_from = s[i].from;
            cur_to = s[i].to;
        } else if (s[i].to > cur_to) {
            cur_to = s[i].to;
        }
    }
    total += cur_to - cur_from;
    free(s);
    *out_ms = total;
    return ERR_OK;
}

/*
 * fuzz_ogc_query.c - libFuzzer target for the OGC API items query parsers (ogc_query.h) on
 * the real layer catalog (layerdef.c), with oracles.
 *
 * The input is text, one query argument per line: "name=value", or "name" alone (no value,
 * as in "?name"); a line "@<collection>" picks the layer (default: the first of the catalog;
 * an unknown one picks a layer by its length). The arguments are run as the items handler
 * runs them (page, every argument as a filter in order, bbox with bbox-crs, datetime on one
 * query), and each parser again on a query of its own, so a refusal early on does not hide
 * the later ones. crs is parsed too.
 *
 * What is asserted, beyond no crash, leak or sanitizer report:
 *   - a refusal comes with a message; an acceptance adds what the header says it adds;
 *   - the WHERE text is made only of the catalog's column names, fixed SQL words and
 *     placeholders $1..$n, each of which has a bound value, so no byte of a client's value
 *     can reach the SQL text;
 *   - a filter binds the client's value as it is;
 *   - an accepted bbox is 4 or 6 comma-separated finite numbers (checked by a parse of its
 *     own), its 4 bound corners are finite with min <= max on each axis (no antimeridian
 *     crossing is accepted), and in CRS84 they are the given numbers;
 *   - an accepted datetime is an RFC 3339 instant or date, or an interval of two whose ends
 *     are such or open ("" or ".."), not both open; each closed end is bound as it is;
 *   - an accepted limit is 1..OGC_LIMIT_MAX, an offset 0..OGC_OFFSET_MAX, each given as
 *     an optionally signed run of digits.
 * One leniency of today's parsers is tolerated, and asserted against when built with
 * -DFUZZ_OGC_QUERY_STRICT: an interval whose start is after its end is accepted (it matches
 * nothing). A bbox with a trailing comma ("1,2,3,4,") is refused.
 */
#include "arena.h"
#include "layerdef.h"
#include "ogc_query.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64
#define MSG_LEN  200 /* the items handler's buffer */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_ogc_query: %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The items endpoint's own parameters (ogc_read.c): never filters. */
static const char *const known[] = { "limit",    "offset", "bbox", "bbox-crs",
                                     "datetime", "crs",    "f",    NULL };

struct args {
    const char *name[MAX_ARGS];
    const char *value[MAX_ARGS]; /* NULL: no value */
    int n;
    const struct layer_def *l;
};

/* The first value of argument name, as req_query gives it; NULL when absent or bare. */
static const char *arg(const struct args *a, const char *name)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->name[i], name) == 0)
            return a->value[i];
    return NULL;
}

static void split_lines(struct arena *ar, const char *data, size_t size, struct args *a)
{
    a->n = 0;
    a->l = layerdef_all[0];
    size_t i = 0;
    while (i < size && a->n < MAX_ARGS) {
        size_t j = i;
        while (j < size && data[j] != '\n')
            j++;
        char *line = arena_strndup(ar, data + i, j - i); /* stops at a NUL, as C strings do */
        i = j + 1;
        if (line == NULL || line[0] == '\0')
            continue;
        if (line[0] == '@') {
            a->l = layerdef_find(line + 1);
            if (a->l == NULL)
                a->l = layerdef_all[strlen(line) % layerdef_count];
            continue;
        }
        char *eq = strchr(line, '=');
        if (eq != NULL)
            *eq = '\0';
        a->name[a->n] = line;
        a->value[a->n] = eq != NULL ? eq + 1 : NULL;
        a->n++;
    }
}

static void check_refusal(enum err e, const char *msg)
{
    CHECK(e != ERR_OK, "not a refusal");
    CHECK(msg[0] != '\0', "a refusal (%d) without a message", (int)e);
    CHECK(strlen(msg) < MSG_LEN, "message overflow");
}

/* ---- the SQL oracle ---- */

static bool is_column(const struct layer_def *l, const char *word, size_t len)
{
    if (len < 3 || word[0] != 't' || word[1] != '.')
        return false;
    word += 2;
    len -= 2;
    const char *cols[] = { l->geom_col, l->time_col };
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        if (cols[i] != NULL && strlen(cols[i]) == len && memcmp(cols[i], word, len) == 0)
            return true;
    for (const struct prop_def *p = l->props; p->name != NULL; p++)
        if (strlen(p->name) == len && memcmp(p->name, word, len) == 0)
            return true;
    return false;
}

static bool is_sql_word(const char *word, size_t len)
{
    static const char *const words[] = {
        "WHERE", "AND",    "ST_MakeEnvelope", "ST_Intersects", "float8", "date", "timestamptz",
        "text",  "bigint", "boolean",         "4326",          "1",      NULL
    };
    for (const char *const *w = words; *w; w++)
        if (strlen(*w) == len && memcmp(*w, word, len) == 0)
            return true;
    return false;
}

/*
 * The WHERE text of q holds only catalog columns, fixed words, punctuation and placeholders
 * $1..$n; and, when q was built without a refusal (complete), every one of $1..$n is used (a
 * refusal may leave values bound for a condition never added: the query is dropped then).
 */
static void check_where(const struct ogc_query *q, bool complete)
{
    const char *s = q->where;
    bool used[OGC_QUERY_MAX_PARAMS + 1] = { false };
    CHECK(q->n >= 0 && q->n <= OGC_QUERY_MAX_PARAMS, "n = %d", q->n);
    CHECK(s[0] == '\0' || strncmp(s, " WHERE ", 7) == 0, "where '%s'", s);
    for (size_t i = 0; s[i] != '\0';) {
        char c = s[i];
        if (c == '$') {
            size_t j = i + 1;
            long k = 0;
            while (isdigit((unsigned char)s[j]) && j - i < 4)
                k = k * 10 + (s[j++] - '0');
            CHECK(j > i + 1 && k >= 1 && k <= q->n, "placeholder at %zu of '%s' (n %d)", i, s,
                  q->n);
            used[k] = true;
            i = j;
        } else if (isalnum((unsigned char)c) || c == '_' || c == '.') {
            size_t j = i;
            while (isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '.')
                j++;
            CHECK(is_sql_word(s + i, j - i) || is_column(q->l, s + i, j - i),
                  "'%.*s' in '%s' is neither a column nor an SQL word", (int)(j - i), s + i, s);
            i = j;
        } else {
            CHECK(strchr(" =<>(),:+&", c) != NULL, "byte 0x%02x at %zu of '%s'", (unsigned char)c,
                  i, s);
            i++;
        }
    }
    for (int k = 1; k <= q->n; k++) {
        CHECK(used[k] || !complete, "$%d is bound but not used in '%s'", k, s);
        CHECK(q->params[k - 1] != NULL, "$%d is NULL", k);
    }
}

/* ---- the bbox oracle ---- */

/*
 * bbox's numbers by a parse of our own: strtod on each comma-separated piece, whole; -1 when
 * a piece is not a finite number.
 */
static int own_bbox_numbers(const char *s, double v[6])
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char piece[512];
        if (n == 6 || len == 0 || len >= sizeof(piece))
            return -1;
        memcpy(piece, p, len);
        piece[len] = '\0';
        char *end;
        v[n] = strtod(piece, &end);
        if (*end != '\0' || !isfinite(v[n]))
            return -1;
        n++;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

static double param_number(const struct ogc_query *q, int i)
{
    char *end;
    double v = strtod(q->params[i], &end);
    CHECK(*end == '\0' && isfinite(v), "bbox parameter '%s'", q->params[i]);
    return v;
}

static void check_bbox_accepted(const struct ogc_query *q, int before, const char *bbox,
                                const char *bbox_crs)
{
    if (bbox == NULL) {
        CHECK(q->n == before, "no bbox bound %d values", q->n - before);
        return;
    }
    double v[6];
    int n = own_bbox_numbers(bbox, v);
    CHECK(n == 4 || n == 6, "accepted bbox '%s' has %d numbers", bbox, n);
    CHECK(q->n == before + 4, "bbox bound %d values", q->n - before);
    double w[4];
    for (int i = 0; i < 4; i++)
        w[i] = param_number(q, before + i);
    CHECK(w[0] <= w[2] && w[1] <= w[3], "bbox '%s' bound as %s,%s,%s,%s", bbox, q->params[before],
          q->params[before + 1], q->params[before + 2], q->params[before + 3]);
    enum crs c = CRS_WGS84;
    if (bbox_crs != NULL && crs_parse(bbox_crs, &c) != 0)
        CHECK(false, "bbox accepted with bbox-crs '%s'", bbox_crs);
    if (c == CRS_WGS84) {
        bool swap = bbox_crs != NULL && crs_axis_lat_first(bbox_crs);
        double x0 = v[0], y0 = v[1], x1 = v[n == 4 ? 2 : 3], y1 = v[n == 4 ? 3 : 4];
        double want[4] = { swap ? y0 : x0, swap ? x0 : y0, swap ? y1 : x1, swap ? x1 : y1 };
        for (int i = 0; i < 4; i++) {
            char text[400];
            snprintf(text, sizeof(text), "%.10f", want[i]);
            CHECK(strcmp(text, q->params[before + i]) == 0, "bbox '%s' corner %d bound as '%s'",
                  bbox, i, q->params[before + i]);
        }
    }
}

/* ---- the datetime oracle ---- */

static bool own_instant(const char *s)
{
    return layerdef_valid_timestamp(s) || layerdef_valid_date(s);
}

static bool is_open(const char *s)
{
    return s[0] == '\0' || strcmp(s, "..") == 0;
}

#ifdef FUZZ_OGC_QUERY_STRICT
/* Seconds since 1970 of an instant (a date: its start, or its end when end_of_day). */
static double instant_seconds(const char *s, bool end_of_day)
{
    struct tm tm = { 0 };
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    if (layerdef_valid_date(s))
        return (double)timegm(&tm) + (end_of_day ? 86400 : 0);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    double t = (double)timegm(&tm);
    const char *p = s + 19;
    if (*p == '.')
        t += strtod(p, (char **)&p);
    if (*p == '+' || *p == '-')
        t -= (*p == '+' ? 1 : -1) * (atoi(p + 1) * 3600.0 + atoi(p + 4) * 60.0);
    return t;
}
#endif

static void check_datetime_accepted(const struct ogc_query *q, int before, const char *s)
{
    if (s == NULL) {
        CHECK(q->n == before, "no datetime bound %d values", q->n - before);
        return;
    }
    const char *slash = strchr(s, '/');
    if (slash == NULL) {
        CHECK(own_instant(s), "accepted instant '%s'", s);
        CHECK(q->n == before + 1 && strcmp(q->params[before], s) == 0, "instant '%s' bound", s);
        return;
    }
    char from[256];
    size_t flen = (size_t)(slash - s);
    CHECK(flen < sizeof(from) || own_instant(s), "start of '%s' too long", s);
    if (flen >= sizeof(from))
        return;
    memcpy(from, s, flen);
    from[flen] = '\0';
    const char *to = slash + 1;
    CHECK(!(is_open(from) && is_open(to)), "accepted interval '%s' is open at both ends", s);
    CHECK(is_open(from) || own_instant(from), "accepted interval '%s': start", s);
    CHECK(is_open(to) || own_instant(to), "accepted interval '%s': end", s);
    int k = before;
    if (!is_open(from))
        CHECK(strcmp(q->params[k++], from) == 0, "interval '%s': start bound as '%s'", s,
              q->params[k - 1]);
    if (!is_open(to))
        CHECK(strcmp(q->params[k++], to) == 0, "interval '%s': end bound as '%s'", s,
              q->params[k - 1]);
    CHECK(q->n == k, "interval '%s' bound %d values", s, q->n - before);
#ifdef FUZZ_OGC_QUERY_STRICT
    if (!is_open(from) && !is_open(to))
        CHECK(instant_seconds(from, false) <= instant_seconds(to, true),
              "interval '%s' starts after it ends", s);
#endif
}

/* ---- limit and offset ---- */

static bool signed_digits(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s))
        s++;
    return *s == '\0';
}

static void check_page(const struct args *a, struct ogc_query *q)
{
    char msg[MSG_LEN];
    const char *limit = arg(a, "limit"), *offset = arg(a, "offset");
    enum err e = ogc_query_page(q, limit, offset, msg, sizeof(msg));
    if (e != ERR_OK) {
        check_refusal(e, msg);
        return;
    }
    CHECK(q->limit >= 1 && q->limit <= OGC_LIMIT_MAX, "limit %ld", q->limit);
    CHECK(q->offset >= 0 && q->offset <= OGC_OFFSET_MAX, "offset %ld", q->offset);
    CHECK(limit == NULL || signed_digits(limit), "limit '%s' accepted", limit);
    CHECK(offset == NULL || signed_digits(offset), "offset '%s' accepted", offset);
    CHECK(limit != NULL || q->limit == OGC_LIMIT_DEF, "default limit %ld", q->limit);
}

/* ---- each parser, and the items sequence ---- */

static enum err run_filter(struct ogc_query *q, const char *name, const char *value)
{
    char msg[MSG_LEN];
    int before = q->n;
    const char *where = q->where;
    enum err e = ogc_query_filter(q, known, name, value, msg, sizeof(msg));
    if (e != ERR_OK) {
        check_refusal(e, msg);
        return e;
    }
    bool skipped = false;
    for (const char *const *k = known; *k; k++)
        skipped |= strcmp(*k, name) == 0;
    if (skipped) {
        CHECK(q->n == before && q->where == where, "'%s' is the endpoint's own", name);
        return e;
    }
    const struct prop_def *p = layerdef_prop(q->l, name);
    CHECK(p != NULL && (p->flags & PROP_FILTER), "'%s' accepted as a filter", name);
    CHECK(value != NULL && q->n == before + 1 && strcmp(q->params[before], value) == 0,
          "filter '%s' bound", name);
    if (p->type == PROP_BOOL)
        CHECK(strcmp(value, "true") == 0 || strcmp(value, "false") == 0, "bool '%s'", value);
    return e;
}

static enum err run_bbox(struct ogc_query *q, const struct args *a)
{
    char msg[MSG_LEN];
    int before = q->n;
    const char *bbox = arg(a, "bbox"), *bbox_crs = arg(a, "bbox-crs");
    enum err e = ogc_query_bbox(q, bbox, bbox_crs, msg, sizeof(msg));
    if (e != ERR_OK)
        check_refusal(e, msg);
    else
        check_bbox_accepted(q, before, bbox, bbox_crs);
    return e;
}

static enum err run_datetime(struct ogc_query *q, const struct args *a)
{
    char msg[MSG_LEN];
    int before = q->n;
    const char *dt = arg(a, "datetime");
    enum err e = ogc_query_datetime(q, dt, msg, sizeof(msg));
    if (e != ERR_OK)
        check_refusal(e, msg);
    else
        check_datetime_accepted(q, before, dt);
    return e;
}

static void run_crs(struct arena *ar, const struct args *a)
{
    char msg[MSG_LEN];
    struct ogc_crs oc;
    const char *name = arg(a, "crs");
    enum err e = ogc_query_crs(ar, "crs", name, &oc, msg, sizeof(msg));
    if (e != ERR_OK) {
        check_refusal(e, msg);
        return;
    }
    CHECK((int)oc.crs >= 0 && oc.crs < CRS__COUNT && oc.uri != NULL, "crs '%s'", name);
    CHECK(name != NULL || (oc.crs == CRS_WGS84 && !oc.swap), "default crs");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *ar = arena_new();
    if (ar == NULL)
        return 0;
    struct args a;
    struct ogc_query q;
    split_lines(ar, (const char *)data, size, &a);

    /* As the items handler: page, filters in order, bbox, datetime; the first refusal wins. */
    ogc_query_init(&q, ar, a.l);
    check_page(&a, &q);
    enum err e = ERR_OK;
    for (int i = 0; i < a.n && e == ERR_OK; i++)
        e = run_filter(&q, a.name[i], a.value[i]);
    if (e == ERR_OK)
        e = run_bbox(&q, &a);
    if (e == ERR_OK)
        e = run_datetime(&q, &a);
    check_where(&q, e == ERR_OK);

    /* Each parser on a query of its own. */
    ogc_query_init(&q, ar, a.l);
    check_where(&q, run_bbox(&q, &a) == ERR_OK);
    ogc_query_init(&q, ar, a.l);
    check_where(&q, run_datetime(&q, &a) == ERR_OK);
    run_crs(ar, &a);

    arena_free(ar);
    return 0;
}

/*
 * pointindex.c - a hashed uniform grid over lon/lat for patrol points.
 *
 * Cells are cell_lon x cell_lat degrees, sized from the median outer radius at the median
 * latitude. Every point is listed in each cell its outer box touches; cells are stored in
 * compressed rows (entries sorted by cell key) and found through an open-addressing hash.
 * Points whose box would cover more than WIDE_CELLS cells go to a short list checked by every
 * query, and a query box covering more cells than there are points scans all points.
 */
#include "pointindex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIDE_CELLS   1024
#define MAX_RADIUS_M 100000.0
#define MAX_ABS_LAT  85.0

struct cell {
    uint64_t key;
    uint32_t start, count; /* count 0 = empty slot */
};

struct pointindex {
    size_t n;
    struct visits_point *pts;
    struct pointindex_geo *geo;
    double cell_lon, cell_lat; /* degrees */
    struct cell *table;        /* hash table of non-empty cells */
    size_t table_mask;
    uint32_t *entries; /* point indexes, grouped by cell */
    uint32_t *wide;    /* points checked by every query */
    size_t n_wide;
};

double visits_distance_m(const struct visits_point *p, double lon, double lat)
{
    struct localmetric m;
    localmetric_init(&m, p->lon, p->lat);
    return localmetric_dist(&m, lon, lat);
}

bool visits_within(const struct visits_point *p, double lon, double lat)
{
    struct localmetric m;
    double x, y;
    localmetric_init(&m, p->lon, p->lat);
    double d2 = localmetric_eval(&m, lon, lat, &x, &y);
    return d2 <= p->radius_m * p->radius_m;
}

static bool point_valid(const struct visits_point *p)
{
    if (!isfinite(p->lon) || !isfinite(p->lat) || p->lon < -180.0 || p->lon > 180.0)
        return false;
    if (fabs(p->lat) > MAX_ABS_LAT)
        return false;
    if (!(p->radius_m > 0.0) || p->radius_m > MAX_RADIUS_M)
        return false;
    if (!isfinite(p->hysteresis_m) || p->hysteresis_m < 0.0 || p->hysteresis_m > MAX_RADIUS_M)
        return false;
    return p->min_dwell_s >= 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t cell_key(int32_t ix, int32_t iy)
{
    return ((uint64_t)(uint32_t)ix << 32) | (uint64_t)(uint32_t)iy;
}

static size_t cell_hash(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

static int32_t cell_of(double deg, double size)
{
    return (int32_t)floor(deg / size);
}

struct pair {
    uint64_t key;
    uint32_t idx;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->key != y->key)
        return (x->key > y->key) - (x->key < y->key);
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Outer box of a point in degrees, with a margin for the metric's variation over the box. */
static void geo_init(struct pointindex_geo *g, const struct visits_point *p)
{
    localmetric_init(&g->m, p->lon, p->lat);
    g->r = p->radius_m;
    g->outer = p->radius_m + p->hysteresis_m;
    g->r2 = p->radius_m * p->radius_m;
    g->outer2 = g->outer * g->outer;
    double reach = g->outer * 1.001 + 0.01;
    double dlat = reach / g->m.ky0;
    dlat = reach / (g->m.ky0 - fabs(g->m.ky1) * dlat) * 1.001;
    double dlon = reach / (g->m.kx0 - fabs(g->m.kx1) * dlat) * 1.001;
    g->lon_min = p->lon - dlon;
    g->lon_max = p->lon + dlon;
    g->lat_min = p->lat - dlat;
    g->lat_max = p->lat + dlat;
}

/* Grid cell size from the median outer radius at the median latitude. */
static enum err choose_cells(struct pointindex *idx)
{
    double *tmp = malloc((idx->n ? idx->n : 1) * sizeof(*tmp));
    if (tmp == NULL)
        return ERR_INTERNAL;
    for (size_t i = 0; i < idx->n; i++)
        tmp[i] = idx->geo[i].outer;
    qsort(tmp, idx->n, sizeof(*tmp), cmp_double);
    double cell_m = idx->n ? 2.0 * tmp[idx->n / 2] : 100.0;
    for (size_t i = 0; i < idx->n; i++)
        tmp[i] = idx->pts[i].lat;
    qsort(tmp, idx->n, sizeof(*tmp), cmp_double);
    double lat = idx->n ? tmp[idx->n / 2] : 0.0;
    free(tmp);
    if (cell_m < 20.0)
        cell_m = 20.0;
    if (cell_m > 20000.0)
        cell_m = 20000.0;
    struct localmetric m;
    localmetric_init(&m, 0.0, lat);
    idx->cell_lon = cell_m / m.kx0;
    idx->cell_lat = cell_m / m.ky0;
    return ERR_OK;
}

static enum err build_grid(struct pointindex *idx)
{
    size_t n_pairs = 0, cap = idx->n * 4 + 16;
    struct pair *pairs = malloc(cap * sizeof(*pairs));
    idx->wide = malloc((idx->n ? idx->n : 1) * sizeof(*idx->wide));
    if (pairs == NULL || idx->wide == NULL) {
        free(pairs);
        return ERR_INTERNAL;
    }
    for (size_t i = 0; i < idx->n; i++) {
        const struct pointindex_geo *g = &idx->geo[i];
        int32_t x0 = cell_of(g->lon_min, idx->cell_lon), x1 = cell_of(g->lon_max, idx->cell_lon);
        int32_t y0 = cell_of(g->lat_min, idx->cell_lat), y1 = cell_of(g->lat_max, idx->cell_lat);
        size_t cells = (size_t)(x1 - x0 + 1) * (size_t)(y1 - y0 + 1);
        if (cells > WIDE_CELLS) {
            idx->wide[idx->n_wide++] = (uint32_t)i;
            continue;
        }
        if (n_pairs + cells > cap) {
            size_t ncap = (n_pairs + cells) * 2;
            struct pair *np = realloc(pairs, ncap * sizeof(*np));
            if (np == NULL) {
                free(pairs);
                return ERR_INTERNAL;
            }
            pairs = np;
            cap = ncap;
        }
        for (int32_t x = x0; x <= x1; x++)
            for (int32_t y = y0; y <= y1; y++)
                pairs[n_pairs++] = (struct pair){ cell_key(x, y), (uint32_t)i };
    }
    qsort(pairs, n_pairs, sizeof(*pairs), cmp_pair);

    size_t n_cells = 0;
    for (size_t i = 0; i < n_pairs; i++)
        if (i == 0 || pairs[i].key != pairs[i - 1].key)
            n_cells++;
    size_t size = 16;
    while (size < n_cells * 2)
        size *= 2;
    idx->table = calloc(size, sizeof(*idx->table));
    idx->entries = malloc((n_pairs ? n_pairs : 1) * sizeof(*idx->entries));
    if (idx->table == NULL || idx->entries == NULL) {
        free(pairs);
        return ERR_INTERNAL;
    }
    idx->table_mask = size - 1;
    for (size_t i = 0; i < n_pairs;) {
        size_t j = i;
        while (j < n_pairs && pairs[j].key == pairs[i].key) {
            idx->entries[j] = pairs[j].idx;
            j++;
        }
        size_t h = cell_hash(pairs[i].key, idx->table_mask);
        while (idx->table[h].count != 0)
            h = (h + 1) & idx->table_mask;
        idx->table[h] = (struct cell){ pairs[i].key, (uint32_t)i, (uint32_t)(j - i) };
        i = j;
    }
    free(pairs);
    return ERR_OK;
}

enum err pointindex_build(const struct visits_point *pts, size_t n, struct pointindex **out)
{
    *out = NULL;
    if (n >= (size_t)INT32_MAX || (n > 0 && pts == NULL))
        return ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++)
        if (!point_valid(&pts[i]))
            return ERR_INVALID_ARGUMENT;
    int64_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    if (ids == NULL)
        return ERR_INTERNAL;
    for (size_t i = 0; i < n; i++)
        ids[i] = pts[i].id;
    qsort(ids, n, sizeof(*ids), cmp_i64);
    for (size_t i = 1; i < n; i++) {
        if (ids[i] == ids[i - 1]) {
            free(ids);
            return ERR_INVALID_ARGUMENT;
        }
    }
    free(ids);

    struct pointindex *idx = calloc(1, sizeof(*idx));
    if (idx == NULL)
        return ERR_INTERNAL;
    idx->n = n;
    idx->pts = malloc((n ? n : 1) * sizeof(*idx->pts));
    idx->geo = malloc((n ? n : 1) * sizeof(*idx->geo));
    if (idx->pts == NULL || idx->geo == NULL) {
        pointindex_free(idx);
        return ERR_INTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        idx->pts[i] = pts[i];
        geo_init(&idx->geo[i], &pts[i]);
    }
    enum err e = choose_cells(idx);
    if (e == ERR_OK)
        e = build_grid(idx);
    if (e != ERR_OK) {
        pointindex_free(idx);
        return e;
    }
    *out = idx;
    return ERR_OK;
}

void pointindex_free(struct pointindex *idx)
{
    if (idx == NULL)
        return;
    free(idx->pts);
    free(idx->geo);
    free(idx->table);
    free(idx->entries);
    free(idx->wide);
    free(idx);
}

size_t pointindex_count(const struct pointindex *idx)
{
    return idx->n;
}

const struct visits_point *pointindex_point(const struct pointindex *idx, size_t i)
{
    return &idx->pts[i];
}

const struct pointindex_geo *pointindex_geo(const struct pointindex *idx, size_t i)
{
    return &idx->geo[i];
}

static bool box_meets(const struct pointindex_geo *g, double lon_min, double lat_min,
                      double lon_max, double lat_max)
{
    return g->lon_min <= lon_max && g->lon_max >= lon_min && g->lat_min <= lat_max &&
           g->lat_max >= lat_min;
}

static size_t take(const struct pointindex *idx, uint32_t i, double lon_min, double lat_min,
                   double lon_max, double lat_max, uint32_t *stamp, uint32_t qid, uint32_t *out,
                   size_t n)
{
    if (stamp[i] == qid)
        return n;
    if (!box_meets(&idx->geo[i], lon_min, lat_min, lon_max, lat_max))
        return n;
    stamp[i] = qid;
    out[n] = i;
    return n + 1;
}

size_t pointindex_query(const struct pointindex *idx, double lon_min, double lat_min,
                        double lon_max, double lat_max, uint32_t *stamp, uint32_t qid,
                        uint32_t *out)
{
    size_t n = 0;
    if (idx->n == 0)
        return 0;
    for (size_t k = 0; k < idx->n_wide; k++)
        n = take(idx, idx->wide[k], lon_min, lat_min, lon_max, lat_max, stamp, qid, out, n);

    int32_t x0 = cell_of(lon_min, idx->cell_lon), x1 = cell_of(lon_max, idx->cell_lon);
    int32_t y0 = cell_of(lat_min, idx->cell_lat), y1 = cell_of(lat_max, idx->cell_lat);
    double cells = ((double)x1 - x0 + 1.0) * ((double)y1 - y0 + 1.0);
    if (cells > (double)idx->n) {
        for (size_t i = 0; i < idx->n; i++)
            n = take(idx, (uint32_t)i, lon_min, lat_min, lon_max, lat_max, stamp, qid, out, n);
        return n;
    }
    for (int32_t x = x0; x <= x1; x++) {
        for (int32_t y = y0; y <= y1; y++) {
            uint64_t key = cell_key(x, y);
            size_t h = cell_hash(key, idx->table_mask);
            while (idx->table[h].count != 0 && idx->table[h].key != key)
                h = (h + 1) & idx->table_mask;
            const struct cell *c = &idx->table[h];
            for (uint32_t k = 0; k < c->count; k++)
                n = take(idx, idx->entries[c->start + k], lon_min, lat_min, lon_max, lat_max, stamp,
                         qid, out, n);
        }
    }
    return n;
}

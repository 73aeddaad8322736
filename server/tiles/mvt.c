/*
 * mvt.c - the Mapbox Vector Tile 2.1 encoder (see mvt.h): the only user of the generated
 * vector_tile.pb-c.h.
 *
 * A feature's geometry is encoded into command integers as its parts arrive, so a refused
 * part rolls back by restoring a length and the cursor. Its properties wait in the feature
 * until mvt_feature_end and reach the layer's key and value tables only when the feature is
 * written. It is not a clipper, simplifier or projector: coordinates arrive in tile space.
 */
#include "mvt.h"

#include "vector_tile.pb-c.h"

#include <math.h>
#include <string.h>

__extension__ typedef __int128 mvt_wide;

enum { CMD_MOVE_TO = 1, CMD_LINE_TO = 2, CMD_CLOSE_PATH = 7 };
#define MVT_MAX_COUNT ((1u << 29) - 1)

/* Kinds of dictionary entries: a key, or a value of one protobuf type. */
enum dict_kind { KIND_KEY, KIND_STRING, KIND_UINT, KIND_SINT, KIND_DOUBLE, KIND_BOOL };

struct dict_entry {
    uint8_t kind;
    size_t len;
    const uint8_t *bytes; /* the string, or 8 bytes of the number */
    uint64_t hash;
};

/* Open addressing with linear probing; slot holds entry index + 1, 0 when empty. */
struct dict {
    struct dict_entry *e;
    size_t n, cap;
    uint32_t *slot;
    size_t nslot; /* a power of two, at least twice n */
};

struct u32buf {
    uint32_t *v;
    size_t n, cap;
};

struct prop {
    const char *key;
    struct dict_entry value;
};

struct mvt_feature {
    uint64_t id;
    uint8_t type;
    uint32_t *tags;
    size_t ntags;
    uint32_t *geom;
    size_t ngeom;
};

struct mvt_layer {
    struct mvt_tile *tile;
    const char *name;
    uint32_t extent;
    struct dict keys, values;
    struct mvt_feature *features;
    size_t nfeatures, capfeatures;
    /* the open feature */
    bool open;
    uint64_t id;
    enum mvt_geom_type type;
    struct prop *props;
    size_t nprops, capprops;
    struct u32buf geom;
    int64_t cx, cy;    /* the cursor */
    size_t points_cmd; /* MVT_POINT: index of the MoveTo command + 1, 0 before any point */
    struct mvt_layer *next;
};

struct mvt_tile {
    struct arena *arena;
    struct mvt_layer *first, *last;
    size_t nlayers;
};

/* Grows an arena array to hold at least need elements (arenas have no realloc: copy). */
static bool grow(struct arena *a, void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sz)
            return false;
        ncap *= 2;
    }
    void *np = arena_calloc(a, ncap, sz);
    if (np == NULL)
        return false;
    if (*cap)
        memcpy(np, *p, *cap * sz);
    *p = np;
    *cap = ncap;
    return true;
}

static bool u32_push(struct arena *a, struct u32buf *b, uint32_t v)
{
    if (!grow(a, (void **)&b->v, &b->cap, b->n + 1, sizeof(*b->v)))
        return false;
    b->v[b->n++] = v;
    return true;
}

static uint64_t fnv1a(uint8_t kind, const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ kind;
    h *= 1099511628211ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool same_entry(const struct dict_entry *x, const struct dict_entry *y)
{
    return x->hash == y->hash && x->kind == y->kind && x->len == y->len &&
           memcmp(x->bytes, y->bytes, x->len) == 0;
}

static bool dict_rehash(struct arena *a, struct dict *d, size_t nslot)
{
    uint32_t *slot = arena_calloc(a, nslot, sizeof(*slot));
    if (slot == NULL)
        return false;
    for (size_t i = 0; i < d->n; i++) {
        size_t s = (size_t)d->e[i].hash & (nslot - 1);
        while (slot[s] != 0)
            s = (s + 1) & (nslot - 1);
        slot[s] = (uint32_t)(i + 1);
    }
    d->slot = slot;
    d->nslot = nslot;
    return true;
}

/* Index of the entry equal to *q, added (bytes copied) when new; -1 when out of memory. */
static int64_t dict_index(struct arena *a, struct dict *d, const struct dict_entry *q)
{
    if (d->n >= UINT32_MAX - 1)
        return -1;
    if (2 * (d->n + 1) > d->nslot && !dict_rehash(a, d, d->nslot ? d->nslot * 2 : 64))
        return -1;
    size_t s = (size_t)q->hash & (d->nslot - 1);
    while (d->slot[s] != 0) {
        if (same_entry(&d->e[d->slot[s] - 1], q))
            return (int64_t)d->slot[s] - 1;
        s = (s + 1) & (d->nslot - 1);
    }
    if (!grow(a, (void **)&d->e, &d->cap, d->n + 1, sizeof(*d->e)))
        return -1;
    uint8_t *copy = arena_alloc(a, q->len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, q->bytes, q->len);
    copy[q->len] = 0;
    d->e[d->n] = *q;
    d->e[d->n].bytes = copy;
    d->slot[s] = (uint32_t)(d->n + 1);
    return (int64_t)d->n++;
}

struct mvt_tile *mvt_tile_new(struct arena *a)
{
    struct mvt_tile *t = arena_calloc(a, 1, sizeof(*t));
    if (t != NULL)
        t->arena = a;
    return t;
}

enum err mvt_layer_add(struct mvt_tile *t, const char *name, uint32_t extent,
                       struct mvt_layer **out)
{
    *out = NULL;
    if (name == NULL || name[0] == '\0' || extent == 0)
        return ERR_INVALID_ARGUMENT;
    for (struct mvt_layer *l = t->first; l != NULL; l = l->next)
        if (strcmp(l->name, name) == 0)
            return ERR_INVALID_ARGUMENT;
    struct mvt_layer *l = arena_calloc(t->arena, 1, sizeof(*l));
    if (l == NULL || (l->name = arena_strdup(t->arena, name)) == NULL)
        return ERR_INTERNAL;
    l->tile = t;
    l->extent = extent;
    if (t->last != NULL)
        t->last->next = l;
    else
        t->first = l;
    t->last = l;
    t->nlayers++;
    *out = l;
    return ERR_OK;
}

size_t mvt_layer_feature_count(const struct mvt_layer *l)
{
    return l->nfeatures;
}

enum err mvt_feature_begin(struct mvt_layer *l, uint64_t id, enum mvt_geom_type type)
{
    if (type != MVT_POINT && type != MVT_LINESTRING && type != MVT_POLYGON)
        return ERR_INVALID_ARGUMENT;
    enum err e = mvt_feature_end(l);
    if (e != ERR_OK)
        return e;
    l->open = true;
    l->id = id;
    l->type = type;
    l->nprops = 0;
    l->geom = (struct u32buf){ 0 };
    l->cx = l->cy = 0;
    l->points_cmd = 0;
    return ERR_OK;
}

static enum err add_prop(struct mvt_layer *l, const char *key, uint8_t kind, const void *bytes,
                         size_t len)
{
    if (!l->open || key == NULL || key[0] == '\0' || bytes == NULL)
        return ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < l->nprops; i++)
        if (strcmp(l->props[i].key, key) == 0)
            return ERR_INVALID_ARGUMENT;
    struct arena *a = l->tile->arena;
    if (!grow(a, (void **)&l->props, &l->capprops, l->nprops + 1, sizeof(*l->props)))
        return ERR_INTERNAL;
    uint8_t *copy = arena_alloc(a, len + 1);
    const char *kcopy = arena_strdup(a, key);
    if (copy == NULL || kcopy == NULL)
        return ERR_INTERNAL;
    memcpy(copy, bytes, len);
    copy[len] = 0;
    struct prop *p = &l->props[l->nprops++];
    p->key = kcopy;
    p->value = (struct dict_entry){ .kind = kind, .len = len, .bytes = copy };
    p->value.hash = fnv1a(kind, copy, len);
    return ERR_OK;
}

enum err mvt_feature_add_string(struct mvt_layer *l, const char *key, const char *value)
{
    return add_prop(l, key, KIND_STRING, value, value ? strlen(value) : 0);
}

enum err mvt_feature_add_int(struct mvt_layer *l, const char *key, int64_t value)
{
    uint64_t u = (uint64_t)value;
    return add_prop(l, key, value >= 0 ? KIND_UINT : KIND_SINT, &u, sizeof(u));
}

enum err mvt_feature_add_double(struct mvt_layer *l, const char *key, double value)
{
    return add_prop(l, key, KIND_DOUBLE, &value, sizeof(value));
}

enum err mvt_feature_add_bool(struct mvt_layer *l, const char *key, bool value)
{
    uint8_t b = value ? 1 : 0;
    return add_prop(l, key, KIND_BOOL, &b, sizeof(b));
}

enum err mvt_feature_end(struct mvt_layer *l)
{
    if (!l->open)
        return ERR_OK;
    l->open = false;
    if (l->geom.n == 0)
        return ERR_OK; /* nothing left to draw: the feature and its properties go */
    struct arena *a = l->tile->arena;
    if (!grow(a, (void **)&l->features, &l->capfeatures, l->nfeatures + 1, sizeof(*l->features)))
        return ERR_INTERNAL;
    uint32_t *tags = arena_calloc(a, 2 * l->nprops + 1, sizeof(*tags));
    if (tags == NULL)
        return ERR_INTERNAL;
    for (size_t i = 0; i < l->nprops; i++) {
        const char *key = l->props[i].key;
        struct dict_entry k = { .kind = KIND_KEY, .len = strlen(key), .bytes = (const void *)key };
        k.hash = fnv1a(KIND_KEY, k.bytes, k.len);
        int64_t ki = dict_index(a, &l->keys, &k);
        int64_t vi = dict_index(a, &l->values, &l->props[i].value);
        if (ki < 0 || vi < 0)
            return ERR_INTERNAL;
        tags[2 * i] = (uint32_t)ki;
        tags[2 * i + 1] = (uint32_t)vi;
    }
    l->features[l->nfeatures++] = (struct mvt_feature){ .id = l->id,
                                                        .type = (uint8_t)l->type,
                                                        .tags = tags,
                                                        .ntags = 2 * l->nprops,
                                                        .geom = l->geom.v,
                                                        .ngeom = l->geom.n };
    return ERR_OK;
}

struct pt {
    int32_t x, y;
};

static uint32_t command(uint32_t id, uint32_t count)
{
    return (id & 0x7) | (count << 3);
}

/* Zigzag of a sint32, in unsigned arithmetic (a signed left shift of a negative is UB). */
static uint32_t zigzag(int32_t v)
{
    uint32_t u = (uint32_t)v;
    return (u << 1) ^ (0u - (u >> 31));
}

/* Rounds one coordinate half away from zero into *out; false when it is not finite or the
 * rounded value does not fit int32. */
static bool quantise(double v, int32_t *out)
{
    if (!(v > -2147483648.5 && v < 2147483647.5))
        return false;
    double r = round(v);
    if (r < -2147483648.0 || r > 2147483647.0)
        return false;
    *out = (int32_t)r;
    return true;
}

/* Rounds n points into out (caller's array of n) and removes consecutive repeats; the number
 * kept, or -1 when a coordinate is refused. */
static int64_t quantise_points(const double *xy, size_t n, struct pt *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        struct pt p;
        if (!quantise(xy[2 * i], &p.x) || !quantise(xy[2 * i + 1], &p.y))
            return -1;
        if (m > 0 && out[m - 1].x == p.x && out[m - 1].y == p.y)
            continue;
        out[m++] = p;
    }
    return (int64_t)m;
}

/* Appends the zigzag delta from the cursor to p and moves the cursor; false when the delta
 * does not fit int32 or out of memory (*oom tells which). */
static bool emit_point(struct mvt_layer *l, struct pt p, bool *oom)
{
    int64_t dx = (int64_t)p.x - l->cx, dy = (int64_t)p.y - l->cy;
    if (dx < INT32_MIN || dx > INT32_MAX || dy < INT32_MIN || dy > INT32_MAX)
        return false;
    struct arena *a = l->tile->arena;
    if (!u32_push(a, &l->geom, zigzag((int32_t)dx)) ||
        !u32_push(a, &l->geom, zigzag((int32_t)dy))) {
        *oom = true;
        return false;
    }
    l->cx = p.x;
    l->cy = p.y;
    return true;
}

/* The undo point of a part. */
struct mark {
    size_t n, points_cmd;
    int64_t cx, cy;
};

static struct mark mark_of(const struct mvt_layer *l)
{
    return (struct mark){ l->geom.n, l->points_cmd, l->cx, l->cy };
}

static enum err undo(struct mvt_layer *l, struct mark m, bool oom)
{
    l->geom.n = m.n;
    l->points_cmd = m.points_cmd;
    l->cx = m.cx;
    l->cy = m.cy;
    return oom ? ERR_INTERNAL : ERR_INVALID_ARGUMENT;
}

/* Emits MoveTo p[0], LineTo p[1..n-1] (n >= 1), and ClosePath when close. */
static bool emit_path(struct mvt_layer *l, const struct pt *p, size_t n, bool close, bool *oom)
{
    struct arena *a = l->tile->arena;
    if (!u32_push(a, &l->geom, command(CMD_MOVE_TO, 1))) {
        *oom = true;
        return false;
    }
    if (!emit_point(l, p[0], oom))
        return false;
    if (n > 1) {
        if (!u32_push(a, &l->geom, command(CMD_LINE_TO, (uint32_t)(n - 1)))) {
            *oom = true;
            return false;
        }
        for (size_t i = 1; i < n; i++)
            if (!emit_point(l, p[i], oom))
                return false;
    }
    if (close && !u32_push(a, &l->geom, command(CMD_CLOSE_PATH, 1))) {
        *oom = true;
        return false;
    }
    return true;
}

/*
 * Quantises the n points of xy into new arena memory of l: ERR_OK with *out and *m (the points
 * kept, repeats removed); ERR_INVALID_ARGUMENT for too many points, xy NULL with n > 0, NaN,
 * infinity or a coordinate outside int32; ERR_INTERNAL when out of memory.
 */
static enum err quantise_part(struct mvt_layer *l, const double *xy, size_t n, struct pt **out,
                              int64_t *m)
{
    if (n > MVT_MAX_COUNT || (xy == NULL && n > 0))
        return ERR_INVALID_ARGUMENT;
    *out = arena_calloc(l->tile->arena, n ? n : 1, sizeof(struct pt));
    if (*out == NULL)
        return ERR_INTERNAL;
    *m = quantise_points(xy, n, *out);
    return *m < 0 ? ERR_INVALID_ARGUMENT : ERR_OK;
}

enum err mvt_feature_add_points(struct mvt_layer *l, const double *xy, size_t n)
{
    if (!l->open || l->type != MVT_POINT || (xy == NULL && n > 0))
        return ERR_INVALID_ARGUMENT;
    if (n == 0)
        return ERR_OK;
    struct pt *p;
    int64_t m;
    enum err e = quantise_part(l, xy, n, &p, &m);
    if (e != ERR_OK)
        return e;
    struct mark mk = mark_of(l);
    bool oom = false;
    size_t start = 0;
    if (l->points_cmd == 0) {
        if (!u32_push(l->tile->arena, &l->geom, command(CMD_MOVE_TO, 0)))
            return undo(l, mk, true);
        l->points_cmd = l->geom.n;
    } else if (p[0].x == l->cx && p[0].y == l->cy) {
        start = 1; /* repeats the last point of the previous call */
    }
    size_t count = (l->geom.n - l->points_cmd) / 2;
    if (count + (size_t)m - start > MVT_MAX_COUNT)
        return undo(l, mk, false);
    for (size_t i = start; i < (size_t)m; i++)
        if (!emit_point(l, p[i], &oom))
            return undo(l, mk, oom);
    count = (l->geom.n - l->points_cmd) / 2;
    l->geom.v[l->points_cmd - 1] = command(CMD_MOVE_TO, (uint32_t)count);
    return ERR_OK;
}

enum err mvt_feature_add_line(struct mvt_layer *l, const double *xy, size_t n)
{
    if (!l->open || l->type != MVT_LINESTRING || (xy == NULL && n > 0))
        return ERR_INVALID_ARGUMENT;
    struct pt *p;
    int64_t m;
    enum err e = quantise_part(l, xy, n, &p, &m);
    if (e != ERR_OK)
        return e;
    if (m < 2)
        return ERR_OK; /* no length after rounding: dropped */
    struct mark mk = mark_of(l);
    bool oom = false;
    if (!emit_path(l, p, (size_t)m, false, &oom))
        return undo(l, mk, oom);
    return ERR_OK;
}

/* Twice the signed area by the surveyor's formula, exact (y down: positive is clockwise on
 * screen, the spec's exterior). */
static mvt_wide area2(const struct pt *p, size_t n)
{
    mvt_wide s = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        int64_t ax = (int64_t)p[i].x - p[0].x, ay = (int64_t)p[i].y - p[0].y;
        int64_t bx = (int64_t)p[i + 1].x - p[0].x, by = (int64_t)p[i + 1].y - p[0].y;
        s += (mvt_wide)ax * by - (mvt_wide)bx * ay;
    }
    return s;
}

/* Drops the closing repeats of the m quantised points of a ring and turns it to the wanted
 * sign. Returns the number of points kept (0 when degenerate). */
static int64_t prepare_ring(struct pt *p, int64_t m, bool exterior)
{
    while (m > 1 && p[m - 1].x == p[0].x && p[m - 1].y == p[0].y)
        m--;
    if (m < 3)
        return 0;
    mvt_wide a = area2(p, (size_t)m);
    if (a == 0)
        return 0;
    if ((a > 0) != exterior) {
        for (int64_t i = 1, j = m - 1; i < j; i++, j--) {
            struct pt t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
    }
    return m;
}

enum err mvt_feature_add_polygon(struct mvt_layer *l, const double *const *rings,
                                 const size_t *counts, size_t nrings)
{
    if (!l->open || l->type != MVT_POLYGON || (nrings > 0 && (rings == NULL || counts == NULL)))
        return ERR_INVALID_ARGUMENT;
    struct mark mk = mark_of(l);
    bool oom = false;
    for (size_t r = 0; r < nrings; r++) {
        struct pt *p;
        int64_t m;
        enum err e = quantise_part(l, rings[r], counts[r], &p, &m);
        if (e != ERR_OK)
            return undo(l, mk, e == ERR_INTERNAL);
        m = prepare_ring(p, m, r == 0);
        if (m == 0 && r == 0) {
            /* no exterior: the holes go with it, but are still checked for bad input */
            for (size_t h = 1; h < nrings; h++) {
                e = quantise_part(l, rings[h], counts[h], &p, &m);
                if (e != ERR_OK)
                    return undo(l, mk, e == ERR_INTERNAL);
            }
            return ERR_OK;
        }
        if (m == 0)
            continue;
        if (!emit_path(l, p, (size_t)m, true, &oom))
            return undo(l, mk, oom);
    }
    return ERR_OK;
}

static VectorTile__Tile__Value *make_value(struct arena *a, const struct dict_entry *e)
{
    VectorTile__Tile__Value *v = arena_alloc(a, sizeof(*v));
    if (v == NULL)
        return NULL;
    vector_tile__tile__value__init(v);
    uint64_t u = 0;
    double d = 0;
    switch (e->kind) {
    case KIND_STRING:
        v->string_value = (char *)e->bytes; /* NUL-terminated by dict_index */
        break;
    case KIND_UINT:
        memcpy(&u, e->bytes, sizeof(u));
        v->has_uint_value = 1;
        v->uint_value = u;
        break;
    case KIND_SINT:
        memcpy(&u, e->bytes, sizeof(u));
        v->has_sint_value = 1;
        v->sint_value = (int64_t)u;
        break;
    case KIND_DOUBLE:
        memcpy(&d, e->bytes, sizeof(d));
        v->has_double_value = 1;
        v->double_value = d;
        break;
    default:
        v->has_bool_value = 1;
        v->bool_value = e->bytes[0] != 0;
        break;
    }
    return v;
}

static VectorTile__Tile__Layer *make_layer(struct arena *a, const struct mvt_layer *l)
{
    VectorTile__Tile__Layer *m = arena_alloc(a, sizeof(*m));
    if (m == NULL)
        return NULL;
    vector_tile__tile__layer__init(m);
    m->version = 2;
    m->name = (char *)l->name;
    m->has_extent = 1;
    m->extent = l->extent;
    m->features = arena_calloc(a, l->nfeatures, sizeof(*m->features));
    m->keys = arena_calloc(a, l->keys.n + 1, sizeof(*m->keys));
    m->values = arena_calloc(a, l->values.n + 1, sizeof(*m->values));
    if (m->features == NULL || m->keys == NULL || m->values == NULL)
        return NULL;
    for (size_t i = 0; i < l->nfeatures; i++) {
        const struct mvt_feature *f = &l->features[i];
        VectorTile__Tile__Feature *mf = arena_alloc(a, sizeof(*mf));
        if (mf == NULL)
            return NULL;
        vector_tile__tile__feature__init(mf);
        mf->has_id = 1;
        mf->id = f->id;
        mf->has_type = 1;
        mf->type = (VectorTile__Tile__GeomType)f->type;
        mf->n_tags = f->ntags;
        mf->tags = f->tags;
        mf->n_geometry = f->ngeom;
        mf->geometry = f->geom;
        m->features[i] = mf;
    }
    m->n_features = l->nfeatures;
    for (size_t i = 0; i < l->keys.n; i++)
        m->keys[i] = (char *)l->keys.e[i].bytes;
    m->n_keys = l->keys.n;
    for (size_t i = 0; i < l->values.n; i++)
        if ((m->values[i] = make_value(a, &l->values.e[i])) == NULL)
            return NULL;
    m->n_values = l->values.n;
    return m;
}

enum err mvt_tile_encode(struct mvt_tile *t, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    struct arena *a = t->arena;
    VectorTile__Tile tile = VECTOR_TILE__TILE__INIT;
    tile.layers = arena_calloc(a, t->nlayers + 1, sizeof(*tile.layers));
    if (tile.layers == NULL)
        return ERR_INTERNAL;
    for (struct mvt_layer *l = t->first; l != NULL; l = l->next) {
        enum err e = mvt_feature_end(l);
        if (e != ERR_OK)
            return e;
        if (l->nfeatures == 0)
            continue;
        if ((tile.layers[tile.n_layers] = make_layer(a, l)) == NULL)
            return ERR_INTERNAL;
        tile.n_layers++;
    }
    /* The exact size is known up front, so the bytes are one arena allocation: protobuf-c
     * allocates nothing when packing into a flat buffer. */
    size_t n = vector_tile__tile__get_packed_size(&tile);
    uint8_t *buf = arena_alloc(a, n + 1);
    if (buf == NULL)
        return ERR_INTERNAL;
    *len = vector_tile__tile__pack(&tile, buf);
    *out = buf;
    return *len == n ? ERR_OK : ERR_INTERNAL;
}

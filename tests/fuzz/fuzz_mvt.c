/*
 * fuzz_mvt.c - libFuzzer target for the MVT encoder (server/tiles/mvt.h).
 *
 * The bytes are a little program: start features of any type, give them properties and
 * points, multipoints, lines and polygons with holes whose coordinates come from a palette
 * that holds NaN, infinities, values at and past the int32 limits, halves that round either
 * way, repeats of the previous and of the first point (self-touching rings) and empty parts;
 * add a second layer; end features. The tile is encoded and unpacked with protobuf-c, and it
 * asserts what mvt.h promises:
 *   - encoding succeeds and the bytes unpack;
 *   - each layer is version 2 with its extent set, layers appear in the order added and only
 *     when they have features; feature ids are set and are those of features begun (in
 *     order), types are set and match;
 *   - tags come in pairs of valid indexes; keys and values are distinct (deduplicated);
 *   - every geometry is well formed (mvt_decode.h): counts, one MoveTo per point feature,
 *     MoveTo(1) LineTo(n >= 1) for lines without repeated points, rings of at least 3
 *     points closed by ClosePath, no zero-area ring, the first ring an exterior (positive
 *     area), and no more exteriors than polygons accepted for the feature.
 */
#include "mvt.h"
#include "vector_tile.pb-c.h"
#include "mvt_decode.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_mvt: %s: ", #cond);                                              \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_FEATURES     256
#define MAX_INPUT_POINTS 3000
#define MAX_RING_POINTS  16

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t next(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* One coordinate: mostly small values with fractions, sometimes a hard case. */
static double coord(struct input *in, double prev, double first)
{
    uint8_t b = next(in);
    static const double special[] = { NAN,           INFINITY,      -INFINITY,    1e300,
                                      2147483647.0,  -2147483648.0, 2147483647.5, -2147483648.5,
                                      2147483647.49, 0.5,           -0.5,         4096,
                                      -128,          4224,          1e9,          -1e9 };
    if (b < 200)
        return ((double)b - 100.0) * 0.37;
    if (b < 216)
        return special[b - 200];
    if (b < 236)
        return prev;
    return first;
}

static size_t points(struct input *in, double *xy, size_t max)
{
    size_t n = next(in) % (max + 1);
    for (size_t i = 0; i < n; i++) {
        double px = i ? xy[2 * i - 2] : 0, py = i ? xy[2 * i - 1] : 0;
        xy[2 * i] = coord(in, px, xy[0]);
        xy[2 * i + 1] = coord(in, py, i ? xy[1] : 0);
    }
    return n;
}

struct begun {
    struct mvt_layer *layer;
    uint64_t id;
    enum mvt_geom_type type;
    size_t polygons; /* add_polygon calls accepted */
};

static const char *const keys[] = { "name", "kind", "radius", "in_season", "名称" };

static void check_tile(const uint8_t *buf, size_t len, struct mvt_layer *const *layers,
                       const uint32_t *extents, size_t nlayers, const struct begun *b,
                       size_t nbegun)
{
    VectorTile__Tile *t = vector_tile__tile__unpack(NULL, len, buf);
    CHECK(t != NULL, "%zu bytes do not unpack", len);
    size_t li = 0, fi = 0;
    struct mvtd *d = calloc(1, sizeof(*d));
    CHECK(d != NULL, "out of memory");
    for (size_t i = 0; i < t->n_layers; i++) {
        const VectorTile__Tile__Layer *ly = t->layers[i];
        fi = 0;
        while (li < nlayers && mvt_layer_feature_count(layers[li]) == 0)
            li++;
        CHECK(li < nlayers, "more layers than added");
        CHECK(ly->version == 2, "version %u", ly->version);
        CHECK(ly->has_extent && ly->extent == extents[li], "extent %u", ly->extent);
        CHECK(ly->n_features == mvt_layer_feature_count(layers[li]) && ly->n_features > 0,
              "%zu features", ly->n_features);
        for (size_t k = 0; k < ly->n_keys; k++)
            for (size_t k2 = 0; k2 < k; k2++)
                CHECK(strcmp(ly->keys[k], ly->keys[k2]) != 0, "key %s twice", ly->keys[k]);
        for (size_t v = 0; v < ly->n_values; v++)
            for (size_t v2 = 0; v2 < v; v2++) {
                size_t sa = protobuf_c_message_get_packed_size(&ly->values[v]->base);
                size_t sb = protobuf_c_message_get_packed_size(&ly->values[v2]->base);
                uint8_t pa[256], pb[256];
                if (sa > sizeof(pa) || sb > sizeof(pb) || sa != sb)
                    continue;
                protobuf_c_message_pack(&ly->values[v]->base, pa);
                protobuf_c_message_pack(&ly->values[v2]->base, pb);
                CHECK(memcmp(pa, pb, sa) != 0, "value %zu repeats value %zu", v, v2);
            }
        for (size_t j = 0; j < ly->n_features; j++) {
            const VectorTile__Tile__Feature *f = ly->features[j];
            CHECK(f->has_id && f->has_type, "id or type not set");
            while (fi < nbegun && (b[fi].layer != layers[li] || b[fi].id != f->id))
                fi++;
            CHECK(fi < nbegun, "feature id %llu was not begun (or out of order)",
                  (unsigned long long)f->id);
            CHECK((int)f->type == (int)b[fi].type, "type %d for %d", (int)f->type, (int)b[fi].type);
            CHECK(f->n_tags % 2 == 0, "odd tags");
            for (size_t k = 0; k < f->n_tags; k += 2)
                CHECK(f->tags[k] < ly->n_keys && f->tags[k + 1] < ly->n_values, "tag index");
            CHECK(mvtd_decode(f->geometry, f->n_geometry, (int)f->type, d), "feature %llu: %s",
                  (unsigned long long)f->id, d->why);
            if (f->type == VECTOR_TILE__TILE__GEOM_TYPE__POLYGON) {
                size_t exteriors = 0;
                for (size_t p = 0; p < d->nparts; p++)
                    exteriors += d->area_sign[p] > 0;
                CHECK(exteriors <= b[fi].polygons, "%zu exteriors from %zu polygons", exteriors,
                      b[fi].polygons);
            }
            fi++;
        }
        li++;
    }
#ifdef FUZZ_MVT_VERBOSE /* what a seed exercises: cc -DFUZZ_MVT_VERBOSE */
    for (size_t i = 0; i < t->n_layers; i++)
        fprintf(stderr, "layer %s: %zu features, %zu keys, %zu values\n", t->layers[i]->name,
                t->layers[i]->n_features, t->layers[i]->n_keys, t->layers[i]->n_values);
#endif
    free(d);
    vector_tile__tile__free_unpacked(t, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size };
    struct arena *a = arena_new();
    struct mvt_tile *t = a ? mvt_tile_new(a) : NULL;
    static const uint32_t extent_choice[] = { 4096, 256, 1, 512 };
    struct mvt_layer *layers[2];
    uint32_t extents[2];
    size_t nlayers = 0;
    struct begun *b = calloc(MAX_FEATURES, sizeof(*b));
    if (t == NULL || b == NULL)
        goto out;
    extents[0] = extent_choice[next(&in) % 4];
    CHECK(mvt_layer_add(t, "a", extents[0], &layers[0]) == ERR_OK, "layer");
    nlayers = 1;
    struct mvt_layer *l = layers[0];
    size_t nbegun = 0, total_points = 0;
    long cur[2] = { -1, -1 }; /* the open feature of each layer, an index into b */
    size_t k = 0;             /* the layer in use */
    double xy[2 * MAX_RING_POINTS * 4];
    while (in.n > 0 && total_points < MAX_INPUT_POINTS) {
        uint8_t op = next(&in);
        switch (op % 6) {
        case 0: {
            if (nbegun == MAX_FEATURES)
                break;
            enum mvt_geom_type type = (enum mvt_geom_type)(next(&in) % 3 + 1);
            uint64_t id = nbegun * 0x9e3779b97f4a7c15ull; /* distinct, some huge */
            CHECK(mvt_feature_begin(l, id, type) == ERR_OK, "begin");
            b[nbegun] = (struct begun){ l, id, type, 0 };
            cur[k] = (long)nbegun++;
            break;
        }
        case 1: {
            const char *key = keys[next(&in) % 5];
            uint8_t v = next(&in);
            enum err e;
            switch (v % 4) {
            case 0:
                e = mvt_feature_add_string(l, key, v & 4 ? "kindergarten" : "小学");
                break;
            case 1:
                e = mvt_feature_add_int(l, key, (int64_t)v - 128);
                break;
            case 2:
                e = mvt_feature_add_double(l, key, v & 4 ? NAN : (double)v / 3);
                break;
            default:
                e = mvt_feature_add_bool(l, key, v & 4);
                break;
            }
            CHECK(e == ERR_OK || e == ERR_INVALID_ARGUMENT, "property: %d", (int)e);
            CHECK(cur[k] >= 0 || e == ERR_INVALID_ARGUMENT, "property without a feature");
            break;
        }
        case 2:
        case 3: {
            struct begun *f = cur[k] >= 0 ? &b[cur[k]] : NULL;
            enum mvt_geom_type type = f ? f->type : MVT_POINT;
            enum err e;
            if (op & 0x40) /* a wrong type now and then */
                type = (enum mvt_geom_type)(type % 3 + 1);
            if (type == MVT_POLYGON) {
                size_t nrings = next(&in) % 4, counts[3];
                const double *rings[3];
                for (size_t r = 0; r < nrings; r++) {
                    counts[r] = points(&in, xy + 2 * MAX_RING_POINTS * r, MAX_RING_POINTS);
                    rings[r] = xy + 2 * MAX_RING_POINTS * r;
                    total_points += counts[r];
                }
                e = mvt_feature_add_polygon(l, rings, counts, nrings);
                if (e == ERR_OK && f != NULL)
                    f->polygons++;
            } else {
                size_t n = points(&in, xy, MAX_RING_POINTS);
                total_points += n;
                if (type == MVT_POINT)
                    e = mvt_feature_add_points(l, xy, n);
                else
                    e = mvt_feature_add_line(l, xy, n);
            }
            CHECK(e == ERR_OK || e == ERR_INVALID_ARGUMENT, "geometry: %d", (int)e);
            CHECK(e != ERR_OK || (f != NULL && type == f->type), "wrong type accepted");
            break;
        }
        case 4:
            CHECK(mvt_feature_end(l) == ERR_OK, "end");
            cur[k] = -1;
            break;
        default:
            if (nlayers == 1) {
                extents[1] = extent_choice[next(&in) % 4];
                CHECK(mvt_layer_add(t, "a", 4096, &layers[1]) == ERR_INVALID_ARGUMENT, "dup");
                CHECK(mvt_layer_add(t, "b", extents[1], &layers[1]) == ERR_OK, "layer b");
                nlayers = 2;
            }
            k = op & 0x80 ? 1 : 0;
            l = layers[k];
            break;
        }
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(mvt_tile_encode(t, &buf, &len) == ERR_OK, "encode");
    check_tile(buf, len, layers, extents, nlayers, b, nbegun);
out:
    free(b);
    arena_free(a);
    return 0;
}

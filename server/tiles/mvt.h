/*
 * mvt.h - a Mapbox Vector Tile 2.1 encoder: layers, features with ids and properties,
 * geometries in tile coordinates, packed with protobuf-c into arena memory.
 *
 * It is not a clipper or a simplifier and knows no projection: the caller hands it
 * coordinates already in tile space (x to the right, y down, 0..extent plus any buffer) as
 * doubles, and the encoder rounds them to integers (half away from zero) itself. After
 * rounding it removes repeated points, drops degenerate parts (a line with fewer than 2
 * distinct points; a ring with fewer than 3 distinct points or zero area, a hole with it; a
 * polygon whose exterior ring is dropped, with its holes), and turns rings so that exterior
 * rings have a positive surveyor's-formula area in tile coordinates (clockwise on screen) and
 * holes a negative one (MVT spec 4.3.4.4). A feature with no geometry left is not written; a
 * layer with no feature is not written, so an empty tile encodes to zero bytes.
 *
 * Coordinates and the deltas between consecutive points of a feature must fit int32 (the
 * spec's parameter integers are zigzag sint32): a part that does not, or that has a NaN or an
 * infinity, is refused with ERR_INVALID_ARGUMENT and leaves the feature as it was.
 *
 * Everything lives in the arena handed to mvt_tile_new: there is no mvt_tile_free, the tile
 * goes with its arena. Not thread-safe: one tile belongs to one thread. Strings must be UTF-8.
 */
#ifndef PATROL_MVT_H
#define PATROL_MVT_H

#include "arena.h"
#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mvt_tile;
struct mvt_layer;

/* The geometry types of the spec (the values are the spec's GeomType numbers). */
enum mvt_geom_type {
    MVT_POINT = 1,      /* one point or a multipoint */
    MVT_LINESTRING = 2, /* one line or a multiline */
    MVT_POLYGON = 3,    /* one polygon (with holes) or a multipolygon */
};

/* The extent most clients expect. */
#define MVT_EXTENT_DEFAULT 4096u

/* New empty tile whose memory comes from a (borrowed; it must outlive the tile), or NULL when
 * out of memory. */
struct mvt_tile *mvt_tile_new(struct arena *a);

/*
 * Adds a layer (version 2) named name (copied) with extent (> 0) to the tile; *out is the
 * layer, owned by the tile. ERR_INVALID_ARGUMENT for an empty name, a name the tile already
 * has, or extent 0; ERR_INTERNAL when out of memory. Layers are written in the order added.
 */
enum err mvt_layer_add(struct mvt_tile *t, const char *name, uint32_t extent,
                       struct mvt_layer **out);

/*
 * Starts a feature of the layer with the given id (always written: has_id) and type. A
 * feature still open in the layer is ended first (mvt_feature_end). ERR_INVALID_ARGUMENT for
 * an unknown type.
 */
enum err mvt_feature_begin(struct mvt_layer *l, uint64_t id, enum mvt_geom_type type);

/*
 * Properties of the open feature. key and the string value are copied. Keys and values are
 * deduplicated per layer (a hash table each: a layer of a few thousand features with distinct
 * names would make a linear search quadratic). An integer is written as uint_value when >= 0,
 * else as sint_value; a double as double_value (deduplicated by its bits). A key given twice
 * to one feature, an empty key or no open feature: ERR_INVALID_ARGUMENT; out of memory:
 * ERR_INTERNAL.
 */
enum err mvt_feature_add_string(struct mvt_layer *l, const char *key, const char *value);
enum err mvt_feature_add_int(struct mvt_layer *l, const char *key, int64_t value);
enum err mvt_feature_add_double(struct mvt_layer *l, const char *key, double value);
enum err mvt_feature_add_bool(struct mvt_layer *l, const char *key, bool value);

/*
 * Geometry of the open feature, as n points xy[2*i], xy[2*i+1] (borrowed, read during the
 * call only). Each call must match the feature's type, else ERR_INVALID_ARGUMENT:
 *   - mvt_feature_add_points (MVT_POINT): points appended to the feature's multipoint;
 *   - mvt_feature_add_line (MVT_LINESTRING): one line of the feature's multiline;
 *   - mvt_feature_add_polygon (MVT_POLYGON): one polygon of the feature's multipolygon, ring
 *     0 the exterior and rings 1..nrings-1 its holes; ring r has counts[r] points, closed
 *     (last point equal to the first) or not.
 * A part dropped as degenerate is not an error. A part that is refused (NaN, infinity, a
 * coordinate or delta outside int32, more than 2^29-1 points) leaves the feature unchanged.
 */
enum err mvt_feature_add_points(struct mvt_layer *l, const double *xy, size_t n);
enum err mvt_feature_add_line(struct mvt_layer *l, const double *xy, size_t n);
enum err mvt_feature_add_polygon(struct mvt_layer *l, const double *const *rings,
                                 const size_t *counts, size_t nrings);

/*
 * Ends the open feature: when some geometry is left it is written with its properties, else
 * it is dropped with them (no key or value of a dropped feature reaches the layer). No open
 * feature: a no-op. ERR_INTERNAL when out of memory.
 */
enum err mvt_feature_end(struct mvt_layer *l);

/* Features written to the layer so far (an open feature is not counted). */
size_t mvt_layer_feature_count(const struct mvt_layer *l);

/*
 * Ends any open feature and packs the tile with protobuf-c into arena memory: *out (owned by
 * the arena) and *len. An empty tile gives *len 0 (and a non-NULL *out). ERR_INTERNAL when
 * out of memory. The tile can be encoded again after more features are added.
 */
enum err mvt_tile_encode(struct mvt_tile *t, uint8_t **out, size_t *len);

#endif

/*
 * pointindex.h - an immutable spatial index of patrol points for the visit engine.
 *
 * Built once from a snapshot of the patrol points (pointindex_build), then read by any number
 * of threads without locks; rebuilt and swapped when the layer changes. Each point is
 * registered in the cells of a uniform lon/lat grid that its outer circle (radius + hysteresis)
 * touches; a query returns every point whose outer box meets a given lon/lat box. A grid, not
 * a GEOS STRtree: for circles of similar size it answers a track segment's query in a few
 * hash probes with no allocation and no GEOS calls (tests/bench/bench_engine.c).
 *
 * Also here: the one "is this fix within the point's radius" predicate (visits_within), the
 * decision the engine makes at every fix, exposed so tests can compare it with PostGIS
 * ST_DWithin(geography, geography, r) (tests/tools/within_check.c).
 *
 * What it is not: the visit state machine (visits.h) or a general-purpose R-tree. Coordinates
 * are WGS84 degrees; points beyond +-85 degrees of latitude are refused, and circles that
 * straddle the antimeridian are not supported.
 */
#ifndef PATROL_POINTINDEX_H
#define PATROL_POINTINDEX_H

#include "err.h"
#include "localmetric.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A patrol point as the engine sees it (docs/data-model.md, patrol_points). */
struct visits_point {
    int64_t id;          /* patrol_points.id, unique within an index */
    double lon, lat;     /* WGS84 degrees */
    double radius_m;     /* > 0: a visit starts within this distance */
    double hysteresis_m; /* >= 0: and ends beyond radius_m + hysteresis_m */
    int32_t min_dwell_s; /* >= 0: read by check-ins, not by visits */
};

/* Distance in metres from the point to (lon, lat): localmetric.h around the point. */
double visits_distance_m(const struct visits_point *p, double lon, double lat);

/*
 * True when (lon, lat) is within p->radius_m of the point (distance <= radius). The engine
 * decides "inside" at every fix with exactly this computation.
 */
bool visits_within(const struct visits_point *p, double lon, double lat);

struct pointindex;

/*
 * Builds an index of n points (copied; pts is borrowed). Returns ERR_INVALID_ARGUMENT for a
 * non-finite or out-of-range coordinate (|lat| > 85), radius_m <= 0 or > 100 km, a negative
 * or non-finite hysteresis, a negative min_dwell_s, a duplicate id, or n >= 2^31;
 * ERR_INTERNAL when out of memory. On ERR_OK *out is new: free with pointindex_free.
 * n = 0 gives a valid empty index.
 */
enum err pointindex_build(const struct visits_point *pts, size_t n, struct pointindex **out);

/* Frees the index. pointindex_free(NULL) is a no-op. */
void pointindex_free(struct pointindex *idx);

/* Number of points. */
size_t pointindex_count(const struct pointindex *idx);

/* Point i (0 <= i < count), in the order given to pointindex_build. Borrowed from idx. */
const struct visits_point *pointindex_point(const struct pointindex *idx, size_t i);

/* ---- for the engine (visits.c) ------------------------------------------------------------ */

/* Per-point geometry precomputed at build time. */
struct pointindex_geo {
    struct localmetric m;                      /* around the point */
    double r, outer;                           /* radius, radius + hysteresis (m) */
    double r2, outer2;                         /* their squares, as visits_within computes */
    double lon_min, lat_min, lon_max, lat_max; /* a box (degrees) holding the outer circle */
};

/* Geometry of point i. Borrowed from idx. */
const struct pointindex_geo *pointindex_geo(const struct pointindex *idx, size_t i);

/*
 * Appends to out (room for pointindex_count entries) the index of every point whose outer box
 * meets the box [lon_min, lon_max] x [lat_min, lat_max], each once: a point whose stamp[i]
 * already equals qid is skipped, and every point returned gets stamp[i] = qid (stamp has
 * pointindex_count entries, owned by the caller, so the index itself stays read-only).
 * Returns the number appended.
 */
size_t pointindex_query(const struct pointindex *idx, double lon_min, double lat_min,
                        double lon_max, double lat_max, uint32_t *stamp, uint32_t qid,
                        uint32_t *out);

#endif

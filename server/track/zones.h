/*
 * zones.h - zone events (enter/exit) of one device at polygons and lines: dangerous waters,
 * school perimeters, assigned patrol areas (docs/engine.md, "Zones").
 *
 * Semantics, per zone:
 *  - A fix is in the zone when its distance to the zone's geometry is at most buffer_m (0 for
 *    polygons: inside or on the boundary; ZONES_LINE_BUFFER_M for lines and points, e.g. a
 *    river drawn as a line). Distances are metres in a local frame around the zone (an affine
 *    map of lon/lat, so "inside a polygon" is exactly the lon/lat answer PostGIS gives).
 *  - Raw stays (hysteresis): a stay starts at the first fix in the zone and ends at the first
 *    fix beyond buffer_m + hysteresis_m; both instants are interpolated on the segment from the
 *    previous fix (found by bisection; consecutive fixes more than max_gap_s apart are not
 *    joined: a gap ends a stay at the last fix before it). Decisions are per fix: a segment
 *    that crosses a zone between two fixes outside it is not a stay (unlike visits.h).
 *  - Confirmation (against GPS drift): raw stays shorter than confirm_s are dropped, then stays
 *    separated by less than confirm_s merge. Each remaining stay is a zone_enter event at its
 *    start and a zone_exit at its end. At the end of the data a stay is open (no exit event
 *    yet) while the track is still in the zone or its exit is not yet confirmed; a raw stay
 *    still shorter than confirm_s is not reported at all yet.
 *  - Late and shuffled fixes: the same procedure as visits.h, through zones_affected_span /
 *    zones_settled, with the stored stays rebuilt from the zone events.
 *
 * A zoneindex holds GEOS prepared geometries and an STRtree; it is immutable after
 * zoneindex_build, which also forces GEOS's lazily built internals, but GEOS does not promise
 * that concurrent reads are safe: use one zoneindex from one thread at a time (build one per
 * worker). GEOS is called through this thread's handle (geoctx.h).
 *
 * What it is not: point visits (visits.h), storage, or season filtering (the caller leaves
 * out-of-season waters out of the index).
 */
#ifndef PATROL_ZONES_H
#define PATROL_ZONES_H

#include "err.h"
#include "span.h"
#include "visits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZONES_LINE_BUFFER_M 20.0
#define ZONES_HYSTERESIS_M  10.0
#define ZONES_CONFIRM_S     20.0

struct zone_def {
    const char *layer;        /* "waters", "schools", ...: copied */
    int64_t id;               /* the row id in that layer */
    const char *wkt;          /* geometry, lon/lat WGS84, as WKT; or NULL and: */
    const unsigned char *wkb; /* ... as WKB (ST_AsBinary), wkb_len bytes */
    size_t wkb_len;
    double buffer_m;     /* < 0: default (0 for areas, ZONES_LINE_BUFFER_M otherwise) */
    double hysteresis_m; /* < 0: ZONES_HYSTERESIS_M */
};

struct zoneindex;

/*
 * Builds an index of n zones (defs borrowed). ERR_INVALID_ARGUMENT for unparsable, empty or
 * out-of-range geometry, a missing layer, a non-finite buffer or hysteresis, or n >= 2^31;
 * ERR_INTERNAL when out of memory or GEOS fails. On ERR_OK *out is new (zoneindex_free).
 */
enum err zoneindex_build(const struct zone_def *defs, size_t n, struct zoneindex **out);

/* Frees the index. NULL is a no-op. */
void zoneindex_free(struct zoneindex *zi);

size_t zoneindex_count(const struct zoneindex *zi);

/*
 * Distance in metres from (lon, lat) to zone i (0 inside an area), or a negative value when
 * GEOS fails. The predicate the engine uses is distance <= buffer.
 */
double zones_distance_m(const struct zoneindex *zi, size_t i, double lon, double lat);

struct zones_params {
    double max_gap_s;      /* > 0, default VISITS_MAX_GAP_S */
    double confirm_s;      /* >= 0, default ZONES_CONFIRM_S */
    unsigned ignore_flags; /* default VISITS_IGNORE_FLAGS */
};

void zones_params_default(struct zones_params *p);

enum zone_event_kind {
    ZONE_ENTER,
    ZONE_EXIT,
};

/* "zone_enter" / "zone_exit" (events.kind). */
const char *zones_event_kind_name(enum zone_event_kind k);

struct zone_stay {
    const char *layer; /* borrowed from the index */
    int64_t zone_id;
    int64_t enter_ms, exit_ms; /* exit: the last fix's time while open */
    bool open;
};

struct zone_event {
    enum zone_event_kind kind;
    const char *zone_layer; /* borrowed from the index */
    int64_t zone_id;
    int64_t t_ms;
};

struct zones_result {
    struct zone_stay *stays; /* sorted by (enter, layer, id) */
    size_t n_stays;
    struct zone_event *events; /* sorted by (t, exits first, layer, id) */
    size_t n_events;
    size_t n_used;
    int64_t first_fix_ms, last_fix_ms;
    bool tail_clean; /* nothing open or pending at the last fix, no exit within confirm_s */
};

/*
 * Zone stays and events of one device: n fixes (borrowed) sorted by t_ms (as visits_compute).
 * ERR_INVALID_ARGUMENT for unsorted fixes, a bad used fix or bad parameters; ERR_INTERNAL when
 * out of memory or GEOS fails. On ERR_OK *out holds new memory (zones_result_free).
 */
enum err zones_compute(const struct zoneindex *zi, const struct fix *fixes, size_t n,
                       const struct zones_params *p, struct zones_result *out);

void zones_result_free(struct zones_result *r);

/* Late batches: as visits_affected_span / visits_settled / visits_widen, over stored stays. */
void zones_affected_span(const struct zones_params *p, int64_t new_from_ms, int64_t new_to_ms,
                         const struct zone_stay *old, size_t n_old, int64_t *from_ms,
                         int64_t *to_ms);
bool zones_settled(const struct zones_params *p, const struct zones_result *res, int64_t new_to_ms,
                   bool at_end, int64_t to_ms, const struct zone_stay *old, size_t n_old,
                   int64_t *replace_to_ms);
int64_t zones_widen(const struct zones_params *p, int64_t from_ms, int64_t to_ms);

/* The span rules of these parameters (ms): gap max_gap_s, merge and drop confirm_s. */
void zones_span_rules(const struct zones_params *p, struct span_rules *r);

#endif

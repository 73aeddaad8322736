/*
 * proto_osmand.h - the OsmAnd protocol, as the OsmAnd app and Traccar Client send it: one fix
 * per request in query or form parameters (id or deviceid, lat, lon, timestamp in epoch
 * seconds, epoch milliseconds or ISO 8601, speed in knots, bearing or heading, altitude,
 * accuracy, hdop, batt, valid, location=lat,lon), or the JSON body of Traccar Client 9+
 * ({"device_id": ..., "location": {"timestamp", "coords": {latitude, longitude, speed in m/s,
 * heading, altitude, accuracy}, "battery": {"level": 0..1}, ...}}, where "location" may also
 * be an array of such objects).
 *
 * Pure decoding into struct ingest_msg: no HTTP, no database. The device identifier is a
 * secret: it is returned for the caller to hash and look up, never logged here. Unknown
 * parameters and members are ignored (clients add their own). Speeds become km/h.
 */
#ifndef PATROL_PROTO_OSMAND_H
#define PATROL_PROTO_OSMAND_H

#include "err.h"
#include "ingest_fix.h"

#include <stddef.h>
#include <stdint.h>

struct arena;

#define OSMAND_MAX_PARAMS 64 /* a form or query with more is refused */

/* A decoded name=value pair of a query string or form body. */
struct osmand_param {
    const char *name;
    const char *value; /* NULL for "?flag" */
};

/*
 * Decodes one fix from parameters (the first of repeated names wins). A fix without
 * timestamp gets now_ms (the protocol's rule). Returns ERR_OK with out filled (one fix, crs
 * WGS84, device_ident NULL when neither id nor deviceid was given), or ERR_INVALID_ARGUMENT
 * with a reason in msg: a missing lat or lon, a malformed number, time or valid flag.
 * Allocations come from a.
 */
enum err osmand_from_params(struct arena *a, const struct osmand_param *p, size_t n, int64_t now_ms,
                            struct ingest_msg *out, char *msg, size_t msglen);

/*
 * Splits and percent-decodes an application/x-www-form-urlencoded body (or a raw query
 * string) into at most OSMAND_MAX_PARAMS pairs in the arena. Returns the count, or -1 when it
 * is malformed (a bad %-escape, a NUL byte, too many pairs) with the reason in msg.
 */
long osmand_split_form(struct arena *a, const char *body, size_t len, struct osmand_param **out,
                       char *msg, size_t msglen);

/*
 * Decodes the Traccar Client JSON body: at most max_fixes locations (ERR_TOO_LARGE beyond).
 * Returns ERR_OK or ERR_INVALID_ARGUMENT (not JSON, no device_id, a location without
 * timestamp or coords, a coordinate that is not a number) with the reason in msg.
 */
enum err osmand_parse_json(struct arena *a, const char *body, size_t len, size_t max_fixes,
                           struct ingest_msg *out, char *msg, size_t msglen);

#endif

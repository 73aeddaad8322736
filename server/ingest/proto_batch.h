/*
 * proto_batch.h - patrolgis' own position batches, the body of POST /api/v1/positions:
 *
 *   JSON (application/json):
 *     {"crs": "wgs84",                       optional: wgs84 (default), cgcs2000, gcj02
 *      "fixes": [{"t": "2026-11-28T07:05:00+08:00" | 1795820700000,
 *                 "lat": 27.9, "lon": 112.9,  required numbers, degrees in crs
 *                 "speed_kmh", "heading", "accuracy_m", "altitude_m", "hdop", "battery":
 *                                              optional numbers (or null)
 *                 "valid": true}]}             optional boolean
 *     "t" is RFC 3339 with a zone (Z or an offset) or an integer of epoch milliseconds.
 *     Unknown members are refused (a typo such as "lng" must not lose data silently).
 *
 *   protobuf (application/x-protobuf): patrolgis.PositionBatch of server/proto/positions.proto,
 *   decoded with protobuf-c under a memory budget; the fixes are counted on the wire before
 *   anything is unpacked.
 *
 * Both carry at most max_fixes fixes (ERR_TOO_LARGE beyond). Pure decoding into struct
 * ingest_msg: no HTTP, no database; the device is the caller's token, never a field.
 */
#ifndef PATROL_PROTO_BATCH_H
#define PATROL_PROTO_BATCH_H

#include "err.h"
#include "ingest_fix.h"

#include <stddef.h>
#include <stdint.h>

struct arena;

/*
 * The CRS names a batch may give: "wgs84", "EPSG:4326", CRS84 (CRS_WGS84), "cgcs2000",
 * "EPSG:4490" (CRS_CGCS2000), "gcj02", "GCJ-02" (CRS_GCJ02); case-insensitive. Web Mercator
 * is not a GPS coordinate system and is refused. Returns 0 with *out set, or -1.
 */
int batch_crs(const char *name, enum crs *out);

/*
 * Decodes a JSON batch. Returns ERR_OK with out filled (fixes in the arena), ERR_TOO_LARGE
 * (more than max_fixes), or ERR_INVALID_ARGUMENT with the reason in msg: not JSON, not the
 * schema above, no fixes, a missing or non-numeric lat/lon, an unreadable time. Nothing is
 * partially decoded: on failure out holds no fixes.
 */
enum err batch_parse_json(struct arena *a, const char *body, size_t len, size_t max_fixes,
                          struct ingest_msg *out, char *msg, size_t msglen);

/* As batch_parse_json for a protobuf PositionBatch. */
enum err batch_parse_protobuf(struct arena *a, const uint8_t *body, size_t len, size_t max_fixes,
                              struct ingest_msg *out, char *msg, size_t msglen);

#endif

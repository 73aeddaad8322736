/*
 * proto_gpx.h - GPX 1.0 and 1.1 track files from any GPS logger: the track points
 * (gpx/trk/trkseg/trkpt with lat and lon attributes, and the children time, ele, hdop,
 * GPX 1.0's speed (m/s) and course, and fix "none" = invalid). Waypoints and routes are not
 * positions of a car and are skipped.
 *
 * Streaming with expat: the document is never held as a tree. A document type declaration
 * is refused outright, so no entity can be declared (no "billion laughs", no external
 * entities). Broken XML is refused with its line and column. Times without a zone are UTC,
 * as the GPX schema says. Pure decoding into struct ingest_msg: no HTTP, no database.
 */
#ifndef PATROL_PROTO_GPX_H
#define PATROL_PROTO_GPX_H

#include "err.h"
#include "ingest_fix.h"

#include <stddef.h>

struct arena;

/*
 * Decodes a GPX document. Returns ERR_OK with out filled (crs WGS84, fixes in the arena, in
 * document order; a track point without a time keeps INGEST_NO_TIME and is rejected later),
 * ERR_TOO_LARGE when it has more than max_points track points, or ERR_INVALID_ARGUMENT with
 * the reason in msg: not well-formed XML (line and column), a DTD, a root that is not <gpx>,
 * a trkpt without numeric lat/lon, an unreadable time or number, no track point at all.
 */
enum err gpx_parse(struct arena *a, const char *body, size_t len, size_t max_points,
                   struct ingest_msg *out, char *msg, size_t msglen);

#endif

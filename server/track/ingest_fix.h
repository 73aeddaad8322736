/*
 * ingest_fix.h - one GPS fix as every device protocol delivers it, and the rules that judge
 * fixes before and after they are stored: per-fix checks (finite, in range after the CRS
 * conversion, not in the future, flags for poor accuracy, null island and "invalid by device"),
 * fix-time parsing shared by the protocol parsers, and the impossible-speed filter over a
 * device's time-ordered track.
 *
 * Pure code: no HTTP, no database. The transaction that stores fixes is ingest.c; the
 * protocol decoders are proto_*.c.
 */
#ifndef PATROL_INGEST_FIX_H
#define PATROL_INGEST_FIX_H

#include "crs.h"

#include <stddef.h>
#include <stdint.h>

#define INGEST_MAX_FIXES         10000                 /* per request from a device */
#define INGEST_FUTURE_MS         (5 * 60 * 1000)       /* fixes later than now + this: rejected */
#define INGEST_MIN_TIME_MS       INT64_C(946684800000) /* 2000-01-01T00:00:00Z */
#define INGEST_NO_TIME           INT64_MIN             /* a fix whose time was not given */
#define INGEST_ZERO_DEG          1e-6                  /* |lon| and |lat| below this: null island */
#define INGEST_CLUSTER_GAP_MS    (60 * 1000)           /* see ingest_clusters */
#define INGEST_WINDOW_CANDIDATES 4 /* candidates loaded on each side of a cluster */

/* positions.flags bits (sql/migrations/0004_tracking.sql). Any bit: the engine ignores it. */
enum ingest_flag {
    INGEST_FLAG_SPEED = 1,    /* impossible speed jump (ingest_speed_flags) */
    INGEST_FLAG_ACCURACY = 2, /* horizontal accuracy worse than the limit */
    INGEST_FLAG_ZERO = 4,     /* null island: |lon| and |lat| both below INGEST_ZERO_DEG */
    INGEST_FLAG_INVALID = 8,  /* the receiver said the fix is not valid */
};

/* One fix. Optional numbers are NAN when not given. */
struct ingest_fix {
    int64_t t_ms;    /* fix time, ms since 1970-01-01T00:00:00Z; INGEST_NO_TIME when absent */
    double lon, lat; /* degrees in the batch's CRS; WGS84 after ingest_check */
    double speed_kmh;
    double heading; /* degrees clockwise from north */
    double accuracy_m;
    double altitude_m;
    double hdop;    /* not stored */
    double battery; /* percent; not stored */
    int valid;      /* 1 valid, 0 the device says invalid, -1 not said */
};

/* Sets every optional number to NAN, valid to -1 and the time to INGEST_NO_TIME. */
void ingest_fix_init(struct ingest_fix *f);

/*
 * What a protocol decoder (proto_*.c) hands to ingestion. The decoders report malformed input
 * as ERR_INVALID_ARGUMENT and too many fixes as ERR_TOO_LARGE, with a message for the client.
 */
struct ingest_msg {
    const char *device_ident; /* OsmAnd device identifier; NULL for token-authenticated input */
    enum crs crs;             /* of lon/lat in fixes */
    struct ingest_fix *fixes; /* in the arena the decoder was given */
    size_t n;
};

struct ingest_limits {
    double max_accuracy_m; /* accuracy worse than this: INGEST_FLAG_ACCURACY */
    double max_speed_kmh;  /* implied speed above this: INGEST_FLAG_SPEED */
    long retention_days;   /* fixes older than this are rejected; 0 = no limit */
};

/* The verdict on one fix: rejected (with a static reason) or accepted with flags. */
struct ingest_verdict {
    const char *reject; /* NULL when accepted */
    int flags;          /* enum ingest_flag bits known before storing (never SPEED) */
};

/*
 * Checks fixes[0..n) received at now_ms, in crs (CRS_WGS84, CRS_CGCS2000 or CRS_GCJ02):
 * converts lon/lat to WGS84 in place, then fills out[i]. Rejected: a missing time, a time
 * before 2000, more than INGEST_FUTURE_MS after now_ms or older than the retention; lon/lat not
 * finite, not convertible or out of range after conversion; optional numbers not finite, a
 * negative speed or accuracy, a heading outside 0..360. Returns how many were accepted.
 */
size_t ingest_check(struct ingest_fix *fixes, size_t n, enum crs crs, int64_t now_ms,
                    const struct ingest_limits *lim, struct ingest_verdict *out);

/* How a time without a zone is read. */
enum ingest_zoneless {
    INGEST_ZONE_REQUIRED, /* refuse it */
    INGEST_ZONE_UTC,      /* GPX: times are UTC by definition */
    INGEST_ZONE_LOCAL,    /* OsmAnd "YYYY-MM-DD HH:MM:SS": the server's time zone (TZ) */
};

/*
 * Parses a fix time: ISO 8601 / RFC 3339 ("2026-11-28T07:05:00+08:00", "...Z", "...+0800",
 * fractions of a second, 'T' or a space between date and time). With epoch set, also plain
 * epoch numbers: integers below 2^31-1 are seconds, larger ones milliseconds; a number with a
 * fraction is seconds. Returns 0 with *ms set, or -1 when s is not such a time.
 */
int ingest_parse_time(const char *s, int epoch, enum ingest_zoneless zl, int64_t *ms);

/* One stored (or about to be stored) fix of a device's track, for the speed filter. */
struct ingest_pt {
    int64_t t_ms;
    double lon, lat; /* WGS84 */
    int flags;       /* as stored */
    int new_flags;   /* out: flags with INGEST_FLAG_SPEED recomputed */
    int affected;    /* out of ingest_affected: this row's flags may have changed */
};

/*
 * The impossible-speed filter over pts[0..n), sorted by time with unique times: the whole
 * track of a device, or a window of it (see ingest_affected). Candidates are the points
 * without any other flag. Among candidates, in time order:
 *   - a spike is a candidate whose implied speed from the previous candidate AND to the next
 *     one both exceed max_kmh; at either end of the track the single neighbour decides;
 *   - a jump is a candidate, not a spike, whose previous candidate is not a spike either and
 *     whose implied speed from that previous candidate exceeds max_kmh (a step in the track:
 *     the later fix is flagged, the track goes on from it).
 * Spikes and jumps get INGEST_FLAG_SPEED; everything else loses it. Implied speed is the
 * geodesic distance over the time difference. Sets new_flags of every point.
 *
 * The flag of candidate k depends only on candidates k-2 .. k+1, so the result is a function
 * of the set of stored fixes, whatever the order in which they arrived.
 */
void ingest_speed_flags(struct ingest_pt *pts, size_t n, double max_kmh);

/*
 * Groups the sorted times of newly stored fixes into clusters: consecutive times at most
 * INGEST_CLUSTER_GAP_MS apart share one. Writes the bounds to lo/hi (room for n each);
 * returns the number of clusters.
 */
size_t ingest_clusters(const int64_t *t_sorted, size_t n, int64_t *lo, int64_t *hi);

/*
 * Given a window pts[0..n) loaded around clusters [lo[k], hi[k]] (every stored fix inside a
 * cluster, plus at least INGEST_WINDOW_CANDIDATES candidates, or all there are, before and
 * after each cluster), sets affected on the points whose speed flag may differ from the one
 * stored: those inside a cluster, the last candidate before it and the first two after it.
 * Only these rows may be updated: the others lack context inside the window.
 */
void ingest_affected(struct ingest_pt *pts, size_t n, const int64_t *lo, const int64_t *hi,
                     size_t nclusters);

#endif

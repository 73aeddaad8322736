/*
 * ingest.h - the one path every device protocol feeds: checks a batch of fixes
 * (ingest_fix.h), then stores what passed in one transaction and says what happened.
 *
 * First the missing monthly partitions of positions for the batch's months are created (in a
 * short transaction of their own, see ingest.c). Then the transaction, for one device:
 * serialise with the device's other batches (an advisory lock), load the stored fixes around
 * the batch's times (which also tells the duplicates: a (device_id, fix_time) already stored
 * wins), recompute the impossible-speed flag over that window with the new fixes in it,
 * store the new fixes with their final flags by one binary COPY, update stored fixes whose
 * flag changed, refresh device_latest (the newest unflagged fix), queue the span for the
 * check-in engine (engine_queue + NOTIFY patrolgis_engine), COMMIT. The caller replies
 * only after this returns ERR_OK: the fixes are durable.
 *
 * Not here: decoding protocols (proto_*.c), HTTP (api_ingest.c).
 */
#ifndef PATROL_INGEST_H
#define PATROL_INGEST_H

#include "err.h"
#include "ingest_fix.h"

#include <stddef.h>
#include <stdint.h>

struct db_conn;

/* Where a batch comes from and how to judge it. Strings borrowed. */
struct ingest_request {
    long long device_id;
    const char *source;      /* positions.source: "osmand", "json", "protobuf", "gpx" */
    enum crs crs;            /* of the fixes' lon/lat */
    const char *audit_actor; /* non-NULL: also write an audit_log row (upload for a device) */
    int64_t now_ms;          /* the reception time: "the future" starts 5 minutes after it */
    const struct ingest_limits *limits;
    const char *rid; /* request id for logs and the audit row */
};

struct ingest_result {
    long accepted;  /* fixes that passed the checks */
    long fresh;     /* newly stored ("new" in the reply) */
    long duplicate; /* accepted but already stored (same device and fix time), or repeated */
    long flagged;   /* newly stored fixes with any flag */
    long rejected;  /* fixes that failed the checks (see the verdicts) */
    long reflagged; /* previously stored fixes whose speed flag changed */
};

/*
 * Checks fixes[0..n) (lon/lat converted to WGS84 in place; verdicts[0..n) receives each
 * fix's verdict) and stores the accepted ones. Returns:
 *   ERR_OK             committed (fresh may be 0: everything was a duplicate);
 *   ERR_UNPROCESSABLE  every fix was rejected: nothing was stored, nothing was opened;
 *   a database error   (ERR_UNAVAILABLE, ERR_TIMEOUT, ...): rolled back, nothing stored.
 * msg receives a reason for the client on failure.
 */
enum err ingest_batch(struct db_conn *c, const struct ingest_request *rq, struct ingest_fix *fixes,
                      size_t n, struct ingest_verdict *verdicts, struct ingest_result *out,
                      char *msg, size_t msglen);

#endif

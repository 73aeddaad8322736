/*
 * ogc_query.h - the query arguments of OGC API - Features items turned into SQL: property
 * filters, bbox and bbox-crs, datetime instants and intervals, limit and offset, and the crs
 * a client asks for. The result is a WHERE clause over the layer catalog's column names
 * (layerdef.h) and the values to bind to its placeholders.
 *
 * It knows no request: arguments come in as plain strings (NULL when absent), so the items
 * endpoint, the vector-tile endpoint and the fuzzers share one parser. Each function returns
 * ERR_OK, or an error with the message for the client written into msg (msglen bytes, cut
 * there), as curl's CURLcode + failf. Client text never enters the SQL text: values are bound
 * parameters ($1, $2...), the clause is made of catalog names and fixed templates.
 *
 * Not here: reading the arguments off a request and replying (ogc_read.c), running the SQL,
 * paging links.
 */
#ifndef PATROL_OGC_QUERY_H
#define PATROL_OGC_QUERY_H

#include "crs.h"
#include "err.h"
#include "layerdef.h"

#include <stdbool.h>
#include <stddef.h>

struct arena;

#define OGC_QUERY_MAX_PARAMS 32    /* bound values in one query; more is refused (400) */
#define OGC_LIMIT_DEF        100   /* limit when none is given */
#define OGC_LIMIT_MAX        10000 /* a larger limit is served as this */
#define OGC_OFFSET_MAX       (1L << 40)

/* A CRS a client named (crs= for output, bbox-crs= for a bbox). */
struct ogc_crs {
    enum crs crs;
    bool swap;       /* coordinates are latitude first (an EPSG URI of a geographic CRS) */
    const char *uri; /* for Content-Crs: static, or the name as given (in the arena) */
};

/* A query being built for one layer. */
struct ogc_query {
    struct arena *arena;       /* borrowed: the clause and parameter texts are allocated here */
    const struct layer_def *l; /* borrowed */
    const char *where;         /* "" or " WHERE <condition> AND <condition>..." (arena) */
    /* The values of $1..$n: in the arena, or borrowed from the argument strings given to the
     * functions below (which must outlive the query). */
    const char *params[OGC_QUERY_MAX_PARAMS];
    int n;
    long limit, offset; /* set by ogc_query_page; OGC_LIMIT_DEF and 0 before */
};

/* An empty query for l (no conditions, no parameters, the default page). */
void ogc_query_init(struct ogc_query *q, struct arena *a, const struct layer_def *l);

/*
 * The CRS named by the argument param ("crs", "bbox-crs"; used in the message) with value name:
 * NULL gives CRS84 (WGS84, lon/lat). ERR_OK with *out set, or ERR_INVALID_ARGUMENT for a CRS
 * that is not offered (the message quotes the name). The uri of a latitude-first name is a
 * copy of it in a.
 */
enum err ogc_query_crs(struct arena *a, const char *param, const char *name, struct ogc_crs *out,
                       char *msg, size_t msglen);

/*
 * One query argument name=value (value NULL for a bare "?name"), in the request's order:
 * a name in known (NULL-terminated: the endpoint's own parameters) is skipped; any other must
 * be a property of the layer with PROP_FILTER, and adds "t.<name> = $k::<type>". Refused
 * (ERR_INVALID_ARGUMENT): an unknown name, a missing value, an integer property's value that
 * is not an integer, a boolean's that is not true or false, more than OGC_QUERY_MAX_PARAMS
 * values. value is bound as it is (borrowed).
 */
enum err ogc_query_filter(struct ogc_query *q, const char *const *known, const char *name,
                          const char *value, char *msg, size_t msglen);

/*
 * bbox=minx,miny,maxx,maxy (or the 6 numbers of a 3D box, whose heights are ignored) in the
 * CRS bbox_crs names (NULL: CRS84; only read when bbox is given). NULL bbox adds nothing.
 * The box is converted to WGS84 and adds "the geometry intersects the envelope", with the 4
 * corners bound as numbers. Refused (ERR_INVALID_ARGUMENT): not 4 or 6 finite numbers, an
 * unknown CRS, corners that cannot be converted, min > max on an axis after conversion (no
 * box crosses the antimeridian).
 */
enum err ogc_query_bbox(struct ogc_query *q, const char *bbox, const char *bbox_crs, char *msg,
                        size_t msglen);

/*
 * datetime= on the layer's time column: an instant (an RFC 3339 date-time with offset, or a
 * date, which means that whole day) or an interval "start/end" where either end may be open
 * ("" or ".."), but not both; a date as the end includes that day. NULL adds nothing. Refused
 * (ERR_INVALID_ARGUMENT): anything else. The ends are bound as they are; an interval whose
 * start is after its end is accepted and matches nothing.
 */
enum err ogc_query_datetime(struct ogc_query *q, const char *datetime, char *msg, size_t msglen);

/*
 * limit= and offset= (NULL: absent) under the page rule of parse_count (parse.h): an integer
 * limit of at least 1 (default OGC_LIMIT_DEF, above OGC_LIMIT_MAX served as OGC_LIMIT_MAX) and
 * an offset of at least 0 (default 0, clamped to OGC_OFFSET_MAX). Sets q->limit and q->offset,
 * or refuses with ERR_INVALID_ARGUMENT (limit is judged first). The two are numbers the server
 * parsed, so a caller may write them into its SQL text.
 */
enum err ogc_query_page(struct ogc_query *q, const char *limit, const char *offset, char *msg,
                        size_t msglen);

#endif

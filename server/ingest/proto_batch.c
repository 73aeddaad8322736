/*
 * proto_batch.c - JSON (jansson) and protobuf (protobuf-c) position batches (see
 * proto_batch.h). The protobuf side never lets garbage cost more than a budget: fixes are
 * counted on the wire first, and protobuf-c allocates through a counting allocator that
 * refuses to go past a few times the body's size.
 *
 * Not here: judging fixes (ingest_fix.c), storing them (ingest.c).
 */
#include "proto_batch.h"

#include "arena.h"
#include "json.h"

#include "positions.pb-c.h"

#include <jansson.h>

#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int batch_crs(const char *name, enum crs *out)
{
    enum crs c;
    if (name == NULL)
        return -1;
    if (strcasecmp(name, "wgs84") == 0) {
        *out = CRS_WGS84;
        return 0;
    }
    if (strcasecmp(name, "cgcs2000") == 0) {
        *out = CRS_CGCS2000;
        return 0;
    }
    if (crs_parse(name, &c) != 0 || c == CRS_WEB_MERCATOR)
        return -1;
    *out = c;
    return 0;
}

/* ---- JSON ---- */

static const char *const batch_members[] = { "crs", "fixes", NULL };
static const char *const fix_members[] = { "t",       "lat",        "lon",  "speed_kmh",
                                           "heading", "accuracy_m", "hdop", "altitude_m",
                                           "battery", "valid",      NULL };

static enum err json_fix(json_t *j, size_t i, struct ingest_fix *f, char *msg, size_t msglen)
{
    static const char *const optional[] = { "speed_kmh",  "heading", "accuracy_m",
                                            "altitude_m", "hdop",    "battery" };
    double *slots[] = { &f->speed_kmh,  &f->heading, &f->accuracy_m,
                        &f->altitude_m, &f->hdop,    &f->battery };
    ingest_fix_init(f);
    if (!json_is_object(j)) {
        snprintf(msg, msglen, "fixes[%zu] is not an object", i);
        return ERR_INVALID_ARGUMENT;
    }
    const char *bad = json_unknown_member(j, fix_members);
    if (bad != NULL) {
        snprintf(msg, msglen, "fixes[%zu]: unknown member '%s'", i, bad);
        return ERR_INVALID_ARGUMENT;
    }
    json_t *t = json_object_get(j, "t");
    if (json_is_integer(t)) {
        f->t_ms = (int64_t)json_integer_value(t);
    } else if (!json_is_string(t) ||
               ingest_parse_time(json_string_value(t), 0, INGEST_ZONE_REQUIRED, &f->t_ms) != 0) {
        snprintf(
            msg, msglen,
            "fixes[%zu].t must be an RFC 3339 time with a zone (\"2026-11-28T07:05:00+08:00\") "
            "or integer epoch milliseconds",
            i);
        return ERR_INVALID_ARGUMENT;
    }
    if (json_opt_number(j, "lat", &f->lat) || json_opt_number(j, "lon", &f->lon) || isnan(f->lat) ||
        isnan(f->lon)) {
        snprintf(msg, msglen, "fixes[%zu]: 'lat' and 'lon' are required numbers", i);
        return ERR_INVALID_ARGUMENT;
    }
    for (size_t k = 0; k < sizeof(optional) / sizeof(optional[0]); k++) {
        if (json_opt_number(j, optional[k], slots[k]) != 0) {
            snprintf(msg, msglen, "fixes[%zu].%s must be a number or null", i, optional[k]);
            return ERR_INVALID_ARGUMENT;
        }
    }
    json_t *valid = json_object_get(j, "valid");
    if (valid != NULL && !json_is_null(valid)) {
        if (!json_is_boolean(valid)) {
            snprintf(msg, msglen, "fixes[%zu].valid must be true or false", i);
            return ERR_INVALID_ARGUMENT;
        }
        f->valid = json_is_true(valid) ? 1 : 0;
    }
    return ERR_OK;
}

enum err batch_parse_json(struct arena *a, const char *body, size_t len, size_t max_fixes,
                          struct ingest_msg *out, char *msg, size_t msglen)
{
    json_error_t je;
    enum err e = ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(msg, msglen, "malformed JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        return ERR_INVALID_ARGUMENT;
    }
    if (!json_is_object(root)) {
        snprintf(msg, msglen, "the body must be a JSON object {\"crs\":..., \"fixes\":[...]}");
        goto out;
    }
    const char *bad = json_unknown_member(root, batch_members);
    if (bad != NULL) {
        snprintf(msg, msglen, "unknown member '%s' (a batch has 'crs' and 'fixes')", bad);
        goto out;
    }
    json_t *crs = json_object_get(root, "crs");
    out->crs = CRS_WGS84;
    if (crs != NULL && !json_is_null(crs) &&
        (!json_is_string(crs) || batch_crs(json_string_value(crs), &out->crs) != 0)) {
        snprintf(msg, msglen, "'crs' must be \"wgs84\", \"cgcs2000\" (EPSG:4490) or \"gcj02\"");
        goto out;
    }
    json_t *fixes = json_object_get(root, "fixes");
    if (!json_is_array(fixes) || json_array_size(fixes) == 0) {
        snprintf(msg, msglen, "'fixes' must be a non-empty array");
        goto out;
    }
    size_t n = json_array_size(fixes);
    if (n > max_fixes) {
        snprintf(msg, msglen, "%zu fixes in one batch; the limit is %zu", n, max_fixes);
        e = ERR_TOO_LARGE;
        goto out;
    }
    out->fixes = arena_calloc(a, n, sizeof(*out->fixes));
    if (out->fixes == NULL) {
        snprintf(msg, msglen, "out of memory");
        e = ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        e = json_fix(json_array_get(fixes, i), i, &out->fixes[i], msg, msglen);
        if (e != ERR_OK)
            goto out;
    }
    out->n = n;
    e = ERR_OK;
out:
    if (e != ERR_OK) {
        out->fixes = NULL;
        out->n = 0;
    }
    json_decref(root);
    return e;
}

/* ---- protobuf ---- */

/* Reads a base-128 varint at *p (< end); advances *p. Returns 0, or -1 when truncated/long. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/*
 * Walks the top-level fields of a PositionBatch without unpacking anything and counts the
 * fixes (field 1, length-delimited). Returns the count, or -1 when the wire format is broken.
 */
static long count_fixes(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    long n = 0;
    while (p < end) {
        uint64_t key, v;
        if (read_varint(&p, end, &key) != 0 || (key >> 3) == 0)
            return -1;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &v) != 0)
                return -1;
            break;
        case 1:
            if ((size_t)(end - p) < 8)
                return -1;
            p += 8;
            break;
        case 2:
            if (read_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
                return -1;
            p += v;
            if ((key >> 3) == 1)
                n++;
            break;
        case 5:
            if ((size_t)(end - p) < 4)
                return -1;
            p += 4;
            break;
        default:
            return -1; /* groups (3, 4) are not in our message; 6, 7 do not exist */
        }
    }
    return n;
}

/* A counting allocator for protobuf-c: refuses to hand out more than its budget. */
struct pb_budget {
    size_t used, cap;
};

struct pb_head {
    alignas(max_align_t) size_t size;
};

static void *pb_alloc(void *data, size_t size)
{
    struct pb_budget *b = data;
    if (size > b->cap - b->used || size > SIZE_MAX - sizeof(struct pb_head))
        return NULL;
    struct pb_head *h = malloc(sizeof(*h) + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    b->used += size;
    return h + 1;
}

static void pb_free(void *data, void *ptr)
{
    struct pb_budget *b = data;
    if (ptr == NULL)
        return;
    struct pb_head *h = (struct pb_head *)ptr - 1;
    b->used -= h->size;
    free(h);
}

static void pb_fix(const Patrolgis__Fix *m, struct ingest_fix *f)
{
    ingest_fix_init(f);
    f->t_ms = m->time_ms;
    f->lat = m->lat;
    f->lon = m->lon;
    if (m->has_speed_kmh)
        f->speed_kmh = m->speed_kmh;
    if (m->has_heading)
        f->heading = m->heading;
    if (m->has_accuracy_m)
        f->accuracy_m = m->accuracy_m;
    if (m->has_altitude_m)
        f->altitude_m = m->altitude_m;
    if (m->has_hdop)
        f->hdop = m->hdop;
    if (m->has_battery)
        f->battery = m->battery;
    if (m->has_valid)
        f->valid = m->valid ? 1 : 0;
}

enum err batch_parse_protobuf(struct arena *a, const uint8_t *body, size_t len, size_t max_fixes,
                              struct ingest_msg *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof(*out));
    long counted = count_fixes(body, len);
    if (counted < 0) {
        snprintf(msg, msglen, "malformed protobuf: not a patrolgis.PositionBatch message");
        return ERR_INVALID_ARGUMENT;
    }
    if ((size_t)counted > max_fixes) {
        snprintf(msg, msglen, "%ld fixes in one batch; the limit is %zu", counted, max_fixes);
        return ERR_TOO_LARGE;
    }
    if (counted == 0) {
        snprintf(msg, msglen, "the batch has no fixes");
        return ERR_INVALID_ARGUMENT;
    }
    struct pb_budget budget = { 0, (1u << 20) + 16 * len };
    ProtobufCAllocator alloc = { pb_alloc, pb_free, &budget };
    Patrolgis__PositionBatch *m = patrolgis__position_batch__unpack(&alloc, len, body);
    if (m == NULL) {
        snprintf(msg, msglen,
                 "malformed protobuf: not a patrolgis.PositionBatch (every fix needs time_ms, "
                 "lat and lon)");
        return ERR_INVALID_ARGUMENT;
    }
    enum err e = ERR_OK;
    out->crs = CRS_WGS84;
    if (m->crs != NULL && m->crs[0] != '\0' && batch_crs(m->crs, &out->crs) != 0) {
        snprintf(msg, msglen, "crs must be \"wgs84\", \"cgcs2000\" (EPSG:4490) or \"gcj02\"");
        e = ERR_INVALID_ARGUMENT;
        goto out;
    }
    out->fixes = arena_calloc(a, m->n_fixes, sizeof(*out->fixes));
    if (out->fixes == NULL) {
        snprintf(msg, msglen, "out of memory");
        e = ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < m->n_fixes; i++)
        pb_fix(m->fixes[i], &out->fixes[i]);
    out->n = m->n_fixes;
out:
    if (e != ERR_OK)
        out->fixes = NULL;
    patrolgis__position_batch__free_unpacked(m, &alloc);
    return e;
}

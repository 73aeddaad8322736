/*
 * proto_osmand.c - OsmAnd / Traccar Client decoding (see proto_osmand.h): parameters, form
 * bodies and the Traccar Client 9 JSON body, over jansson.
 *
 * Not here: finding the device (api_ingest.c), judging the fix (ingest_fix.c).
 */
#include "proto_osmand.h"

#include "arena.h"
#include "json.h"
#include "parse.h"

#include <jansson.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define KNOT_KMH 1.852
#define MPS_KMH  3.6

/* ---- parameters ---- */

static const char *param(const struct osmand_param *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, name) == 0)
            return p[i].value ? p[i].value : "";
    return NULL;
}

/* An optional number parameter: 0 (absent, *out NAN; or parsed), -1 malformed. */
static int opt_number(const struct osmand_param *p, size_t n, const char *name, double *out,
                      char *msg, size_t msglen)
{
    const char *v = param(p, n, name);
    *out = NAN;
    if (v == NULL)
        return 0;
    if (parse_double(v, out) != ERR_OK) {
        snprintf(msg, msglen, "parameter '%s' is not a number", name);
        return -1;
    }
    return 0;
}

/* OsmAnd clients send -1 (or any negative value) for "unknown". */
static double unknown_if_negative(double v)
{
    return v < 0 ? NAN : v;
}

static int parse_location(const char *v, double *lat, double *lon)
{
    char buf[128];
    const char *comma = strchr(v, ',');
    size_t n = comma ? (size_t)(comma - v) : 0;
    if (comma == NULL || n >= sizeof(buf))
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    if (parse_double(buf, lat) != ERR_OK || parse_double(comma + 1, lon) != ERR_OK)
        return -1;
    return 0;
}

enum err osmand_from_params(struct arena *a, const struct osmand_param *p, size_t n, int64_t now_ms,
                            struct ingest_msg *out, char *msg, size_t msglen)
{
    struct ingest_fix *f = arena_alloc(a, sizeof(*f));
    memset(out, 0, sizeof(*out));
    if (f == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_INTERNAL;
    }
    ingest_fix_init(f);
    const char *id = param(p, n, "id");
    if (id == NULL)
        id = param(p, n, "deviceid");
    out->device_ident = id;
    out->crs = CRS_WGS84;

    const char *lat = param(p, n, "lat"), *lon = param(p, n, "lon");
    const char *loc = param(p, n, "location");
    if (lat != NULL || lon != NULL) {
        if (lat == NULL || lon == NULL) {
            snprintf(msg, msglen, "parameters 'lat' and 'lon' go together");
            return ERR_INVALID_ARGUMENT;
        }
        if (parse_double(lat, &f->lat) != ERR_OK || parse_double(lon, &f->lon) != ERR_OK) {
            snprintf(msg, msglen, "parameters 'lat' and 'lon' must be decimal numbers");
            return ERR_INVALID_ARGUMENT;
        }
    } else if (loc != NULL) {
        if (parse_location(loc, &f->lat, &f->lon) != 0) {
            snprintf(msg, msglen, "parameter 'location' must be 'lat,lon' in decimal degrees");
            return ERR_INVALID_ARGUMENT;
        }
    } else {
        snprintf(msg, msglen, "parameters 'lat' and 'lon' (or 'location') are required");
        return ERR_INVALID_ARGUMENT;
    }

    const char *ts = param(p, n, "timestamp");
    if (ts == NULL) {
        f->t_ms = now_ms;
    } else if (ingest_parse_time(ts, 1, INGEST_ZONE_LOCAL, &f->t_ms) != 0) {
        snprintf(msg, msglen,
                 "parameter 'timestamp' must be epoch seconds, epoch milliseconds or ISO 8601");
        return ERR_INVALID_ARGUMENT;
    }

    double knots, bearing, heading;
    if (opt_number(p, n, "speed", &knots, msg, msglen) ||
        opt_number(p, n, "bearing", &bearing, msg, msglen) ||
        opt_number(p, n, "heading", &heading, msg, msglen) ||
        opt_number(p, n, "altitude", &f->altitude_m, msg, msglen) ||
        opt_number(p, n, "accuracy", &f->accuracy_m, msg, msglen) ||
        opt_number(p, n, "hdop", &f->hdop, msg, msglen) ||
        opt_number(p, n, "batt", &f->battery, msg, msglen))
        return ERR_INVALID_ARGUMENT;
    f->speed_kmh = unknown_if_negative(knots) * KNOT_KMH;
    f->heading = unknown_if_negative(isnan(bearing) ? heading : bearing);
    f->accuracy_m = unknown_if_negative(f->accuracy_m);
    f->hdop = unknown_if_negative(f->hdop);
    f->battery = unknown_if_negative(f->battery);
    /* The OsmAnd app puts its accuracy in metres into hdop. */
    if (isnan(f->accuracy_m))
        f->accuracy_m = f->hdop;

    const char *valid = param(p, n, "valid");
    if (valid != NULL) {
        if (strcmp(valid, "true") == 0 || strcmp(valid, "1") == 0) {
            f->valid = 1;
        } else if (strcmp(valid, "false") == 0 || strcmp(valid, "0") == 0) {
            f->valid = 0;
        } else {
            snprintf(msg, msglen, "parameter 'valid' must be true, false, 1 or 0");
            return ERR_INVALID_ARGUMENT;
        }
    }
    out->fixes = f;
    out->n = 1;
    return ERR_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) ('+' is a space) into the arena; NULL when malformed. */
static char *form_decode(struct arena *a, const char *s, size_t n)
{
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (n - i < 3)
                return NULL;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return NULL;
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == '\0')
            return NULL;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

long osmand_split_form(struct arena *a, const char *body, size_t len, struct osmand_param **out,
                       char *msg, size_t msglen)
{
    struct osmand_param *p = arena_calloc(a, OSMAND_MAX_PARAMS, sizeof(*p));
    long n = 0;
    size_t i = 0;
    *out = p;
    if (p == NULL) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    while (i < len) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && body[eq] != '=')
                eq++;
            if (n >= OSMAND_MAX_PARAMS) {
                snprintf(msg, msglen, "more than %d parameters", OSMAND_MAX_PARAMS);
                return -1;
            }
            p[n].name = form_decode(a, body + i, eq - i);
            p[n].value = eq < end ? form_decode(a, body + eq + 1, end - eq - 1) : NULL;
            if (p[n].name == NULL || (eq < end && p[n].value == NULL)) {
                snprintf(msg, msglen, "malformed form data (a bad %%-escape or a NUL byte)");
                return -1;
            }
            n++;
        }
        i = end + 1;
    }
    return n;
}

/* ---- Traccar Client JSON ---- */

static enum err json_location(json_t *loc, size_t i, struct ingest_fix *f, char *msg, size_t msglen)
{
    ingest_fix_init(f);
    if (!json_is_object(loc)) {
        snprintf(msg, msglen, "location %zu is not an object", i);
        return ERR_INVALID_ARGUMENT;
    }
    json_t *ts = json_object_get(loc, "timestamp");
    if (!json_is_string(ts) ||
        ingest_parse_time(json_string_value(ts), 0, INGEST_ZONE_UTC, &f->t_ms) != 0) {
        snprintf(msg, msglen, "location %zu: 'timestamp' must be an ISO 8601 string", i);
        return ERR_INVALID_ARGUMENT;
    }
    json_t *coords = json_object_get(loc, "coords");
    if (!json_is_object(coords)) {
        snprintf(msg, msglen, "location %zu: 'coords' (an object) is required", i);
        return ERR_INVALID_ARGUMENT;
    }
    double mps, level = NAN;
    if (json_opt_number(coords, "latitude", &f->lat) ||
        json_opt_number(coords, "longitude", &f->lon) || isnan(f->lat) || isnan(f->lon)) {
        snprintf(msg, msglen, "location %zu: coords.latitude and coords.longitude must be numbers",
                 i);
        return ERR_INVALID_ARGUMENT;
    }
    if (json_opt_number(coords, "speed", &mps) || json_opt_number(coords, "heading", &f->heading) ||
        json_opt_number(coords, "accuracy", &f->accuracy_m) ||
        json_opt_number(coords, "altitude", &f->altitude_m)) {
        snprintf(msg, msglen,
                 "location %zu: coords.speed, heading, accuracy and altitude must be numbers", i);
        return ERR_INVALID_ARGUMENT;
    }
    json_t *battery = json_object_get(loc, "battery");
    if (json_is_object(battery) && json_opt_number(battery, "level", &level) != 0) {
        snprintf(msg, msglen, "location %zu: battery.level must be a number", i);
        return ERR_INVALID_ARGUMENT;
    }
    /* Traccar Client: speed in m/s; -1 means unknown for speed, heading and accuracy. */
    f->speed_kmh = unknown_if_negative(mps) * MPS_KMH;
    f->heading = unknown_if_negative(f->heading);
    f->accuracy_m = unknown_if_negative(f->accuracy_m);
    f->battery = unknown_if_negative(level) * 100.0;
    return ERR_OK;
}

enum err osmand_parse_json(struct arena *a, const char *body, size_t len, size_t max_fixes,
                           struct ingest_msg *out, char *msg, size_t msglen)
{
    json_error_t je;
    enum err e = ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    out->crs = CRS_WGS84;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(msg, msglen, "malformed JSON at line %d, column %d: %s", je.line, je.column,
                 je.text);
        return ERR_INVALID_ARGUMENT;
    }
    json_t *id = json_object_get(root, "device_id");
    json_t *loc = json_object_get(root, "location");
    if (!json_is_object(root) || !json_is_string(id) || json_string_length(id) == 0) {
        snprintf(msg, msglen, "the body must be an object with a 'device_id' string");
        goto out;
    }
    size_t n = json_is_array(loc) ? json_array_size(loc) : 1;
    if (!json_is_array(loc) && !json_is_object(loc)) {
        snprintf(msg, msglen, "'location' (an object or an array of them) is required");
        goto out;
    }
    if (n == 0) {
        snprintf(msg, msglen, "'location' is an empty array");
        goto out;
    }
    if (n > max_fixes) {
        snprintf(msg, msglen, "%zu locations in one request; the limit is %zu", n, max_fixes);
        e = ERR_TOO_LARGE;
        goto out;
    }
    out->fixes = arena_calloc(a, n, sizeof(*out->fixes));
    out->device_ident = arena_strdup(a, json_string_value(id));
    if (out->fixes == NULL || out->device_ident == NULL) {
        snprintf(msg, msglen, "out of memory");
        e = ERR_INTERNAL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *one = json_is_array(loc) ? json_array_get(loc, i) : loc;
        e = json_location(one, i, &out->fixes[i], msg, msglen);
        if (e != ERR_OK)
            goto out;
    }
    out->n = n;
    e = ERR_OK;
out:
    if (e != ERR_OK) {
        out->n = 0;
        out->fixes = NULL;
    }
    json_decref(root);
    return e;
}

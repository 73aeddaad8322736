/*
 * layerdef.c - the layer catalog and property validation (see layerdef.h).
 */
#include "layerdef.h"

#include "geojson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_BYTES 200
#define TEXT_MAX_BYTES 10000

static const char *const school_kinds[] = { "primary",      "central_primary", "middle",
                                            "kindergarten", "training",        NULL };
static const char *const point_kinds[] = { "gate", "route", "water", "other", NULL };
static const char *const water_kinds[] = { "river", "stream",    "canal", "pond",
                                           "lake",  "reservoir", "other", NULL };
static const char *const segment_status[] = { "found", "reported", "fixed", NULL };
static const char *const venue_kinds[] = { "internet_cafe",  "game_hall", "karaoke", "small_hotel",
                                           "rental_housing", "other",     NULL };
static const char *const station_kinds[] = { "police_station", "patrol_base", NULL };
static const char *const follow_ups[] = { "none", "open", "notice_issued", "rectified", NULL };

#define RO(name, type)                                                                             \
    {                                                                                              \
        name, type, PROP_READONLY, 0, 0, NULL                                                      \
    }
#define COMMON_RO                                                                                  \
    RO("id", PROP_INT), RO("created_at", PROP_TIMESTAMP), RO("updated_at", PROP_TIMESTAMP)
#define PROPS_OBJECT                                                                               \
    {                                                                                              \
        "props", PROP_OBJECT, 0, 0, 0, NULL                                                        \
    }
#define NAME_REQUIRED                                                                              \
    {                                                                                              \
        "name", PROP_TEXT, PROP_REQUIRED | PROP_FILTER, 1, NAME_MAX_BYTES, NULL                    \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, PROP_TEXT, 0, 0, 0, NULL                                                             \
    }
#define SEASON                                                                                     \
    { "season_start", PROP_MMDD, PROP_NULLABLE, 0, 0, NULL },                                      \
    {                                                                                              \
        "season_end", PROP_MMDD, PROP_NULLABLE, 0, 0, NULL                                         \
    }

static const struct prop_def school_props[] = {
    COMMON_RO,
    NAME_REQUIRED,
    { "kind", PROP_TEXT, PROP_REQUIRED | PROP_FILTER, 0, 0, school_kinds },
    { "boarding", PROP_BOOL, PROP_FILTER, 0, 0, NULL },
    { "remote", PROP_BOOL, PROP_FILTER, 0, 0, NULL },
    { "address", PROP_TEXT, PROP_NULLABLE, 0, 500, NULL },
    { "contacts", PROP_ARRAY, 0, 0, 0, NULL },
    { "arrival_start", PROP_TIME, PROP_NULLABLE, 0, 0, NULL },
    { "arrival_end", PROP_TIME, PROP_NULLABLE, 0, 0, NULL },
    { "dismissal_start", PROP_TIME, PROP_NULLABLE, 0, 0, NULL },
    { "dismissal_end", PROP_TIME, PROP_NULLABLE, 0, 0, NULL },
    { "source", PROP_TEXT, PROP_READONLY | PROP_FILTER, 0, 0, NULL },
    RO("osm_id", PROP_INT),
    RO("osm_type", PROP_TEXT),
    RO("from_node", PROP_BOOL),
    PROPS_OBJECT,
    END,
};
static const char *const school_pairs[] = { "<", "arrival_start",   "arrival_end",
                                            "<", "dismissal_start", "dismissal_end",
                                            NULL };

static const struct prop_def window_props[] = {
    COMMON_RO,
    { "name", PROP_TEXT, PROP_REQUIRED, 1, 100, NULL },
    { "days", PROP_INT, 0, 1, 127, NULL },
    { "start_local", PROP_TIME, PROP_REQUIRED, 0, 0, NULL },
    { "end_local", PROP_TIME, PROP_REQUIRED, 0, 0, NULL },
    { "required_visits", PROP_INT, 0, 1, 20, NULL },
    { "grace_s", PROP_INT, 0, 0, 7200, NULL },
    { "date_from", PROP_DATE, PROP_NULLABLE, 0, 0, NULL },
    { "date_to", PROP_DATE, PROP_NULLABLE, 0, 0, NULL },
    PROPS_OBJECT,
    END,
};
static const char *const window_pairs[] = { "<",         "start_local", "end_local", "<=",
                                            "date_from", "date_to",     "both",      "date_from",
                                            "date_to",   NULL };

static const struct layer_def windows_layer = {
    .id = "patrol_windows",
    .title = "Patrol windows",
    .title_zh = "打卡时段",
    .props = window_props,
    .pairs = window_pairs,
    .writable = true,
};

static const struct prop_def point_props[] = {
    COMMON_RO,
    NAME_REQUIRED,
    { "kind", PROP_TEXT, PROP_REQUIRED | PROP_FILTER, 0, 0, point_kinds },
    { "school_id", PROP_INT, PROP_NULLABLE | PROP_FILTER, 1, 9e15, NULL },
    { "radius_m", PROP_NUMBER, 0, 5, 1000, NULL },
    { "min_dwell_s", PROP_INT, 0, 0, 3600, NULL },
    { "hysteresis_m", PROP_NUMBER, 0, 0, 200, NULL },
    SEASON,
    PROPS_OBJECT,
    { "windows", PROP_ARRAY, 0, 0, 0, NULL },
    END,
};
static const char *const season_pairs[] = { "both", "season_start", "season_end", NULL };

static const struct prop_def water_props[] = {
    COMMON_RO,
    NAME_REQUIRED,
    { "kind", PROP_TEXT, PROP_REQUIRED | PROP_FILTER, 0, 0, water_kinds },
    { "risk_level", PROP_INT, PROP_FILTER, 1, 3, NULL },
    SEASON,
    { "source", PROP_TEXT, PROP_READONLY | PROP_FILTER, 0, 0, NULL },
    RO("osm_id", PROP_INT),
    RO("osm_type", PROP_TEXT),
    PROPS_OBJECT,
    END,
};

static const struct prop_def segment_props[] = {
    COMMON_RO,
    NAME_REQUIRED,
    { "risk_level", PROP_INT, PROP_FILTER, 1, 3, NULL },
    { "reason", PROP_TEXT, PROP_REQUIRED, 1, 1000, NULL },
    { "status", PROP_TEXT, PROP_FILTER, 0, 0, segment_status },
    PROPS_OBJECT,
    END,
};

static const struct prop_def venue_props[] = {
    COMMON_RO,
    NAME_REQUIRED,
    { "kind", PROP_TEXT, PROP_REQUIRED | PROP_FILTER, 0, 0, venue_kinds },
    { "address", PROP_TEXT, PROP_NULLABLE, 0, 500, NULL },
    PROPS_OBJECT,
    END,
};

static const struct prop_def station_props[] = {
    COMMON_RO,
    NAME_REQUIRED,
    { "kind", PROP_TEXT, PROP_FILTER, 0, 0, station_kinds },
    { "phone", PROP_TEXT, PROP_NULLABLE, 0, 50, NULL },
    { "source", PROP_TEXT, PROP_READONLY | PROP_FILTER, 0, 0, NULL },
    RO("osm_id", PROP_INT),
    RO("osm_type", PROP_TEXT),
    PROPS_OBJECT,
    END,
};

static const struct prop_def inspection_props[] = {
    COMMON_RO,
    { "school_id", PROP_INT, PROP_REQUIRED | PROP_FILTER, 1, 9e15, NULL },
    { "inspected_at", PROP_TIMESTAMP, PROP_REQUIRED, 0, 0, NULL },
    { "inspector", PROP_TEXT, PROP_REQUIRED | PROP_FILTER, 1, NAME_MAX_BYTES, NULL },
    { "findings", PROP_TEXT, 0, 0, TEXT_MAX_BYTES, NULL },
    { "follow_up", PROP_TEXT, PROP_FILTER, 0, 0, follow_ups },
    PROPS_OBJECT,
    END,
};

static const struct prop_def road_props[] = {
    COMMON_RO,
    { "name", PROP_TEXT, PROP_READONLY | PROP_FILTER, 0, 0, NULL },
    { "class", PROP_TEXT, PROP_READONLY | PROP_FILTER, 0, 0, NULL },
    RO("oneway", PROP_INT),
    RO("speed_kmh", PROP_NUMBER),
    RO("node_ids", PROP_ARRAY),
    RO("osm_id", PROP_INT),
    { "source", PROP_TEXT, PROP_READONLY | PROP_FILTER, 0, 0, NULL },
    RO("props", PROP_OBJECT),
    END,
};

static const struct layer_def schools_layer = {
    .id = "schools",
    .title = "Schools",
    .title_zh = "学校",
    .description = "School and kindergarten perimeters with their key periods",
    .geom_col = "perimeter",
    .geom_types = GEOJSON_MULTIPOLYGON,
    .promote_multi = true,
    .writable = true,
    .time_col = "updated_at",
    .props = school_props,
    .pairs = school_pairs,
};

static const struct layer_def points_layer = {
    .id = "patrol_points",
    .title = "Patrol points",
    .title_zh = "巡逻必到点",
    .description = "Mandatory patrol points (gates, routes, waters) with their check-in windows",
    .geom_col = "location",
    .geom_types = GEOJSON_POINT,
    .writable = true,
    .time_col = "updated_at",
    .props = point_props,
    .pairs = season_pairs,
    .child = &windows_layer,
    .child_key = "windows",
    .child_fk = "point_id",
};

static const struct layer_def waters_layer = {
    .id = "waters",
    .title = "Dangerous waters",
    .title_zh = "危险水域",
    .description = "Rivers, ponds and reservoirs patrolled in the drowning season",
    .geom_col = "geom",
    .geom_types =
        GEOJSON_POLYGON | GEOJSON_MULTIPOLYGON | GEOJSON_LINESTRING | GEOJSON_MULTILINESTRING,
    .writable = true,
    .time_col = "updated_at",
    .props = water_props,
    .pairs = season_pairs,
};

static const struct layer_def segments_layer = {
    .id = "road_segments",
    .title = "Risky road segments",
    .title_zh = "风险路段",
    .description = "Road segments near schools found risky, reported and fixed",
    .geom_col = "geom",
    .geom_types = GEOJSON_LINESTRING,
    .writable = true,
    .time_col = "updated_at",
    .props = segment_props,
};

static const struct layer_def venues_layer = {
    .id = "venues",
    .title = "Venues",
    .title_zh = "重点场所",
    .description = "Internet cafes, game halls, karaoke bars, small hotels, rental housing",
    .geom_col = "location",
    .geom_types = GEOJSON_POINT,
    .writable = true,
    .time_col = "updated_at",
    .props = venue_props,
};

static const struct layer_def stations_layer = {
    .id = "stations",
    .title = "Police stations",
    .title_zh = "派出所与警务站",
    .description = "Police stations and patrol bases",
    .geom_col = "location",
    .geom_types = GEOJSON_POINT,
    .writable = true,
    .time_col = "updated_at",
    .props = station_props,
};

static const struct layer_def inspections_layer = {
    .id = "inspections",
    .title = "Inspections",
    .title_zh = "安全检查",
    .description = "Monthly school safety inspections, findings and follow-up",
    .geom_col = "location",
    .geom_types = GEOJSON_POINT,
    .geom_nullable = true,
    .writable = true,
    .time_col = "inspected_at",
    .props = inspection_props,
};

static const struct layer_def roads_layer = {
    .id = "roads",
    .title = "Road network",
    .title_zh = "道路网",
    .description = "The drivable network used for routing (imported; read-only here)",
    .geom_col = "geom",
    .geom_types = GEOJSON_LINESTRING,
    .writable = false,
    .time_col = "updated_at",
    .props = road_props,
};

const struct layer_def *const layerdef_all[] = {
    &schools_layer, &points_layer,   &waters_layer,      &segments_layer,
    &venues_layer,  &stations_layer, &inspections_layer, &roads_layer,
};
const size_t layerdef_count = sizeof(layerdef_all) / sizeof(layerdef_all[0]);

const struct layer_def *layerdef_find(const char *id)
{
    for (size_t i = 0; i < layerdef_count; i++)
        if (id != NULL && strcmp(layerdef_all[i]->id, id) == 0)
            return layerdef_all[i];
    return NULL;
}

const struct prop_def *layerdef_prop(const struct layer_def *l, const char *name)
{
    for (const struct prop_def *p = l->props; p->name != NULL; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

/* ---- scalar validators ---- */

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (month == 2 && year > 0)
        return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
    return days[month - 1];
}

bool layerdef_valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    return y >= 1900 && y <= 2200 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

bool layerdef_valid_time(const char *s, int *seconds)
{
    size_t n = strlen(s);
    if ((n != 5 && n != 8) || s[2] != ':' || (n == 8 && s[5] != ':'))
        return false;
    int h = digits(s, 2), m = digits(s + 3, 2), sec = n == 8 ? digits(s + 6, 2) : 0;
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59)
        return false;
    if (seconds != NULL)
        *seconds = h * 3600 + m * 60 + sec;
    return true;
}

bool layerdef_valid_mmdd(const char *s)
{
    if (strlen(s) != 5 || s[2] != '-')
        return false;
    int m = digits(s, 2), d = digits(s + 3, 2);
    return m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(0, m);
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
bool layerdef_valid_timestamp(const char *s)
{
    char date[11];
    size_t n = strlen(s);
    if (n < 20)
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!layerdef_valid_date(date) || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return false;
    char tod[9];
    memcpy(tod, s + 11, 8);
    tod[8] = '\0';
    if (!layerdef_valid_time(tod, NULL))
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return true;
    if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int h = digits(p + 1, 2), m = digits(p + 4, 2);
        return h >= 0 && h <= 14 && m >= 0 && m <= 59;
    }
    return false;
}

static const char *type_name(enum prop_type t)
{
    switch (t) {
    case PROP_TEXT:
        return "a string";
    case PROP_INT:
        return "an integer";
    case PROP_NUMBER:
        return "a number";
    case PROP_BOOL:
        return "true or false";
    case PROP_DATE:
        return "a date \"YYYY-MM-DD\"";
    case PROP_TIME:
        return "a time of day \"HH:MM\"";
    case PROP_MMDD:
        return "a day of the year \"MM-DD\"";
    case PROP_OBJECT:
        return "an object";
    case PROP_ARRAY:
        return "an array";
    case PROP_TIMESTAMP:
        return "an RFC 3339 date-time with offset";
    }
    return "a value";
}

/*
 * Checks one value: ERR_OK, ERR_INVALID_ARGUMENT (the wrong type) or ERR_UNPROCESSABLE (a
 * rule broken: null where it may not be, a range, a choice, a malformed date), with msg.
 */
static enum err check_value(const struct prop_def *p, json_t *v, const char *prefix, char *msg,
                            size_t msglen)
{
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    bool type_ok = false;
    if (json_is_null(v)) {
        if (p->flags & PROP_NULLABLE)
            return ERR_OK;
        snprintf(msg, msglen, "property '%s%s' may not be null", prefix, p->name);
        return ERR_UNPROCESSABLE;
    }
    switch (p->type) {
    case PROP_TEXT:
    case PROP_DATE:
    case PROP_TIME:
    case PROP_MMDD:
    case PROP_TIMESTAMP:
        type_ok = s != NULL;
        break;
    case PROP_INT:
        type_ok = json_is_integer(v);
        break;
    case PROP_NUMBER:
        type_ok = json_is_number(v);
        break;
    case PROP_BOOL:
        type_ok = json_is_boolean(v);
        break;
    case PROP_OBJECT:
        type_ok = json_is_object(v);
        break;
    case PROP_ARRAY:
        type_ok = json_is_array(v);
        break;
    }
    if (!type_ok) {
        snprintf(msg, msglen, "property '%s%s' must be %s", prefix, p->name, type_name(p->type));
        return ERR_INVALID_ARGUMENT;
    }
    if (p->type == PROP_TEXT) {
        size_t len = strlen(s);
        double max = p->max > 0 ? p->max : TEXT_MAX_BYTES;
        if ((double)len < p->min || (double)len > max) {
            snprintf(msg, msglen, "property '%s%s' must have %.0f to %.0f bytes", prefix, p->name,
                     p->min, max);
            return ERR_UNPROCESSABLE;
        }
        if (p->choices != NULL) {
            for (const char *const *c = p->choices; *c; c++)
                if (strcmp(*c, s) == 0)
                    return ERR_OK;
            char list[256] = "";
            for (const char *const *c = p->choices; *c; c++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *c);
            }
            snprintf(msg, msglen, "property '%s%s' must be one of: %s", prefix, p->name, list);
            return ERR_UNPROCESSABLE;
        }
        return ERR_OK;
    }
    if ((p->type == PROP_DATE && !layerdef_valid_date(s)) ||
        (p->type == PROP_TIME && !layerdef_valid_time(s, NULL)) ||
        (p->type == PROP_MMDD && !layerdef_valid_mmdd(s)) ||
        (p->type == PROP_TIMESTAMP && !layerdef_valid_timestamp(s))) {
        snprintf(msg, msglen, "property '%s%s' is '%s', not %s", prefix, p->name, s,
                 type_name(p->type));
        return ERR_UNPROCESSABLE;
    }
    if (p->type == PROP_INT || p->type == PROP_NUMBER) {
        double x = json_number_value(v);
        if (!isfinite(x) || (p->max > p->min && (x < p->min || x > p->max))) {
            snprintf(msg, msglen, "property '%s%s' must be between %g and %g", prefix, p->name,
                     p->min, p->max);
            return ERR_UNPROCESSABLE;
        }
    }
    return ERR_OK;
}

/* Compares two checked values of the same type as strings (dates, times, MM-DD) or numbers. */
static int compare_values(json_t *a, json_t *b)
{
    if (json_is_string(a) && json_is_string(b)) {
        int sa = 0, sb = 0;
        /* Times may come as HH:MM or HH:MM:SS: compare them as seconds. */
        if (layerdef_valid_time(json_string_value(a), &sa) &&
            layerdef_valid_time(json_string_value(b), &sb))
            return (sa > sb) - (sa < sb);
        return strcmp(json_string_value(a), json_string_value(b));
    }
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
}

/* Checks the pairs of l (layer_def.pairs): ERR_OK, or ERR_UNPROCESSABLE with msg. */
static enum err check_pairs(const struct layer_def *l, json_t *props, enum prop_mode mode,
                            const char *prefix, char *msg, size_t msglen)
{
    if (l->pairs == NULL)
        return ERR_OK;
    for (const char *const *p = l->pairs; *p; p += 3) {
        json_t *a = json_object_get(props, p[1]), *b = json_object_get(props, p[2]);
        bool a_set = a != NULL && !json_is_null(a), b_set = b != NULL && !json_is_null(b);
        if (strcmp(p[0], "both") == 0) {
            /* On a patch only the properties given can be judged; the database checks the
             * rest. */
            bool judge = mode != PROP_PATCH || (a != NULL && b != NULL);
            if (judge && a_set != b_set) {
                snprintf(msg, msglen, "properties '%s%s' and '%s%s' are set together or not at all",
                         prefix, p[1], prefix, p[2]);
                return ERR_UNPROCESSABLE;
            }
            continue;
        }
        if (!a_set || !b_set)
            continue;
        int c = compare_values(a, b);
        bool strict = strcmp(p[0], "<") == 0;
        if (strict ? c >= 0 : c > 0) {
            snprintf(msg, msglen, "property '%s%s' must be %s '%s%s'", prefix, p[1],
                     strict ? "before" : "not after", prefix, p[2]);
            return ERR_UNPROCESSABLE;
        }
    }
    return ERR_OK;
}

enum err layerdef_check(const struct layer_def *l, json_t *props, enum prop_mode mode,
                        const char *prefix, char *msg, size_t msglen)
{
    const char *key;
    json_t *v;
    enum err e;
    if (!json_is_object(props)) {
        snprintf(msg, msglen, "'%sproperties' must be an object", prefix);
        return ERR_INVALID_ARGUMENT;
    }
    json_object_foreach(props, key, v)
    {
        const struct prop_def *p = layerdef_prop(l, key);
        if (p == NULL) {
            snprintf(msg, msglen, "unknown property '%s%s' (extra attributes go in 'props')",
                     prefix, key);
            return ERR_INVALID_ARGUMENT;
        }
        if (p->flags & PROP_READONLY) {
            snprintf(msg, msglen, "property '%s%s' is set by the server and cannot be written",
                     prefix, key);
            return ERR_INVALID_ARGUMENT;
        }
        /* In a patch, null resets an optional property to its default. */
        if (json_is_null(v) && mode == PROP_PATCH && !(p->flags & PROP_REQUIRED))
            continue;
        e = check_value(p, v, prefix, msg, msglen);
        if (e != ERR_OK)
            return e;
    }
    if (mode != PROP_PATCH) {
        for (const struct prop_def *p = l->props; p->name != NULL; p++) {
            if ((p->flags & PROP_REQUIRED) && json_object_get(props, p->name) == NULL) {
                snprintf(msg, msglen, "property '%s%s' is required", prefix, p->name);
                return ERR_INVALID_ARGUMENT;
            }
        }
    }
    e = check_pairs(l, props, mode, prefix, msg, msglen);
    if (e != ERR_OK)
        return e;
    json_t *children = l->child != NULL ? json_object_get(props, l->child_key) : NULL;
    size_t i;
    json_t *c;
    json_array_foreach(children, i, c)
    {
        char sub[64];
        snprintf(sub, sizeof(sub), "%s%s[%zu].", prefix, l->child_key, i);
        if (!json_is_object(c)) {
            snprintf(msg, msglen, "'%s%s[%zu]' must be an object", prefix, l->child_key, i);
            return ERR_INVALID_ARGUMENT;
        }
        e = layerdef_check(l->child, c, PROP_CREATE, sub, msg, msglen);
        if (e != ERR_OK)
            return e;
    }
    return ERR_OK;
}

char *layerdef_sql_value(const struct prop_def *p, json_t *v)
{
    char buf[64];
    if (v == NULL || json_is_null(v))
        return NULL;
    switch (p->type) {
    case PROP_INT:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    case PROP_NUMBER:
        snprintf(buf, sizeof(buf), "%.17g", json_number_value(v));
        return strdup(buf);
    case PROP_BOOL:
        return strdup(json_is_true(v) ? "true" : "false");
    case PROP_OBJECT:
    case PROP_ARRAY:
        return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    default:
        return strdup(json_string_value(v));
    }
}

const char *layerdef_sql_cast(const struct prop_def *p)
{
    switch (p->type) {
    case PROP_INT:
        return "::bigint";
    case PROP_NUMBER:
        return "::float8";
    case PROP_BOOL:
        return "::boolean";
    case PROP_DATE:
        return "::date";
    case PROP_TIME:
        return "::time";
    case PROP_TIMESTAMP:
        return "::timestamptz";
    case PROP_OBJECT:
    case PROP_ARRAY:
        return "::jsonb";
    default:
        return "::text";
    }
}

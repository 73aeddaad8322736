/*
 * layerdef.h - the catalog of the town's layers as the API sees them: each layer's table,
 * geometry column and allowed geometry types, and every property with its type, range,
 * choices and whether a client may write it. The OGC API (ogc_*.c) is generated from this
 * table; validation of properties lives here so the rules are stated once.
 *
 * The database's CHECK constraints (sql/migrations) state the same rules again as a last line
 * of defence; this file gives the reasons a person can act on. Not here: geometry validation
 * (geojson.c), SQL assembly and execution (ogc_query.c, ogc_read.c, ogc_write.c).
 */
#ifndef PATROL_LAYERDEF_H
#define PATROL_LAYERDEF_H

#include "err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum prop_type {
    PROP_TEXT,      /* JSON string */
    PROP_INT,       /* JSON integer */
    PROP_NUMBER,    /* JSON number */
    PROP_BOOL,      /* JSON true/false */
    PROP_DATE,      /* "YYYY-MM-DD" */
    PROP_TIME,      /* "HH:MM" or "HH:MM:SS", local time of day */
    PROP_MMDD,      /* "MM-DD", a day of any year (seasons) */
    PROP_OBJECT,    /* JSON object, stored as jsonb */
    PROP_ARRAY,     /* JSON array, stored as jsonb */
    PROP_TIMESTAMP, /* RFC 3339 date-time with offset, "2026-11-28T08:00:00+08:00" */
};

#define PROP_REQUIRED 1u /* must be given on create and replace */
#define PROP_READONLY 2u /* set by the server; refused in writes */
#define PROP_FILTER   4u /* usable as ?name=value on the items of the layer */
#define PROP_NULLABLE 8u /* JSON null is allowed (stored as NULL) */

struct prop_def {
    const char *name; /* property name = column name */
    enum prop_type type;
    unsigned flags;
    double min, max;            /* numbers: range; text: length in bytes (max 0: 10 000) */
    const char *const *choices; /* text: the allowed values, NULL-terminated; or NULL */
};

/* Property write modes: what a missing property means. */
enum prop_mode {
    PROP_CREATE,  /* missing: the column default; required ones must be present */
    PROP_REPLACE, /* as CREATE: PUT replaces the whole feature */
    PROP_PATCH,   /* missing: unchanged; null: the column default */
};

struct layer_def {
    const char *id;       /* collection id and table name */
    const char *title;    /* English */
    const char *title_zh; /* Chinese */
    const char *description;
    const char *geom_col;
    unsigned geom_types; /* enum geojson_type mask */
    bool promote_multi;  /* Polygon -> MultiPolygon for a MultiPolygon column */
    bool geom_nullable;
    bool writable;                /* false: read-only through the API (imported data) */
    const char *time_col;         /* the column `datetime=` filters on */
    const struct prop_def *props; /* terminated by a NULL name */
    /*
     * Pairs of properties checked together when a write gives both, as a flat list
     * {kind, first, second, kind, first, second, ..., NULL}: kind "<" (first before second),
     * "<=" (not after), "both" (both set or both null).
     */
    const char *const *pairs;
    /* A nested child layer written and read with its parent (patrol windows of a point). */
    const struct layer_def *child;
    const char *child_key; /* the parent's property holding the children's array */
    const char *child_fk;  /* the child's column referencing the parent's id */
};

extern const struct layer_def *const layerdef_all[];
extern const size_t layerdef_count;

/* The layer with collection id `id`, or NULL. */
const struct layer_def *layerdef_find(const char *id);

/* The property called name in l, or NULL. */
const struct prop_def *layerdef_prop(const struct layer_def *l, const char *name);

/*
 * Checks a JSON properties object for l in the given mode. Returns ERR_OK; or, with a message
 * naming the property in msg (prefix is put before its name, e.g. "windows[2]."),
 * ERR_INVALID_ARGUMENT when a property is unknown, read-only, missing or of the wrong type
 * (HTTP 400), or ERR_UNPROCESSABLE when a value is well-typed but breaks its rules: a range, a
 * choice, a malformed date, a null where none is allowed, a pair out of order (HTTP 422). The
 * child array (l->child_key) is checked element by element against the child layer in CREATE
 * mode.
 */
enum err layerdef_check(const struct layer_def *l, json_t *props, enum prop_mode mode,
                        const char *prefix, char *msg, size_t msglen);

/*
 * The SQL literal text of a checked property value for a bound parameter (NULL for JSON
 * null), in a new malloc'd string (free it), and the cast to put after the parameter.
 */
char *layerdef_sql_value(const struct prop_def *p, json_t *v);
const char *layerdef_sql_cast(const struct prop_def *p);

/* Validators shared with other modules. */
bool layerdef_valid_date(const char *s);
bool layerdef_valid_time(const char *s, int *seconds);
bool layerdef_valid_mmdd(const char *s);
bool layerdef_valid_timestamp(const char *s);

#endif

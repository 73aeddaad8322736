/*
 * test_layerdef.c - the layer catalog and the validation of client properties: the catalog's
 * own consistency, every type, range, choice list, length, null rule, read-only and unknown
 * member, required member per write mode, the pair rules and the nested patrol windows, each
 * with the exact message a client gets and its class (400 or 422); the scalar validators;
 * the SQL text and casts of checked values.
 *
 * JSON in this file is written with single quotes for readability: props() turns them into
 * double quotes before parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "geojson.h"
#include "err.h"
#include "layerdef.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses JSON written with ' for " (any JSON value), as the server does: duplicates refused. */
static json_t *props(const char *text)
{
    char buf[4096];
    size_t n = strlen(text);
    assert_true(n < sizeof(buf));
    for (size_t i = 0; i <= n; i++)
        buf[i] = text[i] == '\'' ? '"' : text[i];
    json_error_t je;
    json_t *j = json_loads(buf, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (j == NULL)
        fail_msg("test JSON does not parse: %s: %s", je.text, buf);
    return j;
}

/*
 * layerdef_check read as these checks were written: 0 or -1, and *unproc when the refusal is
 * a broken rule (ERR_UNPROCESSABLE, 422) rather than a type error (ERR_INVALID_ARGUMENT, 400).
 * No other code may come back.
 */
static int check_rc(const struct layer_def *l, json_t *props, enum prop_mode mode,
                    const char *prefix, char *msg, size_t msglen, bool *unproc)
{
    enum err e = layerdef_check(l, props, mode, prefix, msg, msglen);
    if (e != ERR_OK && e != ERR_INVALID_ARGUMENT && e != ERR_UNPROCESSABLE) {
        fprintf(stderr, "layerdef_check returned %s\n", err_slug(e));
        abort();
    }
    *unproc = e == ERR_UNPROCESSABLE;
    return e == ERR_OK ? 0 : -1;
}

static const struct layer_def *layer(const char *id)
{
    const struct layer_def *l = layerdef_find(id);
    if (l == NULL)
        fail_msg("no layer %s", id);
    return l;
}

/* Checks j (taken) against layer id; returns the result, msg and unproc filled. */
static int check_json(const char *id, json_t *j, enum prop_mode mode, const char *prefix, char *msg,
                      size_t msglen, bool *unproc)
{
    msg[0] = '\0';
    *unproc = true; /* must be overwritten */
    int rc = check_rc(layer(id), j, mode, prefix, msg, msglen, unproc);
    json_decref(j);
    return rc;
}

static void accepted_json(const char *id, enum prop_mode mode, json_t *j, const char *what)
{
    char msg[512];
    bool unproc;
    if (check_json(id, j, mode, "", msg, sizeof(msg), &unproc) != 0)
        fail_msg("%s (mode %d) refused: %s: %s", id, (int)mode, msg, what);
    assert_false(unproc);
}

static void accepted(const char *id, enum prop_mode mode, const char *text)
{
    accepted_json(id, mode, props(text), text);
}

/* Expects a refusal of class status (400 or 422) with exactly the message want. */
static void refused_json(const char *id, enum prop_mode mode, json_t *j, int status,
                         const char *want, const char *what)
{
    char msg[512];
    bool unproc;
    if (check_json(id, j, mode, "", msg, sizeof(msg), &unproc) == 0)
        fail_msg("%s (mode %d) accepted: %s", id, (int)mode, what);
    if ((unproc ? 422 : 400) != status || strcmp(msg, want) != 0)
        fail_msg("%s (mode %d): %s\n  got  %d %s\n  want %d %s", id, (int)mode, what,
                 unproc ? 422 : 400, msg, status, want);
}

static void refused(const char *id, enum prop_mode mode, const char *text, int status,
                    const char *want)
{
    refused_json(id, mode, props(text), status, want, text);
}

/* A string of n bytes: repeats of unit (1 to 4 bytes), the remainder filled with 'a'. */
static char *bytes_of(size_t n, const char *unit)
{
    size_t u = strlen(unit);
    char *s = malloc(n + 1);
    assert_non_null(s);
    size_t i = 0;
    for (; i + u <= n; i += u)
        memcpy(s + i, unit, u);
    for (; i < n; i++)
        s[i] = 'a';
    s[n] = '\0';
    return s;
}

/* A copy of base (JSON text) with member name set to the string value. */
static json_t *with_string(const char *base, const char *name, const char *value)
{
    json_t *j = props(base);
    json_t *v = json_string(value);
    assert_non_null(v); /* value must be valid UTF-8 */
    assert_int_equal(json_object_set_new(j, name, v), 0);
    return j;
}

#define SCHOOL "{'name':'青石镇中心小学','kind':'central_primary'}"
#define POINT  "{'name':'north gate','kind':'gate'}"
#define WINDOW "{'name':'morning','start_local':'07:00','end_local':'08:00'}"

/* ---- the catalog ---------------------------------------------------------------------- */

static void test_catalog_lookup(void **state)
{
    (void)state;
    static const char *const ids[] = { "schools", "patrol_points", "waters",      "road_segments",
                                       "venues",  "stations",      "inspections", "roads" };
    assert_int_equal(layerdef_count, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_ptr_equal(layerdef_find(ids[i]), layerdef_all[i]);
        assert_string_equal(layerdef_all[i]->id, ids[i]);
    }
    assert_null(layerdef_find(NULL));
    assert_null(layerdef_find(""));
    assert_null(layerdef_find("Schools"));
    assert_null(layerdef_find("schools "));
    assert_null(layerdef_find("patrol_windows")); /* a child, not a collection */

    const struct layer_def *s = layer("schools");
    assert_non_null(layerdef_prop(s, "name"));
    assert_int_equal(layerdef_prop(s, "arrival_start")->type, PROP_TIME);
    assert_null(layerdef_prop(s, "Name"));
    assert_null(layerdef_prop(s, ""));
    assert_null(layerdef_prop(s, "windows"));
}

/* Geometry kinds, writability and the nested child, per layer. */
static void test_catalog_geometry(void **state)
{
    (void)state;
    static const struct {
        const char *id, *col;
        unsigned types;
        bool promote, nullable, writable;
        const char *time_col;
    } want[] = {
        { "schools", "perimeter", GEOJSON_MULTIPOLYGON, true, false, true, "updated_at" },
        { "patrol_points", "location", GEOJSON_POINT, false, false, true, "updated_at" },
        { "waters", "geom",
          GEOJSON_POLYGON | GEOJSON_MULTIPOLYGON | GEOJSON_LINESTRING | GEOJSON_MULTILINESTRING,
          false, false, true, "updated_at" },
        { "road_segments", "geom", GEOJSON_LINESTRING, false, false, true, "updated_at" },
        { "venues", "location", GEOJSON_POINT, false, false, true, "updated_at" },
        { "stations", "location", GEOJSON_POINT, false, false, true, "updated_at" },
        { "inspections", "location", GEOJSON_POINT, false, true, true, "inspected_at" },
        { "roads", "geom", GEOJSON_LINESTRING, false, false, false, "updated_at" },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct layer_def *l = layer(want[i].id);
        assert_string_equal(l->geom_col, want[i].col);
        assert_int_equal(l->geom_types, want[i].types);
        assert_int_equal(l->promote_multi, want[i].promote);
        assert_int_equal(l->geom_nullable, want[i].nullable);
        assert_int_equal(l->writable, want[i].writable);
        assert_string_equal(l->time_col, want[i].time_col);
        assert_non_null(l->title);
        assert_non_null(l->title_zh);
        assert_non_null(l->description);
        if (strcmp(l->id, "patrol_points") == 0) {
            assert_non_null(l->child);
            assert_string_equal(l->child->id, "patrol_windows");
            assert_string_equal(l->child_key, "windows");
            assert_string_equal(l->child_fk, "point_id");
        } else {
            assert_null(l->child);
        }
    }
}

/* Rules every table must keep for the checks (and the generated OpenAPI) to make sense. */
static void check_layer_consistent(const struct layer_def *l)
{
    bool has_id = false;
    for (const struct prop_def *p = l->props; p->name != NULL; p++) {
        for (const struct prop_def *q = p + 1; q->name != NULL; q++)
            if (strcmp(p->name, q->name) == 0)
                fail_msg("%s: property %s twice", l->id, p->name);
        if (strcmp(p->name, "id") == 0)
            has_id = (p->flags & PROP_READONLY) && p->type == PROP_INT;
        if ((p->flags & PROP_REQUIRED) && (p->flags & (PROP_READONLY | PROP_NULLABLE)))
            fail_msg("%s.%s: required and read-only or nullable", l->id, p->name);
        if (p->choices != NULL && p->type != PROP_TEXT)
            fail_msg("%s.%s: choices on a non-text property", l->id, p->name);
        if (p->min > p->max && p->max != 0)
            fail_msg("%s.%s: min above max", l->id, p->name);
        if (p->type == PROP_TEXT && p->max > 10000)
            fail_msg("%s.%s: longer than any text may be", l->id, p->name);
        for (const char *const *c = p->choices; c != NULL && *c != NULL; c++)
            if ((double)strlen(*c) < p->min || (p->max > 0 && (double)strlen(*c) > p->max))
                fail_msg("%s.%s: choice %s breaks the length rule", l->id, p->name, *c);
    }
    if (!has_id)
        fail_msg("%s: no read-only integer id", l->id);
    if (l->time_col != NULL) {
        const struct prop_def *t = layerdef_prop(l, l->time_col);
        assert_non_null(t);
        assert_int_equal(t->type, PROP_TIMESTAMP);
    }
    for (const char *const *p = l->pairs; p != NULL && *p != NULL; p += 3) {
        assert_true(strcmp(p[0], "<") == 0 || strcmp(p[0], "<=") == 0 || strcmp(p[0], "both") == 0);
        const struct prop_def *a = layerdef_prop(l, p[1]), *b = layerdef_prop(l, p[2]);
        if (a == NULL || b == NULL || a->type != b->type)
            fail_msg("%s: pair %s %s %s names unknown or mismatched properties", l->id, p[0], p[1],
                     p[2]);
        /* a pair rule on non-nullable optional members could never be satisfied by a patch */
        assert_false(a->flags & PROP_READONLY);
        assert_false(b->flags & PROP_READONLY);
    }
    if (l->child != NULL) {
        const struct prop_def *k = layerdef_prop(l, l->child_key);
        assert_non_null(k);
        assert_int_equal(k->type, PROP_ARRAY);
        assert_false(k->flags & PROP_READONLY);
        check_layer_consistent(l->child);
    }
    if (!l->writable) {
        for (const struct prop_def *p = l->props; p->name != NULL; p++)
            if (!(p->flags & PROP_READONLY))
                fail_msg("%s is read-only but %s is writable", l->id, p->name);
    }
}

static void test_catalog_consistent(void **state)
{
    (void)state;
    for (size_t i = 0; i < layerdef_count; i++) {
        check_layer_consistent(layerdef_all[i]);
        for (size_t k = i + 1; k < layerdef_count; k++)
            assert_string_not_equal(layerdef_all[i]->id, layerdef_all[k]->id);
    }
}

/* ---- the object itself, unknown and read-only members, required ones ------------------ */

static void test_not_an_object(void **state)
{
    (void)state;
    static const char *const texts[] = { "[]", "null", "3", "'x'", "true", "[{}]" };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        refused("schools", PROP_CREATE, texts[i], 400, "'properties' must be an object");
        refused("schools", PROP_PATCH, texts[i], 400, "'properties' must be an object");
    }
    char msg[128];
    bool unproc = true;
    assert_int_equal(check_rc(layer("venues"), NULL, PROP_PATCH, "x.", msg, sizeof(msg), &unproc),
                     -1);
    assert_string_equal(msg, "'x.properties' must be an object");
    assert_false(unproc);
}

static void test_unknown_and_readonly(void **state)
{
    (void)state;
    refused("schools", PROP_CREATE, "{'name':'a','kind':'middle','colour':'red'}", 400,
            "unknown property 'colour' (extra attributes go in 'props')");
    /* Names are case-sensitive; a near miss is unknown. */
    refused("schools", PROP_PATCH, "{'Name':'a'}", 400,
            "unknown property 'Name' (extra attributes go in 'props')");
    refused("schools", PROP_PATCH, "{'':1}", 400,
            "unknown property '' (extra attributes go in 'props')");
    /* The child's key belongs to patrol points only. */
    refused("schools", PROP_PATCH, "{'windows':[]}", 400,
            "unknown property 'windows' (extra attributes go in 'props')");
    /* Extra attributes do go in props, where anything is accepted. */
    accepted("schools", PROP_PATCH, "{'props':{'colour':'red','n':[1,{'x':null}]}}");

    /* Read-only members, even when null or of the right type. */
    static const char *const ro[] = { "id",     "created_at", "updated_at", "source",
                                      "osm_id", "osm_type",   "from_node" };
    for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
        char text[96], want[160];
        snprintf(text, sizeof(text), "{'%s':null}", ro[i]);
        snprintf(want, sizeof(want), "property '%s' is set by the server and cannot be written",
                 ro[i]);
        refused("schools", PROP_PATCH, text, 400, want);
        refused("schools", PROP_CREATE, text, 400, want);
    }
    refused("patrol_points", PROP_PATCH, "{'id':7}", 400,
            "property 'id' is set by the server and cannot be written");
    refused("stations", PROP_PATCH, "{'source':'osm'}", 400,
            "property 'source' is set by the server and cannot be written");
    refused("inspections", PROP_PATCH, "{'created_at':'2026-11-28T08:00:00+08:00'}", 400,
            "property 'created_at' is set by the server and cannot be written");
    /* The imported road network: every member read-only, even an empty patch is fine. */
    static const char *const road[] = { "name",     "class",  "oneway", "speed_kmh",
                                        "node_ids", "osm_id", "source", "props" };
    for (size_t i = 0; i < sizeof(road) / sizeof(road[0]); i++) {
        char text[96], want[160];
        snprintf(text, sizeof(text), "{'%s':1}", road[i]);
        snprintf(want, sizeof(want), "property '%s' is set by the server and cannot be written",
                 road[i]);
        refused("roads", PROP_PATCH, text, 400, want);
    }
    accepted("roads", PROP_PATCH, "{}");
    accepted("roads", PROP_CREATE, "{}");

    /* The first problem wins, in member order: the class follows it, not an earlier value. */
    refused("schools", PROP_PATCH, "{'name':'ok','bogus':1}", 400,
            "unknown property 'bogus' (extra attributes go in 'props')");
    refused("schools", PROP_PATCH, "{'bogus':1,'name':''}", 400,
            "unknown property 'bogus' (extra attributes go in 'props')");
    refused("schools", PROP_PATCH, "{'name':'','bogus':1}", 422,
            "property 'name' must have 1 to 200 bytes");
    refused("schools", PROP_PATCH, "{'boarding':true,'id':1}", 400,
            "property 'id' is set by the server and cannot be written");
}

static void test_required(void **state)
{
    (void)state;
    static const struct {
        const char *layer, *given, *missing;
    } cases[] = {
        { "schools", "{'kind':'middle'}", "name" },
        { "schools", "{'name':'a'}", "kind" },
        { "patrol_points", "{'kind':'gate'}", "name" },
        { "patrol_points", "{'name':'a'}", "kind" },
        { "waters", "{'name':'a'}", "kind" },
        { "road_segments", "{'name':'a'}", "reason" },
        { "road_segments", "{'reason':'no pavement'}", "name" },
        { "venues", "{'name':'a'}", "kind" },
        { "stations", "{}", "name" },
        { "inspections", "{'inspected_at':'2026-11-28T08:00:00Z','inspector':'Li'}", "school_id" },
        { "inspections", "{'school_id':1,'inspector':'Li'}", "inspected_at" },
        { "inspections", "{'school_id':1,'inspected_at':'2026-11-28T08:00:00Z'}", "inspector" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[96];
        snprintf(want, sizeof(want), "property '%s' is required", cases[i].missing);
        refused(cases[i].layer, PROP_CREATE, cases[i].given, 400, want);
        refused(cases[i].layer, PROP_REPLACE, cases[i].given, 400, want);
        accepted(cases[i].layer, PROP_PATCH, cases[i].given);
    }
    /* The first missing one in table order is named. */
    refused("schools", PROP_CREATE, "{}", 400, "property 'name' is required");
    /* A bad value is reported before a missing member. */
    refused("schools", PROP_CREATE, "{'kind':'uni'}", 422,
            "property 'kind' must be one of: primary, central_primary, middle, kindergarten, "
            "training");

    /* The smallest complete feature of each writable layer. */
    accepted("schools", PROP_CREATE, SCHOOL);
    accepted("schools", PROP_REPLACE, SCHOOL);
    accepted("patrol_points", PROP_CREATE, POINT);
    accepted("waters", PROP_CREATE, "{'name':'鱼塘','kind':'pond'}");
    accepted("road_segments", PROP_CREATE, "{'name':'S207','reason':'no sidewalk'}");
    accepted("venues", PROP_CREATE, "{'name':'网吧','kind':'internet_cafe'}");
    accepted("stations", PROP_CREATE, "{'name':'青石派出所'}");
    accepted("inspections", PROP_CREATE,
             "{'school_id':1,'inspected_at':'2026-11-28T08:00:00+08:00','inspector':'Li'}");
}

/* ---- null ----------------------------------------------------------------------------- */

static void test_null(void **state)
{
    (void)state;
    /* Nullable members take null in every mode. */
    accepted("schools", PROP_CREATE,
             "{'name':'a','kind':'middle','address':null,"
             "'arrival_start':null,'arrival_end':null}");
    accepted("patrol_points", PROP_CREATE, "{'name':'a','kind':'gate','school_id':null}");
    accepted("stations", PROP_REPLACE, "{'name':'a','phone':null}");

    /* Not nullable: refused on create and replace as a rule (422), not a type. */
    refused("schools", PROP_CREATE, "{'name':'a','kind':'middle','boarding':null}", 422,
            "property 'boarding' may not be null");
    refused("schools", PROP_REPLACE, "{'name':'a','kind':'middle','contacts':null}", 422,
            "property 'contacts' may not be null");
    refused("patrol_points", PROP_CREATE, "{'name':'a','kind':'gate','radius_m':null}", 422,
            "property 'radius_m' may not be null");
    refused("patrol_points", PROP_CREATE, "{'name':'a','kind':'gate','windows':null}", 422,
            "property 'windows' may not be null");
    /* A required member given as null is refused in every mode. */
    refused("schools", PROP_CREATE, "{'name':null,'kind':'middle'}", 422,
            "property 'name' may not be null");
    refused("schools", PROP_PATCH, "{'name':null}", 422, "property 'name' may not be null");
    refused("inspections", PROP_PATCH, "{'school_id':null}", 422,
            "property 'school_id' may not be null");

    /* In a patch, null resets an optional member to its default, whatever its type. */
    accepted("schools", PROP_PATCH,
             "{'boarding':null,'remote':null,'contacts':null,'props':null,'address':null}");
    accepted("patrol_points", PROP_PATCH,
             "{'radius_m':null,'min_dwell_s':null,'hysteresis_m':null,'windows':null}");
    accepted("road_segments", PROP_PATCH, "{'risk_level':null,'status':null}");
}

/* ---- types ---------------------------------------------------------------------------- */

static void test_types(void **state)
{
    (void)state;
    static const struct {
        const char *layer, *text, *want;
    } cases[] = {
        { "schools", "{'name':1}", "property 'name' must be a string" },
        { "schools", "{'name':['a']}", "property 'name' must be a string" },
        { "schools", "{'kind':true}", "property 'kind' must be a string" },
        { "schools", "{'boarding':1}", "property 'boarding' must be true or false" },
        { "schools", "{'boarding':'true'}", "property 'boarding' must be true or false" },
        { "schools", "{'contacts':{}}", "property 'contacts' must be an array" },
        { "schools", "{'contacts':'a,b'}", "property 'contacts' must be an array" },
        { "schools", "{'props':[]}", "property 'props' must be an object" },
        { "schools", "{'props':'{}'}", "property 'props' must be an object" },
        { "schools", "{'arrival_start':730}",
          "property 'arrival_start' must be a time of day "
          "\"HH:MM\"" },
        { "patrol_points", "{'school_id':'1'}", "property 'school_id' must be an integer" },
        /* An integer member refuses a real even when it is whole. */
        { "patrol_points", "{'school_id':1.0}", "property 'school_id' must be an integer" },
        { "patrol_points", "{'min_dwell_s':60.5}", "property 'min_dwell_s' must be an integer" },
        { "patrol_points", "{'radius_m':'50'}", "property 'radius_m' must be a number" },
        { "patrol_points", "{'radius_m':false}", "property 'radius_m' must be a number" },
        { "patrol_points", "{'season_start':601}",
          "property 'season_start' must be a day of the year \"MM-DD\"" },
        { "patrol_points", "{'windows':{}}", "property 'windows' must be an array" },
        { "waters", "{'risk_level':'high'}", "property 'risk_level' must be an integer" },
        { "inspections", "{'inspected_at':1795820700}",
          "property 'inspected_at' must be an RFC 3339 date-time with offset" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        refused(cases[i].layer, PROP_PATCH, cases[i].text, 400, cases[i].want);
        /* the same in create mode: the type is judged before any missing member */
        refused(cases[i].layer, PROP_CREATE, cases[i].text, 400, cases[i].want);
    }
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'name':'m','start_local':'07:00',"
            "'end_local':'08:00','date_from':20260101}]}",
            400, "property 'windows[0].date_from' must be a date \"YYYY-MM-DD\"");

    /* A number member takes integers and reals alike. */
    accepted("patrol_points", PROP_PATCH, "{'radius_m':50}");
    accepted("patrol_points", PROP_PATCH, "{'radius_m':50.5}");
    accepted("patrol_points", PROP_PATCH, "{'radius_m':5e1}");
    accepted("schools", PROP_PATCH, "{'boarding':false,'remote':true}");
    accepted("schools", PROP_PATCH, "{'contacts':[{'name':'Wang','phone':'110'}],'props':{}}");

    /* Non-finite numbers cannot reach the checks: the JSON parser refuses them. */
    json_error_t je;
    assert_null(json_loads("{\"radius_m\":1e400}", 0, &je));
    assert_null(json_loads("{\"radius_m\":NaN}", 0, &je));
    assert_null(json_loads("{\"radius_m\":Infinity}", 0, &je));
    assert_null(json_real(NAN));
    assert_null(json_real(INFINITY));
}

/* ---- ranges --------------------------------------------------------------------------- */

static void test_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *layer, *name, *ok[4], *bad[4], *want;
    } cases[] = {
        { "patrol_points",
          "radius_m",
          { "5", "5.0", "1000", "999.999" },
          { "4.999", "1000.0001", "0", "-50" },
          "between 5 and 1000" },
        { "patrol_points",
          "hysteresis_m",
          { "0", "-0.0", "200", "0.5" },
          { "-0.001", "200.5", "1e9", "-1e-300" },
          "between 0 and 200" },
        { "patrol_points",
          "min_dwell_s",
          { "0", "3600", "1", NULL },
          { "-1", "3601", "9223372036854775807", "-9223372036854775808" },
          "between 0 and 3600" },
        { "patrol_points",
          "school_id",
          { "1", "9000000000000000", NULL, NULL },
          { "0", "-1", "9000000000000001", "9223372036854775807" },
          "between 1 and 9e+15" },
        { "waters",
          "risk_level",
          { "1", "2", "3", NULL },
          { "0", "4", "-3", NULL },
          "between 1 and 3" },
        { "road_segments",
          "risk_level",
          { "1", "3", NULL, NULL },
          { "0", "4", NULL, NULL },
          "between 1 and 3" },
        { "inspections",
          "school_id",
          { "1", "42", NULL, NULL },
          { "0", "-42", NULL, NULL },
          "between 1 and 9e+15" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[128], want[128];
        for (int k = 0; k < 4 && cases[i].ok[k] != NULL; k++) {
            snprintf(text, sizeof(text), "{'%s':%s}", cases[i].name, cases[i].ok[k]);
            accepted(cases[i].layer, PROP_PATCH, text);
        }
        snprintf(want, sizeof(want), "property '%s' must be %s", cases[i].name, cases[i].want);
        for (int k = 0; k < 4 && cases[i].bad[k] != NULL; k++) {
            snprintf(text, sizeof(text), "{'%s':%s}", cases[i].name, cases[i].bad[k]);
            refused(cases[i].layer, PROP_PATCH, text, 422, want);
        }
    }
    /* The windows' integers, through the child check. */
    static const struct {
        const char *member, *bad, *want;
    } win[] = {
        { "days", "0", "between 1 and 127" },
        { "days", "128", "between 1 and 127" },
        { "required_visits", "0", "between 1 and 20" },
        { "required_visits", "21", "between 1 and 20" },
        { "grace_s", "-1", "between 0 and 7200" },
        { "grace_s", "7201", "between 0 and 7200" },
    };
    for (size_t i = 0; i < sizeof(win) / sizeof(win[0]); i++) {
        char text[256], want[128];
        snprintf(text, sizeof(text),
                 "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00','%s':%s}]}",
                 win[i].member, win[i].bad);
        snprintf(want, sizeof(want), "property 'windows[0].%s' must be %s", win[i].member,
                 win[i].want);
        refused("patrol_points", PROP_PATCH, text, 422, want);
    }
    accepted("patrol_points", PROP_PATCH,
             "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00','days':127,"
             "'required_visits':20,'grace_s':7200},{'name':'n','start_local':'16:00',"
             "'end_local':'17:00','days':1,'required_visits':1,'grace_s':0}]}");
}

/* ---- text: lengths in bytes (UTF-8), choices ------------------------------------------ */

static void test_text_lengths(void **state)
{
    (void)state;
    static const struct {
        const char *layer, *name;
        size_t min, max;
    } cases[] = {
        { "schools", "name", 1, 200 },          { "schools", "address", 0, 500 },
        { "road_segments", "reason", 1, 1000 }, { "stations", "phone", 0, 50 },
        { "inspections", "inspector", 1, 200 }, { "inspections", "findings", 0, 10000 },
        { "venues", "address", 0, 500 },
    };
    /* ASCII, 3-byte CJK and 4-byte characters: the limit is in bytes, not characters. */
    static const char *const units[] = { "a", "镇", "\xF0\x9F\x8F\xAB" /* U+1F3EB school */ };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "property '%s' must have %zu to %zu bytes", cases[i].name,
                 cases[i].min, cases[i].max);
        for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
            char *s = bytes_of(cases[i].max, units[u]);
            accepted_json(cases[i].layer, PROP_PATCH, with_string("{}", cases[i].name, s),
                          "at the limit");
            free(s);
            s = bytes_of(cases[i].max + 1, units[u]);
            refused_json(cases[i].layer, PROP_PATCH, with_string("{}", cases[i].name, s), 422, want,
                         "one byte over");
            free(s);
        }
        char *s = bytes_of(cases[i].min, "a");
        accepted_json(cases[i].layer, PROP_PATCH, with_string("{}", cases[i].name, s), "minimum");
        free(s);
        if (cases[i].min > 0)
            refused_json(cases[i].layer, PROP_PATCH, with_string("{}", cases[i].name, ""), 422,
                         want, "empty");
    }
    /* 66 characters of 3 bytes are 198 bytes: a 67th breaks a 200-byte name. */
    char *s = bytes_of(198, "镇");
    accepted_json("schools", PROP_PATCH, with_string("{}", "name", s), "66 CJK characters");
    free(s);
    s = bytes_of(201, "镇");
    refused_json("schools", PROP_PATCH, with_string("{}", "name", s), 422,
                 "property 'name' must have 1 to 200 bytes", "67 CJK characters");
    free(s);
    /* A window's name has its own limit, and so does a choice member without one (10 000). */
    s = bytes_of(101, "a");
    json_t *w = props("{'windows':[" WINDOW "]}");
    json_object_set_new(json_array_get(json_object_get(w, "windows"), 0), "name", json_string(s));
    refused_json("patrol_points", PROP_PATCH, w, 422,
                 "property 'windows[0].name' must have 1 to 100 bytes", "window name");
    free(s);
    s = bytes_of(10001, "a");
    refused_json("schools", PROP_PATCH, with_string("{}", "kind", s), 422,
                 "property 'kind' must have 0 to 10000 bytes", "a very long choice");
    free(s);
    /* Whitespace and control characters are text like any other. */
    accepted("schools", PROP_PATCH, "{'name':' '}");
    accepted("schools", PROP_PATCH, "{'name':'\\t\\n\\u0001'}");
    accepted("schools", PROP_PATCH, "{'name':'\\u200b'}");
}

static void test_choices(void **state)
{
    (void)state;
    static const struct {
        const char *layer, *name, *list;
    } cases[] = {
        { "schools", "kind", "primary, central_primary, middle, kindergarten, training" },
        { "patrol_points", "kind", "gate, route, water, other" },
        { "waters", "kind", "river, stream, canal, pond, lake, reservoir, other" },
        { "road_segments", "status", "found, reported, fixed" },
        { "venues", "kind",
          "internet_cafe, game_hall, karaoke, small_hotel, rental_housing, other" },
        { "stations", "kind", "police_station, patrol_base" },
        { "inspections", "follow_up", "none, open, notice_issued, rectified" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[256], text[320];
        snprintf(want, sizeof(want), "property '%s' must be one of: %s", cases[i].name,
                 cases[i].list);
        /* each listed value is accepted */
        char list[256];
        snprintf(list, sizeof(list), "%s", cases[i].list);
        for (char *c = list; c != NULL;) {
            char *next = strstr(c, ", ");
            if (next != NULL) {
                *next = '\0';
                next += 2;
            }
            snprintf(text, sizeof(text), "{'%s':'%s'}", cases[i].name, c);
            accepted(cases[i].layer, PROP_PATCH, text);
            /* and only exactly: case, spaces and prefixes matter */
            snprintf(text, sizeof(text), "{'%s':' %s'}", cases[i].name, c);
            refused(cases[i].layer, PROP_PATCH, text, 422, want);
            snprintf(text, sizeof(text), "{'%s':'%s '}", cases[i].name, c);
            refused(cases[i].layer, PROP_PATCH, text, 422, want);
            snprintf(text, sizeof(text), "{'%s':'%.*s'}", cases[i].name, (int)strlen(c) - 1, c);
            refused(cases[i].layer, PROP_PATCH, text, 422, want);
            c = next;
        }
        static const char *const bad[] = { "", "OTHER", "Gate", "其他", "null" };
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
            snprintf(text, sizeof(text), "{'%s':'%s'}", cases[i].name, bad[k]);
            refused(cases[i].layer, PROP_PATCH, text, 422, want);
        }
    }
    refused("schools", PROP_PATCH, "{'kind':'Primary'}", 422,
            "property 'kind' must be one of: primary, central_primary, middle, kindergarten, "
            "training");
    /* The fullwidth or accented look-alike is not the value. */
    refused("patrol_points", PROP_PATCH, "{'kind':'ｇａｔｅ'}", 422,
            "property 'kind' must be one of: gate, route, water, other");
}

/* ---- dates, times, days of the year, timestamps --------------------------------------- */

static void test_scalar_validators(void **state)
{
    (void)state;
    static const char *const dates_ok[] = {
        "2026-11-28", "2024-02-29", "2000-02-29", "1900-01-01",
        "2200-12-31", "2023-12-31", "2023-04-30", "1900-02-28"
    };
    static const char *const dates_bad[] = {
        "2023-02-29",  "1900-02-29", "2100-02-29", "1899-12-31",       "2201-01-01",
        "2026-13-01",  "2026-00-10", "2026-01-00", "2026-01-32",       "2026-04-31",
        "2026-1-01",   "2026/01/01", "26-01-01",   "2026-01-01T00:00", "2026-01-01 ",
        " 2026-01-01", "",           "2026-0a-01", "２０２６-01-01",   "+026-01-01",
        "-026-01-01",  "2026-01-1a",
    };
    for (size_t i = 0; i < sizeof(dates_ok) / sizeof(dates_ok[0]); i++)
        if (!layerdef_valid_date(dates_ok[i]))
            fail_msg("date refused: %s", dates_ok[i]);
    for (size_t i = 0; i < sizeof(dates_bad) / sizeof(dates_bad[0]); i++)
        if (layerdef_valid_date(dates_bad[i]))
            fail_msg("date accepted: %s", dates_bad[i]);

    static const struct {
        const char *s;
        int sec;
    } times_ok[] = { { "00:00", 0 },        { "07:30", 27000 },    { "23:59", 86340 },
                     { "23:59:59", 86399 }, { "07:30:15", 27015 }, { "00:00:00", 0 },
                     { "12:00:01", 43201 } };
    static const char *const times_bad[] = { "24:00", "23:60",    "7:30",     "07:3",
                                             "07-30", "07:30:60", "07:30:5",  "07:30:",
                                             "0730",  "07:30 ",   "",         "07:30:00.5",
                                             "-1:30", "+7:30",    "07:30:0a", "aa:bb" };
    for (size_t i = 0; i < sizeof(times_ok) / sizeof(times_ok[0]); i++) {
        int sec = -1;
        if (!layerdef_valid_time(times_ok[i].s, &sec))
            fail_msg("time refused: %s", times_ok[i].s);
        assert_int_equal(sec, times_ok[i].sec);
        assert_true(layerdef_valid_time(times_ok[i].s, NULL));
    }
    for (size_t i = 0; i < sizeof(times_bad) / sizeof(times_bad[0]); i++) {
        int sec = -7;
        if (layerdef_valid_time(times_bad[i], &sec))
            fail_msg("time accepted: %s", times_bad[i]);
        assert_int_equal(sec, -7); /* untouched on failure */
    }

    static const char *const mmdd_ok[] = { "01-01", "02-29", "12-31", "04-30", "06-01" };
    static const char *const mmdd_bad[] = { "02-30", "04-31", "00-01",  "13-01",
                                            "01-00", "01-32", "1-01",   "01/01",
                                            "0101",  "",      "01-01 ", "2026-01-01" };
    for (size_t i = 0; i < sizeof(mmdd_ok) / sizeof(mmdd_ok[0]); i++)
        if (!layerdef_valid_mmdd(mmdd_ok[i]))
            fail_msg("MM-DD refused: %s", mmdd_ok[i]);
    for (size_t i = 0; i < sizeof(mmdd_bad) / sizeof(mmdd_bad[0]); i++)
        if (layerdef_valid_mmdd(mmdd_bad[i]))
            fail_msg("MM-DD accepted: %s", mmdd_bad[i]);

    static const char *const ts_ok[] = {
        "2026-11-28T08:00:00+08:00", "2026-11-28T00:00:00Z",
        "2026-11-28t00:00:00z",      "2026-11-28 08:00:00+08:00",
        "2026-11-28T08:00:00.5Z",    "2026-11-28T08:00:00.123456-05:30",
        "2026-11-28T08:00:00+14:00", "2026-11-28T08:00:00-00:00",
        "2024-02-29T23:59:59+00:00", "2026-11-28T08:00:00+14:59",
    };
    static const char *const ts_bad[] = {
        "2026-11-28T08:00:00",
        "2026-11-28T08:00Z",
        "2026-11-28T08:00:00+08",
        "2026-11-28T08:00:00+0800",
        "2026-11-28T08:00:00+15:00",
        "2026-11-28T08:00:00+08:60",
        "2026-11-28T08:00:00.Z",
        "2026-11-28T08:00:00.5",
        "2026-11-28_08:00:00Z",
        "2023-02-29T08:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T08:00:60Z",
        "2026-11-28T08:00:00ZZ",
        "2026-11-28T08:00:00Z ",
        "2026-11-28T08:00:00+08:00 ",
        "2026-11-28",
        "",
        "2026-11-28T08:00:00 +08:00",
        "2026-11-28T08:00:00+8:00",
        "2026-11-28T08:00:00+08:0a",
        "1899-12-31T23:59:59Z",
        "2026-11-28T08:00:00UTC",
        "2026-11-28T8:00:00Z",
        "2026-11-28T08:00:00.5.5Z",
    };
    for (size_t i = 0; i < sizeof(ts_ok) / sizeof(ts_ok[0]); i++)
        if (!layerdef_valid_timestamp(ts_ok[i]))
            fail_msg("timestamp refused: %s", ts_ok[i]);
    for (size_t i = 0; i < sizeof(ts_bad) / sizeof(ts_bad[0]); i++)
        if (layerdef_valid_timestamp(ts_bad[i]))
            fail_msg("timestamp accepted: %s", ts_bad[i]);
}

/* The same rules through layerdef_check, with the value echoed in the message. */
static void test_formatted_values(void **state)
{
    (void)state;
    refused("schools", PROP_PATCH, "{'arrival_start':'24:00'}", 422,
            "property 'arrival_start' is '24:00', not a time of day \"HH:MM\"");
    refused("schools", PROP_PATCH, "{'dismissal_end':'4pm'}", 422,
            "property 'dismissal_end' is '4pm', not a time of day \"HH:MM\"");
    accepted("schools", PROP_PATCH, "{'arrival_start':'07:10:30','dismissal_start':'16:00'}");
    refused("patrol_points", PROP_PATCH, "{'season_start':'02-30','season_end':'09-30'}", 422,
            "property 'season_start' is '02-30', not a day of the year \"MM-DD\"");
    accepted("patrol_points", PROP_PATCH, "{'season_start':'02-29','season_end':'09-30'}");
    refused("inspections", PROP_PATCH, "{'inspected_at':'2026-11-28T08:00:00'}", 422,
            "property 'inspected_at' is '2026-11-28T08:00:00', not an RFC 3339 date-time with "
            "offset");
    refused("inspections", PROP_PATCH, "{'inspected_at':''}", 422,
            "property 'inspected_at' is '', not an RFC 3339 date-time with offset");
    accepted("inspections", PROP_PATCH, "{'inspected_at':'2026-11-28T08:00:00.250+08:00'}");
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00',"
            "'date_from':'2026-02-30','date_to':'2026-03-01'}]}",
            422, "property 'windows[0].date_from' is '2026-02-30', not a date \"YYYY-MM-DD\"");
    /* A value with quotes or newlines is echoed as it is (the error body is JSON-encoded). */
    refused("schools", PROP_PATCH, "{'arrival_end':'7\\'30\\n'}", 422,
            "property 'arrival_end' is '7\"30\n', not a time of day \"HH:MM\"");
}

/* ---- pairs ---------------------------------------------------------------------------- */

static void test_pairs(void **state)
{
    (void)state;
    /* "<": strictly before; times compared as seconds whatever their form. */
    accepted("schools", PROP_CREATE,
             "{'name':'a','kind':'middle','arrival_start':'07:00','arrival_end':'08:00',"
             "'dismissal_start':'16:00','dismissal_end':'17:30'}");
    refused("schools", PROP_PATCH, "{'arrival_start':'08:00','arrival_end':'08:00'}", 422,
            "property 'arrival_start' must be before 'arrival_end'");
    refused("schools", PROP_PATCH, "{'arrival_start':'08:00','arrival_end':'07:59:59'}", 422,
            "property 'arrival_start' must be before 'arrival_end'");
    refused("schools", PROP_PATCH, "{'arrival_start':'07:30','arrival_end':'07:30:00'}", 422,
            "property 'arrival_start' must be before 'arrival_end'");
    refused("schools", PROP_PATCH, "{'arrival_start':'07:30:01','arrival_end':'07:30'}", 422,
            "property 'arrival_start' must be before 'arrival_end'");
    accepted("schools", PROP_PATCH, "{'arrival_start':'07:30','arrival_end':'07:30:01'}");
    /* Mixed forms compare as times. */
    accepted("schools", PROP_PATCH, "{'arrival_start':'09:00','arrival_end':'10:00:00'}");
    refused("schools", PROP_PATCH, "{'dismissal_start':'18:00','dismissal_end':'16:00'}", 422,
            "property 'dismissal_start' must be before 'dismissal_end'");
    /* One side null or absent: nothing to compare here (the database has the stored side). */
    accepted("schools", PROP_PATCH, "{'arrival_start':'09:00','arrival_end':null}");
    accepted("schools", PROP_PATCH, "{'arrival_end':'06:00'}");
    accepted("schools", PROP_CREATE,
             "{'name':'a','kind':'middle','arrival_start':'09:00','arrival_end':null}");
    /* The first broken pair is named. */
    refused("schools", PROP_PATCH,
            "{'dismissal_start':'18:00','dismissal_end':'16:00','arrival_start':'08:00',"
            "'arrival_end':'07:00'}",
            422, "property 'arrival_start' must be before 'arrival_end'");

    /* "both": set together or not at all, on create and replace; on a patch only when both
     * are given. */
    refused("patrol_points", PROP_CREATE, "{'name':'a','kind':'water','season_start':'06-01'}", 422,
            "properties 'season_start' and 'season_end' are set together or not at all");
    refused("patrol_points", PROP_REPLACE, "{'name':'a','kind':'water','season_end':'09-30'}", 422,
            "properties 'season_start' and 'season_end' are set together or not at all");
    refused("waters", PROP_CREATE,
            "{'name':'a','kind':'pond','season_start':'06-01','season_end':null}", 422,
            "properties 'season_start' and 'season_end' are set together or not at all");
    accepted("patrol_points", PROP_PATCH, "{'season_start':'06-01'}");
    refused("patrol_points", PROP_PATCH, "{'season_start':'06-01','season_end':null}", 422,
            "properties 'season_start' and 'season_end' are set together or not at all");
    accepted("patrol_points", PROP_PATCH, "{'season_start':null,'season_end':null}");
    /* A season may wrap the new year: no order between its ends. */
    accepted("waters", PROP_CREATE,
             "{'name':'a','kind':'pond','season_start':'11-01','season_end':'02-28'}");
    accepted("waters", PROP_CREATE,
             "{'name':'a','kind':'pond','season_start':'06-01','season_end':'06-01'}");

    /* The windows: "<" on times, "<=" and "both" on dates. */
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'name':'m','start_local':'08:00','end_local':'07:00'}]}", 422,
            "property 'windows[0].start_local' must be before 'windows[0].end_local'");
    accepted("patrol_points", PROP_PATCH,
             "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00',"
             "'date_from':'2026-09-01','date_to':'2026-09-01'}]}");
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00',"
            "'date_from':'2026-09-02','date_to':'2026-09-01'}]}",
            422, "property 'windows[0].date_from' must be not after 'windows[0].date_to'");
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00',"
            "'date_from':'2026-09-01'}]}",
            422,
            "properties 'windows[0].date_from' and 'windows[0].date_to' are set together or "
            "not at all");
}

/* ---- the nested windows --------------------------------------------------------------- */

static void test_windows(void **state)
{
    (void)state;
    accepted("patrol_points", PROP_CREATE,
             "{'name':'north gate','kind':'gate','radius_m':30,'windows':[" WINDOW ","
             "{'name':'afternoon','start_local':'16:00','end_local':'17:00','days':31,"
             "'props':{'note':'x'}}]}");
    accepted("patrol_points", PROP_CREATE, "{'name':'a','kind':'gate','windows':[]}");
    /* Each window is a complete create, even inside a patch. */
    refused("patrol_points", PROP_PATCH,
            "{'windows':[" WINDOW ",{'name':'afternoon','start_local':'16:00'}]}", 400,
            "property 'windows[1].end_local' is required");
    refused("patrol_points", PROP_PATCH, "{'windows':[" WINDOW ",7]}", 400,
            "'windows[1]' must be an object");
    refused("patrol_points", PROP_PATCH, "{'windows':[[]]}", 400, "'windows[0]' must be an object");
    refused("patrol_points", PROP_PATCH, "{'windows':[null]}", 400,
            "'windows[0]' must be an object");
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'id':3,'name':'m','start_local':'07:00','end_local':'08:00'}]}", 400,
            "property 'windows[0].id' is set by the server and cannot be written");
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'point_id':3,'name':'m','start_local':'07:00','end_local':'08:00'}]}",
            400, "unknown property 'windows[0].point_id' (extra attributes go in 'props')");
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00',"
            "'windows':[]}]}",
            400, "unknown property 'windows[0].windows' (extra attributes go in 'props')");
    /* In the window's create mode, null is refused where a patch would reset. */
    refused("patrol_points", PROP_PATCH,
            "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00','days':null}]}", 422,
            "property 'windows[0].days' may not be null");
    accepted("patrol_points", PROP_PATCH,
             "{'windows':[{'name':'m','start_local':'07:00','end_local':'08:00',"
             "'date_from':null,'date_to':null}]}");
    /* The point's own members are judged before its windows. */
    refused("patrol_points", PROP_CREATE, "{'kind':'gate','windows':[{}]}", 400,
            "property 'name' is required");
    /* Index in the message past 9. */
    json_t *j = props("{'windows':[]}");
    json_t *arr = json_object_get(j, "windows");
    for (int i = 0; i < 12; i++)
        json_array_append_new(arr, props(WINDOW));
    json_object_set_new(json_array_get(arr, 11), "start_local", json_string("8:00"));
    refused_json("patrol_points", PROP_PATCH, j, 422,
                 "property 'windows[11].start_local' is '8:00', not a time of day \"HH:MM\"",
                 "12 windows");
}

/* ---- prefix, message buffer, the class flag ------------------------------------------- */

static void test_prefix_and_buffer(void **state)
{
    (void)state;
    char msg[512];
    bool unproc;
    assert_int_equal(check_json("schools", props("{'name':''}"), PROP_PATCH, "features[3].", msg,
                                sizeof(msg), &unproc),
                     -1);
    assert_string_equal(msg, "property 'features[3].name' must have 1 to 200 bytes");
    assert_true(unproc);
    assert_int_equal(check_json("patrol_points", props("{'windows':[7]}"), PROP_PATCH, "p.", msg,
                                sizeof(msg), &unproc),
                     -1);
    assert_string_equal(msg, "'p.windows[0]' must be an object");
    assert_false(unproc);
    assert_int_equal(check_json("patrol_points",
                                props("{'windows':[{'name':'m','start_local':'09:00',"
                                      "'end_local':'08:00'}]}"),
                                PROP_PATCH, "p.", msg, sizeof(msg), &unproc),
                     -1);
    assert_string_equal(msg, "property 'p.windows[0].start_local' must be before "
                             "'p.windows[0].end_local'");
    assert_true(unproc);

    /* A short buffer truncates the message and stays terminated. */
    char small[16];
    memset(small, 'X', sizeof(small));
    assert_int_equal(
        check_json("schools", props("{'colour':1}"), PROP_PATCH, "", small, sizeof(small), &unproc),
        -1);
    assert_string_equal(small, "unknown propert");
    assert_false(unproc);
    /* A long unknown member name is cut, not overflowed. */
    char *name = bytes_of(5000, "k");
    json_t *j = json_object();
    json_object_set_new(j, name, json_integer(1));
    assert_int_equal(check_json("schools", j, PROP_PATCH, "", msg, sizeof(msg), &unproc), -1);
    assert_int_equal(strlen(msg), sizeof(msg) - 1);
    assert_memory_equal(msg, "unknown property 'kkk", 21);
    free(name);

    /* Success clears the flag, whatever came before. */
    unproc = true;
    assert_int_equal(
        check_json("schools", props(SCHOOL), PROP_CREATE, "", msg, sizeof(msg), &unproc), 0);
    assert_false(unproc);
    /* The same input gives the same answer under create and replace. */
    static const char *const both[] = { "{}", SCHOOL, "{'name':'a','kind':'x'}",
                                        "{'name':'a','kind':'middle','boarding':null}" };
    for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
        char m1[256], m2[256];
        bool u1, u2;
        int r1 = check_json("schools", props(both[i]), PROP_CREATE, "", m1, sizeof(m1), &u1);
        int r2 = check_json("schools", props(both[i]), PROP_REPLACE, "", m2, sizeof(m2), &u2);
        assert_int_equal(r1, r2);
        assert_int_equal(u1, u2);
        if (r1 != 0)
            assert_string_equal(m1, m2);
    }
}

/* ---- SQL text and casts --------------------------------------------------------------- */

static void sql_is(const char *layer_id, const char *prop, json_t *v, const char *want)
{
    const struct prop_def *p = layerdef_prop(layer(layer_id), prop);
    assert_non_null(p);
    char *got = layerdef_sql_value(p, v);
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
    json_decref(v);
}

static void test_sql(void **state)
{
    (void)state;
    sql_is("patrol_points", "min_dwell_s", json_integer(60), "60");
    sql_is("patrol_points", "school_id", json_integer(9000000000000000), "9000000000000000");
    sql_is("patrol_points", "school_id", json_null(), NULL);
    sql_is("patrol_points", "radius_m", json_real(50.5), "50.5");
    sql_is("patrol_points", "radius_m", json_integer(50), "50");
    sql_is("patrol_points", "radius_m", json_real(0.1), "0.10000000000000001"); /* exact */
    sql_is("patrol_points", "hysteresis_m", json_real(1.0 / 3.0), "0.33333333333333331");
    sql_is("schools", "boarding", json_true(), "true");
    sql_is("schools", "boarding", json_false(), "false");
    sql_is("schools", "name", json_string("青石镇 'x'; DROP"), "青石镇 'x'; DROP");
    sql_is("schools", "contacts", props("[{'n':'王','p':1}]"), "[{\"n\":\"王\",\"p\":1}]");
    sql_is("schools", "props", props("{'a':{'b':[]}}"), "{\"a\":{\"b\":[]}}");
    sql_is("schools", "arrival_start", json_string("07:30"), "07:30");
    sql_is("patrol_points", "season_start", json_string("02-29"), "02-29");
    sql_is("inspections", "inspected_at", json_string("2026-11-28T08:00:00+08:00"),
           "2026-11-28T08:00:00+08:00");
    sql_is("schools", "address", json_null(), NULL);
    assert_null(layerdef_sql_value(layerdef_prop(layer("schools"), "address"), NULL));

    static const struct {
        const char *layer, *prop, *cast;
    } casts[] = {
        { "schools", "name", "::text" },
        { "schools", "boarding", "::boolean" },
        { "schools", "arrival_start", "::time" },
        { "schools", "contacts", "::jsonb" },
        { "schools", "props", "::jsonb" },
        { "schools", "id", "::bigint" },
        { "schools", "updated_at", "::timestamptz" },
        { "patrol_points", "radius_m", "::float8" },
        { "patrol_points", "min_dwell_s", "::bigint" },
        { "patrol_points", "season_start", "::text" }, /* MM-DD is stored as text */
        { "inspections", "inspected_at", "::timestamptz" },
    };
    for (size_t i = 0; i < sizeof(casts) / sizeof(casts[0]); i++)
        assert_string_equal(layerdef_sql_cast(layerdef_prop(layer(casts[i].layer), casts[i].prop)),
                            casts[i].cast);
    const struct layer_def *w = layer("patrol_points")->child;
    assert_string_equal(layerdef_sql_cast(layerdef_prop(w, "date_from")), "::date");
    assert_string_equal(layerdef_sql_cast(layerdef_prop(w, "start_local")), "::time");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_lookup),
        cmocka_unit_test(test_catalog_geometry),
        cmocka_unit_test(test_catalog_consistent),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_unknown_and_readonly),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_text_lengths),
        cmocka_unit_test(test_choices),
        cmocka_unit_test(test_scalar_validators),
        cmocka_unit_test(test_formatted_values),
        cmocka_unit_test(test_pairs),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_prefix_and_buffer),
        cmocka_unit_test(test_sql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

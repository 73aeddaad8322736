/*
 * ogc_write.c - OGC API - Features Part 4: create (one Feature, or a FeatureCollection in one
 * transaction), replace (PUT), update (PATCH, a merge) and delete, with If-Match against the
 * ETag, and a feature's nested children (a patrol point's windows). Geometry is validated by
 * geojson.c in the CRS of Content-Crs or ?crs=, properties by layerdef_check. Everything is
 * checked before anything is written; each write runs in one transaction with the caller named
 * as the audit actor, so the tables' triggers fill audit_log and NOTIFY the server.
 *
 * Not here: reads (ogc_read.c; a write answers with its feature read back through it), the
 * property rules (layerdef.c), the geometry rules (geojson.c).
 */
#include "ogc_internal.h"

#include "access.h"
#include "app.h"
#include "arena.h"
#include "auth.h"
#include "crs.h"
#include "db.h"
#include "geoctx.h"
#include "geojson.h"
#include "http.h"
#include "ogcapi.h"
#include "req_json.h"
#include "parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns (and so parameters) of one INSERT or UPDATE: more than any layer of the catalog has
 * (layerdef_check lets through only the layer's own properties). */
#define WRITE_MAX_COLUMNS 32

/* One feature's write, validated and turned into SQL parameters. */
struct feature_write {
    const char *geom_hex; /* hex WKB in WGS84; NULL with geom_given: set to NULL */
    bool geom_given;
    json_t *props; /* borrowed from the request document */
};

/*
 * One write request: its connection and input CRS, and the message of its failure. Functions
 * that can fail return the enum err and leave the message in msg (fail), prefixed with where
 * (which feature of a collection, which window).
 */
struct write_ctx {
    struct req *r;
    struct db_conn *c;
    const struct layer_def *l;
    enum crs in_crs;
    bool in_swap;
    char where[64]; /* "" or "features[3]: " (and "windows[1]: ") */
    char msg[512];
};

static enum err fail(struct write_ctx *w, enum err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the message of e (prefixed with w->where) into w->msg and returns e. */
static enum err fail(struct write_ctx *w, enum err e, const char *fmt, ...)
{
    char text[360];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    snprintf(w->msg, sizeof(w->msg), "%s%s", w->where, text);
    return e;
}

/* A copy of a coordinates array with the first two numbers of every position swapped. */
static json_t *swap_positions(json_t *a)
{
    if (!json_is_array(a))
        return json_incref(a);
    json_t *out = json_array();
    size_t n = json_array_size(a);
    bool position = n >= 2 && json_is_number(json_array_get(a, 0));
    for (size_t i = 0; i < n; i++) {
        size_t from = position && i < 2 ? 1 - i : i;
        json_t *e = json_array_get(a, from);
        json_array_append_new(out, position ? json_incref(e) : swap_positions(e));
    }
    return out;
}

/* A shallow copy of a geometry object whose positions are lat/lon, as lon/lat. */
static json_t *swap_geometry_axes(json_t *g)
{
    json_t *copy = json_copy(g);
    json_t *coords = json_object_get(g, "coordinates");
    if (copy != NULL && coords != NULL)
        json_object_set_new(copy, "coordinates", swap_positions(coords));
    return copy;
}

/* Reads geometry g under the layer's rules into fw (hex WKB in WGS84). */
static enum err check_geometry(struct write_ctx *w, json_t *g, struct feature_write *fw)
{
    const struct layer_def *l = w->l;
    struct geojson_rules rules = { .types = l->geom_types,
                                   .promote_multi = l->promote_multi,
                                   .crs = w->in_crs };
    const struct ogcapi_options *oo = w->r->app->ogcapi;
    if (oo != NULL && oo->has_town_bbox) {
        rules.has_bbox = true;
        rules.min_lon = oo->town_bbox[0];
        rules.min_lat = oo->town_bbox[1];
        rules.max_lon = oo->town_bbox[2];
        rules.max_lat = oo->town_bbox[3];
    }
    GEOSContextHandle_t h = geoctx_geos();
    GEOSGeometry *geom = NULL;
    struct geojson_error ge;
    /* Lat/lon-ordered input (an EPSG URI as crs): read it with the axes swapped. */
    json_t *input = w->in_swap ? swap_geometry_axes(g) : json_incref(g);
    int rc = input ? geojson_read(h, input, &rules, &geom, &ge) : -1;
    json_decref(input);
    if (input == NULL)
        return fail(w, ERR_INTERNAL, "out of memory");
    if (rc != 0)
        return fail(w, ge.kind, "geometry%s%s: %s (%s)", ge.path[0] ? " at " : "", ge.path,
                    ge.message, ge.code);
    GEOSWKBWriter *wr = GEOSWKBWriter_create_r(h);
    size_t len = 0;
    unsigned char *hex = GEOSWKBWriter_writeHEX_r(h, wr, geom, &len);
    GEOSWKBWriter_destroy_r(h, wr);
    GEOSGeom_destroy_r(h, geom);
    if (hex == NULL)
        return fail(w, ERR_INTERNAL, "could not encode the geometry");
    fw->geom_hex = arena_strndup(w->r->arena, (const char *)hex, len);
    GEOSFree_r(h, hex);
    fw->geom_given = true;
    return ERR_OK;
}

/* Validates a GeoJSON Feature for the layer; fills fw. */
static enum err check_feature(struct write_ctx *w, json_t *f, enum prop_mode mode,
                              struct feature_write *fw, long long path_fid)
{
    const struct layer_def *l = w->l;
    memset(fw, 0, sizeof(*fw));
    if (!json_is_object(f))
        return fail(w, ERR_INVALID_ARGUMENT, "a feature must be a JSON object");
    json_t *type = json_object_get(f, "type");
    /* A merge patch may leave out "type"; anything else must be a Feature. */
    bool untyped_patch = type == NULL && mode == PROP_PATCH;
    if (!untyped_patch &&
        (!json_is_string(type) || strcmp(json_string_value(type), "Feature") != 0))
        return fail(w, ERR_INVALID_ARGUMENT, "\"type\" must be \"Feature\"");
    if (json_object_get(f, "crs") != NULL)
        return fail(w, ERR_INVALID_ARGUMENT,
                    "a \"crs\" member is not GeoJSON (RFC 7946); send WGS84 or use ?crs=");
    json_t *id = json_object_get(f, "id");
    if (id != NULL && !json_is_null(id)) {
        if (path_fid == 0)
            return fail(w, ERR_INVALID_ARGUMENT, "the server assigns ids: remove \"id\"");
        if (!json_is_integer(id) || json_integer_value(id) != path_fid)
            return fail(w, ERR_INVALID_ARGUMENT, "\"id\" does not match the feature's URL");
    }
    fw->props = json_object_get(f, "properties");
    if (fw->props == NULL || json_is_null(fw->props))
        fw->props = NULL;
    else if (!json_is_object(fw->props))
        return fail(w, ERR_INVALID_ARGUMENT, "\"properties\" must be an object or null");

    json_t *g = json_object_get(f, "geometry");
    enum err e;
    if (g == NULL) {
        if (mode != PROP_PATCH)
            return fail(w, ERR_INVALID_ARGUMENT, "a feature needs a \"geometry\" member");
    } else if (json_is_null(g)) {
        if (!l->geom_nullable)
            return fail(w, ERR_UNPROCESSABLE, "features of %s need a geometry", l->id);
        fw->geom_given = true;
    } else {
        e = check_geometry(w, g, fw);
        if (e != ERR_OK)
            return e;
    }
    char msg[300];
    if (fw->props == NULL) {
        /* No properties: check an empty object, kept alive by the feature document. */
        fw->props = json_object();
        json_object_set_new(f, "properties", fw->props);
    }
    e = layerdef_check(l, fw->props, mode, "", msg, sizeof(msg));
    if (e != ERR_OK)
        return fail(w, e, "%s", msg);
    return ERR_OK;
}

/* Maps a failed write statement (its error e) to a client error with a reason. */
static enum err db_fail(struct write_ctx *w, enum err e, bool deleting)
{
    enum db_violation v = db_error_violation(w->c);
    const char *constraint = db_error_constraint(w->c);
    if (v == DB_VIOLATION_FOREIGN_KEY)
        return deleting ? fail(w, ERR_CONFLICT,
                               "other records still refer to this feature (%s); remove them first",
                               constraint)
                        : fail(w, ERR_UNPROCESSABLE, "a referenced record does not exist (%s)",
                               constraint);
    if (v == DB_VIOLATION_CHECK)
        return fail(w, ERR_UNPROCESSABLE, "the values break the rule %s", constraint);
    if (v == DB_VIOLATION_UNIQUE)
        return fail(w, ERR_CONFLICT, "a feature with these values exists (%s)", constraint);
    if (e == ERR_INVALID_ARGUMENT)
        return fail(w, e, "a value is not valid for its column: %s", db_error_message(w->c));
    return fail(w, e, "could not write to %s", w->l->id);
}

/* Writes the children (patrol windows) of parent id: replaces them all. */
static enum err write_children(struct write_ctx *w, long long id, json_t *children)
{
    const struct layer_def *cl = w->l->child;
    char sid[24];
    snprintf(sid, sizeof(sid), "%lld", id);
    const char *p1[1] = { sid };
    char *del =
        arena_printf(w->r->arena, "DELETE FROM %s WHERE %s = $1::bigint", cl->id, w->l->child_fk);
    enum err e = db_exec_params(w->c, del, 1, p1, NULL, w->r->rid);
    if (e != ERR_OK)
        return db_fail(w, e, false);
    size_t i;
    json_t *child;
    json_array_foreach(children, i, child)
    {
        const char *params[WRITE_MAX_COLUMNS];
        char *owned[WRITE_MAX_COLUMNS];
        int n = 0;
        char *cols = arena_strdup(w->r->arena, w->l->child_fk);
        char *vals = arena_strdup(w->r->arena, "$1::bigint");
        params[n] = sid;
        owned[n++] = NULL;
        const char *key;
        json_t *v;
        json_object_foreach(child, key, v)
        {
            const struct prop_def *p = layerdef_prop(cl, key);
            owned[n] = layerdef_sql_value(p, v);
            params[n] = owned[n];
            n++;
            cols = arena_printf(w->r->arena, "%s, %s", cols, p->name);
            vals = arena_printf(w->r->arena, "%s, $%d%s", vals, n, layerdef_sql_cast(p));
        }
        char *sql =
            arena_printf(w->r->arena, "INSERT INTO %s (%s) VALUES (%s)", cl->id, cols, vals);
        e = db_exec_params(w->c, sql, n, params, NULL, w->r->rid);
        for (int k = 0; k < n; k++)
            free(owned[k]);
        if (e != ERR_OK) {
            snprintf(w->where + strlen(w->where), sizeof(w->where) - strlen(w->where),
                     "windows[%zu]: ", i);
            return db_fail(w, e, false);
        }
    }
    return ERR_OK;
}

/*
 * Inserts (fid 0) or updates feature fid from fw in mode, with *id_out set to its id. Must run
 * inside the caller's transaction.
 */
static enum err store_feature(struct write_ctx *w, struct feature_write *fw, enum prop_mode mode,
                              long long fid, long long *id_out)
{
    const struct layer_def *l = w->l;
    struct arena *a = w->r->arena;
    const char *params[WRITE_MAX_COLUMNS];
    char *owned[WRITE_MAX_COLUMNS] = { 0 };
    int n = 0;
    /* Parallel lists of columns and their value expressions. */
    const char *cols[WRITE_MAX_COLUMNS], *vals[WRITE_MAX_COLUMNS];
    int ncols = 0;

    if (fw->geom_given) {
        cols[ncols] = l->geom_col;
        if (fw->geom_hex != NULL) {
            params[n++] = fw->geom_hex;
            vals[ncols++] = arena_printf(a, "ST_GeomFromWKB(decode($%d, 'hex'), 4326)", n);
        } else {
            vals[ncols++] = "NULL";
        }
    }
    for (const struct prop_def *p = l->props; p->name != NULL; p++) {
        if ((p->flags & PROP_READONLY) || (l->child_key && strcmp(p->name, l->child_key) == 0))
            continue;
        json_t *v = json_object_get(fw->props, p->name);
        if (v == NULL && mode == PROP_PATCH)
            continue;
        cols[ncols] = p->name;
        if (v == NULL) {
            vals[ncols++] = "DEFAULT"; /* replace: what is not given is reset */
        } else if (json_is_null(v)) {
            vals[ncols++] = (p->flags & PROP_NULLABLE) ? "NULL" : "DEFAULT";
        } else {
            owned[n] = layerdef_sql_value(p, v);
            params[n] = owned[n];
            n++;
            vals[ncols++] = arena_printf(a, "$%d%s", n, layerdef_sql_cast(p));
        }
    }
    char *list1 = arena_strdup(a, ""), *list2 = arena_strdup(a, "");
    for (int i = 0; i < ncols; i++) {
        const char *sep = i ? ", " : "";
        if (fid == 0) {
            list1 = arena_printf(a, "%s%s%s", list1, sep, cols[i]);
            list2 = arena_printf(a, "%s%s%s", list2, sep, vals[i]);
        } else {
            list1 = arena_printf(a, "%s%s%s = %s", list1, sep, cols[i], vals[i]);
        }
    }
    char *sql;
    if (fid == 0) {
        sql = arena_printf(a, "INSERT INTO %s (%s) VALUES (%s) RETURNING id", l->id, list1, list2);
    } else {
        /* A patch of the children alone still touches the row: its version changes. */
        params[n++] = arena_printf(a, "%lld", fid);
        sql = arena_printf(a, "UPDATE %s SET %s WHERE id = $%d::bigint RETURNING id", l->id,
                           ncols ? list1 : "updated_at = now()", n);
    }
    PGresult *res;
    enum err e = db_exec_params(w->c, sql, n, params, &res, w->r->rid);
    for (int k = 0; k < n; k++)
        free(owned[k]);
    if (e != ERR_OK)
        return db_fail(w, e, false);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return fail(w, ERR_NOT_FOUND, "no feature %lld in %s", fid, l->id);
    }
    *id_out = parse_cell_i64(PQgetvalue(res, 0, 0));
    PQclear(res);
    json_t *children = l->child_key ? json_object_get(fw->props, l->child_key) : NULL;
    if (l->child != NULL && (children != NULL || mode != PROP_PATCH)) {
        json_t *none = json_array();
        e = write_children(w, *id_out, json_is_array(children) ? children : none);
        json_decref(none);
    }
    return e;
}

/* Refuses a write to a read-only layer: ERR_METHOD_NOT_ALLOWED, replied, with Allow. */
static enum err check_writable(struct req *r, const struct layer_def *l)
{
    if (l->writable)
        return ERR_OK;
    req_reply_error(r, ERR_METHOD_NOT_ALLOWED, "%s is imported data and read-only here", l->id);
    req_add_header(r, "Allow", "GET");
    return ERR_METHOD_NOT_ALLOWED;
}

/*
 * Opens a write: the layer must be writable, the input CRS known, the body a JSON object
 * (*doc, new). Returns ERR_OK, or the error after replying with it.
 */
static enum err begin_write(struct req *r, struct write_ctx *w, const struct layer_def *l,
                            json_t **doc)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
    w->l = l;
    *doc = NULL;
    enum err e = check_writable(r, l);
    if (e != ERR_OK)
        return e;
    /* Part 4 names the input CRS in Content-Crs; ?crs= is accepted too. */
    const char *content_crs = req_header(r, "Content-Crs");
    const char *name = req_query(r, "crs");
    char *stripped = NULL;
    if (content_crs != NULL) {
        size_t len = strlen(content_crs);
        if (len >= 2 && content_crs[0] == '<' && content_crs[len - 1] == '>')
            stripped = arena_strndup(r->arena, content_crs + 1, len - 2);
        else
            stripped = arena_strdup(r->arena, content_crs);
        name = stripped;
    }
    w->in_crs = CRS_WGS84;
    if (name != NULL) {
        if (crs_parse(name, &w->in_crs) != 0) {
            req_reply_error(r, ERR_INVALID_ARGUMENT, "input CRS '%s' is not supported", name);
            return ERR_INVALID_ARGUMENT;
        }
        w->in_swap = crs_axis_lat_first(name);
    }
    *doc = req_json_object(r);
    return *doc != NULL ? ERR_OK : ERR_INVALID_ARGUMENT; /* replied by req_json_object */
}

/*
 * Takes a connection and begins the transaction with the caller named for the audit triggers.
 * Returns ERR_OK, or the error after replying with it.
 */
static enum err open_tx(struct write_ctx *w)
{
    char actor[160];
    w->c = req_db_acquire(w->r);
    if (w->c == NULL)
        return ERR_UNAVAILABLE; /* replied by req_db_acquire */
    auth_actor(req_identity(w->r), actor, sizeof(actor));
    enum err e = db_begin(w->c, w->r->rid);
    if (e == ERR_OK)
        e = db_set_actor(w->c, actor, w->r->rid);
    if (e != ERR_OK) {
        req_db_release(w->r, w->c);
        w->c = NULL;
        req_reply_error(w->r, e, "the database is not available; retry shortly");
    }
    return e;
}

/*
 * Ends the transaction of a write whose outcome is e: commits when e is ERR_OK, else rolls
 * back, and gives the connection back. Returns ERR_OK when committed; otherwise the error
 * (e, or the commit's) after replying with it and w's message.
 */
static enum err close_tx(struct write_ctx *w, enum err e)
{
    if (e == ERR_OK) {
        e = db_commit(w->c, w->r->rid);
        if (e != ERR_OK)
            fail(w, e, "the change could not be committed; nothing was written");
    } else {
        db_rollback(w->c, w->r->rid);
    }
    req_db_release(w->r, w->c);
    w->c = NULL;
    if (e != ERR_OK)
        req_reply_error(w->r, e, "%s", w->msg);
    return e;
}

/*
 * Locks feature fid for an edit and checks If-Match: ERR_OK, or ERR_NOT_FOUND (no such
 * feature), ERR_PRECONDITION (a stale version) or the database's error, with w's message.
 */
static enum err lock_version(struct write_ctx *w, long long fid)
{
    char sid[24];
    snprintf(sid, sizeof(sid), "%lld", fid);
    const char *params[1] = { sid };
    char *sql = arena_printf(w->r->arena,
                             "SELECT floor(extract(epoch FROM updated_at) * 1000000)::bigint"
                             " FROM %s WHERE id = $1::bigint FOR UPDATE",
                             w->l->id);
    PGresult *res;
    enum err e = db_exec_params(w->c, sql, 1, params, &res, w->r->rid);
    if (e != ERR_OK)
        return db_fail(w, e, false);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return fail(w, ERR_NOT_FOUND, "no feature %lld in %s", fid, w->l->id);
    }
    char etag[40];
    snprintf(etag, sizeof(etag), "\"%s\"", PQgetvalue(res, 0, 0));
    PQclear(res);
    const char *match = req_header(w->r, "If-Match");
    if (match != NULL && strcmp(match, "*") != 0 && strstr(match, etag) == NULL)
        return fail(w, ERR_PRECONDITION,
                    "feature %lld was changed since you read it (it is now %s, you had %s); "
                    "read it again",
                    fid, etag, match);
    return ERR_OK;
}

/* The features of a POST body: one Feature (doc itself) or a FeatureCollection's array. */
static enum err post_features(struct req *r, json_t *doc, json_t **features, size_t *count)
{
    json_t *type = json_object_get(doc, "type");
    bool many = json_is_string(type) && strcmp(json_string_value(type), "FeatureCollection") == 0;
    *features = many ? json_object_get(doc, "features") : NULL;
    *count = 1;
    if (!many)
        return ERR_OK;
    if (!json_is_array(*features)) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "a FeatureCollection needs a \"features\" array");
        return ERR_INVALID_ARGUMENT;
    }
    if (json_object_get(doc, "crs") != NULL) {
        req_reply_error(r, ERR_INVALID_ARGUMENT,
                        "a \"crs\" member is not GeoJSON (RFC 7946); send WGS84 or use ?crs=");
        return ERR_INVALID_ARGUMENT;
    }
    *count = json_array_size(*features);
    if (*count == 0) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "the FeatureCollection is empty");
        return ERR_INVALID_ARGUMENT;
    }
    return ERR_OK;
}

void ogc_post_items(struct req *r)
{
    const struct layer_def *l;
    struct write_ctx w;
    json_t *doc, *features;
    size_t count;
    if (ogc_path_layer(r, &l) != ERR_OK || begin_write(r, &w, l, &doc) != ERR_OK)
        return;
    if (post_features(r, doc, &features, &count) != ERR_OK) {
        json_decref(doc);
        return;
    }
    bool many = features != NULL;
    struct feature_write *fws = arena_calloc(r->arena, count, sizeof(*fws));
    /* Everything is checked before anything is written. */
    for (size_t i = 0; i < count; i++) {
        if (many)
            snprintf(w.where, sizeof(w.where), "features[%zu]: ", i);
        enum err e =
            check_feature(&w, many ? json_array_get(features, i) : doc, PROP_CREATE, &fws[i], 0);
        if (e != ERR_OK) {
            req_reply_error(r, e, "%s", w.msg);
            json_decref(doc);
            return;
        }
    }
    if (open_tx(&w) != ERR_OK) {
        json_decref(doc);
        return;
    }
    json_t *ids = json_array();
    long long id = 0;
    enum err e = ERR_OK;
    for (size_t i = 0; i < count && e == ERR_OK; i++) {
        if (many)
            snprintf(w.where, sizeof(w.where), "features[%zu]: ", i);
        e = store_feature(&w, &fws[i], PROP_CREATE, 0, &id);
        json_array_append_new(ids, json_integer(id));
    }
    struct ogc_crs oc = { CRS_WGS84, false, crs_uri(CRS_WGS84) };
    long long version = 0;
    json_t *f = NULL;
    if (e == ERR_OK && !many) {
        e = ogc_read_feature(r, w.c, l, id, &oc, &f, &version);
        if (e != ERR_OK)
            fail(&w, e, "could not read back the new feature");
    }
    json_decref(doc);
    if (close_tx(&w, e) != ERR_OK) {
        json_decref(ids);
        json_decref(f);
        return;
    }
    if (!many) {
        json_decref(ids);
        ogc_reply_feature(r, 201, l, f, id, version, &oc);
        return;
    }
    req_reply_json(
        r, 201,
        json_pack("{s:s,s:i,s:o}", "collection", l->id, "numberCreated", (int)count, "ids", ids));
    req_add_header(r, "Location",
                   arena_printf(r->arena, "%s/collections/%s/items", ogc_base_url(r), l->id));
}

/* PUT (replace) and PATCH (merge) of one feature. */
static void edit_item(struct req *r, enum prop_mode mode)
{
    const struct layer_def *l;
    struct write_ctx w;
    long long fid, id = 0, version = 0;
    json_t *doc;
    if (ogc_path_layer(r, &l) != ERR_OK || ogc_path_fid(r, &fid) != ERR_OK ||
        begin_write(r, &w, l, &doc) != ERR_OK)
        return;
    struct feature_write fw;
    enum err e = check_feature(&w, doc, mode, &fw, fid);
    if (e != ERR_OK) {
        req_reply_error(r, e, "%s", w.msg);
        json_decref(doc);
        return;
    }
    if (open_tx(&w) != ERR_OK) {
        json_decref(doc);
        return;
    }
    struct ogc_crs oc = { CRS_WGS84, false, crs_uri(CRS_WGS84) };
    json_t *f = NULL;
    e = lock_version(&w, fid);
    if (e == ERR_OK)
        e = store_feature(&w, &fw, mode, fid, &id);
    if (e == ERR_OK) {
        e = ogc_read_feature(r, w.c, l, fid, &oc, &f, &version);
        if (e != ERR_OK)
            fail(&w, e, "could not read back the feature");
    }
    json_decref(doc);
    if (close_tx(&w, e) != ERR_OK) {
        json_decref(f);
        return;
    }
    ogc_reply_feature(r, 200, l, f, fid, version, &oc);
}

void ogc_put_item(struct req *r)
{
    edit_item(r, PROP_REPLACE);
}

void ogc_patch_item(struct req *r)
{
    edit_item(r, PROP_PATCH);
}

void ogc_delete_item(struct req *r)
{
    const struct layer_def *l;
    long long fid;
    if (ogc_path_layer(r, &l) != ERR_OK || ogc_path_fid(r, &fid) != ERR_OK ||
        check_writable(r, l) != ERR_OK)
        return;
    struct write_ctx w = { .r = r, .l = l };
    if (open_tx(&w) != ERR_OK)
        return;
    enum err e = lock_version(&w, fid);
    if (e == ERR_OK) {
        char sid[24];
        snprintf(sid, sizeof(sid), "%lld", fid);
        const char *params[1] = { sid };
        char *sql = arena_printf(r->arena, "DELETE FROM %s WHERE id = $1::bigint", l->id);
        e = db_exec_params(w.c, sql, 1, params, NULL, r->rid);
        if (e != ERR_OK)
            e = db_fail(&w, e, true);
    }
    if (close_tx(&w, e) != ERR_OK)
        return;
    req_reply(r, 204, "application/json", "", 0);
}

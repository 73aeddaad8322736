/*
 * ogc_internal.h - what the files of OGC API - Features share among themselves and with no
 * one else: the request helpers every handler uses (ogcapi.c), the read of one feature that
 * writes reply with (ogc_read.c), and the handlers the route table names.
 *
 * Not a public header: other folders use ogcapi.h (the routes), ogc_query.h (the query
 * parsers) and layerdef.h (the catalog).
 */
#ifndef PATROL_OGC_INTERNAL_H
#define PATROL_OGC_INTERNAL_H

#include "err.h"
#include "layerdef.h"
#include "ogc_query.h"

#include <jansson.h>

struct db_conn;
struct req;

/* ---- ogcapi.c: request helpers; each replies itself when it refuses ---- */

/* The absolute base URL of this server as the client reached it (in r's arena). */
const char *ogc_base_url(struct req *r);

/* A new link object {"href","rel"[,"type"][,"title"]}; type and title may be NULL. */
json_t *ogc_link(const char *href, const char *rel, const char *type, const char *title);

/* The layer named by the path's {cid} in *out; ERR_NOT_FOUND, replied, when there is none. */
enum err ogc_path_layer(struct req *r, const struct layer_def **out);

/* The path's {fid} as a positive integer; else ERR_NOT_FOUND, replied (no such feature). */
enum err ogc_path_fid(struct req *r, long long *fid);

/* The `f` parameter: only JSON is served; anything else is ERR_INVALID_ARGUMENT, replied. */
enum err ogc_check_format(struct req *r);

/* ---- ogc_read.c: one feature, for the writes' answers too ---- */

/*
 * Reads feature fid of l in crs oc: ERR_OK with the Feature in *out (new) and its version (the
 * ETag's number); ERR_NOT_FOUND when there is none, ERR_INTERNAL when it cannot be encoded,
 * or the database's error. Nothing is replied.
 */
enum err ogc_read_feature(struct req *r, struct db_conn *c, const struct layer_def *l,
                          long long fid, const struct ogc_crs *oc, json_t **out,
                          long long *version);

/* Replies with status and feature f (taken), its ETag, links and, for 201, its Location. */
void ogc_reply_feature(struct req *r, int status, const struct layer_def *l, json_t *f,
                       long long fid, long long version, const struct ogc_crs *oc);

/* ---- the handlers of the route table (ogcapi.c) ---- */

/* ogc_meta.c */
void ogc_get_landing(struct req *r);
void ogc_get_conformance(struct req *r);
void ogc_get_collections(struct req *r);
void ogc_get_collection(struct req *r);
void ogc_get_schema(struct req *r);

/* ogc_read.c */
void ogc_get_items(struct req *r);
void ogc_get_item(struct req *r);

/* ogc_write.c */
void ogc_post_items(struct req *r);
void ogc_put_item(struct req *r);
void ogc_patch_item(struct req *r);
void ogc_delete_item(struct req *r);

#endif

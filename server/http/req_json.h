/*
 * req_json.h - JSON in and out of requests, over jansson: parse a request body with a precise
 * error, refuse unknown members, reply with a JSON document.
 */
#ifndef PATROL_REQ_JSON_H
#define PATROL_REQ_JSON_H

#include "err.h"

#include <jansson.h>

struct req;

/* Serialises body (taken: its reference is released) as the reply, UTF-8, with status. */
void req_reply_json(struct req *r, int status, json_t *body);

/*
 * Parses the request body as one JSON object. On failure replies 400 with the line, column
 * and reason, and returns NULL. The result is new: json_decref it.
 */
json_t *req_json_object(struct req *r);

/*
 * Checks obj's member names against allowed (NULL-terminated): ERR_OK, or on an unknown
 * member ERR_INVALID_ARGUMENT after replying 400 naming it.
 */
enum err json_only_members(struct req *r, json_t *obj, const char *const *allowed);

/*
 * Reads an optional string member: ERR_OK with *out set (NULL when absent or null), or
 * ERR_INVALID_ARGUMENT after replying 400 when it is present with another type. Required
 * members: check *out.
 */
enum err json_opt_string(struct req *r, json_t *obj, const char *name, const char **out);

/* As json_opt_string for integers (*present says whether it was there). */
enum err json_opt_int(struct req *r, json_t *obj, const char *name, long long *out, int *present);

#endif

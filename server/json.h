/*
 * json.h - JSON in and out of requests, over jansson: parse a request body with a precise
 * error, refuse unknown members, reply with a JSON document. No hand-written parsing.
 */
#ifndef PATROL_JSON_H
#define PATROL_JSON_H

#include <jansson.h>

struct req;

/* Serialises body (taken: its reference is released) as the reply, UTF-8, with status. */
void req_reply_json(struct req *r, int status, json_t *body);

/*
 * Parses the request body as one JSON object. On failure replies 400 with the line, column
 * and reason, and returns NULL. The result is new: json_decref it.
 */
json_t *req_json_object(struct req *r);

/* The first member name of obj not in allowed (NULL-terminated), or NULL; replies nothing. */
const char *json_unknown_member(json_t *obj, const char *const *allowed);

/*
 * Checks obj's member names against allowed (NULL-terminated). On an unknown member replies
 * 400 naming it and returns -1; else 0.
 */
int json_only_members(struct req *r, json_t *obj, const char *const *allowed);

/*
 * Reads an optional string member: 0 with *out set (NULL when absent or null), or -1 after
 * replying 400 when it is present with another type. Required members: check *out.
 */
int json_opt_string(struct req *r, json_t *obj, const char *name, const char **out);

/* As json_opt_string for integers (*present says whether it was there). */
int json_opt_int(struct req *r, json_t *obj, const char *name, long long *out, int *present);

/*
 * An optional number member, replying nothing (for decoders that report their own errors):
 * 0 with *out set (NAN when absent or null), or -1 when it is present with another type.
 */
int json_opt_number(json_t *obj, const char *name, double *out);

#endif

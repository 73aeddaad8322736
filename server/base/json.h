/*
 * json.h - small helpers over jansson that know nothing of requests: unknown-member checks and
 * optional number members, for decoders that report their own errors. The request half (parse
 * a body, reply with a document) is http/req_json.h. No hand-written parsing.
 */
#ifndef PATROL_JSON_H
#define PATROL_JSON_H

#include <jansson.h>

/* The first member name of obj not in allowed (NULL-terminated), or NULL. */
const char *json_unknown_member(json_t *obj, const char *const *allowed);

/*
 * An optional number member: 0 with *out set (NAN when absent or null), or -1 when it is
 * present with another type.
 */
int json_opt_number(json_t *obj, const char *name, double *out);

#endif

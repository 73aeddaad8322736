/*
 * req_json.c - request and reply helpers over jansson (see req_json.h).
 */
#include "req_json.h"

#include "arena.h"
#include "http.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

void req_reply_json(struct req *r, int status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(body);
    char *copy = text ? arena_strdup(r->arena, text) : NULL;
    free(text);
    if (copy == NULL) {
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    req_reply(r, status, "application/json", copy, strlen(copy));
}

json_t *req_json_object(struct req *r)
{
    json_error_t je;
    if (r->body == NULL || r->body_len == 0) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "the request needs a JSON body");
        return NULL;
    }
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "malformed JSON at line %d, column %d: %s",
                        je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        req_reply_error(r, ERR_INVALID_ARGUMENT, "the JSON body must be an object");
        return NULL;
    }
    return j;
}

enum err json_only_members(struct req *r, json_t *obj, const char *const *allowed)
{
    const char *key = json_unknown_member(obj, allowed);
    if (key == NULL)
        return ERR_OK;
    req_reply_error(r, ERR_INVALID_ARGUMENT, "unknown member '%s'", key);
    return ERR_INVALID_ARGUMENT;
}

enum err json_opt_string(struct req *r, json_t *obj, const char *name, const char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return ERR_OK;
    if (!json_is_string(v)) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "member '%s' must be a string", name);
        return ERR_INVALID_ARGUMENT;
    }
    *out = json_string_value(v);
    return ERR_OK;
}

enum err json_opt_int(struct req *r, json_t *obj, const char *name, long long *out, int *present)
{
    json_t *v = json_object_get(obj, name);
    *present = 0;
    if (v == NULL || json_is_null(v))
        return ERR_OK;
    if (!json_is_integer(v)) {
        req_reply_error(r, ERR_INVALID_ARGUMENT, "member '%s' must be an integer", name);
        return ERR_INVALID_ARGUMENT;
    }
    *out = json_integer_value(v);
    *present = 1;
    return ERR_OK;
}

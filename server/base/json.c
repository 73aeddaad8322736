/*
 * json.c - the request-free jansson helpers of json.h.
 */
#include "json.h"

#include <math.h>
#include <string.h>

const char *json_unknown_member(json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        int known = 0;
        (void)val;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                known = 1;
        if (!known)
            return key;
    }
    return NULL;
}

int json_opt_number(json_t *obj, const char *name, double *out)
{
    json_t *v = json_object_get(obj, name);
    *out = NAN;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

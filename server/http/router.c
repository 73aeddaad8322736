/*
 * router.c - linear matching over the registered routes. A town's server has a few dozen
 * routes; a linear scan of pre-split patterns is faster than anything cleverer at that size.
 */
#include "router.h"

#include "arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct router {
    const struct route **routes;
    size_t n, cap;
};

struct router *router_new(void)
{
    return calloc(1, sizeof(struct router));
}

void router_free(struct router *rt)
{
    if (rt == NULL)
        return;
    free(rt->routes);
    free(rt);
}

static int pattern_valid(const char *p)
{
    int params = 0;
    if (p[0] != '/')
        return 0;
    for (const char *s = p; *s; s++) {
        if (*s == '{') {
            const char *close = strchr(s, '}');
            if (close == NULL || close == s + 1 || s[-1] != '/' ||
                (close[1] != '/' && close[1] != '\0'))
                return 0;
            if (++params > ROUTER_MAX_PARAMS)
                return 0;
            s = close;
        }
    }
    return 1;
}

enum err router_add(struct router *rt, const struct route *routes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!pattern_valid(routes[i].path))
            return ERR_INVALID_ARGUMENT;
    if (rt->n + n > rt->cap) {
        size_t cap = rt->cap ? rt->cap : 32;
        while (cap < rt->n + n)
            cap *= 2;
        const struct route **grown = realloc(rt->routes, cap * sizeof(*grown));
        if (grown == NULL)
            return ERR_INTERNAL;
        rt->routes = grown;
        rt->cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        rt->routes[rt->n++] = &routes[i];
    return ERR_OK;
}

/* Does path match pattern? Fills params when it does. */
static int path_match(const char *pattern, const char *path, struct arena *a,
                      struct route_params *params)
{
    const char *p = pattern, *s = path;
    params->n = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *end = strchr(s, '/');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            if (len == 0)
                return 0;
            if (a != NULL) {
                int k = params->n++;
                params->name[k] = p + 1;
                params->name_len[k] = (size_t)(close - p - 1);
                params->value[k] = arena_strndup(a, s, len);
                if (params->value[k] == NULL)
                    return 0;
            }
            p = close + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

enum route_match router_match(const struct router *rt, const char *method, const char *path,
                              struct arena *a, const struct route **out, size_t *index,
                              struct route_params *params, char *allow, size_t allow_len)
{
    int path_seen = 0;
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;

    if (allow_len > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < rt->n; i++) {
        const struct route *r = rt->routes[i];
        if (!path_match(r->path, path, NULL, params))
            continue;
        if (strcmp(r->method, want) == 0) {
            if (!path_match(r->path, path, a, params))
                return ROUTE_NO_PATH; /* out of memory while copying parameters */
            *out = r;
            *index = i;
            return ROUTE_FOUND;
        }
        path_seen = 1;
        if (allow_len > 0) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", r->method);
        }
    }
    return path_seen ? ROUTE_NO_METHOD : ROUTE_NO_PATH;
}

size_t router_count(const struct router *rt)
{
    return rt->n;
}

const struct route *router_get(const struct router *rt, size_t i)
{
    return i < rt->n ? rt->routes[i] : NULL;
}

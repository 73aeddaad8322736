/*
 * fuzz_router.c - libFuzzer target for router_match against a fixed table: patrold's own
 * routes (as registered by the api_*.c files) plus a few test patterns with up to
 * ROUTER_MAX_PARAMS parameters. The input is "METHOD\nPATH" (no newline: GET and the whole
 * input as the path). Oracles, against a reference matcher written here on path segments:
 *   - the same answer: found (first route whose pattern and method match, HEAD as GET), no
 *     method (some pattern matches), or no path;
 *   - on found: the route and index agree, the parameters are the pattern's names in order,
 *     each value the non-empty path segment at its place, without '/';
 *   - on no method: allow lists the methods of the matching routes, in table order, cut to
 *     the buffer (a long and a tiny buffer are both tried).
 */
#include "arena.h"
#include "router.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_router: %s: ", #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void h(struct req *r)
{
    (void)r;
}

#define R(method, path)                                                                            \
    {                                                                                              \
        method, path, h, 0, 0, NULL, "", ""                                                        \
    }

static const struct route table[] = {
    R("GET", "/"),
    R("GET", "/healthz"),
    R("GET", "/readyz"),
    R("GET", "/metrics"),
    R("GET", "/conformance"),
    R("GET", "/api/openapi.json"),
    R("GET", "/api/v1/me"),
    R("GET", "/api/v1/users"),
    R("POST", "/api/v1/users"),
    R("GET", "/api/v1/tokens"),
    R("POST", "/api/v1/tokens"),
    R("DELETE", "/api/v1/tokens/{id}"),
    R("GET", "/api/v1/devices"),
    R("POST", "/api/v1/devices"),
    R("GET", "/api/v1/devices/{id}/track"),
    R("POST", "/api/v1/devices/{id}/gpx"),
    R("GET", "/api/v1/osmand"),
    R("POST", "/api/v1/osmand"),
    R("POST", "/api/v1/positions"),
    R("GET", "/api/v1/positions/latest"),
    R("GET", "/api/v1/visits"),
    R("GET", "/api/v1/checkins"),
    R("GET", "/api/v1/events"),
    R("GET", "/api/v1/events/stream"),
    R("GET", "/api/v1/reports/checkins"),
    R("GET", "/api/v1/reports/presence"),
    R("GET", "/api/v1/reports/venues-near-schools"),
    R("GET", "/collections"),
    R("GET", "/collections/{cid}"),
    R("GET", "/collections/{cid}/items"),
    R("POST", "/collections/{cid}/items"),
    R("GET", "/collections/{cid}/schema.xsd"),
    R("GET", "/collections/{cid}/items/{fid}"),
    R("PUT", "/collections/{cid}/items/{fid}"),
    R("PATCH", "/collections/{cid}/items/{fid}"),
    R("DELETE", "/collections/{cid}/items/{fid}"),
    /* test patterns: four parameters, parameters around a literal, a catch-all segment */
    R("PUT", "/t/{a}/{b}/{c}/{d}"),
    R("GET", "/t/{a}/x/{b}"),
    R("POST", "/t/{a}/x/{b}"),
    R("DELETE", "/{one}"),
};
#define NROUTES (sizeof(table) / sizeof(table[0]))

/* Does path match pattern, segment by segment? Fills the reference parameters when it does. */
struct ref_params {
    int n;
    const char *name[ROUTER_MAX_PARAMS];
    size_t name_len[ROUTER_MAX_PARAMS];
    const char *value[ROUTER_MAX_PARAMS];
    size_t value_len[ROUTER_MAX_PARAMS];
};

static bool ref_match(const char *pattern, const char *path, struct ref_params *rp)
{
    rp->n = 0;
    const char *p = pattern, *s = path;
    for (;;) {
        /* one segment each: up to the next '/' or the end */
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0)
                return false;
            CHECK(rp->n < ROUTER_MAX_PARAMS, "pattern %s", pattern);
            rp->name[rp->n] = p + 1;
            rp->name_len[rp->n] = plen - 2;
            rp->value[rp->n] = s;
            rp->value_len[rp->n] = slen;
            rp->n++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
        if (*p == '\0' || *s == '\0')
            return *p == '\0' && *s == '\0';
        p++; /* both at '/' */
        s++;
    }
}

static void check(const struct router *rt, struct arena *a, const char *method, const char *path,
                  size_t allow_len)
{
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;
    struct ref_params rp = { 0 }, found_rp = { 0 };
    size_t found = NROUTES;
    char ref_allow[512] = "";
    bool path_seen = false;
    for (size_t i = 0; i < NROUTES; i++) {
        if (!ref_match(table[i].path, path, &rp))
            continue;
        if (strcmp(table[i].method, want) == 0) {
            found = i;
            found_rp = rp;
            break;
        }
        path_seen = true;
        size_t used = strlen(ref_allow);
        snprintf(ref_allow + used, sizeof(ref_allow) - used, "%s%s", used ? ", " : "",
                 table[i].method);
    }

    char allow[512];
    memset(allow, 'X', sizeof(allow));
    const struct route *out = NULL;
    size_t index = (size_t)-1;
    struct route_params params;
    memset(&params, 0, sizeof(params));
    enum route_match m = router_match(rt, method, path, a, &out, &index, &params, allow, allow_len);

    if (found < NROUTES) {
        CHECK(m == ROUTE_FOUND, "%s %s: want route %zu (%s), got %d", method, path, found,
              table[found].path, (int)m);
        CHECK(index == found && out == &table[found], "%s %s: route %zu, want %zu", method, path,
              index, found);
        CHECK(params.n == found_rp.n, "%s %s: %d parameters, want %d", method, path, params.n,
              found_rp.n);
        for (int k = 0; k < params.n; k++) {
            CHECK(params.name[k] == found_rp.name[k] && params.name_len[k] == found_rp.name_len[k],
                  "%s %s: parameter %d name", method, path, k);
            CHECK(params.value[k] != NULL, "%s %s: parameter %d missing", method, path, k);
            size_t len = strlen(params.value[k]);
            CHECK(len > 0 && len == found_rp.value_len[k] &&
                      memcmp(params.value[k], found_rp.value[k], len) == 0 &&
                      strchr(params.value[k], '/') == NULL,
                  "%s %s: parameter %d is [%s]", method, path, k, params.value[k]);
        }
        return;
    }
    if (path_seen) {
        CHECK(m == ROUTE_NO_METHOD, "%s %s: got %d, want no method", method, path, (int)m);
        if (allow_len > 0) {
            size_t len = strlen(allow);
            CHECK(len < allow_len, "%s %s: allow overflows", method, path);
            CHECK(strncmp(allow, ref_allow, len) == 0 &&
                      (len == strlen(ref_allow) || len == allow_len - 1),
                  "%s %s: allow [%s], want [%s]", method, path, allow, ref_allow);
        }
        return;
    }
    CHECK(m == ROUTE_NO_PATH, "%s %s: got %d, want no path", method, path, (int)m);
    if (allow_len > 0)
        CHECK(allow[0] == '\0', "%s %s: allow [%s] on no path", method, path, allow);
}

static struct router *router(void)
{
    static struct router *rt;
    if (rt == NULL) {
        rt = router_new();
        if (rt == NULL || router_add(rt, table, NROUTES) != 0)
            abort();
    }
    return rt;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *method = "GET", *path = buf;
    char *nl = memchr(buf, '\n', size);
    if (nl != NULL) {
        *nl = '\0';
        method = buf;
        path = nl + 1;
    }
    struct arena *a = arena_new();
    if (a != NULL) {
        check(router(), a, method, path, 512);
        check(router(), a, method, path, 8);
        check(router(), a, method, path, 1);
        arena_free(a);
    }
    free(buf);
    return 0;
}

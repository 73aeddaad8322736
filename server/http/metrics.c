/*
 * metrics.c - Prometheus counters and histograms (see metrics.h).
 */
#include "metrics.h"

#include "router.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int
    statuses[] = { 200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 409,
                   412, 413, 415, 422, 429, 431, 499, 500, 502, 503, 504, 0 /* any other */ };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

static const double buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                  0.25,  0.5,    1,     2.5,  5,     10 };
#define NBUCKET (sizeof(buckets) / sizeof(buckets[0]))

/* Methods of unmatched requests are bucketed so a client cannot grow the label set. */
static const char *const methods[] = { "GET",   "HEAD",   "POST",    "PUT",
                                       "PATCH", "DELETE", "OPTIONS", "OTHER" };
#define NMETHOD (sizeof(methods) / sizeof(methods[0]))

struct route_metrics {
    atomic_ullong count[NSTATUS];
    atomic_ullong bucket[NBUCKET + 1]; /* the last is +Inf */
    atomic_ullong sum_us;
};

struct metrics {
    size_t nroutes;
    struct route_metrics *routes; /* nroutes entries */
    struct route_metrics unmatched[NMETHOD];
};

struct metrics *metrics_new(size_t nroutes)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->routes = calloc(nroutes ? nroutes : 1, sizeof(*m->routes));
    if (m->routes == NULL) {
        free(m);
        return NULL;
    }
    m->nroutes = nroutes;
    return m;
}

void metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    free(m->routes);
    free(m);
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i + 1 < NSTATUS; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

static size_t method_slot(const char *method)
{
    for (size_t i = 0; i + 1 < NMETHOD; i++)
        if (strcmp(methods[i], method) == 0)
            return i;
    return NMETHOD - 1;
}

void metrics_observe(struct metrics *m, long route_index, const char *method, int status,
                     double seconds)
{
    struct route_metrics *rm;
    if (route_index >= 0 && (size_t)route_index < m->nroutes)
        rm = &m->routes[route_index];
    else
        rm = &m->unmatched[method_slot(method ? method : "OTHER")];
    atomic_fetch_add(&rm->count[status_slot(status)], 1);
    size_t b = 0;
    while (b < NBUCKET && seconds > buckets[b])
        b++;
    atomic_fetch_add(&rm->bucket[b], 1);
    atomic_fetch_add(&rm->sum_us, (unsigned long long)(seconds * 1e6));
}

static void render_route(FILE *f, const struct route_metrics *rm, const char *route,
                         const char *method)
{
    for (size_t s = 0; s < NSTATUS; s++) {
        unsigned long long n = atomic_load(&rm->count[s]);
        if (n == 0)
            continue;
        if (statuses[s] != 0)
            fprintf(f,
                    "patrold_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
                    route, method, statuses[s], n);
        else
            fprintf(f,
                    "patrold_http_requests_total{route=\"%s\",method=\"%s\",status=\"other\"} "
                    "%llu\n",
                    route, method, n);
    }
}

static void render_histogram(FILE *f, const struct route_metrics *rm, const char *route,
                             const char *method)
{
    unsigned long long cum = 0;
    for (size_t b = 0; b <= NBUCKET; b++)
        cum += atomic_load(&rm->bucket[b]);
    if (cum == 0)
        return;
    cum = 0;
    for (size_t b = 0; b < NBUCKET; b++) {
        cum += atomic_load(&rm->bucket[b]);
        fprintf(f,
                "patrold_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
                "le=\"%g\"} %llu\n",
                route, method, buckets[b], cum);
    }
    cum += atomic_load(&rm->bucket[NBUCKET]);
    fprintf(f,
            "patrold_http_request_duration_seconds_bucket{route=\"%s\",method=\"%s\","
            "le=\"+Inf\"} %llu\n",
            route, method, cum);
    fprintf(f, "patrold_http_request_duration_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n",
            route, method, (double)atomic_load(&rm->sum_us) / 1e6);
    fprintf(f, "patrold_http_request_duration_seconds_count{route=\"%s\",method=\"%s\"} %llu\n",
            route, method, cum);
}

char *metrics_render(struct metrics *m, const struct router *rt, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL)
        return NULL;

    fprintf(f,
            "# HELP patrold_build_info Version of this patrold.\n"
            "# TYPE patrold_build_info gauge\n"
            "patrold_build_info{version=\"%s\"} 1\n",
            PATROLGIS_VERSION);
    fprintf(f, "# HELP patrold_http_requests_total HTTP requests by route, method and status.\n"
               "# TYPE patrold_http_requests_total counter\n");
    for (size_t i = 0; i < m->nroutes; i++) {
        const struct route *r = router_get(rt, i);
        render_route(f, &m->routes[i], r->path, r->method);
    }
    for (size_t i = 0; i < NMETHOD; i++)
        render_route(f, &m->unmatched[i], "unmatched", methods[i]);

    fprintf(f, "# HELP patrold_http_request_duration_seconds Time from request headers to "
               "the end of the response.\n"
               "# TYPE patrold_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->nroutes; i++) {
        const struct route *r = router_get(rt, i);
        render_histogram(f, &m->routes[i], r->path, r->method);
    }
    for (size_t i = 0; i < NMETHOD; i++)
        render_histogram(f, &m->unmatched[i], "unmatched", methods[i]);

    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}

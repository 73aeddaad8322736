/*
 * metrics.h - request counters and latency histograms per route, rendered in the Prometheus
 * text format (version 0.0.4). Lock-free: counters are atomics indexed by route and status.
 */
#ifndef PATROL_METRICS_H
#define PATROL_METRICS_H

#include <stddef.h>

struct metrics;
struct router;
struct db_pool_stats;

/* Counters for nroutes routes (indexes of the router) plus the unmatched ones. */
struct metrics *metrics_new(size_t nroutes);
void metrics_free(struct metrics *m);

/* Records one finished request; route_index -1 means no route matched. */
void metrics_observe(struct metrics *m, long route_index, const char *method, int status,
                     double seconds);

/*
 * Renders every metric as Prometheus text into a new malloc'd string (free it), or NULL
 * when out of memory. pool may be NULL.
 */
char *metrics_render(struct metrics *m, const struct router *rt, const struct db_pool_stats *pool,
                     size_t *len);

#endif

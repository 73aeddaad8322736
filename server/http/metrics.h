/*
 * metrics.h - request counters and latency histograms per route, rendered in the Prometheus
 * text format (version 0.0.4). Lock-free: counters are atomics indexed by route and status.
 */
#ifndef PATROL_METRICS_H
#define PATROL_METRICS_H

#include <stddef.h>

struct metrics;
struct router;

/* Counters for nroutes routes (indexes of the router) plus the unmatched ones. */
struct metrics *metrics_new(size_t nroutes);
void metrics_free(struct metrics *m);

/* Records one finished request; route_index -1 means no route matched. */
void metrics_observe(struct metrics *m, long route_index, const char *method, int status,
                     double seconds);

/*
 * Renders the build and HTTP metrics as Prometheus text into a new malloc'd string (free it),
 * or NULL when out of memory. Other subsystems render their own (db_pool_metrics_text, ...).
 */
char *metrics_render(struct metrics *m, const struct router *rt, size_t *len);

#endif

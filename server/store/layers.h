/*
 * layers.h - the generation number of each layer table, fed by the database's NOTIFY on
 * channel DB_CHANNEL_LAYERS (db.h; sql/migrations: a statement trigger on every layer table).
 * Caches (tiles, the geofence index, the routing graph) compare generations to know when
 * their copy is stale. Reading a generation never locks.
 */
#ifndef PATROL_LAYERS_H
#define PATROL_LAYERS_H

#include <stddef.h>

struct db_settings;
struct layers;

/* Every layer table, in a fixed order (indexes are stable for the process). */
extern const char *const layers_names[];
extern const size_t layers_count;

/* Index of a layer by table name, -1 when unknown. */
int layers_index(const char *name);

/* Starts listening; NULL when out of memory. Generations start at 1. */
struct layers *layers_start(const struct db_settings *s);
void layers_stop(struct layers *l);

/* Current generation of layer i (0 for an index out of range). */
unsigned long long layers_generation(const struct layers *l, size_t i);

#endif

/*
 * maintenance.h - periodic database housekeeping in a thread of its own: the monthly
 * partitions of positions are created ahead (last month .. two months ahead) and the ones past
 * the retention are dropped. Runs once right after start, then every interval.
 *
 * Not here: the partition functions themselves (sql/migrations/0004_tracking.sql).
 */
#ifndef PATROL_MAINTENANCE_H
#define PATROL_MAINTENANCE_H

#include "err.h"

#include <stddef.h>

struct db_pool;
struct db_conn;
struct maint;

/*
 * Starts the thread (pool borrowed: it must outlive maint_stop). Returns NULL when the thread
 * cannot start.
 */
struct maint *maint_start(struct db_pool *pool, long retention_days, long interval_s);

/* Wakes the thread, waits for it to finish its round, frees m. maint_stop(NULL) is a no-op. */
void maint_stop(struct maint *m);

#endif

/*
 * maintenance.c - the housekeeping thread (see maintenance.h). It sleeps on a condition
 * variable so that stopping does not wait for the interval; a round that fails (database
 * down) is logged and retried at the next tick.
 */
#include "maintenance.h"

#include "db.h"
#include "log.h"
#include "parse.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct maint {
    struct db_pool *pool;
    long retention_days, interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

/* From last month (or from the retention's edge when that is later: never create what the
 * same round drops) to two months ahead. */
static struct stmt st_round = STMT(
    "maint_round",
    "WITH today AS (SELECT (now() AT TIME ZONE 'UTC')::date AS d)"
    " SELECT positions_ensure_partitions(CASE WHEN $1::int > 0"
    "                                          AND d - $1::int > (d - interval '1 month')::date"
    "                                         THEN d - $1::int"
    "                                         ELSE (d - interval '1 month')::date END,"
    "                                    (d + interval '2 months')::date),"
    "        CASE WHEN $1::int > 0 THEN positions_drop_before(d - $1::int) ELSE 0 END,"
    "        CASE WHEN $1::int > 0 THEN (d - $1::int)::text END"
    "   FROM today");

/*
 * One round on c: ensures the partitions from the month before today (UTC; from the month of
 * today - retention_days when that is later) to two months ahead, then drops those that end on
 * or before today - retention_days (none when 0).
 * *created and *dropped receive the counts. Returns ERR_OK or the database error (msg says).
 */
static enum err maint_run(struct db_conn *c, long retention_days, int *created, int *dropped,
                          char *msg, size_t msglen)
{
    char days[24];
    snprintf(days, sizeof(days), "%ld", retention_days);
    const char *params[1] = { days };
    PGresult *res = NULL;
    *created = *dropped = 0;
    enum err e = db_exec(c, &st_round, 1, params, &res, NULL);
    if (e != ERR_OK) {
        snprintf(msg, msglen, "partition maintenance failed: %s", db_error_message(c));
        return e;
    }
    *created = (int)parse_cell_i64(PQgetvalue(res, 0, 0));
    *dropped = (int)parse_cell_i64(PQgetvalue(res, 0, 1));
    if (retention_days > 0)
        snprintf(msg, msglen,
                 "partition maintenance: %d partition(s) created ahead, %d dropped before %s "
                 "(retention %ld days)",
                 *created, *dropped, PQgetvalue(res, 0, 2), retention_days);
    else
        snprintf(msg, msglen,
                 "partition maintenance: %d partition(s) created ahead (retention off: nothing "
                 "dropped)",
                 *created);
    PQclear(res);
    return ERR_OK;
}

static void round_once(struct maint *m)
{
    char msg[256];
    struct db_conn *c = NULL;
    int created, dropped;
    if (db_acquire(m->pool, &c, msg, sizeof(msg)) != ERR_OK) {
        log_warn("partition maintenance skipped: %s", msg);
        return;
    }
    enum err e = maint_run(c, m->retention_days, &created, &dropped, msg, sizeof(msg));
    db_release(m->pool, c);
    if (e != ERR_OK)
        log_warn("%s", msg);
    else
        log_info("%s", msg); /* hourly: what it did, or that nothing was due */
}

static void *maint_main(void *arg)
{
    struct maint *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        pthread_mutex_unlock(&m->mu);
        round_once(m);
        pthread_mutex_lock(&m->mu);
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += m->interval_s;
        while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &deadline) == 0)
            ; /* woken without stop: a spurious wake-up, wait on */
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

struct maint *maint_start(struct db_pool *pool, long retention_days, long interval_s)
{
    struct maint *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->pool = pool;
    m->retention_days = retention_days;
    m->interval_s = interval_s > 0 ? interval_s : 3600;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    if (pthread_create(&m->thread, NULL, maint_main, m) != 0) {
        pthread_mutex_destroy(&m->mu);
        pthread_cond_destroy(&m->cv);
        free(m);
        return NULL;
    }
    return m;
}

void maint_stop(struct maint *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m);
}

/*
 * db.c - the libpq connection pool, statement execution and the LISTEN thread (see db.h).
 *
 * Not here: SQL text (it lives with the modules that use it and in sql/), error slugs (err.c).
 */
#include "db.h"

#include "clock.h"
#include "log.h"
#include "strbuf.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct db_conn {
    PGconn *pg;
    int in_tx;
    unsigned char prepared[STMT_MAX + 1];
    char err_msg[512];
    char err_state[6];
    char err_constraint[128];
    const struct db_settings *settings; /* the pool's, or db_connect's caller's */
    struct db_pool *pool;               /* NULL outside a pool */
};

struct db_pool {
    struct db_settings s;
    char *conninfo, *tz;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct db_conn **idle;
    long nidle, open, in_use;
    long long last_fail_ms; /* monotonic time of the last failed connect */
    unsigned long long acquires, waits, timeouts, connect_failures;
    atomic_ullong resets;
};

/* While the database is refusing connections, further attempts within this window fail
 * at once instead of each paying for a connect. */
#define DB_FAIL_FAST_MS 250

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void db_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* Strips libpq's trailing newline so messages fit on one log line. */
static void set_conn_error(struct db_conn *c, const char *msg, const char *state,
                           const char *constraint)
{
    copy_str(c->err_msg, sizeof(c->err_msg), msg);
    size_t n = strlen(c->err_msg);
    while (n > 0 && (c->err_msg[n - 1] == '\n' || c->err_msg[n - 1] == ' '))
        c->err_msg[--n] = '\0';
    copy_str(c->err_state, sizeof(c->err_state), state);
    copy_str(c->err_constraint, sizeof(c->err_constraint), constraint);
}

/* Session settings every connection gets after it (re)connects. */
static int conn_setup(struct db_conn *c)
{
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%ld", c->settings->statement_timeout_ms);
    const char *params[2] = { timeout, c->settings->tz };
    PGresult *r = PQexecParams(c->pg,
                               "SELECT set_config('statement_timeout', $1, false),"
                               " set_config('TimeZone', $2, false),"
                               " set_config('client_min_messages', 'warning', false)",
                               2, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        set_conn_error(c, PQresultErrorMessage(r), PQresultErrorField(r, PG_DIAG_SQLSTATE), NULL);
    PQclear(r);
    memset(c->prepared, 0, sizeof(c->prepared));
    c->in_tx = 0;
    return ok ? 0 : -1;
}

static PGconn *open_pg(const struct db_settings *s)
{
    /* Our defaults first: keywords in the caller's URL (processed after) override them. */
    const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
    const char *vals[] = { "2", "patrold", s->conninfo, NULL }; /* libpq's minimum timeout */
    return PQconnectdbParams(keys, vals, 1);
}

static enum err conn_open(struct db_conn *c, char *msg, size_t msglen)
{
    c->pg = open_pg(c->settings);
    if (c->pg == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_UNAVAILABLE;
    }
    if (PQstatus(c->pg) != CONNECTION_OK || conn_setup(c) != 0) {
        const char *why = PQstatus(c->pg) != CONNECTION_OK ? PQerrorMessage(c->pg) : c->err_msg;
        set_conn_error(c, why, NULL, NULL);
        snprintf(msg, msglen, "database unreachable: %s", c->err_msg);
        PQfinish(c->pg);
        c->pg = NULL;
        return ERR_UNAVAILABLE;
    }
    return ERR_OK;
}

enum err db_connect(const struct db_settings *s, struct db_conn **out, char *msg, size_t msglen)
{
    struct db_conn *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL) {
        snprintf(msg, msglen, "out of memory");
        return ERR_INTERNAL;
    }
    c->settings = s;
    enum err e = conn_open(c, msg, msglen);
    if (e != ERR_OK) {
        free(c);
        return e;
    }
    *out = c;
    return ERR_OK;
}

void db_close(struct db_conn *c)
{
    if (c == NULL)
        return;
    if (c->pg != NULL)
        PQfinish(c->pg);
    free(c);
}

struct db_pool *db_pool_new(const struct db_settings *s)
{
    struct db_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->s = *s;
    p->conninfo = strdup(s->conninfo ? s->conninfo : "");
    p->tz = strdup(s->tz ? s->tz : "UTC");
    p->idle = calloc((size_t)s->size, sizeof(*p->idle));
    if (p->conninfo == NULL || p->tz == NULL || p->idle == NULL) {
        free(p->conninfo);
        free(p->tz);
        free(p->idle);
        free(p);
        return NULL;
    }
    p->s.conninfo = p->conninfo;
    p->s.tz = p->tz;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->last_fail_ms = -DB_FAIL_FAST_MS;
    return p;
}

void db_pool_free(struct db_pool *p)
{
    if (p == NULL)
        return;
    for (long i = 0; i < p->nidle; i++)
        db_close(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->idle);
    free(p->conninfo);
    free(p->tz);
    free(p);
}

enum err db_acquire(struct db_pool *p, struct db_conn **out, char *msg, size_t msglen)
{
    struct timespec deadline = clock_deadline(p->s.acquire_timeout_ms);
    struct db_conn *c = NULL;
    int waited = 0;

    *out = NULL;

    pthread_mutex_lock(&p->mu);
    p->acquires++;
    for (;;) {
        if (p->nidle > 0) {
            c = p->idle[--p->nidle];
            break;
        }
        if (p->open < p->s.size) {
            if (now_ms() - p->last_fail_ms < DB_FAIL_FAST_MS) {
                pthread_mutex_unlock(&p->mu);
                snprintf(msg, msglen, "database unreachable (retrying)");
                return ERR_UNAVAILABLE;
            }
            p->open++;
            break; /* open a new one below, outside the lock */
        }
        if (!waited) {
            p->waits++;
            waited = 1;
        }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT && p->nidle == 0 &&
            p->open >= p->s.size) {
            p->timeouts++;
            pthread_mutex_unlock(&p->mu);
            snprintf(msg, msglen, "all %ld database connections are busy", p->s.size);
            return ERR_UNAVAILABLE;
        }
    }
    p->in_use++;
    pthread_mutex_unlock(&p->mu);

    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        enum err e = ERR_INTERNAL;
        if (c != NULL) {
            c->settings = &p->s;
            c->pool = p;
            e = conn_open(c, msg, msglen);
        } else {
            snprintf(msg, msglen, "out of memory");
        }
        if (e != ERR_OK) {
            free(c);
            pthread_mutex_lock(&p->mu);
            p->open--;
            p->in_use--;
            p->connect_failures++;
            p->last_fail_ms = now_ms();
            pthread_cond_signal(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return e;
        }
    }
    *out = c;
    return ERR_OK;
}

void db_release(struct db_pool *p, struct db_conn *c)
{
    if (c == NULL)
        return;
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PGresult *r = PQexec(c->pg, "ROLLBACK");
        PQclear(r);
    }
    c->in_tx = 0;
    int broken = c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK ||
                 PQtransactionStatus(c->pg) != PQTRANS_IDLE;
    pthread_mutex_lock(&p->mu);
    p->in_use--;
    if (broken) {
        p->open--;
    } else {
        p->idle[p->nidle++] = c;
    }
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (broken)
        db_close(c);
}

void db_pool_get_stats(struct db_pool *p, struct db_pool_stats *st)
{
    pthread_mutex_lock(&p->mu);
    st->size = p->s.size;
    st->open = p->open;
    st->in_use = p->in_use;
    st->acquires = p->acquires;
    st->waits = p->waits;
    st->timeouts = p->timeouts;
    st->connect_failures = p->connect_failures;
    pthread_mutex_unlock(&p->mu);
    st->resets = atomic_load(&p->resets);
}

/* Reconnects a connection whose link broke. Returns 0 when it is usable again. */
static int conn_reset(struct db_conn *c)
{
    PQreset(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK)
        return -1;
    return conn_setup(c);
}

/* Records a failed result on c and maps it to an error. */
static enum err result_error(struct db_conn *c, PGresult *r, const char *what, const char *rid)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (msg == NULL || msg[0] == '\0')
        msg = PQerrorMessage(c->pg);
    set_conn_error(c, msg, state, r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL);
    enum err e = db_err_from_sqlstate(state);
    if (PQstatus(c->pg) != CONNECTION_OK)
        e = ERR_UNAVAILABLE;
    log_msg(e == ERR_INTERNAL ? LOG_ERROR : LOG_DEBUG, rid, "sql %s failed: [%s] %s", what,
            c->err_state, c->err_msg);
    return e;
}

static int result_ok(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

enum err db_exec(struct db_conn *c, struct stmt *s, int nparams, const char *const *params,
                 PGresult **res, const char *rid)
{
    int slot = stmt_slot(s);
    if (res != NULL)
        *res = NULL;
    if (slot < 0) {
        log_msg(LOG_ERROR, rid, "more than %d prepared statements", STMT_MAX);
        return ERR_INTERNAL;
    }
    for (int attempt = 0;; attempt++) {
        PGresult *r = NULL;
        if (!c->prepared[slot]) {
            r = PQprepare(c->pg, s->name, s->sql, 0, NULL);
            if (result_ok(r)) {
                c->prepared[slot] = 1;
                PQclear(r);
                r = NULL;
            }
        }
        if (r == NULL)
            r = PQexecPrepared(c->pg, s->name, nparams, params, NULL, NULL, 0);
        if (result_ok(r)) {
            if (res != NULL)
                *res = r;
            else
                PQclear(r);
            c->err_msg[0] = c->err_state[0] = c->err_constraint[0] = '\0';
            return ERR_OK;
        }
        /* A link that broke while idle (the database restarted): reset and retry once. */
        if (attempt == 0 && !c->in_tx && PQstatus(c->pg) != CONNECTION_OK) {
            PQclear(r);
            if (conn_reset(c) == 0) {
                if (c->pool != NULL)
                    atomic_fetch_add(&c->pool->resets, 1);
                continue;
            }
            return result_error(c, NULL, s->name, rid);
        }
        enum err e = result_error(c, r, s->name, rid);
        PQclear(r);
        return e;
    }
}

enum err db_exec_params(struct db_conn *c, const char *sql, int nparams, const char *const *params,
                        PGresult **res, const char *rid)
{
    if (res != NULL)
        *res = NULL;
    for (int attempt = 0;; attempt++) {
        PGresult *r = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
        if (result_ok(r)) {
            if (res != NULL)
                *res = r;
            else
                PQclear(r);
            return ERR_OK;
        }
        if (attempt == 0 && !c->in_tx && PQstatus(c->pg) != CONNECTION_OK) {
            PQclear(r);
            if (conn_reset(c) == 0)
                continue;
            return result_error(c, NULL, "(dynamic)", rid);
        }
        enum err e = result_error(c, r, "(dynamic)", rid);
        PQclear(r);
        return e;
    }
}

enum err db_exec_sql(struct db_conn *c, const char *sql, PGresult **res, const char *rid)
{
    if (res != NULL)
        *res = NULL;
    PGresult *r = PQexec(c->pg, sql);
    if (result_ok(r)) {
        if (res != NULL)
            *res = r;
        else
            PQclear(r);
        return ERR_OK;
    }
    enum err e = result_error(c, r, "(sql)", rid);
    PQclear(r);
    return e;
}

enum err db_copy_in(struct db_conn *c, const char *sql, const void *data, size_t len,
                    const char *rid)
{
    enum { CHUNK = 1 << 20 };
    PGresult *r = PQexec(c->pg, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        enum err e = result_error(c, r, "COPY", rid);
        PQclear(r);
        return e;
    }
    PQclear(r);
    const char *p = data;
    int sent = 1;
    for (size_t off = 0; sent == 1 && off < len; off += CHUNK)
        sent = PQputCopyData(c->pg, p + off, (int)(len - off < CHUNK ? len - off : CHUNK));
    if (PQputCopyEnd(c->pg, sent == 1 ? NULL : "the client failed to send the data") != 1)
        return result_error(c, NULL, "COPY", rid);
    /* One result for the COPY; read until NULL so the connection is ready for the next. */
    enum err e = ERR_OK;
    while ((r = PQgetResult(c->pg)) != NULL) {
        if (e == ERR_OK && !result_ok(r))
            e = result_error(c, r, "COPY", rid);
        PQclear(r);
    }
    if (e == ERR_OK && sent != 1)
        e = result_error(c, NULL, "COPY", rid);
    if (e == ERR_OK)
        c->err_msg[0] = c->err_state[0] = c->err_constraint[0] = '\0';
    return e;
}

enum err db_begin(struct db_conn *c, const char *rid)
{
    /* Same retry rule as db_exec: a broken idle link is reset before the transaction. */
    if (PQstatus(c->pg) != CONNECTION_OK && conn_reset(c) != 0)
        return result_error(c, NULL, "BEGIN", rid);
    enum err e = db_exec_sql(c, "BEGIN", NULL, rid);
    if (e != ERR_OK && PQstatus(c->pg) != CONNECTION_OK && conn_reset(c) == 0)
        e = db_exec_sql(c, "BEGIN", NULL, rid);
    if (e == ERR_OK)
        c->in_tx = 1;
    return e;
}

enum err db_commit(struct db_conn *c, const char *rid)
{
    enum err e = db_exec_sql(c, "COMMIT", NULL, rid);
    c->in_tx = 0;
    return e;
}

void db_rollback(struct db_conn *c, const char *rid)
{
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        db_exec_sql(c, "ROLLBACK", NULL, rid);
    c->in_tx = 0;
}

static struct stmt st_set_actor =
    STMT("db_set_actor", "SELECT set_config('patrolgis.actor', $1, true),"
                         " set_config('patrolgis.request_id', $2, true)");

enum err db_set_actor(struct db_conn *c, const char *actor, const char *rid)
{
    const char *params[2] = { actor, rid ? rid : "" };
    return db_exec(c, &st_set_actor, 2, params, NULL, rid);
}

const char *db_error_message(const struct db_conn *c)
{
    return c->err_msg;
}

static const char *db_error_sqlstate(const struct db_conn *c)
{
    return c->err_state;
}

const char *db_error_constraint(const struct db_conn *c)
{
    return c->err_constraint;
}

/* ---- LISTEN thread ---- */

struct db_listener {
    struct db_settings s;
    char *conninfo, *tz, *channel;
    db_notify_fn on_notify, on_connect;
    void *ctx;
    int stop_pipe[2];
    pthread_t thread;
};

/* Sleeps up to ms, returning early (1) when stop was requested. */
static int listener_wait(struct db_listener *l, int fd, int ms)
{
    struct pollfd pf[2] = { { .fd = l->stop_pipe[0], .events = POLLIN },
                            { .fd = fd, .events = POLLIN } };
    int n = poll(pf, fd >= 0 ? 2 : 1, ms);
    return n > 0 && (pf[0].revents & POLLIN);
}

static void *listener_main(void *arg)
{
    struct db_listener *l = arg;
    PGconn *pg = NULL;
    int backoff_ms = 250;

    for (;;) {
        if (pg == NULL) {
            pg = open_pg(&l->s);
            char sql[160];
            char *ident = pg ? PQescapeIdentifier(pg, l->channel, strlen(l->channel)) : NULL;
            int ok = pg != NULL && PQstatus(pg) == CONNECTION_OK && ident != NULL;
            if (ok) {
                snprintf(sql, sizeof(sql), "LISTEN %s", ident);
                PGresult *r = PQexec(pg, sql);
                ok = PQresultStatus(r) == PGRES_COMMAND_OK;
                PQclear(r);
            }
            PQfreemem(ident);
            if (!ok) {
                if (pg != NULL)
                    PQfinish(pg);
                pg = NULL;
                if (listener_wait(l, -1, backoff_ms))
                    break;
                if (backoff_ms < 4000)
                    backoff_ms *= 2;
                continue;
            }
            backoff_ms = 250;
            log_debug("listening on channel %s", l->channel);
            if (l->on_connect != NULL)
                l->on_connect(l->ctx, NULL);
        }
        if (listener_wait(l, PQsocket(pg), 5000))
            break;
        if (!PQconsumeInput(pg)) {
            log_warn("LISTEN connection lost: %s", PQerrorMessage(pg));
            PQfinish(pg);
            pg = NULL;
            continue;
        }
        PGnotify *n;
        while ((n = PQnotifies(pg)) != NULL) {
            l->on_notify(l->ctx, n->extra);
            PQfreemem(n);
        }
    }
    if (pg != NULL)
        PQfinish(pg);
    return NULL;
}

struct db_listener *db_listener_start(const struct db_settings *s, const char *channel,
                                      db_notify_fn on_notify, db_notify_fn on_connect, void *ctx)
{
    struct db_listener *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->s = *s;
    l->conninfo = strdup(s->conninfo ? s->conninfo : "");
    l->tz = strdup(s->tz ? s->tz : "UTC");
    l->channel = strdup(channel);
    l->s.conninfo = l->conninfo;
    l->s.tz = l->tz;
    l->on_notify = on_notify;
    l->on_connect = on_connect;
    l->ctx = ctx;
    if (l->conninfo == NULL || l->tz == NULL || l->channel == NULL || pipe(l->stop_pipe) != 0)
        goto fail;
    if (pthread_create(&l->thread, NULL, listener_main, l) != 0) {
        close(l->stop_pipe[0]);
        close(l->stop_pipe[1]);
        goto fail;
    }
    return l;
fail:
    free(l->conninfo);
    free(l->tz);
    free(l->channel);
    free(l);
    return NULL;
}

void db_listener_stop(struct db_listener *l)
{
    if (l == NULL)
        return;
    if (write(l->stop_pipe[1], "x", 1) != 1)
        log_warn("listener stop: %s", "write failed");
    pthread_join(l->thread, NULL);
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l->conninfo);
    free(l->tz);
    free(l->channel);
    free(l);
}

char *db_pool_metrics_text(const struct db_pool_stats *pool)
{
    struct strbuf b;
    strbuf_init(&b, 0);
    strbuf_printf(&b,
                  "# HELP patrold_db_pool_connections Configured size of the connection pool.\n"
                  "# TYPE patrold_db_pool_connections gauge\n"
                  "patrold_db_pool_connections %ld\n"
                  "# HELP patrold_db_pool_open Connections currently open.\n"
                  "# TYPE patrold_db_pool_open gauge\n"
                  "patrold_db_pool_open %ld\n"
                  "# HELP patrold_db_pool_in_use Connections lent to requests right now.\n"
                  "# TYPE patrold_db_pool_in_use gauge\n"
                  "patrold_db_pool_in_use %ld\n"
                  "# HELP patrold_db_pool_acquires_total Connections handed out.\n"
                  "# TYPE patrold_db_pool_acquires_total counter\n"
                  "patrold_db_pool_acquires_total %llu\n"
                  "# HELP patrold_db_pool_waits_total Acquisitions that had to wait.\n"
                  "# TYPE patrold_db_pool_waits_total counter\n"
                  "patrold_db_pool_waits_total %llu\n"
                  "# HELP patrold_db_pool_acquire_timeouts_total Acquisitions that gave up (503).\n"
                  "# TYPE patrold_db_pool_acquire_timeouts_total counter\n"
                  "patrold_db_pool_acquire_timeouts_total %llu\n"
                  "# HELP patrold_db_connect_failures_total Failed attempts to connect.\n"
                  "# TYPE patrold_db_connect_failures_total counter\n"
                  "patrold_db_connect_failures_total %llu\n"
                  "# HELP patrold_db_resets_total Broken connections re-established.\n"
                  "# TYPE patrold_db_resets_total counter\n"
                  "patrold_db_resets_total %llu\n",
                  pool->size, pool->open, pool->in_use, pool->acquires, pool->waits, pool->timeouts,
                  pool->connect_failures, pool->resets);
    return strbuf_take(&b);
}

enum err db_err_from_sqlstate(const char *s)
{
    if (s == NULL || strlen(s) != 5)
        return ERR_UNAVAILABLE; /* no SQLSTATE: the connection is gone */

    /* Exact codes first, then classes. */
    if (strcmp(s, "23505") == 0 || strcmp(s, "23503") == 0 || strcmp(s, "23P01") == 0)
        return ERR_CONFLICT; /* unique, foreign key, exclusion */
    if (strcmp(s, "23514") == 0 || strcmp(s, "23502") == 0)
        return ERR_UNPROCESSABLE; /* check, not null */
    if (strcmp(s, "57014") == 0)
        return ERR_TIMEOUT; /* query_canceled: statement_timeout */
    if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 || strcmp(s, "55P03") == 0)
        return ERR_UNAVAILABLE; /* serialization failure, deadlock, lock not available */
    if (strncmp(s, "22", 2) == 0)
        return ERR_INVALID_ARGUMENT; /* data exception */
    if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 || strncmp(s, "57P", 3) == 0)
        return ERR_UNAVAILABLE; /* connection, resources, admin shutdown */
    return ERR_INTERNAL;
}

enum db_violation db_error_violation(const struct db_conn *c)
{
    const char *s = db_error_sqlstate(c);
    if (strcmp(s, "23503") == 0)
        return DB_VIOLATION_FOREIGN_KEY;
    if (strcmp(s, "23514") == 0 || strcmp(s, "23502") == 0)
        return DB_VIOLATION_CHECK;
    if (strcmp(s, "23505") == 0)
        return DB_VIOLATION_UNIQUE;
    if (strcmp(s, "42P07") == 0)
        return DB_VIOLATION_DUPLICATE_OBJECT;
    return DB_VIOLATION_NONE;
}

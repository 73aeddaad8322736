/*
 * db.h - PostgreSQL access: a fixed pool of libpq connections, prepared statements run by
 * slot (stmt.h), transactions, and a LISTEN thread. This file and db.c are the only owners
 * of PGconn; callers see PGresult for reading rows.
 *
 * Failures map to enum err: a lost or refused connection is ERR_UNAVAILABLE (503 with
 * Retry-After), statement_timeout is ERR_TIMEOUT, constraint violations are ERR_CONFLICT or
 * ERR_UNPROCESSABLE. A connection whose link broke outside a transaction is reset and the
 * statement retried once, so a database restart costs no request after it is back.
 */
#ifndef PATROL_DB_H
#define PATROL_DB_H

#include "err.h"
#include "stmt.h"

#include <libpq-fe.h>
#include <stddef.h>

struct db_pool;
struct db_conn;

/*
 * The NOTIFY channels patrold listens on (the migrations' triggers and the ingest transaction
 * send them): layer tables changed (payload: the table), and engine_queue rows to process
 * (payload: the device id).
 */
#define DB_CHANNEL_LAYERS "patrolgis_layers"
#define DB_CHANNEL_ENGINE "patrolgis_engine"

struct db_settings {
    const char *conninfo; /* connection string or URL; "" = libpq defaults */
    const char *tz;       /* session TimeZone */
    long statement_timeout_ms;
    long acquire_timeout_ms;
    long size; /* connections in the pool */
};

struct db_pool_stats {
    long size, open, in_use;
    unsigned long long acquires, waits, timeouts, connect_failures, resets;
};

/* New pool (connections open lazily), or NULL when out of memory. Strings are copied. */
struct db_pool *db_pool_new(const struct db_settings *s);

/* Closes every connection. No connection may be in use. db_pool_free(NULL) is a no-op. */
void db_pool_free(struct db_pool *p);

/*
 * Takes a connection, opening one if needed, waiting at most acquire_timeout_ms for a free
 * one. Returns ERR_OK and sets *out, or ERR_UNAVAILABLE when the pool is exhausted or the
 * database cannot be reached (msg says which).
 */
enum err db_acquire(struct db_pool *p, struct db_conn **out, char *msg, size_t msglen);

/* Returns c to the pool, rolling back an open transaction; a broken c is closed. */
void db_release(struct db_pool *p, struct db_conn *c);

void db_pool_get_stats(struct db_pool *p, struct db_pool_stats *st);

/* The pool's counters in the Prometheus text format: new (free it), or NULL out of memory. */
char *db_pool_metrics_text(const struct db_pool_stats *st);

/*
 * A connection of its own, outside any pool (CLI, migrations). Free with db_close.
 * On failure returns ERR_UNAVAILABLE with libpq's reason in msg.
 */
enum err db_connect(const struct db_settings *s, struct db_conn **out, char *msg, size_t msglen);
void db_close(struct db_conn *c);

/*
 * Runs prepared statement s with text parameters (NULL = SQL NULL). On ERR_OK, *res holds
 * the result (free with PQclear; may be NULL if res is NULL). On failure *res is NULL, the
 * details are logged under rid, and db_error_message/db_error_sqlstate describe it.
 */
enum err db_exec(struct db_conn *c, struct stmt *s, int nparams, const char *const *params,
                 PGresult **res, const char *rid);

/*
 * Runs one SQL statement built at run time (from trusted fragments: never from client text)
 * with bound text parameters, unprepared. Same results and errors as db_exec.
 */
enum err db_exec_params(struct db_conn *c, const char *sql, int nparams, const char *const *params,
                        PGresult **res, const char *rid);

/* Runs SQL text through the simple query protocol (several statements allowed). */
enum err db_exec_sql(struct db_conn *c, const char *sql, PGresult **res, const char *rid);

/*
 * Runs "COPY ... FROM STDIN" (sql) and sends data[0..len) as its whole input (any COPY format
 * the statement names). Same errors as db_exec; a failure inside a transaction aborts it.
 */
enum err db_copy_in(struct db_conn *c, const char *sql, const void *data, size_t len,
                    const char *rid);

/* BEGIN / COMMIT / ROLLBACK. A failed COMMIT means nothing was committed. */
enum err db_begin(struct db_conn *c, const char *rid);
enum err db_commit(struct db_conn *c, const char *rid);
void db_rollback(struct db_conn *c, const char *rid);

/*
 * Within a transaction, tells the audit triggers who acts (SET LOCAL patrolgis.actor and
 * patrolgis.request_id).
 */
enum err db_set_actor(struct db_conn *c, const char *actor, const char *rid);

/* The primary message of the last failure on c ("" when none). */
const char *db_error_message(const struct db_conn *c);
/* The constraint named by the last failure ("" when none). */
const char *db_error_constraint(const struct db_conn *c);

/*
 * Maps a five-character SQLSTATE (NULL allowed: a lost connection) to the error a client
 * should see. Unknown codes map to ERR_INTERNAL. The only SQLSTATE table of patrold, with
 * db_error_violation below.
 */
enum err db_err_from_sqlstate(const char *sqlstate);

/* Which rule the last failure on c broke, for callers that explain it to the client. */
enum db_violation {
    DB_VIOLATION_NONE,
    DB_VIOLATION_FOREIGN_KEY,      /* 23503 */
    DB_VIOLATION_CHECK,            /* 23514 check, 23502 not null */
    DB_VIOLATION_UNIQUE,           /* 23505 */
    DB_VIOLATION_DUPLICATE_OBJECT, /* 42P07: e.g. a partition created concurrently */
};
enum db_violation db_error_violation(const struct db_conn *c);

/* LISTEN on a channel in a thread of its own, reconnecting after failures. */
struct db_listener;
typedef void (*db_notify_fn)(void *ctx, const char *payload);
/*
 * on_notify runs for each notification; on_connect runs after every (re)connection, when
 * notifications may have been missed. Both run on the listener thread. Returns NULL when the
 * thread cannot start.
 */
struct db_listener *db_listener_start(const struct db_settings *s, const char *channel,
                                      db_notify_fn on_notify, db_notify_fn on_connect, void *ctx);
void db_listener_stop(struct db_listener *l);

/* Lowercase hex of n bytes into out (2n+1 bytes), for bytea parameters use "\\x" + hex. */
void db_hex(const unsigned char *bytes, size_t n, char *out);

#endif

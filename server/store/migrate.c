/*
 * migrate.c - applies the embedded migrations (see migrate.h).
 */
#include "migrate.h"

#include "db.h"
#include "log.h"
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>

/* pg_advisory_lock key: "patrolgis migrations" */
#define MIGRATE_LOCK "7261646973"

int migrate_latest(void)
{
    return migrate_embedded_count > 0 ? migrate_embedded[migrate_embedded_count - 1].version : 0;
}

static struct stmt st_current =
    STMT("migrate_current", "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0"
                            " ELSE (SELECT coalesce(max(version), 0) FROM schema_migrations) END");

enum err migrate_current(struct db_conn *c, int *version, char *msg, size_t msglen)
{
    PGresult *res;
    enum err e = db_exec(c, &st_current, 0, NULL, &res, NULL);
    if (e != ERR_OK) {
        snprintf(msg, msglen, "cannot read the schema version: %s", db_error_message(c));
        return e;
    }
    *version = (int)parse_cell_i64(PQgetvalue(res, 0, 0));
    PQclear(res);
    return ERR_OK;
}

static struct stmt st_record =
    STMT("migrate_record", "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)");

static enum err apply_one(struct db_conn *c, const struct migration *m, char *msg, size_t msglen)
{
    char version[16];
    enum err e = db_begin(c, NULL);
    if (e == ERR_OK)
        e = db_exec_sql(c, m->sql, NULL, NULL);
    if (e == ERR_OK) {
        snprintf(version, sizeof(version), "%d", m->version);
        const char *params[2] = { version, m->name };
        e = db_exec(c, &st_record, 2, params, NULL, NULL);
    }
    if (e == ERR_OK)
        e = db_commit(c, NULL);
    if (e != ERR_OK) {
        snprintf(msg, msglen, "migration %s failed: %s", m->name, db_error_message(c));
        db_rollback(c, NULL);
    }
    return e;
}

enum err migrate_apply(struct db_conn *c, int apply, int *applied, char *msg, size_t msglen)
{
    int current = 0;
    enum err e;

    *applied = 0;
    e = db_exec_sql(c,
                    "SELECT pg_advisory_lock(" MIGRATE_LOCK ");"
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    NULL, NULL);
    if (e != ERR_OK) {
        snprintf(msg, msglen, "cannot prepare schema_migrations: %s", db_error_message(c));
        return e;
    }
    e = migrate_current(c, &current, msg, msglen);
    if (e != ERR_OK)
        goto out;
    if (current > migrate_latest()) {
        snprintf(msg, msglen,
                 "the database schema (version %d) is newer than this patrold, which knows "
                 "versions up to %d: upgrade patrold",
                 current, migrate_latest());
        e = ERR_CONFLICT;
        goto out;
    }
    for (int i = 0; i < migrate_embedded_count; i++) {
        const struct migration *m = &migrate_embedded[i];
        if (m->version <= current)
            continue;
        if (!apply) {
            (*applied)++;
            continue;
        }
        log_info("applying migration %s", m->name);
        e = apply_one(c, m, msg, msglen);
        if (e != ERR_OK)
            goto out;
        (*applied)++;
    }
    if (apply)
        snprintf(msg, msglen, "schema at version %d (%d migration(s) applied)", migrate_latest(),
                 *applied);
    else
        snprintf(msg, msglen, "schema at version %d, %d migration(s) pending", current, *applied);
out:
    db_exec_sql(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")", NULL, NULL);
    return e;
}

/*
 * stmt.h - prepared statements. Each module defines its SQL next to the code that uses it as
 * a `static struct stmt` and runs it with db_exec; the registry here gives every statement a
 * slot the first time it is used, so each pooled connection prepares it once, lazily.
 * Parameters are always bound, never spliced into SQL.
 */
#ifndef PATROL_STMT_H
#define PATROL_STMT_H

#include <stdatomic.h>

#define STMT_MAX 512

struct stmt {
    const char *name; /* unique, module-prefixed: "auth_token" */
    const char *sql;
    atomic_int slot; /* 0 until first use, then 1..STMT_MAX */
};

#define STMT(name_, sql_)                                                                          \
    {                                                                                              \
        .name = (name_), .sql = (sql_), .slot = 0                                                  \
    }

/* The statement's slot (1..STMT_MAX), assigning one on first use; -1 when full. */
int stmt_slot(struct stmt *s);

#endif

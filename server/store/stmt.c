/*
 * stmt.c - slot assignment for prepared statements (see stmt.h).
 */
#include "stmt.h"

static atomic_int stmt_next = 1;

int stmt_slot(struct stmt *s)
{
    int slot = atomic_load(&s->slot);
    if (slot > 0)
        return slot;
    int fresh = atomic_fetch_add(&stmt_next, 1);
    if (fresh > STMT_MAX)
        return -1;
    int expected = 0;
    if (atomic_compare_exchange_strong(&s->slot, &expected, fresh))
        return fresh;
    return expected; /* another thread won; its slot stands, ours is wasted */
}

/*
 * layers.c - per-layer generation numbers bumped by LISTEN/NOTIFY (see layers.h). After a
 * (re)connection every generation is bumped, since notifications may have been missed while
 * the link was down.
 */
#include "layers.h"

#include "db.h"
#include "log.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

const char *const layers_names[] = { "schools",  "patrol_points", "patrol_windows",
                                     "waters",   "road_segments", "venues",
                                     "stations", "roads",         "inspections" };
const size_t layers_count = sizeof(layers_names) / sizeof(layers_names[0]);

#define LAYERS_MAX 16

struct layers {
    atomic_ullong gen[LAYERS_MAX];
    struct db_listener *listener;
};

int layers_index(const char *name)
{
    for (size_t i = 0; i < layers_count; i++)
        if (name != NULL && strcmp(layers_names[i], name) == 0)
            return (int)i;
    return -1;
}

/* Marks layer i (or every layer, i = -1) changed: what a notification does. */
static void layers_bump(struct layers *l, int i)
{
    if (i < 0) {
        for (size_t k = 0; k < layers_count; k++)
            atomic_fetch_add(&l->gen[k], 1);
    } else if ((size_t)i < layers_count) {
        atomic_fetch_add(&l->gen[i], 1);
    }
}

unsigned long long layers_generation(const struct layers *l, size_t i)
{
    return i < layers_count ? atomic_load(&l->gen[i]) : 0;
}

static void on_notify(void *ctx, const char *payload)
{
    int i = layers_index(payload);
    if (i < 0) {
        log_debug("notification for unknown layer '%s'", payload ? payload : "");
        return;
    }
    layers_bump(ctx, i);
}

static void on_connect(void *ctx, const char *unused)
{
    (void)unused;
    layers_bump(ctx, -1);
}

struct layers *layers_start(const struct db_settings *s)
{
    _Static_assert(sizeof(layers_names) / sizeof(layers_names[0]) <= LAYERS_MAX,
                   "raise LAYERS_MAX");
    struct layers *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    for (size_t i = 0; i < layers_count; i++)
        atomic_store(&l->gen[i], 1);
    l->listener = db_listener_start(s, DB_CHANNEL_LAYERS, on_notify, on_connect, l);
    if (l->listener == NULL) {
        free(l);
        return NULL;
    }
    return l;
}

void layers_stop(struct layers *l)
{
    if (l == NULL)
        return;
    db_listener_stop(l->listener);
    free(l);
}

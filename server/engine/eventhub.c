/*
 * eventhub.c - a ring of recent events behind a mutex (see eventhub.h).
 */
#include "eventhub.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    int64_t id;
    int64_t device_id;
    char *kind;
    char *json;
};

struct eventhub {
    pthread_mutex_t mu;
    struct slot *ring;
    size_t cap;
    size_t head;         /* index of the oldest event */
    size_t count;        /* events held */
    int64_t dropped_max; /* greatest id ever dropped (0: none) */
    atomic_llong last_id;
};

struct eventhub *eventhub_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    struct eventhub *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->ring = calloc(capacity, sizeof(*h->ring));
    if (h->ring == NULL) {
        free(h);
        return NULL;
    }
    h->cap = capacity;
    pthread_mutex_init(&h->mu, NULL);
    atomic_store(&h->last_id, 0);
    return h;
}

static void slot_clear(struct slot *s)
{
    free(s->kind);
    free(s->json);
    memset(s, 0, sizeof(*s));
}

void eventhub_free(struct eventhub *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->count; i++)
        slot_clear(&h->ring[(h->head + i) % h->cap]);
    free(h->ring);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int eventhub_publish(struct eventhub *h, int64_t id, const char *kind, int64_t device_id,
                     const char *json)
{
    char *k = strdup(kind ? kind : "");
    char *j = strdup(json ? json : "{}");
    pthread_mutex_lock(&h->mu);
    int rc = 0;
    if (id <= atomic_load(&h->last_id)) {
        free(k);
        free(j);
    } else if (k == NULL || j == NULL) {
        free(k);
        free(j);
        h->dropped_max = id;
        atomic_store(&h->last_id, id);
        rc = -1;
    } else {
        if (h->count == h->cap) {
            struct slot *old = &h->ring[h->head];
            h->dropped_max = old->id;
            slot_clear(old);
            h->head = (h->head + 1) % h->cap;
            h->count--;
        }
        struct slot *s = &h->ring[(h->head + h->count) % h->cap];
        *s = (struct slot){ .id = id, .device_id = device_id, .kind = k, .json = j };
        h->count++;
        atomic_store(&h->last_id, id);
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

int64_t eventhub_last_id(const struct eventhub *h)
{
    return atomic_load(&((struct eventhub *)h)->last_id);
}

enum eventhub_read eventhub_next(struct eventhub *h, int64_t after, struct eventhub_event *out)
{
    memset(out, 0, sizeof(*out));
    enum eventhub_read rc = EVENTHUB_NONE;
    pthread_mutex_lock(&h->mu);
    if (after < h->dropped_max) {
        rc = EVENTHUB_GAP;
        goto out;
    }
    /* Ids increase along the ring: binary search for the first id > after. */
    size_t lo = 0, hi = h->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->ring[(h->head + mid) % h->cap].id <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == h->count)
        goto out;
    const struct slot *s = &h->ring[(h->head + lo) % h->cap];
    out->id = s->id;
    out->device_id = s->device_id;
    out->kind = strdup(s->kind);
    out->json = strdup(s->json);
    if (out->kind == NULL || out->json == NULL) {
        eventhub_event_clear(out);
        rc = EVENTHUB_NOMEM;
    } else {
        rc = EVENTHUB_FOUND;
    }
out:
    pthread_mutex_unlock(&h->mu);
    return rc;
}

void eventhub_event_clear(struct eventhub_event *ev)
{
    free(ev->kind);
    free(ev->json);
    memset(ev, 0, sizeof(*ev));
}

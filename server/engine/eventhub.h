/*
 * eventhub.h - the most recent events (rows of the events table) held in memory, so that
 * server-sent event streams (GET /api/v1/events/stream) learn of new ones without asking the
 * database. The check-in engine publishes each event right after the transaction that wrote it
 * has committed; streams read from a cursor (the last event id they sent).
 *
 * A ring of fixed capacity: when it is full the oldest event is dropped, and a reader whose
 * cursor is older than a dropped event is told so (it ends its stream; the client reconnects
 * with Last-Event-ID and reads what it missed from the database). Ids are published in
 * increasing order (the engine is the only writer of events and commits in id order).
 *
 * Thread-safe: publishing and reading take a short mutex; eventhub_last_id is one atomic load,
 * cheap enough to poll. What it is not: storage (the events table is the record) or a filter.
 */
#ifndef PATROL_EVENTHUB_H
#define PATROL_EVENTHUB_H

#include <stddef.h>
#include <stdint.h>

struct eventhub;

/* A new hub holding up to capacity (>= 1) events, or NULL when out of memory. */
struct eventhub *eventhub_new(size_t capacity);

/* Frees h and the events it holds. NULL is a no-op. */
void eventhub_free(struct eventhub *h);

/*
 * Adds event id (greater than every id published before; others are ignored) of kind and
 * device (0: none), whose JSON text is json (copied). Returns 0, or -1 when out of memory
 * (the event is then counted as dropped, so readers behind it end their streams).
 */
int eventhub_publish(struct eventhub *h, int64_t id, const char *kind, int64_t device_id,
                     const char *json);

/* The greatest id published so far (0: none). Lock-free. */
int64_t eventhub_last_id(const struct eventhub *h);

/* One event as read: new strings, free with eventhub_event_clear. */
struct eventhub_event {
    int64_t id;
    int64_t device_id;
    char *kind;
    char *json;
};

enum eventhub_read {
    EVENTHUB_NONE = 0, /* nothing after the cursor yet */
    EVENTHUB_FOUND,    /* *out holds the first event with id > after */
    EVENTHUB_GAP,      /* an event after the cursor was dropped: the reader lost events */
    EVENTHUB_NOMEM,    /* out of memory copying the event */
};

/* The first event with id > after. */
enum eventhub_read eventhub_next(struct eventhub *h, int64_t after, struct eventhub_event *out);

/* Frees the strings of ev and zeroes it. */
void eventhub_event_clear(struct eventhub_event *ev);

#endif

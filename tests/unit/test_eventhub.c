/*
 * test_eventhub.c - the ring of recent events behind the event stream (server/engine/eventhub.h):
 * reading after a cursor, ids that must increase, the ring wrapping, and readers told when
 * events they have not seen were dropped; plus concurrent publishing and reading.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "eventhub.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void publish(struct eventhub *h, int64_t id)
{
    char json[64];
    snprintf(json, sizeof(json), "{\"id\":%lld}", (long long)id);
    assert_int_equal(eventhub_publish(h, id, id % 2 ? "zone_enter" : "zone_exit", id * 10, json),
                     0);
}

static void test_empty(void **state)
{
    (void)state;
    struct eventhub *h = eventhub_new(4);
    struct eventhub_event ev;
    assert_non_null(h);
    assert_int_equal(eventhub_last_id(h), 0);
    assert_int_equal(eventhub_next(h, 0, &ev), EVENTHUB_NONE);
    assert_null(ev.json);
    eventhub_free(h);
    eventhub_free(NULL);
    assert_null(eventhub_new(0));
}

static void test_cursor_reads_in_order(void **state)
{
    (void)state;
    struct eventhub *h = eventhub_new(8);
    struct eventhub_event ev;
    publish(h, 3);
    publish(h, 7);
    publish(h, 8);
    assert_int_equal(eventhub_last_id(h), 8);
    int64_t cursor = 0, seen[3];
    int n = 0;
    while (eventhub_next(h, cursor, &ev) == EVENTHUB_FOUND) {
        seen[n++] = ev.id;
        cursor = ev.id;
        assert_int_equal(ev.device_id, ev.id * 10);
        assert_string_equal(ev.kind, ev.id % 2 ? "zone_enter" : "zone_exit");
        char want[64];
        snprintf(want, sizeof(want), "{\"id\":%lld}", (long long)ev.id);
        assert_string_equal(ev.json, want);
        eventhub_event_clear(&ev);
    }
    assert_int_equal(n, 3);
    assert_int_equal(seen[0], 3);
    assert_int_equal(seen[1], 7);
    assert_int_equal(seen[2], 8);
    /* a cursor between ids finds the next one */
    assert_int_equal(eventhub_next(h, 5, &ev), EVENTHUB_FOUND);
    assert_int_equal(ev.id, 7);
    eventhub_event_clear(&ev);
    eventhub_free(h);
}

static void test_ids_must_increase(void **state)
{
    (void)state;
    struct eventhub *h = eventhub_new(8);
    struct eventhub_event ev;
    publish(h, 5);
    assert_int_equal(eventhub_publish(h, 5, "x", 0, "{}"), 0); /* ignored */
    assert_int_equal(eventhub_publish(h, 2, "x", 0, "{}"), 0); /* ignored */
    assert_int_equal(eventhub_last_id(h), 5);
    assert_int_equal(eventhub_next(h, 0, &ev), EVENTHUB_FOUND);
    assert_int_equal(ev.id, 5);
    eventhub_event_clear(&ev);
    assert_int_equal(eventhub_next(h, 5, &ev), EVENTHUB_NONE);
    eventhub_free(h);
}

static void test_wrap_and_gap(void **state)
{
    (void)state;
    struct eventhub *h = eventhub_new(4);
    struct eventhub_event ev;
    for (int64_t id = 1; id <= 10; id++)
        publish(h, id);
    /* 7..10 are held; 1..6 were dropped */
    assert_int_equal(eventhub_next(h, 6, &ev), EVENTHUB_FOUND);
    assert_int_equal(ev.id, 7);
    eventhub_event_clear(&ev);
    assert_int_equal(eventhub_next(h, 9, &ev), EVENTHUB_FOUND);
    assert_int_equal(ev.id, 10);
    eventhub_event_clear(&ev);
    /* a reader at 5 has not seen 6, which is gone */
    assert_int_equal(eventhub_next(h, 5, &ev), EVENTHUB_GAP);
    assert_int_equal(eventhub_next(h, 0, &ev), EVENTHUB_GAP);
    assert_int_equal(eventhub_next(h, 10, &ev), EVENTHUB_NONE);
    eventhub_free(h);
}

struct race {
    struct eventhub *h;
    int64_t last;
};

static void *writer(void *arg)
{
    struct race *r = arg;
    for (int64_t id = 1; id <= r->last; id++) /* no cmocka asserts off the main thread */
        if (eventhub_publish(r->h, id, "zone_enter", 0, "{}") != 0)
            abort();
    return NULL;
}

/* A reader following a writer sees every id once, in order, or is told it fell behind. */
static void test_concurrent_reader(void **state)
{
    (void)state;
    struct race r = { eventhub_new(64), 20000 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer, &r), 0);
    int64_t cursor = 0, gaps = 0;
    while (cursor < r.last) {
        struct eventhub_event ev;
        enum eventhub_read rc = eventhub_next(r.h, cursor, &ev);
        if (rc == EVENTHUB_FOUND) {
            assert_int_equal(ev.id, cursor + 1);
            cursor = ev.id;
            eventhub_event_clear(&ev);
        } else if (rc == EVENTHUB_GAP) {
            gaps++;
            cursor = eventhub_last_id(r.h) - 1; /* resume near the head, as a client would */
            if (cursor < 0)
                cursor = 0;
        }
    }
    pthread_join(t, NULL);
    printf("concurrent reader: %lld gap(s) over %lld events\n", (long long)gaps, (long long)r.last);
    eventhub_free(r.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_cursor_reads_in_order),
        cmocka_unit_test(test_ids_must_increase),
        cmocka_unit_test(test_wrap_and_gap),
        cmocka_unit_test(test_concurrent_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

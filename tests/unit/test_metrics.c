/* test_metrics.c - counters by route and status, histogram buckets, unmatched requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "db.h"
#include "metrics.h"
#include "router.h"

#include <stdlib.h>
#include <string.h>

static void h(struct req *r)
{
    (void)r;
}

static const struct route routes[] = {
    { "GET", "/healthz", h, 0, 0, NULL, "", "" },
    { "POST", "/api/v1/users", h, 0, 10, NULL, "", "" },
};

static void test_render(void **state)
{
    (void)state;
    struct router *rt = router_new();
    router_add(rt, routes, 2);
    struct metrics *m = metrics_new(2);
    metrics_observe(m, 0, "GET", 200, 0.0004);
    metrics_observe(m, 0, "GET", 200, 0.2);
    metrics_observe(m, 1, "POST", 415, 0.003);
    metrics_observe(m, -1, "BREW", 404, 0.001);
    struct db_pool_stats ps = { .size = 8, .open = 2, .in_use = 1, .timeouts = 3 };
    size_t len;
    char *text = metrics_render(m, rt, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(strstr(
        text, "patrold_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2\n"));
    assert_non_null(strstr(text, "{route=\"/api/v1/users\",method=\"POST\",status=\"415\"} 1\n"));
    assert_non_null(strstr(text, "{route=\"unmatched\",method=\"OTHER\",status=\"404\"} 1\n"));
    assert_non_null(strstr(text, "patrold_http_request_duration_seconds_bucket{route=\"/healthz\","
                                 "method=\"GET\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(text, "patrold_http_request_duration_seconds_bucket{route=\"/healthz\","
                                 "method=\"GET\",le=\"0.25\"} 2\n"));
    assert_non_null(strstr(text, "patrold_http_request_duration_seconds_count{route=\"/healthz\","
                                 "method=\"GET\"} 2\n"));
    assert_null(strstr(text, "patrold_db_pool")); /* the store renders its own */
    free(text);
    char *pool = db_pool_metrics_text(&ps);
    assert_non_null(pool);
    assert_non_null(strstr(pool, "patrold_db_pool_acquire_timeouts_total 3\n"));
    assert_non_null(strstr(pool, "patrold_db_pool_in_use 1\n"));
    free(pool);
    metrics_free(m);
    router_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_router.c - literal and parameter matching, 404 versus 405, HEAD, bad patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arena.h"
#include "router.h"

static void h(struct req *r)
{
    (void)r;
}

static const struct route routes[] = {
    { "GET", "/healthz", h, 0, 0, NULL, "", "" },
    { "GET", "/api/v1/tokens", h, 0, 0, NULL, "", "" },
    { "POST", "/api/v1/tokens", h, 0, 10, NULL, "", "" },
    { "DELETE", "/api/v1/tokens/{id}", h, 0, 0, NULL, "", "" },
    { "GET", "/collections/{cid}/items/{fid}", h, 0, 0, NULL, "", "" },
};

static void test_match(void **state)
{
    (void)state;
    struct router *rt = router_new();
    struct arena *a = arena_new();
    const struct route *got;
    size_t idx;
    struct route_params p;
    char allow[64];

    assert_int_equal(router_add(rt, routes, 5), ERR_OK);
    assert_int_equal(router_count(rt), 5);

    assert_int_equal(router_match(rt, "GET", "/healthz", a, &got, &idx, &p, allow, 64),
                     ROUTE_FOUND);
    assert_int_equal(idx, 0);
    assert_int_equal(router_match(rt, "HEAD", "/healthz", a, &got, &idx, &p, allow, 64),
                     ROUTE_FOUND);
    assert_int_equal(router_match(rt, "POST", "/api/v1/tokens", a, &got, &idx, &p, allow, 64),
                     ROUTE_FOUND);
    assert_int_equal(idx, 2);

    assert_int_equal(router_match(rt, "DELETE", "/api/v1/tokens/42", a, &got, &idx, &p, allow, 64),
                     ROUTE_FOUND);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.value[0], "42");

    assert_int_equal(
        router_match(rt, "GET", "/collections/schools/items/7", a, &got, &idx, &p, allow, 64),
        ROUTE_FOUND);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.value[0], "schools");
    assert_string_equal(p.value[1], "7");

    /* Known path, other method: 405 with the allowed ones. */
    assert_int_equal(router_match(rt, "PUT", "/api/v1/tokens", a, &got, &idx, &p, allow, 64),
                     ROUTE_NO_METHOD);
    assert_string_equal(allow, "GET, POST");

    /* Unknown paths, empty parameters, trailing slashes. */
    assert_int_equal(router_match(rt, "GET", "/nope", a, &got, &idx, &p, allow, 64), ROUTE_NO_PATH);
    assert_int_equal(router_match(rt, "GET", "/healthz/", a, &got, &idx, &p, allow, 64),
                     ROUTE_NO_PATH);
    assert_int_equal(router_match(rt, "DELETE", "/api/v1/tokens/", a, &got, &idx, &p, allow, 64),
                     ROUTE_NO_PATH);
    assert_int_equal(router_match(rt, "DELETE", "/api/v1/tokens/1/2", a, &got, &idx, &p, allow, 64),
                     ROUTE_NO_PATH);
    assert_int_equal(router_match(rt, "GET", "", a, &got, &idx, &p, allow, 64), ROUTE_NO_PATH);

    arena_free(a);
    router_free(rt);
}

static void test_bad_patterns(void **state)
{
    (void)state;
    static const struct route unclosed[] = { { "GET", "/a/{id", h, 0, 0, NULL, "", "" } };
    static const struct route empty[] = { { "GET", "/a/{}", h, 0, 0, NULL, "", "" } };
    static const struct route mid[] = { { "GET", "/a/x{id}", h, 0, 0, NULL, "", "" } };
    static const struct route many[] = { { "GET", "/{a}/{b}/{c}/{d}/{e}", h, 0, 0, NULL, "", "" } };
    static const struct route relative[] = { { "GET", "a", h, 0, 0, NULL, "", "" } };
    struct router *rt = router_new();
    assert_int_equal(router_add(rt, unclosed, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(router_add(rt, empty, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(router_add(rt, mid, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(router_add(rt, many, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(router_add(rt, relative, 1), ERR_INVALID_ARGUMENT);
    assert_int_equal(router_count(rt), 0);
    router_free(rt);
    router_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_bad_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

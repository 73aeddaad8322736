/* test_json.c - request body parsing: malformed JSON says where, unknown members refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arena.h"
#include "http.h"
#include "json.h"
#include "req_json.h"

#include <string.h>

static void set_body(struct req *r, const char *body)
{
    memset(r, 0, sizeof(*r));
    r->arena = arena_new();
    r->body = arena_strdup(r->arena, body);
    r->body_len = strlen(body);
}

static void test_malformed(void **state)
{
    (void)state;
    struct req r;
    set_body(&r, "{\"name\": \"a\",\n \"role\": }");
    assert_null(req_json_object(&r));
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.resp_body, "line 2"));
    assert_non_null(strstr(r.resp_body, "\"code\":\"invalid_argument\""));
    arena_free(r.arena);

    set_body(&r, "[1,2]");
    assert_null(req_json_object(&r));
    assert_int_equal(r.status, 400);
    arena_free(r.arena);

    set_body(&r, "{\"a\":1,\"a\":2}");
    assert_null(req_json_object(&r));
    assert_int_equal(r.status, 400);
    arena_free(r.arena);
}

static void test_members(void **state)
{
    (void)state;
    static const char *const allowed[] = { "name", "role", NULL };
    struct req r;
    set_body(&r, "{\"name\":\"学校\",\"role\":\"viewer\",\"id\":3}");
    json_t *j = req_json_object(&r);
    assert_non_null(j);
    assert_int_equal(json_only_members(&r, j, allowed), ERR_INVALID_ARGUMENT);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.resp_body, "'id'"));
    json_decref(j);
    arena_free(r.arena);

    set_body(&r, "{\"name\":5}");
    j = req_json_object(&r);
    const char *s;
    assert_int_equal(json_opt_string(&r, j, "name", &s), ERR_INVALID_ARGUMENT);
    assert_int_equal(r.status, 400);
    json_decref(j);
    arena_free(r.arena);

    set_body(&r, "{\"name\":\"学校\",\"n\":7}");
    j = req_json_object(&r);
    long long n;
    int present;
    assert_int_equal(json_opt_string(&r, j, "name", &s), 0);
    assert_string_equal(s, "学校");
    assert_int_equal(json_opt_int(&r, j, "n", &n, &present), 0);
    assert_true(present);
    assert_int_equal(n, 7);
    assert_int_equal(json_opt_int(&r, j, "missing", &n, &present), 0);
    assert_false(present);
    assert_int_equal(r.status, 0);
    json_decref(j);
    arena_free(r.arena);
}

static void test_reply_json_utf8(void **state)
{
    (void)state;
    struct req r;
    set_body(&r, "");
    req_reply_json(&r, 201, json_pack("{s:s}", "name", "青石镇"));
    assert_int_equal(r.status, 201);
    assert_string_equal(r.resp_body, "{\"name\":\"青石镇\"}");
    arena_free(r.arena);
}

/* An error message cut inside a character (messages are cut at a byte limit) or echoing
 * invalid bytes of the client still gives its own status and reason, not "out of memory". */
static void test_reply_error_invalid_utf8(void **state)
{
    (void)state;
    struct req r;
    set_body(&r, "");
    const char *zhong = "中中中"; /* 3 bytes each */
    req_reply_error(&r, ERR_INVALID_ARGUMENT, "unknown parameter '%.7s", zhong);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.resp_body, "{\"error\":{\"code\":\"invalid_argument\","
                                     "\"message\":\"unknown parameter '中中\"}}");
    req_reply_error(&r, ERR_UNPROCESSABLE, "bad \xff\xfe name");
    assert_int_equal(r.status, 422);
    assert_string_equal(r.resp_body, "{\"error\":{\"code\":\"unprocessable\","
                                     "\"message\":\"bad ?? name\"}}");
    arena_free(r.arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_reply_json_utf8),
        cmocka_unit_test(test_reply_error_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

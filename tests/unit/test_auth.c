/* test_auth.c - token and identifier format, hashing, roles, argon2id, header parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"

#include <string.h>

static void test_token_format(void **state)
{
    (void)state;
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    assert_int_equal(auth_token_new(a), 0);
    assert_int_equal(auth_token_new(b), 0);
    assert_int_equal(strlen(a), AUTH_TOKEN_LEN);
    assert_memory_equal(a, AUTH_TOKEN_PREFIX, 4);
    assert_string_not_equal(a, b);
    for (size_t i = 4; i < AUTH_TOKEN_LEN; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    char id[AUTH_IDENT_LEN + 1];
    assert_int_equal(auth_ident_new(id), 0);
    assert_int_equal(strlen(id), AUTH_IDENT_LEN);
    for (size_t i = 0; i < AUTH_IDENT_LEN; i++)
        assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz234567", id[i]));
}

static void test_hash(void **state)
{
    (void)state;
    char h[3 + 64];
    auth_hash_bytea("abc", h); /* FIPS 180-2 test vector */
    assert_string_equal(h, "\\xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_roles(void **state)
{
    (void)state;
    assert_int_equal(auth_role_parse("viewer"), ROLE_VIEWER);
    assert_int_equal(auth_role_parse("admin"), ROLE_ADMIN);
    assert_int_equal(auth_role_parse("device"), ROLE_DEVICE);
    assert_int_equal(auth_role_parse("root"), 0);
    assert_int_equal(auth_role_parse(NULL), 0);
    assert_string_equal(auth_role_name(ROLE_EDITOR), "editor");
    assert_string_equal(auth_role_name(0), "");
    struct identity who = { .kind = WHO_USER, .role = ROLE_ADMIN, .name = "alice" };
    char actor[64];
    auth_actor(&who, actor, sizeof(actor));
    assert_string_equal(actor, "user:alice");
    who.kind = WHO_NONE;
    auth_actor(&who, actor, sizeof(actor));
    assert_string_equal(actor, "anonymous");
}

static void test_password(void **state)
{
    (void)state;
    char enc[256];
    assert_int_equal(auth_password_hash("correct horse", enc, sizeof(enc)), 0);
    assert_memory_equal(enc, "$argon2id$", 10);
    assert_true(auth_password_verify(enc, "correct horse"));
    assert_false(auth_password_verify(enc, "correct horsE"));
    assert_false(auth_password_verify("garbage", "x"));
}

static void test_bearer_refusals_need_no_database(void **state)
{
    (void)state;
    struct identity who;
    char msg[160];
    /* Malformed headers are refused before any query: the connection is never touched. */
    assert_int_equal(auth_bearer(NULL, NULL, &who, NULL, msg, sizeof(msg)), ERR_UNAUTHORIZED);
    assert_int_equal(auth_bearer(NULL, "Basic Zm9vOmJhcg==", &who, NULL, msg, sizeof(msg)),
                     ERR_UNAUTHORIZED);
    assert_int_equal(auth_bearer(NULL, "Bearer short", &who, NULL, msg, sizeof(msg)),
                     ERR_UNAUTHORIZED);
    assert_int_equal(auth_bearer(NULL, "Bearer xxx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                 &who, NULL, msg, sizeof(msg)),
                     ERR_UNAUTHORIZED);
    assert_int_equal(who.kind, WHO_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_format),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_bearer_refusals_need_no_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_utf8.c - UTF-8 well-formedness and the in-place repair of cut or foreign bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "utf8.h"

#include <string.h>

static void test_valid(void **state)
{
    (void)state;
    static const char *const good[] = {
        "",
        "abc",
        "青石镇",
        "é",
        "\xF0\x9F\x9A\x93" /* police car */,
        "\xEF\xBF\xBD",
        "\xF4\x8F\xBF\xBF" /* U+10FFFF */,
        "\xED\x9F\xBF" /* U+D7FF */,
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!utf8_valid(good[i], strlen(good[i])))
            fail_msg("good[%zu] refused", i);
    static const char *const bad[] = {
        "\x80",             /* a lone continuation */
        "\xC0\xAF",         /* overlong '/' */
        "\xC1\xBF",         /* overlong */
        "\xE0\x80\xAF",     /* overlong */
        "\xED\xA0\x80",     /* a surrogate */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xF5\x80\x80\x80", /* never a lead byte */
        "\xFF",
        "\xE4\xB8",   /* cut short */
        "a\xE4\xB8-", /* a character interrupted */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (utf8_valid(bad[i], strlen(bad[i])))
            fail_msg("bad[%zu] accepted", i);
}

static void test_repair(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "青石镇", "青石镇" },
        { "中\xE4\xB8", "中" },               /* cut at the end: dropped */
        { "中\xE4", "中" },                   /* cut after the lead byte */
        { "a\xFF\xFE\x62", "a??b" },          /* foreign bytes: '?' each */
        { "\xC0\xAFx", "??x" },               /* overlong: two bytes, two '?' */
        { "\xE4\xB8+\xE4\xB8\xAD", "??+中" }, /* interrupted, then whole */
        { "\x80", "?" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64];
        strcpy(buf, cases[i].in);
        utf8_repair(buf);
        assert_string_equal(buf, cases[i].out);
        assert_true(utf8_valid(buf, strlen(buf)));
    }
}

/* Every byte string of up to 3 bytes comes out valid, and valid ones come out unchanged. */
static void test_repair_exhaustive(void **state)
{
    (void)state;
    for (unsigned a = 1; a < 256; a++)
        for (unsigned b = 0; b < 256; b += (a < 0xC0 ? 255 : 1))
            for (unsigned c = 0; c < 256; c += 17) {
                unsigned char in[4] = { (unsigned char)a, (unsigned char)b, (unsigned char)c, 0 };
                char buf[4];
                memcpy(buf, in, 4);
                bool was_valid = utf8_valid(buf, strlen(buf));
                utf8_repair(buf);
                assert_true(utf8_valid(buf, strlen(buf)));
                if (was_valid)
                    assert_memory_equal(buf, in, 4);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_repair),
        cmocka_unit_test(test_repair_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

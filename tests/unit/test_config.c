/* test_config.c - defaults, environment, flags (a flag wins), and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(struct config *cfg, int argc, char **argv, int *idx)
{
    FILE *null = fopen("/dev/null", "w");
    int rc = config_parse(cfg, argc, argv, idx, null, null);
    fclose(null);
    return rc;
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    int idx;
    char *argv[] = { "patrold", NULL };
    unsetenv("PATROLD_PORT");
    unsetenv("DATABASE_URL");
    assert_int_equal(parse(&cfg, 1, argv, &idx), 0);
    assert_int_equal(idx, 1);
    assert_int_equal(cfg.port, 8080);
    assert_string_equal(cfg.listen, "127.0.0.1");
    assert_string_equal(cfg.tz, "Asia/Shanghai");
    assert_string_equal(cfg.db, "");
    config_free(&cfg);
}

static void test_env_then_flag(void **state)
{
    (void)state;
    struct config cfg;
    int idx;
    setenv("PATROLD_PORT", "9000", 1);
    setenv("DATABASE_URL", "postgresql:///x", 1);
    char *a1[] = { "patrold", "migrate", NULL };
    assert_int_equal(parse(&cfg, 2, a1, &idx), 0);
    assert_int_equal(cfg.port, 9000);
    assert_string_equal(cfg.db, "postgresql:///x");
    assert_int_equal(idx, 1);
    config_free(&cfg);

    char *a2[] = { "patrold", "--port", "9100", "--db=postgresql:///y", "user", "add", NULL };
    assert_int_equal(parse(&cfg, 6, a2, &idx), 0);
    assert_int_equal(cfg.port, 9100);
    assert_string_equal(cfg.db, "postgresql:///y");
    assert_int_equal(idx, 4);
    config_free(&cfg);
    unsetenv("PATROLD_PORT");
    unsetenv("DATABASE_URL");
}

static void test_refusals(void **state)
{
    (void)state;
    struct config cfg;
    int idx;
    char *bad_int[] = { "patrold", "--port", "80x", NULL };
    assert_int_equal(parse(&cfg, 3, bad_int, &idx), -1);
    config_free(&cfg);
    char *range[] = { "patrold", "--port", "70000", NULL };
    assert_int_equal(parse(&cfg, 3, range, &idx), -1);
    config_free(&cfg);
    char *unknown[] = { "patrold", "--nope", "1", NULL };
    assert_int_equal(parse(&cfg, 3, unknown, &idx), -1);
    config_free(&cfg);
    char *missing[] = { "patrold", "--port", NULL };
    assert_int_equal(parse(&cfg, 2, missing, &idx), -1);
    config_free(&cfg);
    char *level[] = { "patrold", "--log-level", "loud", NULL };
    assert_int_equal(parse(&cfg, 3, level, &idx), -1);
    config_free(&cfg);
    setenv("PATROLD_THREADS", "0", 1);
    char *plain[] = { "patrold", NULL };
    assert_int_equal(parse(&cfg, 1, plain, &idx), -1);
    config_free(&cfg);
    unsetenv("PATROLD_THREADS");
    char *help[] = { "patrold", "--help", NULL };
    assert_int_equal(parse(&cfg, 2, help, &idx), 1);
    config_free(&cfg);
    char *version[] = { "patrold", "--version", NULL };
    assert_int_equal(parse(&cfg, 2, version, &idx), 2);
    config_free(&cfg);
}

/* --town-bbox is parsed once, at start: a malformed box stops patrold (exit 2) instead of
 * silently turning the check off, as it once did. */
static void test_town_bbox(void **state)
{
    (void)state;
    struct config cfg;
    int idx;
    unsetenv("PATROLD_TOWN_BBOX");
    char *none[] = { "patrold", NULL };
    assert_int_equal(parse(&cfg, 1, none, &idx), 0);
    assert_false(cfg.has_town_bbox);
    config_free(&cfg);

    char *good[] = { "patrold", "--town-bbox", "113.1,29.2,113.6,29.5", NULL };
    assert_int_equal(parse(&cfg, 3, good, &idx), 0);
    assert_true(cfg.has_town_bbox);
    assert_true(cfg.town_bbox_deg[0] == 113.1 && cfg.town_bbox_deg[1] == 29.2);
    assert_true(cfg.town_bbox_deg[2] == 113.6 && cfg.town_bbox_deg[3] == 29.5);
    config_free(&cfg);

    static const char *const bad[] = {
        "113.1,29.2,113.6",        /* three numbers */
        "113.1,29.2,113.6,29.5,1", /* five */
        "113.1;29.2;113.6;29.5",   /* other separators */
        "113.1,29.2,113.6,",       /* empty fourth */
        "113.1,29.2,113.6,29.5x",  /* trailing bytes */
        "113.1, 29.2,113.6,29.5",  /* a space */
        "nan,29.2,113.6,29.5",     /* not finite */
        "113.1,29.2,inf,29.5",     /* not finite */
        "113.6,29.2,113.1,29.5",   /* min above max */
        "113.1,29.5,113.6,29.5",   /* empty */
        "-181,29.2,113.6,29.5",    /* longitude out of range */
        "113.1,-91,113.6,29.5",    /* latitude out of range */
        "0x71,29.2,113.6,29.5",    /* hex */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = { "patrold", "--town-bbox", (char *)bad[i], NULL };
        if (parse(&cfg, 3, argv, &idx) != -1)
            fail_msg("--town-bbox '%s' was accepted", bad[i]);
        config_free(&cfg);
    }
    setenv("PATROLD_TOWN_BBOX", "1,2,3", 1); /* the variable is checked the same way */
    assert_int_equal(parse(&cfg, 1, none, &idx), -1);
    config_free(&cfg);
    unsetenv("PATROLD_TOWN_BBOX");
}

static void test_usage_lists_every_env(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    config_usage(f);
    fclose(f);
    const char *expect[] = { "--listen",
                             "PATROLD_LISTEN",
                             "--port",
                             "DATABASE_URL",
                             "--tz",
                             "PATROLD_LOG_LEVEL",
                             "--max-per-ip",
                             "--statement-timeout-ms",
                             "--shutdown-grace-s" };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        assert_non_null(strstr(buf, expect[i]));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_env_then_flag),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_town_bbox),
        cmocka_unit_test(test_usage_lists_every_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

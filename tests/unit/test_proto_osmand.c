/*
 * test_proto_osmand.c - OsmAnd / Traccar Client decoding: query and form parameters (units,
 * the three timestamp forms, location=, unknown values, malformed numbers), form splitting and
 * percent-decoding, and the Traccar Client 9 JSON body (m/s, -1 for unknown, battery fraction,
 * location arrays, limits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arena.h"
#include "proto_osmand.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const int64_t NOW = INT64_C(1795820700000);

static int setup(void **state)
{
    *state = arena_new();
    return *state == NULL;
}

static int teardown(void **state)
{
    arena_free(*state);
    return 0;
}

/* Splits a query string and decodes it. */
static enum err decode(struct arena *a, const char *query, struct ingest_msg *m, char *msg)
{
    struct osmand_param *p;
    long n = osmand_split_form(a, query, strlen(query), &p, msg, 256);
    if (n < 0)
        return ERR_INVALID_ARGUMENT;
    return osmand_from_params(a, p, (size_t)n, NOW, m, msg, 256);
}

static void test_traccar_client_query(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    /* What Traccar Client (Android) sends */
    assert_int_equal(decode(a,
                            "id=abc123&timestamp=1795820700&lat=27.9&lon=112.9&speed=10.0&"
                            "bearing=90.5&altitude=51.0&accuracy=4.5&batt=87.0&mock=true",
                            &m, msg),
                     ERR_OK);
    assert_string_equal(m.device_ident, "abc123");
    assert_int_equal(m.n, 1);
    assert_int_equal(m.crs, CRS_WGS84);
    struct ingest_fix *f = m.fixes;
    assert_true(f->t_ms == NOW);
    assert_true(f->lat == 27.9 && f->lon == 112.9);
    assert_true(fabs(f->speed_kmh - 18.52) < 1e-9); /* knots */
    assert_true(f->heading == 90.5);
    assert_true(f->altitude_m == 51.0);
    assert_true(f->accuracy_m == 4.5);
    assert_true(f->battery == 87.0);
    assert_int_equal(f->valid, -1);
}

static void test_osmand_variants(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    /* deviceid, epoch ms, location=, heading, valid, hdop as accuracy */
    assert_int_equal(decode(a,
                            "deviceid=x&timestamp=1795820700123&location=27.5%2C112.5&heading=10&"
                            "valid=false&hdop=12",
                            &m, msg),
                     ERR_OK);
    assert_string_equal(m.device_ident, "x");
    assert_true(m.fixes->t_ms == NOW + 123);
    assert_true(m.fixes->lat == 27.5 && m.fixes->lon == 112.5);
    assert_true(m.fixes->heading == 10);
    assert_int_equal(m.fixes->valid, 0);
    assert_true(m.fixes->accuracy_m == 12);
    /* ISO 8601 with a zone; without timestamp: the reception time */
    assert_int_equal(
        decode(a, "id=x&lat=1&lon=2&timestamp=2026-11-28T07%3A05%3A00%2B08%3A00", &m, msg), ERR_OK);
    assert_true(m.fixes->t_ms == NOW);
    assert_int_equal(decode(a, "id=x&lat=1&lon=2", &m, msg), ERR_OK);
    assert_true(m.fixes->t_ms == NOW);
    /* negative = unknown */
    assert_int_equal(decode(a, "id=x&lat=1&lon=2&speed=-1&bearing=-1&accuracy=-1", &m, msg),
                     ERR_OK);
    assert_true(isnan(m.fixes->speed_kmh) && isnan(m.fixes->heading) && isnan(m.fixes->accuracy_m));
    /* no id: decoded, the caller refuses it */
    assert_int_equal(decode(a, "lat=1&lon=2", &m, msg), ERR_OK);
    assert_null(m.device_ident);
    /* valid=1 / true */
    assert_int_equal(decode(a, "id=x&lat=1&lon=2&valid=1", &m, msg), ERR_OK);
    assert_int_equal(m.fixes->valid, 1);
}

static void test_osmand_malformed(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    static const char *const bad[] = {
        "id=x&lon=2",                   /* missing lat */
        "id=x",                         /* missing both */
        "id=x&lat=abc&lon=2",           /* malformed number */
        "id=x&lat=NaN&lon=2",           /* not finite */
        "id=x&lat=1&lon=inf",           /* not finite */
        "id=x&lat=1&lon=2&speed=fast",  /* malformed optional */
        "id=x&lat=1&lon=2&valid=maybe", /* malformed flag */
        "id=x&lat=1&lon=2&timestamp=yesterday",
        "id=x&location=27.5",         /* location without lon */
        "id=x&location=a,b",          /* location not numbers */
        "id=x&lat=1&lon=2&altitude=", /* empty number */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        if (decode(a, bad[i], &m, msg) != ERR_INVALID_ARGUMENT)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(strlen(msg) > 0);
    }
}

static void test_split_form(void **state)
{
    struct arena *a = *state;
    struct osmand_param *p;
    char msg[256];
    const char *body = "id=a%2Fb&name=x+y&flag&&empty=&%41=1";
    long n = osmand_split_form(a, body, strlen(body), &p, msg, sizeof(msg));
    assert_int_equal(n, 5);
    assert_string_equal(p[0].name, "id");
    assert_string_equal(p[0].value, "a/b");
    assert_string_equal(p[1].value, "x y");
    assert_string_equal(p[2].name, "flag");
    assert_null(p[2].value);
    assert_string_equal(p[3].name, "empty");
    assert_string_equal(p[3].value, "");
    assert_string_equal(p[4].name, "A");
    static const char *const bad[] = { "id=%G1", "id=%4", "id=%", "id=a%00b", "%zz=1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(osmand_split_form(a, bad[i], strlen(bad[i]), &p, msg, sizeof(msg)), -1);
    char many[4096] = "";
    for (int i = 0; i <= OSMAND_MAX_PARAMS; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "p%d=1&", i);
    assert_int_equal(osmand_split_form(a, many, strlen(many), &p, msg, sizeof(msg)), -1);
    assert_int_equal(osmand_split_form(a, "", 0, &p, msg, sizeof(msg)), 0);
}

static void test_traccar_json(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    const char *body = "{\"location\":{\"timestamp\":\"2026-11-27T23:05:00.000Z\","
                       "\"coords\":{\"latitude\":27.9,\"longitude\":112.9,\"accuracy\":5.5,"
                       "\"speed\":10,\"heading\":-1,\"altitude\":40,\"altitude_accuracy\":3},"
                       "\"is_moving\":true,\"odometer\":123.4,\"event\":\"motionchange\","
                       "\"battery\":{\"level\":0.52,\"is_charging\":false},"
                       "\"activity\":{\"type\":\"in_vehicle\"},\"extras\":{}},"
                       "\"device_id\":\"ident7\"}";
    assert_int_equal(osmand_parse_json(a, body, strlen(body), 10, &m, msg, sizeof(msg)), ERR_OK);
    assert_string_equal(m.device_ident, "ident7");
    assert_int_equal(m.n, 1);
    struct ingest_fix *f = m.fixes;
    assert_true(f->t_ms == NOW);
    assert_true(f->lat == 27.9 && f->lon == 112.9);
    assert_true(fabs(f->speed_kmh - 36) < 1e-9); /* m/s */
    assert_true(isnan(f->heading));              /* -1: unknown */
    assert_true(f->accuracy_m == 5.5 && f->altitude_m == 40);
    assert_true(fabs(f->battery - 52) < 1e-9);

    const char *arr = "{\"device_id\":\"d\",\"location\":["
                      "{\"timestamp\":\"2026-11-27T23:05:00Z\",\"coords\":{\"latitude\":1,"
                      "\"longitude\":2}},"
                      "{\"timestamp\":\"2026-11-27T23:05:01Z\",\"coords\":{\"latitude\":1.1,"
                      "\"longitude\":2,\"speed\":null}}]}";
    assert_int_equal(osmand_parse_json(a, arr, strlen(arr), 10, &m, msg, sizeof(msg)), ERR_OK);
    assert_int_equal(m.n, 2);
    assert_true(m.fixes[1].t_ms == NOW + 1000);
    assert_int_equal(osmand_parse_json(a, arr, strlen(arr), 1, &m, msg, sizeof(msg)),
                     ERR_TOO_LARGE);

    static const char *const bad[] = {
        "",
        "{",
        "[]",
        "{\"location\":{}}",
        "{\"device_id\":5,\"location\":{}}",
        "{\"device_id\":\"\",\"location\":{}}",
        "{\"device_id\":\"d\"}",
        "{\"device_id\":\"d\",\"location\":[]}",
        "{\"device_id\":\"d\",\"location\":{\"coords\":{\"latitude\":1,\"longitude\":2}}}",
        "{\"device_id\":\"d\",\"location\":{\"timestamp\":\"x\",\"coords\":{\"latitude\":1,"
        "\"longitude\":2}}}",
        "{\"device_id\":\"d\",\"location\":{\"timestamp\":\"2026-11-27T23:05:00Z\"}}",
        "{\"device_id\":\"d\",\"location\":{\"timestamp\":\"2026-11-27T23:05:00Z\",\"coords\":"
        "{\"latitude\":\"1\",\"longitude\":2}}}",
        "{\"device_id\":\"d\",\"location\":{\"timestamp\":\"2026-11-27T23:05:00Z\",\"coords\":"
        "{\"longitude\":2}}}",
        "{\"device_id\":\"d\",\"location\":{\"timestamp\":\"2026-11-27T23:05:00Z\",\"coords\":"
        "{\"latitude\":1,\"longitude\":2,\"speed\":\"fast\"}}}",
        "{\"device_id\":\"d\",\"device_id\":\"e\",\"location\":{}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        if (osmand_parse_json(a, bad[i], strlen(bad[i]), 10, &m, msg, sizeof(msg)) !=
            ERR_INVALID_ARGUMENT)
            fail_msg("bad body %zu accepted: %s", i, bad[i]);
        assert_true(strlen(msg) > 0);
        assert_int_equal(m.n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_traccar_client_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_osmand_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_osmand_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_traccar_json, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_proto_batch.c - the JSON and protobuf position batches: the documented schema, every
 * way to break it (each refused whole, nothing half-decoded), CRS names, the 10 000-fix limit
 * (10 001 is ERR_TOO_LARGE, counted on the protobuf wire before unpacking), and protobuf
 * garbage: random bytes, truncations and a missing required field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arena.h"
#include "proto_batch.h"

#include "positions.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static enum err json(struct arena *a, const char *body, struct ingest_msg *m, char *msg)
{
    return batch_parse_json(a, body, strlen(body), INGEST_MAX_FIXES, m, msg, 256);
}

static void test_crs_names(void **state)
{
    (void)state;
    enum crs c;
    assert_int_equal(batch_crs("wgs84", &c), 0);
    assert_int_equal(c, CRS_WGS84);
    assert_int_equal(batch_crs("WGS84", &c), 0);
    assert_int_equal(batch_crs("EPSG:4326", &c), 0);
    assert_int_equal(c, CRS_WGS84);
    assert_int_equal(batch_crs("cgcs2000", &c), 0);
    assert_int_equal(c, CRS_CGCS2000);
    assert_int_equal(batch_crs("EPSG:4490", &c), 0);
    assert_int_equal(c, CRS_CGCS2000);
    assert_int_equal(batch_crs("gcj02", &c), 0);
    assert_int_equal(c, CRS_GCJ02);
    assert_int_equal(batch_crs("GCJ-02", &c), 0);
    assert_int_equal(batch_crs("EPSG:3857", &c), -1);
    assert_int_equal(batch_crs("bd09", &c), -1);
    assert_int_equal(batch_crs(NULL, &c), -1);
}

static void test_json_good(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    assert_int_equal(json(a,
                          "{\"crs\":\"gcj02\",\"fixes\":["
                          "{\"t\":\"2026-11-28T07:05:00+08:00\",\"lat\":27.9,\"lon\":112.9,"
                          "\"speed_kmh\":35.5,\"heading\":270,\"accuracy_m\":8,\"altitude_m\":60,"
                          "\"hdop\":1.2,\"battery\":80,\"valid\":true},"
                          "{\"t\":1795820701000,\"lat\":28,\"lon\":113,\"speed_kmh\":null,"
                          "\"valid\":false}]}",
                          &m, msg),
                     ERR_OK);
    assert_int_equal(m.crs, CRS_GCJ02);
    assert_null(m.device_ident);
    assert_int_equal(m.n, 2);
    assert_true(m.fixes[0].t_ms == INT64_C(1795820700000));
    assert_true(m.fixes[0].lat == 27.9 && m.fixes[0].lon == 112.9);
    assert_true(m.fixes[0].speed_kmh == 35.5 && m.fixes[0].heading == 270);
    assert_true(m.fixes[0].accuracy_m == 8 && m.fixes[0].altitude_m == 60);
    assert_true(m.fixes[0].hdop == 1.2 && m.fixes[0].battery == 80);
    assert_int_equal(m.fixes[0].valid, 1);
    assert_true(m.fixes[1].t_ms == INT64_C(1795820701000));
    assert_true(isnan(m.fixes[1].speed_kmh) && isnan(m.fixes[1].heading));
    assert_int_equal(m.fixes[1].valid, 0);
    /* crs may be absent or null: WGS84 */
    assert_int_equal(json(a, "{\"fixes\":[{\"t\":1795820701000,\"lat\":1,\"lon\":2}]}", &m, msg),
                     ERR_OK);
    assert_int_equal(m.crs, CRS_WGS84);
    assert_int_equal(json(a, "{\"crs\":null,\"fixes\":[{\"t\":1,\"lat\":1,\"lon\":2}]}", &m, msg),
                     ERR_OK);
    /* out-of-range values decode: judging them is ingest_check's job */
    assert_int_equal(json(a, "{\"fixes\":[{\"t\":4070908800000,\"lat\":95,\"lon\":200}]}", &m, msg),
                     ERR_OK);
}

static void test_json_malformed(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    static const char *const bad[] = {
        "",
        "not json",
        "{\"fixes\":[{\"t\":1,\"lat\":1,\"lon\":2}]",
        "[]",
        "{}",
        "{\"fixes\":[]}",
        "{\"fixes\":{}}",
        "{\"fixes\":[1]}",
        "{\"crs\":\"EPSG:3857\",\"fixes\":[{\"t\":1,\"lat\":1,\"lon\":2}]}",
        "{\"crs\":4326,\"fixes\":[{\"t\":1,\"lat\":1,\"lon\":2}]}",
        "{\"device_id\":7,\"fixes\":[{\"t\":1,\"lat\":1,\"lon\":2}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":1,\"lng\":2}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":1}]}",
        "{\"fixes\":[{\"t\":1,\"lon\":1}]}",
        "{\"fixes\":[{\"lat\":1,\"lon\":1}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":\"27.9\",\"lon\":1}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":null,\"lon\":1}]}",
        "{\"fixes\":[{\"t\":1.5,\"lat\":1,\"lon\":1}]}",
        "{\"fixes\":[{\"t\":\"2026-11-28T07:05:00\",\"lat\":1,\"lon\":1}]}",
        "{\"fixes\":[{\"t\":\"1795820700\",\"lat\":1,\"lon\":1}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":1,\"lon\":1,\"speed_kmh\":\"fast\"}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":1,\"lon\":1,\"valid\":1}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":1e999,\"lon\":1}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":1,\"lat\":2,\"lon\":1}]}",
        "{\"fixes\":[{\"t\":1,\"lat\":1,\"lon\":2},{\"t\":2,\"lat\":\"x\",\"lon\":2}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        if (json(a, bad[i], &m, msg) != ERR_INVALID_ARGUMENT)
            fail_msg("bad batch %zu accepted: %s", i, bad[i]);
        assert_true(strlen(msg) > 0);
        assert_int_equal(m.n, 0);
        assert_null(m.fixes);
    }
}

/* A JSON batch of n minimal fixes (new, free it). */
static char *json_of(size_t n)
{
    size_t cap = 64 + n * 64;
    char *s = malloc(cap);
    size_t len = (size_t)snprintf(s, cap, "{\"fixes\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s{\"t\":%zu,\"lat\":1,\"lon\":2}",
                                i ? "," : "", 1795820700000 + i);
    snprintf(s + len, cap - len, "]}");
    return s;
}

static void test_json_limit(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    char *ok = json_of(INGEST_MAX_FIXES), *over = json_of(INGEST_MAX_FIXES + 1);
    assert_int_equal(json(a, ok, &m, msg), ERR_OK);
    assert_int_equal(m.n, INGEST_MAX_FIXES);
    assert_int_equal(json(a, over, &m, msg), ERR_TOO_LARGE);
    assert_non_null(strstr(msg, "10001"));
    free(ok);
    free(over);
}

/* ---- protobuf ---- */

/* Packs n fixes (and crs) with the generated code; new buffer, *len set. */
static uint8_t *pack(size_t n, const char *crs, size_t *len)
{
    Patrolgis__PositionBatch b = PATROLGIS__POSITION_BATCH__INIT;
    Patrolgis__Fix *fixes = calloc(n, sizeof(*fixes));
    Patrolgis__Fix **ptrs = calloc(n, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        Patrolgis__Fix f = PATROLGIS__FIX__INIT;
        f.time_ms = 1795820700000 + (int64_t)i * 1000;
        f.lat = 27.9 + (double)i * 1e-5;
        f.lon = 112.9;
        if (i == 0) {
            f.has_speed_kmh = f.has_heading = f.has_accuracy_m = f.has_valid = 1;
            f.speed_kmh = 40;
            f.heading = 180;
            f.accuracy_m = 6;
            f.valid = 0;
        }
        fixes[i] = f;
        ptrs[i] = &fixes[i];
    }
    b.n_fixes = n;
    b.fixes = ptrs;
    b.crs = (char *)crs;
    *len = patrolgis__position_batch__get_packed_size(&b);
    uint8_t *buf = malloc(*len ? *len : 1);
    patrolgis__position_batch__pack(&b, buf);
    free(fixes);
    free(ptrs);
    return buf;
}

static void test_protobuf(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    size_t len;
    uint8_t *buf = pack(3, "gcj02", &len);
    assert_int_equal(batch_parse_protobuf(a, buf, len, INGEST_MAX_FIXES, &m, msg, sizeof(msg)),
                     ERR_OK);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.crs, CRS_GCJ02);
    assert_true(m.fixes[0].t_ms == INT64_C(1795820700000));
    assert_true(m.fixes[0].speed_kmh == 40 && m.fixes[0].heading == 180);
    assert_true(m.fixes[0].accuracy_m == 6);
    assert_int_equal(m.fixes[0].valid, 0);
    assert_true(isnan(m.fixes[1].speed_kmh));
    assert_int_equal(m.fixes[1].valid, -1);
    assert_true(m.fixes[2].lat == 27.9 + 2e-5);

    /* every truncation of a valid message is refused or decodes to fewer fixes, never a crash */
    for (size_t cut = 0; cut < len; cut++) {
        enum err e = batch_parse_protobuf(a, buf, cut, INGEST_MAX_FIXES, &m, msg, sizeof(msg));
        assert_true(e == ERR_OK || e == ERR_INVALID_ARGUMENT);
    }
    free(buf);

    buf = pack(1, "EPSG:3857", &len);
    assert_int_equal(batch_parse_protobuf(a, buf, len, INGEST_MAX_FIXES, &m, msg, sizeof(msg)),
                     ERR_INVALID_ARGUMENT);
    free(buf);

    /* A Fix without lat and lon (required fields): field 1 { time_ms = 1 } */
    static const uint8_t missing[] = { 0x0a, 0x02, 0x08, 0x01 };
    assert_int_equal(
        batch_parse_protobuf(a, missing, sizeof(missing), INGEST_MAX_FIXES, &m, msg, sizeof(msg)),
        ERR_INVALID_ARGUMENT);
    /* No fixes at all */
    assert_int_equal(batch_parse_protobuf(a, (const uint8_t *)"", 0, 10, &m, msg, sizeof(msg)),
                     ERR_INVALID_ARGUMENT);
    /* Garbage bytes */
    static const uint8_t garbage[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01garbage";
    assert_int_equal(
        batch_parse_protobuf(a, garbage, sizeof(garbage) - 1, 10, &m, msg, sizeof(msg)),
        ERR_INVALID_ARGUMENT);
    assert_int_equal(m.n, 0);
    /* A length prefix far past the end */
    static const uint8_t huge[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00 };
    assert_int_equal(batch_parse_protobuf(a, huge, sizeof(huge), 10, &m, msg, sizeof(msg)),
                     ERR_INVALID_ARGUMENT);
    /* Random bytes: refused or decoded, never a crash (the replayed fuzz corpus does more) */
    uint64_t x = 42;
    uint8_t rnd[256];
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof(rnd); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            rnd[i] = (uint8_t)x;
        }
        size_t n = 1 + (size_t)(x % sizeof(rnd));
        enum err e = batch_parse_protobuf(a, rnd, n, 10, &m, msg, sizeof(msg));
        assert_true(e == ERR_OK || e == ERR_INVALID_ARGUMENT || e == ERR_TOO_LARGE);
    }
}

static void test_protobuf_limit(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    size_t len;
    uint8_t *ok = pack(INGEST_MAX_FIXES, NULL, &len);
    assert_int_equal(batch_parse_protobuf(a, ok, len, INGEST_MAX_FIXES, &m, msg, sizeof(msg)),
                     ERR_OK);
    assert_int_equal(m.n, INGEST_MAX_FIXES);
    free(ok);
    uint8_t *over = pack(INGEST_MAX_FIXES + 1, NULL, &len);
    assert_int_equal(batch_parse_protobuf(a, over, len, INGEST_MAX_FIXES, &m, msg, sizeof(msg)),
                     ERR_TOO_LARGE);
    free(over);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crs_names),
        cmocka_unit_test_setup_teardown(test_json_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protobuf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protobuf_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

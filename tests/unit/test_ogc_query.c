/*
 * test_ogc_query.c - the OGC API items query parsers (ogc_query.h) on the real layer catalog:
 * the exact WHERE text and bound values of filters, bbox (CRS84, latitude-first URI, Web
 * Mercator), datetime instants and intervals, the page rule, and the refusals with their
 * messages. fuzz_ogc_query covers the same functions with random input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arena.h"
#include "geoctx.h"
#include "layerdef.h"
#include "ogc_query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known[] = { "limit", "bbox", "datetime", NULL };

struct fixture {
    struct arena *a;
    struct ogc_query q;
    char msg[200];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL || (f->a = arena_new()) == NULL)
        return -1;
    ogc_query_init(&f->q, f->a, layerdef_find("schools"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    arena_free(f->a);
    free(f);
    return 0;
}

static void test_filters(void **state)
{
    struct fixture *f = *state;
    struct ogc_query *q = &f->q;
    assert_int_equal(ogc_query_filter(q, known, "limit", "5", f->msg, sizeof(f->msg)), ERR_OK);
    assert_string_equal(q->where, "");
    assert_int_equal(ogc_query_filter(q, known, "kind", "x' OR 1=1", f->msg, sizeof(f->msg)),
                     ERR_OK);
    assert_int_equal(ogc_query_filter(q, known, "boarding", "true", f->msg, sizeof(f->msg)),
                     ERR_OK);
    assert_string_equal(q->where, " WHERE t.kind = $1::text AND t.boarding = $2::boolean");
    assert_int_equal(q->n, 2);
    assert_string_equal(q->params[0], "x' OR 1=1");
    assert_string_equal(q->params[1], "true");

    static const struct {
        const char *name, *value, *msg;
    } bad[] = {
        { "colour", "red",
          "unknown query parameter 'colour' (filters on schools: see the collection's "
          "properties)" },
        { "id", "3",
          "unknown query parameter 'id' (filters on schools: see the collection's properties)" },
        { "kind", NULL, "filter 'kind' needs a value" },
        { "boarding", "yes", "filter 'boarding' must be true or false" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            ogc_query_filter(q, known, bad[i].name, bad[i].value, f->msg, sizeof(f->msg)),
            ERR_INVALID_ARGUMENT);
        assert_string_equal(f->msg, bad[i].msg);
    }
    assert_int_equal(q->n, 2);
}

static void test_integer_filter(void **state)
{
    struct fixture *f = *state;
    ogc_query_init(&f->q, f->a, layerdef_find("patrol_points"));
    assert_int_equal(ogc_query_filter(&f->q, known, "school_id", "12", f->msg, sizeof(f->msg)),
                     ERR_OK);
    assert_string_equal(f->q.where, " WHERE t.school_id = $1::bigint");
    static const char *const bad[] = { "abc", "", "1x", "99999999999999999999" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            ogc_query_filter(&f->q, known, "school_id", bad[i], f->msg, sizeof(f->msg)),
            ERR_INVALID_ARGUMENT);
        assert_string_equal(f->msg, "filter 'school_id' must be an integer");
    }
}

static void test_too_many_params(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < OGC_QUERY_MAX_PARAMS; i++)
        assert_int_equal(ogc_query_filter(&f->q, known, "kind", "k", f->msg, sizeof(f->msg)),
                         ERR_OK);
    assert_int_equal(ogc_query_filter(&f->q, known, "kind", "k", f->msg, sizeof(f->msg)),
                     ERR_INVALID_ARGUMENT);
    assert_string_equal(f->msg, "too many query parameters");
    assert_int_equal(f->q.n, OGC_QUERY_MAX_PARAMS);
}

static void test_bbox(void **state)
{
    struct fixture *f = *state;
    struct ogc_query *q = &f->q;
    assert_int_equal(ogc_query_bbox(q, NULL, "nonsense", f->msg, sizeof(f->msg)), ERR_OK);
    assert_int_equal(q->n, 0);
    assert_int_equal(
        ogc_query_bbox(q, "112.86,28.07,0,112.94,28.12,100", NULL, f->msg, sizeof(f->msg)), ERR_OK);
    assert_string_equal(q->where,
                        " WHERE t.perimeter && ST_MakeEnvelope($1::float8, $2::float8, "
                        "$3::float8, $4::float8, 4326) AND ST_Intersects(t.perimeter, "
                        "ST_MakeEnvelope($1::float8, $2::float8, $3::float8, $4::float8, 4326))");
    assert_string_equal(q->params[0], "112.8600000000");
    assert_string_equal(q->params[1], "28.0700000000");
    assert_string_equal(q->params[2], "112.9400000000");
    assert_string_equal(q->params[3], "28.1200000000");

    /* Latitude first for an EPSG URI (Part 2). */
    ogc_query_init(q, f->a, q->l);
    assert_int_equal(ogc_query_bbox(q, "28.07,112.86,28.12,112.94",
                                    "http://www.opengis.net/def/crs/EPSG/0/4326", f->msg,
                                    sizeof(f->msg)),
                     ERR_OK);
    assert_string_equal(q->params[0], "112.8600000000");
    assert_string_equal(q->params[1], "28.0700000000");

    /* Web Mercator metres come back as degrees. */
    ogc_query_init(q, f->a, q->l);
    assert_int_equal(ogc_query_bbox(q, "0,0,111319.49079327357,111325.14286638486", "EPSG:3857",
                                    f->msg, sizeof(f->msg)),
                     ERR_OK);
    assert_true(fabs(strtod(q->params[2], NULL) - 1.0) < 1e-9);
    assert_true(fabs(strtod(q->params[3], NULL) - 1.0) < 1e-6);
}

static void test_bbox_refused(void **state)
{
    struct fixture *f = *state;
    static const char *const shape[] = {
        "1,2,3", "1,2,3,4,5", "a,b,c,d",  "1,2,3,4 ", "inf,1,2,3",
        "",      "1,,2,3",    "1,2,3,4,", " 1,2,3,4", "0x1p0,2,3,4"
    };
    for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
        assert_int_equal(ogc_query_bbox(&f->q, shape[i], NULL, f->msg, sizeof(f->msg)),
                         ERR_INVALID_ARGUMENT);
        assert_string_equal(f->msg,
                            "bbox must be 4 (or 6) comma-separated numbers: minx,miny,maxx,maxy");
    }
    assert_int_equal(
        ogc_query_bbox(&f->q, "112.94,28.07,112.86,28.12", NULL, f->msg, sizeof(f->msg)),
        ERR_INVALID_ARGUMENT);
    assert_string_equal(f->msg, "bbox 112.94,28.07,112.86,28.12 is not a valid box in its CRS");
    /* The numbers are judged before the CRS. */
    assert_int_equal(ogc_query_bbox(&f->q, "1,2,3,4", "EPSG:9999", f->msg, sizeof(f->msg)),
                     ERR_INVALID_ARGUMENT);
    assert_string_equal(
        f->msg, "bbox-crs 'EPSG:9999' is not supported; use CRS84, EPSG:4490, EPSG:3857 or gcj02");
    assert_int_equal(f->q.n, 0);
    assert_string_equal(f->q.where, "");
}

static void test_datetime(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *value, *where;
        int n;
    } ok[] = {
        { "2026-11-01", " WHERE t.updated_at >= $1::date AND t.updated_at < $1::date + 1", 1 },
        { "2026-11-28T08:00:00+08:00", " WHERE t.updated_at = $1::timestamptz", 1 },
        { "2026-11-01/..", " WHERE t.updated_at >= $1::timestamptz", 1 },
        { "/2026-11-30", " WHERE t.updated_at < $1::date + 1", 1 },
        { "2026-11-01T00:00:00Z/2026-11-30T12:00:00.5Z",
          " WHERE t.updated_at >= $1::timestamptz AND t.updated_at <= $2::timestamptz", 2 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ogc_query_init(&f->q, f->a, f->q.l);
        assert_int_equal(ogc_query_datetime(&f->q, ok[i].value, f->msg, sizeof(f->msg)), ERR_OK);
        assert_string_equal(f->q.where, ok[i].where);
        assert_int_equal(f->q.n, ok[i].n);
    }
    assert_string_equal(f->q.params[0], "2026-11-01T00:00:00Z");
    assert_string_equal(f->q.params[1], "2026-11-30T12:00:00.5Z");

    static const char *const bad[] = { "../..",
                                       "/",
                                       "..",
                                       "bad",
                                       "2026-02-30",
                                       "2026-11-01/bad",
                                       "2026-11-01/2026-12-01/2027-01-01",
                                       "2026-11-01T08:00:00+15:00" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[200];
        snprintf(want, sizeof(want),
                 "datetime '%s' is not an RFC 3339 instant or interval (a/b, with .. for open)",
                 bad[i]);
        assert_int_equal(ogc_query_datetime(&f->q, bad[i], f->msg, sizeof(f->msg)),
                         ERR_INVALID_ARGUMENT);
        assert_string_equal(f->msg, want);
    }
}

static void test_page(void **state)
{
    struct fixture *f = *state;
    struct ogc_query *q = &f->q;
    assert_int_equal(ogc_query_page(q, NULL, NULL, f->msg, sizeof(f->msg)), ERR_OK);
    assert_int_equal(q->limit, OGC_LIMIT_DEF);
    assert_int_equal(q->offset, 0);
    assert_int_equal(ogc_query_page(q, "20000", "7", f->msg, sizeof(f->msg)), ERR_OK);
    assert_int_equal(q->limit, OGC_LIMIT_MAX);
    assert_int_equal(q->offset, 7);
    assert_int_equal(ogc_query_page(q, "0", "x", f->msg, sizeof(f->msg)), ERR_INVALID_ARGUMENT);
    assert_string_equal(f->msg, "limit must be an integer of at least 1");
    assert_int_equal(ogc_query_page(q, "5", "-1", f->msg, sizeof(f->msg)), ERR_INVALID_ARGUMENT);
    assert_string_equal(f->msg, "offset must be an integer of at least 0");
}

static void test_crs(void **state)
{
    struct fixture *f = *state;
    struct ogc_crs oc;
    assert_int_equal(ogc_query_crs(f->a, "crs", NULL, &oc, f->msg, sizeof(f->msg)), ERR_OK);
    assert_int_equal(oc.crs, CRS_WGS84);
    assert_false(oc.swap);
    const char *uri = "http://www.opengis.net/def/crs/EPSG/0/4326";
    assert_int_equal(ogc_query_crs(f->a, "crs", uri, &oc, f->msg, sizeof(f->msg)), ERR_OK);
    assert_true(oc.swap);
    assert_string_equal(oc.uri, uri);
    assert_int_equal(ogc_query_crs(f->a, "crs", "nope", &oc, f->msg, sizeof(f->msg)),
                     ERR_INVALID_ARGUMENT);
    assert_string_equal(f->msg,
                        "crs 'nope' is not supported; use CRS84, EPSG:4490, EPSG:3857 or gcj02");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_many_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bbox_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_datetime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crs, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    geoctx_release();
    return rc;
}

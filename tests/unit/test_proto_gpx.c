/*
 * test_proto_gpx.c - GPX decoding: 1.1 with a default namespace, 1.0 with speed/course/fix,
 * prefixed names, waypoints and routes skipped, track points without time, and the refusals:
 * broken XML (with line and column), DTDs and entities (billion laughs, external entities),
 * another root, bad coordinates, numbers and times, no track points, too many.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arena.h"
#include "proto_gpx.h"

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

static enum err gpx(struct arena *a, const char *doc, size_t max, struct ingest_msg *m, char *msg)
{
    return gpx_parse(a, doc, strlen(doc), max, m, msg, 256);
}

static void test_gpx11(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<gpx version=\"1.1\" creator=\"logger\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n"
        "  <metadata><name>巡逻</name><time>2026-11-28T00:00:00Z</time></metadata>\n"
        "  <wpt lat=\"1\" lon=\"1\"><time>2026-11-28T00:00:00Z</time></wpt>\n"
        "  <rte><rtept lat=\"2\" lon=\"2\"/></rte>\n"
        "  <trk><name>t</name><trkseg>\n"
        "    <trkpt lat=\"27.9\" lon=\"112.9\"><ele> 61.5 </ele>\n"
        "      <time>2026-11-27T23:05:00Z</time><hdop>1.4</hdop>\n"
        "      <extensions><speed>99</speed></extensions></trkpt>\n"
        "    <trkpt lat=\"27.9001\" "
        "lon=\"112.9001\"><time>2026-11-27T23:05:01.500Z</time></trkpt>\n"
        "  </trkseg><trkseg>\n"
        "    <trkpt lat=\"-27.9\" lon=\"-112.9\"/>\n"
        "  </trkseg></trk>\n"
        "</gpx>\n";
    assert_int_equal(gpx(a, doc, 100, &m, msg), ERR_OK);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.crs, CRS_WGS84);
    assert_true(m.fixes[0].lat == 27.9 && m.fixes[0].lon == 112.9);
    assert_true(m.fixes[0].altitude_m == 61.5);
    assert_true(m.fixes[0].hdop == 1.4);
    assert_true(isnan(m.fixes[0].speed_kmh)); /* the extension's speed is not GPX 1.0's */
    assert_true(m.fixes[0].t_ms == INT64_C(1795820700000));
    assert_true(m.fixes[1].t_ms == INT64_C(1795820701500));
    assert_true(m.fixes[2].t_ms == INGEST_NO_TIME);
    assert_true(m.fixes[2].lat == -27.9);
}

static void test_gpx10_and_prefixes(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    const char *doc10 =
        "<gpx version=\"1.0\"><trk><trkseg>"
        "<trkpt lat=\"48.1\" lon=\"11.5\"><time>2014-09-10T04:54:07</time>"
        "<course>271</course><speed>10</speed><fix>none</fix></trkpt>"
        "<trkpt lat=\"48.2\" lon=\"11.5\"><time>2014-09-10T04:54:08Z</time><fix>3d</fix></trkpt>"
        "</trkseg></trk></gpx>";
    assert_int_equal(gpx(a, doc10, 100, &m, msg), ERR_OK);
    assert_int_equal(m.n, 2);
    assert_true(m.fixes[0].t_ms == INT64_C(1410324847000)); /* no zone: UTC */
    assert_true(m.fixes[0].heading == 271);
    assert_true(fabs(m.fixes[0].speed_kmh - 36) < 1e-9);
    assert_int_equal(m.fixes[0].valid, 0);
    assert_int_equal(m.fixes[1].valid, 1);

    const char *prefixed =
        "<g:gpx xmlns:g=\"http://www.topografix.com/GPX/1/1\"><g:trk><g:trkseg>"
        "<g:trkpt g:lat=\"1.5\" g:lon=\"2.5\"><g:time>2026-11-27T23:05:00+00:00</g:time>"
        "</g:trkpt></g:trkseg></g:trk></g:gpx>";
    assert_int_equal(gpx(a, prefixed, 100, &m, msg), ERR_OK);
    assert_int_equal(m.n, 1);
    assert_true(m.fixes[0].lon == 2.5);
    /* A trkpt outside trk/trkseg is not a track point */
    const char *stray = "<gpx><trkpt lat=\"1\" lon=\"2\"/><trk><trkseg>"
                        "<trkpt lat=\"3\" lon=\"4\"/></trkseg></trk></gpx>";
    assert_int_equal(gpx(a, stray, 100, &m, msg), ERR_OK);
    assert_int_equal(m.n, 1);
    assert_true(m.fixes[0].lat == 3);
}

static void test_gpx_refused(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    static const struct {
        const char *doc;
        const char *needle; /* in the message */
    } bad[] = {
        { "<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"2\"></trkseg></trk></gpx>", "line 1" },
        { "<gpx>\n<trk>\n<trkseg>\n<trkpt lat=\"1\" lon=\"2\">\n</gpx>", "line 5" },
        { "", "malformed XML" },
        { "not xml at all", "malformed XML" },
        { "<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"2\"/></trkseg></trk></gpx><gpx/>", "line" },
        { "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
          " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n]>\n"
          "<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"2\"><time>&lol2;</time></trkpt></trkseg>"
          "</trk></gpx>",
          "DTD" },
        { "<!DOCTYPE gpx SYSTEM \"file:///etc/passwd\"><gpx/>", "DTD" },
        { "<kml><trk><trkseg><trkpt lat=\"1\" lon=\"2\"/></trkseg></trk></kml>", "<gpx>" },
        { "<gpx><trk><trkseg><trkpt lon=\"2\"/></trkseg></trk></gpx>", "lat and lon" },
        { "<gpx><trk><trkseg><trkpt lat=\"x\" lon=\"2\"/></trkseg></trk></gpx>", "lat and lon" },
        { "<gpx><trk><trkseg><trkpt lat=\"nan\" lon=\"2\"/></trkseg></trk></gpx>", "lat and lon" },
        { "<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"2\"><ele>high</ele></trkpt></trkseg></trk>"
          "</gpx>",
          "<ele>" },
        { "<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"2\"><time>yesterday</time></trkpt></trkseg>"
          "</trk></gpx>",
          "<time>" },
        { "<gpx><wpt lat=\"1\" lon=\"2\"/></gpx>", "no track points" },
        { "<gpx><trk><trkseg><trkpt lat=\"1\" lon=\"2\"><time>2026-11-27T23:05:00Z"
          "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
          "</time></trkpt></trkseg></trk></gpx>",
          "<time>" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg[0] = '\0';
        enum err e = gpx(a, bad[i].doc, 100, &m, msg);
        if (e != ERR_INVALID_ARGUMENT || strstr(msg, bad[i].needle) == NULL)
            fail_msg("document %zu: error %d, message '%s' (expected 400 with '%s')", i, e, msg,
                     bad[i].needle);
        assert_int_equal(m.n, 0);
    }
}

static void test_gpx_limit(void **state)
{
    struct arena *a = *state;
    struct ingest_msg m;
    char msg[256];
    size_t cap = 64 * 1024;
    char *doc = malloc(cap);
    size_t len = (size_t)snprintf(doc, cap, "<gpx><trk><trkseg>");
    for (int i = 0; i < 11; i++)
        len += (size_t)snprintf(doc + len, cap - len, "<trkpt lat=\"%d\" lon=\"1\"/>", i);
    snprintf(doc + len, cap - len, "</trkseg></trk></gpx>");
    assert_int_equal(gpx(a, doc, 11, &m, msg), ERR_OK);
    assert_int_equal(m.n, 11);
    assert_int_equal(gpx(a, doc, 10, &m, msg), ERR_TOO_LARGE);
    assert_int_equal(m.n, 0);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gpx11, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx10_and_prefixes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gpx_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#!/usr/bin/env python3
"""test_features.py - integration tests of the OGC API - Features of patrold (issue 3) against a
real server and a real PostGIS, with the demo town 青石镇 loaded (geodata/load-demo after
`patrold migrate`) and, for GDAL, the Liechtenstein OSM extract (geodata/import-osm).

Every answer is checked against SQL computed here, never against the server's own idea:
  * reads: landing page, /conformance, /collections (every layer of server/ogcapi/layerdef.c, extent =
    ST_Extent), /collections/{id}, items with limit/offset/next links (paged through and compared
    with the table's ids), numberMatched/numberReturned, bbox (ST_Intersects with
    ST_MakeEnvelope), datetime instants and intervals, property filters, crs=EPSG:3857
    (ST_Transform, 1 cm), the EPSG:4326 URI (latitude first), gcj02 (the public formula,
    re-implemented here; 100-700 m from WGS84 in China), ETag / If-None-Match, roles;
  * writes (editor): POST of a Feature and of a FeatureCollection (one transaction), PUT
    (defaults come back), PATCH (merge), DELETE, If-Match, patrol points with nested windows,
    input in EPSG:3857 / gcj02 / lat-lon (query crs= and Content-Crs), the audit_log rows
    of every write and of a viewer's denied write, and the layer generation of /metrics after
    an API write and after an INSERT typed through psql;
  * bad input: each refused with a clear 4xx JSON error and nothing written (table contents
    and audit_log's non-deny rows unchanged);
  * GDAL's OAPIF driver (ogrinfo / Debian gdal-bin): lists every collection and reads every
    feature of every layer, same ids as the database, on the demo town and on Liechtenstein.
    GDAL 3.6 sends the bearer token with the GDAL_HTTP_HEADERS configuration option (given
    in the environment); without it the server answers 401 and GDAL fails, which is checked
    too. The summary (layers and feature counts) is printed to stderr.

Environment: PATROLD, PATROLGIS_PGDIR, PATROLGIS_SRC as in harness.py; PATROLGIS_SHARED (default
<repo>/../shared) holds data/osm/liechtenstein-2021-10-28.osm.pbf (the Liechtenstein tests are
skipped with a message when it, osm2pgsql or ogrinfo is missing; under CI=true they fail
instead: harness.require).

Run: PATROLD=build/server/patrold python3 tests/integration/test_features.py [-k PATTERN]
"""
import contextlib
import json
import math
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PatrolTestCase, clean_env, metric, raw_request, read_response, run  # noqa: E402

SRC = os.path.abspath(os.environ.get("PATROLGIS_SRC")
                      or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.path.abspath(os.environ.get("PATROLGIS_SHARED")
                         or os.path.join(os.path.dirname(SRC), "shared"))
LIECHTENSTEIN = os.path.join(SHARED, "data", "osm", "liechtenstein-2021-10-28.osm.pbf")
LOAD_DEMO = os.path.join(SRC, "geodata", "load-demo")
IMPORT_OSM = os.path.join(SRC, "geodata", "import-osm")

# The layer catalog of server/ogcapi/layerdef.c: collection id -> geometry column.
LAYERS = {
    "schools": "perimeter",
    "patrol_points": "location",
    "waters": "geom",
    "road_segments": "geom",
    "venues": "location",
    "stations": "location",
    "inspections": "location",
    "roads": "geom",
}
WRITABLE = [name for name in LAYERS if name != "roads"]

CONF = "http://www.opengis.net/spec/ogcapi-features-%s/1.0/conf/%s"
CONFORMANCE = [CONF % ("1", "core"), CONF % ("1", "geojson"), CONF % ("2", "crs"),
               CONF % ("4", "create-replace-delete"), CONF % ("4", "update")]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG4326_URI = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG3857_URI = "http://www.opengis.net/def/crs/EPSG/0/3857"

# Characters allowed in a URI (RFC 3986): a link with anything else was not percent-encoded.
URI_CHARS = re.compile(r"\A[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*\Z")


# ---------------------------------------------------------------------------------------------
# Geodesy helpers, independent of the server
# ---------------------------------------------------------------------------------------------

def gcj02_forward(lon, lat):
    """WGS84 -> GCJ-02 by the public formula (Krasovsky ellipsoid); identity outside China."""
    if not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lon, lat
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
            + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
            + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3)
    radlat = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (a / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def metres(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres (haversine; plenty for tolerances and offsets)."""
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def feature(geometry, **props):
    return {"type": "Feature", "geometry": geometry, "properties": props}


def point(lon, lat):
    return {"type": "Point", "coordinates": [lon, lat]}


def square(lon, lat, d=0.001):
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d],
                                                [lon, lat + d], [lon, lat]]]}


def circle_ring(n, lon=112.9, lat=28.1, r=0.001):
    """A closed ring of exactly n positions (n - 1 distinct)."""
    pts = [[round(lon + r * math.cos(2 * math.pi * i / (n - 1)), 9),
            round(lat + r * math.sin(2 * math.pi * i / (n - 1)), 9)] for i in range(n - 1)]
    return pts + [pts[0]]


def q(value):
    """Percent-encodes a query value (":" and "/" kept, "+" encoded)."""
    return urllib.parse.quote(value, safe=":/,.")


# ---------------------------------------------------------------------------------------------
# Base case: migrate, demo town, users, server
# ---------------------------------------------------------------------------------------------

class FeaturesCase(PatrolTestCase):
    DB_PREFIX = "feat"
    AUTO_SERVER = False
    WITH_DEMO = True

    def setUp(self):
        super().setUp()
        self.patrold("migrate")
        if self.WITH_DEMO:
            self.load_demo()
        self.add_user("ed", "editor", display_name="编辑")
        self.editor = self.issue_token(user="ed", label="it-editor")
        self.add_user("vi", "viewer", display_name="领导")
        self.viewer = self.issue_token(user="vi", label="it-viewer")
        self.server = self.start_server()

    def load_demo(self):
        cp = run([LOAD_DEMO, self.url()], env=clean_env({"PGCLIENTENCODING": "UTF8"}),
                 timeout=120)
        if cp.returncode != 0:
            self.fail("geodata/load-demo failed (%d):\n%s%s" % (cp.returncode, cp.stdout,
                                                                 cp.stderr))
        counts = dict(line.split("\t") for line in cp.stdout.strip().splitlines())
        self.assertGreater(int(counts.get("schools", 0)), 0, cp.stdout)
        return counts

    # -- HTTP ---------------------------------------------------------------------------------

    def get(self, path, token=None, headers=None):
        return self.request("GET", path, token=self.viewer if token is None else token,
                            headers=headers)

    def getj(self, path, status=200, token=None, headers=None):
        r = self.get(path, token=token, headers=headers)
        self.assertEqual(r.status, status, r)
        return r.json

    def write(self, method, path, body=None, token=None, headers=None,
              content_type="application/geo+json"):
        hdrs = {}
        if body is not None and content_type is not None:
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return self.request(method, path, body=body, headers=hdrs,
                            token=self.editor if token is None else token)

    def create(self, layer, feat, **kw):
        r = self.write("POST", "/collections/%s/items" % layer, feat, **kw)
        self.assertEqual(r.status, 201, r)
        return r.json["id"], r

    def local_path(self, href):
        """The path and query of an absolute link of this server."""
        self.assertTrue(URI_CHARS.match(href), "link %r is not a valid URI (query values must be "
                        "percent-encoded)" % href)
        u = urllib.parse.urlsplit(href)
        self.assertEqual((u.scheme, u.netloc), ("http", "127.0.0.1:%d" % self.server.port), href)
        return u.path + ("?" + u.query if u.query else "")

    def links(self, doc, rel):
        return [lk["href"] for lk in doc.get("links", []) if lk.get("rel") == rel]

    def all_items(self, layer, query="limit=100"):
        """Follows the next links from the first page; returns (features, pages). Checks
        numberMatched (same on every page) and numberReturned on the way."""
        path = "/collections/%s/items?%s" % (layer, query)
        feats, pages, matched = [], 0, None
        while path is not None:
            doc = self.getj(path)
            pages += 1
            self.assertEqual(doc.get("type"), "FeatureCollection", path)
            self.assertEqual(doc["numberReturned"], len(doc["features"]), path)
            if matched is None:
                matched = doc["numberMatched"]
            self.assertEqual(doc["numberMatched"], matched, "numberMatched changed at " + path)
            feats.extend(doc["features"])
            nxt = self.links(doc, "next")
            self.assertLessEqual(len(nxt), 1, doc["links"])
            path = self.local_path(nxt[0]) if nxt else None
            self.assertLess(pages, 10000, "next links never end")
        self.assertEqual(len(feats), matched, "paging returned %d features, numberMatched %d"
                         % (len(feats), matched))
        return feats, pages

    # -- SQL ----------------------------------------------------------------------------------

    def ids(self, table, where="true", **variables):
        return [int(r[0]) for r in self.psql(
            "SELECT id FROM %s WHERE %s ORDER BY id" % (table, where), **variables)]

    def row(self, table, fid):
        """The row as a dict (to_jsonb, geometry as GeoJSON)."""
        return json.loads(self.scalar(
            "SELECT to_jsonb(t) - '%s' || jsonb_build_object('geometry', "
            "ST_AsGeoJSON(t.%s, 9)::jsonb) FROM %s t WHERE id = %d"
            % (LAYERS.get(table, "geom"), LAYERS.get(table, "geom"), table, fid)))

    def lonlat(self, table, fid):
        col = LAYERS[table]
        r = self.psql("SELECT ST_X(%s), ST_Y(%s) FROM %s WHERE id = %d" % (col, col, table, fid))
        return float(r[0][0]), float(r[0][1])

    def snapshot(self, *tables):
        """Content hash and count of each table, and the count of audit_log's non-deny rows."""
        out = {}
        for t in tables:
            r = self.psql("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY id), "
                          "'')) FROM %s t" % t)
            out[t] = tuple(r[0])
        out["audit_log (non-deny)"] = self.count("audit_log", "action <> 'deny'")
        return out

    @contextlib.contextmanager
    def nothing_written(self, *tables, what=""):
        before = self.snapshot(*tables)
        yield
        self.assertEqual(self.snapshot(*tables), before,
                         "%s: a refused request changed the database" % what)

    def audit(self, request_id):
        return [dict(zip(("actor", "action", "target", "target_id", "before", "after"),
                         (a, b, c, int(d) if d is not None else None,
                          json.loads(e) if e else None, json.loads(f) if f else None)))
                for a, b, c, d, e, f in self.psql(
                    "SELECT actor, action, target, target_id, before::text, after::text "
                    "FROM audit_log WHERE request_id = :'rid' ORDER BY id", rid=request_id)]

    # -- metrics ------------------------------------------------------------------------------

    def generation(self, layer):
        return metric(self.server.metrics(), "patrold_layer_generation", layer=layer)

    def wait_generation_above(self, layer, value, timeout=2.0):
        deadline = time.monotonic() + timeout
        while True:
            g = self.generation(layer)
            if g > value or time.monotonic() > deadline:
                return g
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------------

class TestReads(FeaturesCase):
    def test_landing_page(self):
        doc = self.getj("/")
        self.assertIsInstance(doc.get("title"), str, doc)
        rels = {lk.get("rel"): lk for lk in doc.get("links", [])}
        for rel in ("self", "service-desc", "conformance", "data"):
            self.assertIn(rel, rels, "landing page lacks a %r link: %r" % (rel, doc))
        self.assertEqual(self.local_path(rels["data"]["href"]), "/collections")
        self.assertEqual(self.local_path(rels["conformance"]["href"]), "/conformance")

    def test_conformance(self):
        doc = self.getj("/conformance")
        for c in CONFORMANCE:
            self.assertIn(c, doc.get("conformsTo", []), doc)

    def test_collections_list_every_layer_with_its_extent(self):
        doc = self.getj("/collections")
        got = {c["id"]: c for c in doc.get("collections", [])}
        self.assertEqual(set(got), set(LAYERS), "collections must be the layers of layerdef.c")
        for layer, col in LAYERS.items():
            with self.subTest(layer=layer):
                c = got[layer]
                self.assertEqual(c.get("itemType"), "feature", c)
                self.assertIn(CRS84, c.get("crs", []), c)
                self.assertIn(EPSG3857_URI, c.get("crs", []), c)
                self.assertEqual(c.get("storageCrs"), CRS84, c)
                self.assertTrue(self.links(c, "items"), c)
                self.assertEqual(self.local_path(self.links(c, "items")[0]),
                                 "/collections/%s/items" % layer)
                ext = self.psql("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                                "(SELECT ST_Extent(%s) e FROM %s) x" % (col, layer))[0]
                if ext[0] is None:
                    self.assertNotIn("extent", c, "an empty layer has no extent: %r" % c)
                    continue
                bbox = c["extent"]["spatial"]["bbox"][0]
                for a, b in zip(bbox, map(float, ext)):
                    self.assertAlmostEqual(a, b, delta=1e-9, msg="extent %r vs ST_Extent %r"
                                           % (bbox, ext))
                # /collections/{id} says the same.
                one = self.getj("/collections/" + layer)
                self.assertEqual(one["id"], layer)
                self.assertEqual(one["extent"]["spatial"]["bbox"][0], bbox)
        self.assertEqual(self.get("/collections/no_such_layer").status, 404)

    def test_paging_through_every_layer_matches_sql(self):
        for layer in LAYERS:
            with self.subTest(layer=layer):
                want = self.ids(layer)
                feats, pages = self.all_items(layer, "limit=7")
                self.assertEqual([f["id"] for f in feats], want)
                self.assertEqual(pages, max(1, math.ceil(len(want) / 7)))
        # offset and prev links, and the numbers on one page.
        n = self.count("roads")
        doc = self.getj("/collections/roads/items?limit=10&offset=20")
        self.assertEqual([f["id"] for f in doc["features"]], self.ids("roads")[20:30])
        self.assertEqual((doc["numberMatched"], doc["numberReturned"]), (n, 10))
        self.assertTrue(self.links(doc, "prev"), doc["links"])
        self.assertTrue(self.links(doc, "self"), doc["links"])
        # Past the end: an empty page without a next link.
        doc = self.getj("/collections/roads/items?offset=%d" % (n + 5))
        self.assertEqual((doc["features"], doc["numberReturned"], doc["numberMatched"]),
                         ([], 0, n))
        self.assertFalse(self.links(doc, "next"), doc["links"])

    def test_default_limit_and_clamp_to_10000(self):
        self.psql("INSERT INTO venues (name, kind, location) SELECT '网吧' || i, 'internet_cafe',"
                  " ST_SetSRID(ST_MakePoint(112.85 + i * 1e-5, 28.05), 4326)"
                  " FROM generate_series(1, 10050) i")
        total = self.count("venues")
        doc = self.getj("/collections/venues/items")
        self.assertEqual((doc["numberReturned"], doc["numberMatched"]), (100, total))
        r = self.get("/collections/venues/items?limit=20000")
        self.assertEqual(r.status, 200, r)
        doc = r.json
        self.assertEqual(doc["numberReturned"], 10000, "limit=20000 must be clamped to 10000")
        self.assertEqual(len(doc["features"]), 10000)
        self.assertEqual(doc["numberMatched"], total)
        self.assertEqual([f["id"] for f in doc["features"]], self.ids("venues")[:10000])
        nxt = self.links(doc, "next")
        self.assertTrue(nxt, doc["links"])
        rest = self.getj(self.local_path(nxt[0]))
        self.assertEqual([f["id"] for f in rest["features"]], self.ids("venues")[10000:])

    def test_limit_and_offset_errors(self):
        for query in ("limit=0", "limit=-1", "limit=abc", "limit=", "offset=-1", "offset=x"):
            with self.subTest(query=query):
                self.assert_error(self.get("/collections/schools/items?" + query), 400,
                                  "invalid_argument")

    def test_unknown_query_parameter(self):
        for query in ("foo=1", "limit=5&colour=red", "address=x", "name"):
            with self.subTest(query=query):
                err = self.assert_error(self.get("/collections/schools/items?" + query), 400,
                                        "invalid_argument")
                self.assertIn(query.split("&")[-1].split("=")[0], err["message"])
        # A message cut at its byte limit inside a character, or echoing bytes that are not
        # UTF-8, keeps its status and reason (it once became "internal: out of memory").
        for query in (urllib.parse.quote("中" * 80) + "=1", "%FF%FEx=1",
                      "datetime=" + urllib.parse.quote("中" * 80)):
            with self.subTest(query=query[:30]):
                err = self.assert_error(self.get("/collections/schools/items?" + query), 400,
                                        "invalid_argument")
                self.assertNotIn("out of memory", err["message"])

    def test_property_filters(self):
        doc = self.getj("/collections/schools/items?kind=kindergarten")
        want = self.ids("schools", "kind = 'kindergarten'")
        self.assertTrue(want, "the demo town has kindergartens")
        self.assertEqual([f["id"] for f in doc["features"]], want)
        self.assertEqual(doc["numberMatched"], len(want))
        self.assertTrue(all(f["properties"]["kind"] == "kindergarten" for f in doc["features"]))
        sid = self.ids("schools", "id IN (SELECT school_id FROM patrol_points)")[0]
        doc = self.getj("/collections/patrol_points/items?school_id=%d" % sid)
        self.assertEqual([f["id"] for f in doc["features"]],
                         self.ids("patrol_points", "school_id = %d" % sid))
        self.assertEqual(doc["numberMatched"], self.count("patrol_points", "school_id = %d" % sid))
        doc = self.getj("/collections/schools/items?boarding=false&kind=primary")
        self.assertEqual([f["id"] for f in doc["features"]],
                         self.ids("schools", "NOT boarding AND kind = 'primary'"))
        name = self.scalar("SELECT name FROM schools ORDER BY id LIMIT 1")
        doc = self.getj("/collections/schools/items?name=" + q(name))
        self.assertEqual([f["id"] for f in doc["features"]],
                         self.ids("schools", "name = :'n'", n=name))
        for bad in ("school_id=abc", "boarding=yes"):
            layer = "patrol_points" if bad.startswith("school") else "schools"
            with self.subTest(bad=bad):
                self.assert_error(self.get("/collections/%s/items?%s" % (layer, bad)), 400,
                                  "invalid_argument")

    def test_bbox_matches_st_intersects(self):
        x0, y0, x1, y1 = (float(v) for v in self.psql(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(perimeter) e FROM schools) s")[0])
        # The south-west half of the schools' extent: some in, some out.
        box = (x0 - 0.001, y0 - 0.001, (x0 + x1) / 2, (y0 + y1) / 2)
        for layer, col in LAYERS.items():
            with self.subTest(layer=layer):
                want = self.ids(layer, "ST_Intersects(%s, ST_MakeEnvelope(%r, %r, %r, %r, 4326))"
                                % ((col,) + box))
                feats, _ = self.all_items(layer, "limit=50&bbox=%r,%r,%r,%r" % box)
                self.assertEqual([f["id"] for f in feats], want)
        want = self.ids("schools", "ST_Intersects(perimeter, ST_MakeEnvelope(%r, %r, %r, %r, "
                        "4326))" % box)
        self.assertTrue(0 < len(want) < self.count("schools"), "the box must split the schools")
        # The same box given in Web Mercator with bbox-crs.
        m = self.psql("SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT "
                      "ST_Transform(ST_MakeEnvelope(%r, %r, %r, %r, 4326), 3857) b) x" % box)[0]
        doc = self.getj("/collections/schools/items?bbox=%s,%s,%s,%s&bbox-crs=%s"
                        % (tuple(m) + (q(EPSG3857_URI),)))
        self.assertEqual([f["id"] for f in doc["features"]], want)
        for bad in ("1,2,3", "a,b,c,d", "3,1,2,4", "1,2,3,4,5"):
            with self.subTest(bbox=bad):
                self.assert_error(self.get("/collections/schools/items?bbox=" + bad), 400,
                                  "invalid_argument")

    def test_datetime_intervals(self):
        sid = self.ids("schools")[0]
        stamps = ["2026-01-05T12:00:00+08:00", "2026-02-05T12:00:00+08:00",
                  "2026-02-20T12:00:00+08:00", "2026-03-05T12:00:00+08:00"]
        for i, t in enumerate(stamps):
            self.create("inspections", feature(None, school_id=sid, inspected_at=t,
                                               inspector="检查员%d" % i))
        cases = [
            ("2026-02-05T12:00:00+08:00", "inspected_at = '2026-02-05T12:00:00+08:00'"),
            ("2026-02-05T04:00:00Z", "inspected_at = '2026-02-05T04:00:00Z'"),
            ("2026-02-05", "(inspected_at AT TIME ZONE 'Asia/Shanghai')::date = '2026-02-05'"),
            # dates are the server's local days (Asia/Shanghai), not the cluster's zone
            ("2026-01-10/2026-02-05", "inspected_at >= '2026-01-10T00:00:00+08:00' AND "
             "inspected_at < '2026-02-06T00:00:00+08:00'"),
            ("2026-02-01T00:00:00Z/..", "inspected_at >= '2026-02-01T00:00:00Z'"),
            ("../2026-02-05T12:00:00+08:00", "inspected_at <= '2026-02-05T12:00:00+08:00'"),
            ("/2026-01-31T23:59:59Z", "inspected_at <= '2026-01-31T23:59:59Z'"),
            ("2026-02-05T12:00:00+08:00/2026-02-20T12:00:00+08:00",
             "inspected_at BETWEEN '2026-02-05T12:00:00+08:00' AND '2026-02-20T12:00:00+08:00'"),
        ]
        for dt, where in cases:
            with self.subTest(datetime=dt):
                want = self.ids("inspections", where)
                self.assertTrue(want, "case %s selects nothing: a weak test" % dt)
                doc = self.getj("/collections/inspections/items?datetime=" + q(dt))
                self.assertEqual([f["id"] for f in doc["features"]], want)
                self.assertEqual(doc["numberMatched"], len(want))
        for bad in ("garbage", "../..", "2026-13-01", "2026-02-05T12:00:00", "2026-01-01/x"):
            with self.subTest(bad=bad):
                self.assert_error(self.get("/collections/inspections/items?datetime=" + q(bad)),
                                  400, "invalid_argument")

    def test_datetime_on_updated_at(self):
        """Layers without a time of their own filter on updated_at: only what was edited."""
        t = self.scalar("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        sid = self.ids("schools")[1]
        r = self.write("PATCH", "/collections/schools/items/%d" % sid,
                       {"type": "Feature", "properties": {"address": "青石镇新街1号"}})
        self.assertEqual(r.status, 200, r)
        doc = self.getj("/collections/schools/items?datetime=%s/.." % q(t))
        self.assertEqual([f["id"] for f in doc["features"]], [sid])
        doc = self.getj("/collections/schools/items?datetime=../%s" % q(t))
        self.assertEqual([f["id"] for f in doc["features"]],
                         [i for i in self.ids("schools") if i != sid])

    def test_next_links_keep_filters_intact(self):
        """The next link must repeat the query's filters, percent-encoded: a datetime with
        an offset ("+08:00") and a text value with "&" and Chinese characters."""
        sid = self.ids("schools")[0]
        for i in range(3):
            self.create("inspections", feature(None, school_id=sid,
                                               inspected_at="2026-02-0%dT09:00:00+08:00" % (i + 1),
                                               inspector="张三&李四"))
        self.create("inspections", feature(None, school_id=sid,
                                           inspected_at="2026-02-01T09:00:00+08:00",
                                           inspector="王五"))
        for query, where in (
                ("datetime=" + q("2026-02-02T00:00:00+08:00/.."),
                 "inspected_at >= '2026-02-02T00:00:00+08:00'"),
                ("inspector=" + q("张三&李四"), "inspector = '张三&李四'")):
            with self.subTest(query=query):
                feats, pages = self.all_items("inspections", "limit=1&" + query)
                self.assertEqual([f["id"] for f in feats], self.ids("inspections", where))
                self.assertGreater(pages, 1)

    def test_crs_3857_matches_st_transform(self):
        for layer in ("patrol_points", "venues", "stations"):
            with self.subTest(layer=layer):
                doc = self.getj("/collections/%s/items?crs=%s&limit=1000"
                                % (layer, q("EPSG:3857")))
                want = {int(i): (float(x), float(y)) for i, x, y in self.psql(
                    "SELECT id, ST_X(g), ST_Y(g) FROM (SELECT id, ST_Transform(location, 3857) g "
                    "FROM %s) t" % layer)}
                self.assertEqual({f["id"] for f in doc["features"]}, set(want))
                for f in doc["features"]:
                    x, y = f["geometry"]["coordinates"]
                    wx, wy = want[f["id"]]
                    self.assertLess(math.hypot(x - wx, y - wy), 0.01,
                                    "%s %d: %r vs ST_Transform %r" % (layer, f["id"], (x, y),
                                                                      (wx, wy)))
        # Polygons and lines: every vertex within 1 cm (Hausdorff in metres, same vertex count).
        for layer in ("schools", "waters", "road_segments"):
            with self.subTest(layer=layer):
                r = self.get("/collections/%s/items?crs=%s&limit=1000" % (layer, q(EPSG3857_URI)))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Crs"), "<%s>" % EPSG3857_URI, r)
                doc = [{"id": f["id"], "geometry": f["geometry"]} for f in r.json["features"]]
                rows = self.psql(
                    "WITH j AS (SELECT (e->>'id')::bigint id, ST_SetSRID(ST_GeomFromGeoJSON("
                    "e->'geometry'), 3857) g FROM jsonb_array_elements(:'doc'::jsonb) e) "
                    "SELECT j.id, ST_HausdorffDistance(j.g, ST_Transform(t.%s, 3857)), "
                    "ST_NPoints(j.g), ST_NPoints(t.%s) FROM j JOIN %s t USING (id)"
                    % (LAYERS[layer], LAYERS[layer], layer), doc=json.dumps(doc))
                self.assertEqual(len(rows), self.count(layer))
                for fid, dist, n1, n2 in rows:
                    self.assertLess(float(dist), 0.01, "%s %s: %s m from ST_Transform"
                                    % (layer, fid, dist))
                    self.assertEqual(n1, n2, "%s %s: vertex count" % (layer, fid))

    def test_crs_epsg4326_uri_is_lat_lon(self):
        r = self.get("/collections/patrol_points/items?limit=1000&crs=" + q(EPSG4326_URI))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Crs"), "<%s>" % EPSG4326_URI, r)
        self.assertEqual(len(r.json["features"]), self.count("patrol_points"))
        for f in r.json["features"]:
            lon, lat = self.lonlat_cache[f["id"]]
            self.assertAlmostEqual(f["geometry"]["coordinates"][0], lat, delta=1e-7)
            self.assertAlmostEqual(f["geometry"]["coordinates"][1], lon, delta=1e-7)
        # The default is CRS84, longitude first.
        r = self.get("/collections/patrol_points/items?limit=1")
        self.assertEqual(r.header("Content-Crs"), "<%s>" % CRS84, r)
        f = r.json["features"][0]
        self.assertEqual(tuple(f["geometry"]["coordinates"]),
                         tuple(round(v, 7) for v in self.lonlat("patrol_points", f["id"])))
        # A single item too.
        r = self.get("/collections/patrol_points/items/%d?crs=%s" % (f["id"], q(EPSG4326_URI)))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["geometry"]["coordinates"], f["geometry"]["coordinates"][::-1])

    @property
    def lonlat_cache(self):
        if not hasattr(self, "_ll"):
            self._ll = {int(i): (float(x), float(y)) for i, x, y in self.psql(
                "SELECT id, ST_X(location), ST_Y(location) FROM patrol_points")}
        return self._ll

    def test_crs_gcj02_offsets_by_the_public_formula(self):
        r = self.get("/collections/patrol_points/items?limit=1000&crs=gcj02")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["features"]), self.count("patrol_points"))
        for f in r.json["features"]:
            lon, lat = self.lonlat_cache[f["id"]]
            glon, glat = gcj02_forward(lon, lat)
            x, y = f["geometry"]["coordinates"]
            self.assertLess(metres(x, y, glon, glat), 0.05,
                            "point %d: server %r, formula %r" % (f["id"], (x, y), (glon, glat)))
            off = metres(lon, lat, x, y)
            self.assertTrue(100 <= off <= 700, "GCJ-02 offset %.1f m in China" % off)

    def test_unknown_crs_and_format(self):
        for query in ("crs=EPSG:9999", "crs=foo", "bbox=1,2,3,4&bbox-crs=EPSG:2000", "f=html"):
            with self.subTest(query=query):
                self.assert_error(self.get("/collections/schools/items?" + query), 400,
                                  "invalid_argument")

    def test_item_etag_and_if_none_match(self):
        fid = self.ids("schools")[0]
        r = self.get("/collections/schools/items/%d" % fid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id"], fid)
        self.assertEqual(r.json["type"], "Feature")
        self.assertTrue((r.header("Content-Type") or "").startswith("application/geo+json"), r)
        etag = r.header("ETag")
        self.assertRegex(etag or "", r'\A(W/)?"[^"]+"\Z', r)
        r2 = self.get("/collections/schools/items/%d" % fid, headers={"If-None-Match": etag})
        self.assertEqual(r2.status, 304, r2)
        self.assertEqual(r2.body, b"", r2)
        self.assertEqual(r2.header("ETag"), etag, r2)
        # After an edit the old ETag no longer matches.
        w = self.write("PATCH", "/collections/schools/items/%d" % fid,
                       {"type": "Feature", "properties": {"remote": True}})
        self.assertEqual(w.status, 200, w)
        self.assertNotEqual(w.header("ETag"), etag, w)
        r3 = self.get("/collections/schools/items/%d" % fid, headers={"If-None-Match": etag})
        self.assertEqual(r3.status, 200, r3)
        self.assertEqual(r3.header("ETag"), w.header("ETag"))
        self.assertIs(r3.json["properties"]["remote"], True)

    def test_item_not_found(self):
        for path in ("/collections/schools/items/999999", "/collections/schools/items/abc",
                     "/collections/schools/items/0", "/collections/nope/items/1"):
            with self.subTest(path=path):
                self.assert_error(self.get(path), 404, "not_found")

    def test_roles_for_reads(self):
        dev = self.add_device("car-1")
        paths = ["/collections", "/collections/schools", "/collections/schools/items",
                 "/collections/schools/items/%d" % self.ids("schools")[0]]
        for path in paths:
            with self.subTest(path=path):
                self.assertEqual(self.get(path).status, 200)
                self.assertEqual(self.get(path, token=self.editor).status, 200)
                self.assertEqual(self.get(path, token=self.admin_token()).status, 200)
                self.assert_error(self.get(path, token=dev["token"]), 403, "forbidden")
                self.assert_error(self.request("GET", path), 401, "unauthorized")
                self.assert_error(self.get(path, token="not-a-real-token-0123456789"), 401,
                                  "unauthorized")


# ---------------------------------------------------------------------------------------------
# Writes
# ---------------------------------------------------------------------------------------------

class TestWrites(FeaturesCase):
    def test_post_feature(self):
        body = feature(square(112.90, 28.10), name="测试小学", kind="primary", boarding=True,
                       address="青石镇测试路1号", contacts=[{"name": "李老师", "role": "校长",
                                                          "phone": "13800000000"}],
                       arrival_start="07:20", props={"note": "手工录入"})
        n0 = self.count("schools")
        fid, r = self.create("schools", body)
        self.assertEqual(self.count("schools"), n0 + 1)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/geo+json"), r)
        self.assertEqual(self.local_path(r.header("Location")),
                         "/collections/schools/items/%d" % fid)
        self.assertTrue(r.header("ETag"), r)
        p = r.json["properties"]
        self.assertEqual((p["name"], p["kind"], p["boarding"], p["address"]),
                         ("测试小学", "primary", True, "青石镇测试路1号"))
        self.assertEqual(p["props"], {"note": "手工录入"})
        self.assertEqual(p["contacts"][0]["name"], "李老师")
        self.assertTrue(p["arrival_start"].startswith("07:20"), p)
        self.assertEqual(r.json["geometry"]["type"], "MultiPolygon", "promoted to the column type")
        # The stored row and what GET returns.
        row = self.row("schools", fid)
        self.assertEqual((row["name"], row["boarding"], row["source"]), ("测试小学", True, "manual"))
        self.assertEqual(row["geometry"]["type"], "MultiPolygon")
        self.assertEqual(self.scalar("SELECT ST_Equals(perimeter, ST_Multi(ST_GeomFromGeoJSON("
                                     ":'g'))) FROM schools WHERE id = %d" % fid,
                                     g=json.dumps(square(112.90, 28.10))), "t")
        g = self.get("/collections/schools/items/%d" % fid)
        self.assertEqual(g.header("ETag"), r.header("ETag"))
        self.assertEqual(g.json["properties"], r.json["properties"])
        # A point layer, with altitude dropped.
        vid, r = self.create("venues", feature({"type": "Point", "coordinates": [112.91, 28.09,
                                                                                  55.5]},
                                               name="星空网吧", kind="internet_cafe"))
        self.assertEqual(r.json["geometry"]["coordinates"], [112.91, 28.09])
        self.assertEqual(self.lonlat("venues", vid), (112.91, 28.09))
        self.assertEqual(self.scalar("SELECT ST_NDims(location) FROM venues WHERE id = %d" % vid),
                         "2")

    def test_post_feature_collection_in_one_transaction(self):
        feats = [feature(point(112.90 + i * 0.001, 28.09), name="场所%d" % i, kind="karaoke")
                 for i in range(3)]
        n0 = self.count("venues")
        r = self.write("POST", "/collections/venues/items",
                       {"type": "FeatureCollection", "features": feats})
        self.assertEqual(r.status, 201, r)
        ids = r.json.get("ids")
        self.assertEqual(len(ids), 3, r)
        self.assertEqual(self.count("venues"), n0 + 3)
        self.assertEqual(self.ids("venues", "name LIKE '场所%'"), sorted(ids))
        rows = self.audit(r.request_id)
        self.assertEqual(sorted(x["target_id"] for x in rows if x["action"] == "insert"),
                         sorted(ids))
        # A database-level failure in the third feature (no such school) rolls back all three.
        good = [feature(point(112.90, 28.09), name="点%d" % i, kind="gate") for i in range(2)]
        bad = feature(point(112.90, 28.09), name="点2", kind="gate", school_id=987654)
        with self.nothing_written("patrol_points", "patrol_windows", what="FC rollback"):
            r = self.write("POST", "/collections/patrol_points/items",
                           {"type": "FeatureCollection", "features": good + [bad]})
            err = self.assert_error(r, 422, "unprocessable")
            self.assertIn("features[2]", err["message"])

    def test_put_replaces_and_resets_defaults(self):
        fid, r = self.create("schools", feature(square(112.90, 28.10), name="旧名", kind="primary",
                                                boarding=True, remote=True, address="旧地址",
                                                arrival_start="07:30", props={"a": 1}))
        etag = r.header("ETag")
        r = self.write("PUT", "/collections/schools/items/%d" % fid,
                       feature(square(112.905, 28.105), name="新名", kind="middle"),
                       headers={"If-Match": etag})
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.header("ETag"), etag)
        row = self.row("schools", fid)
        self.assertEqual((row["name"], row["kind"]), ("新名", "middle"))
        self.assertEqual((row["boarding"], row["remote"], row["address"], row["props"]),
                         (False, False, None, {}), "PUT must reset what it does not give")
        self.assertEqual((row["arrival_start"], row["arrival_end"]), ("07:00:00", "08:30:00"))
        self.assertEqual(row["geometry"]["coordinates"][0][0][0], [112.905, 28.105])
        self.assertEqual(r.json["properties"]["name"], "新名")
        # PUT without If-Match is allowed; PUT of a missing feature is 404.
        r = self.write("PUT", "/collections/schools/items/%d" % fid,
                       feature(square(112.905, 28.105), name="再改", kind="middle"))
        self.assertEqual(r.status, 200, r)
        with self.nothing_written("schools"):
            self.assert_error(self.write("PUT", "/collections/schools/items/999999",
                                         feature(square(112.9, 28.1), name="x", kind="primary")),
                              404, "not_found")

    def test_patch_merges(self):
        fid, r = self.create("schools", feature(square(112.90, 28.10), name="合并", kind="primary",
                                                boarding=True, address="地址"))
        before = self.row("schools", fid)
        r = self.write("PATCH", "/collections/schools/items/%d" % fid,
                       {"type": "Feature", "properties": {"remote": True, "address": None}},
                       content_type="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)
        after = self.row("schools", fid)
        self.assertEqual((after["remote"], after["address"]), (True, None))
        for k in ("name", "kind", "boarding", "geometry", "arrival_start", "created_at"):
            self.assertEqual(after[k], before[k], "PATCH changed %s" % k)
        # Geometry only.
        r = self.write("PATCH", "/collections/schools/items/%d" % fid,
                       {"type": "Feature", "geometry": square(112.95, 28.12)})
        self.assertEqual(r.status, 200, r)
        after2 = self.row("schools", fid)
        self.assertEqual(after2["geometry"]["coordinates"][0][0][0], [112.95, 28.12])
        self.assertEqual((after2["name"], after2["remote"]), ("合并", True))

    def test_delete(self):
        vid, r = self.create("venues", feature(point(112.9, 28.1), name="删除", kind="other"))
        r = self.write("DELETE", "/collections/venues/items/%d" % vid)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"")
        self.assertEqual(self.count("venues", "id = %d" % vid), 0)
        self.assert_error(self.get("/collections/venues/items/%d" % vid), 404, "not_found")
        self.assert_error(self.write("DELETE", "/collections/venues/items/%d" % vid), 404,
                          "not_found")

    def test_if_match(self):
        vid, r = self.create("venues", feature(point(112.9, 28.1), name="版本", kind="other"))
        old = r.header("ETag")
        r = self.write("PATCH", "/collections/venues/items/%d" % vid,
                       {"type": "Feature", "properties": {"name": "版本2"}},
                       headers={"If-Match": old})
        self.assertEqual(r.status, 200, r)
        new = r.header("ETag")
        self.assertNotEqual(new, old)
        stale = [("PUT", feature(point(112.8, 28.2), name="覆盖", kind="karaoke")),
                 ("PATCH", {"type": "Feature", "properties": {"name": "覆盖"}}),
                 ("DELETE", None)]
        for method, body in stale:
            with self.subTest(method=method):
                with self.nothing_written("venues", what="stale " + method):
                    err = self.assert_error(
                        self.write(method, "/collections/venues/items/%d" % vid, body,
                                   headers={"If-Match": old}), 412, "precondition_failed")
                    self.assertIn(str(vid), err["message"])
        self.assertEqual(self.row("venues", vid)["name"], "版本2")
        r = self.write("DELETE", "/collections/venues/items/%d" % vid, headers={"If-Match": new})
        self.assertEqual(r.status, 204, r)

    def test_patrol_point_windows(self):
        sid = self.ids("schools")[0]
        wins = [{"name": "早上到校", "start_local": "07:00", "end_local": "08:00"},
                {"name": "放学", "start_local": "16:00", "end_local": "17:30", "days": 31,
                 "required_visits": 2}]
        pid, r = self.create("patrol_points", feature(point(112.9, 28.1), name="东门", kind="gate",
                                                      school_id=sid, radius_m=30, windows=wins))
        got = r.json["properties"]["windows"]
        self.assertEqual([w["name"] for w in got], ["早上到校", "放学"])
        rows = self.psql("SELECT name, start_local::text, end_local::text, days, required_visits "
                         "FROM patrol_windows WHERE point_id = %d ORDER BY id" % pid)
        self.assertEqual(rows, [["早上到校", "07:00:00", "08:00:00", "31", "1"],
                                ["放学", "16:00:00", "17:30:00", "31", "2"]])
        # PATCH of the windows only: replaced, the point otherwise unchanged.
        before = self.row("patrol_points", pid)
        r = self.write("PATCH", "/collections/patrol_points/items/%d" % pid,
                       {"type": "Feature", "properties": {"windows": [
                           {"name": "午间", "start_local": "12:00", "end_local": "12:30"}]}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.psql("SELECT name FROM patrol_windows WHERE point_id = %d" % pid),
                         [["午间"]])
        after = self.row("patrol_points", pid)
        for k in ("name", "radius_m", "school_id", "geometry"):
            self.assertEqual(after[k], before[k])
        self.assertEqual([w["name"] for w in r.json["properties"]["windows"]], ["午间"])
        # PATCH without windows leaves them alone.
        r = self.write("PATCH", "/collections/patrol_points/items/%d" % pid,
                       {"type": "Feature", "properties": {"radius_m": 80}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.count("patrol_windows", "point_id = %d" % pid), 1)
        # PUT replaces the windows with the ones given (none given: none left).
        r = self.write("PUT", "/collections/patrol_points/items/%d" % pid,
                       feature(point(112.9, 28.1), name="东门", kind="gate", windows=wins[:1]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.psql("SELECT name FROM patrol_windows WHERE point_id = %d" % pid),
                         [["早上到校"]])
        self.assertEqual(self.row("patrol_points", pid)["radius_m"], 50, "PUT resets radius_m")
        r = self.write("PUT", "/collections/patrol_points/items/%d" % pid,
                       feature(point(112.9, 28.1), name="东门", kind="gate"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.count("patrol_windows", "point_id = %d" % pid), 0)
        # Reading the point gives its windows nested.
        self.write("PATCH", "/collections/patrol_points/items/%d" % pid,
                   {"type": "Feature", "properties": {"windows": wins}})
        doc = self.getj("/collections/patrol_points/items/%d" % pid)
        self.assertEqual([w["name"] for w in doc["properties"]["windows"]], ["早上到校", "放学"])

    def test_input_in_web_mercator(self):
        x, y = 12568000.25, 3258000.75
        want = self.psql("SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_Transform(ST_SetSRID("
                         "ST_MakePoint(%r, %r), 3857), 4326) g) t" % (x, y))[0]
        for how, path, hdrs in (
                ("query", "/collections/venues/items?crs=EPSG:3857", {}),
                ("Content-Crs", "/collections/venues/items",
                 {"Content-Crs": "<%s>" % EPSG3857_URI})):
            with self.subTest(how=how):
                r = self.write("POST", path, feature(point(x, y), name="墨卡托", kind="other"),
                               headers=hdrs)
                self.assertEqual(r.status, 201, r)
                lon, lat = self.lonlat("venues", r.json["id"])
                self.assertAlmostEqual(lon, float(want[0]), delta=1e-9)
                self.assertAlmostEqual(lat, float(want[1]), delta=1e-9)
        # A polygon: every vertex converted.
        sq = {"type": "Polygon", "coordinates": [[[x, y], [x + 100, y], [x + 100, y + 100],
                                                  [x, y + 100], [x, y]]]}
        r = self.write("POST", "/collections/schools/items?crs=EPSG:3857",
                       feature(sq, name="墨卡托学校", kind="primary"))
        self.assertEqual(r.status, 201, r)
        d = self.scalar("SELECT ST_HausdorffDistance(perimeter, ST_Transform(ST_SetSRID("
                        "ST_GeomFromGeoJSON(:'g'), 3857), 4326)) FROM schools WHERE id = %d"
                        % r.json["id"], g=json.dumps(sq))
        self.assertLess(float(d), 1e-9)

    def test_input_in_gcj02(self):
        glon, glat = 112.9, 28.1
        for how, path, hdrs in (("query", "/collections/venues/items?crs=gcj02", {}),
                                ("Content-Crs", "/collections/venues/items",
                                 {"Content-Crs": "<gcj02>"})):
            with self.subTest(how=how):
                r = self.write("POST", path, feature(point(glon, glat), name="火星", kind="other"),
                               headers=hdrs)
                self.assertEqual(r.status, 201, r)
                lon, lat = self.lonlat("venues", r.json["id"])
                flon, flat = gcj02_forward(lon, lat)
                self.assertLess(metres(flon, flat, glon, glat), 0.05,
                                "stored %r is not the GCJ-02 inverse of %r" % ((lon, lat),
                                                                               (glon, glat)))
                self.assertTrue(100 <= metres(lon, lat, glon, glat) <= 700)
                # Read back in GCJ-02: where it was sent.
                back = self.getj("/collections/venues/items/%d?crs=gcj02" % r.json["id"])
                bx, by = back["geometry"]["coordinates"]
                self.assertLess(metres(bx, by, glon, glat), 0.05)

    def test_input_lat_lon_uri(self):
        r = self.write("POST", "/collections/venues/items",
                       feature(point(28.1, 112.9), name="纬经", kind="other"),
                       headers={"Content-Crs": "<%s>" % EPSG4326_URI})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.lonlat("venues", r.json["id"]), (112.9, 28.1))

    def test_audit_of_api_writes(self):
        fid, r = self.create("schools", feature(square(112.9, 28.1), name="审计", kind="primary"))
        ins = self.audit(r.request_id)
        self.assertEqual([(a["actor"], a["action"], a["target"], a["target_id"]) for a in ins],
                         [("user:ed", "insert", "schools", fid)])
        self.assertIsNone(ins[0]["before"])
        self.assertEqual(ins[0]["after"]["name"], "审计")
        r = self.write("PUT", "/collections/schools/items/%d" % fid,
                       feature(square(112.9, 28.1), name="审计2", kind="primary"))
        self.assertEqual(r.status, 200, r)
        up = self.audit(r.request_id)
        self.assertEqual([(a["actor"], a["action"], a["target_id"]) for a in up],
                         [("user:ed", "update", fid)])
        self.assertEqual((up[0]["before"]["name"], up[0]["after"]["name"]), ("审计", "审计2"))
        r = self.write("PATCH", "/collections/schools/items/%d" % fid,
                       {"type": "Feature", "properties": {"remote": True}})
        up = self.audit(r.request_id)
        self.assertEqual([(a["actor"], a["action"]) for a in up], [("user:ed", "update")])
        self.assertEqual((up[0]["before"]["remote"], up[0]["after"]["remote"]), (False, True))
        r = self.write("DELETE", "/collections/schools/items/%d" % fid)
        self.assertEqual(r.status, 204, r)
        de = self.audit(r.request_id)
        self.assertEqual([(a["actor"], a["action"], a["target_id"]) for a in de],
                         [("user:ed", "delete", fid)])
        self.assertEqual(de[0]["before"]["name"], "审计2")
        self.assertIsNone(de[0]["after"])
        # Windows written with their point are audited too, under the same request.
        pid, r = self.create("patrol_points", feature(point(112.9, 28.1), name="审计点",
                                                      kind="route", windows=[
                                                          {"name": "w", "start_local": "08:00",
                                                           "end_local": "09:00"}]))
        rows = self.audit(r.request_id)
        self.assertEqual(sorted((a["target"], a["action"]) for a in rows),
                         [("patrol_points", "insert"), ("patrol_windows", "insert")])
        self.assertTrue(all(a["actor"] == "user:ed" for a in rows), rows)

    def test_viewer_write_is_denied_and_audited(self):
        fid = self.ids("schools")[0]
        attempts = [("POST", "/collections/schools/items",
                     feature(square(112.9, 28.1), name="越权", kind="primary")),
                    ("PUT", "/collections/schools/items/%d" % fid,
                     feature(square(112.9, 28.1), name="越权", kind="primary")),
                    ("PATCH", "/collections/schools/items/%d" % fid,
                     {"type": "Feature", "properties": {"name": "越权"}}),
                    ("DELETE", "/collections/schools/items/%d" % fid, None)]
        for method, path, body in attempts:
            with self.subTest(method=method):
                with self.nothing_written("schools", what="viewer " + method):
                    r = self.write(method, path, body, token=self.viewer)
                    self.assert_error(r, 403, "forbidden")
                rows = self.audit(r.request_id)
                self.assertEqual([(a["actor"], a["action"]) for a in rows],
                                 [("user:vi", "deny")], rows)

    def test_generation_after_api_write(self):
        g0 = self.generation("schools")
        self.assertGreaterEqual(g0, 1)
        self.create("schools", feature(square(112.9, 28.1), name="通知", kind="primary"))
        g1 = self.wait_generation_above("schools", g0)
        self.assertGreater(g1, g0, "patrold_layer_generation{layer=\"schools\"} did not move "
                                   "within 2 s after an API write")

    def test_generation_after_psql_insert(self):
        g0 = self.generation("schools")
        self.psql("INSERT INTO schools (name, kind, perimeter) VALUES ('手工', 'primary', "
                  "ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(112.9, 28.1), 4326), 0.0005)))")
        g1 = self.wait_generation_above("schools", g0)
        self.assertGreater(g1, g0, "patrold_layer_generation{layer=\"schools\"} did not move "
                                   "within 2 s after an INSERT typed in psql")
        self.assertEqual(self.psql("SELECT actor, action FROM audit_log WHERE target = 'schools'"
                                   " ORDER BY id DESC LIMIT 1"), [["sql:postgres", "insert"]])


# ---------------------------------------------------------------------------------------------
# Bad input: a clear 4xx JSON error, nothing written
# ---------------------------------------------------------------------------------------------

BOWTIE = {"type": "Polygon", "coordinates": [[[112.9, 28.1], [112.901, 28.101], [112.901, 28.1],
                                              [112.9, 28.101], [112.9, 28.1]]]}
UNCLOSED = {"type": "Polygon", "coordinates": [[[112.9, 28.1], [112.901, 28.1],
                                                [112.901, 28.101], [112.9, 28.101]]]}


def school(geom=None, **props):
    p = {"name": "坏学校", "kind": "primary"}
    p.update(props)
    return feature(geom if geom is not None else square(112.9, 28.1), **p)


def gate(**props):
    p = {"name": "坏点", "kind": "gate"}
    p.update(props)
    return feature(point(112.9, 28.1), **p)


class TestBadInput(FeaturesCase):
    def refused(self, method, path, body, status, code, pattern=None, tables=(), token=None,
                headers=None, content_type="application/geo+json"):
        layer = path.split("/")[2]
        tables = tuple(tables) or ((layer, "patrol_windows") if layer == "patrol_points"
                                   else (layer,))
        with self.nothing_written(*tables, what="%s %s" % (method, path)):
            r = self.write(method, path, body, token=token, headers=headers,
                           content_type=content_type)
            err = self.assert_error(r, status, code)
        if pattern is not None:
            self.assertRegex(err["message"], pattern, r)
        return err

    def test_bad_geometries(self):
        S = "/collections/schools/items"
        err = self.refused("POST", S, school(BOWTIE), 422, "unprocessable",
                           r"(?i)self-intersection")
        loc = re.search(r"(-?\d+\.\d+)[ ,]+(-?\d+\.\d+)", err["message"])
        self.assertTrue(loc, "the bowtie's message must give the location: %r" % err)
        self.assertLess(metres(float(loc.group(1)), float(loc.group(2)), 112.9005, 28.1005), 1,
                        err)
        self.refused("POST", S, school(UNCLOSED), 422, "unprocessable", r"ring_not_closed|clos")
        cases = [
            ("lon 200", "venues", feature(point(200, 28), name="x", kind="other"), 422,
             "unprocessable", r"200"),
            ("lat 91", "venues", feature(point(112, 91), name="x", kind="other"), 422,
             "unprocessable", r"91"),
            ("crs member in the feature", "venues",
             dict(feature(point(112, 28), name="x", kind="other"),
                  crs={"type": "name", "properties": {"name": "EPSG:4326"}}), 400,
             "invalid_argument", r"crs"),
            ("crs member in the geometry", "venues",
             feature(dict(point(112, 28), crs={"type": "name",
                                               "properties": {"name": "EPSG:4326"}}),
                     name="x", kind="other"), 400, "invalid_argument", r"crs"),
            ("crs member in a collection", "venues",
             {"type": "FeatureCollection", "crs": {"type": "name", "properties": {
                 "name": "EPSG:4326"}}, "features": [feature(point(112, 28), name="x",
                                                              kind="other")]},
             400, "invalid_argument", r"crs"),
            ("LineString into schools", "schools",
             school({"type": "LineString", "coordinates": [[112.9, 28.1], [112.91, 28.1]]}),
             422, "unprocessable", r"LineString"),
            ("Polygon into venues", "venues", feature(square(112.9, 28.1), name="x",
                                                      kind="other"), 422, "unprocessable", None),
            ("GeometryCollection into waters", "waters",
             feature({"type": "GeometryCollection", "geometries": []}, name="x", kind="pond"),
             422, "unprocessable", None),
            ("no geometry", "venues", feature(None, name="x", kind="other"), 422,
             "unprocessable", None),
            ("string coordinate", "venues", feature({"type": "Point", "coordinates": ["112", 28]},
                                                    name="x", kind="other"), 400,
             "invalid_argument", None),
            ("one-number position", "venues", feature({"type": "Point", "coordinates": [112]},
                                                      name="x", kind="other"), 400,
             "invalid_argument", None),
            ("empty polygon", "schools", school({"type": "Polygon", "coordinates": []}), 422,
             "unprocessable", None),
        ]
        for label, layer, body, status, code, pattern in cases:
            with self.subTest(label):
                self.refused("POST", "/collections/%s/items" % layer, body, status, code, pattern)
        # The same rules on PUT and PATCH.
        fid = self.ids("schools")[0]
        self.refused("PUT", "%s/%d" % (S, fid), school(BOWTIE), 422, "unprocessable")
        self.refused("PATCH", "%s/%d" % (S, fid), {"type": "Feature", "geometry": BOWTIE}, 422,
                     "unprocessable")

    def test_nan_and_infinity_are_not_json(self):
        for lit in ("NaN", "Infinity", "-Infinity", "1e999"):
            with self.subTest(lit):
                body = ('{"type":"Feature","geometry":{"type":"Point","coordinates":[%s,28.1]},'
                        '"properties":{"name":"x","kind":"other"}}' % lit).encode()
                self.refused("POST", "/collections/venues/items", body, 400, "invalid_argument",
                             r"line 1, column \d+")

    def test_vertex_cap(self):
        err = self.refused("POST", "/collections/schools/items",
                           school({"type": "Polygon", "coordinates": [circle_ring(20001)]}),
                           413, "too_large", r"20000")
        self.assertIn("too_many_vertices", err["message"])
        fid, r = self.create("schools", school({"type": "Polygon",
                                                "coordinates": [circle_ring(20000)]}))
        self.assertEqual(self.scalar("SELECT ST_NPoints(perimeter) FROM schools WHERE id = %d"
                                     % fid), "20000")
        # Across the parts of a multi-geometry too.
        two = {"type": "MultiPolygon", "coordinates": [
            [circle_ring(10001, lon=112.9)], [circle_ring(10000, lon=112.91)]]}
        self.refused("POST", "/collections/schools/items", school(two), 413, "too_large")

    def test_body_over_the_limit_is_refused_before_it_is_read(self):
        size = 30 * 1024 * 1024
        tables = self.snapshot("venues")
        head = raw_request("POST", "/collections/venues/items", headers=[
            ("Host", "127.0.0.1:%d" % self.server.port),
            ("Authorization", "Bearer " + self.editor),
            ("Content-Type", "application/geo+json"),
            ("Content-Length", str(size))])
        with self.server.raw_connect() as s:
            s.sendall(head + b'{"type":"Feature","geometry":' + b" " * 65536)
            t0 = time.monotonic()
            r = read_response(s, "POST", timeout=10)
            self.assertLess(time.monotonic() - t0, 5)
        r.path = "/collections/venues/items (30 MB announced, 64 KB sent)"
        self.assert_error(r, 413, "too_large")
        self.assertEqual(self.snapshot("venues"), tables)

    def test_bad_properties(self):
        V, P, S = ("/collections/venues/items", "/collections/patrol_points/items",
                   "/collections/schools/items")
        cases = [
            ("wrong type (name 5)", V, feature(point(112.9, 28.1), name=5, kind="other"), 400,
             "invalid_argument", r"name"),
            ("wrong type (boarding 'yes')", S, school(boarding="yes"), 400, "invalid_argument",
             r"boarding"),
            ("wrong type (radius_m '50')", P, gate(radius_m="50"), 400, "invalid_argument",
             r"radius_m"),
            ("unknown property", V, feature(point(112.9, 28.1), name="x", kind="other",
                                            colour="red"), 400, "invalid_argument", r"colour"),
            ("unknown property first", V, {"type": "Feature", "geometry": point(112.9, 28.1),
                                           "properties": {"colour": "red", "name": "x",
                                                          "kind": "other"}}, 400,
             "invalid_argument", r"colour"),
            ("read-only id", V, feature(point(112.9, 28.1), name="x", kind="other", id=7), 400,
             "invalid_argument", r"\bid\b"),
            ("read-only created_at", V, feature(point(112.9, 28.1), name="x", kind="other",
                                                created_at="2026-01-01T00:00:00Z"), 400,
             "invalid_argument", r"created_at"),
            ("read-only source", S, school(source="osm"), 400, "invalid_argument", r"source"),
            ("feature id on create", V, dict(feature(point(112.9, 28.1), name="x", kind="other"),
                                             id=5), 400, "invalid_argument", r"id"),
            ("missing required name", V, feature(point(112.9, 28.1), kind="other"), 400,
             "invalid_argument", r"name"),
            ("kind not in the list", S, school(kind="university"), 422, "unprocessable",
             r"kind"),
            ("radius 4", P, gate(radius_m=4), 422, "unprocessable", r"radius_m"),
            ("radius 1001", P, gate(radius_m=1001), 422, "unprocessable", r"radius_m"),
            ("window start = end", P, gate(windows=[{"name": "w", "start_local": "08:00",
                                                     "end_local": "08:00"}]), 422,
             "unprocessable", r"windows\[0\]"),
            ("window start > end", P, gate(windows=[
                {"name": "ok", "start_local": "07:00", "end_local": "08:00"},
                {"name": "w", "start_local": "09:00", "end_local": "08:30"}]), 422,
             "unprocessable", r"windows\[1\]"),
            ("window unknown property", P, gate(windows=[{"name": "w", "start_local": "07:00",
                                                          "end_local": "08:00", "x": 1}]), 400,
             "invalid_argument", r"windows\[0\]"),
            ("season with one end", P, gate(season_start="05-01"), 422, "unprocessable",
             r"season"),
            ("season with the other end", P, gate(season_end="10-31"), 422, "unprocessable",
             r"season"),
            ("school arrival order", S, school(arrival_start="09:00", arrival_end="08:00"), 422,
             "unprocessable", r"arrival"),
            ("school_id of no school", P, gate(school_id=987654), 422, "unprocessable",
             r"school_id|referenced"),
        ]
        for label, path, body, status, code, pattern in cases:
            with self.subTest(label):
                self.refused("POST", path, body, status, code, pattern)
        with self.subTest("season 02-30"):
            with self.nothing_written("patrol_points", "patrol_windows"):
                r = self.write("POST", P, gate(season_start="02-30", season_end="03-01"))
                self.assertIn(r.status, (400, 422), r)
                self.assert_error(r, r.status, "invalid_argument" if r.status == 400
                                  else "unprocessable")
        # The same property rules on PUT and PATCH.
        vid = self.ids("venues")[0]
        self.refused("PATCH", "%s/%d" % (V, vid), {"type": "Feature", "properties": {
            "name": "x", "colour": "red"}}, 400, "invalid_argument", r"colour")
        self.refused("PATCH", "%s/%d" % (V, vid), {"type": "Feature", "properties": {
            "created_at": "2026-01-01T00:00:00Z"}}, 400, "invalid_argument", r"created_at")
        self.refused("PUT", "%s/%d" % (V, vid), feature(point(112.9, 28.1), name=[1],
                                                        kind="other"), 400, "invalid_argument")
        pid = self.ids("patrol_points")[0]
        self.refused("PATCH", "%s/%d" % (P, pid), {"type": "Feature", "properties": {
            "radius_m": 1001}}, 422, "unprocessable", r"radius_m")
        self.refused("PATCH", "%s/%d" % (P, pid), {"type": "Feature", "properties": {
            "windows": [{"name": "w", "start_local": "10:00", "end_local": "09:00"}]}}, 422,
            "unprocessable", r"windows\[0\]")

    def test_feature_collection_with_one_bad_feature(self):
        good = [feature(point(112.9 + i * 1e-3, 28.1), name="好%d" % i, kind="other")
                for i in range(3)]
        for label, bad, status, code in (
                ("bad geometry", feature(point(212, 28.1), name="坏", kind="other"), 422,
                 "unprocessable"),
                ("unknown property", feature(point(112.9, 28.1), name="坏", kind="other",
                                             colour="red"), 400, "invalid_argument"),
                ("bowtie", None, 422, "unprocessable")):
            with self.subTest(label):
                layer = "venues" if bad is not None else "schools"
                feats = list(good) if bad is not None else [school(square(112.9 + i * 0.01, 28.1))
                                                            for i in range(3)]
                feats.insert(2, bad if bad is not None else school(BOWTIE))
                err = self.refused("POST", "/collections/%s/items" % layer,
                                   {"type": "FeatureCollection", "features": feats}, status, code)
                self.assertIn("features[2]", err["message"])
        self.refused("POST", "/collections/venues/items",
                     {"type": "FeatureCollection", "features": []}, 400, "invalid_argument")
        self.refused("POST", "/collections/venues/items",
                     {"type": "FeatureCollection", "features": {}}, 400, "invalid_argument")

    def test_roads_are_read_only(self):
        rid = self.ids("roads")[0]
        line = feature({"type": "LineString", "coordinates": [[112.9, 28.1], [112.91, 28.1]]},
                       name="x", **{"class": "residential"})
        for method, path, body in (("POST", "/collections/roads/items", line),
                                   ("PUT", "/collections/roads/items/%d" % rid, line),
                                   ("PATCH", "/collections/roads/items/%d" % rid,
                                    {"type": "Feature", "properties": {}}),
                                   ("DELETE", "/collections/roads/items/%d" % rid, None)):
            with self.subTest(method=method):
                self.refused(method, path, body, 405, "method_not_allowed")

    def test_unknown_collection_and_feature(self):
        self.refused("POST", "/collections/nope/items", feature(point(112.9, 28.1)), 404,
                     "not_found", tables=("venues",))
        self.refused("PATCH", "/collections/venues/items/987654",
                     {"type": "Feature", "properties": {"name": "x"}}, 404, "not_found")
        self.refused("DELETE", "/collections/venues/items/987654", None, 404, "not_found")

    def test_delete_of_a_referenced_school(self):
        sid = int(self.scalar("SELECT min(school_id) FROM patrol_points"))
        err = self.refused("DELETE", "/collections/schools/items/%d" % sid, None, 409, "conflict",
                           tables=("schools", "patrol_points", "patrol_windows"))
        self.assertIn("patrol_points", err["message"])

    def test_wrong_content_type(self):
        body = json.dumps(feature(point(112.9, 28.1), name="x", kind="other"))
        for ctype in ("text/plain", "application/xml", "application/x-www-form-urlencoded"):
            with self.subTest(ctype):
                self.refused("POST", "/collections/venues/items", body, 415,
                             "unsupported_media_type", content_type=ctype)
        self.refused("POST", "/collections/venues/items", body, 415, "unsupported_media_type",
                     content_type=None)
        vid = self.ids("venues")[0]
        self.refused("PUT", "/collections/venues/items/%d" % vid, body, 415,
                     "unsupported_media_type", content_type="text/csv")

    def test_malformed_json(self):
        body = b'{"type": "Feature",\n "geometry": {"type": "Point",, "coordinates": [1, 2]}}'
        err = self.refused("POST", "/collections/venues/items", body, 400, "invalid_argument",
                           r"line 2, column \d+")
        self.assertIn("JSON", err["message"])
        self.refused("POST", "/collections/venues/items", b"[1, 2, 3]", 400, "invalid_argument")
        self.refused("POST", "/collections/venues/items", b'{"type": "Feature"', 400,
                     "invalid_argument", r"line 1")
        self.refused("POST", "/collections/venues/items", b"", 400, "invalid_argument")


# ---------------------------------------------------------------------------------------------
# GDAL's OAPIF driver
# ---------------------------------------------------------------------------------------------

OGR_LAYER = re.compile(r"^\d+: (\S+)(?: \(title: [^)]*\))?(?: \(([^)]*)\))?$")
OGR_FEATURE = re.compile(r"^OGRFeature\((\w+)\):(-?\d+)$")
OGR_FIELD = re.compile(r"^  (\w+) \((\w+)\) = (.*)$")


class GdalCase(FeaturesCase):
    def setUp(self):
        harness.require_tool("ogrinfo", "Debian: gdal-bin")
        super().setUp()

    def ogr(self, *args, token="editor", timeout=600):
        """Runs ogrinfo with the bearer token in GDAL_HTTP_HEADERS (GDAL >= 3.6 config
        option, read from the environment: the token stays out of the command line)."""
        extra = {"CPL_DEBUG": None, "GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_HEADERS": None,
                 "GDAL_HTTP_HEADER_FILE": None}
        if token is not None:
            extra["GDAL_HTTP_HEADERS"] = "Authorization: Bearer " + (
                self.editor if token == "editor" else token)
        cmd = ["ogrinfo", "-ro"] + list(args)
        cp = run(cmd, env=clean_env(extra), timeout=timeout)
        self._cli_history.append("$ %s\n(exit %d)\n--- stdout\n%s--- stderr\n%s"
                                 % (" ".join(cmd), cp.returncode, cp.stdout[-1500:],
                                    cp.stderr[-1500:]))
        return cp

    def dataset(self):
        return "OAPIF:http://127.0.0.1:%d/" % self.server.port

    def gdal_layers(self):
        cp = self.ogr("-so", self.dataset())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        names = [m.group(1) for m in map(OGR_LAYER.match, cp.stdout.splitlines()) if m]
        return names, cp

    def gdal_features(self, layer):
        """Feature ids and field values as GDAL reads them (default page size: next links)."""
        cp = self.ogr("-al", "-q", "-geom=NO", self.dataset(), layer)
        self.assertEqual(cp.returncode, 0, "ogrinfo %s failed:\n%s" % (layer, cp.stderr))
        self.assertNotIn("ERROR", cp.stderr, cp.stderr)
        feats, cur = {}, None
        for line in cp.stdout.splitlines():
            m = OGR_FEATURE.match(line)
            if m:
                self.assertEqual(m.group(1), layer)
                cur = {}
                self.assertNotIn(int(m.group(2)), feats, "feature %s read twice" % m.group(2))
                feats[int(m.group(2))] = cur
                continue
            m = OGR_FIELD.match(line)
            if m and cur is not None:
                cur[m.group(1)] = m.group(3)
        warnings = sorted(set(ln for ln in cp.stderr.splitlines() if ln.startswith("Warning")))
        return feats, warnings

    def check_gdal_reads_everything(self, label):
        names, cp = self.gdal_layers()
        self.assertEqual(sorted(names), sorted(LAYERS),
                         "GDAL must list every collection:\n" + cp.stdout)
        summary = []
        for layer in LAYERS:
            with self.subTest(layer=layer):
                feats, warnings = self.gdal_features(layer)
                want = self.ids(layer)
                summary.append("  %-14s %6d features (database %d)%s" % (
                    layer, len(feats), len(want),
                    ("  GDAL: " + "; ".join(warnings)) if warnings else ""))
                self.assertEqual(sorted(feats), want,
                                 "GDAL read other features than the database holds")
        sys.stderr.write("\nGDAL OAPIF (%s), ogrinfo -ro -so %s:\n%s\n%s\n"
                         % (label, self.dataset(), cp.stdout.strip(), "\n".join(summary)))
        return summary


class TestGdalDemoTown(GdalCase):
    def test_gdal_lists_and_reads_every_layer(self):
        sid = self.ids("schools")[0]
        for i in range(3):  # so that no layer is empty
            self.create("inspections", feature(point(112.9, 28.1) if i else None, school_id=sid,
                                               inspected_at="2026-11-0%dT10:00:00+08:00" % (i + 1),
                                               inspector="检查员", findings="门口积水"))
        self.check_gdal_reads_everything("demo town 青石镇")
        # Attribute values survive: the Chinese names of the schools.
        feats, _ = self.gdal_features("schools")
        names = dict((int(i), n) for i, n in self.psql("SELECT id, name FROM schools"))
        for fid, f in feats.items():
            self.assertEqual(f.get("name"), names[fid])

    def test_gdal_without_the_token_is_refused(self):
        cp = self.ogr("-so", self.dataset(), token=None)
        self.assertNotEqual(cp.returncode, 0, cp.stdout)
        self.assertIn("401", cp.stderr)
        cp = self.ogr("-so", self.dataset(), token="not-a-real-token-0123456789")
        self.assertNotEqual(cp.returncode, 0, cp.stdout)
        self.assertIn("401", cp.stderr)


class TestGdalLiechtenstein(GdalCase):
    """The Liechtenstein extract imported into an empty town."""
    WITH_DEMO = False

    def setUp(self):
        harness.require_file(LIECHTENSTEIN, "set PATROLGIS_SHARED: the Liechtenstein GDAL "
                             "check is skipped")
        harness.require_tool("osm2pgsql", "the Liechtenstein GDAL check is skipped")
        super().setUp()
        cp = run([IMPORT_OSM, LIECHTENSTEIN, self.url()],
                 env=clean_env({"PGCLIENTENCODING": "UTF8"}), timeout=600)
        if cp.returncode != 0:
            self.fail("geodata/import-osm failed (%d):\n%s%s" % (cp.returncode, cp.stdout,
                                                                  cp.stderr))
        self.assertEqual(self.count("schools", "source = 'osm' AND NOT from_node"), 32)
        self.assertEqual(self.count("stations", "source = 'osm'"), 4)

    def test_gdal_lists_and_reads_every_layer(self):
        self.check_gdal_reads_everything("Liechtenstein 2021-10-28")


class TestGdalTownWithOsm(TestGdalLiechtenstein):
    """The demo town first, then the Liechtenstein import: the hand-made rows come first."""
    WITH_DEMO = True

    def test_gdal_lists_and_reads_every_layer(self):
        self.check_gdal_reads_everything("demo town + Liechtenstein")

    def test_gdal_reads_osm_ids_intact(self):
        """OSM node ids pass 2^31. GDAL 3.6 guesses the field types from the first page
        (limit=10): a first page with small osm_ids makes osm_id a 32-bit Integer and the
        larger ids read later are clamped to 2147483647 ("Integer overflow" warnings). Checked
        against a mock server: GDAL 3.6.2 takes the types from an XML Schema linked from the
        collection with rel "describedBy" (that spelling) and type application/xml (osm_id
        xs:long -> Integer64); a JSON Schema (application/schema+json) does not help, its
        integers become 32-bit fields too."""
        for layer in ("schools", "waters", "stations"):
            with self.subTest(layer=layer):
                feats, warnings = self.gdal_features(layer)
                want = {int(i): o for i, o in self.psql("SELECT id, osm_id FROM %s" % layer)}
                bad = [(fid, f.get("osm_id"), want[fid]) for fid, f in sorted(feats.items())
                       if (f.get("osm_id") if f.get("osm_id") != "(null)" else None)
                       != want[fid]]
                self.assertEqual(bad, [], "GDAL read wrong osm_id values (id, GDAL, database); "
                                 "warnings: %r" % warnings)


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""Integration test of the OpenStreetMap import (geodata/import-osm, geodata/osm/patrolgis.lua,
geodata/osm/merge.sql) against a private PostgreSQL + PostGIS.

Environment:
  PATROLGIS_PGDIR   a folder managed by `sql/pgctl DIR ...` (default /tmp/pgit; started here
                    when it is not running, and then stopped again at the end)
  PATROLGIS_PGCTL   another pgctl (optional)
  PATROLGIS_SHARED  the shared folder with data/osm/*.osm.pbf (default <repo>/../shared)

Three parts:
  * SyntheticImportTest: a small OSM file written here (a fictional place, no outside data)
    with the cases the style and the merge must handle: repeated and duplicate-location
    nodes, a node missing from the extract, oneway/maxspeed spellings, closed-to-cars roads,
    a self-intersecting school, a multipolygon with a hole, school nodes, kind rules, unnamed
    objects; then a second version of the file (objects gone, renamed, moved, added) to check
    the re-import semantics: in-place updates, kept referenced rows, editor columns and
    props.osm_keep respected, hand-made rows untouched. Runs wherever osm2pgsql is installed.
  * LiechtensteinTest and HsinchuTest: the real extracts of ../shared/data/osm/ (counts,
    validity, node ids, idempotent re-import, Chinese names byte for byte against osmium).
    Skipped with a message when the files are not there (a clone without ../shared); under
    CI=true they fail instead (harness.require).

Each part uses its own fresh database (dropped at the end) and applies sql/migrations/*.sql
with psql. The measured counts and timings are printed to stderr.

Run:  PATROLGIS_PGDIR=/tmp/patrolgis-pg python3 -m unittest -v tests/integration/test_osm_import.py
"""

import glob
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGCTL = os.environ.get("PATROLGIS_PGCTL") or os.path.join(ROOT, "sql", "pgctl")
IMPORT_OSM = os.path.join(ROOT, "geodata", "import-osm")
PSQL = "/usr/lib/postgresql/15/bin/psql"
SHARED = os.environ.get("PATROLGIS_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
LIECHTENSTEIN = os.path.join(SHARED, "data", "osm", "liechtenstein-2021-10-28.osm.pbf")
HSINCHU = os.path.join(SHARED, "data", "osm", "hsinchu-nctu.osm.pbf")
SEP = "\x1f"

ENV = dict(os.environ, PGCLIENTENCODING="UTF8")

_cluster = {"dir": None, "started_here": False}


def run(cmd, check=True, env=None, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or ENV,
                       **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (
            " ".join(cmd), p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace")))
    return p


def setUpModule():
    harness.require_tool("osm2pgsql", "Debian: apt-get install osm2pgsql")
    pgdir = os.environ.get("PATROLGIS_PGDIR") or "/tmp/pgit"
    _cluster["dir"] = pgdir
    if run([PGCTL, pgdir, "status"], check=False).returncode != 0:
        run([PGCTL, pgdir, "start"])
        _cluster["started_here"] = True


def tearDownModule():
    if _cluster["started_here"]:
        run([PGCTL, _cluster["dir"], "stop"], check=False)


def fresh_db(name, migrations_upto=None):
    """pgctl createdb NAME, then sql/migrations/*.sql in order; returns the URL."""
    url = run([PGCTL, _cluster["dir"], "createdb", name]).stdout.decode().strip().splitlines()[-1]
    files = sorted(glob.glob(os.path.join(ROOT, "sql", "migrations", "*.sql")))
    if not files:
        raise AssertionError("no sql/migrations/*.sql")
    for f in files:
        if migrations_upto is not None and int(os.path.basename(f)[:4]) > migrations_upto:
            break
        run([PSQL, url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", f])
    return url


def drop_db(name):
    run([PGCTL, _cluster["dir"], "psql", "postgres", "-q", "-c",
         'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name], check=False)


def q(url, sql):
    """Run SQL, return stdout (unaligned, tuples only, fields separated by SEP)."""
    p = run([PSQL, url, "-X", "-q", "-At", "-F", SEP, "-v", "ON_ERROR_STOP=1", "-c", sql])
    return p.stdout.decode("utf-8").rstrip("\n")


def rows(url, sql):
    out = q(url, sql)
    return [line.split(SEP) for line in out.split("\n")] if out else []


def scalar(url, sql):
    return q(url, sql)


def import_osm(path, url, *opts, expect_ok=True):
    """Run geodata/import-osm; returns (report {(layer, metric): int}, stderr, seconds)."""
    t0 = time.monotonic()
    p = run([IMPORT_OSM, *opts, path, url], check=expect_ok)
    secs = time.monotonic() - t0
    report = {}
    for line in p.stdout.decode("utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            report[(parts[0], parts[1])] = int(parts[2])
    return report, p.stderr.decode("utf-8"), secs, p.returncode


# Everything the import owns, per table, to compare states (ids included).
SNAPSHOT_SQL = {
    "schools": "SELECT id, osm_type, osm_id, name, kind, from_node, md5(ST_AsEWKB(perimeter)), "
               "address, props::text, updated_at FROM schools ORDER BY id",
    "stations": "SELECT id, osm_type, osm_id, name, kind, md5(ST_AsEWKB(location)), phone, "
                "props::text, updated_at FROM stations ORDER BY id",
    "waters": "SELECT id, osm_type, osm_id, name, kind, md5(ST_AsEWKB(geom)), risk_level, "
              "props::text, updated_at FROM waters ORDER BY id",
    "roads": "SELECT id, osm_id, name, class, oneway, speed_kmh, md5(ST_AsEWKB(geom)), "
             "node_ids::text, props::text, updated_at FROM roads ORDER BY id",
}


def snapshot(url):
    return {t: q(url, sql) for t, sql in SNAPSHOT_SQL.items()}


def generations(url):
    return q(url, "SELECT layer, generation FROM layer_generations ORDER BY layer")


class ImportChecks:
    """Checks shared by the real-extract tests (mixed into TestCase classes)."""

    def assert_all_valid(self, url):
        bad = rows(url, """
            SELECT 'schools', id FROM schools
             WHERE source = 'osm' AND (NOT ST_IsValid(perimeter) OR ST_IsEmpty(perimeter)
                   OR GeometryType(perimeter) <> 'MULTIPOLYGON')
            UNION ALL SELECT 'stations', id FROM stations
             WHERE source = 'osm' AND (NOT ST_IsValid(location) OR GeometryType(location) <> 'POINT')
            UNION ALL SELECT 'waters', id FROM waters
             WHERE source = 'osm' AND (NOT ST_IsValid(geom) OR ST_IsEmpty(geom)
                   OR GeometryType(geom) NOT IN ('POLYGON', 'MULTIPOLYGON', 'LINESTRING'))
            UNION ALL SELECT 'roads', id FROM roads
             WHERE source = 'osm' AND (NOT ST_IsValid(geom) OR GeometryType(geom) <> 'LINESTRING'
                   OR ST_SRID(geom) <> 4326)""")
        self.assertEqual(bad, [], "invalid or mistyped imported geometries")

    def assert_node_ids_consistent(self, url):
        self.assertEqual(scalar(url, """
            SELECT count(*) FROM roads
             WHERE source = 'osm' AND (node_ids IS NULL OR array_ndims(node_ids) <> 1
                   OR cardinality(node_ids) <> ST_NPoints(geom)
                   OR cardinality(node_ids) < 2)"""), "0")
        # consecutive vertices never repeat a location or a node id
        self.assertEqual(scalar(url, """
            SELECT count(*) FROM roads r,
                   generate_series(1, cardinality(r.node_ids) - 1) AS i
             WHERE r.source = 'osm'
               AND (r.node_ids[i] = r.node_ids[i + 1]
                    OR ST_Equals(ST_PointN(r.geom, i), ST_PointN(r.geom, i + 1)))"""), "0")
        # the same node id is at the same place in every way (the graph can be split on ids)
        self.assertEqual(scalar(url, """
            WITH v AS (
                SELECT r.node_ids[i] AS nid, ST_AsEWKB(ST_PointN(r.geom, i)) AS g
                  FROM roads r, generate_series(1, cardinality(r.node_ids)) AS i
                 WHERE r.source = 'osm')
            SELECT count(*) FROM (SELECT nid FROM v GROUP BY nid
                                  HAVING count(DISTINCT g) > 1) x"""), "0")

    def osmium_objects(self, path, ids):
        """{'n123': {tags}, ...} for the given ids, as osmium reads them (skips without
        osmium)."""
        harness.require_tool("osmium", "Debian: osmium-tool; tags not compared")
        p = run(["osmium", "getid", "-f", "osm", "-o", "-", path, *ids])
        out = {}
        for el in ET.fromstring(p.stdout):
            if el.tag in ("node", "way", "relation"):
                out[el.tag[0] + el.get("id")] = {t.get("k"): t.get("v") for t in el.iter("tag")}
        return out


# ---------------------------------------------------------------------------------------------
# A synthetic OSM file
# ---------------------------------------------------------------------------------------------

LON0, LAT0 = 113.0, 28.0
M_PER_DEG_LAT = 111320.0
M_PER_DEG_LON = 111320.0 * math.cos(math.radians(LAT0))


def ll(x, y):
    """Local metres (x east, y north) -> (lon, lat) rounded to OSM's 7 decimals."""
    return (round(LON0 + x / M_PER_DEG_LON, 7), round(LAT0 + y / M_PER_DEG_LAT, 7))


class OsmFile:
    def __init__(self):
        self.nodes = {}      # id -> (lon, lat, tags)
        self.ways = {}       # id -> (refs, tags)
        self.relations = {}  # id -> (members [(type, ref, role)], tags)

    def node(self, nid, x, y, **tags):
        lon, lat = ll(x, y)
        self.nodes[nid] = (lon, lat, tags)

    def square(self, first_nid, x, y, size):
        """Four nodes of a square (SW corner x, y); returns the closed ref list."""
        pts = [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
        for i, (px, py) in enumerate(pts):
            self.node(first_nid + i, px, py)
        return [first_nid, first_nid + 1, first_nid + 2, first_nid + 3, first_nid]

    def way(self, wid, refs, **tags):
        self.ways[wid] = (refs, tags)

    def relation(self, rid, members, **tags):
        self.relations[rid] = (members, tags)

    def write(self, path):
        def tag_xml(tags):
            return "".join('  <tag k=%s v=%s/>\n' % (quoteattr(k.replace("__", ":")),
                                                       quoteattr(v))
                           for k, v in sorted(tags.items()))
        out = ["<?xml version='1.0' encoding='UTF-8'?>\n",
               '<osm version="0.6" generator="test_osm_import.py">\n']
        for nid in sorted(self.nodes):
            lon, lat, tags = self.nodes[nid]
            if tags:
                out.append(' <node id="%d" version="1" lat="%.7f" lon="%.7f">\n%s </node>\n'
                           % (nid, lat, lon, tag_xml(tags)))
            else:
                out.append(' <node id="%d" version="1" lat="%.7f" lon="%.7f"/>\n'
                           % (nid, lat, lon))
        for wid in sorted(self.ways):
            refs, tags = self.ways[wid]
            out.append(' <way id="%d" version="1">\n' % wid)
            out.extend('  <nd ref="%d"/>\n' % r for r in refs)
            out.append(tag_xml(tags) + " </way>\n")
        for rid in sorted(self.relations):
            members, tags = self.relations[rid]
            out.append(' <relation id="%d" version="1">\n' % rid)
            out.extend('  <member type="%s" ref="%d" role="%s"/>\n' % m for m in members)
            out.append(tag_xml(tags) + " </relation>\n")
        out.append("</osm>\n")
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(out))


def synthetic(version):
    """The test place. version 2: some objects gone, renamed, moved or added."""
    o = OsmFile()
    # -- roads along y = 0 (nodes 1..20) ---------------------------------------------------
    o.node(1, 0, 0)
    o.node(2, 100, 10 if version == 2 else 0)  # v2: moved 10 m north
    o.node(3, 200, 0)
    o.node(4, 300, 0)
    o.node(5, 300, 0)  # a second node at node 4's location (a duplicate node)
    o.node(6, 400, 0)
    o.node(7, 500, 0)
    o.node(8, 600, 0)
    o.node(10, 700, 100)
    o.node(11, 750, 150)
    o.node(12, 700, 200)
    o.node(13, 800, 0)
    o.node(14, 900, 0)
    o.node(15, 1000, 0)
    o.node(16, 1100, 0)
    o.node(17, 1200, 0)
    o.node(18, 1300, 0)
    o.node(19, 1400, 0)
    o.node(20, 1400, 0)  # same location as 19
    o.node(21, 1500, 0)
    # node 999 is referenced by way 3 but is not in the file
    o.way(1, [1, 2, 2, 3], highway="residential", name="学府路")         # repeated node id
    o.way(2, [3, 4, 5, 6], highway="secondary", name="南街", oneway="-1",
          maxspeed="50 km/h")                                            # duplicate location
    o.way(3, [6, 999, 7], highway="unclassified")                        # missing node
    o.way(4, [7, 8], highway="primary", maxspeed="30 mph", ref="S208")
    o.way(5, [10, 11, 12, 10], highway="tertiary", junction="roundabout", maxspeed="CH:urban")
    o.way(6, [8, 13], highway="motorway", oneway="no")
    o.way(7, [13, 14], highway="motorway", maxspeed="120")
    o.way(8, [14, 15], highway="service", access="no")                   # closed to cars
    if version == 1:
        o.way(9, [15, 16], highway="service", access="no", motorcar="yes")
    o.way(10, [16, 17], highway="track")                                 # only with --tracks
    o.way(11, [17], highway="residential")                               # one node
    o.way(12, [17, 18], highway="residential", oneway="reversible", maxspeed="none")
    o.way(13, [19, 20], highway="residential")                           # zero length
    o.way(14, [20, 21], highway="living_street", oneway="true", maxspeed="250")
    o.way(15, [18, 19], highway="footway")                               # not drivable
    # -- schools (nodes 100..) ------------------------------------------------------------
    o.way(20, o.square(100, 0, 100, 80), amenity="school",
          name="青石镇第一中心小学" if version == 2 else "青石镇中心小学",
          addr__city="青石镇", addr__street="学府路", addr__housenumber="1号")
    if version == 1:
        o.way(21, o.square(110, 100, 100, 80), amenity="school", name="青石镇中学")
        o.way(23, o.square(130, 300, 100, 60), amenity="school", **{"isced:level": "2;3"})
    # a bow tie: self-intersecting ring (osm2pgsql builds no polygon from it)
    o.node(120, 200, 300)
    o.node(121, 260, 360)
    o.node(122, 260, 300)
    o.node(123, 200, 360)
    o.way(22, [120, 121, 122, 123, 120], amenity="school", name="蝴蝶小学")
    o.way(24, o.square(140, 400, 100, 60), amenity="school", grades="1-6")
    o.way(25, o.square(150, 500, 100, 60), amenity="school", name="新华培训学校")
    o.node(160, 600, 100)
    o.node(161, 660, 100)
    o.way(26, [160, 161], amenity="school", name="断线小学")           # not closed: skipped
    if version == 2:
        o.way(27, o.square(170, 700, 300, 50), amenity="school", name="新建小学")
    o.node(30, 50, 250, amenity="kindergarten", name="阳光幼儿园", phone="0731-85550001")
    o.node(31, 150, 250, amenity="school", name="Sekundarschule Test")
    # multipolygon with a hole: outer 100 m square, inner 40 m square
    o.way(41, o.square(180, 0, 400, 100))
    o.way(42, o.square(190, 30, 430, 40))
    o.relation(40, [("way", 41, "outer"), ("way", 42, "inner")], type="multipolygon",
               amenity="school", name="河西小学", **{"name:en": "Hexi Primary School"})
    # -- police (nodes 200..) -------------------------------------------------------------
    o.node(50, 0, -100, amenity="police", name="青石镇派出所", phone="0731-85550110")
    o.way(51, o.square(200, 100, -200, 40), amenity="police", name="云岭警务室")
    # -- waters (nodes 300..) -------------------------------------------------------------
    o.way(60, o.square(300, 0, -400, 50), natural="water", water="pond", name="荷花塘")
    o.way(61, o.square(310, 100, -400, 30), natural="water")             # 900 m²: pond
    o.way(62, o.square(320, 200, -600, 200), natural="water")            # 4 ha: lake
    for i in range(5):
        o.node(330 + i, i * 200, -800)
    o.way(63, [330, 331, 332, 333, 334], waterway="river", name="青石河")
    o.way(64, [330, 331], waterway="ditch")                              # not imported
    o.way(65, o.square(340, 600, -600, 100), landuse="reservoir", name="云岭水库")
    o.way(66, [332, 333], waterway="stream")
    return o


class SyntheticImportTest(unittest.TestCase):
    DB = "it_osm_synth"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="it_osm_")
        cls.v1 = os.path.join(cls.tmp, "v1.osm")
        cls.v2 = os.path.join(cls.tmp, "v2.osm")
        synthetic(1).write(cls.v1)
        synthetic(2).write(cls.v2)
        cls.url = fresh_db(cls.DB)
        cls.report1, cls.stderr1, _, _ = import_osm(cls.v1, cls.url)

    @classmethod
    def tearDownClass(cls):
        drop_db(cls.DB)
        drop_db(cls.DB + "_old")
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def road(self, osm_id):
        r = rows(self.url, "SELECT name, class, oneway, speed_kmh, node_ids::text, "
                           "ST_NPoints(geom), coalesce(props ->> 'missing_nodes', '') "
                           "FROM roads WHERE source = 'osm' AND osm_id = %d" % osm_id)
        return r[0] if r else None

    def school(self, osm_type, osm_id):
        r = rows(self.url, "SELECT id, name, kind, from_node, address, props::text "
                           "FROM schools WHERE source = 'osm' AND osm_type = '%s' "
                           "AND osm_id = %d" % (osm_type, osm_id))
        return r[0] if r else None

    # -- roads --------------------------------------------------------------------------

    def test_01_roads_node_ids_one_per_vertex(self):
        self.assertEqual(self.road(1)[4], "{1,2,3}")      # repeated id 2 once
        self.assertEqual(self.road(2)[4], "{3,4,6}")      # node 5 sits on node 4
        r3 = self.road(3)
        self.assertEqual(r3[4], "{6,7}")                  # node 999 is not in the file
        self.assertEqual(r3[6], "1")                      # props.missing_nodes
        self.assertEqual(self.road(5)[4], "{10,11,12,10}")  # closed roundabout
        self.assertEqual(scalar(self.url, "SELECT count(*) FROM roads "
                                          "WHERE cardinality(node_ids) <> ST_NPoints(geom)"), "0")
        # the vertices are the nodes' own coordinates
        lon, lat = ll(300, 0)
        xy = rows(self.url, "SELECT ST_X(ST_PointN(geom, 2)), ST_Y(ST_PointN(geom, 2)) "
                            "FROM roads WHERE osm_id = 2 AND source = 'osm'")[0]
        self.assertEqual((float(xy[0]), float(xy[1])), (lon, lat))  # exactly

    def test_02_roads_selection(self):
        have = sorted(int(x) for x in q(self.url, "SELECT osm_id FROM roads "
                                                  "WHERE source = 'osm'").split())
        # 8 access=no, 10 track, 11 one node, 13 zero length, 15 footway: not there
        self.assertEqual(have, [1, 2, 3, 4, 5, 6, 7, 9, 12, 14])
        self.assertEqual(self.report1[("roads", "skipped_no_geometry")], 2)
        self.assertEqual(self.report1[("roads", "with_missing_nodes")], 1)

    def test_03_oneway_and_speed(self):
        expect = {  # osm_id: (oneway, speed)
            1: ("0", ""), 2: ("-1", "50"), 4: ("0", "48.28032"),
            5: ("1", ""), 6: ("0", ""), 7: ("1", "120"), 12: ("0", ""), 14: ("1", ""),
        }
        for osm_id, (oneway, speed) in expect.items():
            with self.subTest(osm_id=osm_id):
                r = self.road(osm_id)
                self.assertEqual(r[2], oneway)
                if speed:
                    self.assertAlmostEqual(float(r[3]), float(speed), places=6)
                else:
                    self.assertEqual(r[3], "")
        self.assertEqual(self.road(4)[0], "S208")  # no name: the ref

    # -- schools ------------------------------------------------------------------------

    def test_04_school_kinds_names_and_flags(self):
        expect = {  # (type, id): (name, kind, from_node)
            ("way", 20): ("青石镇中心小学", "central_primary", "f"),
            ("way", 21): ("青石镇中学", "middle", "f"),
            ("way", 22): ("蝴蝶小学", "primary", "f"),
            ("way", 23): ("未命名学校", "middle", "f"),
            ("way", 24): ("未命名学校", "primary", "f"),
            ("way", 25): ("新华培训学校", "training", "f"),
            ("relation", 40): ("河西小学", "primary", "f"),
            ("node", 30): ("阳光幼儿园", "kindergarten", "t"),
            ("node", 31): ("Sekundarschule Test", "middle", "t"),
        }
        have = {(r[0], int(r[1])): (r[2], r[3], r[4]) for r in rows(
            self.url, "SELECT osm_type, osm_id, name, kind, from_node FROM schools "
                      "WHERE source = 'osm'")}
        self.assertEqual(have, expect)
        props = json.loads(self.school("way", 23)[5])
        self.assertEqual(props["unnamed"], True)
        self.assertEqual(props["kind_rule"], "isced:level=2;3")
        self.assertEqual(json.loads(self.school("way", 24)[5])["kind_rule"], "grades=1-6")
        self.assertEqual(self.school("way", 20)[4], "青石镇学府路1号")
        self.assertIn("断线小学", self.stderr1)  # the unclosed way: a warning, no row
        self.assertEqual(self.report1[("schools", "skipped_no_geometry")], 1)

    def test_05_school_geometry(self):
        # node -> 30 m circle around the node; repaired bow tie; polygon with hole
        r = rows(self.url, """
            SELECT ST_Area(perimeter::geography), props ->> 'buffer_m',
                   ST_Distance(ST_Centroid(perimeter)::geography,
                               ST_SetSRID(ST_MakePoint(%r, %r), 4326)::geography)
              FROM schools WHERE osm_type = 'node' AND osm_id = 30""" % ll(50, 250))[0]
        self.assertTrue(2700 < float(r[0]) < 2830, r)
        self.assertEqual(r[1], "30")
        self.assertLess(float(r[2]), 0.5)
        bow = rows(self.url, "SELECT props ->> 'repaired', ST_NumGeometries(perimeter), "
                             "ST_IsValid(perimeter) FROM schools "
                             "WHERE osm_type = 'way' AND osm_id = 22")[0]
        self.assertEqual(bow, ["true", "2", "t"])
        self.assertEqual(self.report1[("schools", "repaired")], 1)
        hole = rows(self.url, "SELECT ST_NumInteriorRings(ST_GeometryN(perimeter, 1)), "
                              "round(ST_Area(perimeter::geography)), props ->> 'name_en' "
                              "FROM schools WHERE osm_type = 'relation' AND osm_id = 40")[0]
        self.assertEqual(hole[0], "1")
        self.assertTrue(8300 < float(hole[1]) < 8500, hole)  # 100² - 40²
        self.assertEqual(hole[2], "Hexi Primary School")
        self.assertEqual(scalar(self.url, "SELECT count(*) FROM schools WHERE "
                                          "NOT ST_IsValid(perimeter)"), "0")

    # -- stations and waters -------------------------------------------------------------

    def test_06_stations(self):
        have = {(r[0], int(r[1])): r[2:] for r in rows(self.url, """
            SELECT osm_type, osm_id, name, kind, coalesce(phone, ''),
                   ST_Within(location, ST_MakeEnvelope(%r, %r, %r, %r, 4326))
              FROM stations WHERE source = 'osm'""" % (*ll(100, -200), *ll(140, -160)))}
        self.assertEqual(have[("node", 50)][:3], ["青石镇派出所", "police_station",
                                                  "0731-85550110"])
        self.assertEqual(have[("way", 51)], ["云岭警务室", "patrol_base", "", "t"])

    def test_07_waters(self):
        have = {(r[0], int(r[1])): r[2:] for r in rows(self.url, """
            SELECT osm_type, osm_id, name, kind, GeometryType(geom), risk_level,
                   props ->> 'kind_rule', season_start || '..' || season_end
              FROM waters WHERE source = 'osm'""")}
        self.assertEqual(have, {
            ("way", 60): ["荷花塘", "pond", "POLYGON", "2", "water=pond", "05-01..10-31"],
            ("way", 61): ["未命名池塘", "pond", "POLYGON", "2", "area<1ha", "05-01..10-31"],
            ("way", 62): ["未命名湖泊", "lake", "POLYGON", "3", "area>=1ha", "05-01..10-31"],
            ("way", 63): ["青石河", "river", "LINESTRING", "3", "waterway=river",
                          "05-01..10-31"],
            ("way", 65): ["云岭水库", "reservoir", "POLYGON", "3", "landuse=reservoir",
                          "05-01..10-31"],
            ("way", 66): ["未命名溪流", "stream", "LINESTRING", "2", "waterway=stream",
                          "05-01..10-31"],
        })

    # -- re-import ------------------------------------------------------------------------

    def test_08_reimport_semantics(self):
        url = self.url
        # an identical re-import changes nothing at all: rows, audit, generations
        before, gens = snapshot(url), generations(url)
        audit = scalar(url, "SELECT count(*) FROM audit_log")
        rep, _, _, _ = import_osm(self.v1, url)
        self.assertEqual(snapshot(url), before)
        self.assertEqual(generations(url), gens)
        self.assertEqual(scalar(url, "SELECT count(*) FROM audit_log"), audit)
        for layer in ("schools", "stations", "waters", "roads"):
            for metric in ("inserted", "updated", "deleted", "kept_referenced"):
                self.assertEqual(rep[(layer, metric)], 0, (layer, metric))

        # hand-made rows (one with the same OSM key as an imported school), references to
        # imported schools, editor changes
        q(url, """
            INSERT INTO schools (name, kind, perimeter, source, osm_type, osm_id)
            VALUES ('手工录入学校', 'primary',
                    ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(113.01, 28.01), 4326), 0.0005)),
                    'manual', 'way', 21);
            INSERT INTO roads (class, geom, node_ids, osm_id, source)
            VALUES ('residential', 'SRID=4326;LINESTRING(113.02 28.02, 113.021 28.02)',
                    '{1,2}', 1, 'demo');
            INSERT INTO patrol_points (name, kind, school_id, location)
            SELECT '中学正门', 'gate', id, ST_PointOnSurface(perimeter) FROM schools
             WHERE source = 'osm' AND osm_type = 'way' AND osm_id = 21;
            INSERT INTO inspections (school_id, inspected_at, inspector)
            SELECT id, now(), '测试检查员' FROM schools
             WHERE source = 'osm' AND osm_type = 'way' AND osm_id = 21;
            UPDATE waters SET risk_level = 1, season_start = NULL, season_end = NULL
             WHERE source = 'osm' AND osm_id = 63;
            UPDATE stations SET name = '青石镇派出所(总部)',
                   props = props || '{"osm_keep": ["name"], "note": "editor"}'
             WHERE source = 'osm' AND osm_id = 50;
            UPDATE schools SET boarding = true, contacts = '[{"name": "王老师"}]'
             WHERE source = 'osm' AND osm_type = 'way' AND osm_id = 20;""")
        manual = q(url, "SELECT to_jsonb(s) FROM schools s WHERE source = 'manual' "
                        "UNION ALL SELECT to_jsonb(r) FROM roads r WHERE source = 'demo'")
        ids = dict((tuple(r[1:]), r[0]) for r in rows(
            url, "SELECT id, osm_type, osm_id FROM schools WHERE source = 'osm'"))
        road1 = scalar(url, "SELECT id FROM roads WHERE source = 'osm' AND osm_id = 1")

        rep, err, _, _ = import_osm(self.v2, url)
        self.assertEqual(rep[("schools", "updated")], 1)           # w20 renamed
        self.assertEqual(rep[("schools", "inserted")], 1)          # w27
        self.assertEqual(rep[("schools", "deleted")], 1)           # w23
        self.assertEqual(rep[("schools", "kept_referenced")], 1)   # w21
        self.assertEqual(rep[("roads", "updated")], 1)             # w1: node 2 moved
        self.assertEqual(rep[("roads", "deleted")], 1)             # w9
        self.assertEqual(rep[("stations", "updated")], 0)          # pinned name
        self.assertEqual(rep[("waters", "updated")], 0)
        self.assertIn("is no longer in OSM but is referenced", err)
        self.assertIn("青石镇中学", err)

        s20 = self.school("way", 20)
        self.assertEqual(s20[0], ids[("way", "20")])                # updated in place
        self.assertEqual(s20[1], "青石镇第一中心小学")
        self.assertEqual(scalar(url, "SELECT boarding::text || contacts::text FROM schools "
                                     "WHERE id = %s" % s20[0]), 'true[{"name": "王老师"}]')
        s21 = self.school("way", 21)
        self.assertEqual(s21[0], ids[("way", "21")])
        self.assertEqual(json.loads(s21[5]).get("osm_missing"), True)
        self.assertIsNone(self.school("way", 23))
        self.assertIsNotNone(self.school("way", 27))
        r1 = rows(url, "SELECT id, ST_Y(ST_PointN(geom, 2)) FROM roads "
                       "WHERE source = 'osm' AND osm_id = 1")[0]
        self.assertEqual((r1[0], float(r1[1])), (road1, ll(100, 10)[1]))  # moved in place
        self.assertEqual(scalar(url, "SELECT count(*) FROM patrol_points p JOIN schools s "
                                     "ON s.id = p.school_id WHERE s.osm_id = 21 "
                                     "AND s.source = 'osm'"), "1")
        self.assertEqual(q(url, "SELECT to_jsonb(s) FROM schools s WHERE source = 'manual' "
                                "UNION ALL SELECT to_jsonb(r) FROM roads r "
                                "WHERE source = 'demo'"), manual)
        self.assertEqual(scalar(url, "SELECT risk_level || coalesce(season_start, '-') "
                                     "FROM waters WHERE source = 'osm' AND osm_id = 63"), "1-")
        st = rows(url, "SELECT name, props ->> 'note', props -> 'osm' ->> 'id' FROM stations "
                       "WHERE source = 'osm' AND osm_id = 50")[0]
        self.assertEqual(st, ["青石镇派出所(总部)", "editor", "50"])

        # back to v1: w21 is in OSM again (flag cleared), w23 and w9 come back as new rows
        rep, _, _, _ = import_osm(self.v1, url)
        self.assertEqual(rep[("schools", "inserted")], 1)
        self.assertEqual(rep[("schools", "deleted")], 1)           # w27
        s21 = self.school("way", 21)
        self.assertEqual(s21[0], ids[("way", "21")])
        self.assertNotIn("osm_missing", json.loads(s21[5]))
        self.assertEqual(self.school("way", 20)[1], "青石镇中心小学")
        self.assertEqual(self.road(9)[1], "service")

    def test_09_tracks_option(self):
        rep, _, _, _ = import_osm(self.v1, self.url, "--tracks")
        self.assertEqual(rep[("roads", "inserted")], 1)
        self.assertEqual(self.road(10)[1], "track")
        rep, _, _, _ = import_osm(self.v1, self.url)
        self.assertEqual(rep[("roads", "deleted")], 1)
        self.assertIsNone(self.road(10))

    def test_10_refuses_old_schema_and_leaves_no_trace(self):
        url = fresh_db(self.DB + "_old", migrations_upto=4)
        _, err, _, rc = import_osm(self.v1, url, expect_ok=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("0005_osm_import", err)
        self.assertEqual(scalar(url, "SELECT count(*) FROM pg_namespace "
                                     "WHERE nspname = 'osm_import'"), "0")
        self.assertEqual(scalar(self.url, "SELECT count(*) FROM pg_namespace "
                                          "WHERE nspname = 'osm_import'"), "0")


# ---------------------------------------------------------------------------------------------
# Real extracts
# ---------------------------------------------------------------------------------------------

def need(path):
    harness.require(os.path.isfile(path),
                    "%s is missing: the real OSM extracts live in the shared folder next to "
                    "the repository (PATROLGIS_SHARED, default <repo>/../shared), which a plain "
                    "clone does not have" % path)


def counts(url):
    """The figures for the issue's closing note."""
    r = rows(url, """
        SELECT 'school polygons', count(*) FROM schools WHERE source = 'osm' AND NOT from_node
        UNION ALL SELECT '  of which kindergartens', count(*) FROM schools
         WHERE source = 'osm' AND NOT from_node AND kind = 'kindergarten'
        UNION ALL SELECT 'school nodes (30 m circles)', count(*) FROM schools
         WHERE source = 'osm' AND from_node
        UNION ALL SELECT '  of which kindergartens', count(*) FROM schools
         WHERE source = 'osm' AND from_node AND kind = 'kindergarten'
        UNION ALL SELECT 'police stations', count(*) FROM stations WHERE source = 'osm'
        UNION ALL SELECT 'water polygons', count(*) FROM waters
         WHERE source = 'osm' AND ST_Dimension(geom) = 2
        UNION ALL SELECT 'water lines', count(*) FROM waters
         WHERE source = 'osm' AND ST_Dimension(geom) = 1
        UNION ALL SELECT 'road ways', count(*) FROM roads WHERE source = 'osm'
        UNION ALL SELECT 'road km', round(sum(ST_Length(geom::geography)) / 1000)
          FROM roads WHERE source = 'osm'""")
    return [(a, int(b)) for a, b in r]


def print_counts(title, url, secs):
    sys.stderr.write("\n%s (first import %.2f s):\n" % (title, secs))
    for name, value in counts(url):
        sys.stderr.write("  %-30s %6d\n" % (name, value))


class LiechtensteinTest(unittest.TestCase, ImportChecks):
    DB = "it_osm"

    @classmethod
    def setUpClass(cls):
        need(LIECHTENSTEIN)
        cls.url = fresh_db(cls.DB)
        cls.report, cls.stderr, cls.secs, _ = import_osm(LIECHTENSTEIN, cls.url)
        print_counts("Liechtenstein", cls.url, cls.secs)

    @classmethod
    def tearDownClass(cls):
        drop_db(cls.DB)

    def test_schools(self):
        by = dict(((r[0], r[1]), int(r[2])) for r in rows(self.url, """
            SELECT from_node::text, kind = 'kindergarten', count(*) FROM schools
             WHERE source = 'osm' GROUP BY 1, 2"""))
        self.assertEqual(by.get(("false", "f")), 19)  # school polygons
        self.assertEqual(by.get(("false", "t")), 13)  # kindergarten polygons
        self.assertEqual(by.get(("true", "f"), 0) + by.get(("true", "t"), 0), 8)
        nodes = rows(self.url, """
            SELECT osm_type, props ->> 'buffer_m', ST_Area(perimeter::geography)
              FROM schools WHERE source = 'osm' AND from_node""")
        for osm_type, buffer_m, area in nodes:
            self.assertEqual((osm_type, buffer_m), ("node", "30"))
            self.assertTrue(2700 < float(area) < 2830, area)
        names = set(q(self.url, "SELECT name FROM schools WHERE source = 'osm'").split("\n"))
        for n in ("Primarschule Triesenberg", "Primarschule Schellenberg",
                  "Kleinschule Planken", "Weiterführende Schulen Triesen"):
            self.assertIn(n, names)

    def test_stations(self):
        self.assertEqual(sorted(q(self.url, "SELECT name FROM stations WHERE source = 'osm'")
                                .split("\n")),
                         ["Gemeindepolizei Eschen", "Gemeindepolizei Schellenberg",
                          "Gemeindepolizei Vaduz", "Landespolizei"])

    def test_waters(self):
        poly = int(scalar(self.url, "SELECT count(*) FROM waters WHERE source = 'osm' "
                                    "AND ST_Dimension(geom) = 2"))
        self.assertGreater(poly, 100)
        rhine = rows(self.url, "SELECT count(*), sum(ST_Length(geom::geography)) FROM waters "
                               "WHERE source = 'osm' AND name = 'Rhein' AND kind = 'river' "
                               "AND ST_Dimension(geom) = 1")[0]
        self.assertGreaterEqual(int(rhine[0]), 1)
        self.assertGreater(float(rhine[1]), 20000)  # the Rhine along the whole border

    def test_roads(self):
        n = int(scalar(self.url, "SELECT count(*) FROM roads WHERE source = 'osm'"))
        self.assertTrue(3500 <= n <= 3800, n)
        self.assertEqual(self.report[("roads", "inserted")], n)
        self.assert_node_ids_consistent(self.url)
        # the network is connected through shared node ids (junctions)
        junctions = int(scalar(self.url, """
            SELECT count(*) FROM (SELECT nid FROM roads, unnest(node_ids) AS nid
                                   WHERE source = 'osm' GROUP BY nid HAVING count(*) > 1) x"""))
        self.assertGreater(junctions, 2000)

    def test_all_geometries_valid(self):
        self.assert_all_valid(self.url)

    def test_reimport_keeps_ids_and_hand_made_rows(self):
        url = self.url
        q(url, """
            INSERT INTO schools (name, kind, perimeter, props)
            VALUES ('手工录入学校', 'primary',
                    ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(9.52, 47.16), 4326), 0.0005)),
                    '{"manual": true}');
            INSERT INTO patrol_points (name, kind, school_id, location)
            SELECT 'Haupteingang', 'gate', id, ST_PointOnSurface(perimeter) FROM schools
             WHERE source = 'osm' AND name = 'Primarschule Triesenberg';""")
        before = snapshot(url)
        gens = generations(url)
        manual = q(url, "SELECT to_jsonb(s) FROM schools s WHERE source <> 'osm'")
        point = q(url, "SELECT to_jsonb(p) FROM patrol_points p")
        t0 = time.monotonic()
        rep, _, secs, _ = import_osm(LIECHTENSTEIN, url)
        sys.stderr.write("Liechtenstein re-import: %.2f s (%.2f s in the test)\n"
                         % (secs, time.monotonic() - t0))
        for layer in ("schools", "stations", "waters", "roads"):
            for metric in ("inserted", "updated", "deleted", "kept_referenced"):
                self.assertEqual(rep[(layer, metric)], 0, (layer, metric))
        self.assertEqual(snapshot(url), before)  # same ids, same rows, same updated_at
        self.assertEqual(generations(url), gens)
        self.assertEqual(q(url, "SELECT to_jsonb(s) FROM schools s WHERE source <> 'osm'"),
                         manual)
        self.assertEqual(q(url, "SELECT to_jsonb(p) FROM patrol_points p"), point)
        self.assertEqual(scalar(url, "SELECT s.name FROM patrol_points p "
                                     "JOIN schools s ON s.id = p.school_id"),
                         "Primarschule Triesenberg")


class HsinchuTest(unittest.TestCase, ImportChecks):
    DB = "it_osm_hsinchu"

    @classmethod
    def setUpClass(cls):
        need(HSINCHU)
        cls.url = fresh_db(cls.DB)
        cls.report, cls.stderr, cls.secs, _ = import_osm(HSINCHU, cls.url)
        print_counts("Hsinchu (NCTU)", cls.url, cls.secs)

    @classmethod
    def tearDownClass(cls):
        drop_db(cls.DB)

    def test_counts(self):
        c = dict(counts(self.url))
        self.assertEqual(c["school polygons"], 6)
        self.assertEqual(c["school nodes (30 m circles)"], 3)
        self.assertEqual(c["police stations"], 1)
        self.assertTrue(600 <= c["road ways"] <= 750, c["road ways"])
        # the clip cut a school relation and a school way: skipped with a warning
        self.assertEqual(self.report[("schools", "skipped_no_geometry")], 2)
        self.assertIn("國立新竹高級中學", self.stderr)

    def test_chinese_names_byte_for_byte(self):
        want = {  # OSM object: (table, name, kind)
            "r6045566": ("schools", "光武國中", "middle"),
            "w582786460": ("schools", "關埔國小", "primary"),
            "n1731981019": ("stations", "埔頂派出所", "police_station"),
        }
        types = {"n": "node", "w": "way", "r": "relation"}
        stored_tags = {}
        for key, (table, name, kind) in want.items():
            with self.subTest(key=key):
                r = rows(self.url, """
                    SELECT encode(convert_to(name, 'UTF8'), 'hex'), kind,
                           (props -> 'osm' -> 'tags')::text
                      FROM %s WHERE source = 'osm' AND osm_type = '%s' AND osm_id = %s"""
                         % (table, types[key[0]], key[1:]))
                self.assertEqual(len(r), 1, key)
                self.assertEqual(bytes.fromhex(r[0][0]), name.encode("utf-8"))
                self.assertEqual(r[0][1], kind)
                stored_tags[key] = json.loads(r[0][2])
        # every tag of those objects, as osmium reads the file
        ref = self.osmium_objects(HSINCHU, list(want))
        for key in want:
            self.assertEqual(stored_tags[key], ref[key], key)
            self.assertEqual(ref[key]["name"], want[key][1])

    def test_all_geometries_valid(self):
        self.assert_all_valid(self.url)
        self.assert_node_ids_consistent(self.url)

    def test_reimport_identical(self):
        before = snapshot(self.url)
        rep, _, _, _ = import_osm(HSINCHU, self.url)
        self.assertEqual(rep[("schools", "inserted")] + rep[("schools", "updated")], 0)
        self.assertEqual(snapshot(self.url), before)


if __name__ == "__main__":
    harness.main()

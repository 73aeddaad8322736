#!/usr/bin/env python3
"""Integration test of the demo town 青石镇 (geodata/demo_town.py, geodata/load-demo).

Uses PATROLGIS_PGDIR, a folder managed by `sql/pgctl DIR ...` (default /tmp/pgit, as in
harness.py; started here when it is not running, and then stopped again at the end;
PATROLGIS_PGCTL may name another pgctl). The test creates a fresh database `demo_test`
(with pgRouting), applies sql/migrations/*.sql in order, loads the demo town twice and checks
the result with SQL: kinds of schools, valid geometry, gates on perimeters and near roads,
windows for every point, a connected road graph (pgRouting), the 1-3-5 minute classes by
pgr_dijkstra from the police station, and that Chinese text survives the round trip.

Run:  PATROLGIS_PGDIR=/tmp/patrolgis-pg python3 -m unittest -v tests/integration/test_demo_town.py
"""

import glob
import os
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGCTL = os.environ.get("PATROLGIS_PGCTL") or os.path.join(ROOT, "sql", "pgctl")
LOAD_DEMO = os.path.join(ROOT, "geodata", "load-demo")
PSQL = "/usr/lib/postgresql/15/bin/psql"
DB = "demo_test"
SEP = "\x1f"

sys.dont_write_bytecode = True  # keep geodata/ free of __pycache__
sys.path.insert(0, os.path.join(ROOT, "geodata"))
import demo_town  # noqa: E402  (the generator: its names are the expected values)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ENV = dict(os.environ, PGCLIENTENCODING="UTF8")

# Road edges of the demo network for pgRouting: source/target from node_ids, cost in seconds,
# oneway respected (1: only along the geometry, -1: only against it).
EDGES_SQL = """
SELECT id,
       node_ids[1] AS source,
       node_ids[array_length(node_ids, 1)] AS target,
       CASE WHEN oneway = -1 THEN -1
            ELSE ST_Length(geom::geography) / (speed / 3.6) END AS cost,
       CASE WHEN oneway = 1 THEN -1
            ELSE ST_Length(geom::geography) / (speed / 3.6) END AS reverse_cost
  FROM (SELECT *, coalesce(speed_kmh, CASE class
                    WHEN 'motorway' THEN 100 WHEN 'trunk' THEN 80 WHEN 'primary' THEN 60
                    WHEN 'secondary' THEN 50 WHEN 'tertiary' THEN 40
                    WHEN 'residential' THEN 30 WHEN 'unclassified' THEN 30
                    WHEN 'service' THEN 20 WHEN 'track' THEN 15 ELSE 30 END) AS speed
          FROM roads WHERE source = 'demo') r
"""

# Graph vertices: the end points of the edges, with their node ids.
VERTICES_SQL = """
SELECT DISTINCT ON (vid) vid, g FROM (
    SELECT node_ids[1] AS vid, ST_StartPoint(geom) AS g FROM roads WHERE source = 'demo'
    UNION ALL
    SELECT node_ids[array_length(node_ids, 1)], ST_EndPoint(geom) FROM roads
     WHERE source = 'demo') v
 ORDER BY vid
"""


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, **kw)
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (
            " ".join(cmd), p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace")))
    return p.stdout.decode("utf-8")


class DemoTownTest(unittest.TestCase):
    url = None
    started_here = False
    counts = []

    @classmethod
    def setUpClass(cls):
        pgdir = os.environ.get("PATROLGIS_PGDIR") or "/tmp/pgit"
        cls.pgdir = pgdir
        st = subprocess.run([PGCTL, pgdir, "status"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV)
        if st.returncode != 0:
            run([PGCTL, pgdir, "start"])
            cls.started_here = True
        out = run([PGCTL, pgdir, "createdb", DB, "--pgrouting"])
        cls.url = out.strip().splitlines()[-1]
        migrations = sorted(glob.glob(os.path.join(ROOT, "sql", "migrations", "*.sql")))
        if not migrations:
            raise AssertionError("no sql/migrations/*.sql")
        for m in migrations:
            run([PSQL, cls.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                 "-f", m])
        # Load twice. In between: a row that is not a demo row (must survive the reload) and
        # tracking rows on demo points and schools (must not block the reload).
        cls.counts.append(cls.load())
        cls.sql_static("""
            INSERT INTO schools (name, kind, perimeter, props)
            VALUES ('手工录入学校', 'primary',
                    ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(113.5, 28.5), 4326), 0.0005)),
                    '{"manual": true}');
            INSERT INTO devices (name) VALUES ('demo-test-car');
            WITH p AS (SELECT id FROM patrol_points
                        WHERE props->>'demo' = 'true' AND kind = 'gate' ORDER BY id LIMIT 1),
                 v AS (INSERT INTO visits (device_id, point_id, enter_at, exit_at, dwell_s)
                       SELECT (SELECT id FROM devices WHERE name = 'demo-test-car'), p.id,
                              '2026-09-01 07:10+08', '2026-09-01 07:15+08', 300 FROM p
                       RETURNING id, point_id)
            INSERT INTO checkins (point_id, window_id, local_date, status, visit_ids)
            SELECT v.point_id, w.id, '2026-09-01', 'done', ARRAY[v.id]
              FROM v JOIN patrol_windows w ON w.point_id = v.point_id
             ORDER BY w.id LIMIT 1;
            INSERT INTO events (at, kind, point_id)
            SELECT now(), 'demo_test_event', min(id) FROM patrol_points
             WHERE props->>'demo' = 'true';
            INSERT INTO inspections (school_id, inspected_at, inspector)
            SELECT min(id), now(), '测试检查员' FROM schools WHERE props->>'demo' = 'true';""")
        cls.counts.append(cls.load())

    @classmethod
    def tearDownClass(cls):
        if cls.url:
            subprocess.run([PGCTL, cls.pgdir, "psql", "postgres", "-q", "-c",
                            'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        if cls.started_here:
            subprocess.run([PGCTL, cls.pgdir, "stop"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=ENV)

    @classmethod
    def load(cls):
        out = run([LOAD_DEMO, cls.url])
        counts = {}
        for line in out.strip().splitlines():
            table, n = line.split("\t")
            counts[table] = int(n)
        return counts

    @classmethod
    def sql_static(cls, text):
        out = run([PSQL, cls.url, "-X", "-q", "-At", "-F", SEP, "-v", "ON_ERROR_STOP=1"],
                  input=text.encode("utf-8"))
        return [line.split(SEP) for line in out.splitlines() if line != ""]

    def sql(self, text):
        return self.sql_static(text)

    def scalar(self, text):
        rows = self.sql(text)
        self.assertEqual(len(rows), 1, text)
        return rows[0][0]

    # --------------------------------------------------------------------------------------

    def test_01_counts_and_idempotence(self):
        first, second = self.counts
        print("\nload-demo counts: " + ", ".join("%s %d" % kv for kv in first.items()),
              file=sys.stderr)
        self.assertEqual(first, second, "second load-demo run changed the counts")
        self.assertGreaterEqual(first["schools"], 6)
        self.assertGreaterEqual(first["waters"], 4)
        self.assertGreaterEqual(first["venues"], 5)
        self.assertEqual(first["stations"], 2)
        self.assertTrue(60 <= first["roads"] <= 200, first["roads"])
        self.assertEqual(self.scalar("SELECT count(*) FROM schools WHERE name = '手工录入学校'"),
                         "1", "load-demo removed a row that is not a demo row")
        # tracking rows of the old demo points went with them; events keep their history
        self.assertEqual(self.sql(
            "SELECT (SELECT count(*) FROM visits), (SELECT count(*) FROM checkins),"
            "       (SELECT count(*) FROM inspections),"
            "       (SELECT count(*) FROM events WHERE kind = 'demo_test_event'"
            "                                      AND point_id IS NULL),"
            "       (SELECT count(*) FROM devices WHERE name = 'demo-test-car')"),
            [["0", "0", "0", "1", "1"]])
        # no demo row twice
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM (SELECT name FROM patrol_points "
            " WHERE props->>'demo' = 'true' GROUP BY name HAVING count(*) > 1) d"), "0")

    def test_02_schools(self):
        kinds = dict(self.sql("SELECT kind, count(*) FROM schools "
                              "WHERE props->>'demo' = 'true' GROUP BY kind"))
        self.assertGreaterEqual(int(kinds.get("central_primary", 0)), 1)
        self.assertGreaterEqual(int(kinds.get("middle", 0)), 1)
        self.assertGreaterEqual(int(kinds.get("primary", 0)), 1)
        self.assertGreaterEqual(int(kinds.get("kindergarten", 0)), 2)
        self.assertEqual(self.scalar("SELECT count(*) FROM schools "
                                     "WHERE props->>'demo' = 'true' AND remote"), "1")
        self.assertEqual(self.scalar("SELECT count(*) FROM schools "
                                     "WHERE props->>'demo' = 'true' AND boarding"), "1")
        # realistic sizes: kindergartens 0.2-0.6 ha, others 0.6-10 ha; contacts present
        for name, kind, area, ncontacts in self.sql(
                "SELECT name, kind, ST_Area(perimeter::geography), jsonb_array_length(contacts)"
                "  FROM schools WHERE props->>'demo' = 'true'"):
            area = float(area)
            lo, hi = (2000, 6000) if kind == "kindergarten" else (6000, 100000)
            self.assertTrue(lo <= area <= hi, "%s: %.0f m²" % (name, area))
            self.assertGreaterEqual(int(ncontacts), 1, name)
        # one kindergarten has its own key periods
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM schools WHERE props->>'demo' = 'true' AND kind = 'kindergarten'"
            " AND arrival_start = '07:30' AND arrival_end = '09:00'"
            " AND dismissal_start = '16:30' AND dismissal_end = '17:30'"), "1")

    def test_03_geometry_valid(self):
        bad = self.sql("""
            SELECT t, name, ST_IsValidReason(g), ST_SRID(g) FROM (
              SELECT 'schools' t, name, perimeter g FROM schools WHERE props->>'demo' = 'true'
              UNION ALL SELECT 'patrol_points', name, location FROM patrol_points
                         WHERE props->>'demo' = 'true'
              UNION ALL SELECT 'waters', name, geom FROM waters WHERE props->>'demo' = 'true'
              UNION ALL SELECT 'road_segments', name, geom FROM road_segments
                         WHERE props->>'demo' = 'true'
              UNION ALL SELECT 'venues', name, location FROM venues WHERE props->>'demo' = 'true'
              UNION ALL SELECT 'stations', name, location FROM stations
                         WHERE props->>'demo' = 'true'
              UNION ALL SELECT 'roads', name, geom FROM roads WHERE source = 'demo'
            ) x WHERE NOT ST_IsValid(g) OR ST_SRID(g) <> 4326 OR ST_IsEmpty(g)""")
        self.assertEqual(bad, [])
        # water geometry kinds: river a line, ponds and reservoir polygons
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM waters WHERE props->>'demo' = 'true' AND kind = 'river'"
            " AND GeometryType(geom) = 'LINESTRING' AND risk_level = 3"), "1")
        self.assertGreaterEqual(int(self.scalar(
            "SELECT count(*) FROM waters WHERE props->>'demo' = 'true' AND kind = 'pond'"
            " AND GeometryType(geom) = 'POLYGON'")), 2)
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM waters WHERE props->>'demo' = 'true' AND kind = 'reservoir'"
            " AND GeometryType(geom) = 'POLYGON'"), "1")
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM waters WHERE props->>'demo' = 'true'"
            " AND (season_start, season_end) IS DISTINCT FROM ('05-01', '10-31')"), "0")
        # all inside an 8 x 6 km box
        w, h = self.sql("SELECT ST_Distance(ST_MakePoint(ST_XMin(e), ST_YMin(e))::geography,"
                        "                   ST_MakePoint(ST_XMax(e), ST_YMin(e))::geography),"
                        "       ST_Distance(ST_MakePoint(ST_XMin(e), ST_YMin(e))::geography,"
                        "                   ST_MakePoint(ST_XMin(e), ST_YMax(e))::geography)"
                        "  FROM (SELECT ST_Extent(geom) e FROM roads WHERE source = 'demo') x")[0]
        self.assertLessEqual(float(w), 8100)
        self.assertLessEqual(float(h), 6100)

    def test_04_gates(self):
        rows = self.sql("""
            SELECT p.name, s.name,
                   ST_Distance(p.location::geography, ST_Boundary(s.perimeter)::geography),
                   p.radius_m, p.min_dwell_s
              FROM patrol_points p LEFT JOIN schools s ON s.id = p.school_id
             WHERE p.props->>'demo' = 'true' AND p.kind = 'gate'""")
        self.assertGreaterEqual(len(rows), 6)
        for pname, sname, d, radius, dwell in rows:
            self.assertTrue(sname, "gate %s has no school" % pname)
            self.assertLess(float(d), 5.0, "gate %s is %s m from its perimeter" % (pname, d))
            self.assertEqual((float(radius), int(dwell)), (50.0, 60), pname)
        per_school = self.sql("""
            SELECT s.name, count(p.id) FROM schools s
              LEFT JOIN patrol_points p ON p.school_id = s.id AND p.kind = 'gate'
             WHERE s.props->>'demo' = 'true' GROUP BY s.name""")
        for sname, n in per_school:
            self.assertTrue(1 <= int(n) <= 3, "%s has %s gates" % (sname, n))
        far = self.sql("""
            SELECT p.name FROM patrol_points p
             WHERE p.props->>'demo' = 'true' AND p.kind = 'gate'
               AND NOT EXISTS (SELECT 1 FROM roads r WHERE r.source = 'demo'
                               AND ST_DWithin(r.geom::geography, p.location::geography, 30))""")
        self.assertEqual(far, [], "gates farther than 30 m from any road")

    def test_05_windows(self):
        self.assertEqual(self.sql("""
            SELECT p.name FROM patrol_points p
             WHERE p.props->>'demo' = 'true'
               AND NOT EXISTS (SELECT 1 FROM patrol_windows w WHERE w.point_id = p.id)"""), [])
        # gates: arrival and dismissal windows on school days = the school's key periods
        self.assertEqual(self.sql("""
            SELECT p.name FROM patrol_points p JOIN schools s ON s.id = p.school_id
             WHERE p.props->>'demo' = 'true' AND p.kind = 'gate'
               AND (NOT EXISTS (SELECT 1 FROM patrol_windows w WHERE w.point_id = p.id
                                AND w.days = 31 AND w.required_visits = 1
                                AND w.start_local = s.arrival_start
                                AND w.end_local = s.arrival_end)
                 OR NOT EXISTS (SELECT 1 FROM patrol_windows w WHERE w.point_id = p.id
                                AND w.days = 31 AND w.required_visits = 1
                                AND w.start_local = s.dismissal_start
                                AND w.end_local = s.dismissal_end))"""), [])
        # route points: no dwell; water points: in season, windows every day
        self.assertEqual(self.scalar("""
            SELECT count(*) FROM patrol_points WHERE props->>'demo' = 'true' AND kind = 'route'
               AND min_dwell_s = 0 AND radius_m = 40"""), str(len(demo_town.ROUTE_POINTS)))
        self.assertEqual(self.sql("""
            SELECT p.name FROM patrol_points p
             WHERE p.props->>'demo' = 'true' AND p.kind = 'water'
               AND ((p.season_start, p.season_end) IS DISTINCT FROM ('05-01', '10-31')
                    OR EXISTS (SELECT 1 FROM patrol_windows w
                               WHERE w.point_id = p.id AND w.days <> 127))"""), [])
        self.assertGreaterEqual(int(self.scalar(
            "SELECT count(*) FROM patrol_points WHERE props->>'demo' = 'true'"
            " AND kind = 'water'")), 3)
        # the exam-day window: 中考 at the middle school's gate, two visits required
        rows = self.sql("""
            SELECT s.kind, w.date_from, w.date_to, w.required_visits
              FROM patrol_windows w JOIN patrol_points p ON p.id = w.point_id
              JOIN schools s ON s.id = p.school_id
             WHERE w.props->>'demo' = 'true' AND w.date_from IS NOT NULL""")
        self.assertEqual(rows, [["middle", "2027-06-16", "2027-06-18", "2"]])

    def test_06_road_topology(self):
        # node_ids: one per vertex; one id <-> one coordinate; inner vertices belong to one road
        self.assertEqual(self.scalar("""
            SELECT count(*) FROM roads WHERE source = 'demo'
               AND (node_ids IS NULL OR array_length(node_ids, 1) <> ST_NPoints(geom))"""), "0")
        self.assertEqual(self.sql("""
            WITH v AS (
              SELECT r.id, n.i, n.nid, ST_PointN(r.geom, n.i::int) g,
                     n.i IN (1, array_length(r.node_ids, 1)) AS is_end
                FROM roads r, unnest(r.node_ids) WITH ORDINALITY AS n(nid, i)
               WHERE r.source = 'demo')
            SELECT nid::text, 'several coordinates' FROM v GROUP BY nid
            HAVING count(DISTINCT ST_AsText(g)) > 1
            UNION ALL
            SELECT min(nid)::text, 'several ids at ' || ST_AsText(g) FROM v
             GROUP BY ST_AsText(g) HAVING count(DISTINCT nid) > 1
            UNION ALL
            SELECT nid::text, 'inner vertex shared' FROM v GROUP BY nid
            HAVING bool_or(NOT is_end) AND count(*) > 1"""), [])
        # roads meet only at shared vertices (no crossing without a junction)
        self.assertEqual(self.sql("""
            SELECT a.id, b.id FROM roads a JOIN roads b ON a.id < b.id
             WHERE a.source = 'demo' AND b.source = 'demo'
               AND ST_Intersects(a.geom, b.geom)
               AND NOT ST_Equals(ST_Intersection(a.geom, b.geom),
                                 ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom)))"""),
            [])
        # one connected component, by node_ids ...
        self.assertEqual(self.scalar(
            "SELECT count(DISTINCT component) FROM pgr_connectedComponents($e$%s$e$)"
            % EDGES_SQL), "1")
        # ... and by geometry alone (pgr_extractVertices), independent of node_ids
        self.assertEqual(self.scalar("""
            SELECT count(DISTINCT component) FROM pgr_connectedComponents($e$
              WITH v AS (SELECT * FROM pgr_extractVertices(
                           'SELECT id, geom FROM roads WHERE source = ''demo'''))
              SELECT e.id, s.id AS source, t.id AS target, 1.0 AS cost, 1.0 AS reverse_cost
                FROM roads e
                JOIN v s ON ST_Equals(s.geom, ST_StartPoint(e.geom))
                JOIN v t ON ST_Equals(t.geom, ST_EndPoint(e.geom))
               WHERE e.source = 'demo' $e$)"""), "1")
        # with one-way streets respected, every vertex reaches every other
        self.assertEqual(self.scalar(
            "SELECT count(DISTINCT component) FROM pgr_strongComponents($e$%s$e$)"
            % EDGES_SQL), "1")
        oneway = int(self.scalar("SELECT count(DISTINCT name) FROM roads "
                                 "WHERE source = 'demo' AND oneway <> 0"))
        self.assertTrue(1 <= oneway <= 2, oneway)
        classes = {r[0] for r in self.sql("SELECT DISTINCT class FROM roads "
                                          "WHERE source = 'demo'")}
        self.assertTrue(classes & {"primary", "secondary"}, classes)
        self.assertTrue(classes & {"residential", "tertiary"}, classes)
        self.assertTrue(classes & {"unclassified", "track"}, classes)

    def test_07_drive_times(self):
        # station and gates snap to the nearest graph vertex; a school's time is its best gate
        rows = self.sql("""
            WITH v AS (%s),
            st AS (SELECT (SELECT vid FROM v ORDER BY v.g <-> s.location LIMIT 1) vid
                     FROM stations s
                    WHERE s.props->>'demo' = 'true' AND s.kind = 'police_station'),
            gates AS (
              SELECT p.school_id,
                     (SELECT vid FROM v ORDER BY v.g <-> p.location LIMIT 1) vid
                FROM patrol_points p WHERE p.props->>'demo' = 'true' AND p.kind = 'gate'),
            d AS (SELECT end_vid, agg_cost FROM pgr_dijkstra(
                    $e$%s$e$, (SELECT vid FROM st),
                    (SELECT array_agg(DISTINCT vid) FROM gates), directed => true)
                  WHERE edge = -1
                  UNION ALL SELECT vid, 0 FROM st)
            SELECT s.name, s.kind, s.remote, min(d.agg_cost)
              FROM schools s JOIN gates g ON g.school_id = s.id
              LEFT JOIN d ON d.end_vid = g.vid
             WHERE s.props->>'demo' = 'true'
             GROUP BY s.id, s.name, s.kind, s.remote ORDER BY min(d.agg_cost)""" % (
            VERTICES_SQL, EDGES_SQL))
        times = {}
        lines = []
        for name, kind, remote, secs in rows:
            self.assertNotEqual(secs, "", "%s unreachable from the police station" % name)
            secs = float(secs)
            cls = ("1 min" if secs <= 60 else "3 min" if secs <= 180
                   else "5 min" if secs <= 300 else "> 5 min")
            lines.append("  %s (%s%s): %.0f s = %.1f min [%s]" % (
                name, kind, ", remote" if remote == "t" else "", secs, secs / 60, cls))
            times[(kind, remote)] = max(times.get((kind, remote), 0), secs)
        print("\ndrive times from 青石镇派出所 (pgr_dijkstra):\n" + "\n".join(lines),
              file=sys.stderr)
        self.assertEqual(len(rows), int(self.counts[0]["schools"]))
        remote = [float(r[3]) for r in rows if r[2] == "t"]
        central = [float(r[3]) for r in rows if r[1] == "central_primary"]
        self.assertTrue(remote and min(remote) > 300, remote)
        self.assertTrue(central and max(central) < 180, central)
        # the 1-3-5 classes are all shown: something within 1, 3 and 5 minutes and beyond
        secs = sorted(float(r[3]) for r in rows)
        self.assertTrue(any(s <= 60 for s in secs))
        self.assertTrue(any(60 < s <= 180 for s in secs))
        self.assertTrue(any(180 < s <= 300 for s in secs))
        self.assertTrue(any(s > 300 for s in secs))

    def test_08_hazards_and_venues(self):
        statuses = {r[0] for r in self.sql(
            "SELECT DISTINCT status FROM road_segments WHERE props->>'demo' = 'true'")}
        self.assertEqual(statuses, {"found", "reported", "fixed"})
        # risky segments lie on the road network: every vertex within 1 m of a demo road
        self.assertEqual(self.sql("""
            SELECT s.name FROM road_segments s, ST_DumpPoints(s.geom) dp
             WHERE s.props->>'demo' = 'true'
               AND NOT EXISTS (SELECT 1 FROM roads r WHERE r.source = 'demo'
                               AND ST_DWithin(r.geom::geography, dp.geom::geography, 1))"""), [])
        kinds = {r[0] for r in self.sql(
            "SELECT DISTINCT kind FROM venues WHERE props->>'demo' = 'true'")}
        self.assertEqual(kinds, {"internet_cafe", "game_hall", "karaoke", "small_hotel",
                                 "rental_housing"})
        near = self.sql("""
            SELECT v.name, EXISTS (SELECT 1 FROM schools s WHERE s.props->>'demo' = 'true'
                     AND ST_DWithin(s.perimeter::geography, v.location::geography, 200))
              FROM venues v WHERE v.props->>'demo' = 'true'""")
        self.assertTrue(any(r[1] == "t" for r in near), near)
        self.assertTrue(any(r[1] == "f" for r in near), near)
        self.assertEqual(self.sql(
            "SELECT kind, count(*) FROM stations WHERE props->>'demo' = 'true' "
            "GROUP BY kind ORDER BY kind"), [["patrol_base", "1"], ["police_station", "1"]])
        # the reservoir is near the remote school, the river runs through town
        self.assertEqual(self.scalar("""
            SELECT bool_and(ST_DWithin(w.geom::geography, s.perimeter::geography, 1000))
              FROM waters w, schools s
             WHERE w.props->>'demo' = 'true' AND w.kind = 'reservoir'
               AND s.props->>'demo' = 'true' AND s.remote"""), "t")

    def test_09_chinese_round_trip(self):
        self.assertEqual(self.scalar(
            "SELECT pg_encoding_to_char(encoding) FROM pg_database "
            "WHERE datname = current_database()"), "UTF8")
        names = {r[0] for r in self.sql(
            "SELECT name FROM schools WHERE props->>'demo' = 'true'")}
        self.assertEqual(names, {s["name"] for s in demo_town.SCHOOLS})
        self.assertEqual(self.sql(
            "SELECT char_length(name), octet_length(name) FROM schools "
            "WHERE props->>'demo' = 'true' AND name = '青石镇中心小学'"), [["7", "21"]])
        waters = {r[0] for r in self.sql(
            "SELECT name FROM waters WHERE props->>'demo' = 'true'")}
        self.assertEqual(waters, {w["name"] for w in demo_town.WATERS})
        roads = {r[0] for r in self.sql("SELECT DISTINCT name FROM roads WHERE source = 'demo'")}
        self.assertTrue({"青石大道", "学府路", "河滨路", "山岭路"} <= roads, roads)
        contact = self.scalar(
            "SELECT contacts->0->>'role' FROM schools WHERE props->>'demo' = 'true'"
            " AND name = '青石镇中心小学'")
        self.assertEqual(contact, "校长")


if __name__ == "__main__":
    harness.main()

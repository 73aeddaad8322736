"""test_reports.py - the spatial questions of the plan (issue 3, item 5) against a real server
and PostGIS, on the demo town 青石镇 plus random venues, waters and risky segments scattered
around its schools (seeded; the seed is printed).

Each report's rows must equal what PostGIS itself says in this test: ST_DWithin on geography
for the pairs, ST_Distance on geography for the distances (to the 0.1 m the report rounds to),
patrolgis-independent month/day arithmetic in Python for the drowning season, and a plain
NOT EXISTS for the schools without an inspection. CSV must carry a UTF-8 BOM and the same rows.
Bad parameters get 400 and no rows.

Run: PATROLD=build/server/patrold python3 tests/integration/test_reports.py
"""
import csv
import io
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PatrolTestCase, clean_env, run  # noqa: E402

SRC = os.path.abspath(os.environ.get("PATROLGIS_SRC")
                      or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LOAD_DEMO = os.path.join(SRC, "geodata", "load-demo")
SEED = int(os.environ.get("PATROLGIS_SEED", "20261128"))

VENUE_KINDS = ["internet_cafe", "game_hall", "karaoke", "small_hotel", "rental_housing", "other"]
RISKY = VENUE_KINDS[:5]


def in_season(start, end, day):
    """The season rule, stated again here in Python: MM-DD strings, may wrap the year."""
    if start is None or end is None:
        return True
    md = day[5:]
    if start <= end:
        return start <= md <= end
    return md >= start or md <= end


class ReportsTest(PatrolTestCase):
    DB_PREFIX = "rep"
    AUTO_SERVER = False

    def setUp(self):
        super().setUp()
        self.patrold("migrate")
        cp = run([LOAD_DEMO, self.url()], env=clean_env({"PGCLIENTENCODING": "UTF8"}),
                 timeout=120)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.scatter()
        self.add_user("vi", "viewer")
        self.viewer = self.issue_token(user="vi")
        self.server = self.start_server()

    def scatter(self):
        """Random venues, waters and segments from 0 to ~900 m around random schools."""
        rnd = random.Random(SEED)
        sys.stderr.write("test_reports: seed %d\n" % SEED)
        schools = self.psql("SELECT id, ST_X(ST_Centroid(perimeter)), ST_Y(ST_Centroid(perimeter))"
                            " FROM schools ORDER BY id")
        sql = []
        for i in range(120):
            sid, x, y = rnd.choice(schools)
            dx, dy = rnd.uniform(-0.009, 0.009), rnd.uniform(-0.008, 0.008)
            kind = rnd.choice(VENUE_KINDS)
            sql.append("INSERT INTO venues (name, kind, location) VALUES ('场所%d', '%s',"
                       " ST_SetSRID(ST_MakePoint(%.7f, %.7f), 4326));"
                       % (i, kind, float(x) + dx, float(y) + dy))
        for i in range(30):
            sid, x, y = rnd.choice(schools)
            x0, y0 = float(x) + rnd.uniform(-0.008, 0.008), float(y) + rnd.uniform(-0.007, 0.007)
            season = rnd.choice(["'05-01', '10-31'", "'11-01', '02-28'", "NULL, NULL"])
            sql.append("INSERT INTO waters (name, kind, geom, season_start, season_end) VALUES"
                       " ('水%d', 'pond', ST_Buffer(ST_SetSRID(ST_MakePoint(%.7f, %.7f), 4326)"
                       "::geography, %d)::geometry, %s);" % (i, x0, y0, rnd.randint(10, 60), season))
            sql.append("INSERT INTO road_segments (name, reason, geom) VALUES ('段%d', '测试',"
                       " ST_SetSRID(ST_MakeLine(ST_MakePoint(%.7f, %.7f), ST_MakePoint(%.7f, %.7f)),"
                       " 4326));" % (i, x0, y0, x0 + 0.001, y0 + 0.0005))
        self.psql("\n".join(sql))

    def get(self, path):
        r = self.server.request("GET", path, token=self.viewer)
        return r

    def rows(self, path):
        r = self.get(path)
        self.assertEqual(r.status, 200, r)
        body = r.json
        self.assertEqual(body["count"], len(body["rows"]))
        return body["rows"]

    def postgis_pairs(self, table, geom, distance, where="true"):
        out = self.psql(
            "SELECT s.id, t.id, round(ST_Distance(s.perimeter::geography, t.%s::geography)"
            "::numeric, 1) FROM schools s JOIN %s t ON ST_DWithin(s.perimeter::geography,"
            " t.%s::geography, %s) WHERE %s ORDER BY 1, 2" % (geom, table, geom, distance, where))
        return {(int(a), int(b)): float(d) for a, b, d in out}

    def test_venues_near_schools(self):
        for distance in (50, 200, 600):
            got = self.rows("/api/v1/reports/venues-near-schools?distance=%d" % distance)
            want = self.postgis_pairs("venues", "location", distance,
                                      "t.kind IN (%s)" % ",".join("'%s'" % k for k in RISKY))
            self.assertGreater(len(want), 0)
            self.assertEqual({(r["school_id"], r["venue_id"]): r["distance_m"] for r in got}, want)
            self.assertTrue(all(r["venue_kind"] in RISKY for r in got))
        # Kinds filter and the default distance (200 m).
        got = self.rows("/api/v1/reports/venues-near-schools?kinds=other")
        want = self.postgis_pairs("venues", "location", 200, "t.kind = 'other'")
        self.assertEqual({(r["school_id"], r["venue_id"]) for r in got}, set(want))

    def test_waters_near_schools_with_season(self):
        for day in ("2026-07-15", "2026-12-20", "2027-02-28"):
            got = self.rows("/api/v1/reports/waters-near-schools?distance=300&date=%s" % day)
            want = self.postgis_pairs("waters", "geom", 300)
            self.assertEqual({(r["school_id"], r["water_id"]): r["distance_m"] for r in got}, want)
            for r in got:
                self.assertEqual(r["in_season"], in_season(r["season_start"], r["season_end"], day),
                                 (day, r))
            self.assertTrue(any(r["in_season"] for r in got) and
                            any(not r["in_season"] for r in got), "both seasons represented")

    def test_road_segments_near_schools(self):
        got = self.rows("/api/v1/reports/road-segments-near-schools?distance=150")
        want = self.postgis_pairs("road_segments", "geom", 150)
        self.assertGreater(len(want), 0)
        self.assertEqual({(r["school_id"], r["segment_id"]): r["distance_m"] for r in got}, want)

    def test_schools_not_inspected(self):
        self.psql("INSERT INTO inspections (school_id, inspected_at, inspector) VALUES"
                  " (1, '2026-11-03T09:00:00+08:00', '张三'),"
                  " (2, '2026-10-31T23:30:00+08:00', '李四'),"  # October, local time
                  " (3, '2026-11-30T23:59:00+08:00', '王五')")
        got = self.rows("/api/v1/reports/schools-not-inspected?month=2026-11")
        want = [int(r[0]) for r in self.psql(
            "SELECT id FROM schools s WHERE NOT EXISTS (SELECT 1 FROM inspections i"
            " WHERE i.school_id = s.id AND i.inspected_at >= '2026-11-01T00:00:00+08:00'"
            " AND i.inspected_at < '2026-12-01T00:00:00+08:00') ORDER BY id")]
        self.assertEqual([r["school_id"] for r in got], want)
        self.assertNotIn(1, want)
        self.assertIn(2, want)  # its inspection was in October, Shanghai time
        self.assertNotIn(3, want)
        self.assertTrue(all(r["month"] == "2026-11" for r in got))

    def test_csv_for_excel(self):
        r = self.get("/api/v1/reports/venues-near-schools?format=csv")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("text/csv"), r)
        self.assertIn("attachment", r.header("Content-Disposition") or "")
        self.assertTrue(r.body.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM")
        table = list(csv.DictReader(io.StringIO(r.body[3:].decode("utf-8"))))
        rows = self.rows("/api/v1/reports/venues-near-schools")
        self.assertEqual(len(table), len(rows))
        self.assertEqual([t["venue_name"] for t in table], [x["venue_name"] for x in rows])
        self.assertIn("青石镇中心小学", r.body.decode("utf-8"))

    def test_csv_quotes_formulas(self):
        self.psql("INSERT INTO venues (name, kind, location) SELECT '=HYPERLINK(\"x\")',"
                  " 'internet_cafe', ST_Centroid(perimeter) FROM schools WHERE id = 1")
        body = self.get("/api/v1/reports/venues-near-schools?format=csv").body.decode("utf-8")
        self.assertIn("\"'=HYPERLINK(\"\"x\"\")\"", body)

    def test_bad_parameters(self):
        for q in ("venues-near-schools?distance=-1", "venues-near-schools?distance=abc",
                  "venues-near-schools?distance=20000", "venues-near-schools?kinds=casino",
                  "venues-near-schools?format=xlsx", "venues-near-schools?radius=5",
                  "waters-near-schools?date=2026-02-30", "schools-not-inspected?month=2026-13",
                  "schools-not-inspected?month=26-11"):
            r = self.get("/api/v1/reports/" + q)
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(r.json["error"]["code"], "invalid_argument", (q, r))
        r = self.server.request("GET", "/api/v1/reports/venues-near-schools")
        self.assertEqual(r.status, 401, r)


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""Integration test: the engine's "within the radius" predicate agrees with PostGIS.

The visit engine (server/track/visits.c) decides at every fix whether it lies within a patrol point's
radius with one function, visits_within (server/geo/pointindex.h). This test generates 5 000 random
fixes around random points in China (radius 5..1000 m, most fixes close to the edge, seeded),
asks PostGIS `ST_DWithin(geography, geography, r)` (spheroid) and the engine (through the
tests/tools/within_check filter), and asserts they agree on every fix except those within 1 mm
of the edge by PostGIS's own `ST_Distance(geography, geography)`, which are counted and
printed. It also prints the largest distance difference between the two.

Run: python3 tests/integration/test_engine_postgis.py
Env: PATROLGIS_PGDIR        a folder managed by sql/pgctl whose cluster is running; without it
                            the test starts its own in /tmp/pgengine-test and stops it after.
     PATROLGIS_WITHIN_CHECK the within_check binary (default: next to $PATROLD's build tree,
                            BUILD/tests/within_check)
     PATROLGIS_SEED         the seed (default 20240917), printed.
Python 3 standard library only.
"""

import math
import os
import random
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PGCTL = str(ROOT / "sql" / "pgctl")
DB = "it_within"
N = 5000
EDGE_M = 1e-3

PGDIR = os.environ.get("PATROLGIS_PGDIR") or "/tmp/pgengine-test"
OWN_CLUSTER = not os.environ.get("PATROLGIS_PGDIR")
SEED = int(os.environ.get("PATROLGIS_SEED") or 20240917)


def within_check_path():
    env = os.environ.get("PATROLGIS_WITHIN_CHECK")
    if env:
        return env
    patrold = os.environ.get("PATROLD")
    if patrold:
        return str(Path(patrold).resolve().parents[1] / "tests" / "within_check")
    return str(ROOT / "build" / "tests" / "within_check")


def pgctl(*args, stdin=None):
    return subprocess.run([PGCTL, PGDIR, *args], input=stdin, capture_output=True, text=True,
                          check=True).stdout


def destination(lon, lat, bearing, dist):
    """A point dist metres from (lon, lat) on a sphere: only the distribution matters here."""
    r = 6371008.8
    p1, l1, b, d = math.radians(lat), math.radians(lon), math.radians(bearing), dist / r
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1),
                         math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(l2), math.degrees(p2)


def cases(rng):
    out = []
    for i in range(N):
        plon, plat = rng.uniform(73.5, 134.8), rng.uniform(18.2, 53.5)
        r = rng.uniform(5.0, 1000.0)
        kind = rng.random()
        if kind < 0.3:
            d = rng.uniform(0.0, 2.0 * r)
        elif kind < 0.8:
            d = r * (1.0 + rng.uniform(-0.005, 0.005))
        else:
            d = r + rng.uniform(-0.05, 0.05)
        lon, lat = destination(plon, plat, rng.uniform(0.0, 360.0), d)
        out.append((i, lon, lat, plon, plat, r))
    return out


class EnginePostgisTest(unittest.TestCase):
    started_here = False

    @classmethod
    def setUpClass(cls):
        if subprocess.run([PGCTL, PGDIR, "status"], capture_output=True).returncode != 0:
            harness.require(OWN_CLUSTER, f"no running cluster in {PGDIR}")
            pgctl("start")
            cls.started_here = True
        pgctl("createdb", DB)

    @classmethod
    def tearDownClass(cls):
        if cls.started_here:
            subprocess.run([PGCTL, PGDIR, "stop"], capture_output=True)

    def test_within_agrees_with_st_dwithin(self):
        tool = within_check_path()
        self.assertTrue(os.access(tool, os.X_OK), f"{tool} is not built")
        print(f"test_engine_postgis: seed {SEED} (set PATROLGIS_SEED to replay)")
        rows = cases(random.Random(SEED))

        data = "".join(f"{i}\t{lon!r}\t{lat!r}\t{plon!r}\t{plat!r}\t{r!r}\n"
                       for i, lon, lat, plon, plat, r in rows)
        sql = ("CREATE TEMP TABLE f(i int, lon float8, lat float8, plon float8, plat float8,"
               " r float8);\n"
               "COPY f FROM STDIN;\n" + data + "\\.\n"
               "SELECT i, ST_DWithin(g1, g2, r)::int, ST_Distance(g1, g2) FROM ("
               " SELECT i, r, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS g1,"
               " ST_SetSRID(ST_MakePoint(plon, plat), 4326)::geography AS g2 FROM f) s"
               " ORDER BY i;\n")
        pg = {}
        for line in pgctl("psql", DB, "-At", "-F", "\t", stdin=sql).splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                pg[int(parts[0])] = (int(parts[1]), float(parts[2]))
        self.assertEqual(len(pg), N)

        tool_in = "".join(f"{lon!r} {lat!r} {plon!r} {plat!r} {r!r}\n"
                          for _, lon, lat, plon, plat, r in rows)
        res = subprocess.run([tool], input=tool_in, capture_output=True, text=True, check=True)
        engine = [(int(a), float(b)) for a, b in (l.split() for l in res.stdout.splitlines())]
        self.assertEqual(len(engine), N)

        near_edge, disagree, worst = [], [], 0.0
        inside = 0
        for (i, _, _, _, _, r), (e_in, e_d) in zip(rows, engine):
            p_in, p_d = pg[i]
            inside += p_in
            worst = max(worst, abs(e_d - p_d))
            if abs(p_d - r) <= EDGE_M:
                near_edge.append(i)
                continue
            if e_in != p_in:
                disagree.append((i, r, p_d, e_d, p_in, e_in))
        print(f"{N} fixes ({inside} within by PostGIS): {len(disagree)} disagreements, "
              f"{len(near_edge)} within {EDGE_M * 1000:.0f} mm of the edge (not compared), "
              f"largest distance difference {worst * 1000:.4f} mm")
        self.assertEqual(disagree, [], "engine and ST_DWithin disagree")
        self.assertLess(worst, EDGE_M)


if __name__ == "__main__":
    harness.main()

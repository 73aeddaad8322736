#!/usr/bin/env python3
"""bench_geofence_vs_postgis.py - the check-in engine's geofence evaluation (tests/bench/
bench_engine: visits_compute against 10 000 patrol points, zones_compute against 1 000 zones,
one core) against the same question asked of PostGIS with one query per fix, in the same run.

bench_engine makes its town from a seeded generator (splitmix64); this script regenerates the
very same patrol points, fixes and zones in Python (bit for bit: the same arithmetic in the
same order, checked by `--self-check` against values printed by a C copy of the generator),
loads them into PostGIS (geography points with their radius, geometry zones with a GiST
index) and times, for the first N fixes:

  points  SELECT count(*) FROM bench_points p WHERE ST_DWithin(p.geog, $fix, 100)
                                                AND ST_DWithin(p.geog, $fix, p.radius_m)
          (the first term lets the GiST index work: 100 m is the largest radius)
  zones   SELECT count(*) FROM bench_zones z WHERE ST_DWithin(z.geog, $fix, z.buffer_m)
          (0 for the rectangles, 20 m for the lines, as the engine's default)

each way:
  client  a prepared statement EXECUTEd once per fix by psql over the Unix socket (what a
          server asking PostGIS per fix would pay);
  server  a PL/pgSQL loop running the same query per fix inside the database (no round trips:
          PostGIS's best case).

and prints fixes/s of each, and engine / PostGIS ratios (the engine's median of its runs).
The engine does more than the predicate (visits with interpolation between fixes,
hysteresis, merging; zone stays with confirmation), PostGIS only the predicate per fix.

Usage: tests/bench/bench_geofence_vs_postgis.py [--points N] [--fixes N] [--queries N]
                                               [--runs N] [--seed N] [--smoke] [--self-check]
Defaults: 10 000 points, 100 000 fixes (engine), 2 000 queries (PostGIS), 5 runs, seed 20240917
(bench_engine's). BENCH_ENGINE: the bench_engine binary (default build/tests/bench_engine, or
next to PATROLD). The database is a fresh `bench_geofence` in PATROLGIS_PGDIR's cluster.
"""
import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

M64 = (1 << 64) - 1
LON0, LAT0 = 112.9388, 28.2282           # bench_engine.c
WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
DEG2RAD = 3.14159265358979323846 / 180.0
LINE_BUFFER_M = 20.0                     # ZONES_LINE_BUFFER_M


class Rng:
    """bench_engine.c's splitmix64 and rng_range, exactly."""

    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def range(self, lo, hi):
        return lo + (hi - lo) * float(self.next() >> 11) / 9007199254740992.0


def localmetric_k(lat0):
    """kx0, ky0 of localmetric_init (server/geo/localmetric.c), same operations."""
    e2 = WGS84_F * (2.0 - WGS84_F)
    phi = lat0 * DEG2RAD
    s, c = math.sin(phi), math.cos(phi)
    w = 1.0 - e2 * s * s
    n = WGS84_A / math.sqrt(w)
    mm = WGS84_A * (1.0 - e2) / (w * math.sqrt(w))
    return n * c * DEG2RAD, mm * DEG2RAD


def generate(np_, nf, nz, seed):
    """bench_engine's points [(lon, lat, r)], fixes [(t_ms, lon, lat)], zones [(wkt, buffer)]."""
    kx0, ky0 = localmetric_k(LAT0)
    s = Rng(seed)
    pts = []
    for _ in range(np_):
        x = s.range(-5000, 5000)
        y = s.range(-5000, 5000)
        pts.append((LON0 + x / kx0, LAT0 + y / ky0, s.range(30, 100)))
    x = y = 0.0
    t = 1717200000000
    f = []
    while len(f) < nf:
        stop = s.range(0, 1) < 0.3
        if stop:
            p = pts[int(s.range(0, float(np_)))]
            tx, ty = (p[0] - LON0) * kx0, (p[1] - LAT0) * ky0
        else:
            tx = s.range(-5000, 5000)
            ty = s.range(-5000, 5000)
        v = s.range(30, 60) / 3.6
        while True:
            dx, dy = tx - x, ty - y
            d = math.sqrt(dx * dx + dy * dy)
            if d <= v:
                x, y = tx, ty
            else:
                x += dx / d * v
                y += dy / d * v
            t += 1000
            if len(f) < nf:
                lon = LON0 + (x + s.range(-3, 3)) / kx0
                lat = LAT0 + (y + s.range(-3, 3)) / ky0
                f.append((t, lon, lat))
            if d <= v or len(f) >= nf:
                break
        park = int(s.range(60, 300)) if stop else 0
        k = 0
        while k < park and len(f) < nf:
            t += 1000
            lon = LON0 + (x + s.range(-3, 3)) / kx0
            lat = LAT0 + (y + s.range(-3, 3)) / ky0
            f.append((t, lon, lat))
            k += 1
    zones = []
    for i in range(nz):
        cx = s.range(-5000, 5000)
        cy = s.range(-5000, 5000)
        w = s.range(50, 300)
        h = s.range(50, 300)
        x0, x1 = LON0 + (cx - w / 2) / kx0, LON0 + (cx + w / 2) / kx0
        y0, y1 = LAT0 + (cy - h / 2) / ky0, LAT0 + (cy + h / 2) / ky0
        if i % 20 == 19:
            wkt = "LINESTRING(%.7f %.7f,%.7f %.7f,%.7f %.7f)" % (
                x0, y0, x1, y0 + (y1 - y0) / 3, x1 + (x1 - x0), y1)
            zones.append((wkt, LINE_BUFFER_M))
        else:
            wkt = "POLYGON((%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f,%.7f %.7f))" % (
                x0, y0, x1, y0, x1, y1, x0, y1, x0, y0)
            zones.append((wkt, 0.0))
    return pts, f, zones


# Values printed by a C copy of bench_engine.c's generator (gcc 12.2 -O2, x86-64) for
# 10 000 points, 100 000 fixes, seed 20240917: the Python port must give the same doubles.
SELF_CHECK = {
    "P0": (112.98208061422923, 28.257869974232175, 44.983848608706268),
    "P9999": (112.89788693845006, 28.268594430416929, 79.908677410044987),
    "F33333": (1717233334000, 112.95957405138213, 28.233851089165835),
    "F99999": (1717300000000, 112.90949502869836, 28.219695480538999),
    "Z0": "POLYGON((112.9513136 28.2008220,112.9520567 28.2008220,112.9520567 28.2028977,"
          "112.9513136 28.2028977,112.9513136 28.2008220))",
    "Z19": "LINESTRING(112.8892319 28.1992200,112.8918057 28.1996271,112.8943794 28.2004413)",
    "Z999": "LINESTRING(112.9759775 28.2711925,112.9787128 28.2716118,112.9814481 28.2724503)",
}


def self_check():
    pts, f, zones = generate(10000, 100000, 1000, 20240917)
    got = {"P0": pts[0], "P9999": pts[9999], "F33333": f[33333], "F99999": f[99999],
           "Z0": zones[0][0], "Z19": zones[19][0], "Z999": zones[999][0]}
    bad = {k: (got[k], v) for k, v in SELF_CHECK.items() if got[k] != v}
    if bad:
        raise SystemExit("the Python generator differs from bench_engine's: %r" % bad)
    print("self-check: the generator matches bench_engine.c bit for bit")


def find_bench_engine(env):
    cand = [os.environ.get("BENCH_ENGINE"),
            os.path.join(os.path.dirname(os.path.dirname(env.patrold)), "tests", "bench_engine"),
            os.path.join(env.src, "build", "tests", "bench_engine")]
    for c in cand:
        if c and os.access(c, os.X_OK):
            return c
    raise SystemExit("bench_engine not found: build it (target bench_engine) or set BENCH_ENGINE")


def run_engine(path, a):
    cmd = [path, "--points", str(a.points), "--fixes", str(a.fixes), "--runs", str(a.runs),
           "--seed", str(a.seed)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=True).stdout
    vm = re.search(r"visits_compute: (\d+) fixes/s best, (\d+) fixes/s median", out)
    zm = re.search(r"zones_compute: (\d+) fixes/s best, (\d+) fixes/s median", out)
    zn = re.search(r"zones: (\d+) ", out)
    if not vm or not zm:
        raise SystemExit("cannot read bench_engine's output:\n" + out)
    return out, float(vm.group(2)), float(zm.group(2)), int(zn.group(1)) if zn else 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=10000)
    ap.add_argument("--fixes", type=int, default=100000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20240917)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--self-check", action="store_true",
                    help="only check the generator against bench_engine's values")
    ap.add_argument("--keep", action="store_true", help="keep the database bench_geofence")
    a = ap.parse_args()
    if a.self_check:
        self_check()
        return 0
    if a.smoke:
        a.points, a.fixes, a.queries, a.runs = 200, 2000, 100, 1
    a.queries = min(a.queries, a.fixes)

    env = harness.get_env()
    engine = find_bench_engine(env)
    print("bench_geofence_vs_postgis: engine (bench_engine) vs a PostGIS query per fix")
    # 1. The engine.
    out, v_rate, z_rate, nz = run_engine(engine, a)
    for line in out.splitlines():
        print("  | " + line)
    # 2. The same town in PostGIS.
    pts, fixes, zones = generate(a.points, a.fixes, nz, a.seed)
    cl = env.cluster
    db = "bench_geofence"
    cl.createdb(db)
    tmp = tempfile.mkdtemp(prefix="bench-geofence-")
    try:
        pfile = os.path.join(tmp, "points.tsv")
        with open(pfile, "w") as f:
            for i, (lon, lat, r) in enumerate(pts):
                f.write("%d\t%.17g\t%.17g\t%.17g\n" % (i + 1, lon, lat, r))
        ffile = os.path.join(tmp, "fixes.tsv")
        with open(ffile, "w") as f:
            for i, (t, lon, lat) in enumerate(fixes[:a.queries]):
                f.write("%d\t%.17g\t%.17g\n" % (i, lon, lat))
        zfile = os.path.join(tmp, "zones.tsv")
        with open(zfile, "w") as f:
            for i, (wkt, buf) in enumerate(zones):
                f.write("%d\t%s\t%g\n" % (i + 1, wkt, buf))
        cl.psql(db, """
CREATE TABLE bench_points (id bigint PRIMARY KEY, lon float8, lat float8, radius_m float8,
                           geog geography(Point, 4326));
CREATE TABLE bench_fixes (i int PRIMARY KEY, lon float8, lat float8, geog geography(Point, 4326));
CREATE TABLE bench_zones (id bigint PRIMARY KEY, wkt text, buffer_m float8, geog geography);
\\copy bench_points (id, lon, lat, radius_m) FROM '%s'
\\copy bench_fixes (i, lon, lat) FROM '%s'
\\copy bench_zones (id, wkt, buffer_m) FROM '%s'
UPDATE bench_points SET geog = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;
UPDATE bench_fixes SET geog = ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography;
UPDATE bench_zones SET geog = ST_GeomFromText(wkt, 4326)::geography;
CREATE INDEX ON bench_points USING gist (geog);
CREATE INDEX ON bench_zones USING gist (geog);
VACUUM ANALYZE bench_points; VACUUM ANALYZE bench_fixes; VACUUM ANALYZE bench_zones;
""" % (pfile, ffile, zfile), timeout=600)
        maxr = max(r for _, _, r in pts)
        maxb = max(b for _, b in zones)
        q_pts = ("SELECT count(*) FROM bench_points p WHERE ST_DWithin(p.geog, %s, " +
                 repr(math.ceil(maxr)) + ") AND ST_DWithin(p.geog, %s, p.radius_m)")
        q_zon = ("SELECT count(*) FROM bench_zones z WHERE ST_DWithin(z.geog, %s, " +
                 repr(math.ceil(maxb)) + ") AND ST_DWithin(z.geog, %s, z.buffer_m)")
        url = cl.url(db)
        results = {}
        hits = {}
        for what, q in (("points", q_pts), ("zones", q_zon)):
            fix = "ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography"
            now = "SELECT extract(epoch FROM clock_timestamp());"
            script = ["PREPARE q(float8, float8) AS %s;" % (q % (fix, fix)), now]
            script += ["EXECUTE q(%.17g, %.17g);" % (lon, lat)
                       for _, lon, lat in fixes[:a.queries]]
            script.append(now)
            sfile = os.path.join(tmp, "%s.sql" % what)
            with open(sfile, "w") as f:
                f.write("\n".join(script) + "\n")
            cp = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d",
                                 url, "-f", sfile], capture_output=True, text=True, check=True,
                                env=harness.clean_env())
            vals = cp.stdout.split()
            # From the first to the last clock reading: every EXECUTE's round trip, no start-up.
            client = float(vals[-1]) - float(vals[0])
            hits[what] = sum(int(v) for v in vals[1:-1])
            loop = q % ("r.geog", "r.geog")
            server = float(cl.scalar(db, """
CREATE OR REPLACE FUNCTION pg_temp.bench_loop() RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE r record; c bigint; t0 timestamptz := clock_timestamp(); BEGIN
  FOR r IN SELECT geog FROM bench_fixes ORDER BY i LOOP
    %s INTO c;
  END LOOP;
  RETURN extract(epoch FROM clock_timestamp() - t0);
END $$;
SELECT pg_temp.bench_loop();""" % loop))
            results[what] = (a.queries / client, a.queries / server)
        print("PostGIS: %d points, %d zones, the first %d fixes; %d point hits, %d zone hits"
              % (len(pts), len(zones), a.queries, hits["points"], hits["zones"]))
        for what, eng in (("points", v_rate), ("zones", z_rate)):
            c, s = results[what]
            print("%-6s engine %.0f fixes/s (median) | PostGIS per fix: client %.0f fixes/s, "
                  "in-database loop %.0f fixes/s | engine/PostGIS = %.0f (client), %.0f (loop)"
                  % (what, eng, c, s, eng / c, eng / s))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not a.keep:
            harness.run(["psql", "-X", "-q", "-d", cl.url("postgres"), "-c",
                         "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db], timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""bench_ingest.py - fixes per second through patrold's HTTP JSON batches (the whole ingest
path: parse, checks, speed flags, one transaction per batch with its engine_queue row and
NOTIFY, reply after COMMIT; the check-in engine running in the same process) against raw
`COPY` of the same rows into the same `positions` table, in the same run, on the same cluster.

Setup (not timed): a fresh database `bench_ingest` in the cluster of PATROLGIS_PGDIR (as the
integration tests; default /tmp/pgit, started if needed), migrations, the demo town (so the
engine has points and zones to evaluate), one patrold, DEVICES devices for HTTP and as many for
COPY. Each device gets a car's track at 1 Hz through the town (20-60 km/h between random places,
stops at the patrol points, +-3 m noise), cut into BATCH-fix batches; the JSON bodies and the
COPY text (hex EWKB points) are made before the clock starts.

Timed, per run (the order alternates between runs):
  http  WORKERS threads, each POSTing its devices' batches on a keep-alive connection; from the
        first request to the last reply (every reply 201 with all fixes new). Also: how long
        the engine then needs to drain engine_queue, and the client's CPU time (the driver must
        not be the bottleneck: it sends pre-encoded bodies).
  copy  WORKERS `psql -c "\\copy positions (...) FROM file"` processes at once (COPY FROM
        STDIN through psql), the same number of rows per device, other device ids.
Prints fixes/s of both (median of the runs) and the ratio http/copy (target >= 0.5), with the
machine, commit, seed and sizes.

Usage: tests/bench/bench_ingest.py [--devices N] [--batches N] [--batch N] [--workers N]
                                   [--runs N] [--seed N] [--smoke] [--keep]
Defaults: 8 devices x 5 batches x 10 000 fixes, 4 workers, 3 runs. --smoke: 2 x 1 x 1 000,
1 run (seconds; what ctest runs under the label `bench`). PATROLD: the binary (default
build/server/patrold). Not a test: nothing is asserted beyond the replies being 201.
"""
import argparse
import datetime as dt
import http.client
import json
import math
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

LON0, LAT0 = 112.90, 28.10   # the demo town


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return model, os.cpu_count()


def proc_cpu(pid):
    """User + system CPU seconds of a process (and its threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def sys_cpu():
    """(busy, total) CPU seconds of the whole machine so far."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return (sum(v) - idle) / hz, sum(v) / hz
    except (OSError, ValueError):
        return 0.0, 0.0


def commit(src):
    try:
        c = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", src, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return c + ("+changes" if dirty else "") if c else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def track(rng, n, t0, points):
    """n fixes at 1 Hz from epoch second t0: (t, lon, lat, kmh, heading)."""
    ky = 6371008.8 * math.pi / 180
    kx = ky * math.cos(math.radians(LAT0))
    x, y = rng.uniform(-3000, 3000), rng.uniform(-2500, 2500)
    out = []
    t = t0
    while len(out) < n:
        if points and rng.random() < 0.3:
            lon, lat = rng.choice(points)
            tx = (lon - LON0) * kx + rng.uniform(-10, 10)
            ty = (lat - LAT0) * ky + rng.uniform(-10, 10)
            park = rng.randint(60, 300)
        else:
            tx, ty, park = rng.uniform(-4000, 4000), rng.uniform(-3000, 3000), 0
        v = rng.uniform(20, 60) / 3.6
        hdg = math.degrees(math.atan2(tx - x, ty - y)) % 360
        while len(out) < n:
            d = math.hypot(tx - x, ty - y)
            if d <= v:
                x, y = tx, ty
            else:
                x += (tx - x) / d * v
                y += (ty - y) / d * v
            out.append((t, LON0 + (x + rng.uniform(-3, 3)) / kx,
                        LAT0 + (y + rng.uniform(-3, 3)) / ky, v * 3.6, hdg))
            t += 1
            if d <= v:
                break
        for _ in range(park):
            if len(out) >= n:
                break
            out.append((t, LON0 + (x + rng.uniform(-3, 3)) / kx,
                        LAT0 + (y + rng.uniform(-3, 3)) / ky, 0.0, hdg))
            t += 1
    return out


def json_body(fixes):
    return json.dumps({"fixes": [
        {"t": t * 1000, "lat": round(lat, 7), "lon": round(lon, 7), "speed_kmh": round(kmh, 1),
         "heading": round(h, 1), "accuracy_m": 5.0, "altitude_m": 60.0}
        for t, lon, lat, kmh, h in fixes]}, separators=(",", ":")).encode()


def copy_lines(device_id, fixes):
    out = []
    for t, lon, lat, kmh, h in fixes:
        ewkb = struct.pack("<BIIdd", 1, 0x20000001, 4326, round(lon, 7), round(lat, 7)).hex()
        ts = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")
        out.append("%d\t%s\t%s\t%.1f\t%.1f\t5\t60\tjson\n" % (device_id, ts, ewkb, kmh, h))
    return "".join(out)


class Bench:
    def __init__(self, a):
        self.a = a
        self.env = harness.get_env()
        self.env.check_binary()
        self.cl = self.env.cluster
        self.db = "bench_ingest"
        self.tmp = tempfile.mkdtemp(prefix="bench-ingest-")
        self.rng = random.Random(a.seed)
        self.server = None
        self.next_dev = 1

    def psql(self, sql):
        return self.cl.psql(self.db, sql, timeout=600)

    def cli(self, *args):
        cp = harness.run([self.env.patrold, "--db", self.cl.url(self.db)] + list(args),
                         timeout=120, check=True)
        return cp.stdout

    def setup(self):
        a = self.a
        self.cl.createdb(self.db)
        self.cli("migrate")
        harness.run(["bash", os.path.join(self.env.src, "geodata", "load-demo"),
                     self.cl.url(self.db)], timeout=120, check=True)
        self.points = [(float(r[0]), float(r[1])) for r in self.psql(
            "SELECT ST_X(location), ST_Y(location) FROM patrol_points")]
        self.server = harness.Server(self.env, "bench-ingest", self.cl.url(self.db),
                                     options=["--log-level", "warn"] + a.server_opt)
        self.server.start()
        self.span_s = a.batches * a.batch
        # All tracks end a day ago (well inside the retention, never in the future).
        self.t0 = int(time.time()) - 86400 - self.span_s
        d0 = dt.datetime.fromtimestamp(self.t0, dt.timezone.utc).date()
        d1 = dt.datetime.fromtimestamp(self.t0 + self.span_s, dt.timezone.utc).date()
        self.psql("SELECT positions_ensure_partitions('%s', '%s')" % (d0, d1))

    def devices(self, n, with_token):
        out = []
        for _ in range(n):
            name = "bench-%d" % self.next_dev
            self.next_dev += 1
            dev = json.loads(self.cli("device", "add", name))
            out.append((dev["id"], dev["token"] if with_token else None))
        return out

    def run_http(self, devs, tracks):
        a = self.a
        bodies = [[json_body(tr[b * a.batch:(b + 1) * a.batch]) for b in range(a.batches)]
                  for tr in tracks]
        jobs = [[] for _ in range(a.workers)]
        for i, (dev, tok) in enumerate(devs):
            jobs[i % a.workers].extend((tok, body) for body in bodies[i])
        errors = []
        start = threading.Barrier(a.workers + 1)

        def worker(js):
            conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=600)
            start.wait()
            for tok, body in js:
                conn.request("POST", "/api/v1/positions", body=body, headers={
                    "Authorization": "Bearer " + tok, "Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 201 or json.loads(data).get("new") != a.batch:
                    errors.append("%d %s" % (r.status, data[:300]))
            conn.close()

        ths = [threading.Thread(target=worker, args=(js,)) for js in jobs]
        for th in ths:
            th.start()
        cpu0 = time.process_time()
        p0, (b0, a0) = proc_cpu(self.server.pid), sys_cpu()
        start.wait()
        t0 = time.monotonic()
        for th in ths:
            th.join()
        wall = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        p1, (b1, a1) = proc_cpu(self.server.pid), sys_cpu()
        self.cpu_split = (p1 - p0, (b1 - b0) - (p1 - p0) - cpu, (a1 - a0) - (b1 - b0))
        if errors:
            raise RuntimeError("HTTP batches failed: %s" % errors[:3])
        # The engine works through engine_queue behind the replies.
        t1 = time.monotonic()
        while int(self.psql("SELECT count(*) FROM engine_queue")[0][0]) > 0:
            if time.monotonic() - t1 > 600:
                break
            time.sleep(0.05)
        drain = time.monotonic() - t0
        return wall, cpu, drain

    def run_copy(self, devs, tracks):
        a = self.a
        files = []
        per = [[] for _ in range(a.workers)]
        for i, ((dev, _), tr) in enumerate(zip(devs, tracks)):
            per[i % a.workers].append(copy_lines(dev, tr))
        for w, parts in enumerate(per):
            if not parts:
                continue
            p = os.path.join(self.tmp, "copy-%d.tsv" % w)
            with open(p, "w") as f:
                f.write("".join(parts))
            files.append(p)
        url = self.cl.url(self.db)
        cmds = [["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c",
                 "\\copy positions (device_id, fix_time, geom, speed_kmh, heading, accuracy_m,"
                 " altitude_m, source) FROM '%s'" % p] for p in files]
        b0, a0 = sys_cpu()
        t0 = time.monotonic()
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=harness.clean_env()) for c in cmds]
        for p in procs:
            out, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError("psql \\copy failed: %s" % err)
        wall = time.monotonic() - t0
        b1, a1 = sys_cpu()
        self.cpu_split = (b1 - b0, (a1 - a0) - (b1 - b0))
        for p in files:
            os.unlink(p)
        return wall

    def main(self):
        a = self.a
        model, cores = machine()
        n_per = a.devices * a.batches * a.batch
        print("bench_ingest: HTTP JSON batches vs raw COPY into positions")
        print("cpu: %s, %s cores" % (model, cores))
        print("commit: %s" % commit(self.env.src))
        print("seed: %d" % a.seed)
        print("patrold: %s %s" % (self.env.patrold, " ".join(a.server_opt)))
        self.setup()
        pgv = self.psql("SHOW server_version")[0][0]
        h = self.server.request("GET", "/healthz").json
        print("patrold version %s, PostgreSQL %s (fsync on, synchronous_commit on)"
              % (h.get("version", "?"), pgv))
        print("sizes: %d devices x %d batches x %d fixes = %d fixes per method per run, "
              "%d workers, %d run(s)" % (a.devices, a.batches, a.batch, n_per, a.workers, a.runs))
        http_r, copy_r, drains, cpus = [], [], [], []
        for r in range(a.runs):
            hdevs = self.devices(a.devices, True)
            cdevs = self.devices(a.devices, False)
            base = self.t0
            tracks = [track(self.rng, a.batches * a.batch, base, self.points)
                      for _ in range(a.devices)]
            order = ("http", "copy") if r % 2 == 0 else ("copy", "http")
            for what in order:
                if what == "http":
                    wall, cpu, drain = self.run_http(hdevs, tracks)
                    http_r.append(n_per / wall)
                    drains.append(n_per / drain)
                    cpus.append(cpu / wall)
                    print("run %d http: %.2f s, %.0f fixes/s; engine queue drained after %.2f s "
                          "(%.0f fixes/s end to end)" % (r + 1, wall, n_per / wall, drain,
                                                         n_per / drain))
                    print("      CPU during it: patrold %.1f s, PostgreSQL and the rest %.1f s, "
                          "this driver %.2f s, idle %.1f s (of %d cores x %.1f s)"
                          % (self.cpu_split[0], self.cpu_split[1], cpu, self.cpu_split[2],
                             os.cpu_count(), wall))
                else:
                    wall = self.run_copy(cdevs, tracks)
                    copy_r.append(n_per / wall)
                    print("run %d copy: %.2f s, %.0f fixes/s" % (r + 1, wall, n_per / wall))
                    print("      CPU during it: PostgreSQL, psql and the rest %.1f s, idle %.1f s"
                          % self.cpu_split)
        stored = int(self.psql("SELECT count(*) FROM positions")[0][0])
        want = 2 * n_per * a.runs
        if stored != want:
            raise RuntimeError("positions holds %d rows, expected %d" % (stored, want))
        vis = int(self.psql("SELECT count(*) FROM visits")[0][0])
        hm, cm = statistics.median(http_r), statistics.median(copy_r)
        print("http: %.0f fixes/s (median), copy: %.0f fixes/s (median); engine: %d visits "
              "written" % (hm, cm, vis))
        print("ratio http/copy = %.2f (target >= 0.5: %s); end to end with the engine drained: "
              "%.2f" % (hm / cm, "met" if hm / cm >= 0.5 else "NOT met",
                        statistics.median(drains) / cm))

    def close(self):
        if self.server is not None:
            self.server.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if not self.a.keep:
            try:
                harness.run(["psql", "-X", "-q", "-d", self.cl.url("postgres"), "-c",
                             "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.db], timeout=120)
            except Exception:  # noqa: BLE001 - cleanup
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20241128)
    ap.add_argument("--server-opt", action="append", default=[],
                    help="an extra patrold option (repeat), e.g. --server-opt=--db-pool=16")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one run (ctest)")
    ap.add_argument("--keep", action="store_true", help="keep the database bench_ingest")
    a = ap.parse_args()
    if a.smoke:
        a.devices, a.batches, a.batch, a.workers, a.runs = 2, 1, 1000, 2, 1
    if min(a.devices, a.batches, a.batch, a.workers, a.runs) < 1 or a.batch > 10000:
        ap.error("sizes must be >= 1 and --batch <= 10000")
    b = Bench(a)
    try:
        b.main()
    finally:
        b.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

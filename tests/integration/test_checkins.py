#!/usr/bin/env python3
"""test_checkins.py - scenario tests of the check-in and geofence engine on the demo town 青石镇:
real fixes go in through POST /api/v1/positions (a device token from `patrold device add`), the
engine worker turns them into visits, check-ins and events, and the tests read them back
through the API (and SQL where the API has no view).

Scenarios (DESIGN.md section 4; issue 4 "The engine" and "Tests and measurements"):
  * done, late and missed on the gates of 青石镇中心小学, with exactly one checkin_missed event
    per window and date, the compliance report (JSON and CSV) and presence minutes;
  * a drive-by on 15 s fixes at 50 km/h: no fix within the radius (PostGIS says so), still a
    visit (and a route point's check-in done); the same drive-by past a gate is too short;
  * dwell too short: a 20 s stop at a gate is a visit but no check-in;
  * GPS drift at the radius edge: a car parked 43..58 m from a gate (radius 50 m, hysteresis
    10 m) for 10 minutes is one visit, not a flapping series;
  * an out-of-season water point: visits, but no check-in and no zone event; a water point in
    season next to it is done;
  * an exam-day window (中考安保) applies only on its dates, and needs 2 distinct visits;
  * pending while a window is open, and a checkin_missed event when it closes (windows made
    relative to the current local time: nothing sleeps for hours; the server then runs in a
    zone where it is now about noon, so no window crosses midnight), also on the event stream;
  * zone events at a pond: enter/exit, a 10 s excursion (shorter than the 20 s confirmation)
    and drift across the shore (within the 10 m hysteresis) do not flap;
  * late batches: a dead-zone chunk uploaded after the rest was processed, and shuffled
    batches in random order and sizes with re-sent duplicates, give the same visits, check-ins
    and zone events as one sorted batch in a database of its own;
  * recomputation: the periodic pass catches up the days of an outage, late fixes resolve a
    missed window (a checkin_resolved event), a window that closed before it was created is
    never missed, moving a point or editing a window recomputes visits and check-ins of the
    last --recompute-days days quietly (also for an edit made while patrold was stopped, and
    after geodata/load-demo replaced the points), a window closing unseen meanwhile is still
    announced, and the periodic pass waits for a recomputation, 10 minutes at most;
  * the event stream: resume with Last-Event-ID, heartbeats, clean end on SIGTERM;
  * the device track: GeoJSON split at gaps, outliers excluded unless asked (and ignored by the
    engine);
  * bad query arguments are 4xx.

Days: scenario fixes lie on a past school day D (Tuesday..Friday, at least 3 days ago, so the
engine's periodic pass over yesterday and today leaves D alone). Times and dates are the
server's (harness.SERVER_TZ, Asia/Shanghai), never the host's: the test runner's TZ does not
matter.

Run: python3 tests/integration/test_checkins.py [-k PATTERN]
"""
import json
import math
import os
import random
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PatrolTestCase, clean_env, run  # noqa: E402

SRC = os.environ.get("PATROLGIS_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
LOAD_DEMO = os.path.join(SRC, "geodata", "load-demo")
TZ = harness.SERVER_TZ  # the zone patrold counts local days in (Asia/Shanghai)

P1 = "青石镇中心小学正门"
P2 = "青石镇中心小学侧门"
R1 = "学府路南街口（上学路口）"
G3 = "青石镇中学正门"
K11 = "阳光幼儿园正门"
Y9 = "云岭小学正门"
W17 = "青石河河湾（防溺水）"
W18 = "荷花塘（防溺水）"
POND = "荷花塘"


def pick_day():
    """A Tuesday..Friday at least 3 days before the server's today."""
    d = harness.server_today() - timedelta(days=3)
    while d.weekday() not in (1, 2, 3, 4):
        d -= timedelta(days=1)
    return d


def local_ms(day, hhmmss):
    parts = [int(x) for x in hhmmss.split(":")] + [0]
    dt = datetime(day.year, day.month, day.day, parts[0], parts[1], parts[2], tzinfo=TZ)
    return int(dt.timestamp() * 1000)


def iso_ms(s):
    """RFC 3339 (…Z) to epoch ms."""
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


class Frame:
    """Local metres (x east, y north) around a point, with the WGS84 radii of curvature."""

    def __init__(self, lon, lat):
        self.lon0, self.lat0 = lon, lat
        a, e2 = 6378137.0, 6.69437999014e-3
        s = math.sin(math.radians(lat))
        w = math.sqrt(1 - e2 * s * s)
        self.kx = a / w * math.cos(math.radians(lat)) * math.pi / 180
        self.ky = a * (1 - e2) / w ** 3 * math.pi / 180

    def lonlat(self, x, y):
        return self.lon0 + x / self.kx, self.lat0 + y / self.ky

    def xy(self, lon, lat):
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky


class Track:
    """A device's fixes, built by driving, waiting and jumping in local metres."""

    def __init__(self, frame, t_ms, x, y, step_s=5):
        self.f = frame
        self.t = t_ms
        self.x, self.y = x, y
        self.step = step_s
        self.fixes = []
        self.emit()

    def emit(self, dx=0.0, dy=0.0):
        lon, lat = self.f.lonlat(self.x + dx, self.y + dy)
        self.fixes.append((int(round(self.t)), round(lon, 8), round(lat, 8)))

    def wait(self, secs, noise=None, step=None):
        step = step or self.step
        for _ in range(int(secs // step)):
            self.t += step * 1000
            d = noise() if noise else (0.0, 0.0)
            self.emit(*d)

    def drive(self, x, y, kmh, step=None):
        step = step or self.step
        dist = math.hypot(x - self.x, y - self.y)
        dur = dist / (kmh / 3.6)
        n = max(1, int(math.ceil(dur / step)))
        x0, y0 = self.x, self.y
        for i in range(1, n + 1):
            self.t += dur * 1000 / n
            self.x = x0 + (x - x0) * i / n
            self.y = y0 + (y - y0) * i / n
            self.emit()

    def skip(self, secs):
        """Time passes without fixes (a gap)."""
        self.t += secs * 1000

    def jump(self, x, y):
        self.x, self.y = x, y
        self.emit()

    def goto_time(self, t_ms):
        self.t = t_ms


class EngineCase(PatrolTestCase):
    DB_PREFIX = "chk"
    AUTO_SERVER = False

    def setUp(self):
        super().setUp()
        self.day = pick_day()
        self.prepare(self.db)
        self.add_user("vi", "viewer", display_name="领导")
        self.viewer = self.issue_token(user="vi", label="it-viewer")
        self.dev = self.add_device("巡逻车1")
        self.note("scenario day D = %s" % self.day.isoformat())

    def prepare(self, db):
        self.patrold("migrate", db=db)
        cp = run([LOAD_DEMO, self.url(db)], env=clean_env({"PGCLIENTENCODING": "UTF8"}),
                 timeout=120)
        if cp.returncode != 0:
            self.fail("geodata/load-demo failed (%d):\n%s%s" % (cp.returncode, cp.stdout,
                                                                 cp.stderr))
        # The scenarios happen on D, days ago: the windows must have existed then (a window
        # that closed before it was created is never missed).
        self.psql("UPDATE patrol_windows SET created_at = (:'d'::date - 7)::timestamp"
                  " AT TIME ZONE :'tz'", db=db, d=self.day.isoformat(), tz=harness.SERVER_TZ_NAME)

    def start(self, db=None, interval=1, options=()):
        srv = self.start_server("--engine-interval-s", str(interval), *options, db=db)
        if db is None:
            self.server = srv
        return srv

    # -- layer data ---------------------------------------------------------------------------

    def points(self, db=None):
        rows = self.psql("SELECT id, name, ST_X(location), ST_Y(location), radius_m, kind"
                         "  FROM patrol_points", db=db)
        return {r[1]: {"id": int(r[0]), "lon": float(r[2]), "lat": float(r[3]),
                       "radius": float(r[4]), "kind": r[5]} for r in rows}

    def window_id(self, point, name, db=None):
        return int(self.scalar("SELECT w.id FROM patrol_windows w JOIN patrol_points p"
                               " ON p.id = w.point_id WHERE p.name = :'p' AND w.name = :'w'",
                               db=db, p=point, w=name))

    def frame(self):
        p = self.points()[P1]
        return Frame(p["lon"], p["lat"])

    def xy_of(self, fr, name, pts=None):
        p = (pts or self.points())[name]
        return fr.xy(p["lon"], p["lat"])

    def pond(self, fr, db=None):
        """Pond centroid and where a ray due south from it crosses the shore, local metres."""
        row = self.psql(
            "WITH w AS (SELECT geom FROM waters WHERE name = :'n'),"
            " c AS (SELECT ST_Centroid(geom) AS c FROM w)"
            " SELECT ST_X(c), ST_Y(c), ST_X(b), ST_Y(b) FROM w, c,"
            " LATERAL (SELECT (ST_Dump(ST_Intersection(ST_Boundary(w.geom),"
            "   ST_MakeLine(c.c, ST_Translate(c.c, 0, -0.01))))).geom AS b) x LIMIT 1",
            db=db, n=POND)[0]
        cx, cy = fr.xy(float(row[0]), float(row[1]))
        bx, by = fr.xy(float(row[2]), float(row[3]))
        return (cx, cy), (bx, by)

    # -- HTTP ---------------------------------------------------------------------------------

    def post_fixes(self, fixes, token=None, srv=None, batch=5000):
        token = token or self.dev["token"]
        out = {"new": 0, "duplicate": 0, "flagged": 0}
        for i in range(0, len(fixes), batch):
            body = {"fixes": [{"t": t, "lon": lon, "lat": lat} for t, lon, lat in
                              fixes[i:i + batch]]}
            r = (srv or self.server).request("POST", "/api/v1/positions", body=body, token=token,
                                             timeout=60)
            self.assertIn(r.status, (200, 201), r)
            for k in out:
                out[k] += int(r.json.get(k, 0))
            self.assertEqual(r.json.get("rejected_count", 0), 0, r)
        return out

    def wait_engine(self, db=None, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if int(self.scalar("SELECT count(*) FROM engine_queue", db=db)) == 0:
                return
            time.sleep(0.05)
        self.fail("the engine did not empty engine_queue within %.0fs" % timeout)

    def getj(self, path, status=200, srv=None):
        r = (srv or self.server).request("GET", path, token=self.viewer)
        self.assertEqual(r.status, status, r)
        return r.json if status == 200 else r

    def checkins(self, point, day=None, srv=None):
        pid = self.points()[point]["id"]
        j = self.getj("/api/v1/checkins?date=%s&point=%d" % ((day or self.day).isoformat(), pid),
                      srv=srv)
        return {c["window_name"]: c for c in j["checkins"]}

    def visits(self, point, device=None):
        pid = self.points()[point]["id"]
        path = "/api/v1/visits?from=%s&to=%s&point=%d" % (
            (self.day - timedelta(days=3)).isoformat(), self.day.isoformat(), pid)
        if device is not None:
            path += "&device=%d" % device
        return self.getj(path)["visits"]

    # -- comparisons between databases --------------------------------------------------------

    def outcome(self, db):
        """What the engine stored, in terms that do not depend on row ids."""
        visits = self.psql(
            "SELECT p.name, floor(extract(epoch FROM v.enter_at) * 1000)::bigint,"
            "       floor(extract(epoch FROM v.exit_at) * 1000)::bigint,"
            "       round(v.dwell_s::numeric, 3), round(v.min_dist_m::numeric, 3)"
            "  FROM visits v JOIN patrol_points p ON p.id = v.point_id ORDER BY 1, 2", db=db)
        checkins = self.psql(
            "SELECT p.name || '/' || w.name, c.local_date::text, c.status,"
            "       floor(extract(epoch FROM c.first_at) * 1000)::bigint,"
            "       cardinality(c.visit_ids)"
            "  FROM checkins c JOIN patrol_windows w ON w.id = c.window_id"
            "  JOIN patrol_points p ON p.id = c.point_id"
            " WHERE c.local_date < :'yesterday' ORDER BY 1, 2", db=db,
            yesterday=(harness.server_today() - timedelta(days=1)).isoformat())
        zones = self.psql(
            "SELECT e.kind, floor(extract(epoch FROM e.at) * 1000)::bigint, e.zone_layer,"
            "       e.payload ->> 'zone_name'"
            "  FROM events e WHERE e.kind IN ('zone_enter', 'zone_exit') ORDER BY 2, 1, 3, 4",
            db=db)
        stays = self.psql("SELECT zone_layer, floor(extract(epoch FROM enter_at) * 1000)::bigint,"
                          " floor(extract(epoch FROM exit_at) * 1000)::bigint FROM zone_stays"
                          " ORDER BY 1, 2", db=db)
        return {"visits": [tuple(r) for r in visits],
                "checkins": {(r[0], r[1]): tuple(r[2:]) for r in checkins},
                "zones": [tuple(r) for r in zones], "stays": [tuple(r) for r in stays]}

    def assert_same_outcome(self, ref, got, what):
        self.assertEqual(ref["visits"], got["visits"], "%s: visits differ" % what)
        self.assertEqual(ref["zones"], got["zones"], "%s: zone events differ" % what)
        self.assertEqual(ref["stays"], got["stays"], "%s: zone stays differ" % what)
        # A row that exists on one side only is a window nobody's visits touched there: the
        # other side must then say missed without visits (an evaluated "nobody came").
        for key in sorted(set(ref["checkins"]) | set(got["checkins"])):
            a, b = ref["checkins"].get(key), got["checkins"].get(key)
            if a is None or b is None:
                only = a or b
                self.assertEqual((only[0], only[2]), ("missed", "0"),
                                 "%s: check-in %r only on one side: %r" % (what, key, only))
            else:
                self.assertEqual(a, b, "%s: check-in %r differs" % (what, key))

    # -- the patrol used by the late-batch tests ----------------------------------------------

    def patrol_track(self, fr, pts):
        """A morning patrol on D: gate stops, a sparse drive-by, drift at a gate, a pond walk."""
        p1 = self.xy_of(fr, P1, pts)
        p2 = self.xy_of(fr, P2, pts)
        r1 = self.xy_of(fr, R1, pts)
        g3 = self.xy_of(fr, G3, pts)
        (cx, cy), (bx, by) = self.pond(fr)
        rng = random.Random(7)
        tr = Track(fr, local_ms(self.day, "06:55:00"), p1[0] + 500, p1[1])
        tr.drive(p1[0], p1[1], 30)
        tr.wait(150)
        tr.drive(p1[0] + 400, p1[1], 30)
        # to the drive-by line through R1 (north-east of it), then sparse fixes across it
        u = (math.sqrt(0.5), math.sqrt(0.5))
        tr.drive(r1[0] + 520 * u[0], r1[1] + 520 * u[1], 40)
        tr.wait(60)
        for _ in range(5):
            tr.drive(tr.x - 208.3 * u[0], tr.y - 208.3 * u[1], 50, step=15)
        # to P2 from the south-west; park at its edge with drift
        tr.drive(p2[0] - 280, p2[1] - 220, 40)
        tr.drive(p2[0] - 28, p2[1] - 22, 20)
        tr.wait(20)
        ang = math.atan2(-220, -280)

        def drift():
            d = rng.choice([44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58])
            a = ang + rng.uniform(-0.15, 0.15)
            return (p2[0] + d * math.cos(a) - tr.x, p2[1] + d * math.sin(a) - tr.y)
        tr.wait(300, noise=drift)
        # the pond: walk in across the southern shore, out again
        tr.drive(bx, by - 60, 30)
        tr.wait(30)
        tr.drive(bx, by + 0.6 * (cy - by), 5)
        tr.wait(90)
        tr.drive(bx, by - 60, 5)
        tr.wait(30)
        # 中学正门: a long stop
        tr.drive(g3[0], g3[1] + 300, 40)
        tr.drive(g3[0], g3[1], 30)
        tr.wait(240)
        tr.drive(g3[0], g3[1] + 300, 30)
        return tr.fixes


# =============================================================================================
# Check-in outcomes
# =============================================================================================

class Outcomes(EngineCase):

    def test_done_late_missed_reports_presence(self):
        # only the two gates of the central primary school had windows on D (the others were
        # created later: never missed on D)
        pts = self.points()
        self.psql("UPDATE patrol_windows SET created_at = now()"
                  " WHERE point_id NOT IN (:a, :b)", a=pts[P1]["id"], b=pts[P2]["id"])
        self.start()
        fr = self.frame()
        pts = self.points()
        p2 = self.xy_of(fr, P2, pts)
        # P1: arrive before 07:00 from the east, stay 3 min -> 上学 done (first at 07:00)
        tr = Track(fr, local_ms(self.day, "06:59:00"), 400, 0)
        tr.drive(0, 0, 30)
        tr.wait(180)
        tr.drive(400, 0, 30)
        # P2: arrive at 07:20 from the south-west -> 上学 late (grace 300 s ends 07:05)
        tr.skip(600)
        tr.goto_time(local_ms(self.day, "07:19:20"))
        tr.jump(p2[0] - 280, p2[1] - 220)
        tr.drive(p2[0], p2[1], 30)
        tr.wait(180)
        tr.drive(p2[0] - 280, p2[1] - 220, 30)
        got = self.post_fixes(tr.fixes)
        self.assertEqual(got["new"], len(tr.fixes))
        self.wait_engine()

        c1, c2 = self.checkins(P1), self.checkins(P2)
        self.assertEqual(c1["上学"]["status"], "done", c1)
        self.assertEqual(iso_ms(c1["上学"]["first_at"]), local_ms(self.day, "07:00"), c1)
        self.assertEqual(len(c1["上学"]["visit_ids"]), 1)
        self.assertEqual([d["name"] for d in c1["上学"]["devices"]], ["巡逻车1"])
        self.assertEqual(c2["上学"]["status"], "late", c2)
        first2 = iso_ms(c2["上学"]["first_at"])
        self.assertTrue(local_ms(self.day, "07:19:20") < first2 < local_ms(self.day, "07:20:00"),
                        c2)
        for c in (c1, c2):
            self.assertEqual(c["放学"]["status"], "missed", c)
            self.assertEqual(c["放学"]["visit_ids"], [])
            self.assertIsNone(c["放学"]["first_at"])

        # one checkin_missed event per missed window and date, naming point and window
        missed = self.getj("/api/v1/events?kind=checkin_missed&from=%s&to=%s"
                           % (self.day.isoformat(), self.day.isoformat()))["events"]
        got = sorted((e["payload"]["point"], e["payload"]["window"]) for e in missed)
        self.assertEqual(got, sorted([(P1, "放学"), (P2, "放学")]), missed)
        for e in missed:
            self.assertEqual(e["payload"]["local_date"], self.day.isoformat())
            self.assertEqual(iso_ms(e["at"]), local_ms(self.day, "18:00"))

        # re-sending the same batch changes nothing
        before = self.outcome(self.db)
        again = self.post_fixes(tr.fixes)
        self.assertEqual((again["new"], again["duplicate"]), (0, len(tr.fixes)))
        self.wait_engine()
        self.assertEqual(self.outcome(self.db), before)
        self.assertEqual(self.count("events", "kind = 'checkin_missed' AND payload->>'local_date'"
                                              " = :'d'", d=self.day.isoformat()), 2)

        # compliance per point and per school; CSV with a BOM
        d = self.day.isoformat()
        rep = self.getj("/api/v1/reports/checkins?from=%s&to=%s&group=point" % (d, d))
        rows = {r["point_name"]: r for r in rep["rows"]}
        self.assertEqual((rows[P1]["done"], rows[P1]["missed"], rows[P1]["compliance_rate"]),
                         (1, 1, 0.5), rows)
        self.assertEqual((rows[P2]["late"], rows[P2]["missed"], rows[P2]["on_time_rate"]),
                         (1, 1, 0.0), rows)
        rep = self.getj("/api/v1/reports/checkins?from=%s&to=%s&group=school" % (d, d))
        school = [r for r in rep["rows"] if r["school_name"] == "青石镇中心小学"][0]
        self.assertEqual((school["done"], school["late"], school["missed"], school["pending"]),
                         (1, 1, 2, 0), rep)
        rep = self.getj("/api/v1/reports/checkins?from=%s&to=%s&group=device" % (d, d))
        dev = {r["device_name"]: r for r in rep["rows"]}
        self.assertEqual((dev["巡逻车1"]["done"], dev["巡逻车1"]["late"]), (1, 1), rep)
        self.assertEqual(dev[None]["missed"], 2, rep)
        rep = self.getj("/api/v1/reports/checkins?from=%s&to=%s&group=day" % (d, d))
        self.assertEqual(rep["rows"][0]["total"], 4, rep)
        r = self.server.request("GET", "/api/v1/reports/checkins?from=%s&to=%s&group=school"
                                "&format=csv" % (d, d), token=self.viewer)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body.startswith(b"\xef\xbb\xbf"), r.body[:20])
        self.assertIn("compliance_rate", r.text.splitlines()[0])
        self.assertIn("青石镇中心小学", r.text)

        # presence at the school's gates in the arrival period: union of both visits
        pres = self.getj("/api/v1/reports/presence?date=%s" % d)
        row = [x for x in pres["rows"] if x["school_name"] == "青石镇中心小学"
               and x["period"] == "arrival"][0]
        self.assertTrue(5.5 <= row["minutes"] <= 8.0, row)
        self.assertEqual((row["visits"], row["devices"]), (2, 1), row)
        dis = [x for x in pres["rows"] if x["school_name"] == "青石镇中心小学"
               and x["period"] == "dismissal"][0]
        self.assertEqual(dis["minutes"], 0.0)
        print("\n  D=%s: P1 上学 done (first 07:00), P2 上学 late (first %s), 放学 missed x2, "
              "presence %.1f min" % (d, c2["上学"]["first_at"], row["minutes"]), file=sys.stderr)

    def test_presence_counts_two_cars_once(self):
        self.start()
        fr = self.frame()
        other = self.add_device("巡逻车2")
        a = Track(fr, local_ms(self.day, "07:10:00"), 0, 0)
        a.wait(600)  # 07:10 .. 07:20 at P1
        b = Track(fr, local_ms(self.day, "07:15:00"), 0, 0)
        b.wait(600)  # 07:15 .. 07:25 at P1 too
        self.post_fixes(a.fixes)
        self.post_fixes(b.fixes, token=other["token"])
        self.wait_engine()
        pres = self.getj("/api/v1/reports/presence?date=%s" % self.day.isoformat())
        row = [x for x in pres["rows"] if x["school_name"] == "青石镇中心小学"
               and x["period"] == "arrival"][0]
        self.assertAlmostEqual(row["minutes"], 15.0, delta=0.1, msg=row)  # not 20
        self.assertEqual((row["visits"], row["devices"]), (2, 2), row)
        c = self.checkins(P1)["上学"]
        self.assertEqual((c["status"], len(c["visit_ids"]), len(c["devices"])), ("late", 2, 2))

    def test_drive_by_on_sparse_fixes(self):
        self.start()
        fr = self.frame()
        pts = self.points()
        r1 = self.xy_of(fr, R1, pts)
        g3 = self.xy_of(fr, G3, pts)
        # 50 km/h, a fix every 15 s (208 m apart), the point midway between two fixes
        u = (math.sqrt(0.5), math.sqrt(0.5))
        tr = Track(fr, local_ms(self.day, "07:03:00"), r1[0] + 520.8 * u[0],
                   r1[1] + 520.8 * u[1], step_s=15)
        for _ in range(5):
            tr.drive(tr.x - 208.3 * u[0], tr.y - 208.3 * u[1], 50)
        # the same past 中学正门 (a gate: dwell 60 s needed), north to south
        tr.skip(300)
        tr.jump(g3[0], g3[1] + 520.8)
        for _ in range(5):
            tr.drive(tr.x, tr.y - 208.3, 50)
        self.post_fixes(tr.fixes)
        self.wait_engine()
        # PostGIS: no fix within either radius
        near = self.scalar(
            "SELECT count(*) FROM positions x, patrol_points p WHERE p.name IN (:'a', :'b')"
            "   AND ST_DWithin(x.geom::geography, p.location::geography, p.radius_m)",
            a=R1, b=G3)
        self.assertEqual(near, "0")
        v = self.visits(R1)
        self.assertEqual(len(v), 1, v)
        self.assertLess(v[0]["min_dist_m"], 1.0, v)
        self.assertTrue(4.0 < v[0]["dwell_s"] < 8.0, v)  # 2 x 40 m at 13.9 m/s
        self.assertEqual(self.checkins(R1)["上学"]["status"], "done")
        g = self.visits(G3)
        self.assertEqual(len(g), 1, g)
        self.assertTrue(g[0]["dwell_s"] < 60, g)
        c = self.checkins(G3)["上学"]
        self.assertEqual((c["status"], c["visit_ids"]), ("missed", []), c)

    def test_dwell_too_short(self):
        self.start()
        fr = self.frame()
        tr = Track(fr, local_ms(self.day, "07:10:00"), 300, 0)
        tr.drive(0, 0, 30)
        tr.wait(20)
        tr.drive(300, 0, 30)
        self.post_fixes(tr.fixes)
        self.wait_engine()
        v = self.visits(P1)
        self.assertEqual(len(v), 1, v)
        self.assertTrue(20 < v[0]["dwell_s"] < 60, v)
        c = self.checkins(P1)["上学"]
        self.assertEqual((c["status"], c["visit_ids"], c["first_at"]), ("missed", [], None), c)

    def test_gps_drift_at_radius_edge_does_not_flap(self):
        self.start()
        fr = self.frame()
        pts = self.points()
        p2 = self.xy_of(fr, P2, pts)
        rng = random.Random(20261128)
        ang = math.atan2(-220, -280)
        tr = Track(fr, local_ms(self.day, "07:00:00"), p2[0] - 280, p2[1] - 220)
        tr.drive(p2[0] - 31, p2[1] - 25, 20)  # 40 m from the gate: inside
        tr.wait(10)
        dists = []

        def drift():
            d = rng.choice([43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58])
            dists.append(d)
            a = ang + rng.uniform(-0.2, 0.2)
            return (p2[0] + d * math.cos(a) - tr.x, p2[1] + d * math.sin(a) - tr.y)
        tr.wait(600, noise=drift)
        tr.drive(p2[0] - 280, p2[1] - 220, 20)
        crossings = sum(1 for a, b in zip(dists, dists[1:]) if (a < 50) != (b < 50))
        self.assertGreater(crossings, 30, "the drift must cross the radius often")
        self.post_fixes(tr.fixes)
        self.wait_engine()
        v = self.visits(P2)
        self.assertEqual(len(v), 1, "drift across the radius flapped: %r" % v)
        self.assertTrue(600 < v[0]["dwell_s"] < 640, v)
        self.assertEqual(self.checkins(P2)["上学"]["status"], "done")
        print("\n  drift: %d crossings of the 50 m radius -> 1 visit of %.0f s"
              % (crossings, v[0]["dwell_s"]), file=sys.stderr)

    def test_out_of_season_water_point(self):
        off = (self.day + timedelta(days=30)).strftime("%m-%d")
        off_end = (self.day + timedelta(days=60)).strftime("%m-%d")
        self.psql("UPDATE patrol_points SET season_start = :'s', season_end = :'e'"
                  " WHERE name = :'p';"
                  "UPDATE waters SET season_start = :'s', season_end = :'e' WHERE name = :'w';"
                  "UPDATE patrol_points SET season_start = NULL, season_end = NULL"
                  " WHERE name = :'q';", s=off, e=off_end, p=W18, w=POND, q=W17)
        self.start()
        fr = self.frame()
        pts = self.points()
        w18 = self.xy_of(fr, W18, pts)
        w17 = self.xy_of(fr, W17, pts)
        (cx, cy), _ = self.pond(fr)
        tr = Track(fr, local_ms(self.day, "12:01:00"), w17[0], w17[1] - 400)
        tr.drive(w17[0], w17[1], 20)
        tr.wait(300)
        tr.drive(w17[0], w17[1] - 400, 20)
        tr.skip(600)
        tr.goto_time(local_ms(self.day, "12:30:00"))
        tr.jump(w18[0] - 400, w18[1])
        tr.drive(w18[0], w18[1], 20)
        tr.wait(300)
        tr.drive(cx, cy, 5)  # into the pond itself
        tr.wait(120)
        tr.drive(w18[0] - 400, w18[1], 20)
        self.post_fixes(tr.fixes)
        self.wait_engine()
        self.assertGreaterEqual(len(self.visits(W18)), 1)
        self.assertEqual(self.checkins(W18), {}, "an out-of-season point has no check-in")
        pond_id = self.scalar("SELECT id FROM waters WHERE name = :'w'", w=POND)
        self.assertEqual(self.count("events", "zone_layer = 'waters' AND zone_id = :id",
                                    id=pond_id), 0)
        self.assertEqual(self.checkins(W17)["午间巡查"]["status"], "done")

    def test_exam_day_window_and_required_visits(self):
        d0, d1, d2 = self.day, self.day - timedelta(days=1), self.day - timedelta(days=2)
        self.psql("UPDATE patrol_windows SET date_from = :'a', date_to = :'b'"
                  " WHERE name = '中考安保'", a=d1.isoformat(), b=d0.isoformat())
        self.start()
        fr = self.frame()
        g3 = self.xy_of(fr, G3)
        fixes = []

        def stop_at(day, hhmm):
            tr = Track(fr, local_ms(day, hhmm), g3[0], g3[1] + 300)
            tr.drive(g3[0], g3[1], 30)
            tr.wait(180)
            tr.drive(g3[0], g3[1] + 300, 30)
            fixes.extend(tr.fixes)
        stop_at(d0, "07:30:00")
        stop_at(d0, "09:00:00")
        stop_at(d1, "07:30:00")
        stop_at(d2, "07:30:00")
        self.post_fixes(sorted(fixes))
        self.wait_engine()
        exam = "中考安保"
        c0, c1, c2 = self.checkins(G3, d0), self.checkins(G3, d1), self.checkins(G3, d2)
        self.assertEqual((c0[exam]["status"], len(c0[exam]["visit_ids"])), ("late", 2), c0)
        self.assertEqual((c1[exam]["status"], len(c1[exam]["visit_ids"])), ("missed", 1), c1)
        self.assertNotIn(exam, c2, "the exam window applies only on its dates")
        if d2.weekday() < 5:
            self.assertEqual(c2["上学"]["status"], "late", c2)
        self.assertEqual(c0["上学"]["status"], "late")


# =============================================================================================
# Windows relative to now: pending, and the checkin_missed event when a window closes
# =============================================================================================

class SseClient:
    """A minimal text/event-stream reader over http.client."""

    def __init__(self, srv, token, path="/api/v1/events/stream", headers=None, timeout=30):
        import http.client
        self.conn = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
        hdrs = {"Authorization": "Bearer " + token, "Accept": "text/event-stream"}
        hdrs.update(headers or {})
        self.conn.request("GET", path, headers=hdrs)
        self.resp = self.conn.getresponse()
        self.lines = []

    def read_line(self):
        line = self.resp.readline()
        if not line:
            return None
        return line.decode("utf-8").rstrip("\r\n")

    def next_event(self, timeout):
        """The next event (id, data dict), or None at the end of the stream; comments are
        collected in self.lines."""
        self.conn.sock.settimeout(timeout)
        ev_id, data = None, []
        while True:
            line = self.read_line()
            if line is None:
                return None
            self.lines.append(line)
            if line == "":
                if data:
                    return ev_id, json.loads("\n".join(data))
                continue
            if line.startswith("id: "):
                ev_id = int(line[4:])
            elif line.startswith("data: "):
                data.append(line[6:])

    def close(self):
        self.conn.close()


class NowWindows(EngineCase):
    """Windows relative to the current time of day, judged by the clock as it runs. A window
    cannot cross local midnight (start < end within one day), so near midnight in Shanghai
    such windows do not exist. The server runs instead with --tz a whole-hour zone in which it
    is now between 12:00 and 13:00: whole hours put any instant there, nothing judged here
    depends on the zone (the engine reads days and times through the same conversion for
    every zone), and the test runs at any time of day."""

    def noon_zone(self):
        """(--tz value, tzinfo) of the Etc/GMT zone in which the local hour is now 12."""
        off = 12 - datetime.now(timezone.utc).hour  # -11 .. +12 hours east of UTC
        name = "UTC" if off == 0 else "Etc/GMT%+d" % -off  # POSIX signs: Etc/GMT-8 is +08:00
        return name, timezone(timedelta(hours=off))

    def test_pending_then_missed_event_when_window_closes(self):
        zone, tz = self.noon_zone()
        now = datetime.now(tz)
        self.note("server zone %s, local time %s" % (zone, now.strftime("%H:%M:%S")))
        hms = lambda d: d.strftime("%H:%M:%S")  # noqa: E731
        pts = self.points()
        # an open window at the kindergarten gate, and one closing in ~25 s at 云岭小学
        self.psql("INSERT INTO patrol_windows (point_id, name, days, start_local, end_local)"
                  " VALUES (:k, 'it-open', 127, :'a', :'b'), (:y, 'it-closing', 127, :'c', :'d')",
                  k=pts[K11]["id"], y=pts[Y9]["id"], a=hms(now - timedelta(minutes=5)),
                  b=hms(now + timedelta(minutes=30)), c=hms(now - timedelta(minutes=3)),
                  d=hms(now + timedelta(seconds=25)))
        w_open = self.window_id(K11, "it-open")
        w_close = self.window_id(Y9, "it-closing")
        today = now.date().isoformat()
        self.start(options=("--tz", zone))

        def status(wid):
            rows = self.psql("SELECT status FROM checkins WHERE window_id = :w"
                             " AND local_date = :'d'", w=wid, d=today)
            return rows[0][0] if rows else None

        deadline = time.monotonic() + 20
        while (status(w_open), status(w_close)) != ("pending", "pending"):
            self.assertLess(time.monotonic(), deadline, "open windows get a pending check-in")
            time.sleep(0.1)
        j = self.getj("/api/v1/checkins?point=%d" % pts[K11]["id"])
        self.assertEqual(j["date"], today)
        self.assertEqual({c["window_name"]: c["status"] for c in j["checkins"]}["it-open"],
                         "pending")

        sse = SseClient(self.server, self.viewer, "/api/v1/events/stream?kind=checkin_missed")
        self.addCleanup(sse.close)
        self.assertEqual(sse.resp.status, 200)
        self.assertTrue(sse.resp.getheader("Content-Type").startswith("text/event-stream"))

        # a car at the kindergarten gate now: the open window is done while still open
        fr = self.frame()
        k = self.xy_of(fr, K11, pts)
        t0 = int(time.time() * 1000) - 150000
        tr = Track(fr, t0, k[0], k[1] + 300)
        tr.drive(k[0], k[1], 30)
        tr.wait(100)
        self.post_fixes(tr.fixes)
        self.wait_engine()
        self.assertEqual(status(w_open), "done")

        # the other window closes without anyone: missed, one event, also on the stream
        deadline = time.monotonic() + 45
        while True:  # (a demo window may happen to close meanwhile: skip its event)
            ev = sse.next_event(timeout=max(1.0, deadline - time.monotonic()))
            self.assertIsNotNone(ev, "the stream ended")
            if ev[1]["payload"].get("window_id") == w_close:
                break
        self.assertEqual(ev[1]["kind"], "checkin_missed", ev)
        self.assertEqual(ev[1]["payload"]["window_id"], w_close, ev)
        self.assertEqual(ev[1]["payload"]["local_date"], today)
        self.assertEqual(ev[1]["payload"]["point"], Y9)
        self.assertEqual(status(w_close), "missed")
        time.sleep(3)  # more periodic passes: still exactly one event
        self.assertEqual(self.count("events", "kind = 'checkin_missed'"
                                              " AND payload->>'window_id' = :'w'",
                                    w=str(w_close)), 1)
        print("\n  window closed at %s: missed, event %d on the stream"
              % (hms(now + timedelta(seconds=25)), ev[0]), file=sys.stderr)


# =============================================================================================
# Older days, outages and layer edits
# =============================================================================================

class Recompute(EngineCase):
    """What the engine redoes when the clock, an outage or an editor changes what is known:
    every window of an older day once fixes of that day arrive, the days an outage skipped,
    a missed window that late fixes resolve, and visits and check-ins after a point or a
    window is edited (also while patrold was stopped)."""

    def windows_since(self, day):
        """Windows that existed since `day` (a test cannot wait for the calendar)."""
        self.psql("UPDATE patrol_windows SET created_at = (:'d'::date)::timestamp"
                  " AT TIME ZONE :'tz'", d=day.isoformat(), tz=harness.SERVER_TZ_NAME)

    def p1_stop(self, fr):
        """A 3-minute stop at P1 over 07:00 on D (its 上学 window: done)."""
        tr = Track(fr, local_ms(self.day, "06:59:00"), 400, 0)
        tr.drive(0, 0, 30)
        tr.wait(180)
        tr.drive(400, 0, 30)
        return tr.fixes

    def p2_stop(self, fr, pts):
        p2 = self.xy_of(fr, P2, pts)
        tr = Track(fr, local_ms(self.day, "07:19:20"), p2[0] - 280, p2[1] - 220)
        tr.drive(p2[0], p2[1], 30)
        tr.wait(180)
        tr.drive(p2[0] - 280, p2[1] - 220, 30)
        return tr.fixes

    def statuses(self, day):
        rows = self.psql("SELECT p.name, w.name, c.status FROM checkins c"
                         "  JOIN patrol_points p ON p.id = c.point_id"
                         "  JOIN patrol_windows w ON w.id = c.window_id"
                         " WHERE c.local_date = :'d'", d=day.isoformat())
        return {(r[0], r[1]): r[2] for r in rows}

    def wait_for(self, what, cond, timeout=30.0):
        deadline = time.monotonic() + timeout
        while not cond():
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.1)

    def test_windows_created_after_they_closed_are_never_missed(self):
        self.psql("UPDATE patrol_windows SET created_at = now()")
        self.start()
        fr, pts = self.frame(), self.points()
        self.post_fixes(self.p2_stop(fr, pts))
        self.wait_engine()
        # the visit still counts; nothing is missed on D, not even 放学 at the visited gate
        self.assertEqual(self.statuses(self.day), {(P2, "上学"): "late"})
        self.assertEqual(self.count("events", "kind = 'checkin_missed'"
                                              " AND payload->>'local_date' = :'d'",
                                    d=self.day.isoformat()), 0)

    def test_reloading_the_demo_town_recomputes_at_start(self):
        self.start()
        fr = self.frame()
        self.post_fixes(self.p1_stop(fr))
        self.wait_engine()
        self.assertEqual(self.statuses(self.day)[(P1, "上学")], "done")
        old_id = self.points()[P1]["id"]
        self.server.close()
        self.prepare(self.db)  # geodata/load-demo again: the patrol points are replaced
        self.assertNotEqual(self.points()[P1]["id"], old_id)
        self.assertEqual(self.statuses(self.day), {}, "check-ins went with the old points")
        self.start()
        self.wait_for("the stored fixes give the new points their visits and check-ins",
                      lambda: self.statuses(self.day).get((P1, "上学")) == "done")
        self.assertEqual(int(self.scalar("SELECT count(*) FROM visits WHERE point_id = :p",
                                         p=self.points()[P1]["id"])), 1)
        self.wait_for("the windows re-evaluated after the recomputation",
                      lambda: "windows or rules edited" in self.server.log_text())
        self.assertEqual(self.statuses(self.day - timedelta(days=1)), {})

    def test_late_fixes_resolve_a_missed_window(self):
        # patrold was down since D: its first pass judges D's windows - nobody came
        self.psql("INSERT INTO engine_state (name, value) VALUES ('missed_through', :'d')",
                  d=(self.day - timedelta(days=1)).isoformat())
        self.start()
        fr = self.frame()
        self.wait_for("the first pass covers D",
                      lambda: self.statuses(self.day).get((P1, "上学")) == "missed")
        w = self.window_id(P1, "上学")
        on_d = "payload->>'window_id' = :'w' AND payload->>'local_date' = :'d'"
        missed = self.psql("SELECT id FROM events WHERE kind = 'checkin_missed' AND " + on_d,
                           w=str(w), d=self.day.isoformat())
        self.assertEqual(len(missed), 1)
        # the car's dead-zone fixes at P1 arrive
        self.post_fixes(self.p1_stop(fr))
        self.wait_engine()
        self.assertEqual(self.statuses(self.day)[(P1, "上学")], "done")
        ev = self.getj("/api/v1/events?kind=checkin_resolved&from=%s&to=%s"
                       % (self.day.isoformat(), harness.server_today().isoformat()))["events"]
        self.assertEqual(len(ev), 1, ev)
        pl = ev[0]["payload"]
        self.assertEqual((pl["window_id"], pl["local_date"], pl["status"], pl["point"]),
                         (w, self.day.isoformat(), "done", P1), ev)
        self.assertEqual(iso_ms(pl["first_at"]), local_ms(self.day, "07:00"), ev)
        # the missed announcement stays: it was true when it was made
        self.assertEqual(self.count("events", "kind = 'checkin_missed' AND " + on_d, w=str(w),
                                    d=self.day.isoformat()), 1)
        # re-sending changes nothing
        self.post_fixes(self.p1_stop(fr))
        self.wait_engine()
        self.assertEqual(self.count("events", "kind = 'checkin_resolved'"), 1)

    def test_periodic_pass_catches_up_after_an_outage(self):
        today = harness.server_today()
        self.windows_since(today - timedelta(days=30))
        self.psql("INSERT INTO engine_state (name, value) VALUES ('missed_through', :'d')",
                  d=(today - timedelta(days=6)).isoformat())
        self.start()
        through = (today - timedelta(days=2)).isoformat()
        self.wait_for("the pass moves missed_through",
                      lambda: self.scalar("SELECT value FROM engine_state"
                                          " WHERE name = 'missed_through'") == through)
        for back in range(2, 6):
            day = today - timedelta(days=back)
            st = self.statuses(day)
            if day.weekday() < 5:
                self.assertGreater(len(st), 0, "%s: windows of the outage evaluated" % day)
                self.assertEqual(set(st.values()), {"missed"}, st)
        self.assertEqual(self.statuses(today - timedelta(days=6)), {}, "before the mark")
        self.assertEqual(self.statuses(today - timedelta(days=7)), {})

    def window_on(self, point, name, day):
        """A window of that local day only, 10:00-10:20, created two days before it."""
        self.psql("INSERT INTO patrol_windows (point_id, name, days, start_local, end_local,"
                  " date_from, date_to, created_at)"
                  " VALUES (:p, :'n', 127, '10:00', '10:20', :'d', :'d', :'d'::date - 2)",
                  p=self.points()[point]["id"], n=name, d=day.isoformat())
        return self.window_id(point, name)

    def test_window_closing_unseen_during_a_recomputation_is_announced(self):
        # A window that closed while patrold was down, on a day the periodic pass has not
        # closed for good, next to an edit of places and windows: at start the visits are
        # recomputed and the windows re-evaluated quietly, and that window's checkin_missed
        # must still be written (no later pass would: it sees no change). The window is
        # yesterday's, a day that stays open at any time of day: missed_through (the last day
        # closed for good) is the day before it, as the first start's pass left it unless
        # midnight came in between, so it is set here.
        self.start()
        self.post_fixes(self.p1_stop(self.frame()))
        self.wait_engine()
        self.server.close()
        yesterday = datetime.now(TZ).date() - timedelta(days=1)
        self.psql("INSERT INTO engine_state (name, value) VALUES ('missed_through', :'d')"
                  " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                  d=(yesterday - timedelta(days=1)).isoformat())
        self.psql("UPDATE patrol_points SET location = ST_Project(location::geography, 10, 0)"
                  "::geometry WHERE name = :'p'", p=G3)
        w = self.window_on(Y9, "it-closed", yesterday)
        self.start()
        self.wait_for("the window is judged", lambda: self.count(
            "checkins", "window_id = :w AND status = 'missed' AND local_date = :'d'", w=w,
            d=yesterday.isoformat()) == 1)
        self.wait_for("one checkin_missed for it", lambda: self.count(
            "events", "kind = 'checkin_missed' AND payload->>'window_id' = :'w'",
            w=str(w)) == 1)
        log = self.server.log_text()
        self.assertIn("places or zones edited: 1 device(s) queued", log)
        self.assertIn("windows or rules edited", log)

    def test_periodic_pass_waits_for_a_recomputation_at_most_10_minutes(self):
        self.start()
        self.post_fixes(self.p1_stop(self.frame()))
        self.wait_engine()
        last_pass = lambda: harness.metric(  # noqa: E731
            self.server.metrics(), "patrold_engine_last_pass_timestamp_seconds")
        self.wait_for("a first pass", lambda: (last_pass() or 0) > 0)
        # another session holds the device's engine lock: its recompute row stays queued
        holder = threading.Thread(target=self.psql, args=(
            "SELECT pg_advisory_lock(hashtext('patrolgis.engine'), %d);"
            " SELECT pg_sleep(12);" % self.dev["id"],), daemon=True)
        holder.start()
        self.wait_for("the lock is held", lambda: self.count(
            "pg_locks", "locktype = 'advisory' AND granted AND pid <> pg_backend_pid()") >= 1)
        self.psql("INSERT INTO engine_queue (device_id, new_from, new_to, recompute)"
                  " VALUES (:d, now() - interval '1 hour', now(), true)", d=self.dev["id"])
        time.sleep(1.5)
        held = last_pass()
        time.sleep(3)  # passes are due every second
        self.assertEqual(last_pass(), held, "the pass waits while the recomputation is queued")
        self.psql("UPDATE engine_queue SET queued_at = now() - interval '11 minutes'")
        self.wait_for("the pass goes on after 10 minutes", lambda: last_pass() > held)
        self.assertIn("queued for over 10 minutes", self.server.log_text())
        holder.join(30)

    def test_edits_recompute_visits_and_checkins(self):
        srv = self.start_server("--engine-interval-s", "1", "--recompute-days", "10")
        self.server = srv
        fr, pts = self.frame(), self.points()
        self.post_fixes(self.p1_stop(fr))
        self.wait_engine()
        pid = pts[P1]["id"]
        nvisits = lambda: int(self.scalar(  # noqa: E731
            "SELECT count(*) FROM visits WHERE point_id = :p", p=pid))
        announced = lambda: self.count(  # noqa: E731
            "events", "kind IN ('checkin_missed', 'checkin_resolved')"
                      " AND payload->>'local_date' = :'d'", d=self.day.isoformat())
        self.assertEqual(nvisits(), 1)
        self.assertEqual(self.statuses(self.day)[(P1, "上学")], "done")
        before = announced()  # P1 放学 on D: missed, announced (new fixes showed nobody)
        self.assertGreater(before, 0)

        # the gate was placed wrong: moved 300 m north, nobody was ever there
        self.psql("UPDATE patrol_points SET location = ST_Project(location::geography, 300, 0)"
                  "::geometry WHERE id = :p", p=pid)
        self.wait_for("visits recomputed after the move", lambda: nvisits() == 0)
        self.wait_engine()
        self.wait_for("check-in recomputed",
                      lambda: self.statuses(self.day).get((P1, "上学")) == "missed")

        # moved back: the visit and the check-in return
        self.psql("UPDATE patrol_points SET location = ST_Project(location::geography, 300,"
                  " pi())::geometry WHERE id = :p", p=pid)
        self.wait_for("visits recomputed after the move back", lambda: nvisits() == 1)
        self.wait_engine()
        self.wait_for("check-in back to done",
                      lambda: self.statuses(self.day).get((P1, "上学")) == "done")

        # a window edit alone: 上学 now starts at 07:30, the 07:00 stop no longer counts
        w = self.window_id(P1, "上学")
        old = self.psql("SELECT start_local, end_local FROM patrol_windows WHERE id = :w", w=w)[0]
        self.psql("UPDATE patrol_windows SET start_local = '07:30', end_local = '08:00'"
                  " WHERE id = :w", w=w)
        self.wait_for("window edit re-evaluated",
                      lambda: self.statuses(self.day).get((P1, "上学")) == "missed")
        self.assertEqual(nvisits(), 1, "a window edit leaves visits alone")
        # an edit corrects what was judged; it does not judge days nobody judged (D-1: no
        # fixes, before the periodic pass's first day)
        self.assertEqual(self.statuses(self.day - timedelta(days=1)), {})

        # edited while patrold is stopped: recomputed at start
        srv.close()
        self.psql("UPDATE patrol_windows SET start_local = :'a', end_local = :'b'"
                  " WHERE id = :w", w=w, a=old[0], b=old[1])
        self.server = self.start_server("--engine-interval-s", "3600", "--recompute-days", "10")
        self.wait_for("edit made while stopped applied at start",
                      lambda: self.statuses(self.day).get((P1, "上学")) == "done")
        # outside the horizon nothing is redone
        self.server.close()
        self.psql("UPDATE patrol_windows SET start_local = '07:30', end_local = '08:00'"
                  " WHERE id = :w", w=w)
        self.server = self.start_server("--engine-interval-s", "3600", "--recompute-days", "1")
        self.wait_for("digest stored", lambda: self.count(
            "engine_state", "name = 'rules_digest' AND updated_at > now() - interval '20 s'") == 1)
        self.assertEqual(self.statuses(self.day).get((P1, "上学")), "done")
        self.assertIn("windows or rules edited", self.server.log_text())
        # corrections after edits announce nothing: no new missed / resolved event for D
        self.assertEqual(announced(), before)


# =============================================================================================
# Zone events and the event stream
# =============================================================================================

class Zones(EngineCase):

    def test_pond_enter_exit_with_confirmation_and_hysteresis(self):
        self.psql("UPDATE waters SET season_start = NULL, season_end = NULL WHERE name = :'w'",
                  w=POND)
        self.start()
        fr = self.frame()
        (cx, cy), (bx, by) = self.pond(fr)
        ux, uy = (cx - bx), (cy - by)
        n = math.hypot(ux, uy)
        ux, uy = ux / n, uy / n  # inward, towards the centroid

        def at(d):  # d metres inside the shore (negative: outside)
            return bx + d * ux, by + d * uy

        sse = SseClient(self.server, self.viewer, "/api/v1/events/stream?kind=zone_enter")
        self.addCleanup(sse.close)

        tr = Track(fr, local_ms(self.day, "17:00:00"), *at(-40))
        tr.wait(30)
        t_out = tr.t
        tr.drive(*at(12), 4)  # walk in
        t_in = tr.t
        tr.wait(120)
        tr.drive(*at(-40), 4)
        tr.wait(120)
        # a 10 s excursion: shorter than the 20 s confirmation
        tr.jump(*at(-20))
        tr.drive(*at(8), 10, step=5)
        tr.wait(5)
        tr.drive(*at(-40), 10)
        tr.wait(120)
        # drift across the shore for 3 minutes (never beyond the 10 m hysteresis)
        tr.drive(*at(-3), 4)
        rng = random.Random(5)
        drift_start = tr.t

        def jitter():
            d = rng.choice([-4, -3, -2, 2, 3, 4])
            x, y = at(d)
            return x - tr.x, y - tr.y
        tr.wait(180, noise=jitter)
        tr.drive(*at(-40), 4)
        tr.wait(60)
        self.post_fixes(tr.fixes)
        self.wait_engine()

        pond_id = int(self.scalar("SELECT id FROM waters WHERE name = :'w'", w=POND))
        ev = self.getj("/api/v1/events?from=%s&to=%s&device=%d"
                       % (self.day.isoformat(), self.day.isoformat(), self.dev["id"]))["events"]
        pond = [(e["kind"], iso_ms(e["at"])) for e in ev
                if e["zone_layer"] == "waters" and e["zone_id"] == pond_id]
        self.assertEqual([k for k, _ in pond], ["zone_enter", "zone_exit", "zone_enter",
                                                "zone_exit"], pond)
        self.assertTrue(t_out <= pond[0][1] <= t_in, (t_out, pond[0], t_in))
        self.assertGreaterEqual(pond[2][1], drift_start - 60000, pond)
        for e in ev:
            if e["zone_layer"] == "waters":
                self.assertEqual(e["payload"]["zone_name"], POND)
        # the stream saw the enters (kind filter)
        seen = []
        for _ in range(2):
            got = sse.next_event(timeout=10)
            self.assertIsNotNone(got)
            seen.append(got[1])
        self.assertTrue(all(s["kind"] == "zone_enter" for s in seen), seen)
        self.assertEqual([iso_ms(s["at"]) for s in seen if s["zone_layer"] == "waters"],
                         [pond[0][1], pond[2][1]])

    def test_event_stream_resume_heartbeat_and_shutdown(self):
        self.psql("UPDATE waters SET season_start = NULL, season_end = NULL WHERE name = :'w'",
                  w=POND)
        self.start()
        fr = self.frame()
        (cx, cy), (bx, by) = self.pond(fr)
        tr = Track(fr, local_ms(self.day, "17:00:00"), bx, by - 40)
        tr.wait(30)
        tr.drive(cx, cy, 4)
        tr.wait(60)
        tr.drive(bx, by - 40, 4)
        tr.wait(60)
        self.post_fixes(tr.fixes)
        self.wait_engine()
        ids = [int(r[0]) for r in self.psql("SELECT id FROM events ORDER BY id")]
        self.assertGreaterEqual(len(ids), 2)
        # resume after the first event: the rest comes from the database, in id order
        sse = SseClient(self.server, self.viewer, headers={"Last-Event-ID": str(ids[0])})
        self.addCleanup(sse.close)
        got = []
        while len(got) < len(ids) - 1:
            e = sse.next_event(timeout=10)
            self.assertIsNotNone(e)
            got.append(e[0])
            self.assertEqual(e[0], e[1]["id"])
        self.assertEqual(got, ids[1:])
        # nothing new: a heartbeat comment within 15 s (+ tick)
        sse.conn.sock.settimeout(20)
        t0 = time.monotonic()
        while True:
            line = sse.read_line()
            self.assertIsNotNone(line, "the stream ended")
            if line.startswith(": heartbeat"):
                break
        waited = time.monotonic() - t0
        self.assertLess(waited, 17.5)
        # SIGTERM with the stream open: the stream ends and patrold exits promptly
        t0 = time.monotonic()
        self.server.send_signal(signal.SIGTERM)
        sse.conn.sock.settimeout(10)
        rest = []
        try:
            while True:
                line = sse.read_line()
                if line is None:
                    break
                rest.append(line)
        except socket.timeout:
            self.fail("the stream did not end on SIGTERM")
        rc = self.server.wait(10)
        self.assertEqual(rc, 0, self.server.log_tail())
        self.assertLess(time.monotonic() - t0, 5.0)
        print("\n  stream: resumed %d events, heartbeat after %.1fs, SIGTERM exit %.2fs"
              % (len(got), waited, time.monotonic() - t0), file=sys.stderr)


# =============================================================================================
# Late and shuffled batches give the result of one sorted batch
# =============================================================================================

class LateBatches(EngineCase):

    def reference(self):
        """A second database given the whole patrol in one sorted batch."""
        ref_db = self.fresh_db("ref")
        self.prepare(ref_db)
        self.psql("UPDATE waters SET season_start = NULL, season_end = NULL WHERE name = :'w'",
                  db=ref_db, w=POND)
        dev = self.add_device("巡逻车1", db=ref_db)
        srv = self.start(db=ref_db)
        fixes = self.patrol_track(self.frame(), self.points())
        self.post_fixes(fixes, token=dev["token"], srv=srv)
        self.wait_engine(db=ref_db)
        ref = self.outcome(ref_db)
        self.assertGreater(len(ref["visits"]), 4, ref)
        self.assertGreaterEqual(len([z for z in ref["zones"] if z[2] == "waters"]), 2, ref)
        return fixes, ref

    def test_dead_zone_batch_hours_late(self):
        self.psql("UPDATE waters SET season_start = NULL, season_end = NULL WHERE name = :'w'",
                  w=POND)
        self.start()
        fixes, ref = self.reference()
        lo, hi = local_ms(self.day, "07:05:00"), local_ms(self.day, "07:25:00")
        dead = [f for f in fixes if lo <= f[0] < hi]
        rest = [f for f in fixes if not lo <= f[0] < hi]
        self.assertGreater(len(dead), 50)
        self.post_fixes(rest)
        self.wait_engine()
        partial = self.outcome(self.db)
        self.assertNotEqual(partial["visits"], ref["visits"], "the dead zone must matter")
        self.post_fixes(dead)  # the car is back in coverage, hours later
        self.wait_engine()
        self.assert_same_outcome(ref, self.outcome(self.db), "dead zone uploaded late")
        print("\n  dead zone %d fixes late: %d visits, %d check-ins, %d zone events as in "
              "order" % (len(dead), len(ref["visits"]), len(ref["checkins"]), len(ref["zones"])),
              file=sys.stderr)

    def test_shuffled_batches_property(self):
        fixes, ref = self.reference()
        seeds = [int(s) for s in os.environ.get("PATROLGIS_SEEDS", "11,12,13").split(",")]
        for seed in seeds:
            with self.subTest(seed=seed):
                rng = random.Random(seed)
                db = self.fresh_db("s%d" % seed)
                self.prepare(db)
                self.psql("UPDATE waters SET season_start = NULL, season_end = NULL"
                          " WHERE name = :'w'", db=db, w=POND)
                dev = self.add_device("巡逻车1", db=db)
                srv = self.start(db=db)
                cuts = sorted(rng.sample(range(1, len(fixes)), rng.randint(3, 9)))
                chunks = [fixes[a:b] for a, b in zip([0] + cuts, cuts + [len(fixes)])]
                rng.shuffle(chunks)
                chunks.append(rng.choice(chunks))  # one batch re-sent
                for ch in chunks:
                    ch = list(ch)
                    rng.shuffle(ch)
                    self.post_fixes(ch, token=dev["token"], srv=srv)
                    if rng.random() < 0.6:
                        self.wait_engine(db=db)
                self.wait_engine(db=db)
                self.assert_same_outcome(ref, self.outcome(db), "seed %d, %d batches"
                                         % (seed, len(chunks)))
                print("\n  seed %d: %d batches in random order -> same result"
                      % (seed, len(chunks)), file=sys.stderr)
                srv.close()


# =============================================================================================
# The track, metrics and bad input
# =============================================================================================

class TrackAndInput(EngineCase):

    def test_track_splits_at_gaps_and_hides_outliers(self):
        self.start()
        fr = self.frame()
        y9 = self.points()[Y9]
        tr = Track(fr, local_ms(self.day, "10:00:00"), 1000, 1000)
        tr.drive(1300, 1000, 20)
        tr.skip(300)  # a gap longer than max_gap (120 s)
        tr.jump(1300, 1200)
        tr.drive(1500, 1200, 20)
        fixes = list(tr.fixes)
        # an impossible jump to 云岭小学正门 (km away) in the middle of the first segment
        mid = len(fixes) // 4
        t_out = (fixes[mid][0] + fixes[mid + 1][0]) // 2
        fixes.append((t_out, y9["lon"], y9["lat"]))
        got = self.post_fixes(sorted(fixes))
        self.assertEqual(got["flagged"], 1, got)
        self.wait_engine()
        self.assertEqual(self.visits(Y9), [], "the engine ignores the flagged fix")
        d = self.day.isoformat()
        j = self.getj("/api/v1/devices/%d/track?from=%s&to=%s" % (self.dev["id"], d, d))
        self.assertEqual(j["type"], "Feature")
        self.assertEqual(j["geometry"]["type"], "MultiLineString", j)
        lines = j["geometry"]["coordinates"]
        self.assertEqual(len(lines), 2)
        self.assertEqual(sum(len(x) for x in lines), len(tr.fixes))
        self.assertEqual([len(x) for x in j["properties"]["times_ms"]], [len(x) for x in lines])
        self.assertEqual(j["properties"]["times_ms"][0][0], tr.fixes[0][0])
        self.assertFalse(j["properties"]["outliers_included"])
        j1 = self.getj("/api/v1/devices/%d/track?from=%s&to=%s&outliers=1"
                       % (self.dev["id"], d, d))
        self.assertEqual(sum(len(x) for x in j1["geometry"]["coordinates"]), len(fixes))
        self.assertEqual(j1["properties"]["outlier_fixes"], 1)
        # one segment only: a LineString
        j2 = self.getj("/api/v1/devices/%d/track?from=%s&to=%sT10:03:00%%2B08:00"
                       % (self.dev["id"], d, d))
        self.assertEqual(j2["geometry"]["type"], "LineString", j2)
        # nothing: null geometry
        j3 = self.getj("/api/v1/devices/%d/track?from=2020-01-01&to=2020-01-02" % self.dev["id"])
        self.assertIsNone(j3["geometry"])

    def test_metrics_and_bad_input(self):
        self.start()
        deadline = time.monotonic() + 20
        while True:  # the first snapshot is built right after start
            s = self.server.metrics()
            if harness.metric(s, "patrold_engine_snapshot_items", kind="points") == 20:
                break
            self.assertLess(time.monotonic(), deadline, "no layer snapshot in /metrics")
            time.sleep(0.1)
        for name in ("patrold_engine_queue_rows", "patrold_engine_runs_total",
                     "patrold_engine_rows_written_total", "patrold_engine_snapshots_total"):
            self.assertIn(name, {n for n, _ in s}, name)
        bad = [
            "/api/v1/checkins?date=2026-13-01",
            "/api/v1/checkins?date=today",
            "/api/v1/checkins?school=abc",
            "/api/v1/checkins?colour=red",
            "/api/v1/checkins?format=xml",
            "/api/v1/reports/checkins?group=team",
            "/api/v1/reports/checkins?from=2026-02-02&to=2026-02-01",
            "/api/v1/reports/checkins?from=2020-01-01&to=2026-01-01",
            "/api/v1/reports/presence?date=2026-02-30",
            "/api/v1/visits?from=yesterday",
            "/api/v1/visits?from=2026-01-01T07:00:00",
            "/api/v1/visits?limit=0",
            "/api/v1/events?kind=Zone-Enter",
            "/api/v1/events?after_id=-1",
            "/api/v1/devices/%d/track?outliers=yes" % self.dev["id"],
        ]
        for path in bad:
            r = self.server.request("GET", path, token=self.viewer)
            self.assert_error(r, 400, "invalid_argument", path)
        # The one rule for `limit` (as for OGC API items): too large is clamped, not refused.
        for path in ("/api/v1/visits?limit=100000", "/api/v1/events?limit=100000"):
            doc = self.getj(path)
            self.assertEqual(doc["limit"], 10000, "%s: limit clamped to 10000" % path)
        r = self.server.request("GET", "/api/v1/events/stream",
                                headers={"Last-Event-ID": "abc"}, token=self.viewer)
        self.assert_error(r, 400, "invalid_argument")
        for path in ("/api/v1/devices/999999/track", "/api/v1/devices/abc/track"):
            self.assert_error(self.server.request("GET", path, token=self.viewer), 404,
                              "not_found", path)
        self.assert_error(self.server.request("GET", "/api/v1/checkins"), 401, "unauthorized")
        self.assert_error(self.server.request("GET", "/api/v1/checkins",
                                              token=self.dev["token"]), 403, "forbidden")
        # the server is unharmed
        self.assertEqual(self.getj("/api/v1/checkins")["count"] >= 0, True)


if __name__ == "__main__":
    harness.main()

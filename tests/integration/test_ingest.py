#!/usr/bin/env python3
"""test_ingest.py - integration tests of GPS ingestion: every protocol end to end (OsmAnd /
Traccar Client on the main path and on its own port, JSON and protobuf batches, GPX from a
device and uploaded by an editor), durability and idempotence (a re-sent batch stores nothing
twice; the reply counts new, duplicate, flagged and rejected), CRS conversion (gcj02, cgcs2000),
the impossible-speed filter on the real Munich 1 Hz trace (one jump flagged, the same flags
whatever the batching and order), device_latest and GET /api/v1/positions/latest, the
engine_queue row and its NOTIFY, partition maintenance and retention, a PostgreSQL outage
(503 + Retry-After within 2 s, then recovery, on a private cluster), and every bad input of
issue 4: a clear 4xx JSON error, nothing partially stored (rows counted), the server unharmed.

Not here: the check-in engine that consumes engine_queue.

Run: python3 tests/integration/test_ingest.py [-k PATTERN]
"""
import csv
import datetime
import math
import os
import random
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PatrolTestCase, PrivateCluster, free_port  # noqa: E402

SHARED = os.environ.get("PATROLGIS_SHARED") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared")
MUNICH_1HZ = os.path.join(SHARED, "data", "traces", "munich-car-1hz.csv")
SEED = 20261128
MAX_FIXES = 10000


def now_ms():
    return int(time.time() * 1000)


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat()


# ---- protobuf (patrolgis.PositionBatch, server/proto/positions.proto) by hand --------------

def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint(field << 3 | wire)


def pb_fix(t_ms, lat, lon, speed_kmh=None, valid=None):
    b = _key(1, 0) + _varint(t_ms) + _key(2, 1) + struct.pack("<d", lat) + \
        _key(3, 1) + struct.pack("<d", lon)
    if speed_kmh is not None:
        b += _key(4, 5) + struct.pack("<f", speed_kmh)
    if valid is not None:
        b += _key(9, 0) + _varint(1 if valid else 0)
    return b


def pb_batch(fixes, crs=None):
    out = b"".join(_key(1, 2) + _varint(len(f)) + f for f in fixes)
    if crs is not None:
        c = crs.encode()
        out += _key(2, 2) + _varint(len(c)) + c
    return out


# ---- GCJ-02 forward (the public formula, as server/geo/crs.c) ---------------------------------

def gcj_forward(lon, lat):
    if not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lon, lat
    pi = 3.1415926535897932384626
    u, v = lon - 105.0, lat - 35.0
    wave = (20 * math.sin(6 * u * pi) + 20 * math.sin(2 * u * pi)) * 2 / 3
    north = (-100 + 2 * u + 3 * v + 0.2 * v * v + 0.1 * u * v + 0.2 * math.sqrt(abs(u)) + wave +
             (20 * math.sin(v * pi) + 40 * math.sin(v / 3 * pi)) * 2 / 3 +
             (160 * math.sin(v / 12 * pi) + 320 * math.sin(v / 30 * pi)) * 2 / 3)
    east = (300 + u + 2 * v + 0.1 * u * u + 0.1 * u * v + 0.1 * math.sqrt(abs(u)) + wave +
            (20 * math.sin(u * pi) + 40 * math.sin(u / 3 * pi)) * 2 / 3 +
            (150 * math.sin(u / 12 * pi) + 300 * math.sin(u / 30 * pi)) * 2 / 3)
    a, ee = 6378245.0, 0.00669342162296594323
    phi = lat / 180 * pi
    w2 = 1 - ee * math.sin(phi) ** 2
    m = a * (1 - ee) / (w2 * math.sqrt(w2))
    n = a / math.sqrt(w2)
    return lon + east * 180 / (n * math.cos(phi) * pi), lat + north * 180 / (m * pi)


def read_munich():
    with open(MUNICH_1HZ, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        t = datetime.datetime.strptime(r["time"], "%Y-%m-%d %H:%M:%S%z")
        out.append({"seq": int(r["seq"]), "t_ms": int(t.timestamp() * 1000),
                    "lat": float(r["lat"]), "lon": float(r["lon"])})
    return out


class IngestCase(PatrolTestCase):
    DB_PREFIX = "ingest"

    def setUp(self):
        super().setUp()
        if self.server is not None:
            self.make_accounts()

    def make_accounts(self):
        # The check-in engine inside patrold deletes engine_queue rows once processed: a
        # test-only trigger keeps a copy of every row ingestion queues.
        self.psql("CREATE TABLE queue_log (LIKE engine_queue);"
                  " CREATE FUNCTION queue_log_copy() RETURNS trigger LANGUAGE plpgsql AS"
                  " $$BEGIN INSERT INTO queue_log SELECT NEW.*; RETURN NULL; END$$;"
                  " CREATE TRIGGER queue_log_copy AFTER INSERT ON engine_queue"
                  " FOR EACH ROW EXECUTE FUNCTION queue_log_copy();")
        self.car = self.add_device("car1", unit="青石派出所")
        self.car2 = self.add_device("car2", unit="青石派出所")
        self.add_user("boss", "viewer")
        self.viewer = self.issue_token(user="boss")
        self.add_user("ed", "editor")
        self.editor = self.issue_token(user="ed")

    # -- helpers ----------------------------------------------------------------------------

    def post_batch(self, fixes, crs=None, token=None, server=None, **kw):
        body = {"fixes": fixes}
        if crs is not None:
            body["crs"] = crs
        return self.request("POST", "/api/v1/positions", body=body,
                            token=token or self.car["token"], server=server, **kw)

    def post_raw(self, path, data, ctype, token=None, server=None, timeout=30.0):
        hdrs = {"Content-Type": ctype} if ctype else {}
        return self.request("POST", path, body=data, headers=hdrs, token=token, server=server,
                            timeout=timeout)

    def osmand(self, query, method="GET", port=None, path="/api/v1/osmand", server=None):
        srv = server or self.server
        if method == "GET":
            return srv.request("GET", path + "?" + query, port=port)
        return srv.request("POST", path, body=query, port=port,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})

    def positions(self, device, where="true"):
        return self.count("positions", "device_id = %d AND %s" % (device["id"], where))

    def fix(self, t_ms, lat=27.9, lon=112.9, **extra):
        f = {"t": t_ms, "lat": lat, "lon": lon}
        f.update(extra)
        return f

    def assert_reply(self, r, status, new, duplicate=0, flagged=0, rejected=0):
        self.assertEqual(r.status, status, r)
        body = r.json
        self.assertEqual((body.get("new"), body.get("duplicate"), body.get("flagged"),
                          len(body.get("rejected", [])), body.get("rejected_count")),
                         (new, duplicate, flagged, rejected, rejected), r)
        return body

    def track(self, n, t0=None, step_s=1, lat0=27.9, lon0=112.9):
        """n fixes 1 s apart driving north at ~40 km/h."""
        t0 = t0 if t0 is not None else now_ms() - 3600 * 1000
        return [self.fix(t0 + i * step_s * 1000, lat0 + i * 0.0001, lon0) for i in range(n)]


class TestOsmAnd(IngestCase):
    def test_get_post_and_traccar_json_on_the_main_path(self):
        t = int(time.time()) - 60
        ident = self.car["ident"]
        r = self.osmand("id=%s&timestamp=%d&lat=27.9&lon=112.9&speed=10.0&bearing=90.5&"
                        "altitude=51.0&accuracy=4.5&batt=87.0&mock=true" % (ident, t))
        self.assert_reply(r, 201, 1)
        r = self.osmand("deviceid=%s&timestamp=%d&lat=27.9001&lon=112.9&speed=0" % (ident, t + 1),
                        method="POST")
        self.assert_reply(r, 201, 1)
        body = {"device_id": ident,
                "location": {"timestamp": iso((t + 2) * 1000),
                             "coords": {"latitude": 27.9002, "longitude": 112.9, "speed": 10,
                                        "heading": -1, "accuracy": 3, "altitude": 40},
                             "battery": {"level": 0.5, "is_charging": False},
                             "is_moving": True, "odometer": 1.5}}
        r = self.request("POST", "/api/v1/osmand", body=body)
        self.assert_reply(r, 201, 1)
        rows = self.psql("SELECT extract(epoch FROM fix_time)::bigint,"
                         " round(speed_kmh::numeric, 2),"
                         " heading, accuracy_m, altitude_m, source, src_crs, flags"
                         " FROM positions WHERE device_id = %d ORDER BY fix_time"
                         % self.car["id"])
        self.assertEqual(rows, [
            [str(t), "18.52", "90.5", "4.5", "51", "osmand", "wgs84", "0"],  # knots -> km/h
            [str(t + 1), "0.00", None, None, None, "osmand", "wgs84", "0"],
            [str(t + 2), "36.00", None, "3", "40", "osmand", "wgs84", "0"],  # m/s -> km/h
        ])
        # the same fix again: a duplicate, 200, nothing stored
        r = self.osmand("id=%s&timestamp=%d&lat=27.9&lon=112.9" % (ident, t))
        self.assert_reply(r, 200, 0, duplicate=1)
        self.assertEqual(self.positions(self.car), 3)

    def test_timestamp_forms(self):
        ident = self.car["ident"]
        base = (int(time.time()) - 600) // 60 * 60
        r = self.osmand("id=%s&lat=1&lon=1&timestamp=%d" % (ident, base))  # seconds
        self.assert_reply(r, 201, 1)
        r = self.osmand("id=%s&lat=1&lon=1&timestamp=%d" % (ident, (base + 1) * 1000 + 250))
        self.assert_reply(r, 201, 1)  # milliseconds
        stamp = datetime.datetime.fromtimestamp(base + 2, datetime.timezone(
            datetime.timedelta(hours=8))).isoformat()
        r = self.osmand("id=%s&lat=1&lon=1&timestamp=%s" % (
            ident, stamp.replace(":", "%3A").replace("+", "%2B")))
        self.assert_reply(r, 201, 1)  # ISO 8601
        before = now_ms()
        r = self.osmand("id=%s&lat=1&lon=1.0001" % ident)  # none: the reception time
        self.assert_reply(r, 201, 1)
        ms = [int(x[0]) for x in self.psql(
            "SELECT (extract(epoch FROM fix_time) * 1000)::bigint FROM positions"
            " WHERE device_id = %d ORDER BY fix_time" % self.car["id"])]
        self.assertEqual(ms[:3], [base * 1000, (base + 1) * 1000 + 250, (base + 2) * 1000])
        self.assertLessEqual(abs(ms[3] - before), 5000)

    def test_own_port_routes_every_path_to_osmand(self):
        port = free_port()
        srv = self.start_server("--osmand-port", str(port), name="osmand-port")
        self.assertTrue(srv.wait_log("OsmAnd / Traccar Client listener", 5), srv.log_tail())
        t = int(time.time()) - 30
        r = srv.request("GET", "/?id=%s&timestamp=%d&lat=27.9&lon=112.9" % (self.car["ident"], t),
                        port=port)
        self.assert_reply(r, 201, 1)
        r = srv.request("POST", "/", port=port,
                        body="id=%s&timestamp=%d&lat=27.9001&lon=112.9"
                        % (self.car["ident"], t + 1),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assert_reply(r, 201, 1)
        # Traccar Client 9 posts its JSON to the server URL as configured, any path
        r = srv.request("POST", "/some/path", port=port, body={
            "device_id": self.car["ident"],
            "location": {"timestamp": iso((t + 2) * 1000),
                         "coords": {"latitude": 27.9002, "longitude": 112.9}}})
        self.assert_reply(r, 201, 1)
        # the main API is not reachable there: /healthz is an OsmAnd request without an id
        r = srv.request("GET", "/healthz", port=port)
        self.assert_error(r, 400, "invalid_argument")
        self.assertEqual(self.positions(self.car), 3)
        self.assertEqual(srv.request("GET", "/healthz").status, 200)

    def test_osmand_port_0_is_off_and_a_taken_port_refuses_to_start(self):
        port = free_port()
        srv = self.start_server("--osmand-port", str(port), name="first")
        second = self.start_server("--osmand-port", str(port), name="second", wait=False)
        rc = second.wait(15)
        self.assertIsNotNone(rc, "a second server started on a taken OsmAnd port")
        self.assertNotEqual(rc, 0)
        self.assertIn("OsmAnd listener", second.log_text())
        self.assertTrue(srv.alive())

    def test_unknown_and_disabled_device(self):
        before = self.count("audit_log", "action = 'deny'")
        with self.assert_no_write("positions", "queue_log", "device_latest"):
            r = self.osmand("id=nosuchdevice&lat=27.9&lon=112.9")
            self.assert_error(r, 403, "forbidden")
            self.psql("UPDATE devices SET disabled = true WHERE id = %d" % self.car["id"])
            r = self.osmand("id=%s&lat=27.9&lon=112.9" % self.car["ident"])
            self.assert_error(r, 403, "forbidden")
            r = self.osmand("lat=27.9&lon=112.9")  # no id at all
            self.assert_error(r, 400, "invalid_argument")
        self.assertEqual(self.count("audit_log", "action = 'deny'"), before + 2,
                         "each unknown identifier is counted in audit_log")
        log = self.server.log_text()
        self.assertNotIn(self.car["ident"], log, "the device identifier is a secret")
        self.assertNotIn("nosuchdevice", log)


class TestBatches(IngestCase):
    def test_json_batch_resend_and_overlap(self):
        t0 = now_ms() - 3600 * 1000
        fixes = self.track(50, t0=t0)
        r = self.post_batch(fixes)
        self.assert_reply(r, 201, 50)
        self.assertEqual(self.count("queue_log", "device_id = %d" % self.car["id"]), 1)
        r = self.post_batch(fixes)  # re-sent: nothing stored twice
        self.assert_reply(r, 200, 0, duplicate=50)
        self.assertEqual(self.positions(self.car), 50)
        self.assertEqual(self.count("queue_log"), 1, "a batch of duplicates queues nothing")
        more = self.track(80, t0=t0)  # overlaps the first 50
        r = self.post_batch(more)
        self.assert_reply(r, 201, 30, duplicate=50)
        self.assertEqual(self.positions(self.car), 80)
        # the same fix twice in one batch: the first is kept
        t = now_ms() - 1000
        r = self.post_batch([self.fix(t, 27.95, 112.95), self.fix(t, 27.0, 112.0)])
        self.assert_reply(r, 201, 1, duplicate=1)
        self.assertEqual(self.scalar("SELECT ST_Y(geom) FROM positions WHERE device_id = %d"
                                     " AND fix_time = timestamptz 'epoch' + %d * interval '1 ms'"
                                     % (self.car["id"], t)), "27.95")
        q = self.psql("SELECT device_id, (extract(epoch FROM new_from) * 1000)::bigint,"
                      " (extract(epoch FROM new_to) * 1000)::bigint FROM queue_log ORDER BY id")
        self.assertEqual(q[0], [str(self.car["id"]), str(fixes[0]["t"]), str(fixes[-1]["t"])])
        self.assertEqual(q[1], [str(self.car["id"]), str(more[50]["t"]), str(more[-1]["t"])])

    def test_json_schema_members(self):
        t = now_ms() - 10000
        r = self.post_batch([{"t": iso(t), "lat": 27.9, "lon": 112.9, "speed_kmh": 30.5,
                              "heading": 180, "accuracy_m": 150, "altitude_m": 60, "hdop": 1.1,
                              "battery": 80, "valid": True},
                             {"t": t + 1000, "lat": 27.90001, "lon": 112.9, "valid": False},
                             {"t": t + 2000, "lat": 0, "lon": 0}])
        self.assert_reply(r, 201, 3, flagged=3)
        rows = self.psql("SELECT speed_kmh, heading, accuracy_m, altitude_m, source, flags"
                         " FROM positions WHERE device_id = %d ORDER BY fix_time"
                         % self.car["id"])
        self.assertEqual(rows, [["30.5", "180", "150", "60", "json", "2"],  # poor accuracy
                                [None, None, None, None, "json", "8"],      # invalid by device
                                [None, None, None, None, "json", "4"]])     # null island

    def test_protobuf_batch(self):
        t0 = now_ms() - 60000
        fixes = [pb_fix(t0 + i * 1000, 27.9 + i * 1e-4, 112.9, speed_kmh=36.0)
                 for i in range(20)]
        fixes.append(pb_fix(t0 + 20000, 27.902, 112.9, valid=False))
        data = pb_batch(fixes, crs="wgs84")
        r = self.post_raw("/api/v1/positions", data, "application/x-protobuf",
                          token=self.car["token"])
        self.assert_reply(r, 201, 21, flagged=1)
        r = self.post_raw("/api/v1/positions", data, "application/x-protobuf",
                          token=self.car["token"])
        self.assert_reply(r, 200, 0, duplicate=21)
        self.assertEqual(self.positions(self.car, "source = 'protobuf'"), 21)
        self.assertEqual(self.positions(self.car, "speed_kmh = 36"), 20)

    def test_gpx_from_device_and_uploaded_by_editor(self):
        t0 = now_ms() - 3600 * 1000
        pts = "".join('<trkpt lat="%.5f" lon="112.9"><ele>50</ele><time>%s</time></trkpt>'
                      % (27.9 + i * 1e-4, iso(t0 + i * 1000).replace("+00:00", "Z"))
                      for i in range(30))
        gpx = ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="t" '
               'xmlns="http://www.topografix.com/GPX/1/1"><wpt lat="1" lon="1"/>'
               '<trk><trkseg>%s</trkseg></trk></gpx>' % pts).encode()
        r = self.post_raw("/api/v1/positions", gpx, "application/gpx+xml", token=self.car["token"])
        self.assert_reply(r, 201, 30)
        self.assertEqual(self.positions(self.car, "source = 'gpx' AND altitude_m = 50"), 30)
        # an editor uploads a logger's file for car2
        path = "/api/v1/devices/%d/gpx" % self.car2["id"]
        r = self.post_raw(path, gpx, "application/gpx+xml", token=self.editor)
        self.assert_reply(r, 201, 30)
        audit = self.psql("SELECT actor, target, target_id, detail FROM audit_log"
                          " WHERE action = 'upload'")
        self.assertEqual(audit, [["user:ed", "positions", str(self.car2["id"]),
                                  "gpx: 30 new, 0 duplicate, 0 flagged, 0 rejected"]])
        with self.assert_no_write("positions", "queue_log"):
            r = self.post_raw(path, gpx, "application/gpx+xml", token=self.viewer)
            self.assert_error(r, 403, "forbidden")
            r = self.post_raw(path, gpx, "application/gpx+xml", token=self.car2["token"])
            self.assert_error(r, 403, "forbidden")
            r = self.post_raw("/api/v1/devices/999999/gpx", gpx, "application/gpx+xml",
                              token=self.editor)
            self.assert_error(r, 404, "not_found")

    def test_crs_gcj02_and_cgcs2000_are_converted(self):
        t = now_ms() - 60000
        glon, glat = 112.9, 27.9
        r = self.post_batch([self.fix(t, glat, glon)], crs="gcj02")
        self.assert_reply(r, 201, 1)
        x, y, src = self.psql("SELECT ST_X(geom), ST_Y(geom), src_crs FROM positions"
                              " WHERE device_id = %d" % self.car["id"])[0]
        x, y = float(x), float(y)
        self.assertEqual(src, "gcj02")
        self.assertGreater(abs(x - glon) + abs(y - glat), 1e-3, "GCJ-02 input stored unconverted")
        fx, fy = gcj_forward(x, y)
        self.assertLess(abs(fx - glon), 1e-6)
        self.assertLess(abs(fy - glat), 1e-6)
        # protobuf with crs as well
        r = self.post_raw("/api/v1/positions", pb_batch([pb_fix(t + 1000, glat, glon)], "gcj02"),
                          "application/x-protobuf", token=self.car["token"])
        self.assert_reply(r, 201, 1)
        self.assertEqual(self.positions(self.car, "src_crs = 'gcj02'"), 2)
        # CGCS2000 is within centimetres of WGS84
        r = self.post_batch([self.fix(t, glat, glon)], crs="cgcs2000", token=self.car2["token"])
        self.assert_reply(r, 201, 1)
        x, y, src = self.psql("SELECT ST_X(geom), ST_Y(geom), src_crs FROM positions"
                              " WHERE device_id = %d" % self.car2["id"])[0]
        self.assertEqual(src, "cgcs2000")
        self.assertLess(abs(float(x) - glon) + abs(float(y) - glat), 1e-6)

    def test_partial_rejection_stores_the_rest(self):
        t = now_ms() - 60000
        fixes = [self.fix(t, 27.9, 112.9),
                 self.fix(4070908800000, 27.9, 112.9),               # 2099
                 self.fix(t + 1000, 95.0, 112.9),                     # lat out of range
                 self.fix(t + 2000, 27.9001, 112.9, heading=400),     # heading out of range
                 self.fix(t + 3000, 27.9002, 112.9)]
        r = self.post_batch(fixes)
        body = self.assert_reply(r, 201, 2, rejected=3)
        self.assertEqual([x["index"] for x in body["rejected"]], [1, 2, 3])
        self.assertIn("future", body["rejected"][0]["reason"])
        self.assertIn("lat", body["rejected"][1]["reason"])
        self.assertEqual(self.positions(self.car), 2)

    def test_latest_positions(self):
        t = now_ms() - 60000
        r = self.post_batch([self.fix(t, 27.9, 112.9, speed_kmh=30, heading=90),
                             self.fix(t + 1000, 27.90008, 112.9, speed_kmh=31, heading=91)])
        self.assert_reply(r, 201, 2)
        # a newer fix 5 km away after 1 s: flagged, so the live map keeps the last good one
        r = self.post_batch([self.fix(t + 2000, 27.95, 112.9)])
        self.assert_reply(r, 201, 1, flagged=1)
        r = self.request("GET", "/api/v1/positions/latest", token=self.viewer)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/geo+json"), r)
        fc = r.json
        self.assertEqual(fc["type"], "FeatureCollection")
        self.assertEqual(len(fc["features"]), 1, fc)
        f = fc["features"][0]
        self.assertEqual(f["geometry"], {"type": "Point", "coordinates": [112.9, 27.90008]})
        p = f["properties"]
        self.assertEqual((p["device_id"], p["name"], p["unit"], p["speed_kmh"], p["heading"]),
                         (self.car["id"], "car1", "青石派出所", 31, 91))
        ft = datetime.datetime.fromtimestamp((t + 1000) // 1000, datetime.timezone.utc)
        self.assertEqual(p["fix_time"], ft.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (t % 1000))
        self.assertGreaterEqual(p["age_s"], 58)
        self.assertEqual(self.request("GET", "/api/v1/positions/latest",
                                      token=self.car["token"]).status, 403)
        self.assertEqual(self.request("GET", "/api/v1/positions/latest").status, 401)

    def test_engine_queue_notify_in_the_same_transaction(self):
        listener = subprocess.Popen(
            ["psql", "-X", "-q", "-d", self.url(), "-c", "LISTEN patrolgis_engine",
             "-c", "SELECT pg_sleep(4)"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=harness._die_with_parent)
        harness._register(listener)
        time.sleep(1.0)
        r = self.post_batch(self.track(5))
        self.assert_reply(r, 201, 5)
        out, _ = listener.communicate(timeout=20)
        self.assertIn('notification "patrolgis_engine" with payload "%d"' % self.car["id"], out)

    def test_concurrent_batches_of_one_device(self):
        fixes = self.track(400, t0=now_ms() - 3600 * 1000)
        results = []

        def send(part):
            results.append(self.post_batch(part, timeout=60))
        parts = [fixes[0:250], fixes[150:400], fixes[100:300], fixes[::3]]
        threads = [threading.Thread(target=send, args=(p,)) for p in parts]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        self.assertTrue(all(r.status in (200, 201) for r in results), results)
        self.assertEqual(sum(r.json["new"] for r in results), 400)
        self.assertEqual(self.positions(self.car), 400)
        self.assertEqual(self.positions(self.car, "flags <> 0"), 0)

    def test_a_row_stored_meanwhile_by_psql_is_a_duplicate(self):
        # A psql session (which takes no device lock) inserts one of the batch's times and
        # commits while the batch waits on it: patrold's COPY then hits the primary key, the
        # batch is run once more and counts that fix as a duplicate, storing the rest.
        fixes = self.track(20, t0=now_ms() - 1800 * 1000)
        t = fixes[7]["t"]
        sql = ("BEGIN; INSERT INTO positions (device_id, fix_time, geom, source, flags)"
               " VALUES (%d, timestamptz 'epoch' + %d * interval '1 ms',"
               " ST_SetSRID(ST_MakePoint(1, 1), 4326), 'json', 0);"
               " SELECT pg_sleep(1.5); COMMIT;" % (self.car["id"], t))
        holder = threading.Thread(target=self.psql, args=(sql,))
        holder.start()
        # psql runs the INSERT before the sleep: once the sleep runs, the INSERT holds its
        # uncommitted index entry
        deadline = time.monotonic() + 20
        while self.count("pg_stat_activity", "query LIKE '%pg_sleep(1.5)%'"
                                             " AND pid <> pg_backend_pid()") == 0:
            self.assertLess(time.monotonic(), deadline, "psql's transaction did not start")
            time.sleep(0.02)
        r = self.post_batch(fixes, timeout=30)
        holder.join(30)
        self.assert_reply(r, 201, 19, duplicate=1)
        self.assertEqual(self.positions(self.car), 20)
        self.assertEqual(self.positions(self.car, "ST_X(geom) = 1"), 1, "psql's row won")
        self.assertIn("stored concurrently", self.server.log_text())


class TestMunichTrace(IngestCase):
    """The real 1 Hz drive: one GPS jump of ~1 700 km/h (fix 619), nothing else impossible."""
    AUTO_SERVER = False

    def setUp(self):
        harness.require_file(MUNICH_1HZ, "the real trace; set PATROLGIS_SHARED")
        super().setUp()
        # The drive is from 2014: retention off so the fixes are not too old to store.
        self.server = self.start_server("--retention-days", "0")
        self.make_accounts()

    def flags_of(self, device):
        return self.psql("SELECT (extract(epoch FROM fix_time) * 1000)::bigint, flags"
                         " FROM positions WHERE device_id = %d ORDER BY fix_time" % device["id"])

    def test_one_jump_flagged_whatever_the_batching(self):
        trace = read_munich()
        self.assertEqual(len(trace), 1194)
        fixes = [{"t": p["t_ms"], "lat": p["lat"], "lon": p["lon"]} for p in trace]
        t0 = time.monotonic()
        r = self.post_batch(fixes)
        elapsed = time.monotonic() - t0
        body = self.assert_reply(r, 201, 1194, flagged=1)
        flagged = self.psql("SELECT to_char(fix_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),"
                            " flags FROM positions WHERE device_id = %d AND flags <> 0"
                            % self.car["id"])
        jump = next(p for p in trace if p["seq"] == 619)
        self.assertEqual(flagged, [[datetime.datetime.fromtimestamp(
            jump["t_ms"] / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"), "1"]])
        self.note("Munich 1 Hz: %d new, %d flagged in %.3f s" % (body["new"], body["flagged"],
                                                                 elapsed))
        sys.stderr.write("\n  Munich 1 Hz trace: %d fixes new, %d flagged (seq 619), %.3f s\n"
                         % (body["new"], body["flagged"], elapsed))
        # device_latest is the trace's last fix
        self.assertEqual(self.scalar("SELECT (extract(epoch FROM fix_time) * 1000)::bigint"
                                     " FROM device_latest WHERE device_id = %d" % self.car["id"]),
                         str(trace[-1]["t_ms"]))

        # The same fixes for car2, shuffled, in random batches through JSON, protobuf and
        # OsmAnd, some batches twice: the same flags at the end.
        rnd = random.Random(SEED)
        shuffled = fixes[:]
        rnd.shuffle(shuffled)
        i, sent = 0, 0
        while i < len(shuffled):
            part = shuffled[i:i + rnd.choice([1, 2, 5, 30, 120])]
            kind = rnd.choice(["json", "json", "protobuf", "osmand"])
            for _ in range(2 if rnd.random() < 0.1 else 1):
                if kind == "json":
                    r = self.post_batch(part, token=self.car2["token"])
                elif kind == "protobuf":
                    r = self.post_raw("/api/v1/positions",
                                      pb_batch([pb_fix(f["t"], f["lat"], f["lon"]) for f in part]),
                                      "application/x-protobuf", token=self.car2["token"])
                else:
                    for f in part:
                        r = self.osmand("id=%s&timestamp=%d&lat=%r&lon=%r"
                                        % (self.car2["ident"], f["t"], f["lat"], f["lon"]))
                        self.assertIn(r.status, (200, 201), r)
                self.assertIn(r.status, (200, 201), r)
                sent += 1
            i += len(part)
        a = [row[1] for row in self.flags_of(self.car)]
        b = [row[1] for row in self.flags_of(self.car2)]
        self.assertEqual(len(b), 1194)
        diff = [k for k in range(len(a)) if a[k] != b[k]]
        self.assertEqual(diff, [], "flags differ after %d shuffled batches at fixes %r"
                         % (sent, diff[:10]))

    def test_reversed_single_fixes_over_osmand(self):
        trace = read_munich()[560:680]  # around the jump
        for p in reversed(trace):
            r = self.osmand("id=%s&timestamp=%d&lat=%r&lon=%r"
                            % (self.car["ident"], p["t_ms"], p["lat"], p["lon"]))
            self.assertIn(r.status, (200, 201), r)
        flagged = [int(x[0]) for x in self.flags_of(self.car) if x[1] != "0"]
        self.assertEqual(flagged, [next(p["t_ms"] for p in trace if p["seq"] == 619)])


class TestBadInput(IngestCase):
    """Each bad input of issue 4: a clear 4xx JSON error, nothing stored, the server fine."""
    TABLES = ("positions", "queue_log", "device_latest")

    def assert_bad(self, r, status, code, needle=None):
        err = self.assert_error(r, status, code)
        if needle is not None:
            self.assertRegex(err["message"], needle, r)
        return err

    def test_every_bad_input(self):
        t = now_ms() - 60000
        good = self.fix(t)
        car, car2 = self.car, self.car2
        with self.assert_no_write(*self.TABLES):
            # unknown device
            self.assert_bad(self.osmand("id=unknown-device&lat=27.9&lon=112.9"), 403, "forbidden")
            # wrong token for the device: no token, a garbage token, a viewer, a device naming
            # another device in the body, a device uploading for another through the editor path
            r = self.request("POST", "/api/v1/positions", body={"fixes": [good]})
            self.assert_bad(r, 401, "unauthorized")
            r = self.request("POST", "/api/v1/positions", body={"fixes": [good]},
                             token="ptk_" + "x" * 43)
            self.assert_bad(r, 401, "unauthorized")
            self.assert_bad(self.post_batch([good], token=self.viewer), 403, "forbidden")
            self.assert_bad(self.post_batch([good], token=self.editor), 403, "forbidden")
            r = self.request("POST", "/api/v1/positions", token=car2["token"],
                             body={"device_id": car["id"], "fixes": [good]})
            self.assert_bad(r, 400, "invalid_argument", "unknown member 'device_id'")
            r = self.request("POST", "/api/v1/positions", token=car2["token"],
                             body={"fixes": [dict(good, device=car["id"])]})
            self.assert_bad(r, 400, "invalid_argument", "unknown member 'device'")
            r = self.post_raw("/api/v1/devices/%d/gpx" % car["id"], b"<gpx/>",
                              "application/gpx+xml", token=car2["token"])
            self.assert_bad(r, 403, "forbidden")
            # malformed numbers
            self.assert_bad(self.post_batch([self.fix(t, lat="27.9")]), 400, "invalid_argument",
                            "lat")
            self.assert_bad(self.post_batch([good, self.fix(t + 1000, lon=[112])]), 400,
                            "invalid_argument", r"fixes\[1\]")
            self.assert_bad(self.osmand("id=%s&lat=27.9x&lon=112.9" % car["ident"]), 400,
                            "invalid_argument", "number")
            self.assert_bad(self.osmand("id=%s&lat=NaN&lon=112.9" % car["ident"]), 400,
                            "invalid_argument")
            self.assert_bad(self.osmand("id=%s&lat=1&lon=2&speed=fast" % car["ident"]), 400,
                            "invalid_argument", "speed")
            r = self.post_raw("/api/v1/positions", b'{"fixes":[{"t":1,"lat":1e999,"lon":1}]}',
                              "application/json", token=car["token"])
            self.assert_bad(r, 400, "invalid_argument", "malformed JSON")
            # missing lat/lon
            self.assert_bad(self.post_batch([{"t": t, "lat": 27.9}]), 400, "invalid_argument",
                            "lon")
            self.assert_bad(self.post_batch([{"t": t, "lon": 112.9}]), 400, "invalid_argument")
            self.assert_bad(self.osmand("id=%s&lat=27.9" % car["ident"]), 400, "invalid_argument")
            self.assert_bad(self.osmand("id=%s&timestamp=%d" % (car["ident"], t // 1000)), 400,
                            "invalid_argument")
            r = self.request("POST", "/api/v1/osmand", body={
                "device_id": car["ident"],
                "location": {"timestamp": iso(t), "coords": {"latitude": 27.9}}})
            self.assert_bad(r, 400, "invalid_argument")
            self.assert_bad(self.post_raw("/api/v1/positions",
                                          pb_batch([_key(1, 0) + _varint(t)]),
                                          "application/x-protobuf", token=car["token"]),
                            400, "invalid_argument")
            # a timestamp in 2099: every fix rejected -> 422 with the reason, nothing stored
            r = self.post_batch([self.fix(4070908800000)])
            err = self.assert_bad(r, 422, "unprocessable")
            future = "the fix time is more than 5 minutes in the future"
            self.assertEqual(err["rejected"], [{"index": 0, "reason": future}])
            r = self.osmand("id=%s&lat=27.9&lon=112.9&timestamp=4070908800" % car["ident"])
            self.assert_bad(r, 422, "unprocessable")
            r = self.post_raw("/api/v1/positions", pb_batch([pb_fix(4070908800000, 27.9, 112.9)]),
                              "application/x-protobuf", token=car["token"])
            self.assert_bad(r, 422, "unprocessable")
            # a 10 001-fix batch, as JSON and as protobuf
            many = [self.fix(t - i * 1000) for i in range(MAX_FIXES + 1)]
            self.assert_bad(self.post_batch(many, timeout=60), 413, "too_large", "10001")
            data = pb_batch([pb_fix(f["t"], f["lat"], f["lon"]) for f in many])
            r = self.post_raw("/api/v1/positions", data, "application/x-protobuf",
                              token=car["token"], timeout=60)
            self.assert_bad(r, 413, "too_large", "10001")
            # a body over the route's cap: refused from its Content-Length, before it is read
            r = self.server.raw_exchange(harness.raw_request("POST", "/api/v1/positions", [
                ("Host", "127.0.0.1"), ("Authorization", "Bearer " + car["token"]),
                ("Content-Type", "application/json"),
                ("Content-Length", str(8 * 1024 * 1024 + 1))]), method="POST")
            self.assert_bad(r, 413, "too_large")
            # a GPX with broken XML, with a DTD (billion laughs), with no track points
            broken = (b'<?xml version="1.0"?>\n<gpx><trk><trkseg>\n'
                      b'<trkpt lat="27.9" lon="112.9"><time>2026-01-01T00:00:00Z</time>\n'
                      b'</trkseg></trk></gpx>')
            err = self.assert_bad(self.post_raw("/api/v1/positions", broken,
                                                "application/gpx+xml", token=car["token"]),
                                  400, "invalid_argument", r"line 4, column \d+")
            self.assertIn("malformed XML", err["message"])
            lol = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                   b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                   b'<gpx><trk><trkseg><trkpt lat="1" lon="2"><time>&b;</time></trkpt>'
                   b'</trkseg></trk></gpx>')
            self.assert_bad(self.post_raw("/api/v1/positions", lol, "application/gpx+xml",
                                          token=car["token"]), 400, "invalid_argument", "DTD")
            self.assert_bad(self.post_raw("/api/v1/devices/%d/gpx" % car["id"], broken,
                                          "application/gpx+xml", token=self.editor),
                            400, "invalid_argument", "line 4")
            # a protobuf with garbage bytes
            garbage = bytes(random.Random(SEED).getrandbits(8) for _ in range(4096))
            self.assert_bad(self.post_raw("/api/v1/positions", garbage, "application/x-protobuf",
                                          token=car["token"]), 400, "invalid_argument",
                            "protobuf")
            self.assert_bad(self.post_raw("/api/v1/positions", b"\xff" * 11 + b"garbage",
                                          "application/x-protobuf", token=car["token"]),
                            400, "invalid_argument")
            # other malformed requests: not JSON, another media type, no body, bad crs
            self.assert_bad(self.post_raw("/api/v1/positions", b'{"fixes":[', "application/json",
                                          token=car["token"]), 400, "invalid_argument",
                            "line 1")
            self.assert_bad(self.post_raw("/api/v1/positions", b"lat=1", "text/plain",
                                          token=car["token"]), 415, "unsupported_media_type")
            self.assert_bad(self.post_raw("/api/v1/positions", b"", "application/json",
                                          token=car["token"]), 400, "invalid_argument")
            self.assert_bad(self.post_batch([good], crs="EPSG:3857"), 400, "invalid_argument",
                            "crs")
            self.assert_bad(self.post_batch([]), 400, "invalid_argument")
        self.assertTrue(self.server.alive())
        self.assertEqual(self.request("GET", "/healthz").status, 200)
        # and the server still stores good input
        self.assert_reply(self.post_batch([good]), 201, 1)
        self.assert_reply(self.osmand("id=%s&lat=27.9&lon=112.9&timestamp=%d"
                                      % (car["ident"], t // 1000 + 1)), 201, 1)

    def test_ten_thousand_fixes_pass(self):
        t0 = now_ms() - 4 * 3600 * 1000
        fixes = self.track(MAX_FIXES, t0=t0)
        t = time.monotonic()
        r = self.post_batch(fixes, timeout=120)
        elapsed = time.monotonic() - t
        self.assert_reply(r, 201, MAX_FIXES)
        sys.stderr.write("\n  10 000-fix JSON batch: %.3f s (%.0f fixes/s end to end)\n"
                         % (elapsed, MAX_FIXES / elapsed))
        self.assertEqual(self.positions(self.car), MAX_FIXES)


class TestMaintenance(IngestCase):
    AUTO_SERVER = False

    def partitions(self):
        return [r[0] for r in self.psql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'positions'::regclass ORDER BY 1")]

    def month(self, offset):
        d = datetime.datetime.now(datetime.timezone.utc).date().replace(day=1)
        y, m = d.year, d.month + offset
        while m > 12:
            y, m = y + 1, m - 12
        while m < 1:
            y, m = y - 1, m + 12
        return "positions_p%04d%02d" % (y, m)

    def test_partitions_created_ahead_and_dropped_after_retention(self):
        # the schema first (a server run), then an old partition with a row, and a hole ahead
        srv = self.start_server("--retention-days", "0", name="migrate")
        srv.stop()
        self.psql("SELECT positions_ensure_partitions('2020-01-01', '2020-01-01');"
                  " INSERT INTO positions (device_id, fix_time, geom, source)"
                  " VALUES (1, '2020-01-15T00:00:00Z', 'SRID=4326;POINT(1 2)', 'json');"
                  " DROP TABLE %s;" % self.month(2))
        self.assertIn("positions_p202001", self.partitions())
        self.assertNotIn(self.month(2), self.partitions())
        srv = self.start_server("--retention-days", "60", name="retention60")
        line = srv.wait_log("partition maintenance", 10)
        self.assertIsNotNone(line, srv.log_tail())
        self.assertRegex(line, r"1 partition\(s\) created ahead, 1 dropped before")
        parts = self.partitions()
        self.assertNotIn("positions_p202001", parts)
        for k in (-1, 0, 1, 2):
            self.assertIn(self.month(k), parts)
        srv.stop()
        # retention 0 keeps everything
        self.psql("SELECT positions_ensure_partitions('2020-01-01', '2020-01-01')")
        srv = self.start_server("--retention-days", "0", name="keep")
        self.assertIsNotNone(srv.wait_log("partition maintenance", 10), srv.log_tail())
        self.assertIn("positions_p202001", self.partitions())

    def test_ingest_creates_the_partition_it_needs_and_refuses_expired_fixes(self):
        srv = self.start_server("--retention-days", "400")
        self.make_accounts()
        old = now_ms() - 300 * 86400 * 1000  # within retention, older than the partitions
        r = self.post_batch([self.fix(old)], server=srv)
        self.assert_reply(r, 201, 1)
        d = datetime.datetime.fromtimestamp(old / 1000, datetime.timezone.utc)
        self.assertIn("positions_p%04d%02d" % (d.year, d.month), self.partitions())
        self.assertTrue(srv.wait_log("created 1 positions partition", 3), srv.log_tail())
        # fixes on both sides of a month boundary (UTC) land in their own new partitions
        d = datetime.datetime.now(datetime.timezone.utc).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0) - datetime.timedelta(days=200)
        edge = int(d.replace(day=1).timestamp() * 1000)
        r = self.post_batch([self.fix(edge - 1), self.fix(edge)], server=srv)
        self.assert_reply(r, 201, 2)
        rows = self.psql("SELECT tableoid::regclass::text FROM positions WHERE fix_time IN"
                         " (timestamptz 'epoch' + %d * interval '1 ms',"
                         "  timestamptz 'epoch' + %d * interval '1 ms')"
                         " ORDER BY fix_time" % (edge - 1, edge))
        before = datetime.datetime.fromtimestamp((edge - 1) / 1000, datetime.timezone.utc)
        after = datetime.datetime.fromtimestamp(edge / 1000, datetime.timezone.utc)
        self.assertEqual([r[0] for r in rows], ["positions_p%04d%02d" % (before.year, before.month),
                                                "positions_p%04d%02d" % (after.year, after.month)])
        r = self.post_batch([self.fix(now_ms() - 401 * 86400 * 1000)], server=srv)
        err = self.assert_error(r, 422, "unprocessable")
        self.assertIn("retention", err["rejected"][0]["reason"])
        r = self.post_batch([self.fix(946684800000 - 1000)], server=srv)
        self.assert_error(r, 422, "unprocessable")


    def test_concurrent_batches_creating_the_same_partition(self):
        srv = self.start_server("--retention-days", "0", "--db-pool", "8")
        self.make_accounts()
        devices = [self.car, self.car2] + [self.add_device("car%d" % i) for i in range(3, 7)]
        results = []
        for year in (2019, 2020, 2021):  # months without a partition, each hit at once by all
            t0 = int(datetime.datetime(year, 5, 10, tzinfo=datetime.timezone.utc).timestamp()
                     * 1000)
            go = threading.Barrier(len(devices))

            def send(dev):
                go.wait()
                results.append(self.post_batch(self.track(20, t0=t0), token=dev["token"],
                                               server=srv, timeout=60))
            threads = [threading.Thread(target=send, args=(d,)) for d in devices]
            for th in threads:
                th.start()
            for th in threads:
                th.join(60)
        self.assertEqual([r.status for r in results], [201] * len(results), results)
        self.assertEqual(self.count("positions"), 20 * len(results))


class TestDatabaseOutage(PrivateCluster, IngestCase):
    """Stops a cluster of its own, never the shared one."""
    PRIVATE_NAME = "ingest-outage"
    AUTO_SERVER = False

    def assert_503(self, r, what):
        self.assertEqual(r.status, 503, "%s during the outage: %r" % (what, r))
        self.assertRegex(r.header("Retry-After") or "", r"^\d+$", r)
        self.assertLess(r.elapsed, 2.0, "%s took %.2f s (limit 2 s)" % (what, r.elapsed))
        self.assert_error(r, 503, "unavailable")

    def test_503_with_retry_after_then_recovery(self):
        port = free_port()
        srv = self.server = self.start_server("--osmand-port", str(port), "--db-pool", "4")
        self.make_accounts()
        t = now_ms() - 600000
        self.assert_reply(self.post_batch(self.track(10, t0=t)), 201, 10)
        pid = srv.pid
        self._private.stop()
        try:
            for i in range(3):
                self.assert_503(self.post_batch(self.track(5, t0=t + 100000), timeout=10),
                                "POST /api/v1/positions #%d" % i)
                self.assert_503(self.osmand("id=%s&lat=27.9&lon=112.9" % self.car["ident"]),
                                "GET /api/v1/osmand #%d" % i)
                self.assert_503(srv.request("GET", "/?id=%s&lat=1&lon=2" % self.car["ident"],
                                            port=port, timeout=10), "OsmAnd port #%d" % i)
        finally:
            self._private.start()
        deadline = time.monotonic() + 15
        while True:
            r = self.post_batch(self.track(5, t0=t + 100000), timeout=10)
            if r.status == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assert_reply(r, 201, 5)
        self.assertEqual(srv.pid, pid, "patrold must recover without a restart")
        self.assertEqual(self.positions(self.car), 15, "nothing half-stored during the outage")
        r = self.osmand("id=%s&lat=27.9&lon=112.9" % self.car["ident"])
        self.assert_reply(r, 201, 1)


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""api_record.py - records a deterministic transcript of patrold's answers, so that the
transcripts before and after a refactor of server/ can be compared byte for byte with diff.

Usage (from the repository root, after building):
    PATROLD=build/server/patrold PATROLGIS_SRC=. tests/tools/api_record.py OUT.txt

PATROLGIS_PGDIR is optional, as in tests/integration/harness.py (which this tool imports and
uses for the cluster, the server process and the CLI runs): without it the harness starts the
private cluster /tmp/pgit and stops it again at the end if it started it. Python 3 stdlib only.
Exit status 0 when OUT.txt was written and every route that GET /api/openapi.json lists was
exercised; otherwise 1 (a failed run leaves OUT.txt.partial and the server log).
PATROLGIS_IT_KEEP_LOGS=1 keeps the server log and the database.

What it does, always in the same order (about 20 s on 2 cores):
  1. a fresh database api_record_<pid> (dropped at the end); `patrold` CLI runs: --help,
     --version, bad options and values (exit 2), migrate, bad commands;
  2. starts patrold with --engine-interval-s 3600 --recompute-days 0 --retention-days 0 and
     an OsmAnd port, waits for the engine's first periodic pass (over an empty database: it
     writes nothing) and only then loads the demo town with geodata/load-demo, the loader of
     geodata/run-demo and the tests. Loaded before that pass, the demo's windows would be
     judged for yesterday and today (pending and missed rows and events whose number depends
     on the weekday and the hour), shifting every later id; with recomputation off and the
     next pass an hour away nothing is judged by the clock. As tests/integration/
     test_checkins.py does, the windows are then back-dated (created_at 2026-06-01) so that
     they can be missed on the scenario day;
  3. users admin, editor and viewer, device car-1 and tokens through the CLI (with the CLI's
     error cases);
  4. GPS fixes on a fixed past school day, D = Wednesday 2026-06-10 (in the drowning season),
     Asia/Shanghai: JSON batches (one re-sent, a dead zone uploaded late), protobuf, GPX from
     the device and from an editor, OsmAnd query and form and Traccar JSON on /api/v1/osmand
     and on the OsmAnd port. After every upload it waits until engine_queue is empty, so the
     engine takes the same batches in the same order on every run and the ids of visits,
     check-ins and events do not move. D gives done, late, missed, resolved check-ins and zone
     events;
  5. about 250 requests over every route of the router, good and bad: 400 (query arguments,
     bodies), 401, 403, 404, 405, 409, 412, 413, 415, 422, 431, 304; OGC API Features
     reading (bbox, bbox-crs, datetime, limit, offset, crs, property filters) and Part 4
     editing with ETags; reports in JSON and CSV; check-ins, visits, events, tracks, latest
     positions; /metrics after the core requests and near the end; the event stream last
     (patrold counts a stream only when it ends).

Transcript: a header with the normalisation rules, then per entry a `### NNN` line (method and
target, or CLI argv, and a note), the request headers the tool set and its body (or a summary
of a large one), the status line, every response header in the server's order and the body
as received. CLI entries give exit status, stdout and stderr. The rules (NORMALISERS below,
also printed in the header) change only what differs between two runs of the same tree:
random secrets, request ids, ports, times of now, ages, metric values. Ids, versions and
everything else are kept.

Not recorded, because the answer depends on the clock in a way no rule can undo: the default
date of /api/v1/reports/waters-near-schools (`in_season`) and heartbeats of a live stream.
"""

import datetime as dt
import http.client
import json
import math
import os
import re
import signal
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import clean_env, run  # noqa: E402

DB = "api_record_%d" % os.getpid()  # a run of its own even on a shared cluster
TZ = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai, the server's default --tz
D = dt.date(2026, 6, 10)  # the scenario day: a Wednesday in term and in the drowning season
WINDOWS_CREATED = "2026-06-01T00:00:00+08:00"  # the windows are in force since then

SERVER_OPTIONS = ["--engine-interval-s", "3600", "--recompute-days", "0", "--retention-days", "0"]
HEADER = """patrolgis API transcript (tests/tools/api_record.py): compare two with diff.
Scenario day %s (Asia/Shanghai); patrold %s --osmand-port <osmand-port>.
"""

P1 = "青石镇中心小学正门"
P2 = "青石镇中心小学侧门"
R1 = "学府路南街口（上学路口）"
G3 = "青石镇中学正门"
W17 = "青石河河湾（防溺水）"
W18 = "荷花塘（防溺水）"
POND = "荷花塘"


def log(msg):
    sys.stderr.write("api_record: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# Tracks on day D
# ---------------------------------------------------------------------------------------------

def local_ms(hhmmss, day=D):
    h, m, s = ([int(x) for x in hhmmss.split(":")] + [0, 0])[:3]
    return int(dt.datetime(day.year, day.month, day.day, h, m, s, tzinfo=TZ).timestamp() * 1000)


def iso_z(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Frame:
    """Local metres (x east, y north) around a point, WGS84 radii of curvature."""

    def __init__(self, lon, lat):
        self.lon0, self.lat0 = lon, lat
        a, e2 = 6378137.0, 6.69437999014e-3
        s = math.sin(math.radians(lat))
        w = math.sqrt(1 - e2 * s * s)
        self.kx = a / w * math.cos(math.radians(lat)) * math.pi / 180
        self.ky = a * (1 - e2) / w ** 3 * math.pi / 180

    def lonlat(self, x, y):
        return round(self.lon0 + x / self.kx, 7), round(self.lat0 + y / self.ky, 7)

    def xy(self, lon, lat):
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky


class Track:
    """Fixes (ms, lon, lat) of one drive: drive to a place, wait there, jump in time."""

    def __init__(self, frame, hhmmss, x, y, step_s=10):
        self.f, self.t, self.x, self.y, self.step = frame, local_ms(hhmmss), x, y, step_s
        self.fixes = []
        self.emit()

    def emit(self):
        lon, lat = self.f.lonlat(self.x, self.y)
        self.fixes.append((int(self.t), lon, lat))

    def wait(self, secs):
        for _ in range(int(secs // self.step)):
            self.t += self.step * 1000
            self.emit()

    def drive(self, x, y, kmh):
        dist = math.hypot(x - self.x, y - self.y)
        n = max(1, int(math.ceil(dist / (kmh / 3.6) / self.step)))
        x0, y0 = self.x, self.y
        for i in range(1, n + 1):
            self.t += self.step * 1000
            self.x, self.y = x0 + (x - x0) * i / n, y0 + (y - y0) * i / n
            self.emit()

    def at(self, hhmmss, x, y):
        self.t, self.x, self.y = local_ms(hhmmss), x, y
        self.emit()


def pb_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def protobuf_batch(fixes, crs=None):
    """patrolgis.PositionBatch (server/proto/positions.proto), encoded by hand."""
    body = b""
    for t, lon, lat in fixes:
        fix = (b"\x08" + pb_varint(t) + b"\x11" + struct.pack("<d", lat)
               + b"\x19" + struct.pack("<d", lon) + b"\x35" + struct.pack("<f", 5.0))
        body += b"\x0a" + pb_varint(len(fix)) + fix
    if crs is not None:
        c = crs.encode()
        body += b"\x12" + pb_varint(len(c)) + c
    return body


def gpx_doc(fixes, name="patrol"):
    pts = "".join('<trkpt lat="%.7f" lon="%.7f"><ele>60</ele><time>%s</time></trkpt>'
                  % (lat, lon, iso_z(t)) for t, lon, lat in fixes)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="api_record" '
            'xmlns="http://www.topografix.com/GPX/1/1"><trk><name>%s</name><trkseg>%s</trkseg>'
            '</trk></gpx>\n' % (name, pts))


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

# The rules, in the order they are applied to every entry (request, status, headers, body).
# Each is (name, regex, what it becomes, why). Nothing else in a transcript is changed.
NORMALISERS = [
    ("db-url", "the URL `sql/pgctl url` printed (socket folder, port, database name)",
     "<db-url>", "a private cluster's socket and port differ per run"),
    ("ports", "127.0.0.1:PORT for the two ports patrold listens on",
     "127.0.0.1:<port>, 127.0.0.1:<osmand-port>", "free ports chosen at run time"),
    ("secrets", "the values of tokens, device identifiers and ETags the tool saw",
     "<token:NAME>, <ident:NAME>, <etag-N>",
     "random (tokens, identifiers) or a feature's updated_at in microseconds (ETags); "
     "numbered in order of first appearance, so equal values stay equal"),
    ("token", r"ptk_[A-Za-z0-9_-]{20,}", "<token-N>", "any other token: random"),
    ("ident", r'("ident"\s*:\s*")([^"<][^"]*)(")', "<ident-N>",
     "any other device identifier: random"),
    ("request-id", r"(?im)^(< X-Request-Id: )(?!api-record-).*$", "<request-id>",
     "made by the server per request (one the client sent is kept)"),
    ("date", r"(?im)^(< Date: ).*$", "<date>", "the HTTP Date header"),
    ("now", r"\b(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
            r"(Z|[+-]\d{2}(?::?\d{2})?)?",
     "<now>, <now+Nd>",
     "only a timestamp within the run (start - 2 min .. end + 2 min), or a whole number "
     "N of days (-40..400) from it: created_at, updated_at, received and generated times, "
     "token expiry, a checkin_resolved event's time, log lines of the CLI"),
    ("age", r'("age_s"\s*:\s*)(\d+)', "<age>", "seconds since a fix, at the time of asking"),
    ("content-length", r"(?im)^(< Content-Length: )(\d+)$", "<N + volatile>",
     "only when the body had 'now' or 'age' values (their length varies): N is the length "
     "without them"),
    ("clock", "in requests marked [clock] only: today's date and the 40 before it, this "
              "month", "<today>, <today-N>, <this-month>",
     "the request uses the server's default date (today, the last 7 days, this month)"),
    ("metrics", r"(?m)^([A-Za-z_:][A-Za-z0-9_:]*(?:\{.*\})?) \S+( \S+)?$", "name{labels}",
     "GET /metrics only: sample values dropped (names, labels, HELP, TYPE stay), and its "
     "Content-Length"),
]
_RX = {name: re.compile(rx) for name, rx, _, _ in NORMALISERS
       if name in ("token", "ident", "request-id", "date", "now", "age", "content-length",
                   "metrics")}
TS_RE, CLEN_HDR_RE = _RX["now"], _RX["content-length"]


class Normaliser:
    """Applies NORMALISERS. The secrets and literals are registered while the tool runs; the
    transcript is normalised when it is written."""

    def __init__(self):
        self.secrets = {}  # value -> placeholder
        self.counters = {}
        self.t0 = None
        self.t1 = None
        self.literals = []  # (value, placeholder), longest first
        self.vbytes = 0

    def secret(self, value, kind, name=None):
        if value in self.secrets:
            return self.secrets[value]
        if name is None:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            ph = "<%s-%d>" % (kind, self.counters[kind])
        else:
            ph = "<%s:%s>" % (kind, name)
        self.secrets[value] = ph
        return ph

    def literal(self, value, placeholder):
        if value:
            self.literals.append((value, placeholder))
            self.literals.sort(key=lambda kv: -len(kv[0]))

    def _now(self, m):
        y, mo, d, h, mi, s, frac, zone = m.groups()
        try:
            if zone is None:  # a local time without zone: the server's zone
                tz = TZ
            elif zone == "Z":
                tz = dt.timezone.utc
            else:
                sign = 1 if zone[0] == "+" else -1
                digits = zone[1:].replace(":", "")
                hh, mm = int(digits[:2]), int(digits[2:4] or 0)
                tz = dt.timezone(sign * dt.timedelta(hours=hh, minutes=mm))
            t = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                            tzinfo=tz).timestamp() + float(frac or 0)
        except ValueError:
            return m.group(0)
        lo, hi = self.t0 - 120, self.t1 + 120
        k = int(round((t - (lo + hi) / 2) / 86400))
        if -40 <= k <= 400 and lo <= t - k * 86400 <= hi:
            self.vbytes += len(m.group(0).encode())
            return "<now>" if k == 0 else "<now%+dd>" % k
        return m.group(0)

    def _age(self, m):
        self.vbytes += len(m.group(2))
        return m.group(1) + "<age>"

    def __call__(self, text, clock=None, metrics=False):
        """Normalised text; self.vbytes is then the number of bytes of the values it replaced
        whose length varies from run to run ('now' and 'age'). clock: the server's date when
        a [clock] request was answered."""
        self.vbytes = 0
        for value, ph in self.literals:  # db-url, ports
            text = text.replace(value, ph)
        for value, ph in sorted(self.secrets.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(value, ph)
        text = _RX["token"].sub(lambda m: self.secret(m.group(0), "token"), text)
        text = _RX["ident"].sub(
            lambda m: m.group(1) + self.secret(m.group(2), "ident") + m.group(3), text)
        text = _RX["request-id"].sub(r"\1<request-id>", text)
        text = _RX["date"].sub(r"\1<date>", text)
        text = _RX["now"].sub(self._now, text)
        text = _RX["age"].sub(self._age, text)
        if clock:
            for k in range(0, 41):
                day = (clock - dt.timedelta(days=k)).isoformat()
                text = text.replace(day, "<today>" if k == 0 else "<today-%d>" % k)
            text = text.replace(clock.strftime("%Y-%m"), "<this-month>")
        if metrics:
            text = _RX["metrics"].sub(r"\1", text)
            text = CLEN_HDR_RE.sub(r"\1<length of the values>", text)
        return text

    @staticmethod
    def describe():
        out = ["Normalised (tests/tools/api_record.py NORMALISERS), in this order:"]
        for name, rx, becomes, why in NORMALISERS:
            out.append("  %-14s %s\n  %-14s -> %s: %s" % (name, rx, "", becomes, why))
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# The recorder
# ---------------------------------------------------------------------------------------------

def route_templates(openapi):
    """[(method, template, regex)] from the OpenAPI document."""
    out = []
    for path, ops in openapi.get("paths", {}).items():
        rx = re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$")
        for method in ops:
            if method.upper() in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                out.append((method.upper(), path, rx))
    return out


class Recorder:
    def __init__(self, env, out_path):
        self.env = env
        self.out_path = out_path
        self.entries = []
        self.norm = Normaliser()
        self.norm.t0 = time.time()
        self.t_mono = time.monotonic()
        self.tokens = {}  # role name -> token
        self.n = 0
        self.server = None
        self.osmand_port = None
        self.db_url = None
        self.templates = []
        self.covered = set()
        self.sent_rid = "api-record-fixed-request-id-0001"

    # -- output -------------------------------------------------------------------------------

    def add(self, text, clock=False, metrics=False, body=None):
        """text: an entry (with the response head when body is given); body: the response
        body, whose Content-Length is then given as its stable part + the bytes of volatile
        values (times of now, ages: their length varies)."""
        # clock: the server's today when the answer came (a run may pass midnight)
        today = dt.datetime.now(TZ).date() if clock else None
        self.entries.append((text, body, today, metrics))

    def section(self, title):
        log("%5.1f s  %s" % (time.monotonic() - self.t_mono, title))
        self.add("\n==== %s ====\n" % title)

    def write(self):
        self.norm.t1 = time.time()
        parts = [HEADER % (D.isoformat(), " ".join(SERVER_OPTIONS)) + Normaliser.describe()]
        for text, body, today, metrics in self.entries:
            if body is not None:
                body = self.norm(body, clock=today, metrics=metrics) + "\n"
                vbytes = self.norm.vbytes
            text = self.norm(text, clock=today, metrics=metrics)
            if body is not None and vbytes and not metrics:
                text = CLEN_HDR_RE.sub(lambda m: "%s<%d + volatile>" % (
                    m.group(1), int(m.group(2)) - vbytes), text)
            parts.append(text + (body or ""))
        with open(self.out_path, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(parts))

    # -- CLI ----------------------------------------------------------------------------------

    def cli(self, *args, stdin=None, with_db=True, note="", env=None, args_before=(),
            db_url=None):
        """`patrold [--db URL] [args_before] args` with the runner's environment cleaned of
        PATROLD_* and PG* (harness.clean_env) plus env."""
        cmd = [self.env.patrold] + list(args_before)
        shown = ["patrold"] + list(args_before)
        if with_db:
            cmd += ["--db", db_url or self.db_url]
            shown += ["--db", db_url or "<db-url>"]
        cmd += [str(a) for a in args]
        shown += [str(a) for a in args]
        cp = run(cmd, stdin=stdin, timeout=60, env=clean_env(env))
        self.n += 1
        shown = ["%s=%s" % kv for kv in sorted((env or {}).items())] + shown
        self.add("### %03d CLI %s%s\n%s(exit %d)\n--- stdout\n%s--- stderr\n%s"
                 % (self.n, " ".join(shown), (" # " + note) if note else "",
                    ("--- stdin\n%s" % stdin) if stdin else "", cp.returncode, cp.stdout,
                    cp.stderr))
        return cp

    # -- HTTP ---------------------------------------------------------------------------------

    def _template(self, method, path):
        p = path.split("?", 1)[0]
        for m, tmpl, rx in self.templates:
            if m == ("GET" if method == "HEAD" else method) and rx.match(p):
                return tmpl
        return None

    def req(self, method, path, body=None, headers=None, as_=None, note="", port=None,
            clock=False, metrics=False, body_note=None, expect=None):
        hdrs = dict(headers or {})
        shown = []
        if as_ is not None:
            hdrs["Authorization"] = "Bearer " + self.tokens[as_]
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        for k, v in hdrs.items():
            shown.append("> %s: %s\n" % (k, v))
        conn = http.client.HTTPConnection("127.0.0.1", port or self.server.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        etag = r.getheader("ETag")
        if etag:  # a feature's version: its updated_at in microseconds, so volatile
            self.norm.secret(etag.strip('"'), "etag")
        resp_head = "< HTTP/1.%d %d %s\n" % (r.version - 10, r.status, r.reason)
        resp_head += "".join("< %s: %s\n" % (k, v) for k, v in r.getheaders())
        self._record(method, path, shown, body, body_note, resp_head, data, note, port, clock,
                     metrics)
        if expect is not None and r.status != expect:
            raise RuntimeError("%s %s: expected %d, got %d: %r"
                               % (method, path, expect, r.status, data[:500]))
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def raw(self, data, method="GET", note="", shown_request=None, expect=None):
        """Sends raw bytes; records the response as received (decoded)."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=30) as s:
            s.sendall(data)
            s.settimeout(30)
            resp = http.client.HTTPResponse(s, method=method)
            resp.begin()
            body = resp.read()
        resp_head = "< HTTP/1.%d %d %s\n" % (resp.version - 10, resp.status, resp.reason)
        resp_head += "".join("< %s: %s\n" % (k, v) for k, v in resp.getheaders())
        req_text = shown_request or data.decode("utf-8", "replace")
        self.n += 1
        self.add("### %03d RAW %s%s\n%s\n%s\n" % (
            self.n, method, (" # " + note) if note else "",
            "\n".join("> " + line for line in req_text.rstrip("\r\n").split("\r\n")),
            resp_head), body=self._body_text(body))
        first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace").split(" ")
        if len(first) >= 2:
            t = self._template(first[0], first[1])
            if t:
                self.covered.add((first[0], t))
        if expect is not None and resp.status != expect:
            raise RuntimeError("raw %s: expected %d, got %d" % (note, expect, resp.status))
        return resp.status, body

    @staticmethod
    def _body_text(data):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return "<%d bytes, not UTF-8: %s>" % (len(data), data[:64].hex())

    def _record(self, method, path, shown, body, body_note, resp_head, data, note, port, clock,
                metrics):
        self.n += 1
        where = ""
        if port is not None and port == self.osmand_port:
            where = " [osmand port]"
        tmpl = self._template(method, path) if port is None else None
        if tmpl:
            self.covered.add(("GET" if method == "HEAD" else method, tmpl))
        if body is None or body == b"":
            btxt = ""
        elif body_note is not None:
            btxt = "> (body: %s, %d bytes)\n" % (body_note, len(body))
        else:
            try:
                btxt = body.decode("utf-8")
                if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", btxt):
                    raise UnicodeDecodeError("utf-8", body, 0, 1, "control characters")
                btxt = "> (body)\n" + btxt + ("" if btxt.endswith("\n") else "\n")
            except UnicodeDecodeError:
                btxt = "> (body, hex) %s\n" % body.hex()
        self.add("### %03d %s %s%s%s%s\n%s%s%s\n" % (
            self.n, method, path, where, " [clock]" if clock else "",
            (" # " + note) if note else "", "".join(shown), btxt, resp_head),
            body=self._body_text(data), clock=clock, metrics=metrics)

    # -- helpers ------------------------------------------------------------------------------

    def psql(self, sql, **kw):
        return self.env.cluster.psql(DB, sql, **kw)

    def scalar(self, sql, **kw):
        return self.env.cluster.scalar(DB, sql, **kw)

    def wait_engine(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if int(self.scalar("SELECT count(*) FROM engine_queue")) == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("the engine did not empty engine_queue within %.0f s" % timeout)

    def metrics_samples(self):
        r = self.server.request("GET", "/metrics", record=False)
        return harness.parse_metrics(r.text)[0]

    def wait_metric(self, name, pred, timeout=30.0, **labels):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(harness.metric(self.metrics_samples(), name, **labels)):
                return
            time.sleep(0.05)
        raise RuntimeError("metric %s %r did not reach the wanted value" % (name, labels))

    def wait_digest_change(self, old, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.psql("SELECT value FROM engine_state WHERE name = 'rules_digest'")
            cur = rows[0][0] if rows else ""
            if cur and cur != old:
                return cur
            time.sleep(0.05)
        raise RuntimeError("the engine did not take the new layers within %.0f s" % timeout)

    def rules_digest(self):
        rows = self.psql("SELECT value FROM engine_state WHERE name = 'rules_digest'")
        return rows[0][0] if rows else ""

    def settle_metrics(self):
        """Requests are counted just after their response is out: wait until the label sets
        of the request counters stop changing before a recorded GET /metrics."""
        seen = []
        for _ in range(100):
            seen.append(sorted(k for k in self.metrics_samples()
                               if k[0].startswith("patrold_http")))
            if len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]:
                return
            time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------------

def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.stderr.write("usage: PATROLD=build/server/patrold PATROLGIS_SRC=. "
                         "tests/tools/api_record.py OUT.txt\n")
        return 2
    t_start = time.monotonic()
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))
    env = harness.get_env()
    env.check_binary()
    rec = Recorder(env, os.path.abspath(sys.argv[1]))
    try:
        scenario(rec, env)
    except BaseException:
        env.failed = True
        rec.out_path += ".partial"
        rec.write()
        log("partial transcript in %s" % rec.out_path)
        if rec.server is not None:
            sys.stderr.write(rec.server.log_tail() + "\n")
        raise
    finally:
        if rec.server is not None:
            rec.server.close()
    if os.environ.get("PATROLGIS_IT_KEEP_LOGS") != "1":
        env.cluster.ctl("psql", "postgres", "-q", "-c",
                        'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DB, check=False)
    uncovered = sorted(set((m, t) for m, t, _ in rec.templates) - rec.covered)
    rec.section("coverage")
    rec.add("routes in GET /api/openapi.json: %d; exercised: %d; not exercised: %s\n"
            % (len(rec.templates), len(set((m, t) for m, t, _ in rec.templates) & rec.covered),
               ", ".join("%s %s" % u for u in uncovered) or "none"))
    rec.write()
    log("%d entries written to %s in %.1f s" % (rec.n, rec.out_path, time.monotonic() - t_start))
    if uncovered:
        log("routes not exercised: %s" % ", ".join("%s %s" % u for u in uncovered))
        return 1
    return 0


def scenario(rec, env):
    cluster = env.cluster
    cluster.createdb(DB)
    rec.db_url = cluster.url(DB)
    rec.norm.literal(rec.db_url, "<db-url>")
    log("database %s on %s" % (DB, cluster.dir))

    # ---- CLI: options, migrate, the commands' usage errors -------------------------------
    rec.section("CLI")
    rec.cli("--help", with_db=False)
    rec.cli("--version", with_db=False)
    rec.cli("--bogus", with_db=False, note="unknown option: exit 2")
    rec.cli("--port", "99999", "--version", with_db=False, note="out of range")
    rec.cli("--port=0", "--version", with_db=False, note="out of range, = form")
    rec.cli("--threads", "abc", "--version", with_db=False, note="not an integer")
    rec.cli("--port", with_db=False, note="option without its value")
    rec.cli("migrate", note="creates the schema")
    rec.cli("migrate", note="nothing pending")
    rec.cli("--log-level", "loud", "migrate", note="unknown log level")
    rec.cli("--tz", "Mars/Olympus_Mons", "migrate", note="unknown time zone")
    rec.cli("--migrate", "2", "migrate", note="out of range")
    rec.cli("--town-bbox", "1,2,3", "migrate", note="a bbox of three numbers")
    rec.cli("migrate", env={"PATROLD_THREADS": "many"}, note="a bad environment variable")
    rec.cli("migrate", env={"PATROLD_THREADS": "many"}, note="a flag wins over its variable",
            args_before=["--threads", "2"])
    rec.cli("migrate", db_url="postgresql:///nodb?host=/nonexistent", note="no database")
    rec.cli("frobnicate", note="unknown command")
    rec.cli("serve", "extra", note="serve takes no arguments")
    rec.cli("user", note="no subcommand")
    rec.cli("user", "add", note="no name")
    rec.cli("user", "add", "x", "--role", "king", note="unknown role")
    rec.cli("user", "add", "x", note="no role")
    rec.cli("token", note="no subcommand")
    rec.cli("token", "issue", note="neither --user nor --device")
    rec.cli("token", "issue", "--user", "x", "--expires-days", "-3", note="bad expiry")
    rec.cli("token", "revoke", "abc", note="bad id")
    rec.cli("token", "list", "extra", note="an argument too many")
    rec.cli("device", note="no subcommand")
    rec.cli("device", "add", note="no name")

    # ---- the server, then the demo town -------------------------------------------------
    rec.section("server and demo town")
    rec.osmand_port = harness.free_port()
    srv = harness.Server(env, "api-record", rec.db_url,
                         options=SERVER_OPTIONS + ["--osmand-port", str(rec.osmand_port)])
    rec.server = srv
    srv.start()
    rec.norm.literal("127.0.0.1:%d" % srv.port, "127.0.0.1:<port>")
    rec.norm.literal("127.0.0.1:%d" % rec.osmand_port, "127.0.0.1:<osmand-port>")
    # the engine's first periodic pass, over an empty town
    rec.wait_metric("patrold_engine_last_pass_timestamp_seconds", lambda v: v > 0)
    digest0 = rec.rules_digest()
    load_demo = os.path.join(env.src, "geodata", "load-demo")
    cp = run([load_demo, rec.db_url], env=clean_env({"PGCLIENTENCODING": "UTF8"}), timeout=120)
    if cp.returncode != 0:
        raise RuntimeError("geodata/load-demo failed (%d):\n%s%s"
                           % (cp.returncode, cp.stdout, cp.stderr))
    rec.n += 1
    rec.add("### %03d LOAD geodata/load-demo <db-url>\n(exit %d)\n--- stdout\n%s"
            % (rec.n, cp.returncode, cp.stdout))
    digest1 = rec.wait_digest_change(digest0)
    rec.psql("UPDATE patrol_windows SET created_at = :'c'::timestamptz", c=WINDOWS_CREATED)
    rec.wait_digest_change(digest1)

    # ---- accounts --------------------------------------------------------------------------
    rec.section("accounts (CLI)")
    rec.cli("user", "add", "admin", "--role", "admin", "--display-name", "管理员")
    rec.cli("user", "add", "editor", "--role", "editor", "--display-name", "编辑")
    rec.cli("user", "add", "viewer", "--role", "viewer", "--display-name", "镇领导",
            "--password-stdin", stdin="a long passphrase for the viewer\n")
    rec.cli("user", "add", "viewer", "--role", "viewer", note="exists: exit 1")
    for role in ("admin", "editor", "viewer"):
        cp = rec.cli("token", "issue", "--user", role, "--label", "api-record")
        tok = cp.stdout.strip()
        rec.tokens[role] = tok
        # registered after the fact: normalisation happens when the transcript is written
        rec.norm.secret(tok, "token", role)
    cp = rec.cli("token", "issue", "--user", "viewer", "--label", "expiring", "--expires-days",
                 "30")
    rec.tokens["viewer2"] = cp.stdout.strip()
    rec.norm.secret(rec.tokens["viewer2"], "token", "viewer2")
    cp = rec.cli("device", "add", "car-1", "--kind", "phone", "--unit", "青石镇派出所")
    dev = json.loads(cp.stdout)
    rec.tokens["device"] = dev["token"]
    rec.norm.secret(dev["token"], "token", "device")
    rec.norm.secret(dev["ident"], "ident", "car-1")
    car1 = dev["id"]
    rec.cli("device", "add", "car-1", note="exists: exit 1")
    rec.cli("device", "add", "car-x", "--kind", "bicycle", note="unknown kind")
    rec.cli("token", "issue", "--user", "nobody", note="unknown user")
    rec.cli("token", "revoke", "999", note="unknown token id")
    cp = rec.cli("token", "issue", "--user", "viewer", "--label", "to-revoke")
    rec.tokens["revoked"] = cp.stdout.strip()
    rec.norm.secret(rec.tokens["revoked"], "token", "revoked")
    rid = None
    cp = rec.cli("token", "list")
    for line in cp.stdout.splitlines():
        cols = line.split()
        if len(cols) > 2 and cols[2] == "to-revoke":
            rid = cols[0]
    if rid is None:
        raise RuntimeError("`token list` does not show the token labelled to-revoke")
    rec.cli("token", "revoke", rid)
    rec.cli("token", "revoke", rid, note="again")
    rec.cli("token", "list")

    http_part(rec, car1)


def http_part(rec, car1):
    srv = rec.server
    # ---- core ------------------------------------------------------------------------------
    rec.section("core")
    st, _, data = rec.req("GET", "/api/openapi.json", expect=200)
    rec.templates = route_templates(json.loads(data))
    rec.covered.add(("GET", "/api/openapi.json"))
    rec.req("GET", "/healthz")
    rec.req("HEAD", "/healthz", note="HEAD is GET without the body")
    rec.req("GET", "/readyz")
    rec.req("GET", "/healthz?x=1", note="query on a public route")
    rec.settle_metrics()
    rec.req("GET", "/metrics", metrics=True, note="values dropped")
    rec.req("GET", "/api/v1/me", note="no token")
    rec.req("GET", "/api/v1/me", headers={"Authorization": "Bearer ptk_not-a-real-token"},
            note="unknown token")
    rec.req("GET", "/api/v1/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="},
            note="not a bearer token")
    rec.req("GET", "/api/v1/me", as_="revoked", note="revoked token")
    for role in ("admin", "editor", "viewer", "viewer2", "device"):
        rec.req("GET", "/api/v1/me", as_=role)
    rec.req("GET", "/api/v1/me", as_="viewer", headers={"X-Request-Id": rec.sent_rid},
            note="the client's own request id comes back")
    rec.req("GET", "/nope", note="unknown path")
    rec.req("GET", "/api/v1/nope", as_="admin", note="unknown path with a token")
    rec.req("DELETE", "/healthz", note="wrong method")
    rec.req("PUT", "/api/v1/users", as_="admin", body={}, note="wrong method")
    rec.req("POST", "/collections/schools", as_="editor", body={}, note="wrong method")
    rec.req("OPTIONS", "/api/v1/me", note="a method no route has")
    rec.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
            note="headers over --max-header-bytes: 431",
            shown_request="GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: <20000 x 'a'>")
    rec.raw(b"GET /healthz HTTP/1.0\r\n\r\n", note="HTTP/1.0")
    rec.raw(b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + rec.tokens["admin"].encode() + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n", method="POST",
            note="Content-Length over the route's limit, refused before the body is read")

    # ---- ingest ----------------------------------------------------------------------------
    rec.section("ingest")
    pts = {r[1]: {"id": int(r[0]), "lon": float(r[2]), "lat": float(r[3])}
           for r in rec.psql("SELECT id, name, ST_X(location), ST_Y(location) FROM patrol_points")}
    fr = Frame(pts[P1]["lon"], pts[P1]["lat"])

    def xy(name):
        return fr.xy(pts[name]["lon"], pts[name]["lat"])

    p1, p2, r1, g3, w17, w18 = (xy(n) for n in (P1, P2, R1, G3, W17, W18))
    pond = rec.psql("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM waters"
                    " WHERE name = :'n') x", n=POND)[0]
    pond = fr.xy(float(pond[0]), float(pond[1]))

    # morning of car-1: P1 on time, R1, (dead zone: P2 late), the pond, G3
    tr = Track(fr, "06:58:00", p1[0] + 500, p1[1])
    tr.drive(*p1, 30)
    tr.wait(180)
    tr.drive(r1[0] + 10, r1[1] - 10, 30)
    tr.wait(60)
    morning_a = list(tr.fixes)
    tr.at("07:18:00", p2[0] - 280, p2[1] - 220)
    tr.drive(*p2, 30)
    tr.wait(180)
    tr.drive(p2[0] - 280, p2[1] - 220, 30)
    dead_zone = tr.fixes[len(morning_a):]
    tr.fixes = []
    tr.at("07:40:00", pond[0], pond[1] - 200)
    tr.drive(pond[0], pond[1], 5)
    tr.wait(120)
    tr.drive(pond[0], pond[1] - 200, 5)
    tr.drive(g3[0], g3[1] + 300, 40)
    tr.drive(*g3, 30)
    tr.wait(240)
    tr.drive(g3[0], g3[1] + 300, 30)
    morning_b = tr.fixes

    def fixes_json(fixes, extra=None):
        out = []
        for i, (t, lon, lat) in enumerate(fixes):
            f = {"t": iso_z(t) if i % 2 == 0 else t, "lat": lat, "lon": lon}
            if i % 7 == 0:
                f.update({"speed_kmh": 30.5, "heading": 90, "accuracy_m": 6, "altitude_m": 60,
                          "hdop": 1.1, "battery": 80, "valid": True})
            out.append(f)
        return {"fixes": out + (extra or [])}

    batch1 = fixes_json(morning_a + morning_b)
    rec.req("POST", "/api/v1/positions", as_="device", body=batch1,
            body_note="JSON batch, %d fixes of the morning without the dead zone"
            % len(batch1["fixes"]), expect=201)
    rec.wait_engine()
    rec.req("POST", "/api/v1/positions", as_="device", body=batch1,
            body_note="the same batch again", expect=200)
    rec.wait_engine()
    late = fixes_json(dead_zone)
    late["crs"] = "wgs84"
    rec.req("POST", "/api/v1/positions", as_="device", body=late,
            body_note="JSON batch uploaded late: %d fixes of the dead zone" % len(dead_zone),
            expect=201)
    rec.wait_engine()
    # noon at the pond's patrol point (protobuf), with a flagged fix (accuracy)
    tr = Track(fr, "12:20:00", w18[0] + 300, w18[1])
    tr.drive(*w18, 20)
    tr.wait(150)
    tr.drive(w18[0] + 300, w18[1], 20)
    pb = protobuf_batch(tr.fixes, crs="wgs84")
    rec.req("POST", "/api/v1/positions", as_="device", body=pb,
            headers={"Content-Type": "application/x-protobuf"},
            body_note="protobuf batch, %d fixes" % len(tr.fixes), expect=201)
    rec.wait_engine()
    # some fixes rejected, some flagged (a jump too fast), some fine
    t13 = local_ms("13:00:00")
    mixed = {"fixes": [
        {"t": t13, "lat": pts[W18]["lat"], "lon": pts[W18]["lon"] + 0.003},
        {"t": t13 + 10000, "lat": pts[W18]["lat"] + 0.2, "lon": pts[W18]["lon"]},
        {"t": t13 + 20000, "lat": pts[W18]["lat"], "lon": pts[W18]["lon"] + 0.003,
         "accuracy_m": 250},
        {"t": "2099-01-01T00:00:00Z", "lat": 28.1, "lon": 112.9},
        {"t": "1999-12-31T23:59:59Z", "lat": 28.1, "lon": 112.9},
        {"t": t13 + 30000, "lat": 95, "lon": 112.9},
        {"t": t13 + 40000, "lat": 28.1, "lon": 112.9, "speed_kmh": -3},
    ]}
    rec.req("POST", "/api/v1/positions", as_="device", body=mixed,
            note="rejected and flagged fixes")
    rec.wait_engine()
    rec.req("POST", "/api/v1/positions", as_="device",
            body={"fixes": [{"t": "2099-01-01T00:00:00Z", "lat": 28.1, "lon": 112.9}]},
            note="every fix rejected: 422")
    # evening: the river bend's point by GPX from the device itself
    tr = Track(fr, "17:30:00", w17[0] + 300, w17[1])
    tr.drive(*w17, 20)
    tr.wait(150)
    tr.drive(w17[0] + 300, w17[1], 20)
    rec.req("POST", "/api/v1/positions", as_="device", body=gpx_doc(tr.fixes, "evening"),
            headers={"Content-Type": "application/gpx+xml"}, expect=201)
    rec.wait_engine()
    # dismissal at P1 from a logger's file, uploaded by an editor: resolves a missed window
    tr = Track(fr, "16:00:00", p1[0] + 500, p1[1])
    tr.drive(*p1, 30)
    tr.wait(240)
    tr.drive(p1[0] + 500, p1[1], 30)
    rec.req("POST", "/api/v1/devices/%d/gpx" % car1, as_="editor",
            body=gpx_doc(tr.fixes, "logger"), headers={"Content-Type": "application/gpx+xml"},
            expect=201)
    rec.wait_engine()
    # bad ingest requests
    rec.req("POST", "/api/v1/positions", body=batch1, body_note="no token")
    rec.req("POST", "/api/v1/positions", as_="viewer", body=batch1, body_note="a viewer")
    rec.req("POST", "/api/v1/positions", as_="device", body="{\"fixes\": [",
            headers={"Content-Type": "application/json"}, note="malformed JSON")
    rec.req("POST", "/api/v1/positions", as_="device",
            body={"fixes": [{"t": t13, "lat": 28.1, "lng": 112.9}]}, note="unknown member")
    rec.req("POST", "/api/v1/positions", as_="device", body={"fixes": []}, note="no fixes")
    rec.req("POST", "/api/v1/positions", as_="device",
            body={"crs": "EPSG:3857", "fixes": [{"t": t13, "lat": 28.1, "lon": 112.9}]},
            note="Web Mercator refused")
    rec.req("POST", "/api/v1/positions", as_="device",
            body={"fixes": [{"t": "2026-06-10 07:00:00", "lat": 28.1, "lon": 112.9}]},
            note="a time without zone")
    rec.req("POST", "/api/v1/positions", as_="device", body="t,lat,lon\n",
            headers={"Content-Type": "text/csv"}, note="wrong content type: 415")
    rec.req("POST", "/api/v1/positions", as_="device", body=b"\x0a\x03\x08\x01",
            headers={"Content-Type": "application/x-protobuf"}, note="truncated protobuf")
    rec.req("POST", "/api/v1/positions", as_="device",
            body="<?xml version='1.0'?><gpx><trk><trkseg><trkpt lat='28.1'>",
            headers={"Content-Type": "application/gpx+xml"}, note="broken XML")
    big = {"fixes": [{"t": 1780000000000 + i * 1000, "lat": 28.1, "lon": 112.9}
                     for i in range(10001)]}
    rec.req("POST", "/api/v1/positions", as_="device", body=big,
            body_note="10 001 fixes", note="over the batch limit: 413")
    rec.req("POST", "/api/v1/devices/999/gpx", as_="editor", body=gpx_doc(tr.fixes[:2]),
            headers={"Content-Type": "application/gpx+xml"}, note="unknown device")
    rec.req("POST", "/api/v1/devices/abc/gpx", as_="editor", body=gpx_doc(tr.fixes[:2]),
            headers={"Content-Type": "application/gpx+xml"}, note="bad device id")
    rec.req("POST", "/api/v1/devices/%d/gpx" % car1, as_="device", body=gpx_doc(tr.fixes[:2]),
            headers={"Content-Type": "application/gpx+xml"}, note="a device may not: 403")
    rec.req("POST", "/api/v1/devices/%d/gpx" % car1, as_="viewer", body=gpx_doc(tr.fixes[:2]),
            headers={"Content-Type": "application/gpx+xml"}, note="a viewer may not: 403")

    # ---- admin: users, tokens, devices ----------------------------------------------------
    rec.section("admin")
    rec.req("GET", "/api/v1/users", as_="admin")
    rec.req("GET", "/api/v1/users", as_="viewer", note="403")
    rec.req("GET", "/api/v1/users", as_="device", note="403")
    rec.req("POST", "/api/v1/users", as_="admin",
            body={"name": "wang", "role": "viewer", "display_name": "王镇长",
                  "password": "correct horse battery staple"})
    rec.req("POST", "/api/v1/users", as_="admin", body={"name": "wang", "role": "viewer"},
            note="exists: 409")
    rec.req("POST", "/api/v1/users", as_="admin", body={"name": "li", "role": "emperor"},
            note="unknown role")
    rec.req("POST", "/api/v1/users", as_="admin", body={"name": "li", "role": "viewer",
                                                        "age": 3}, note="unknown member")
    rec.req("POST", "/api/v1/users", as_="admin", body="{\"name\": ",
            headers={"Content-Type": "application/json"}, note="malformed JSON")
    rec.req("POST", "/api/v1/users", as_="admin", body="name=li",
            headers={"Content-Type": "application/x-www-form-urlencoded"}, note="415")
    rec.req("POST", "/api/v1/users", as_="admin",
            body={"name": "x" * 70000, "role": "viewer"}, body_note="a 70 kB name",
            note="body over the limit: 413")
    rec.req("POST", "/api/v1/users", as_="editor", body={"name": "li", "role": "viewer"},
            note="an editor: 403")
    rec.req("GET", "/api/v1/tokens", as_="admin")
    rec.req("POST", "/api/v1/tokens", as_="admin",
            body={"user": "wang", "label": "wang laptop", "expires_days": 90})
    st, _, data = rec.req("POST", "/api/v1/tokens", as_="admin",
                          body={"device": "car-1", "label": "spare"}, expect=201)
    spare = json.loads(data)["id"]
    rec.req("POST", "/api/v1/tokens", as_="admin", body={"user": "nobody"}, note="unknown user")
    rec.req("POST", "/api/v1/tokens", as_="admin", body={"user": "wang", "device": "car-1"},
            note="both")
    rec.req("POST", "/api/v1/tokens", as_="admin", body={"user": "wang", "expires_days": -1},
            note="bad expiry")
    rec.req("GET", "/api/v1/tokens", as_="admin")
    rec.req("DELETE", "/api/v1/tokens/%s" % spare, as_="admin", note="revoke")
    rec.req("DELETE", "/api/v1/tokens/%s" % spare, as_="admin", note="again")
    rec.req("DELETE", "/api/v1/tokens/99999", as_="admin", note="unknown id")
    rec.req("DELETE", "/api/v1/tokens/abc", as_="admin", note="bad id")
    rec.req("DELETE", "/api/v1/tokens/1", as_="viewer", note="403")
    rec.req("GET", "/api/v1/devices", as_="admin")
    st, _, data = rec.req("POST", "/api/v1/devices", as_="admin",
                          body={"name": "car-2", "kind": "phone", "unit": "青石镇派出所"},
                          expect=201)
    car2 = json.loads(data)
    rec.norm.secret(car2["token"], "token", "car-2")
    rec.norm.secret(car2["ident"], "ident", "car-2")
    rec.req("POST", "/api/v1/devices", as_="admin", body={"name": "car-2"}, note="exists")
    rec.req("POST", "/api/v1/devices", as_="admin", body={"name": "car-3", "kind": "tank"},
            note="unknown kind")
    rec.req("POST", "/api/v1/devices", as_="admin", body={"kind": "phone"}, note="no name")
    rec.req("GET", "/api/v1/devices", as_="admin")

    # ---- OsmAnd / Traccar Client for car-2 ------------------------------------------------
    rec.section("OsmAnd / Traccar")
    ident = car2["ident"]
    tr = Track(fr, "16:02:00", g3[0], g3[1] + 400, step_s=20)
    tr.drive(*g3, 30)
    tr.wait(200)
    tr.drive(g3[0] + 300, g3[1], 30)
    fx = tr.fixes
    for i, (t, lon, lat) in enumerate(fx):
        if i % 4 == 0:
            rec.req("GET", "/api/v1/osmand?id=%s&lat=%.7f&lon=%.7f&timestamp=%d&speed=10"
                    "&bearing=90&altitude=60&accuracy=5&batt=80" % (ident, lat, lon, t // 1000))
        elif i % 4 == 1:
            rec.req("POST", "/api/v1/osmand",
                    body="deviceid=%s&lat=%.7f&lon=%.7f&timestamp=%s&hdop=4&valid=true"
                    % (ident, lat, lon, iso_z(t)),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        elif i % 4 == 2:
            rec.req("POST", "/", port=rec.osmand_port,
                    body={"device_id": ident, "location": {
                        "timestamp": iso_z(t), "coords": {"latitude": lat, "longitude": lon,
                                                          "speed": 2.5, "heading": 91,
                                                          "accuracy": 4, "altitude": 60},
                        "battery": {"level": 0.8}, "is_moving": True}})
        else:
            rec.req("GET", "/?id=%s&location=%.7f,%.7f&timestamp=%d" % (ident, lat, lon, t),
                    port=rec.osmand_port)
        rec.wait_engine()
    rec.req("GET", "/api/v1/osmand?id=unknownident&lat=28.1&lon=112.9&timestamp=1781049600",
            note="unknown identifier: 403")
    rec.req("GET", "/api/v1/osmand?lat=28.1&lon=112.9&timestamp=1781049600",
            note="no identifier: 400")
    rec.req("GET", "/api/v1/osmand?id=%s&lat=north&lon=112.9&timestamp=1781049600" % ident,
            note="bad lat")
    rec.req("GET", "/api/v1/osmand?id=%s&lat=28.1&lon=112.9&timestamp=%d" % (ident, fx[0][0]
                                                                              // 1000),
            note="a duplicate: 200")
    rec.req("DELETE", "/api/v1/osmand", note="wrong method")

    # ---- check-ins, visits, events, track, latest ----------------------------------------
    rec.section("check-ins, visits, events")
    d = D.isoformat()
    school = rec.scalar("SELECT id FROM schools WHERE name = '青石镇中心小学'")
    rec.req("GET", "/api/v1/checkins?date=%s" % d, as_="viewer")
    rec.req("GET", "/api/v1/checkins?date=%s&format=csv" % d, as_="viewer")
    rec.req("GET", "/api/v1/checkins?date=%s&school=%s" % (d, school), as_="viewer")
    rec.req("GET", "/api/v1/checkins?date=%s&point=%d" % (d, pts[P2]["id"]), as_="editor")
    rec.req("GET", "/api/v1/checkins?date=%s&device=%d" % (d, car2["id"]), as_="admin")
    rec.req("GET", "/api/v1/checkins?date=2026-06-13", as_="viewer", note="a Saturday")
    rec.req("GET", "/api/v1/checkins", as_="viewer", clock=True, note="default: today")
    rec.req("GET", "/api/v1/checkins?date=2026-13-01", as_="viewer", note="bad date")
    rec.req("GET", "/api/v1/checkins?date=%s&format=xml" % d, as_="viewer", note="bad format")
    rec.req("GET", "/api/v1/checkins?date=%s&point=0" % d, as_="viewer", note="bad id")
    rec.req("GET", "/api/v1/checkins?date=%s&when=now" % d, as_="viewer", note="unknown arg")
    rec.req("GET", "/api/v1/checkins?date=%s" % d, as_="device", note="a device: 403")
    rec.req("GET", "/api/v1/checkins?date=%s" % d, note="no token")
    for group in ("school", "point", "device", "day"):
        rec.req("GET", "/api/v1/reports/checkins?from=%s&to=%s&group=%s" % (d, d, group),
                as_="viewer")
    rec.req("GET", "/api/v1/reports/checkins?from=2026-06-08&to=2026-06-14&group=day&format=csv",
            as_="viewer")
    rec.req("GET", "/api/v1/reports/checkins?from=%s&to=%s&group=point&format=csv" % (d, d),
            as_="viewer")
    rec.req("GET", "/api/v1/reports/checkins?group=day", as_="viewer", clock=True,
            note="default: the last 7 days")
    rec.req("GET", "/api/v1/reports/checkins?from=%s&to=%s&group=class" % (d, d), as_="viewer",
            note="bad group")
    rec.req("GET", "/api/v1/reports/checkins?from=2026-06-14&to=2026-06-08", as_="viewer",
            note="from after to")
    rec.req("GET", "/api/v1/reports/checkins?from=yesterday", as_="viewer", note="bad from")
    rec.req("GET", "/api/v1/reports/presence?date=%s" % d, as_="viewer")
    rec.req("GET", "/api/v1/reports/presence?date=%s&format=csv" % d, as_="viewer")
    rec.req("GET", "/api/v1/reports/presence?date=06/10/2026", as_="viewer", note="bad date")
    rec.req("GET", "/api/v1/visits?from=%s&to=%s" % (d, d), as_="viewer")
    rec.req("GET", "/api/v1/visits?from=%sT07:00:00%%2B08:00&to=%sT08:00:00Z&point=%d"
            % (d, d, pts[P1]["id"]), as_="viewer")
    rec.req("GET", "/api/v1/visits?from=%s&to=%s&device=%d&limit=2" % (d, d, car1),
            as_="viewer")
    rec.req("GET", "/api/v1/visits", as_="viewer", clock=True, note="default: from today")
    rec.req("GET", "/api/v1/visits?from=%s&limit=0" % d, as_="viewer", note="bad limit")
    rec.req("GET", "/api/v1/visits?from=%s&limit=abc" % d, as_="viewer", note="bad limit")
    rec.req("GET", "/api/v1/visits?from=2026-06-10T07:00:00" % (), as_="viewer",
            note="a time without zone")
    rec.req("GET", "/api/v1/events?from=%s&to=%s" % (d, d), as_="viewer")
    rec.req("GET", "/api/v1/events?from=%s&kind=zone_enter" % d, as_="viewer")
    rec.req("GET", "/api/v1/events?from=%s&kind=checkin_missed" % d, as_="viewer")
    rec.req("GET", "/api/v1/events?from=%s&kind=checkin_resolved" % d, as_="viewer")
    rec.req("GET", "/api/v1/events?from=%s&after_id=2&limit=3" % d, as_="viewer")
    rec.req("GET", "/api/v1/events?from=%s&device=%d" % (d, car2["id"]), as_="viewer")
    rec.req("GET", "/api/v1/events?from=%s&kind=explosion" % d, as_="viewer",
            note="a kind no event has")
    rec.req("GET", "/api/v1/events?kind=Zone-Enter", as_="viewer", note="bad kind")
    rec.req("GET", "/api/v1/events?from=%s&after_id=-1" % d, as_="viewer", note="bad after_id")
    rec.req("GET", "/api/v1/events?from=%s&limit=100000" % d, as_="viewer", note="big limit")
    rec.req("GET", "/api/v1/events/stream?kind=Zone-Enter", as_="viewer", note="bad kind")
    rec.req("GET", "/api/v1/events/stream", as_="viewer",
            headers={"Last-Event-ID": "x"}, note="bad Last-Event-ID")
    rec.req("GET", "/api/v1/events/stream", note="no token")
    rec.req("GET", "/api/v1/devices/%d/track?from=%s&to=%s" % (car1, d, d), as_="viewer")
    rec.req("GET", "/api/v1/devices/%d/track?from=%s&to=%s&outliers=1" % (car1, d, d),
            as_="viewer")
    rec.req("GET", "/api/v1/devices/%d/track?from=%s&to=%s" % (car2["id"], d, d),
            as_="viewer")
    rec.req("GET", "/api/v1/devices/%d/track?from=%s&to=%s&outliers=2" % (car1, d, d),
            as_="viewer", note="bad outliers")
    rec.req("GET", "/api/v1/devices/999/track?from=%s" % d, as_="viewer", note="unknown device")
    rec.req("GET", "/api/v1/devices/x/track", as_="viewer", note="bad id")
    rec.req("GET", "/api/v1/positions/latest", as_="viewer")
    rec.req("GET", "/api/v1/positions/latest", as_="device", note="403")
    rec.req("GET", "/api/v1/positions/latest?device=1", as_="viewer", note="unknown arg")

    # ---- spatial reports ------------------------------------------------------------------
    rec.section("spatial reports")
    rec.req("GET", "/api/v1/reports/venues-near-schools", as_="viewer")
    rec.req("GET", "/api/v1/reports/venues-near-schools?distance=500&kinds=internet_cafe,"
            "karaoke&format=csv", as_="viewer")
    rec.req("GET", "/api/v1/reports/venues-near-schools?distance=-5", as_="viewer",
            note="bad distance")
    rec.req("GET", "/api/v1/reports/venues-near-schools?kinds=zoo", as_="viewer",
            note="bad kind")
    rec.req("GET", "/api/v1/reports/waters-near-schools?date=%s" % d, as_="viewer")
    rec.req("GET", "/api/v1/reports/waters-near-schools?date=2026-12-01&distance=1500"
            "&format=csv", as_="viewer")
    rec.req("GET", "/api/v1/reports/waters-near-schools?date=%s&distance=abc" % d,
            as_="viewer", note="bad distance")
    rec.req("GET", "/api/v1/reports/road-segments-near-schools", as_="viewer")
    rec.req("GET", "/api/v1/reports/road-segments-near-schools?distance=1000&format=csv",
            as_="viewer")
    rec.req("GET", "/api/v1/reports/schools-not-inspected?month=2026-06", as_="viewer")
    rec.req("GET", "/api/v1/reports/schools-not-inspected?month=2026-06&format=csv",
            as_="viewer")
    rec.req("GET", "/api/v1/reports/schools-not-inspected", as_="viewer", clock=True,
            note="default: this month")
    rec.req("GET", "/api/v1/reports/schools-not-inspected?month=2026-6", as_="viewer",
            note="bad month")
    rec.req("GET", "/api/v1/reports/schools-not-inspected?month=2026-06", note="no token")

    features(rec, pts)

    # ---- the end ---------------------------------------------------------------------------
    rec.section("metrics")
    rec.settle_metrics()
    rec.req("GET", "/metrics", metrics=True)

    # Last, after /metrics: the server counts a stream when it ends, and it notices a stream
    # the client closed only at its connection timeout (30 s); here it ends with the server.
    rec.section("event streams")
    stream(rec, "/api/v1/events/stream", {"Last-Event-ID": "0"}, note="the backlog from id 0")
    stream(rec, "/api/v1/events/stream?kind=zone_exit&last_event_id=1", {},
           note="filtered backlog")
    stream(rec, "/api/v1/events/stream?device=%d" % car1, {},
           note="live only: no events come")


def stream(rec, path, headers, note):
    """An event stream: what arrives within 1 s of silence, then the connection is closed."""
    hdrs = {"Authorization": "Bearer " + rec.tokens["viewer"], "Host": "x"}
    hdrs.update(headers)
    req = "GET %s HTTP/1.1\r\n%s\r\n" % (path, "".join("%s: %s\r\n" % kv for kv in hdrs.items()))
    buf = b""
    with socket.create_connection(("127.0.0.1", rec.server.port), timeout=10) as s:
        s.sendall(req.encode())
        s.settimeout(1.0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    body = rest
    if any(line.lower() == "transfer-encoding: chunked" for line in lines):
        out, pos = b"", 0
        while pos < len(rest):
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(rest[pos:eol].split(b";")[0], 16)
            if size == 0:
                break
            out += rest[eol + 2:eol + 2 + size]
            pos = eol + 2 + size + 2
        body = out
    rec.n += 1
    shown = "".join("> %s: %s\n" % kv for kv in hdrs.items() if kv[0] != "Host")
    status = lines[0]
    m = re.match(r"HTTP/1\.(\d) (\d+) ?(.*)", status)
    rec.add("### %03d GET %s # %s (read until 1 s of silence)\n%s< %s\n%s\n%s\n" % (
        rec.n, path, note, shown, status,
        "".join("< %s\n" % line for line in lines[1:]), body.decode("utf-8", "replace")))
    t = rec._template("GET", path)
    if t and m:
        rec.covered.add(("GET", t))


def features(rec, pts):
    rec.section("OGC API Features: reading")
    rec.req("GET", "/")
    rec.req("GET", "/conformance")
    rec.req("GET", "/collections", as_="viewer")
    rec.req("GET", "/collections", note="no token")
    rec.req("GET", "/collections/schools", as_="viewer")
    rec.req("GET", "/collections/patrol_points", as_="viewer")
    rec.req("GET", "/collections/nope", as_="viewer", note="unknown collection")
    rec.req("GET", "/collections/schools/schema.xsd", as_="viewer")
    rec.req("GET", "/collections/roads/schema.xsd", as_="viewer")
    rec.req("GET", "/collections/nope/schema.xsd", as_="viewer")
    rec.req("GET", "/collections/schools/items", as_="viewer")
    rec.req("GET", "/collections/patrol_points/items?limit=3", as_="viewer")
    rec.req("GET", "/collections/patrol_points/items?limit=3&offset=3", as_="viewer")
    rec.req("GET", "/collections/schools/items?kind=kindergarten", as_="viewer")
    rec.req("GET", "/collections/waters/items?bbox=112.86,28.07,112.94,28.12&limit=50",
            as_="viewer")
    rec.req("GET", "/collections/venues/items?bbox=-180,-90,180,90&kind=internet_cafe",
            as_="viewer")
    rec.req("GET", "/collections/stations/items?crs=gcj02", as_="viewer")
    rec.req("GET", "/collections/stations/items?crs=http://www.opengis.net/def/crs/EPSG/0/4326",
            as_="viewer")
    rec.req("GET", "/collections/stations/items?crs=http://www.opengis.net/def/crs/EPSG/0/3857",
            as_="viewer")
    rec.req("GET", "/collections/stations/items?bbox=12563000,3250000,12575000,3262000"
            "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857", as_="viewer")
    rec.req("GET", "/collections/inspections/items?datetime=2026-01-01T00:00:00Z/..",
            as_="viewer")
    rec.req("GET", "/collections/inspections/items?datetime=../2026-06-30T00:00:00Z",
            as_="viewer")
    rec.req("GET", "/collections/road_segments/items?status=fixed", as_="viewer")
    rec.req("GET", "/collections/roads/items?limit=2&offset=60", as_="viewer")
    rec.req("GET", "/collections/patrol_points/items?school_id=2&kind=gate&f=json",
            as_="viewer")
    rec.req("GET", "/collections/patrol_points/items?school_id=x", as_="viewer",
            note="an integer filter that is not one")
    rec.req("GET", "/collections/patrol_points/items?kind", as_="viewer",
            note="a filter without a value")
    rec.req("GET", "/collections/schools/items?f=html", as_="viewer", note="a format not offered")
    rec.req("GET", "/collections/roads/items?limit=20000&offset=1000", as_="viewer",
            note="limit over the maximum")
    for q, what in (("bbox=1,2,3", "three numbers"), ("bbox=113,28,112,29", "minlon > maxlon"),
                    ("bbox=a,b,c,d", "not numbers"), ("bbox=1,2,3,4&bbox-crs=EPSG:9999",
                                                      "unknown bbox-crs"),
                    ("datetime=yesterday", "bad datetime"),
                    ("datetime=2026-06-30T00:00:00Z/2026-01-01T00:00:00Z", "reversed interval"),
                    ("limit=0", "limit 0"), ("limit=-1", "negative limit"),
                    ("limit=ten", "limit not a number"), ("offset=-1", "negative offset"),
                    ("offset=x", "offset not a number"), ("crs=EPSG:9999", "unknown crs"),
                    ("kind=castle", "a kind not in the list"), ("colour=red", "unknown filter"),
                    ("boarding=maybe", "a boolean filter that is not one")):
        rec.req("GET", "/collections/schools/items?" + q, as_="viewer", note=what)
    rec.req("GET", "/collections/nope/items", as_="viewer", note="unknown collection")
    rec.req("GET", "/collections/schools/items/1", as_="viewer")
    st, h, _ = rec.req("GET", "/collections/patrol_points/items/%d" % pts[P1]["id"],
                       as_="viewer")
    etag = h.get("etag")
    rec.req("GET", "/collections/patrol_points/items/%d" % pts[P1]["id"], as_="viewer",
            headers={"If-None-Match": etag}, note="304")
    rec.req("GET", "/collections/patrol_points/items/%d?crs=gcj02" % pts[P1]["id"],
            as_="viewer")
    rec.req("GET", "/collections/schools/items/99999", as_="viewer", note="unknown id")
    rec.req("GET", "/collections/schools/items/abc", as_="viewer", note="bad id")

    rec.section("OGC API Features: editing (Part 4)")
    school = int(rec.scalar("SELECT id FROM schools WHERE name = '青石镇中心小学'"))
    point = {"type": "Feature",
             "geometry": {"type": "Point", "coordinates": [pts[R1]["lon"] + 0.001,
                                                           pts[R1]["lat"] + 0.001]},
             "properties": {"name": "学府路口（新）", "kind": "route", "radius_m": 40,
                            "min_dwell_s": 0, "school_id": school,
                            "windows": [{"name": "上学", "start_local": "07:00",
                                         "end_local": "08:30"}]}}
    st, h, data = rec.req("POST", "/collections/patrol_points/items", as_="editor", body=point,
                          headers={"Content-Type": "application/geo+json"}, expect=201)
    fid = json.loads(data)["id"] if data else None
    loc = h.get("location", "")
    if fid is None:
        fid = int(loc.rstrip("/").rsplit("/", 1)[-1])
    path = "/collections/patrol_points/items/%s" % fid
    st, h, _ = rec.req("GET", path, as_="viewer")
    etag1 = h.get("etag")
    put = json.loads(json.dumps(point))
    put["properties"]["radius_m"] = 60
    put["properties"]["windows"] = [{"name": "放学", "start_local": "16:00",
                                     "end_local": "18:00"}]
    st, h, _ = rec.req("PUT", path, as_="editor", body=put, headers={
        "Content-Type": "application/geo+json", "If-Match": etag1}, note="replace")
    etag2 = h.get("etag")
    rec.req("PUT", path, as_="editor", body=put, headers={
        "Content-Type": "application/geo+json", "If-Match": etag1}, note="stale If-Match: 412")
    st, h, _ = rec.req("PATCH", path, as_="editor",
                       body={"properties": {"min_dwell_s": 30, "name": "学府路口（改）"}},
                       headers={"Content-Type": "application/merge-patch+json",
                                "If-Match": etag2 or "*"}, note="merge")
    etag3 = h.get("etag")
    rec.req("PATCH", path, as_="editor", body={"properties": {"radius_m": 2}},
            headers={"Content-Type": "application/merge-patch+json"}, note="radius out of range")
    rec.req("PATCH", path, as_="editor", body={"properties": {"radius_m": 50}},
            headers={"Content-Type": "text/plain"}, note="wrong content type")
    rec.req("PATCH", path, as_="viewer", body={"properties": {"radius_m": 50}},
            headers={"Content-Type": "application/merge-patch+json"}, note="a viewer: 403")
    rec.req("GET", path, as_="viewer")
    rec.req("PUT", "/collections/patrol_points/items/99999", as_="editor", body=put,
            headers={"Content-Type": "application/geo+json"}, note="unknown id")
    coll = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.9, 28.1]},
         "properties": {"name": "测试网吧一", "kind": "internet_cafe"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [112.901, 28.101]},
         "properties": {"name": "测试网吧二", "kind": "internet_cafe"}}]}
    rec.req("POST", "/collections/venues/items", as_="editor", body=coll,
            headers={"Content-Type": "application/geo+json"}, note="a FeatureCollection")
    coll["features"][1]["properties"]["kind"] = "casino"
    rec.req("POST", "/collections/venues/items", as_="editor", body=coll,
            headers={"Content-Type": "application/geo+json"}, note="one bad feature: none stored")
    bowtie = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [112.9, 28.1], [112.901, 28.101], [112.901, 28.1], [112.9, 28.101], [112.9, 28.1]]]},
        "properties": {"name": "蝴蝶塘", "kind": "pond", "risk_level": 2}}
    rec.req("POST", "/collections/waters/items", as_="editor", body=bowtie,
            headers={"Content-Type": "application/geo+json"}, note="self-intersection: 422")
    unclosed = json.loads(json.dumps(bowtie))
    unclosed["geometry"]["coordinates"][0] = [[112.9, 28.1], [112.901, 28.1], [112.901, 28.101]]
    rec.req("POST", "/collections/waters/items", as_="editor", body=unclosed,
            headers={"Content-Type": "application/geo+json"}, note="unclosed ring: 422")
    rec.req("POST", "/collections/stations/items", as_="editor", body={
        "type": "Feature", "geometry": {"type": "LineString", "coordinates": [[112.9, 28.1],
                                                                              [112.91, 28.1]]},
        "properties": {"name": "线站", "kind": "police_station"}},
        headers={"Content-Type": "application/geo+json"}, note="wrong geometry type: 422")
    rec.req("POST", "/collections/stations/items", as_="editor", body={
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [212.9, 28.1]},
        "properties": {"name": "远站", "kind": "police_station"}},
        headers={"Content-Type": "application/geo+json"}, note="longitude out of range: 422")
    rec.req("POST", "/collections/stations/items", as_="editor", body={
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [112.9, 28.1]},
        "properties": {"name": "新站", "kind": "police_station", "id": 5}},
        headers={"Content-Type": "application/geo+json"}, note="a server-set property: 400")
    rec.req("POST", "/collections/stations/items", as_="editor", body={
        "type": "Feature", "crs": {"type": "name"},
        "geometry": {"type": "Point", "coordinates": [112.9, 28.1]},
        "properties": {"name": "新站", "kind": "police_station"}},
        headers={"Content-Type": "application/geo+json"}, note="a crs member: 400")
    rec.req("POST", "/collections/stations/items", as_="editor",
            body='{"type":"Feature","geometry":{"type":"Point","coordinates":[NaN,28.1]}}',
            headers={"Content-Type": "application/geo+json"}, note="not JSON")
    rec.req("POST", "/collections/stations/items", as_="editor", body={
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [12568000, 3256000]},
        "properties": {"name": "墨卡托站", "kind": "patrol_base"}},
        headers={"Content-Type": "application/geo+json",
                 "Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/3857>"},
        note="input in EPSG:3857")
    rec.req("POST", "/collections/stations/items", as_="editor", body="<Feature/>",
            headers={"Content-Type": "application/xml"}, note="415")
    rec.req("POST", "/collections/roads/items", as_="editor", body={
        "type": "Feature", "geometry": {"type": "LineString", "coordinates": [[112.9, 28.1],
                                                                              [112.91, 28.1]]},
        "properties": {"name": "新路"}}, headers={"Content-Type": "application/geo+json"},
        note="a read-only layer")
    rec.req("POST", "/collections/stations/items", as_="viewer", body={
        "type": "Feature", "geometry": {"type": "Point", "coordinates": [112.9, 28.1]},
        "properties": {"name": "新站", "kind": "police_station"}},
        headers={"Content-Type": "application/geo+json"}, note="a viewer: 403")
    rec.raw(("POST /collections/stations/items HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
             "\r\nContent-Type: application/geo+json\r\nContent-Length: 17000000\r\n\r\n"
             % rec.tokens["editor"]).encode(), method="POST",
            note="a body over 16 MiB: 413 before it is read")
    many = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [
        [112.9 + i * 1e-6, 28.1] for i in range(20001)]},
        "properties": {"name": "长段", "reason": "测试", "risk_level": 1}}
    rec.req("POST", "/collections/road_segments/items", as_="editor", body=many,
            headers={"Content-Type": "application/geo+json"}, body_note="20 001 vertices",
            note="too many vertices: 413")
    rec.req("DELETE", "/collections/schools/items/%d" % school, as_="editor",
            note="still referred to: 409")
    rec.req("DELETE", path, as_="editor", headers={"If-Match": '"1"'}, note="stale: 412")
    rec.req("DELETE", path, as_="editor", headers={"If-Match": etag3 or "*"})
    rec.req("DELETE", path, as_="editor", note="gone: 404")
    rec.req("GET", path, as_="viewer", note="gone: 404")
    rec.req("GET", "/collections/venues/items?kind=internet_cafe", as_="viewer")
    rec.req("GET", "/collections/stations/items", as_="viewer")


if __name__ == "__main__":
    sys.exit(main())

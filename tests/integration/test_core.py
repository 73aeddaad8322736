#!/usr/bin/env python3
"""test_core.py - integration tests of patrold's HTTP core: health, readiness, metrics,
OpenAPI, routing errors (404/405), request ids, request-body rules (415, 400 with position,
413 by Content-Length and by chunked growth), header limits (431), robustness under a burst of
bad requests, and the validation of POST /api/v1/users. Every bad write is checked against the
`users` row count: a rejected request writes nothing.

Not here: authentication and roles (test_auth.py), signals and database outages
(test_lifecycle.py).

Run: python3 tests/integration/test_core.py [-k PATTERN]
"""
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (PatrolTestCase, chunk, metric, raw_request, read_response,  # noqa: E402
                     readable)

# The routes of the contract and their methods. The server may have more.
ROUTES = {
    "/healthz": {"GET"},
    "/readyz": {"GET"},
    "/metrics": {"GET"},
    "/api/openapi.json": {"GET"},
    "/api/v1/me": {"GET"},
    "/api/v1/users": {"GET", "POST"},
    "/api/v1/tokens": {"POST"},
    "/api/v1/tokens/{id}": {"DELETE"},
    "/api/v1/devices": {"GET", "POST"},
}
USERS_CAP = 64 * 1024


def concrete(path):
    return re.sub(r"\{[^}]+\}", "424242", path)


class CoreCase(PatrolTestCase):
    DB_PREFIX = "core"

    def setUp(self):
        super().setUp()
        # Made up front so that "nothing written" counts do not see the admin appear.
        self.admin_token()

    def post_users_raw(self, body, content_type="application/json", token=None, extra=()):
        hdrs = {}
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        hdrs.update(dict(extra))
        return self.request("POST", "/api/v1/users", body=body, headers=hdrs,
                            token=token if token is not None else self.admin_token())


class TestHealth(CoreCase):
    def test_healthz(self):
        r = self.request("GET", "/healthz")
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("Content-Type") or "").startswith("application/json"), r)
        self.assertEqual(r.json.get("status"), "ok", r)
        self.assertIsInstance(r.json.get("version"), str, r)
        self.assertTrue(r.json["version"], r)
        self.assertTrue(r.request_id, r)

    def test_healthz_needs_no_auth(self):
        r = self.request("GET", "/healthz", headers={"Authorization": "Bearer garbage"})
        self.assertEqual(r.status, 200, "a bad token must not matter on /healthz: %r" % r)

    def test_readyz(self):
        r = self.request("GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        body = r.json
        self.assertEqual(body.get("status"), "ready", r)
        self.assertEqual(body.get("database"), "ok", r)
        self.assertIsInstance(body.get("schema_version"), int, r)
        self.assertIsInstance(body.get("expected_schema_version"), int, r)
        self.assertEqual(body["schema_version"], body["expected_schema_version"], r)
        applied = int(self.scalar("SELECT max(version) FROM schema_migrations"))
        self.assertEqual(body["schema_version"], applied,
                         "readyz schema_version must be max(schema_migrations.version)")
        self.assertGreaterEqual(applied, 1)

    def test_serve_applied_every_migration_of_the_tree(self):
        files = sorted(int(m.group(1)) for m in (
            re.match(r"^(\d{4})_[a-z0-9_]+\.sql$", f)
            for f in os.listdir(os.path.join(self.env.src, "sql", "migrations"))) if m)
        applied = [int(r[0]) for r in self.psql(
            "SELECT version FROM schema_migrations ORDER BY version")]
        self.assertTrue(files, "no sql/migrations/NNNN_*.sql files in the tree")
        self.assertEqual(applied, files,
                         "schema_migrations after `serve` must hold exactly the migrations of "
                         "sql/migrations/ (a stale build embeds others)")


class TestMetrics(CoreCase):
    def wait_metric(self, name, at_least, **labels):
        """Polls /metrics until the sample reaches at_least (the count of a request may be
        recorded just after its response is sent); returns the last samples."""
        deadline = time.monotonic() + 2.0
        while True:
            s = self.server.metrics()
            if metric(s, name, **labels) >= at_least or time.monotonic() > deadline:
                return s
            time.sleep(0.05)

    def test_metrics_format(self):
        r = self.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        ctype = r.header("Content-Type") or ""
        self.assertTrue(ctype.startswith("text/plain"), r)
        self.assertIn("version=0.0.4", ctype.replace(" ", ""), r)
        samples, types = harness.parse_metrics(r.text)
        for fam, typ in (("patrold_http_requests_total", "counter"),
                         ("patrold_http_request_duration_seconds", "histogram"),
                         ("patrold_db_pool_connections", "gauge"),
                         ("patrold_db_pool_in_use", "gauge"),
                         ("patrold_db_pool_acquire_timeouts_total", "counter")):
            self.assertEqual(types.get(fam), typ, "# TYPE of %s in:\n%s" % (fam, r.text[:3000]))
        names = {n for n, _ in samples}
        for n in ("patrold_db_pool_connections", "patrold_db_pool_in_use",
                  "patrold_db_pool_acquire_timeouts_total"):
            self.assertIn(n, names, r.text[:3000])
        self.assertGreaterEqual(metric(samples, "patrold_db_pool_connections"), 1)
        self.assertGreaterEqual(metric(samples, "patrold_db_pool_in_use"), 0)

    def test_request_counter_and_histogram_increase(self):
        lab = dict(route="/healthz", method="GET", status="200")
        before = self.server.metrics()
        c0 = metric(before, "patrold_http_requests_total", **lab)
        h0 = metric(before, "patrold_http_request_duration_seconds_count", route="/healthz",
                    method="GET")
        for _ in range(3):
            self.assertEqual(self.request("GET", "/healthz").status, 200)
        after = self.wait_metric("patrold_http_requests_total", c0 + 3, **lab)
        self.assertEqual(metric(after, "patrold_http_requests_total", **lab), c0 + 3,
                         "three GET /healthz must add exactly 3 to "
                         "patrold_http_requests_total%r" % (lab,))
        h1 = metric(after, "patrold_http_request_duration_seconds_count", route="/healthz",
                    method="GET")
        self.assertEqual(h1, h0 + 3, "histogram _count must grow by 3")
        # Buckets: cumulative, +Inf equals _count, _sum present.
        buckets = sorted(
            ((float(dict(ls)["le"]), v) for (n, ls), v in after.items()
             if n == "patrold_http_request_duration_seconds_bucket"
             and dict(ls).get("route") == "/healthz" and dict(ls).get("method") == "GET"),
            key=lambda t: t[0])
        self.assertTrue(buckets, "no _bucket series for route=/healthz")
        self.assertEqual(buckets[-1][0], float("inf"), "last bucket must be le=\"+Inf\"")
        values = [v for _, v in buckets]
        self.assertEqual(values, sorted(values), "buckets must be cumulative: %r" % buckets)
        self.assertEqual(buckets[-1][1], h1, "+Inf bucket must equal _count")
        names = {n for n, _ in after}
        self.assertIn("patrold_http_request_duration_seconds_sum", names)

    def test_route_labels_are_patterns_and_unmatched(self):
        tok = self.admin_token()
        self.request("GET", "/no/such/path/xyz")
        self.request("DELETE", "/api/v1/tokens/987654", token=tok)
        self.wait_metric("patrold_http_requests_total", 1, route="unmatched")
        # each request is counted once its response is out: wait for the second one too
        s = self.wait_metric("patrold_http_requests_total", 1, route="/api/v1/tokens/{id}")
        self.assertGreaterEqual(metric(s, "patrold_http_requests_total", route="unmatched",
                                       status="404"), 1,
                                "a 404 on an unknown path must count under route=\"unmatched\"")
        routes = {dict(ls).get("route") for (n, ls) in s if n == "patrold_http_requests_total"}
        self.assertIn("/api/v1/tokens/{id}", routes,
                      "a templated route must be labelled by its pattern; routes: %r" % routes)
        for r in routes:
            self.assertNotIn("987654", r or "", "raw ids must not become label values")
            self.assertNotIn("/no/such", r or "", "raw unknown paths must not become labels")


class TestOpenAPI(CoreCase):
    def test_openapi_lists_every_route(self):
        r = self.request("GET", "/api/openapi.json")
        self.assertEqual(r.status, 200, r)
        doc = r.json
        self.assertEqual(doc.get("openapi"), "3.0.3", r)
        self.assertIn("title", doc.get("info", {}))
        self.assertIn("version", doc.get("info", {}))
        paths = doc.get("paths", {})
        for path, methods in ROUTES.items():
            self.assertIn(path, paths, "openapi lacks path %s; has %s" % (path, sorted(paths)))
            for m in methods:
                self.assertIn(m.lower(), paths[path], "openapi lacks %s %s" % (m, path))
        for path, item in paths.items():
            declared = {p.get("name") for p in item.get("parameters", []) if p.get("in") == "path"}
            for m, op in item.items():
                if m not in ("get", "put", "post", "delete", "patch", "head", "options"):
                    continue
                self.assertIn("responses", op, "%s %s has no responses" % (m, path))
                params = declared | {p.get("name") for p in op.get("parameters", [])
                                     if p.get("in") == "path"}
                for name in re.findall(r"\{([^}]+)\}", path):
                    self.assertIn(name, params, "%s %s: path parameter {%s} not declared"
                                  % (m.upper(), path, name))

    def test_405_allow_matches_openapi(self):
        tok = self.admin_token()
        paths = self.request("GET", "/api/openapi.json").json["paths"]
        for path in ROUTES:
            documented = {m.upper() for m in paths[path]
                          if m in ("get", "put", "post", "delete", "patch")}
            wrong = next(m for m in ("PUT", "PATCH", "DELETE", "POST", "GET")
                         if m not in documented)
            with self.subTest(path=path, method=wrong):
                r = self.request(wrong, concrete(path), token=tok,
                                 body=b"{}" if wrong in ("PUT", "PATCH", "POST") else None,
                                 headers={"Content-Type": "application/json"}
                                 if wrong in ("PUT", "PATCH", "POST") else None)
                self.assert_error(r, 405, "method_not_allowed")
                allow = {a.strip().upper() for a in (r.header("Allow") or "").split(",")
                         if a.strip()}
                self.assertEqual(allow - {"HEAD", "OPTIONS"}, documented,
                                 "Allow of %s must list the documented methods: %r" % (path, r))


class TestRouting(CoreCase):
    def test_unknown_path_404(self):
        for p in ("/nope", "/api/v1/nope", "/api/v1/users/extra/segments", "/healthz/x"):
            with self.subTest(path=p):
                self.assert_error(self.request("GET", p), 404, "not_found")

    def test_wrong_method_405_with_allow(self):
        cases = [("DELETE", "/healthz", {"GET"}), ("POST", "/api/v1/me", {"GET"}),
                 ("PUT", "/api/v1/users", {"GET", "POST"}),
                 ("GET", "/api/v1/tokens/1", {"DELETE"})]
        tok = self.admin_token()
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                r = self.request(method, path, token=tok)
                self.assert_error(r, 405, "method_not_allowed")
                allow = {a.strip().upper() for a in (r.header("Allow") or "").split(",")
                         if a.strip()}
                self.assertTrue(allowed <= allow, "Allow must contain %s: %r" % (allowed, r))

    def test_request_id_on_every_response_and_unique(self):
        ids = []
        for method, path in [("GET", "/healthz"), ("GET", "/nope"), ("DELETE", "/healthz"),
                             ("GET", "/api/v1/me"), ("GET", "/metrics"),
                             ("GET", "/api/openapi.json"), ("GET", "/readyz")] * 5:
            r = self.request(method, path)
            self.assertTrue(r.request_id, "no X-Request-Id: %r" % r)
            ids.append(r.request_id)
        self.assertEqual(len(ids), len(set(ids)), "X-Request-Id values repeat: %r" % ids)

    def test_request_is_logged_with_its_request_id(self):
        for method, path, status in [("GET", "/healthz", 200), ("GET", "/nope", 404)]:
            r = self.request(method, path)
            self.assertEqual(r.status, status)
            line = self.server.wait_log(r.request_id)
            self.assertIsNotNone(line, "no log line carries request id %r" % r.request_id)
            self.assertIn(path, line, line)
            self.assertIn(str(status), line, line)

    def test_keepalive_connection_survives_errors(self):
        import http.client
        tok = self.admin_token()
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=10)
        try:
            seq = [("GET", "/nope", None, {}, 404),
                   ("POST", "/api/v1/users", b"{bad", {"Content-Type": "application/json",
                                                        "Authorization": "Bearer " + tok}, 400),
                   ("DELETE", "/healthz", None, {}, 405),
                   ("GET", "/healthz", None, {}, 200)]
            for method, path, body, hdrs, want in seq:
                conn.request(method, path, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
                self.assertEqual(resp.status, want, "%s %s on a reused connection: %r"
                                 % (method, path, data[:300]))
        finally:
            conn.close()


class TestBodyRules(CoreCase):
    """Transport-level rules for JSON request bodies, on POST /api/v1/users (admin)."""

    def test_malformed_json_400_with_position(self):
        body = b'{"name": "bad1",\n  "role": }'
        with self.assert_no_write("users"):
            r = self.post_users_raw(body)
        err = self.assert_error(r, 400, "invalid_argument")
        msg = err["message"]
        self.assertRegex(msg, re.compile(r"line\D{0,3}2\b", re.I),
                         "the message must say where (line 2): %r" % msg)
        self.assertRegex(msg, re.compile(r"col(umn)?\D{0,3}\d+", re.I),
                         "the message must say where (column): %r" % msg)

    def test_other_malformed_bodies_400(self):
        cases = {
            "empty": b"",
            "not an object": b'["name", "role"]',
            "trailing garbage": b'{"name":"tg1","role":"viewer"} x',
            "two objects": b'{"name":"tg2","role":"viewer"}{"name":"tg3","role":"viewer"}',
            "invalid utf-8": b'{"name":"\xff\xfe","role":"viewer"}',
            "nul in string": b'{"name":"a\\u0000b","role":"viewer"}',
            "truncated": b'{"name":"tr1","role":"vie',
        }
        for label, body in cases.items():
            with self.subTest(case=label):
                with self.assert_no_write("users"):
                    r = self.post_users_raw(body)
                self.assert_error(r, 400, "invalid_argument", label)

    def test_wrong_or_missing_content_type_415(self):
        body = json.dumps({"name": "ct1", "role": "viewer"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                      None):
            with self.subTest(content_type=ctype):
                with self.assert_no_write("users"):
                    r = self.post_users_raw(body, content_type=ctype)
                self.assert_error(r, 415, "unsupported_media_type")

    def test_json_with_charset_is_accepted(self):
        body = json.dumps({"name": "charset1", "role": "viewer"}).encode()
        r = self.post_users_raw(body, content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.count("users", "name = 'charset1'"), 1)

    def _headers_only(self, length, expect_100=False):
        tok = self.admin_token()
        hdrs = [("Host", "127.0.0.1"), ("Authorization", "Bearer " + tok),
                ("Content-Type", "application/json"), ("Content-Length", str(length))]
        if expect_100:
            hdrs.append(("Expect", "100-continue"))
        with self.server.raw_connect() as s:
            s.sendall(raw_request("POST", "/api/v1/users", hdrs))
            # No body is sent: the answer must come from the headers alone.
            r = read_response(s, "POST", timeout=5)
        self.server.history.append("(raw headers only, Content-Length %d) %r" % (length, r))
        return r

    def test_413_by_content_length_before_body(self):
        for length, expect_100 in ((1 << 30, False), (1 << 30, True), (USERS_CAP + 1, False)):
            with self.subTest(content_length=length, expect_100=expect_100):
                with self.assert_no_write("users"):
                    r = self._headers_only(length, expect_100)
                self.assert_error(r, 413, "too_large")

    def test_body_of_exactly_the_cap_is_accepted(self):
        base = json.dumps({"name": "capsize", "role": "viewer"}).encode()
        body = base[:-1] + b" " * (USERS_CAP - len(base)) + b"}"
        self.assertEqual(len(body), USERS_CAP)
        r = self.post_users_raw(body)
        self.assertEqual(r.status, 201, "a body of exactly 64 KiB is within the cap: %r" % r)

    def test_chunked_body_within_cap_is_accepted(self):
        tok = self.admin_token()
        parts = [b'{"name":', b'"chunk', b'ed1","role"', b':"viewer"}']
        hdrs = [("Host", "x"), ("Authorization", "Bearer " + tok),
                ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        data = raw_request("POST", "/api/v1/users", hdrs) + b"".join(chunk(p) for p in parts) \
            + b"0\r\n\r\n"
        r = self.server.raw_exchange(data, "POST")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.count("users", "name = 'chunked1'"), 1)

    def test_413_chunked_body_growing_past_cap(self):
        tok = self.admin_token()
        hdrs = [("Host", "x"), ("Authorization", "Bearer " + tok),
                ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        prefix = b'{"name":"chunky","role":"viewer","display_name":"'
        sent = 0
        answered_early = False
        with self.assert_no_write("users"):
            with self.server.raw_connect() as s:
                s.sendall(raw_request("POST", "/api/v1/users", hdrs) + chunk(prefix))
                sent = len(prefix)
                for _ in range(40):  # up to 320 KiB, stopping as soon as an answer is there
                    if readable(s, 0.05):
                        answered_early = True
                        break
                    try:
                        s.sendall(chunk(b"a" * 8192))
                    except (BrokenPipeError, ConnectionResetError):
                        answered_early = True
                        break
                    sent += 8192
                if not answered_early:
                    s.sendall(chunk(b'"}') + b"0\r\n\r\n")
                r = read_response(s, "POST", timeout=5)
        self.server.history.append("(raw chunked, %d bytes sent, answered while sending: %s) %r"
                                   % (sent, answered_early, r))
        # The contract asks for 413 once a chunked body grows past the cap; it does not say
        # whether the answer comes at once or after the rest is read and dropped.
        self.assert_error(r, 413, "too_large")
        self.assertGreater(sent, USERS_CAP - 8192, "413 came before the body reached the cap")


class TestHeaderLimits(CoreCase):
    def pad_headers(self, total, each=1000):
        hdrs = [("Host", "127.0.0.1")]
        i = 0
        while sum(len(k) + len(v) + 4 for k, v in hdrs) < total:
            hdrs.append(("X-Pad-%03d" % i, "p" * each))
            i += 1
        return hdrs

    def test_431_over_16k_is_json(self):
        r = self.server.raw_exchange(raw_request("GET", "/healthz", self.pad_headers(20 * 1024)))
        self.assert_error(r, 431, "headers_too_large")

    def test_431_single_huge_header(self):
        hdrs = [("Host", "x"), ("X-Big", "b" * (20 * 1024))]
        r = self.server.raw_exchange(raw_request("GET", "/healthz", hdrs))
        self.assert_error(r, 431, "headers_too_large")

    def test_431_well_over_limit_is_json(self):
        r = self.server.raw_exchange(raw_request("GET", "/healthz", self.pad_headers(48 * 1024)))
        self.assert_error(r, 431, "headers_too_large")

    def test_431_far_over_limit(self):
        # Past libmicrohttpd's per-connection memory pool (patrold sizes it at twice
        # --max-header-bytes plus 32 KiB) the library answers 431 itself, with its own HTML
        # body and no X-Request-Id: only the status and the server's health are checked here.
        r = self.server.raw_exchange(raw_request("GET", "/healthz", self.pad_headers(200 * 1024)))
        self.assertEqual(r.status, 431, r)
        self.assertEqual(self.request("GET", "/healthz").status, 200)

    def test_431_on_post_writes_nothing(self):
        tok = self.admin_token()
        body = json.dumps({"name": "hdr1", "role": "viewer"}).encode()
        hdrs = self.pad_headers(20 * 1024) + [
            ("Authorization", "Bearer " + tok), ("Content-Type", "application/json"),
            ("Content-Length", str(len(body)))]
        with self.assert_no_write("users"):
            r = self.server.raw_exchange(raw_request("POST", "/api/v1/users", hdrs, body), "POST")
        self.assert_error(r, 431, "headers_too_large")

    def test_headers_under_limit_are_fine(self):
        r = self.server.raw_exchange(raw_request("GET", "/healthz", self.pad_headers(12 * 1024)))
        self.assertEqual(r.status, 200, r)
        r = self.request("GET", "/healthz")
        self.assertEqual(r.status, 200, "server must still serve after a 431: %r" % r)


class TestBurst(CoreCase):
    BAD = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x00\x01\x02\xff" * 256,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n"
        b"\r\n{}",
        b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /%00%ff/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"",  # connect and close
    ]

    def _poke(self, data, errors):
        try:
            with self.server.raw_connect(timeout=2) as s:
                if data:
                    s.sendall(data)
                try:
                    s.recv(4096)  # whatever comes within the timeout
                except OSError:
                    pass
        except OSError as e:
            if not isinstance(e, (ConnectionResetError, BrokenPipeError, socket.timeout)):
                errors.append(repr(e))

    def test_burst_of_bad_requests_then_good_ones_work(self):
        tok = self.admin_token()
        errors = []
        with self.assert_no_write("users"):
            threads = []
            for t in range(8):
                def work(t=t):
                    for data in self.BAD:
                        self._poke(data, errors)
                    for i in range(10):
                        try:
                            self.server.request("GET", "/nope/%d/%d" % (t, i), timeout=5,
                                                record=False)
                            self.server.request("POST", "/api/v1/users", body=b"{oops",
                                                headers={"Content-Type": "application/json"},
                                                token=tok, timeout=5, record=False)
                            self.server.request("GET", "/api/v1/me", token="garbage%d" % i,
                                                timeout=5, record=False)
                        except OSError as e:
                            errors.append(repr(e))
                th = threading.Thread(target=work, daemon=True)
                threads.append(th)
                th.start()
            for th in threads:
                th.join(60)
                self.assertFalse(th.is_alive(), "burst thread hung")
        self.assertEqual(errors, [], "well-formed requests failed at the socket level during the "
                                     "burst (refused or dropped)")
        self.assertTrue(self.server.alive(), "patrold died during the burst")
        self.assertEqual(self.request("GET", "/healthz").status, 200)
        self.assertEqual(self.request("GET", "/readyz").status, 200)
        r = self.request("POST", "/api/v1/users", body={"name": "after_burst", "role": "viewer"},
                         token=tok)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.count("users", "name = 'after_burst'"), 1)
        s = self.server.metrics()
        self.assertGreaterEqual(metric(s, "patrold_http_requests_total", route="unmatched"), 80)


class TestConnectionLimits(CoreCase):
    SERVER_OPTIONS = ("--max-per-ip", "2", "--connection-timeout-s", "1")

    def test_per_ip_limit_then_recovery(self):
        held = [self.server.raw_connect() for _ in range(2)]
        try:
            time.sleep(0.2)
            answered = None
            try:
                with self.server.raw_connect(timeout=3) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    answered = s.recv(100)
            except OSError:
                answered = b""
            self.assertEqual(answered, b"", "a third connection from one address with "
                             "--max-per-ip 2 was served: %r" % answered)
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 3
        while True:
            try:
                r = self.request("GET", "/healthz", timeout=2)
                if r.status == 200:
                    break
            except OSError:
                pass
            self.assertLess(time.monotonic(), deadline,
                            "no service 3 s after the held connections were closed")
            time.sleep(0.1)

    def test_idle_connection_is_closed_after_timeout(self):
        with self.server.raw_connect() as s:
            s.settimeout(5)
            t0 = time.monotonic()
            try:
                data = s.recv(100)
            except ConnectionResetError:
                data = b""
            elapsed = time.monotonic() - t0
        self.assertEqual(data, b"", "an idle connection got data: %r" % data)
        self.assertLess(elapsed, 4.0, "--connection-timeout-s 1: idle connection open %.1f s"
                        % elapsed)


class TestUserValidation(CoreCase):
    """Content-level rules of POST /api/v1/users; every rejection writes nothing."""

    def test_rejected_bodies(self):
        cases = {
            "unknown member": ({"name": "u1", "role": "viewer", "colour": "red"}, 400,
                               "invalid_argument"),
            "missing name": ({"role": "viewer"}, 400, "invalid_argument"),
            "missing role": ({"name": "u2"}, 400, "invalid_argument"),
            "bad role": ({"name": "u3", "role": "superuser"}, 400, "invalid_argument"),
            "device role": ({"name": "u4", "role": "device"}, 400, "invalid_argument"),
            "name not a string": ({"name": 42, "role": "viewer"}, 400, "invalid_argument"),
            "role not a string": ({"name": "u5", "role": ["admin"]}, 400, "invalid_argument"),
            "empty name": ({"name": "", "role": "viewer"}, 400, "invalid_argument"),
            "null name": ({"name": None, "role": "viewer"}, 400, "invalid_argument"),
        }
        tok = self.admin_token()
        for label, (body, status, code) in cases.items():
            with self.subTest(case=label):
                with self.assert_no_write("users"):
                    r = self.request("POST", "/api/v1/users", body=body, token=tok)
                self.assert_error(r, status, code, label)

    def test_duplicate_name_409(self):
        tok = self.admin_token()
        r = self.request("POST", "/api/v1/users", body={"name": "dup", "role": "viewer"},
                         token=tok)
        self.assertEqual(r.status, 201, r)
        with self.assert_no_write("users"):
            r = self.request("POST", "/api/v1/users", body={"name": "dup", "role": "editor"},
                             token=tok)
        self.assert_error(r, 409, "conflict")
        self.assertEqual(self.scalar("SELECT role FROM users WHERE name = 'dup'"), "viewer")


if __name__ == "__main__":
    harness.main()

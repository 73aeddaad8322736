#!/usr/bin/env python3
"""test_lifecycle.py - integration tests of patrold's process life: graceful stop on SIGTERM
and SIGINT (in-flight requests finish, new connections are refused, exit 0 within 5 s), a
database outage while serving (503 + Retry-After within 2 s, recovery without a restart),
waiting for the database at start, a schema newer than the binary (exit 2, "newer"),
idempotent `patrold migrate`, `--help`/`--version`, and environment-variable versus flag
precedence.

The outage tests stop a whole cluster, so they run on a private cluster of their own
(`sql/pgctl /tmp/pgit-outage-<pid> start`), created for this module and removed at its end;
the shared cluster of the other tests is never stopped. Every test restores the cluster it
stopped in a finally block.

Not here: the HTTP core (test_core.py), identities (test_auth.py).

Run: python3 tests/integration/test_lifecycle.py [-k PATTERN]
"""
import json
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (PatrolTestCase, PrivateCluster, free_port, raw_request,  # noqa: E402
                     read_response)

# Every option of the contract and its environment variable.
OPTIONS = [
    ("listen", "PATROLD_LISTEN"), ("port", "PATROLD_PORT"), ("db", "DATABASE_URL"),
    ("tz", "PATROLD_TZ"), ("log-level", "PATROLD_LOG_LEVEL"), ("threads", "PATROLD_THREADS"),
    ("db-pool", "PATROLD_DB_POOL"), ("db-acquire-timeout-ms", "PATROLD_DB_ACQUIRE_TIMEOUT_MS"),
    ("db-wait-s", "PATROLD_DB_WAIT_S"), ("statement-timeout-ms", "PATROLD_STATEMENT_TIMEOUT_MS"),
    ("max-connections", "PATROLD_MAX_CONNECTIONS"), ("max-per-ip", "PATROLD_MAX_PER_IP"),
    ("connection-timeout-s", "PATROLD_CONNECTION_TIMEOUT_S"),
    ("shutdown-grace-s", "PATROLD_SHUTDOWN_GRACE_S"),
]


def connect_refused(host, port, timeout=1.0):
    """True if a TCP connect is refused. If it is accepted (even only by the kernel's
    backlog), returns a description of what happened instead."""
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return True
    except OSError as e:
        return "connect failed otherwise: %r" % (e,)
    try:
        s.settimeout(timeout)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = s.recv(200)
        return "connection accepted and answered: %r" % data[:80]
    except OSError as e:
        return "connection accepted (listen socket still open), then: %r" % (e,)
    finally:
        s.close()


class LifeCase(PatrolTestCase):
    DB_PREFIX = "life"

    def user_post_head(self, token, length):
        return raw_request("POST", "/api/v1/users", [
            ("Host", "127.0.0.1"), ("Authorization", "Bearer " + token),
            ("Content-Type", "application/json"), ("Content-Length", str(length))])

    def exits(self, *args, timeout=30, **kw):
        """Runs patrold expecting it to exit by itself; a process still running after timeout
        seconds (e.g. serving when it should have refused) is a test failure."""
        try:
            return self.patrold(*args, expect=None, timeout=timeout, **kw)
        except harness.subprocess.TimeoutExpired as e:
            self.fail("`patrold %s` was still running after %d s (it should have exited)\n"
                      "--- stderr\n%s" % (" ".join(args), timeout, e.stderr))

    @staticmethod
    def padded_user(name, size):
        body = json.dumps({"name": name, "role": "viewer"}).encode()
        return body[:-1] + b" " * (size - len(body)) + b"}"


class TestSignals(LifeCase):
    def test_sigterm_finishes_inflight_request(self):
        tok = self.admin_token()
        body = self.padded_user("inflight", 1000)
        with self.server.raw_connect() as s:
            s.sendall(self.user_post_head(tok, 1000) + body[:500])
            time.sleep(0.5)  # the server has read the headers and half the body
            t0 = time.monotonic()
            self.server.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertTrue(self.server.alive(),
                            "patrold exited with a request in flight (rc %s)"
                            % self.server.proc.poll())
            s.sendall(body[500:])
            r = read_response(s, "POST", timeout=5)  # raises on a truncated response
        self.server.history.append("(in-flight across SIGTERM) %r" % r)
        self.assertEqual(r.status, 201, "the in-flight request must complete: %r" % r)
        self.assertEqual(r.json.get("name"), "inflight", r)
        rc = self.server.wait(5.0 - (time.monotonic() - t0))
        self.assertIsNotNone(rc, "patrold still running 5 s after SIGTERM")
        self.assertEqual(rc, 0, "exit code after SIGTERM")
        self.assertEqual(self.count("users", "name = 'inflight'"), 1)

    def test_sigterm_refuses_new_connections(self):
        tok = self.admin_token()
        body = self.padded_user("holder", 1000)
        with self.server.raw_connect() as s:
            s.sendall(self.user_post_head(tok, 1000) + body[:500])
            time.sleep(0.3)
            t0 = time.monotonic()
            self.server.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            alive = self.server.alive()
            refused = connect_refused(self.server.host, self.server.port)
            s.sendall(body[500:])
            try:
                read_response(s, "POST", timeout=5)
            except OSError:
                pass
        self.assertTrue(alive, "patrold must still be finishing the in-flight request")
        self.assertIs(refused, True, "a new connection after SIGTERM must be refused: %s"
                      % refused)
        rc = self.server.wait(5.0 - (time.monotonic() - t0))
        self.assertEqual(rc, 0, "exit code after SIGTERM (None = still running after 5 s)")

    def test_sigint_exits_0(self):
        self.assertEqual(self.request("GET", "/healthz").status, 200)
        t0 = time.monotonic()
        rc = self.server.stop(signal.SIGINT, timeout=5)
        self.assertEqual(rc, 0, "SIGINT: exit code (None = still running after 5 s)")
        self.assertLess(time.monotonic() - t0, 5)

    def test_sigterm_with_idle_keepalive_connection(self):
        import http.client
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            # The connection stays open and idle (keep-alive).
            t0 = time.monotonic()
            self.server.send_signal(signal.SIGTERM)
            rc = self.server.wait(5.0)
            self.assertIsNotNone(rc, "an idle keep-alive connection kept patrold running "
                                     "%.1f s after SIGTERM" % (time.monotonic() - t0))
            self.assertEqual(rc, 0)
        finally:
            conn.close()

    def test_stuck_request_does_not_outlive_grace(self):
        srv = self.start_server("--shutdown-grace-s", "2", name="grace2")
        tok = self.admin_token()
        with srv.raw_connect() as s:
            s.sendall(self.user_post_head(tok, 1000) + b'{"name":')  # never completed
            time.sleep(0.3)
            t0 = time.monotonic()
            srv.send_signal(signal.SIGTERM)
            rc = srv.wait(6.0)
            elapsed = time.monotonic() - t0
        self.assertIsNotNone(rc, "patrold ignored --shutdown-grace-s 2 with a stuck request")
        self.assertLess(elapsed, 5.0, "exit took %.1f s with a 2 s grace" % elapsed)
        self.note("exit code with a stuck request at the end of the grace: %s" % rc)


# ---------------------------------------------------------------------------------------------
# Database outages: a private cluster
# ---------------------------------------------------------------------------------------------

class PrivateClusterCase(PrivateCluster, LifeCase):
    """Runs on a cluster of its own, so stopping it cannot hurt tests running in parallel."""
    PRIVATE_NAME = "outage"
    AUTO_SERVER = False


class TestDatabaseOutage(PrivateClusterCase):
    def assert_503(self, r, what):
        self.assertEqual(r.status, 503, "%s during the outage: %r" % (what, r))
        ra = r.header("Retry-After")
        self.assertIsNotNone(ra, "503 without Retry-After: %r" % r)
        self.assertRegex(ra.strip(), r"^\d+$", "Retry-After must be delta-seconds: %r" % r)
        self.assertLess(r.elapsed, 2.0, "%s took %.2f s during the outage (limit 2 s)"
                        % (what, r.elapsed))

    def poll_status(self, srv, path, token, want, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = srv.request("GET", path, token=token, timeout=3)
                if last.status == want:
                    return last
            except OSError as e:
                last = e
            time.sleep(0.2)
        self.fail("%s did not return %d within %.0f s after the database came back; last: %r"
                  % (path, want, timeout, last))

    def test_outage_503_then_recovery_without_restart(self):
        srv = self.start_server("--db-pool", "4")
        tok = self.admin_token()
        self.assertEqual(srv.request("GET", "/readyz").status, 200)
        self.assertEqual(srv.request("GET", "/api/v1/me", token=tok).status, 200)
        pid = srv.pid
        self._private.stop()
        try:
            self.note("cluster %s stopped for the outage" % self._private.dir)
            for i in range(3):
                r = srv.request("GET", "/readyz", timeout=10)
                self.assert_503(r, "GET /readyz #%d" % i)
                self.assertEqual(r.json.get("status"), "not_ready", r)
                self.assertIsInstance(r.json.get("error"), dict, r)
                r = srv.request("GET", "/api/v1/me", token=tok, timeout=10)
                self.assert_503(r, "GET /api/v1/me #%d" % i)
                self.assert_error(r, 503, "unavailable")
            h = srv.request("GET", "/healthz", timeout=5)
            self.assertEqual(h.status, 200, "/healthz needs no database: %r" % h)
            self.assertLess(h.elapsed, 1.0)
            m = srv.request("GET", "/metrics", timeout=5)
            self.assertEqual(m.status, 200, "/metrics must work during an outage: %r" % m)
        finally:
            self._private.start()
        self.poll_status(srv, "/readyz", None, 200, 10)
        r = self.poll_status(srv, "/api/v1/me", tok, 200, 10)
        self.assertEqual(r.json.get("name"), "admin")
        self.assertTrue(srv.alive())
        self.assertEqual(srv.pid, pid, "patrold must recover without a restart")
        w = srv.request("POST", "/api/v1/users", body={"name": "after_outage", "role": "viewer"},
                        token=tok)
        self.assertEqual(w.status, 201, "writes must work again after the outage: %r" % w)

    def test_outage_write_is_503_and_not_half_done(self):
        srv = self.start_server()
        tok = self.admin_token()
        self._private.stop()
        try:
            r = srv.request("POST", "/api/v1/users", body={"name": "during", "role": "viewer"},
                            token=tok, timeout=10)
            self.assert_503(r, "POST /api/v1/users")
        finally:
            self._private.start()
        self.poll_status(srv, "/readyz", None, 200, 10)
        self.assertEqual(self.count("users", "name = 'during'"), 0)

    def test_serve_waits_for_database(self):
        self.patrold("migrate")
        self._private.stop()
        try:
            srv = self.start_server("--db-wait-s", "30", wait=False)
            time.sleep(2.0)
            self.assertTrue(srv.alive(), "patrold gave up on the database within 2 s "
                            "although --db-wait-s is 30 (rc %s)" % srv.proc.poll())
        finally:
            self._private.start()
        srv.wait_ready(timeout=20)
        self.poll_status(srv, "/readyz", None, 200, 10)

    def test_serve_gives_up_after_db_wait(self):
        self._private.stop()
        try:
            srv = self.start_server("--db-wait-s", "1", wait=False)
            rc = srv.wait(15)
        finally:
            self._private.start()
        self.assertIsNotNone(rc, "patrold still waiting 15 s after a --db-wait-s of 1")
        self.assertNotEqual(rc, 0, "giving up on the database is a failure")
        self.assertTrue(srv.log_text().strip(), "patrold must say why it gave up")


# ---------------------------------------------------------------------------------------------
# Schema and migrations
# ---------------------------------------------------------------------------------------------

class TestMigrations(LifeCase):
    AUTO_SERVER = False

    def migration_files(self):
        d = os.path.join(self.env.src, "sql", "migrations")
        return sorted(int(m.group(1)) for m in (re.match(r"^(\d{4})_[a-z0-9_]+\.sql$", f)
                                                for f in os.listdir(d)) if m)

    def test_schema_newer_than_binary_refuses_to_start(self):
        self.patrold("migrate")
        self.psql("INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')")
        cp = self.exits("--port", str(free_port()), "serve")
        self.assertEqual(cp.returncode, 2, "serve on a newer schema: exit code\n%s" % cp.stderr)
        self.assertIn("newer", cp.stderr.lower(), "stderr must say the schema is newer")
        self.assertEqual(self.count("schema_migrations", "version = 9999"), 1)

    def test_migrate_is_idempotent(self):
        q = "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        objs = ("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')")
        self.patrold("migrate")
        first, n1 = self.psql(q), self.scalar(objs)
        self.assertEqual([int(r[0]) for r in first], self.migration_files(),
                         "migrate must apply exactly the migrations of sql/migrations/")
        cp = self.patrold("migrate")
        second, n2 = self.psql(q), self.scalar(objs)
        self.assertEqual(first, second, "a second migrate changed schema_migrations\n%s"
                         % cp.stderr)
        self.assertEqual(n1, n2, "a second migrate changed the set of relations")
        # serve on a migrated database applies nothing either.
        srv = self.start_server()
        r = srv.request("GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["schema_version"], max(self.migration_files()))
        self.assertEqual(r.json["expected_schema_version"], max(self.migration_files()))
        self.assertEqual(self.psql(q), first)

    def test_migrate_0_refuses_pending(self):
        cp = self.exits("--migrate", "0", "--port", str(free_port()), "--db-wait-s", "5",
                        "serve")
        self.assertNotEqual(cp.returncode, 0, "--migrate 0 on an empty database must refuse")
        n = self.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'users'")
        self.assertEqual(n, "0", "--migrate 0 must not create tables")


# ---------------------------------------------------------------------------------------------
# Command line and environment
# ---------------------------------------------------------------------------------------------

class TestCommandLine(LifeCase):
    AUTO_SERVER = False

    def test_help_lists_every_option_and_its_variable(self):
        cp = self.patrold("--help", with_db=False)
        text = cp.stdout + cp.stderr
        lines = text.splitlines()
        for flag, var in OPTIONS:
            with self.subTest(option=flag):
                pat = re.compile(r"--%s(?![\w-])" % re.escape(flag))
                hits = [i for i, ln in enumerate(lines) if pat.search(ln)]
                self.assertTrue(hits, "--help does not list --%s:\n%s" % (flag, text))
                i = hits[0]
                block = "\n".join(lines[i:i + 3])
                self.assertIn(var, block, "--help shows no %s next to --%s:\n%s"
                              % (var, flag, block))

    def test_version_matches_healthz(self):
        cp = self.patrold("--version", with_db=False)
        out = (cp.stdout + cp.stderr).strip()
        self.assertTrue(out)
        srv = self.start_server()
        v = srv.request("GET", "/healthz").json["version"]
        self.assertIn(v, out, "--version %r does not show the /healthz version %r" % (out, v))

    def test_port_env_and_flag_precedence(self):
        p_env, p_flag = free_port(), free_port()
        srv = self.start_server(port=p_env, port_via="env", name="port-env")
        self.assertEqual(srv.request("GET", "/healthz").status, 200)
        srv.stop()
        srv2 = self.start_server("--port", str(p_flag), port=p_flag, port_via=None,
                                 extra_env={"PATROLD_PORT": str(p_env)}, name="port-both")
        self.assertEqual(srv2.request("GET", "/healthz").status, 200)
        self.assertIs(connect_refused("127.0.0.1", p_env), True,
                      "PATROLD_PORT was used although --port was given")

    def test_listen_env_and_flag_precedence(self):
        port = free_port()
        srv = self.start_server("--listen", "127.0.0.1", port=port,
                                extra_env={"PATROLD_LISTEN": "127.0.0.2"}, name="listen-both")
        self.assertEqual(srv.request("GET", "/healthz").status, 200)
        self.assertIs(connect_refused("127.0.0.2", port), True,
                      "listening on PATROLD_LISTEN although --listen was given")
        srv.stop()
        port2 = free_port()
        srv2 = self.start_server(port=port2, host="127.0.0.2",
                                 extra_env={"PATROLD_LISTEN": "127.0.0.2"}, name="listen-env")
        self.assertEqual(srv2.request("GET", "/healthz").status, 200)
        self.assertIs(connect_refused("127.0.0.1", port2), True,
                      "PATROLD_LISTEN=127.0.0.2 but 127.0.0.1 is served")

    def test_db_env_and_flag_precedence(self):
        srv = self.start_server(db_via="env", name="db-env")
        self.assertEqual(srv.request("GET", "/readyz").status, 200)
        srv.stop()
        bogus = "postgresql:///no_such_db_anywhere?host=/nonexistent&port=1&user=nobody"
        srv2 = self.start_server(extra_env={"DATABASE_URL": bogus}, name="db-both")
        r = srv2.request("GET", "/readyz")
        self.assertEqual(r.status, 200, "--db must win over DATABASE_URL: %r" % r)

    def test_log_level_env_and_flag_precedence(self):
        # Request lines are INFO: hidden at "error", shown at "info".
        srv = self.start_server(extra_env={"PATROLD_LOG_LEVEL": "error"}, log_level="",
                                name="log-env")
        r = srv.request("GET", "/nope-env")
        self.assertIsNone(srv.wait_log(r.request_id, timeout=1.0),
                          "PATROLD_LOG_LEVEL=error still logs request lines")
        srv.stop()
        srv2 = self.start_server("--log-level", "info", log_level="",
                                 extra_env={"PATROLD_LOG_LEVEL": "error"}, name="log-both")
        r = srv2.request("GET", "/nope-flag")
        self.assertIsNotNone(srv2.wait_log(r.request_id, timeout=3.0),
                             "--log-level info must win over PATROLD_LOG_LEVEL=error")

    def test_second_server_on_a_taken_port_refuses_to_start(self):
        first = self.start_server(name="first")
        second = self.start_server(port=first.port, wait=False, name="second")
        rc = second.wait(15)
        self.assertIsNotNone(rc, "a second patrold started on port %d, which the first one "
                             "holds: both now share its connections (SO_REUSEPORT?)"
                             % first.port)
        self.assertNotEqual(rc, 0)
        self.assertTrue(first.alive())

    def test_bad_values_are_refused(self):
        tail = ["--db-wait-s", "0", "serve"]
        for label, args, env in [
                ("--port 0", ["--port", "0"] + tail, {}),
                ("--port abc", ["--port", "abc"] + tail, {}),
                ("PATROLD_PORT=abc", tail, {"PATROLD_PORT": "abc"}),
                ("--threads -1", ["--threads", "-1"] + tail, {}),
                ("--log-level loud", ["--log-level", "loud"] + tail, {}),
                ("unknown option", ["--frobnicate", "1"] + tail, {}),
                ("--town-bbox 3 numbers", ["--town-bbox", "113.1,29.2,113.6"] + tail, {}),
                ("--town-bbox min > max", ["--town-bbox", "113.6,29.2,113.1,29.5"] + tail, {}),
                ("missing value", ["--db-wait-s", "0", "--port"], {})]:
            with self.subTest(case=label):
                cp = self.exits(*args, extra_env=env, with_db=False)
                self.assertEqual(cp.returncode, 2, "%s: exit status (2 is promised)" % label)
                self.assertTrue(cp.stderr.strip(), "%s: no message on stderr" % label)
                if env:
                    self.assertIn("PATROLD_PORT", cp.stderr, "the message must name the "
                                  "variable: %r" % cp.stderr)


if __name__ == "__main__":
    harness.main()

#!/usr/bin/env python3
"""harness.py - the integration-test harness of patrolgis: runs a real `patrold` against a real
PostgreSQL + PostGIS cluster and talks HTTP to it.

What it gives a test module:
  * Env (get_env): where the binary, the sources and the cluster are, from PATROLD,
    PATROLGIS_PGDIR and PATROLGIS_SRC. Without PATROLGIS_PGDIR it starts a private cluster with
    `sql/pgctl /tmp/pgit start` and stops it again at exit (if it started it).
  * Cluster: the `sql/pgctl` interface (start, stop, url, createdb) plus psql queries.
  * Server: one patrold process on a free port, its stderr in a log file, HTTP helpers
    (http.client for well-formed requests, raw sockets for the rest).
  * PatrolTestCase: a fresh database per test, a server per test (unless AUTO_SERVER is False),
    CLI helpers, error-body assertions, "nothing was written" checks.
  * server_now(), server_today(): the clock in the servers' zone (SERVER_TZ, patrold's
    default Asia/Shanghai), for every "today" a test asks the server about.
  * require(condition, why), require_tool, require_file: the one way to skip for a missing
    tool or data file; under CI=true it fails instead.
  * main(): unittest.main with a result class that appends, to every failure, the tail of the
    server logs, the last requests and the last CLI runs; a watchdog that kills everything
    if the suite hangs; exit 77 when every test was skipped, and the skips written to
    $PATROLGIS_SKIP_DIR. Every test program ends with it.

What it is not: a fake server or a fixture library. Python 3 stdlib only.

Processes: every child is registered; it dies with the test runner (PR_SET_PDEATHSIG), is
killed by the test's cleanup, and again at interpreter exit.

Environment knobs (all optional): PATROLGIS_PGCTL (another pgctl), PATROLGIS_IT_TIMEOUT
(watchdog seconds, default 900), PATROLGIS_IT_LOG_LEVEL (server log level, default info),
PATROLGIS_IT_KEEP_LOGS=1 (keep the log folder even when everything passed), CI=true (a missing
tool or data file fails instead of skipping), PATROLGIS_SKIP_DIR (main() writes the skipped
tests there, for tests/run-all's summary).
"""

import atexit
import contextlib
import ctypes
import ctypes.util
import datetime
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------
# The server's clock: its zone, not the host's
# ---------------------------------------------------------------------------------------------

# patrold counts local days (check-in dates, `date=` defaults, event days) in its --tz zone.
# The harness never passes --tz and clean_env() drops PATROLD_TZ, so every server it starts
# runs in patrold's default zone, whatever TZ the test runner has. A test that means "today"
# means the server's today: server_today(), never date.today() or datetime.now() without a
# zone (those follow the host, and from 16:00 to 24:00 UTC a UTC host is a day behind).
SERVER_TZ_NAME = "Asia/Shanghai"
try:
    import zoneinfo
    SERVER_TZ = zoneinfo.ZoneInfo(SERVER_TZ_NAME)
except (ImportError, KeyError, OSError):  # no tzdata: Shanghai is +08:00 all year since 1991
    SERVER_TZ = datetime.timezone(datetime.timedelta(hours=8), SERVER_TZ_NAME)


def server_now():
    """The current time in the server's zone (an aware datetime)."""
    return datetime.datetime.now(SERVER_TZ)


def server_today():
    """The server's local date now: what patrold calls today."""
    return server_now().date()


# ---------------------------------------------------------------------------------------------
# Skips: one policy for every test program
# ---------------------------------------------------------------------------------------------

# Exit status of a test program whose tests were all skipped (ctest: SKIP_RETURN_CODE 77).
SKIP_EXIT = 77


def in_ci():
    """True when the environment says CI=true (CI sets it; nothing in the repository does)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


class RequirementMissing(AssertionError):
    """A tool or data file that a test needs is missing, under CI=true."""


def require(condition, why):
    """The one way a test skips for a missing tool or data file. Returns when condition is
    true. Otherwise, on a developer's machine it skips with why (unittest.SkipTest); under
    CI=true it fails instead (RequirementMissing), because CI has every tool and data file and
    a skip there would silently test less. Works in a test, setUp, setUpClass and setUpModule
    (there the whole class or module is skipped, or fails). Skips that are not about a missing
    tool or file (e.g. "a window relative to now would cross local midnight") stay plain
    self.skipTest calls: they are right under CI too."""
    if condition:
        return
    if in_ci():
        raise RequirementMissing(
            "CI=true: %s. CI has every tool and data file, so a test that would skip for a "
            "missing one fails instead (harness.require; docs/testing.md \"Skips\")" % why)
    raise unittest.SkipTest(why)


def require_tool(name, why=None):
    """require(shutil.which(name)), with a message naming the tool."""
    require(shutil.which(name) is not None,
            "%s is not installed%s" % (name, " (%s)" % why if why else ""))


def require_file(path, why=None):
    """require(os.path.exists(path)), with a message naming the file."""
    require(os.path.exists(path), "%s is missing%s" % (path, " (%s)" % why if why else ""))

# ---------------------------------------------------------------------------------------------
# Child processes
# ---------------------------------------------------------------------------------------------

_children = []
_children_lock = threading.Lock()
_exit_hooks = []  # callables run at exit, after the children are killed

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _libc = None

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test runner dies, however it dies."""
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _register(proc):
    with _children_lock:
        _children.append(proc)
    return proc


def kill_all_children():
    with _children_lock:
        procs = list(_children)
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            pass


def _at_exit():
    kill_all_children()
    for hook in reversed(_exit_hooks):
        try:
            hook()
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            sys.stderr.write("harness: exit hook failed: %r\n" % (e,))


atexit.register(_at_exit)


def clean_env(extra=None):
    """The runner's environment without anything that could configure patrold or libpq
    behind a test's back (PATROLD_*, DATABASE_URL, PG*). extra is applied on top; a value of
    None removes the variable."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PATROLD_") or k == "DATABASE_URL" or k.startswith("PG"))}
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def run(cmd, stdin=None, timeout=60, env=None, check=False):
    """Runs cmd to completion (text mode). Never hangs longer than timeout: the child is
    killed and TimeoutExpired is raised with what it printed so far."""
    proc = _register(subprocess.Popen(
        cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env if env is not None else clean_env(),
        preexec_fn=_die_with_parent, text=True, encoding="utf-8", errors="replace"))
    try:
        out, err = proc.communicate(input=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(cmd, timeout, output=out, stderr=err)
    cp = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if check and cp.returncode != 0:
        raise RuntimeError("command failed (exit %d): %s\n--- stdout\n%s--- stderr\n%s"
                           % (cp.returncode, " ".join(map(str, cmd)), out, err))
    return cp


# ---------------------------------------------------------------------------------------------
# Cluster: sql/pgctl and psql
# ---------------------------------------------------------------------------------------------

class Cluster:
    """A PostgreSQL cluster driven by `sql/pgctl DIR ...`. Queries go through psql with the URL
    that `pgctl url DB` prints, so they do not depend on how pgctl passes psql arguments."""

    def __init__(self, pgdir, pgctl):
        self.dir = pgdir
        self.pgctl = pgctl
        self._urls = {}

    def ctl(self, *args, timeout=180, check=True):
        return run([self.pgctl, self.dir] + [str(a) for a in args], timeout=timeout, check=check)

    def is_running(self):
        return self.ctl("status", check=False, timeout=30).returncode == 0

    def start(self):
        self.ctl("start")
        self._urls.clear()  # pgctl may pick another port if the old one was taken

    def stop(self):
        self.ctl("stop")

    def url(self, db):
        if db not in self._urls:
            u = self.ctl("url", db).stdout.strip()
            if not u:
                raise RuntimeError("pgctl url %s printed nothing" % db)
            self._urls[db] = u
        return self._urls[db]

    def createdb(self, name):
        self.ctl("createdb", name)

    def psql(self, db, sql, timeout=60, **variables):
        """Runs sql (several statements allowed) and returns the rows of every result as lists
        of str (None for NULL). Variables are bound with psql -v and used as :'name' (quoted)
        or :name (raw), so values are never spliced by hand."""
        cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-0",
               "-P", "null=\\N", "-d", self.url(db), "-f", "-"]
        for k, v in variables.items():
            cmd += ["-v", "%s=%s" % (k, v)]
        cp = run(cmd, stdin=sql, timeout=timeout)
        if cp.returncode != 0:
            raise RuntimeError("psql failed (exit %d) on %s:\n%s\n--- stderr\n%s"
                               % (cp.returncode, db, sql, cp.stderr))
        rows = []
        for rec in cp.stdout.split("\0"):
            if rec == "" or rec == "\n":
                continue
            rows.append([None if f == "\\N" else f for f in rec.lstrip("\n").split("\x1f")])
        return rows

    def scalar(self, db, sql, **variables):
        rows = self.psql(db, sql, **variables)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise AssertionError("expected one value from %r, got %r" % (sql, rows))
        return rows[0][0]


# ---------------------------------------------------------------------------------------------
# Env: where things are
# ---------------------------------------------------------------------------------------------

class Env:
    def __init__(self):
        self.src = os.path.abspath(os.environ.get("PATROLGIS_SRC")
                                   or os.path.join(HERE, "..", ".."))
        self.patrold = os.path.abspath(os.environ.get("PATROLD")
                                       or os.path.join(self.src, "build", "server", "patrold"))
        self.pgctl = os.environ.get("PATROLGIS_PGCTL") or os.path.join(self.src, "sql", "pgctl")
        self.log_level = os.environ.get("PATROLGIS_IT_LOG_LEVEL", "info")
        self.logdir = tempfile.mkdtemp(prefix="patrolgis-it-")
        self.failed = False
        pgdir = os.environ.get("PATROLGIS_PGDIR")
        if pgdir:
            self.cluster = Cluster(pgdir, self.pgctl)
        else:
            self.cluster = Cluster("/tmp/pgit", self.pgctl)
            was_running = os.path.exists(self.pgctl) and self.cluster.is_running()
            sys.stderr.write("harness: PATROLGIS_PGDIR unset: using %s start %s\n"
                             % (self.pgctl, self.cluster.dir))
            self.cluster.start()
            if not was_running:
                _exit_hooks.append(self._stop_own_cluster)
        _exit_hooks.append(self._remove_logs)

    def _stop_own_cluster(self):
        if self.cluster.is_running():
            self.cluster.ctl("stop", check=False)

    def _remove_logs(self):
        if self.failed or os.environ.get("PATROLGIS_IT_KEEP_LOGS") == "1":
            sys.stderr.write("harness: logs kept in %s\n" % self.logdir)
        else:
            shutil.rmtree(self.logdir, ignore_errors=True)

    def check_binary(self):
        if not os.access(self.patrold, os.X_OK):
            raise RuntimeError("patrold binary not found or not executable at %s "
                               "(set PATROLD or build first)" % self.patrold)


_env = None
_env_lock = threading.Lock()


def get_env():
    global _env
    with _env_lock:
        if _env is None:
            _env = Env()
        return _env


# ---------------------------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------------------------

def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, method, path, status, reason, headers, body, elapsed):
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body
        self.elapsed = elapsed
        self._json = None

    def header(self, name):
        return self.headers.get(name) if self.headers is not None else None

    @property
    def text(self):
        return self.body.decode("utf-8", errors="replace")

    @property
    def json(self):
        if self._json is None:
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except ValueError as e:
                raise AssertionError("response to %s %s is not JSON (%s): %r"
                                     % (self.method, self.path, e, self.body[:500]))
        return self._json

    @property
    def request_id(self):
        return self.header("X-Request-Id")

    def __repr__(self):
        hdrs = ""
        if self.headers is not None:
            hdrs = "; ".join("%s: %s" % (k, v) for k, v in self.headers.items())
        return "%s %s -> %s %s in %.3fs [%s] %r" % (
            self.method, self.path[:120], self.status, self.reason, self.elapsed, hdrs,
            self.body[:400])


def read_response(sock, method="GET", timeout=10.0):
    """Reads one complete HTTP response from a raw socket (Content-Length, chunked or
    until close). Raises on a truncated body."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    resp = http.client.HTTPResponse(sock, method=method)
    resp.begin()
    body = resp.read()
    return Response(method, "(raw)", resp.status, resp.reason, resp.headers, body,
                    time.monotonic() - t0)


def readable(sock, timeout):
    r, _, _ = select.select([sock], [], [], timeout)
    return bool(r)


def raw_request(method, path, headers=(), body=b"", http_version="HTTP/1.1"):
    """Bytes of a request exactly as given: headers is a list of (name, value)."""
    lines = ["%s %s %s" % (method, path, http_version)]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + (body or b"")


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> (samples, types): samples maps
    (name, frozenset(label items)) to a float; types maps a metric family to its TYPE."""
    samples = {}
    types = {}
    label_re = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$", line)
        if not m:
            raise AssertionError("unparsable metrics line: %r" % line)
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        labels = {}
        pos = 0
        while pos < len(labels_text):
            lm = label_re.match(labels_text, pos)
            if not lm:
                raise AssertionError("unparsable labels in metrics line: %r" % line)
            labels[lm.group(1)] = bytes(lm.group(2), "utf-8").decode("unicode_escape")
            pos = lm.end()
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples, types


def metric(samples, name, **labels):
    """Sum of the samples of name whose labels include the given ones (0.0 if none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def sha256_hex(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------

class ServerDied(AssertionError):
    pass


_SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|: runtime error: "
                           r"|WARNING: ThreadSanitizer")


def sanitizer_report(text):
    """The first sanitizer report (ASan, LSan, UBSan, TSan) in text, or None."""
    m = _SANITIZER_RE.search(text or "")
    if m is None:
        return None
    start = text.rfind("\n", 0, max(0, m.start() - 1)) + 1
    return text[start:start + 6000]


class Server:
    """One patrold process. Options go before the command (`patrold [options] [command]`).

    port_via / db_via: "flag" (default), "env" or None (the test passes it itself)."""

    def __init__(self, env, name, db_url, options=(), command=("serve",), extra_env=None,
                 port=None, host="127.0.0.1", port_via="flag", db_via="flag", log_level=None):
        self.env = env
        self.name = name
        self.db_url = db_url
        self.options = [str(o) for o in options]
        self.command = list(command)
        self.extra_env = dict(extra_env or {})
        self._own_port = port is None
        self.port = port or free_port(host)
        self.host = host
        self.port_via = port_via
        self.db_via = db_via
        # None: the harness default; "": pass no --log-level at all.
        self.log_level = env.log_level if log_level is None else log_level
        self.log_path = os.path.join(env.logdir, "%s.log" % name)
        self.proc = None
        self._log = None
        self.history = deque(maxlen=40)
        self.cmd = None

    # -- process ------------------------------------------------------------------------------

    def start(self, wait=True, timeout=40.0):
        """Starts patrold (and waits for /healthz unless wait is False). When the harness
        chose the port and another process took it in the meantime, retries on a new one."""
        for attempt in range(3):
            try:
                return self._start(wait, timeout)
            except ServerDied:
                if not (self._own_port and self.port_via is not None and attempt < 2
                        and self.proc.poll() is not None
                        and re.search(r"cannot listen|in use", self.log_text(), re.I)):
                    raise
                self.close(graceful=False)
                self.port = free_port(self.host)

    def _start(self, wait, timeout):
        self.env.check_binary()
        cmd = [self.env.patrold]
        penv = dict(self.extra_env)
        if self.port_via == "flag":
            cmd += ["--port", str(self.port)]
        elif self.port_via == "env":
            penv["PATROLD_PORT"] = str(self.port)
        if self.db_via == "flag":
            cmd += ["--db", self.db_url]
        elif self.db_via == "env":
            penv["DATABASE_URL"] = self.db_url
        if self.log_level and "--log-level" not in self.options \
                and "PATROLD_LOG_LEVEL" not in penv:
            cmd += ["--log-level", self.log_level]
        # The OsmAnd listener's default port (5055) would collide between servers running
        # side by side: off unless a test asks for it.
        if not any(o.startswith("--osmand-port") for o in self.options) \
                and "PATROLD_OSMAND_PORT" not in penv:
            cmd += ["--osmand-port", "0"]
        cmd += self.options + self.command
        self.cmd = cmd
        self._log = open(self.log_path, "ab")
        self._log.write(("### %s\n" % " ".join(cmd)).encode())
        self._log.flush()
        self.proc = _register(subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env=clean_env(penv), preexec_fn=_die_with_parent, start_new_session=True))
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=40.0):
        """Waits until GET /healthz answers 200; raises ServerDied if the process exits."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerDied("patrold exited with %s before answering /healthz\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            try:
                r = self.request("GET", "/healthz", timeout=2, record=False)
                if r.status == 200:
                    return
                last = r
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise ServerDied("patrold did not answer /healthz with 200 within %.0fs (last: %r)\n%s"
                         % (timeout, last, self.log_tail()))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Exit code, or None if still running after timeout seconds."""
        try:
            return self.proc.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.send_signal(sig)
        rc = self.wait(timeout)
        if rc is None:
            self.close(graceful=False)
        return rc

    def close(self, graceful=True):
        """Test cleanup: stops the process if it still runs, with SIGTERM first (so that a
        sanitizer build gets to write its leak report), SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            if graceful:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- logs ---------------------------------------------------------------------------------

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        text = self.log_text().splitlines()
        return "--- %s log tail (%s) ---\n%s\n--- end of log ---" % (
            self.name, self.log_path, "\n".join(text[-lines:]))

    def wait_log(self, needle, timeout=3.0):
        """The first log line containing needle, waiting up to timeout; None if none."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_text().splitlines():
                if needle in line:
                    return line
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    # -- HTTP ---------------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, token=None, timeout=10.0,
                host=None, port=None, record=True):
        """One request on a new connection. body: bytes/str (sent as is, no Content-Type
        added) or a dict/list (JSON, Content-Type application/json unless given)."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection(host or self.host, port or self.port, timeout=timeout)
        t0 = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        resp = Response(method, path, r.status, r.reason, r.headers, data, time.monotonic() - t0)
        if record:
            self.history.append(repr(resp))
        return resp

    def raw_connect(self, timeout=10.0, host=None, port=None):
        s = socket.create_connection((host or self.host, port or self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def raw_exchange(self, data, method="GET", timeout=10.0):
        """Sends raw bytes on a new connection and reads one response."""
        with self.raw_connect(timeout) as s:
            s.sendall(data)
            resp = read_response(s, method, timeout)
        self.history.append("(raw) " + repr(resp))
        return resp

    def metrics(self):
        r = self.request("GET", "/metrics", record=False)
        if r.status != 200:
            raise AssertionError("GET /metrics: %r" % r)
        return parse_metrics(r.text)[0]


# ---------------------------------------------------------------------------------------------
# Test case base
# ---------------------------------------------------------------------------------------------

def db_name(prefix, test_name, suffix=None):
    base = test_name[5:] if test_name.startswith("test_") else test_name
    name = "it_%s_%s" % (prefix, base)
    if suffix:
        name += "_" + suffix
    name = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if len(name) > 63:
        name = name[:54] + "_" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return name


class PatrolTestCase(unittest.TestCase):
    """A fresh database `it_<DB_PREFIX>_<test>` per test and, unless AUTO_SERVER is False,
    a patrold serving it (self.server). Everything started is stopped in cleanup."""

    DB_PREFIX = "x"
    AUTO_SERVER = True
    SERVER_OPTIONS = ()
    maxDiff = None

    def cluster(self):
        return self.env.cluster

    def setUp(self):
        global _current_test
        _current_test = self
        self.env = get_env()
        self._servers = []
        self._cli_history = deque(maxlen=12)
        self._notes = []
        self._admin_token = None
        self.db = self.fresh_db()
        self.server = None
        if self.AUTO_SERVER:
            self.server = self.start_server(*self.SERVER_OPTIONS)

    # -- databases ----------------------------------------------------------------------------

    def fresh_db(self, suffix=None):
        name = db_name(self.DB_PREFIX, self._testMethodName, suffix)
        self.cluster().createdb(name)
        return name

    def url(self, db=None):
        return self.cluster().url(db or self.db)

    def psql(self, sql, db=None, **variables):
        return self.cluster().psql(db or self.db, sql, **variables)

    def scalar(self, sql, db=None, **variables):
        return self.cluster().scalar(db or self.db, sql, **variables)

    def count(self, table, where="true", db=None, **variables):
        return int(self.scalar("SELECT count(*) FROM %s WHERE %s" % (table, where), db=db,
                               **variables))

    @contextlib.contextmanager
    def assert_no_write(self, *tables):
        """Row counts of tables must be the same after the block."""
        before = {t: self.count(t) for t in tables}
        yield
        after = {t: self.count(t) for t in tables}
        self.assertEqual(before, after, "rows were written by a request that must write nothing")

    # -- processes ----------------------------------------------------------------------------

    def start_server(self, *options, db=None, name=None, wait=True, timeout=40.0, **kw):
        name = name or "%s-%s-%d" % (self.__class__.__name__, self._testMethodName,
                                     len(self._servers))
        srv = Server(self.env, name, self.url(db), options=options, **kw)
        self._servers.append(srv)
        self.addCleanup(self._check_sanitizers, srv)  # cleanups run last-in first-out
        self.addCleanup(srv.close)
        srv.start(wait=wait, timeout=timeout)
        return srv

    def _check_sanitizers(self, srv):
        report = sanitizer_report(srv.log_text())
        if report:
            self.fail("sanitizer report in the log of %s:\n%s" % (srv.name, report))

    def patrold(self, *args, db=None, stdin=None, expect=0, extra_env=None, timeout=60,
                with_db=True):
        """Runs `patrold [--db URL] args...` to completion; asserts the exit code unless
        expect is None."""
        self.env.check_binary()
        cmd = [self.env.patrold]
        if with_db:
            cmd += ["--db", self.url(db)]
        cmd += [str(a) for a in args]
        cp = run(cmd, stdin=stdin, timeout=timeout, env=clean_env(extra_env))
        self._cli_history.append("$ %s\n(exit %d)\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(cmd), cp.returncode, cp.stdout[-2000:], cp.stderr[-2000:]))
        report = sanitizer_report(cp.stderr)
        if report:
            self.fail("sanitizer report from `%s`:\n%s" % (" ".join(cmd), report))
        if expect is not None and cp.returncode != expect:
            self.fail("`%s` exited %d, expected %d\n--- stdout\n%s--- stderr\n%s"
                      % (" ".join(cmd), cp.returncode, expect, cp.stdout, cp.stderr))
        return cp

    def add_user(self, name, role="viewer", display_name=None, password=None, db=None):
        args = ["user", "add", name, "--role", role]
        if display_name is not None:
            args += ["--display-name", display_name]
        if password is not None:
            args += ["--password-stdin"]
        return self.patrold(*args, db=db, stdin=(password + "\n") if password is not None
                            else None)

    def issue_token(self, user=None, device=None, label=None, expires_days=None, db=None):
        args = ["token", "issue"]
        if user is not None:
            args += ["--user", user]
        if device is not None:
            args += ["--device", device]
        if label is not None:
            args += ["--label", label]
        if expires_days is not None:
            args += ["--expires-days", str(expires_days)]
        cp = self.patrold(*args, db=db)
        self.assertRegex(cp.stdout, r"\A[^\s]{16,}\n?\Z",
                         "`token issue` must print only the token on stdout")
        return cp.stdout.strip()

    def add_device(self, name, kind=None, unit=None, db=None):
        args = ["device", "add", name]
        if kind is not None:
            args += ["--kind", kind]
        if unit is not None:
            args += ["--unit", unit]
        cp = self.patrold(*args, db=db)
        try:
            dev = json.loads(cp.stdout)
        except ValueError:
            self.fail("`device add` must print a JSON object on stdout, got %r" % cp.stdout)
        for k in ("id", "name", "token", "ident"):
            self.assertIn(k, dev, "`device add` output %r lacks %r" % (dev, k))
        return dev

    def admin_token(self):
        """An admin user `admin` with a token, made once per test through the CLI."""
        if self._admin_token is None:
            self.add_user("admin", "admin", display_name="Administrator")
            self._admin_token = self.issue_token(user="admin", label="it-admin")
        return self._admin_token

    # -- HTTP ---------------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, token=None, timeout=10.0,
                server=None):
        return (server or self.server).request(method, path, body=body, headers=headers,
                                               token=token, timeout=timeout)

    def assert_error(self, resp, status, code, msg=None):
        """resp is an error response of the contract: status, JSON body
        {"error":{"code":code,"message":non-empty}}, X-Request-Id."""
        ctx = "%s%r" % ((msg + ": ") if msg else "", resp)
        self.assertEqual(resp.status, status, ctx)
        ctype = (resp.header("Content-Type") or "").lower()
        self.assertTrue(ctype.startswith("application/json"),
                        "error response must be JSON, Content-Type is %r: %s" % (ctype, ctx))
        body = resp.json
        self.assertIsInstance(body, dict, ctx)
        self.assertIn("error", body, ctx)
        err = body["error"]
        self.assertIsInstance(err, dict, ctx)
        self.assertEqual(err.get("code"), code, ctx)
        self.assertIsInstance(err.get("message"), str, ctx)
        self.assertTrue(err["message"].strip(), "error message is empty: " + ctx)
        self.assertTrue(resp.request_id, "no X-Request-Id: " + ctx)
        return err

    def note(self, text):
        """Adds text to what is printed if the test fails."""
        self._notes.append(text)

    # -- diagnostics --------------------------------------------------------------------------

    def diagnostics(self):
        out = ["", "=== diagnostics of %s ===" % self.id()]
        for n in getattr(self, "_notes", []):
            out.append("note: " + n)
        for c in getattr(self, "_cli_history", []):
            out.append(c.rstrip())
        for srv in getattr(self, "_servers", []):
            state = "not started"
            if srv.proc is not None:
                rc = srv.proc.poll()
                state = "running (pid %d)" % srv.proc.pid if rc is None else "exited %d" % rc
            out.append("--- server %s: %s, port %s, cmd: %s" % (
                srv.name, state, srv.port, " ".join(srv.cmd or [])))
            if srv.history:
                out.append("last requests:")
                out.extend("  " + h for h in srv.history)
            out.append(srv.log_tail())
        return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------------------------

class _Result(unittest.TextTestResult):
    """Appends the test's diagnostics (server log tails, last requests, CLI runs) to every
    failure and error."""

    def _augment(self, test, lst):
        if _env is not None:
            _env.failed = True
        if not lst:
            return
        t, text = lst[-1]
        diag = ""
        target = test if hasattr(test, "diagnostics") else getattr(test, "test_case", None)
        if target is not None and hasattr(target, "diagnostics"):
            try:
                diag = target.diagnostics()
            except Exception as e:  # noqa: BLE001
                diag = "(diagnostics failed: %r)" % (e,)
        lst[-1] = (t, text + diag)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.successes_ = getattr(self, "successes_", 0) + 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._augment(test, self.failures)

    def addError(self, test, err):
        super().addError(test, err)
        self._augment(test, self.errors)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            lst = self.failures if issubclass(err[0], test.failureException) else self.errors
            if lst and lst[-1][0] is subtest:
                subtest.diagnostics = test.diagnostics
                self._augment(subtest, lst)


_current_test = None  # the PatrolTestCase running now, for the watchdog


def _watchdog(seconds):
    def fire():
        sys.stderr.write("\nharness: WATCHDOG: the suite ran longer than %ds; killing "
                         "everything\n" % seconds)
        if _env is not None:
            _env.failed = True
        test = _current_test
        if test is not None:
            try:
                sys.stderr.write(test.diagnostics() + "\n")
            except Exception as e:  # noqa: BLE001
                sys.stderr.write("(diagnostics failed: %r)\n" % (e,))
        sys.stderr.flush()
        _at_exit()
        os._exit(124)
    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def _skip_name(test):
    """A skipped test's name without the "__main__." of a script run."""
    name = test.id() if hasattr(test, "id") else str(test)
    return name.replace("__main__.", "")


def record_skips(program, scope, skipped):
    """Writes one line per skipped test to $PATROLGIS_SKIP_DIR when it is set (tests/run-all
    sets it and counts the lines in its summary): program, scope, test, reason, tab-separated.
    scope "all": every test of the program was skipped and it exits SKIP_EXIT, so ctest
    reports the program itself as skipped; "some": the program ran the rest of its tests.
    skipped: (test name, reason) pairs. One file per process, so programs that ctest runs in
    parallel do not interleave."""
    folder = os.environ.get("PATROLGIS_SKIP_DIR")
    if not folder or not skipped:
        return
    clean = lambda v: re.sub(r"[\t\r\n]+", " ", str(v)).strip()  # noqa: E731
    lines = ["%s\t%s\t%s\t%s\n" % (clean(program), scope, clean(name), clean(why))
             for name, why in skipped]
    try:
        os.makedirs(folder, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.splitext(os.path.basename(program))[0])
        with open(os.path.join(folder, "%s.%d.tsv" % (stem, os.getpid())), "w") as f:
            f.write("".join(lines))
    except OSError as e:
        sys.stderr.write("harness: cannot record skips in %s: %s\n" % (folder, e))


def main():
    """Entry point of every test program: `python3 tests/integration/test_x.py [-k PATTERN]`.
    Exit status: 0 when everything passed, 1 when anything failed, SKIP_EXIT (77) when every
    test was skipped (ctest then reports the program as skipped, not passed)."""
    _watchdog(int(os.environ.get("PATROLGIS_IT_TIMEOUT", "900")))

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    sys.stdout.reconfigure(line_buffering=True)
    prog = unittest.main(module="__main__", exit=False,
                         testRunner=unittest.TextTestRunner(resultclass=_Result, verbosity=2,
                                                            stream=sys.stderr))
    result = prog.result
    program = os.path.relpath(os.path.abspath(sys.argv[0]), os.path.join(HERE, "..", ".."))
    skipped = [(_skip_name(t), why) for t, why in result.skipped]
    if not result.wasSuccessful():
        record_skips(program, "some", skipped)
        sys.exit(1)
    if skipped and getattr(result, "successes_", 0) == 0 and not result.expectedFailures:
        record_skips(program, "all", skipped)
        sys.stderr.write("harness: every test was skipped: exit %d\n" % SKIP_EXIT)
        sys.exit(SKIP_EXIT)
    record_skips(program, "some", skipped)
    sys.exit(0)


class PrivateCluster:
    """Mixin for test classes whose tests stop or kill PostgreSQL: they run on a cluster of
    their own (/tmp/pgit-<PRIVATE_NAME>-<pid>, removed at the end), never the shared one, so
    tests running in parallel are not hurt. List it before the PatrolTestCase base."""
    PRIVATE_NAME = "private"
    _private = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        pgdir = "/tmp/pgit-%s-%d" % (cls.PRIVATE_NAME, os.getpid())
        cls._private = Cluster(pgdir, get_env().pgctl)

        def drop():
            try:
                if cls._private.is_running():
                    cls._private.ctl("stop", check=False)
            finally:
                shutil.rmtree(pgdir, ignore_errors=True)
        _exit_hooks.append(drop)
        cls._drop = staticmethod(drop)
        cls._private.start()

    @classmethod
    def tearDownClass(cls):
        cls._drop()
        super().tearDownClass()

    def cluster(self):
        return self._private

    def ensure_cluster_up(self):
        if not self._private.is_running():
            self._private.start()

    def setUp(self):
        self.ensure_cluster_up()  # in case a previous test failed with the cluster down
        super().setUp()


if __name__ == "__main__":
    # `python3 harness.py skip NAME WHY`: the ctest test NAME cannot run here (CMake adds this
    # in its place when a tool is missing): prints why, records the skip like main() does and
    # exits SKIP_EXIT (ctest SKIP_RETURN_CODE); under CI=true exits 1, through require().
    if len(sys.argv) == 4 and sys.argv[1] == "skip":
        try:
            require(False, sys.argv[3])
        except unittest.SkipTest as e:
            print("SKIPPED: %s" % e)
            record_skips(sys.argv[2], "all", [("-", str(e))])
            sys.exit(SKIP_EXIT)
        except RequirementMissing as e:
            print("FAILED: %s" % e)
            sys.exit(1)
    sys.stderr.write("usage: harness.py skip NAME WHY\n")
    sys.exit(2)

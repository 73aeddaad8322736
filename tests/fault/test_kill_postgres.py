#!/usr/bin/env python3
"""test_kill_postgres.py - the fault test of ingestion: while the patrol simulator
(geodata/simulate) uploads continuously through the OsmAnd endpoint and JSON batches, the
PostgreSQL postmaster is killed with SIGKILL three times (`sql/pgctl DIR kill`, restarted with
`sql/pgctl DIR start` after 2-5 s: crash recovery). Afterwards:

  * every fix that got a 2xx reply (the simulator's --ack-log) is in `positions` exactly once,
    and nothing else is: the simulator retried everything that was not acknowledged, so the
    stored set equals the acknowledged set (nothing acknowledged lost, nothing duplicated,
    nothing dropped while the database was down);
  * the simulator saw the outages (503 or connection errors), got no other refusals, and
    emptied its outboxes;
  * patrold was never restarted (same process, alive, ready again) and its check-in engine
    caught up (engine_queue drained).

It kills a postmaster, so it runs on a private cluster of its own
(`sql/pgctl /tmp/pgit-fault-<pid>`, removed at the end), never the shared one.

Run: PATROLD=build/server/patrold python3 tests/fault/test_kill_postgres.py
Knobs: PATROLGIS_FAULT_SEED (the simulator's seed; default random, printed),
PATROLGIS_FAULT_SPEEDUP (default 150), PATROLGIS_FAULT_HOURS (simulated hours, default 3).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import PatrolTestCase, PrivateCluster, free_port  # noqa: E402

KILLS = 3


class TestKillPostgres(PrivateCluster, PatrolTestCase):
    DB_PREFIX = "fault"
    PRIVATE_NAME = "fault"
    AUTO_SERVER = False

    def kill_and_restart(self, pause):
        t0 = time.monotonic()
        cp = self._private.ctl("kill", check=True)
        self.note("pgctl kill: %s" % cp.stderr.strip())
        time.sleep(pause)
        self._private.start()
        return time.monotonic() - t0

    def test_kill_postmaster_three_times_under_upload(self):
        env = self.env
        seed = int(os.environ.get("PATROLGIS_FAULT_SEED") or random.randrange(1, 10 ** 6))
        speedup = float(os.environ.get("PATROLGIS_FAULT_SPEEDUP") or 150)
        hours = float(os.environ.get("PATROLGIS_FAULT_HOURS") or 3)
        rnd = random.Random(seed)
        self.note("seed %d" % seed)

        # The demo town, patrold with its OsmAnd port, an admin for the simulator.
        self.patrold("migrate")
        harness.run(["bash", os.path.join(env.src, "geodata", "load-demo"), self.url()],
                    timeout=120, check=True)
        osm_port = free_port()
        srv = self.start_server("--osmand-port", str(osm_port), "--db-pool", "8",
                                "--log-level", "warn")
        pid = srv.pid
        admin = self.admin_token()

        # The simulator's files (kept when the test fails; the note says where).
        work = tempfile.mkdtemp(prefix="patrolgis-fault-")
        passed = []
        self.addCleanup(lambda: passed and shutil.rmtree(work, ignore_errors=True))
        self.note("simulator files in %s" % work)
        ack_log = os.path.join(work, "acks-%d.tsv" % seed)
        sim_log = os.path.join(work, "simulate-%d.log" % seed)
        cmd = [sys.executable, os.path.join(env.src, "geodata", "simulate"),
               "--url", "http://127.0.0.1:%d" % srv.port,
               "--osmand-url", "http://127.0.0.1:%d/" % osm_port,
               "--admin-token", admin, "--cars", "3",
               "--start", "now-%gs" % (hours * 3600), "--duration", "%g" % (hours * 3600),
               "--speedup", "%g" % speedup, "--seed", str(seed), "--ack-log", ack_log,
               "--flush-timeout", "120", "--log", sim_log, "--no-report", "--summary"]
        self.note("simulator: %s (log %s)" % (" ".join(cmd), sim_log))
        sim = harness._register(subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=harness.clean_env(), preexec_fn=harness._die_with_parent))
        real_s = hours * 3600 / speedup
        # One kill in each of 5-20 %, 30-45 % and 55-70 % of the run (a restart takes ~5 s).
        times = [(0.05 + 0.25 * k + rnd.uniform(0.0, 0.15)) * real_s for k in range(KILLS)]
        t_start = time.monotonic()
        outages = []
        for k, at in enumerate(times):
            delay = at - (time.monotonic() - t_start)
            if delay > 0:
                time.sleep(delay)
            self.assertIsNone(sim.poll(), "the simulator ended before kill %d" % (k + 1))
            pause = rnd.uniform(2.0, 5.0)
            down = self.kill_and_restart(pause)
            outages.append(down)
            sys.stderr.write("fault: kill %d at %.1f s: postmaster SIGKILLed, restarted after "
                             "%.1f s (database back after %.1f s)\n"
                             % (k + 1, at, pause, down))
        try:
            out, err = sim.communicate(timeout=real_s + 300)
        except subprocess.TimeoutExpired:
            sim.kill()
            out, err = sim.communicate()
            self.fail("the simulator did not finish\n%s\n%s" % (out[-3000:], err[-3000:]))
        summary = None
        for line in out.splitlines():
            if line.startswith("SUMMARY "):
                summary = json.loads(line[len("SUMMARY "):])
        self.assertIsNotNone(summary, "no SUMMARY from the simulator:\n%s\n%s" % (out, err))
        self.note("simulator summary: %s" % json.dumps(summary))

        # patrold: the same process all along, and it serves again.
        self.assertTrue(srv.alive(), "patrold died (rc %s)" % srv.proc.poll())
        self.assertEqual(srv.pid, pid, "patrold must not be restarted")
        deadline = time.monotonic() + 30
        while srv.request("GET", "/readyz", timeout=5).status != 200:
            self.assertLess(time.monotonic(), deadline, "patrold not ready 30 s after the last "
                            "restart of the database")
            time.sleep(0.3)
        starts = srv.log_text().count("### ")
        self.assertEqual(starts, 1, "the server log shows %d starts" % starts)

        # What was acknowledged versus what is stored.
        acked = []
        with open(ack_log, encoding="utf-8") as f:
            for line in f:
                name, t = line.rstrip("\n").split("\t")
                acked.append((name, t))
        ack_set = set(acked)
        rows = self.psql(
            "SELECT d.name, to_char(p.fix_time AT TIME ZONE 'UTC',"
            " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), count(*)"
            " FROM positions p JOIN devices d ON d.id = p.device_id GROUP BY 1, 2")
        stored = {(r[0], r[1]): int(r[2]) for r in rows}
        dups = {k: n for k, n in stored.items() if n != 1}
        missing = sorted(ack_set - set(stored))
        extra = sorted(set(stored) - ack_set)
        n503 = summary["status_503"]
        nconn = summary["connection_errors"]
        sys.stderr.write(
            "fault: seed %d, %d kills (outages %s s); simulator: %d fixes generated, %d acked "
            "(%d ack lines), %d requests, %d x 503, %d connection errors, %d retries, "
            "%d unacked; stored: %d rows (%d distinct device+time), %d duplicated, "
            "%d acked-but-missing, %d stored-but-not-acked\n"
            % (seed, KILLS, ", ".join("%.1f" % d for d in outages), summary["generated"],
               len(ack_set), len(acked), summary["requests"], n503, nconn, summary["retries"],
               summary["unacked"], sum(stored.values()), len(stored), len(dups), len(missing),
               len(extra)))

        self.assertEqual(len(acked), len(ack_set), "a fix was acknowledged twice")
        self.assertEqual(dups, {}, "fixes stored more than once")
        self.assertEqual(missing, [], "acknowledged fixes missing from positions (first 20): %r"
                         % missing[:20])
        self.assertEqual(summary["unacked"], 0, "fixes still in an outbox at the end")
        self.assertEqual(summary["refused"] + summary["rejected"], 0,
                         "the server refused fixes (see %s)" % sim_log)
        self.assertEqual(extra, [], "stored fixes that were never acknowledged (first 20): %r"
                         % extra[:20])
        self.assertEqual(len(ack_set), summary["generated"], "generated vs acknowledged")
        self.assertGreater(n503 + nconn, 0,
                           "the uploads never met an outage: the test tested nothing")
        self.assertEqual(sim.returncode, 0, "simulator exit status\n%s" % err[-3000:])

        # The engine survived the kills and caught up with everything queued.
        deadline = time.monotonic() + 60
        while True:
            q = self.count("engine_queue")
            if q == 0:
                break
            self.assertLess(time.monotonic(), deadline,
                            "engine_queue still holds %d rows 60 s after the run" % q)
            time.sleep(0.5)
        visits = self.count("visits")
        self.assertGreater(visits, 0, "the engine wrote no visits")
        sys.stderr.write("fault: engine caught up: %d visits, %d check-ins; patrold pid %d "
                         "never restarted\n" % (visits, self.count("checkins"), pid))
        passed.append(True)


if __name__ == "__main__":
    harness.main()

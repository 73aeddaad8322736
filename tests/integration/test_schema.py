#!/usr/bin/env python3
"""Integration test of the database schema (sql/migrations) against a private PostgreSQL.

Creates a fresh database with `sql/pgctl DIR createdb`, applies every migration in order the
way patrold does (each file in its own transaction: psql --single-transaction), then checks the
contract of docs/data-model.md with real queries: tables and columns, CHECKs that refuse
nonsense, the layer change trigger (generation + NOTIFY), the audit trigger (actor, before /
after, no secrets), positions partitions and their maintenance functions.

It does not test the server: patrold's migration runner and schema_migrations are not here.

Run: python3 tests/integration/test_schema.py
Env: PATROLGIS_PGDIR  a folder managed by sql/pgctl whose cluster is running. Without it the
                      test starts its own cluster in /tmp/pgschema-test and stops it after
                      (only if it started it).
Python 3 standard library only.
"""

import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PGCTL = str(ROOT / "sql" / "pgctl")
MIGRATION_DIR = ROOT / "sql" / "migrations"
DB = "patrolgis_schema_test"
PLAIN_DB = "patrolgis_schema_plain"

PGDIR = os.environ.get("PATROLGIS_PGDIR") or "/tmp/pgschema-test"
OWN_CLUSTER = not os.environ.get("PATROLGIS_PGDIR")
_started_here = False

LAYER_TABLES = [
    "schools", "patrol_points", "patrol_windows", "waters", "road_segments", "venues",
    "stations", "roads", "inspections",
]

# The contract: every column of docs/data-model.md with its type (format_type spelling).
CONVENTIONS = {
    "id": "bigint",
    "props": "jsonb",
    "created_at": "timestamp with time zone",
    "updated_at": "timestamp with time zone",
}
EXPECTED_COLUMNS = {
    "schools": {
        **CONVENTIONS, "name": "text", "kind": "text",
        "perimeter": "geometry(MultiPolygon,4326)", "boarding": "boolean", "remote": "boolean",
        "address": "text", "contacts": "jsonb",
        "arrival_start": "time without time zone", "arrival_end": "time without time zone",
        "dismissal_start": "time without time zone", "dismissal_end": "time without time zone",
        "source": "text", "osm_id": "bigint", "from_node": "boolean",
    },
    "patrol_points": {
        **CONVENTIONS, "name": "text", "kind": "text", "school_id": "bigint",
        "location": "geometry(Point,4326)", "radius_m": "double precision",
        "min_dwell_s": "integer", "hysteresis_m": "double precision",
        "season_start": "text", "season_end": "text",
    },
    "patrol_windows": {
        **CONVENTIONS, "point_id": "bigint", "name": "text", "days": "smallint",
        "start_local": "time without time zone", "end_local": "time without time zone",
        "required_visits": "smallint", "grace_s": "integer", "date_from": "date",
        "date_to": "date",
    },
    "waters": {
        **CONVENTIONS, "name": "text", "kind": "text", "geom": "geometry(Geometry,4326)",
        "risk_level": "smallint", "season_start": "text", "season_end": "text",
        "source": "text", "osm_id": "bigint",
    },
    "road_segments": {
        **CONVENTIONS, "name": "text", "geom": "geometry(LineString,4326)",
        "risk_level": "smallint", "reason": "text", "status": "text",
    },
    "venues": {
        **CONVENTIONS, "name": "text", "kind": "text", "location": "geometry(Point,4326)",
        "address": "text",
    },
    "stations": {
        **CONVENTIONS, "name": "text", "kind": "text", "location": "geometry(Point,4326)",
        "phone": "text", "source": "text", "osm_id": "bigint",
    },
    "roads": {
        **CONVENTIONS, "name": "text", "class": "text", "oneway": "smallint",
        "speed_kmh": "double precision", "geom": "geometry(LineString,4326)",
        "node_ids": "bigint[]", "osm_id": "bigint", "source": "text",
    },
    "inspections": {
        **CONVENTIONS, "school_id": "bigint", "inspected_at": "timestamp with time zone",
        "inspector": "text", "findings": "text", "follow_up": "text",
        "location": "geometry(Point,4326)",
    },
    "users": {
        "id": "bigint", "name": "text", "display_name": "text", "role": "text",
        "password_hash": "text", "disabled": "boolean",
        "created_at": "timestamp with time zone", "updated_at": "timestamp with time zone",
    },
    "devices": {
        "id": "bigint", "name": "text", "unit": "text", "kind": "text", "ident_hash": "bytea",
        "jt808_terminal": "text", "jt808_auth_hash": "bytea", "disabled": "boolean",
        "props": "jsonb",
        "created_at": "timestamp with time zone", "updated_at": "timestamp with time zone",
    },
    "tokens": {
        "id": "bigint", "user_id": "bigint", "device_id": "bigint", "token_hash": "bytea",
        "label": "text", "created_at": "timestamp with time zone",
        "expires_at": "timestamp with time zone", "revoked_at": "timestamp with time zone",
        "last_used_at": "timestamp with time zone",
    },
    "audit_log": {
        "id": "bigint", "at": "timestamp with time zone", "actor": "text", "action": "text",
        "target": "text", "target_id": "bigint", "before": "jsonb", "after": "jsonb",
        "request_id": "text", "remote_addr": "text", "detail": "text",
    },
    "positions": {
        "device_id": "bigint", "fix_time": "timestamp with time zone",
        "received_at": "timestamp with time zone", "geom": "geometry(Point,4326)",
        "speed_kmh": "real", "heading": "real", "accuracy_m": "real", "altitude_m": "real",
        "source": "text", "src_crs": "text", "flags": "integer",
    },
    "device_latest": {
        "device_id": "bigint", "fix_time": "timestamp with time zone",
        "geom": "geometry(Point,4326)", "speed_kmh": "real", "heading": "real",
        "updated_at": "timestamp with time zone",
    },
    "visits": {
        "id": "bigint", "device_id": "bigint", "point_id": "bigint",
        "enter_at": "timestamp with time zone", "exit_at": "timestamp with time zone",
        "dwell_s": "double precision", "min_dist_m": "double precision",
    },
    "checkins": {
        "id": "bigint", "point_id": "bigint", "window_id": "bigint", "local_date": "date",
        "status": "text", "visit_ids": "bigint[]", "first_at": "timestamp with time zone",
        "updated_at": "timestamp with time zone",
    },
    "events": {
        "id": "bigint", "at": "timestamp with time zone", "kind": "text", "device_id": "bigint",
        "point_id": "bigint", "zone_layer": "text", "zone_id": "bigint", "payload": "jsonb",
        "created_at": "timestamp with time zone",
    },
    "layer_generations": {
        "layer": "text", "generation": "bigint", "changed_at": "timestamp with time zone",
    },
}

SQUARE = "ST_Multi(ST_Buffer('SRID=4326;POINT(113.30 23.10)'::geometry, 0.001, 2))"


def migrations():
    return sorted(MIGRATION_DIR.glob("*.sql"))


def run(args, input_text=None):
    return subprocess.run(args, input=input_text, capture_output=True, text=True)


def psql(sql, db=DB, extra=()):
    """Run SQL through psql (ON_ERROR_STOP). Returns the CompletedProcess."""
    return run([PGCTL, PGDIR, "psql", db, "-q", "-A", "-t", "-F", "|", *extra], sql)


def q(sql, db=DB):
    """Run SQL that must succeed; return its stdout stripped."""
    p = psql(sql, db)
    if p.returncode != 0:
        raise AssertionError(f"SQL failed ({p.returncode}):\n{sql}\n{p.stderr}")
    return p.stdout.strip()


def setUpModule():
    global _started_here
    if OWN_CLUSTER:
        running = run([PGCTL, PGDIR, "status"]).returncode == 0
        p = run([PGCTL, PGDIR, "start"])
        if p.returncode != 0:
            raise RuntimeError(f"pgctl start failed:\n{p.stderr}")
        _started_here = not running
    elif run([PGCTL, PGDIR, "status"]).returncode != 0:
        raise RuntimeError(f"PATROLGIS_PGDIR={PGDIR} is not a running pgctl cluster")
    print(f"# cluster {PGDIR}: {run([PGCTL, PGDIR, 'url', DB]).stdout.strip()}",
          file=sys.stderr)


def tearDownModule():
    for db in (DB, PLAIN_DB):
        psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)', db="postgres")
    if _started_here:
        run([PGCTL, PGDIR, "stop"])


def apply_migrations(db):
    """Apply every migration in order, each in its own transaction. Returns [(file, proc)]."""
    done = []
    for f in migrations():
        p = run([PGCTL, PGDIR, "psql", db, "-q", "--single-transaction",
                 "-v", "VERBOSITY=terse", "-f", str(f)])
        done.append((f, p))
        if p.returncode != 0:
            break
    return done


class MigrationFilesTest(unittest.TestCase):
    """Static checks on the files, and a clean apply on a database without PostGIS."""

    def test_names_ordered_and_unique(self):
        files = migrations()
        self.assertGreaterEqual(len(files), 4)
        versions = []
        for f in files:
            m = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", f.name)
            self.assertIsNotNone(m, f"bad migration name {f.name}")
            versions.append(int(m.group(1)))
        self.assertEqual(len(versions), len(set(versions)), "duplicate version")
        self.assertEqual(versions[0], 1)

    def test_no_transaction_control_and_no_schema_migrations(self):
        for f in migrations():
            text = f.read_text(encoding="utf-8")
            self.assertTrue(text.startswith("-- "), f"{f.name}: needs a header comment")
            # top-level statements only: PL/pgSQL bodies ($$ ... $$) have their own BEGIN/END
            top = re.sub(r"(?s)(\$[a-z_]*\$).*?\1", "$$", text)
            for line in top.splitlines():
                code = line.split("--", 1)[0].strip().upper()
                self.assertIsNone(
                    re.fullmatch(r"(BEGIN|COMMIT|ROLLBACK|END|START TRANSACTION)"
                                 r"( WORK| TRANSACTION)?\s*;", code),
                    f"{f.name}: transaction control '{line.strip()}'")
            self.assertNotRegex(text, r"(?is)create\s+table[^;]*schema_migrations",
                                f"{f.name}: schema_migrations belongs to patrold")
        first = migrations()[0].read_text(encoding="utf-8")
        self.assertIn("CREATE EXTENSION IF NOT EXISTS postgis", first)

    def test_each_file_applies_on_empty_database(self):
        # a database with nothing in it, not even PostGIS: 0001 must bring it
        q(f'DROP DATABASE IF EXISTS "{PLAIN_DB}" WITH (FORCE)', db="postgres")
        q(f'CREATE DATABASE "{PLAIN_DB}"', db="postgres")
        self.assertEqual(q("SELECT count(*) FROM pg_extension WHERE extname='postgis'",
                           db=PLAIN_DB), "0")
        for f, p in apply_migrations(PLAIN_DB):
            self.assertEqual(p.returncode, 0, f"{f.name} failed:\n{p.stderr}")
        self.assertEqual(q("SELECT count(*) FROM pg_extension WHERE extname='postgis'",
                           db=PLAIN_DB), "1")
        self.assertEqual(q("SELECT to_regclass('schema_migrations') IS NULL", db=PLAIN_DB),
                         "t")


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        p = run([PGCTL, PGDIR, "createdb", DB])
        if p.returncode != 0:
            raise RuntimeError(f"pgctl createdb failed:\n{p.stderr}")
        for f, p in apply_migrations(DB):
            if p.returncode != 0:
                raise RuntimeError(f"migration {f.name} failed:\n{p.stderr}")
        # fixtures
        cls.school = int(q(f"INSERT INTO schools (name, kind, perimeter) "
                           f"VALUES ('fixture school', 'primary', {SQUARE}) RETURNING id"))
        cls.point = int(q(f"INSERT INTO patrol_points (name, kind, school_id, location) "
                          f"VALUES ('fixture gate', 'gate', {cls.school}, "
                          f"'SRID=4326;POINT(113.30 23.10)') RETURNING id"))
        cls.window = int(q(f"INSERT INTO patrol_windows (point_id, name, start_local, end_local)"
                           f" VALUES ({cls.point}, 'arrival', '07:00', '08:30') RETURNING id"))
        cls.device = int(q("INSERT INTO devices (name) VALUES ('fixture car') RETURNING id"))

    # -- helpers --------------------------------------------------------------------------

    def refused(self, sql, fragment):
        """The statement must fail with an error message containing fragment."""
        p = psql(sql)
        self.assertNotEqual(p.returncode, 0, f"accepted, should be refused:\n{sql}")
        self.assertIn(fragment, p.stderr, f"wrong error for:\n{sql}")

    def generation(self, layer):
        return int(q(f"SELECT generation FROM layer_generations WHERE layer = '{layer}'"))

    def last_audit(self, target):
        row = q("SELECT actor, action, coalesce(request_id, ''), "
                "coalesce(before::text, ''), coalesce(after::text, '') "
                f"FROM audit_log WHERE target = '{target}' ORDER BY id DESC LIMIT 1")
        return row.split("|", 4)

    # -- structure ------------------------------------------------------------------------

    def test_tables_and_columns(self):
        for table, cols in EXPECTED_COLUMNS.items():
            with self.subTest(table=table):
                out = q("SELECT a.attname, format_type(a.atttypid, a.atttypmod) "
                        "FROM pg_attribute a "
                        f"WHERE a.attrelid = to_regclass('{table}') "
                        "AND a.attnum > 0 AND NOT a.attisdropped")
                self.assertTrue(out, f"table {table} missing")
                have = dict(line.split("|", 1) for line in out.splitlines())
                for col, typ in cols.items():
                    self.assertIn(col, have, f"{table}.{col} missing")
                    self.assertEqual(have[col], typ, f"{table}.{col} type")

    def test_layer_generations_has_every_layer(self):
        have = set(q("SELECT layer FROM layer_generations").splitlines())
        self.assertEqual(have, set(LAYER_TABLES))

    def test_every_geometry_has_gist_index(self):
        # every geometry column of every table (partitions excluded) leads a GiST index
        missing = q("""
            SELECT c.relname || '.' || a.attname
              FROM pg_attribute a
              JOIN pg_class c ON c.oid = a.attrelid
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
               AND a.atttypid = 'geometry'::regtype AND NOT a.attisdropped
               AND NOT EXISTS (
                     SELECT 1 FROM pg_index i
                       JOIN pg_class ic ON ic.oid = i.indexrelid
                       JOIN pg_am am ON am.oid = ic.relam
                      WHERE i.indrelid = c.oid AND am.amname = 'gist'
                        AND i.indkey[0] = a.attnum)
               AND c.relname <> 'spatial_ref_sys'""")
        self.assertEqual(missing, "", f"geometry columns without GiST index: {missing}")

    def test_every_foreign_key_is_indexed(self):
        missing = q("""
            SELECT conrelid::regclass || '(' || conkey::text || ')'
              FROM pg_constraint k
             WHERE contype = 'f'
               AND NOT EXISTS (
                     SELECT 1 FROM pg_index i
                      WHERE i.indrelid = k.conrelid AND i.indkey[0] = k.conkey[1])""")
        self.assertEqual(missing, "", f"foreign keys without index: {missing}")

    # -- constraints ----------------------------------------------------------------------

    def test_bad_rows_refused(self):
        pt = "'SRID=4326;POINT(113.3 23.1)'"
        s = self.school
        p = self.point
        cases = [
            ("radius 0",
             f"INSERT INTO patrol_points (name, kind, location, radius_m) "
             f"VALUES ('x', 'gate', {pt}, 0)", "patrol_points_radius_m_check"),
            ("radius 2000",
             f"INSERT INTO patrol_points (name, kind, location, radius_m) "
             f"VALUES ('x', 'gate', {pt}, 2000)", "patrol_points_radius_m_check"),
            ("window start = end",
             f"INSERT INTO patrol_windows (point_id, name, start_local, end_local) "
             f"VALUES ({p}, 'x', '08:00', '08:00')", "patrol_windows_order"),
            ("window start > end",
             f"INSERT INTO patrol_windows (point_id, name, start_local, end_local) "
             f"VALUES ({p}, 'x', '09:00', '08:00')", "patrol_windows_order"),
            ("window days 0",
             f"INSERT INTO patrol_windows (point_id, name, days, start_local, end_local) "
             f"VALUES ({p}, 'x', 0, '07:00', '08:00')", "patrol_windows_days_check"),
            ("window days 128",
             f"INSERT INTO patrol_windows (point_id, name, days, start_local, end_local) "
             f"VALUES ({p}, 'x', 128, '07:00', '08:00')", "patrol_windows_days_check"),
            ("window required_visits 0",
             f"INSERT INTO patrol_windows (point_id, name, start_local, end_local, "
             f"required_visits) VALUES ({p}, 'x', '07:00', '08:00', 0)",
             "patrol_windows_required_visits_check"),
            ("window date_from > date_to",
             f"INSERT INTO patrol_windows (point_id, name, start_local, end_local, date_from, "
             f"date_to) VALUES ({p}, 'x', '07:00', '08:00', '2025-06-08', '2025-06-07')",
             "patrol_windows_dates"),
            ("window date_from only",
             f"INSERT INTO patrol_windows (point_id, name, start_local, end_local, date_from) "
             f"VALUES ({p}, 'x', '07:00', '08:00', '2025-06-07')", "patrol_windows_dates"),
            ("season 13-40",
             f"INSERT INTO patrol_points (name, kind, location, season_start, season_end) "
             f"VALUES ('x', 'water', {pt}, '13-40', '10-31')", "patrol_points_season_start_check"),
            ("season 02-30",
             f"INSERT INTO waters (name, kind, geom, season_start, season_end) "
             f"VALUES ('x', 'pond', {SQUARE}, '05-01', '02-30')", "waters_season_end_check"),
            ("season 5-1 (not MM-DD)",
             f"INSERT INTO waters (name, kind, geom, season_start, season_end) "
             f"VALUES ('x', 'pond', {SQUARE}, '5-1', '10-31')", "waters_season_start_check"),
            ("season with only a start",
             f"INSERT INTO patrol_points (name, kind, location, season_start) "
             f"VALUES ('x', 'water', {pt}, '05-01')", "patrol_points_season_pair"),
            ("waters season with only an end",
             f"INSERT INTO waters (name, kind, geom, season_start) "
             f"VALUES ('x', 'pond', {SQUARE}, NULL)", "waters_season_pair"),
            ("SRID 3857 point",
             f"INSERT INTO patrol_points (name, kind, location) "
             f"VALUES ('x', 'gate', 'SRID=3857;POINT(12612000 2644000)')",
             "Geometry SRID (3857) does not match column SRID (4326)"),
            ("SRID 3857 perimeter",
             "INSERT INTO schools (name, kind, perimeter) VALUES ('x', 'primary', "
             "ST_Multi(ST_Buffer('SRID=3857;POINT(12612000 2644000)'::geometry, 50)))",
             "Geometry SRID (3857) does not match column SRID (4326)"),
            ("line into a point column",
             "INSERT INTO venues (name, kind, location) "
             "VALUES ('x', 'other', 'SRID=4326;LINESTRING(1 2, 3 4)')",
             "Geometry type (LineString) does not match column type (Point)"),
            ("point as water",
             f"INSERT INTO waters (name, kind, geom) VALUES ('x', 'pond', {pt})",
             "waters_geom_check"),
            ("lat/lon swapped",
             "INSERT INTO stations (name, location) "
             "VALUES ('x', 'SRID=4326;POINT(23.1 113.3)')", "stations_location_check"),
            ("empty perimeter",
             "INSERT INTO schools (name, kind, perimeter) "
             "VALUES ('x', 'primary', 'SRID=4326;MULTIPOLYGON EMPTY')", "schools_perimeter_check"),
            ("unknown school kind",
             f"INSERT INTO schools (name, kind, perimeter) VALUES ('x', 'university', {SQUARE})",
             "schools_kind_check"),
            ("unknown point kind",
             f"INSERT INTO patrol_points (name, kind, location) VALUES ('x', 'door', {pt})",
             "patrol_points_kind_check"),
            ("unknown venue kind",
             f"INSERT INTO venues (name, kind, location) VALUES ('x', 'bar', {pt})",
             "venues_kind_check"),
            ("unknown water kind",
             f"INSERT INTO waters (name, kind, geom) VALUES ('x', 'sea', {SQUARE})",
             "waters_kind_check"),
            ("unknown station kind",
             f"INSERT INTO stations (name, kind, location) VALUES ('x', 'fire', {pt})",
             "stations_kind_check"),
            ("unknown road segment status",
             "INSERT INTO road_segments (name, geom, reason, status) VALUES ('x', "
             "'SRID=4326;LINESTRING(113.3 23.1, 113.31 23.1)', 'r', 'done')",
             "road_segments_status_check"),
            ("unknown follow_up",
             f"INSERT INTO inspections (school_id, inspected_at, inspector, follow_up) "
             f"VALUES ({s}, now(), 'li', 'maybe')", "inspections_follow_up_check"),
            ("props = []",
             f"INSERT INTO schools (name, kind, perimeter, props) "
             f"VALUES ('x', 'primary', {SQUARE}, '[]')", "schools_props_check"),
            ("props = 1",
             f"INSERT INTO venues (name, kind, location, props) VALUES ('x', 'other', {pt}, '1')",
             "venues_props_check"),
            ("contacts = {}",
             f"INSERT INTO schools (name, kind, perimeter, contacts) "
             f"VALUES ('x', 'primary', {SQUARE}, '{{}}')", "schools_contacts_check"),
            ("arrival start > end",
             f"INSERT INTO schools (name, kind, perimeter, arrival_start, arrival_end) "
             f"VALUES ('x', 'primary', {SQUARE}, '09:00', '08:00')", "schools_arrival_order"),
            ("dismissal start = end",
             f"INSERT INTO schools (name, kind, perimeter, dismissal_start, dismissal_end) "
             f"VALUES ('x', 'primary', {SQUARE}, '17:00', '17:00')", "schools_dismissal_order"),
            ("risk 0",
             f"INSERT INTO waters (name, kind, geom, risk_level) "
             f"VALUES ('x', 'pond', {SQUARE}, 0)", "waters_risk_level_check"),
            ("risk 4",
             "INSERT INTO road_segments (name, geom, reason, risk_level) VALUES ('x', "
             "'SRID=4326;LINESTRING(113.3 23.1, 113.31 23.1)', 'r', 4)",
             "road_segments_risk_level_check"),
            ("negative dwell",
             f"INSERT INTO patrol_points (name, kind, location, min_dwell_s) "
             f"VALUES ('x', 'gate', {pt}, -1)", "patrol_points_min_dwell_s_check"),
            ("oneway 2",
             "INSERT INTO roads (class, oneway, geom) VALUES ('primary', 2, "
             "'SRID=4326;LINESTRING(113.3 23.1, 113.31 23.1)')", "roads_oneway_check"),
            ("speed 0",
             "INSERT INTO roads (class, speed_kmh, geom) VALUES ('primary', 0, "
             "'SRID=4326;LINESTRING(113.3 23.1, 113.31 23.1)')", "roads_speed_kmh_check"),
            ("node_ids count != vertices",
             "INSERT INTO roads (class, geom, node_ids) VALUES ('primary', "
             "'SRID=4326;LINESTRING(113.3 23.1, 113.31 23.1)', '{1,2,3}')",
             "roads_node_ids_per_vertex"),
            ("road source",
             "INSERT INTO roads (class, geom, source) VALUES ('primary', "
             "'SRID=4326;LINESTRING(113.3 23.1, 113.31 23.1)', 'import')", "roads_source_check"),
            ("school delete restricted by point",
             f"DELETE FROM schools WHERE id = {s}", "violates foreign key constraint"),
            ("user role",
             "INSERT INTO users (name, role) VALUES ('x', 'root')", "users_role_check"),
            ("plaintext password",
             "INSERT INTO users (name, role, password_hash) VALUES ('x', 'viewer', 'secret')",
             "users_password_hash_check"),
            ("device kind",
             "INSERT INTO devices (name, kind) VALUES ('x', 'pager')", "devices_kind_check"),
            ("ident_hash of 20 bytes",
             "INSERT INTO devices (name, ident_hash) VALUES ('x', substr(sha256(''), 1, 20))",
             "devices_ident_hash_check"),
            ("token without owner",
             "INSERT INTO tokens (token_hash) VALUES (sha256('a'))", "tokens_one_owner"),
            ("token with two owners",
             f"INSERT INTO users (name, role) VALUES ('two', 'viewer'); "
             f"INSERT INTO tokens (user_id, device_id, token_hash) VALUES "
             f"((SELECT id FROM users WHERE name = 'two'), {self.device}, sha256('a'))",
             "tokens_one_owner"),
            ("token_hash of 31 bytes",
             f"INSERT INTO tokens (device_id, token_hash) "
             f"VALUES ({self.device}, substr(sha256('a'), 1, 31))", "tokens_token_hash_check"),
            ("position source",
             f"INSERT INTO positions (device_id, fix_time, geom, source) "
             f"VALUES (1, now(), {pt}, 'carrier pigeon')", "positions_source_check"),
            ("visit exit before enter",
             f"INSERT INTO visits (device_id, point_id, enter_at, exit_at) VALUES "
             f"({self.device}, {p}, '2025-01-01 08:00Z', '2025-01-01 07:00Z')", "visits_order"),
            ("checkin status",
             f"INSERT INTO checkins (point_id, window_id, local_date, status) "
             f"VALUES ({p}, {self.window}, '2025-01-01', 'ok')", "checkins_status_check"),
            ("event payload []",
             "INSERT INTO events (at, kind, payload) VALUES (now(), 'x', '[]')",
             "events_payload_check"),
            ("event zone without id",
             "INSERT INTO events (at, kind, zone_layer) VALUES (now(), 'x', 'waters')",
             "events_zone_pair"),
        ]
        for name, sql, fragment in cases:
            with self.subTest(name):
                self.refused(sql, fragment)

    def test_good_rows_accepted(self):
        pt = "'SRID=4326;POINT(113.3 23.1)'"
        q(f"""
            INSERT INTO patrol_points (name, kind, location, radius_m, season_start, season_end)
            VALUES ('winter', 'water', {pt}, 5, '11-01', '02-28'),
                   ('leap', 'water', {pt}, 1000, '02-29', '02-29');
            INSERT INTO waters (name, kind, geom)
            VALUES ('river', 'river', 'SRID=4326;MULTILINESTRING((113.3 23.1, 113.4 23.2))'),
                   ('all year pond', 'pond', {SQUARE});
            UPDATE waters SET season_start = NULL, season_end = NULL WHERE name = 'all year pond';
            INSERT INTO patrol_windows (point_id, name, days, start_local, end_local,
                                        date_from, date_to)
            VALUES ({self.point}, 'exam', 127, '07:00', '07:01', '2025-06-07', '2025-06-07');
            INSERT INTO roads (class, geom, node_ids, source)
            VALUES ('residential', 'SRID=4326;LINESTRING(113.3 23.1, 113.31 23.1)', '{{1,2}}',
                    'osm');
            INSERT INTO schools (name, kind, perimeter, arrival_start, arrival_end)
            VALUES ('no periods', 'kindergarten', {SQUARE}, NULL, NULL);
        """)
        self.assertEqual(q("SELECT season_start || '..' || season_end FROM waters "
                           "WHERE name = 'river'"), "05-01..10-31")
        # WKT without SRID is taken as the column's 4326 (PostGIS typmod), not refused
        self.assertEqual(q("INSERT INTO venues (name, kind, location) "
                           "VALUES ('no srid', 'other', 'POINT(113.3 23.1)') "
                           "RETURNING ST_SRID(location)"), "4326")

    # -- triggers -------------------------------------------------------------------------

    def test_psql_insert_notifies_bumps_generation_and_audits(self):
        before = self.generation("schools")
        p = psql(f"""
            LISTEN patrolgis_layers;
            INSERT INTO schools (name, kind, perimeter, boarding)
            VALUES ('notify school', 'middle', {SQUARE}, true);
        """, extra=())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('Asynchronous notification "patrolgis_layers" with payload "schools"',
                      p.stdout)
        self.assertEqual(self.generation("schools"), before + 1)
        self.assertEqual(q("SELECT changed_at > now() - interval '1 minute' "
                           "FROM layer_generations WHERE layer = 'schools'"), "t")
        actor, action, req, old, new = self.last_audit("schools")
        self.assertEqual((actor, action, req, old), ("sql:postgres", "insert", "", ""))
        self.assertIn('"name": "notify school"', new)
        # geometry is kept as GeoJSON
        self.assertEqual(q("SELECT after->'perimeter'->>'type' FROM audit_log "
                           "WHERE target = 'schools' ORDER BY id DESC LIMIT 1"), "MultiPolygon")
        self.assertEqual(q("SELECT target_id = (SELECT max(id) FROM schools) FROM audit_log "
                           "WHERE target = 'schools' ORDER BY id DESC LIMIT 1"), "t")

    def test_one_bump_per_statement(self):
        before = self.generation("venues")
        q("INSERT INTO venues (name, kind, location) "
          "SELECT 'v' || i, 'karaoke', 'SRID=4326;POINT(113.3 23.1)' "
          "FROM generate_series(1, 5) i")
        self.assertEqual(self.generation("venues"), before + 1)
        self.assertEqual(q("SELECT count(*) FROM audit_log WHERE target = 'venues' "
                           "AND action = 'insert' AND after->>'name' ~ '^v[1-5]$'"), "5")

    def test_actor_from_transaction_setting(self):
        sid = q(f"INSERT INTO schools (name, kind, perimeter) "
                f"VALUES ('alice school', 'primary', {SQUARE}) RETURNING id")
        out = q(f"""
            BEGIN;
            SET LOCAL patrolgis.actor = 'user:alice';
            SET LOCAL patrolgis.request_id = 'req-42';
            SET LOCAL patrolgis.remote_addr = '192.0.2.7';
            UPDATE schools SET name = 'alice school 2', remote = true WHERE id = {sid};
            COMMIT;
            SELECT actor, request_id, remote_addr, before->>'name', after->>'name',
                   after->>'remote', target_id
              FROM audit_log WHERE target = 'schools' ORDER BY id DESC LIMIT 1;
            -- same session, after the transaction: the setting reads '' and must not be used
            UPDATE schools SET address = 'somewhere' WHERE id = {sid};
            SELECT actor, coalesce(request_id, '-') FROM audit_log
             WHERE target = 'schools' ORDER BY id DESC LIMIT 1;
        """)
        first, second = out.splitlines()
        self.assertEqual(first, f"user:alice|req-42|192.0.2.7|alice school|alice school 2|true|{sid}")
        self.assertEqual(second, "sql:postgres|-")

    def test_updated_at_trigger(self):
        sid = q(f"INSERT INTO schools (name, kind, perimeter, created_at, updated_at) "
                f"VALUES ('old', 'primary', {SQUARE}, '2000-01-01Z', '2000-01-01Z') RETURNING id")
        q(f"UPDATE schools SET name = 'touched', updated_at = '2001-01-01Z' WHERE id = {sid}")
        self.assertEqual(q(f"SELECT updated_at > now() - interval '1 minute', "
                           f"created_at = '2000-01-01Z' FROM schools WHERE id = {sid}"), "t|t")

    def test_delete_and_truncate_audited(self):
        vid = q("INSERT INTO stations (name, location) "
                "VALUES ('station', 'SRID=4326;POINT(113.3 23.1)') RETURNING id")
        q(f"DELETE FROM stations WHERE id = {vid}")
        actor, action, _, old, new = self.last_audit("stations")
        self.assertEqual((actor, action, new), ("sql:postgres", "delete", ""))
        self.assertIn('"name": "station"', old)
        before = self.generation("stations")
        q("TRUNCATE stations")
        self.assertEqual(self.generation("stations"), before + 1)
        self.assertEqual(self.last_audit("stations")[1], "truncate")

    def test_cascade_point_deletes_windows(self):
        pid = q("INSERT INTO patrol_points (name, kind, location) "
                "VALUES ('tmp', 'route', 'SRID=4326;POINT(113.3 23.1)') RETURNING id")
        q(f"INSERT INTO patrol_windows (point_id, name, start_local, end_local) "
          f"VALUES ({pid}, 'w', '16:00', '17:00')")
        gen = self.generation("patrol_windows")
        q(f"DELETE FROM patrol_points WHERE id = {pid}")
        self.assertEqual(q(f"SELECT count(*) FROM patrol_windows WHERE point_id = {pid}"), "0")
        self.assertEqual(self.generation("patrol_windows"), gen + 1)

    def test_secrets_never_audited(self):
        q(f"""
            INSERT INTO users (name, role, password_hash)
            VALUES ('hashuser', 'editor', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA');
            UPDATE users SET password_hash = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$bmV3'
             WHERE name = 'hashuser';
            INSERT INTO devices (name, kind, ident_hash, jt808_terminal, jt808_auth_hash)
            VALUES ('hashcar', 'jt808', sha256('imei-1'), '013800000001', sha256('auth'));
            INSERT INTO tokens (user_id, token_hash, label)
            VALUES ((SELECT id FROM users WHERE name = 'hashuser'), sha256('tok-1'), 'web');
            INSERT INTO tokens (device_id, token_hash)
            VALUES ((SELECT id FROM devices WHERE name = 'hashcar'), sha256('tok-2'));
            UPDATE tokens SET revoked_at = now() WHERE token_hash = sha256('tok-1');
            DELETE FROM tokens WHERE token_hash = sha256('tok-2');
            DELETE FROM devices WHERE name = 'hashcar';
        """)
        self.assertEqual(q("SELECT count(*) FROM audit_log WHERE target = 'tokens'"
                           " AND after->>'label' = 'web'"), "2")  # insert + revoke
        leaked = q("""
            SELECT count(*) FROM audit_log
             WHERE target IN ('users', 'devices', 'tokens')
               AND (before ?| array['password_hash', 'ident_hash', 'jt808_auth_hash',
                                    'token_hash']
                    OR after ?| array['password_hash', 'ident_hash', 'jt808_auth_hash',
                                      'token_hash'])""")
        self.assertEqual(leaked, "0")
        for secret in ("sha256('imei-1')", "sha256('auth')", "sha256('tok-1')",
                       "sha256('tok-2')"):
            self.assertEqual(q(f"SELECT count(*) FROM audit_log WHERE "
                               f"concat(before, after) LIKE '%' || encode({secret}, 'hex') || '%'"),
                             "0", secret)
        self.assertEqual(q("SELECT count(*) FROM audit_log WHERE concat(before, after, detail) "
                           "LIKE '%argon2id%'"), "0")
        self.assertEqual(q("SELECT detail FROM audit_log WHERE target = 'users' "
                           "AND action = 'update' ORDER BY id DESC LIMIT 1"),
                         "changed: password_hash")
        # last_used_at bookkeeping alone is not audited, a real change is
        n = q("SELECT count(*) FROM audit_log WHERE target = 'tokens'")
        q("UPDATE tokens SET last_used_at = now() WHERE token_hash = sha256('tok-1')")
        self.assertEqual(q("SELECT count(*) FROM audit_log WHERE target = 'tokens'"), n)
        q("UPDATE tokens SET label = 'web2', last_used_at = now() "
          "WHERE token_hash = sha256('tok-1')")
        self.assertEqual(int(q("SELECT count(*) FROM audit_log WHERE target = 'tokens'")),
                         int(n) + 1)

    # -- positions ------------------------------------------------------------------------

    def test_initial_partitions(self):
        expected = q("""
            SELECT string_agg('positions_p' || to_char(m, 'YYYYMM'), ',' ORDER BY m)
              FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC')
                                       - interval '1 month',
                                   date_trunc('month', now() AT TIME ZONE 'UTC')
                                       + interval '2 months', interval '1 month') m""")
        for part in expected.split(","):
            self.assertEqual(q(f"SELECT to_regclass('{part}') IS NOT NULL"), "t", part)

    def test_positions_partitions_and_retention(self):
        dev = self.device
        pt = "'SRID=4326;POINT(113.3 23.1)'"
        # next month inserts (partition made by the migration)
        q(f"INSERT INTO positions (device_id, fix_time, geom, source) VALUES ({dev}, "
          f"(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month 3 days') "
          f"AT TIME ZONE 'UTC', {pt}, 'json')")
        # far outside any partition: refused
        self.refused(f"INSERT INTO positions (device_id, fix_time, geom, source) "
                     f"VALUES ({dev}, '1990-05-05Z', {pt}, 'gpx')",
                     'no partition of relation "positions" found for row')
        # ensure: months of the range, idempotent
        self.assertEqual(q("SELECT positions_ensure_partitions('2019-01-10', '2019-03-20')"), "3")
        self.assertEqual(q("SELECT positions_ensure_partitions('2019-01-01', '2019-03-01')"), "0")
        self.refused("SELECT positions_ensure_partitions('2019-03-01', '2019-01-01')",
                     "is after")
        self.assertEqual(q("SELECT relname FROM pg_class WHERE relname ~ '^positions_p2019' "
                           "AND relkind = 'r' ORDER BY 1"),
                         "positions_p201901\npositions_p201902\npositions_p201903")
        # UTC month boundaries (printed in the session's zone, which is the cluster's: the
        # host's TZ when initdb ran, so say UTC here)
        self.assertEqual(q("SET TimeZone = 'UTC'; SELECT pg_get_expr(relpartbound, oid) "
                           "FROM pg_class WHERE relname = 'positions_p201902'"),
                         "FOR VALUES FROM ('2019-02-01 00:00:00+00') TO ('2019-03-01 00:00:00+00')")
        q(f"INSERT INTO positions (device_id, fix_time, geom, source) VALUES "
          f"({dev}, '2019-01-31 23:59:59Z', {pt}, 'gpx'), "
          f"({dev}, '2019-02-01 00:00:00Z', {pt}, 'gpx'), "
          f"({dev}, '2019-03-15 00:00:00Z', {pt}, 'gpx')")
        self.assertEqual(q("SELECT tableoid::regclass, count(*) FROM positions "
                           "WHERE fix_time < '2019-04-01Z' GROUP BY 1 ORDER BY 1"),
                         "positions_p201901|1\npositions_p201902|1\npositions_p201903|1")
        # duplicate (device_id, fix_time) refused
        self.refused(f"INSERT INTO positions (device_id, fix_time, geom, source) "
                     f"VALUES ({dev}, '2019-02-01 00:00:00Z', {pt}, 'jt808')",
                     "duplicate key value violates unique constraint")
        # ... but the same time for another device is fine
        q(f"INSERT INTO positions (device_id, fix_time, geom, source) "
          f"VALUES ({dev + 1000}, '2019-02-01 00:00:00Z', {pt}, 'jt808')")
        # retention: only partitions entirely before the date go
        self.assertEqual(q("SELECT positions_drop_before('2019-03-01')"), "2")
        self.assertEqual(q("SELECT positions_drop_before('2019-03-31')"), "0")
        self.assertEqual(q("SELECT relname FROM pg_class WHERE relname ~ '^positions_p2019' "
                           "AND relkind = 'r'"), "positions_p201903")
        self.assertEqual(q("SELECT count(*) FROM positions WHERE fix_time < '2019-04-01Z'"),
                         "1")
        self.assertEqual(q("SELECT positions_drop_before('2019-04-01')"), "1")
        # the current partitions are untouched
        self.assertEqual(q("SELECT count(*) FROM positions"), "1")

    def test_partition_functions_ignore_session_zone_and_datestyle(self):
        # patrold sets TimeZone (Asia/Shanghai) per connection; bounds stay UTC months
        out = q("""
            SET TimeZone = 'Asia/Shanghai';
            SET DateStyle = 'SQL, DMY';
            SELECT positions_ensure_partitions('2018-05-31', '2018-06-01');
            SELECT positions_drop_before('2018-06-01');
            SELECT string_agg(relname, ',') FROM pg_class
             WHERE relname ~ '^positions_p2018' AND relkind = 'r';
            SELECT positions_drop_before('2018-07-01');
        """)
        self.assertEqual(out.splitlines(), ["2", "1", "positions_p201806", "1"])

    def test_tracking_uniques(self):
        dev, p, w = self.device, self.point, self.window
        q(f"INSERT INTO visits (device_id, point_id, enter_at, exit_at, dwell_s, min_dist_m) "
          f"VALUES ({dev}, {p}, '2025-03-03 07:10+08', '2025-03-03 07:15+08', 300, 4.5)")
        self.refused(f"INSERT INTO visits (device_id, point_id, enter_at) "
                     f"VALUES ({dev}, {p}, '2025-03-03 07:10+08')", "visits_unique")
        q(f"INSERT INTO checkins (point_id, window_id, local_date, status, visit_ids, first_at) "
          f"VALUES ({p}, {w}, '2025-03-03', 'done', "
          f"ARRAY(SELECT id FROM visits WHERE device_id = {dev}), '2025-03-03 07:10+08')")
        self.refused(f"INSERT INTO checkins (point_id, window_id, local_date) "
                     f"VALUES ({p}, {w}, '2025-03-03')", "checkins_unique")
        q(f"INSERT INTO device_latest (device_id, fix_time, geom) "
          f"VALUES ({dev}, now(), 'SRID=4326;POINT(113.3 23.1)')")
        self.refused(f"INSERT INTO device_latest (device_id, fix_time, geom) "
                     f"VALUES ({dev}, now(), 'SRID=4326;POINT(113.3 23.1)')", "device_latest_pkey")
        q(f"INSERT INTO events (at, kind, device_id, point_id, zone_layer, zone_id, payload) "
          f"VALUES (now(), 'zone_enter', {dev}, {p}, 'waters', 1, '{{\"d\": 3}}')")


if __name__ == "__main__":
    harness.main()

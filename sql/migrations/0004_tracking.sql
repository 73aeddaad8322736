-- 0004_tracking.sql
--
-- What ingestion and the check-in engine write: positions (partitioned by month), the latest
-- fix per device, visits, check-ins and events. Plus the partition maintenance functions
-- positions_ensure_partitions() and positions_drop_before(). Not audited and not layers: these
-- tables are written by the server at device rate.
--
-- Partitions are UTC calendar months: positions_pYYYYMM holds fix_time in
-- [YYYY-MM-01 00:00 UTC, next month 00:00 UTC). There is no default partition: a fix outside
-- every partition is refused, so ingestion validates fix times and the server creates
-- partitions ahead.

-- ---------------------------------------------------------------------------------------------
-- positions
-- ---------------------------------------------------------------------------------------------

CREATE TABLE positions (
    device_id   bigint NOT NULL,
    fix_time    timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    geom        geometry(Point, 4326) NOT NULL CHECK (patrolgis_in_lonlat_range(geom)),
    speed_kmh   real,
    heading     real,
    accuracy_m  real,
    altitude_m  real,
    source      text NOT NULL CHECK (source IN ('osmand', 'json', 'protobuf', 'gpx', 'jt808')),
    src_crs     text NOT NULL DEFAULT 'wgs84',
    -- 1 outlier speed, 2 poor accuracy, 4 zero fix, 8 invalid by device
    flags       integer NOT NULL DEFAULT 0 CHECK (flags >= 0),
    PRIMARY KEY (device_id, fix_time)
) PARTITION BY RANGE (fix_time);

CREATE INDEX positions_geom_gix ON positions USING gist (geom);
CREATE INDEX positions_fix_time_brin ON positions USING brin (fix_time);

COMMENT ON TABLE positions IS
    'GPS fixes, one partition per UTC month (positions_pYYYYMM); unique per (device, fix time)';

-- Create the monthly partitions covering the months of p_from .. p_to (both included).
-- Idempotent; returns how many partitions it created. Serialised by an advisory lock so that
-- two callers do not race on the same month.
CREATE FUNCTION positions_ensure_partitions(p_from date, p_to date) RETURNS integer
    LANGUAGE plpgsql
    SET datestyle = 'ISO, YMD' -- bounds are written and read back as ISO text
AS $$
DECLARE
    sch     name;
    m       date;
    last_m  date;
    part    text;
    created integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        RAISE EXCEPTION 'positions_ensure_partitions: dates must not be NULL';
    END IF;
    m := make_date(extract(year FROM p_from)::int, extract(month FROM p_from)::int, 1);
    last_m := make_date(extract(year FROM p_to)::int, extract(month FROM p_to)::int, 1);
    IF last_m < m THEN
        RAISE EXCEPTION 'positions_ensure_partitions: from % is after to %', p_from, p_to;
    END IF;
    IF last_m > (m + interval '10 years')::date THEN
        RAISE EXCEPTION 'positions_ensure_partitions: % .. % spans more than 10 years',
            p_from, p_to;
    END IF;

    SELECT n.nspname INTO sch
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = 'positions'::regclass;

    PERFORM pg_advisory_xact_lock(hashtext('patrolgis.positions_partitions'));

    WHILE m <= last_m LOOP
        part := 'positions_p' || to_char(m, 'YYYYMM');
        IF to_regclass(format('%I.%I', sch, part)) IS NULL THEN
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.positions '
                           'FOR VALUES FROM (%L) TO (%L)',
                           sch, part, sch,
                           m::text || ' 00:00:00+00',
                           (m + interval '1 month')::date::text || ' 00:00:00+00');
            created := created + 1;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
    RETURN created;
END;
$$;

COMMENT ON FUNCTION positions_ensure_partitions(date, date) IS
    'create positions_pYYYYMM for every month from..to (inclusive); returns the number created';

-- Drop every partition of positions that lies entirely before p_before (00:00 UTC), whatever
-- its name: its upper bound is read from the catalog. Returns how many were dropped.
CREATE FUNCTION positions_drop_before(p_before date) RETURNS integer
    LANGUAGE plpgsql
    SET datestyle = 'ISO, YMD' -- bounds are written and read back as ISO text
AS $$
DECLARE
    cutoff  timestamptz;
    r       record;
    dropped integer := 0;
BEGIN
    IF p_before IS NULL THEN
        RAISE EXCEPTION 'positions_drop_before: date must not be NULL';
    END IF;
    cutoff := (p_before::text || ' 00:00:00+00')::timestamptz;

    PERFORM pg_advisory_xact_lock(hashtext('patrolgis.positions_partitions'));

    FOR r IN
        SELECT c.oid::regclass AS part,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                             'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'positions'::regclass
         ORDER BY 2
    LOOP
        -- MAXVALUE and DEFAULT bounds give NULL: never dropped
        IF r.upper_bound IS NOT NULL AND r.upper_bound <= cutoff THEN
            EXECUTE format('DROP TABLE %s', r.part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END;
$$;

COMMENT ON FUNCTION positions_drop_before(date) IS
    'drop the positions partitions that end at or before the date (00:00 UTC); returns the count';

-- Partitions for last month .. two months ahead; the server keeps creating them ahead.
SELECT positions_ensure_partitions(
    (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month')::date,
    (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months')::date);

-- ---------------------------------------------------------------------------------------------
-- device_latest: the newest fix of each device (live map)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE device_latest (
    device_id  bigint PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
    fix_time   timestamptz NOT NULL,
    geom       geometry(Point, 4326) NOT NULL CHECK (patrolgis_in_lonlat_range(geom)),
    speed_kmh  real,
    heading    real,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX device_latest_geom_gix ON device_latest USING gist (geom);
CREATE INDEX device_latest_fix_time_idx ON device_latest (fix_time);

SELECT patrolgis_touch_attach('device_latest');

-- ---------------------------------------------------------------------------------------------
-- visits: a device within radius of a patrol point (exit_at NULL = still there)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE visits (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    device_id  bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    point_id   bigint NOT NULL REFERENCES patrol_points ON DELETE CASCADE,
    enter_at   timestamptz NOT NULL,
    exit_at    timestamptz,
    dwell_s    double precision NOT NULL DEFAULT 0 CHECK (dwell_s >= 0),
    min_dist_m double precision CHECK (min_dist_m >= 0),
    CONSTRAINT visits_order CHECK (exit_at >= enter_at),
    CONSTRAINT visits_unique UNIQUE (device_id, point_id, enter_at)
);

CREATE INDEX visits_point_id_idx ON visits (point_id, enter_at);
CREATE INDEX visits_enter_at_idx ON visits (enter_at);

-- ---------------------------------------------------------------------------------------------
-- checkins: one per patrol window and local date
-- ---------------------------------------------------------------------------------------------

CREATE TABLE checkins (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    point_id   bigint NOT NULL REFERENCES patrol_points ON DELETE CASCADE,
    window_id  bigint NOT NULL REFERENCES patrol_windows ON DELETE CASCADE,
    local_date date NOT NULL,
    status     text NOT NULL DEFAULT 'pending'
               CHECK (status IN ('done', 'late', 'missed', 'pending')),
    visit_ids  bigint[] NOT NULL DEFAULT '{}',
    first_at   timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT checkins_unique UNIQUE (window_id, local_date)
);

CREATE INDEX checkins_point_id_idx ON checkins (point_id, local_date);
CREATE INDEX checkins_local_date_idx ON checkins (local_date, status);

SELECT patrolgis_touch_attach('checkins');

-- ---------------------------------------------------------------------------------------------
-- events: zone enter/exit and other happenings (history: survives its device or point)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE events (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    kind       text NOT NULL CHECK (kind <> ''),
    device_id  bigint REFERENCES devices ON DELETE SET NULL,
    point_id   bigint REFERENCES patrol_points ON DELETE SET NULL,
    zone_layer text,
    zone_id    bigint,
    payload    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_zone_pair CHECK ((zone_layer IS NULL) = (zone_id IS NULL))
);

CREATE INDEX events_at_idx ON events (at);
CREATE INDEX events_kind_idx ON events (kind, at);
CREATE INDEX events_device_id_idx ON events (device_id, at);
CREATE INDEX events_point_id_idx ON events (point_id, at);
CREATE INDEX events_zone_idx ON events (zone_layer, zone_id, at);

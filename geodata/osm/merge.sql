-- geodata/osm/merge.sql: move the OSM staging tables (schema osm_import, written by osm2pgsql
-- with geodata/osm/patrolgis.lua) into the layer tables schools, stations, waters and roads.
--
-- Run by geodata/import-osm as ONE transaction (psql --single-transaction -v ON_ERROR_STOP=1);
-- needs migration 0005_osm_import (osm_type columns, unique keys of imported rows).
--
-- Semantics (see geodata/README.md, "Importing OpenStreetMap"):
-- * Only rows with source = 'osm' are touched. Hand-made ('manual') and demo rows never are.
-- * An imported row is identified by (osm_type, osm_id) (roads: osm_id). A row whose OSM object
--   is still there is UPDATEd IN PLACE (its id stays), and only when something changed (no
--   audit noise, no layer generation bump for an identical re-import); new objects are
--   INSERTed; rows whose object is gone are DELETEd, except when something references them
--   (patrol points, inspections: ON DELETE RESTRICT): those stay, get props.osm_missing = true
--   and a WARNING.
-- * An object that is in the file but whose geometry cannot be built this time (a broken or,
--   in a clipped extract, incomplete multipolygon) does not count as gone: an existing row
--   keeps its last good geometry; a new one is skipped (counted, with a WARNING).
-- * The import owns only some columns, the ones that come from OSM: name, kind, geometry,
--   address (schools), phone (stations), from_node, and its own props keys (osm, kind_rule,
--   name_zh, name_en, address, repaired, unnamed, buffer_m, missing_nodes, osm_missing).
--   Local columns (boarding, remote, contacts, key periods, risk level, season...) and any
--   other props key are set on insert (defaults) and then left to the editors. An editor can
--   pin an OSM-owned column too: props.osm_keep = ["name", "kind", ...] (column names; "geom"
--   for roads covers node_ids as well).
-- * Geometry: every stored geometry is valid and of the column's type. Invalid polygons are
--   repaired with ST_MakeValid (polygonal part) and flagged props.repaired = true (osm2pgsql
--   builds no area from a self-intersecting closed way: such a way is rebuilt here from its
--   node locations first; a broken multipolygon relation is skipped with a WARNING); school
--   nodes become a 30 m circle (from_node = true, props.buffer_m = 30); police areas become
--   their ST_PointOnSurface; roads are built from the node locations so that node_ids holds
--   exactly one node per vertex.
--
-- Output (stdout): one line per figure, "layer<TAB>metric<TAB>value"; WARNINGs on stderr.
-- psql variable keep_staging (set it to anything) keeps the schema osm_import afterwards;
-- otherwise it is dropped at the end.

SET LOCAL client_min_messages = warning;  -- ST_IsValid's NOTICEs; our WARNINGs still show
SELECT set_config('patrolgis.request_id', 'import-osm', true) \g /dev/null

-- One import at a time, and no edit of these layers slips in between our reads and writes.
LOCK TABLE schools, stations, waters, roads IN SHARE ROW EXCLUSIVE MODE;

DO $$
BEGIN
    IF to_regclass('osm_import.schools') IS NULL OR to_regclass('osm_import.roads') IS NULL
       OR to_regclass('osm_import.planet_osm_nodes') IS NULL THEN
        RAISE EXCEPTION 'merge.sql: the staging tables osm_import.* are missing'
            USING HINT = 'run geodata/import-osm, which runs osm2pgsql first';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_attribute
                    WHERE attrelid = 'schools'::regclass AND attname = 'osm_type'
                      AND NOT attisdropped) THEN
        RAISE EXCEPTION 'merge.sql: schools.osm_type is missing'
            USING HINT = 'apply sql/migrations up to 0005_osm_import (patrold migrate)';
    END IF;
END
$$;

CREATE TEMP TABLE osm_report (
    ord    serial,
    layer  text NOT NULL,
    metric text NOT NULL,
    value  bigint NOT NULL
) ON COMMIT DROP;

-- ---------------------------------------------------------------------------------------------
-- Helpers (session-local)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.osm_type_name(t text) RETURNS text
    LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE t WHEN 'N' THEN 'node' WHEN 'W' THEN 'way' WHEN 'R' THEN 'relation' END $$;

-- The props keys that belong to the import: replaced on every import, all others kept.
CREATE FUNCTION pg_temp.osm_props(old jsonb, fresh jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT (coalesce(old, '{}')
            - ARRAY['osm', 'kind_rule', 'name_zh', 'name_en', 'address', 'repaired', 'unnamed',
                    'buffer_m', 'missing_nodes', 'osm_missing'])
           || jsonb_strip_nulls(fresh)
$$;

-- Does the row pin this column (props.osm_keep = ["col", ...])?
CREATE FUNCTION pg_temp.osm_keeps(props jsonb, col text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
AS $$ SELECT coalesce(jsonb_typeof(props -> 'osm_keep') = 'array' AND props -> 'osm_keep' ? col,
                      false) $$;

-- A polygonal OSM geometry made valid: NULL when nothing polygonal is left.
CREATE FUNCTION pg_temp.osm_valid_area(g geometry) RETURNS geometry
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE
        WHEN g IS NULL OR ST_IsEmpty(g) THEN NULL
        WHEN ST_IsValid(g) THEN g
        ELSE (SELECT CASE WHEN ST_IsEmpty(v) THEN NULL ELSE v END
                FROM (SELECT ST_CollectionExtract(ST_MakeValid(g), 3) AS v) x)
    END
$$;

-- The polygon of a closed way, from its node locations (osm2pgsql's middle table), for the areas
-- osm2pgsql refuses to build (a self-intersecting ring). Nodes missing from the extract and
-- consecutive duplicates are left out; NULL unless a closed ring of 4+ points remains. The result
-- may be invalid: it goes through osm_valid_area.
CREATE FUNCTION pg_temp.osm_way_ring(nodes bigint[]) RETURNS geometry
    LANGUAGE sql STABLE
AS $$
    WITH p AS (
        SELECT o.ord, n.lon, n.lat
          FROM unnest(nodes) WITH ORDINALITY AS o (nid, ord)
          JOIN osm_import.planet_osm_nodes n ON n.id = o.nid
    ), d AS (
        SELECT ord, lon, lat,
               (lon, lat) IS DISTINCT FROM (lag(lon) OVER w, lag(lat) OVER w) AS moves
          FROM p
        WINDOW w AS (ORDER BY ord)
    ), l AS (
        SELECT ST_SetSRID(ST_MakeLine(ST_MakePoint(lon::float8 / 10000000::float8,
                                                   lat::float8 / 10000000::float8)
                                      ORDER BY ord), 4326) AS line,
               count(*) AS n
          FROM d
         WHERE moves
    )
    SELECT CASE WHEN n >= 4 AND ST_IsClosed(line) THEN ST_MakePolygon(line) END FROM l
$$;

-- Delete the given rows of tbl. Rows that something references (a RESTRICT foreign key) stay;
-- their ids are returned. One statement when nothing is referenced, else row by row.
CREATE FUNCTION pg_temp.osm_delete(tbl regclass, ids bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql
AS $$
DECLARE
    kept bigint[] := '{}';
    one  bigint;
BEGIN
    IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN kept;
    END IF;
    BEGIN
        EXECUTE format('DELETE FROM %s WHERE id = ANY ($1)', tbl) USING ids;
        RETURN kept;
    EXCEPTION WHEN foreign_key_violation THEN
        NULL; -- some are referenced: find out which
    END;
    FOREACH one IN ARRAY ids LOOP
        BEGIN
            EXECUTE format('DELETE FROM %s WHERE id = $1', tbl) USING one;
        EXCEPTION WHEN foreign_key_violation THEN
            kept := kept || one;
        END;
    END LOOP;
    RETURN kept;
END
$$;

-- Vanished rows of a layer: delete, or keep + flag + warn when referenced. Reports both.
CREATE FUNCTION pg_temp.osm_remove_vanished(tbl regclass, layer text, ids bigint[]) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    kept bigint[];
    r    record;
BEGIN
    kept := pg_temp.osm_delete(tbl, ids);
    INSERT INTO osm_report (layer, metric, value)
    VALUES (layer, 'deleted', coalesce(cardinality(ids), 0) - cardinality(kept)),
           (layer, 'kept_referenced', cardinality(kept));
    IF cardinality(kept) > 0 THEN
        -- flag them (once: no statement at all when all are flagged already)
        EXECUTE format('SELECT coalesce(array_agg(id), ''{}'') FROM %s
                         WHERE id = ANY ($1) AND NOT props ? ''osm_missing''', tbl)
           INTO ids USING kept;
        IF cardinality(ids) > 0 THEN
            EXECUTE format('UPDATE %s SET props = props || ''{"osm_missing": true}''
                             WHERE id = ANY ($1)', tbl) USING ids;
        END IF;
        FOR r IN EXECUTE format('SELECT id, name, osm_id FROM %s WHERE id = ANY ($1) ORDER BY id',
                                tbl) USING kept LOOP
            RAISE WARNING 'import-osm: % id % "%" (OSM id %) is no longer in OSM but is referenced; kept with props.osm_missing',
                layer, r.id, r.name, r.osm_id;
        END LOOP;
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Schools
-- ---------------------------------------------------------------------------------------------

CREATE TEMP TABLE st_schools ON COMMIT DROP AS
WITH src AS (
    SELECT pg_temp.osm_type_name(osm_type) AS osm_type, osm_id, name, kind, kind_rule, address,
           tags, geom,
           CASE WHEN geom IS NULL AND nodes IS NOT NULL THEN pg_temp.osm_way_ring(nodes) END
               AS ring
      FROM osm_import.schools
), g AS (
    SELECT s.*,
           (s.osm_type = 'node') AS from_node,
           CASE WHEN s.osm_type = 'node'
                    THEN ST_Multi(ST_Buffer(s.geom::geography, 30)::geometry)
                ELSE ST_Multi(pg_temp.osm_valid_area(coalesce(s.geom, s.ring)))
           END AS perimeter,
           (s.osm_type <> 'node' AND (s.ring IS NOT NULL OR NOT ST_IsValid(s.geom)))
               AS repaired
      FROM src s
)
SELECT osm_type, osm_id, kind, from_node, perimeter, repaired, address, tags,
       coalesce(name, CASE kind WHEN 'kindergarten' THEN '未命名幼儿园' ELSE '未命名学校' END)
           AS name,
       jsonb_build_object(
           'osm', jsonb_build_object('type', osm_type, 'id', osm_id, 'tags', tags),
           'kind_rule', kind_rule,
           'name_zh', tags ->> 'name:zh',
           'name_en', tags ->> 'name:en',
           'repaired', CASE WHEN repaired THEN true END,
           'unnamed', CASE WHEN name IS NULL THEN true END,
           'buffer_m', CASE WHEN from_node THEN 30 END) AS props
  FROM g;

CREATE UNIQUE INDEX ON st_schools (osm_type, osm_id);

INSERT INTO osm_report (layer, metric, value)
SELECT 'schools', 'skipped_no_geometry', count(*) FROM st_schools WHERE perimeter IS NULL;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT s.* FROM st_schools s
              WHERE s.perimeter IS NULL
                AND NOT EXISTS (SELECT 1 FROM schools t
                                 WHERE t.source = 'osm' AND t.osm_type = s.osm_type
                                   AND t.osm_id = s.osm_id)
              ORDER BY s.osm_type, s.osm_id LOOP
        RAISE WARNING 'import-osm: school "%" (OSM % %) has no usable geometry (unclosed way or incomplete multipolygon): skipped',
            r.name, r.osm_type, r.osm_id;
    END LOOP;
END
$$;

-- The rows to change (only those that differ) and the rows to add. The writes only run when
-- there is something to write: a statement, even one that changes no row, fires the layer
-- trigger (generation bump, NOTIFY), and an identical re-import should not.
CREATE TEMP TABLE up_schools ON COMMIT DROP AS
WITH m AS (
    SELECT t.id,
           CASE WHEN pg_temp.osm_keeps(t.props, 'name') THEN t.name ELSE s.name END AS name,
           CASE WHEN pg_temp.osm_keeps(t.props, 'kind') THEN t.kind ELSE s.kind END AS kind,
           CASE WHEN pg_temp.osm_keeps(t.props, 'perimeter') THEN t.perimeter
                ELSE s.perimeter END AS perimeter,
           CASE WHEN pg_temp.osm_keeps(t.props, 'perimeter') THEN t.from_node
                ELSE s.from_node END AS from_node,
           CASE WHEN pg_temp.osm_keeps(t.props, 'address') THEN t.address
                ELSE s.address END AS address,
           pg_temp.osm_props(t.props, s.props) AS props
      FROM schools t
      JOIN st_schools s ON t.source = 'osm' AND t.osm_type = s.osm_type AND t.osm_id = s.osm_id
     WHERE s.perimeter IS NOT NULL
)
SELECT m.*
  FROM m JOIN schools t ON t.id = m.id
 WHERE (t.name, t.kind, ST_AsEWKB(t.perimeter), t.from_node, t.address, t.props)
       IS DISTINCT FROM
       (m.name, m.kind, ST_AsEWKB(m.perimeter), m.from_node, m.address, m.props);

CREATE TEMP TABLE in_schools ON COMMIT DROP AS
SELECT s.*
  FROM st_schools s
 WHERE s.perimeter IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM schools t
                    WHERE t.source = 'osm' AND t.osm_type = s.osm_type AND t.osm_id = s.osm_id);

INSERT INTO osm_report (layer, metric, value)
SELECT 'schools', 'updated', count(*) FROM up_schools
UNION ALL SELECT 'schools', 'inserted', count(*) FROM in_schools;

SELECT EXISTS (SELECT 1 FROM up_schools) AS go \gset
\if :go
UPDATE schools t
   SET name = m.name, kind = m.kind, perimeter = m.perimeter, from_node = m.from_node,
       address = m.address, props = m.props
  FROM up_schools m
 WHERE t.id = m.id;
\endif

SELECT EXISTS (SELECT 1 FROM in_schools) AS go \gset
\if :go
INSERT INTO schools (name, kind, perimeter, address, source, osm_type, osm_id, from_node, props)
SELECT name, kind, perimeter, address, 'osm', osm_type, osm_id, from_node,
       pg_temp.osm_props('{}', props)
  FROM in_schools
 ORDER BY osm_type, osm_id;
\endif

SELECT pg_temp.osm_remove_vanished('schools', 'schools', (
    SELECT coalesce(array_agg(t.id ORDER BY t.id), '{}')
      FROM schools t
     WHERE t.source = 'osm' AND t.osm_type IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM st_schools s
                        WHERE s.osm_type = t.osm_type AND s.osm_id = t.osm_id))) \g /dev/null

-- ---------------------------------------------------------------------------------------------
-- Stations (police): a point; areas and ways give their point on surface
-- ---------------------------------------------------------------------------------------------

CREATE TEMP TABLE st_stations ON COMMIT DROP AS
WITH src AS (
    SELECT pg_temp.osm_type_name(osm_type) AS osm_type, osm_id, name, kind, phone, address,
           tags,
           coalesce(geom,
                    CASE WHEN nodes IS NOT NULL THEN pg_temp.osm_way_ring(nodes) END) AS geom
      FROM osm_import.stations
), g AS (
    SELECT s.*,
           CASE WHEN s.geom IS NULL OR ST_IsEmpty(s.geom) THEN NULL
                WHEN GeometryType(s.geom) = 'POINT' THEN s.geom
                WHEN ST_Dimension(s.geom) = 2
                    THEN ST_PointOnSurface(pg_temp.osm_valid_area(s.geom))
                ELSE ST_PointOnSurface(s.geom)
           END AS location
      FROM src s
)
SELECT osm_type, osm_id, kind, location, phone, tags,
       coalesce(name, CASE kind WHEN 'patrol_base' THEN '未命名警务室' ELSE '未命名派出所' END)
           AS name,
       jsonb_build_object(
           'osm', jsonb_build_object('type', osm_type, 'id', osm_id, 'tags', tags),
           'name_zh', tags ->> 'name:zh',
           'name_en', tags ->> 'name:en',
           'address', address,
           'unnamed', CASE WHEN name IS NULL THEN true END) AS props
  FROM g;

CREATE UNIQUE INDEX ON st_stations (osm_type, osm_id);

INSERT INTO osm_report (layer, metric, value)
SELECT 'stations', 'skipped_no_geometry', count(*) FROM st_stations WHERE location IS NULL;

CREATE TEMP TABLE up_stations ON COMMIT DROP AS
WITH m AS (
    SELECT t.id,
           CASE WHEN pg_temp.osm_keeps(t.props, 'name') THEN t.name ELSE s.name END AS name,
           CASE WHEN pg_temp.osm_keeps(t.props, 'kind') THEN t.kind ELSE s.kind END AS kind,
           CASE WHEN pg_temp.osm_keeps(t.props, 'location') THEN t.location
                ELSE s.location END AS location,
           CASE WHEN pg_temp.osm_keeps(t.props, 'phone') THEN t.phone ELSE s.phone END AS phone,
           pg_temp.osm_props(t.props, s.props) AS props
      FROM stations t
      JOIN st_stations s ON t.source = 'osm' AND t.osm_type = s.osm_type AND t.osm_id = s.osm_id
     WHERE s.location IS NOT NULL
)
SELECT m.*
  FROM m JOIN stations t ON t.id = m.id
 WHERE (t.name, t.kind, ST_AsEWKB(t.location), t.phone, t.props)
       IS DISTINCT FROM (m.name, m.kind, ST_AsEWKB(m.location), m.phone, m.props);

CREATE TEMP TABLE in_stations ON COMMIT DROP AS
SELECT s.*
  FROM st_stations s
 WHERE s.location IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM stations t
                    WHERE t.source = 'osm' AND t.osm_type = s.osm_type AND t.osm_id = s.osm_id);

INSERT INTO osm_report (layer, metric, value)
SELECT 'stations', 'updated', count(*) FROM up_stations
UNION ALL SELECT 'stations', 'inserted', count(*) FROM in_stations;

SELECT EXISTS (SELECT 1 FROM up_stations) AS go \gset
\if :go
UPDATE stations t
   SET name = m.name, kind = m.kind, location = m.location, phone = m.phone, props = m.props
  FROM up_stations m
 WHERE t.id = m.id;
\endif

SELECT EXISTS (SELECT 1 FROM in_stations) AS go \gset
\if :go
INSERT INTO stations (name, kind, location, phone, source, osm_type, osm_id, props)
SELECT name, kind, location, phone, 'osm', osm_type, osm_id, pg_temp.osm_props('{}', props)
  FROM in_stations
 ORDER BY osm_type, osm_id;
\endif

SELECT pg_temp.osm_remove_vanished('stations', 'stations', (
    SELECT coalesce(array_agg(t.id ORDER BY t.id), '{}')
      FROM stations t
     WHERE t.source = 'osm' AND t.osm_type IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM st_stations s
                        WHERE s.osm_type = t.osm_type AND s.osm_id = t.osm_id))) \g /dev/null

-- ---------------------------------------------------------------------------------------------
-- Waters: areas (Polygon, MultiPolygon when several parts) and lines (LineString)
-- ---------------------------------------------------------------------------------------------

CREATE TEMP TABLE st_waters ON COMMIT DROP AS
WITH src AS (
    SELECT pg_temp.osm_type_name(osm_type) AS osm_type, osm_id, name, kind, kind_rule, is_area,
           tags, geom,
           CASE WHEN geom IS NULL AND nodes IS NOT NULL THEN pg_temp.osm_way_ring(nodes) END
               AS ring
      FROM osm_import.waters
), g AS (
    SELECT s.*,
           CASE WHEN s.is_area THEN pg_temp.osm_valid_area(coalesce(s.geom, s.ring))
                WHEN s.geom IS NULL OR ST_IsEmpty(s.geom) THEN NULL
                WHEN ST_IsValid(s.geom) THEN s.geom  -- a line: invalid only when collapsed
           END AS g0,
           (s.is_area AND (s.ring IS NOT NULL OR NOT ST_IsValid(s.geom))) AS repaired
      FROM src s
), n AS (
    SELECT g.*,
           CASE WHEN g0 IS NOT NULL AND ST_NumGeometries(g0) = 1 AND is_area
                    THEN ST_GeometryN(g0, 1)
                ELSE g0 END AS geom1
      FROM g
), k AS (
    SELECT n.*,
           coalesce(n.kind, CASE WHEN geom1 IS NULL THEN 'pond'
                                 WHEN ST_Area(geom1::geography) < 10000 THEN 'pond'
                                 ELSE 'lake' END) AS kind1,
           CASE WHEN n.kind IS NOT NULL THEN n.kind_rule
                WHEN geom1 IS NULL THEN n.kind_rule
                WHEN ST_Area(geom1::geography) < 10000 THEN 'area<1ha'
                ELSE 'area>=1ha' END AS rule1
      FROM n
)
SELECT osm_type, osm_id, is_area, repaired, tags, geom1 AS geom, kind1 AS kind,
       coalesce(name, '未命名' || CASE kind1 WHEN 'river' THEN '河流' WHEN 'stream' THEN '溪流'
                                            WHEN 'canal' THEN '水渠' WHEN 'pond' THEN '池塘'
                                            WHEN 'lake' THEN '湖泊' WHEN 'reservoir' THEN '水库'
                                            ELSE '水域' END) AS name,
       jsonb_build_object(
           'osm', jsonb_build_object('type', osm_type, 'id', osm_id, 'tags', tags),
           'kind_rule', rule1,
           'name_zh', tags ->> 'name:zh',
           'name_en', tags ->> 'name:en',
           'repaired', CASE WHEN repaired THEN true END,
           'unnamed', CASE WHEN name IS NULL THEN true END) AS props
  FROM k;

CREATE UNIQUE INDEX ON st_waters (osm_type, osm_id);

INSERT INTO osm_report (layer, metric, value)
SELECT 'waters', 'skipped_no_geometry', count(*) FROM st_waters WHERE geom IS NULL;

CREATE TEMP TABLE up_waters ON COMMIT DROP AS
WITH m AS (
    SELECT t.id,
           CASE WHEN pg_temp.osm_keeps(t.props, 'name') THEN t.name ELSE s.name END AS name,
           CASE WHEN pg_temp.osm_keeps(t.props, 'kind') THEN t.kind ELSE s.kind END AS kind,
           CASE WHEN pg_temp.osm_keeps(t.props, 'geom') THEN t.geom ELSE s.geom END AS geom,
           pg_temp.osm_props(t.props, s.props) AS props
      FROM waters t
      JOIN st_waters s ON t.source = 'osm' AND t.osm_type = s.osm_type AND t.osm_id = s.osm_id
     WHERE s.geom IS NOT NULL
)
SELECT m.*
  FROM m JOIN waters t ON t.id = m.id
 WHERE (t.name, t.kind, ST_AsEWKB(t.geom), t.props)
       IS DISTINCT FROM (m.name, m.kind, ST_AsEWKB(m.geom), m.props);

CREATE TEMP TABLE in_waters ON COMMIT DROP AS
SELECT s.*
  FROM st_waters s
 WHERE s.geom IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM waters t
                    WHERE t.source = 'osm' AND t.osm_type = s.osm_type AND t.osm_id = s.osm_id);

INSERT INTO osm_report (layer, metric, value)
SELECT 'waters', 'updated', count(*) FROM up_waters
UNION ALL SELECT 'waters', 'inserted', count(*) FROM in_waters;

SELECT EXISTS (SELECT 1 FROM up_waters) AS go \gset
\if :go
UPDATE waters t
   SET name = m.name, kind = m.kind, geom = m.geom, props = m.props
  FROM up_waters m
 WHERE t.id = m.id;
\endif

-- Risk on insert (editors change it afterwards; the import never does): rivers, lakes and
-- reservoirs 3, everything else the column default 2. Season: the column default.
SELECT EXISTS (SELECT 1 FROM in_waters) AS go \gset
\if :go
INSERT INTO waters (name, kind, geom, risk_level, source, osm_type, osm_id, props)
SELECT name, kind, geom, CASE WHEN kind IN ('river', 'lake', 'reservoir') THEN 3 ELSE 2 END,
       'osm', osm_type, osm_id, pg_temp.osm_props('{}', props)
  FROM in_waters
 ORDER BY osm_type, osm_id;
\endif

SELECT pg_temp.osm_remove_vanished('waters', 'waters', (
    SELECT coalesce(array_agg(t.id ORDER BY t.id), '{}')
      FROM waters t
     WHERE t.source = 'osm' AND t.osm_type IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM st_waters s
                        WHERE s.osm_type = t.osm_type AND s.osm_id = t.osm_id))) \g /dev/null

-- ---------------------------------------------------------------------------------------------
-- Roads: the LineString is built here from the node locations (osm2pgsql's slim middle table),
-- dropping nodes missing from the extract and consecutive nodes at the same location, exactly
-- like osm2pgsql does for its own linestrings, but keeping node_ids in step: one id per vertex.
-- ---------------------------------------------------------------------------------------------

CREATE TEMP TABLE st_road_nodes ON COMMIT DROP AS
SELECT r.osm_id, o.ord, o.nid, n.lon, n.lat
  FROM osm_import.roads r
 CROSS JOIN LATERAL unnest(r.nodes) WITH ORDINALITY AS o (nid, ord)
  LEFT JOIN osm_import.planet_osm_nodes n ON n.id = o.nid;

CREATE TEMP TABLE st_roads ON COMMIT DROP AS
WITH present AS (
    SELECT osm_id, ord, nid, lon, lat,
           (lon, lat) IS DISTINCT FROM (lag(lon) OVER w, lag(lat) OVER w) AS moves
      FROM st_road_nodes
     WHERE lon IS NOT NULL
    WINDOW w AS (PARTITION BY osm_id ORDER BY ord)
), line AS (
    SELECT osm_id,
           array_agg(nid ORDER BY ord) AS node_ids,
           ST_SetSRID(ST_MakeLine(array_agg(
               ST_MakePoint(lon::float8 / 10000000::float8, lat::float8 / 10000000::float8)
               ORDER BY ord)), 4326) AS geom
      FROM present
     WHERE moves
     GROUP BY osm_id
), missing AS (
    SELECT osm_id, count(*) FILTER (WHERE lon IS NULL) AS n
      FROM st_road_nodes
     GROUP BY osm_id
)
SELECT r.osm_id, r.name, r.class, r.oneway, r.speed_kmh, r.tags,
       CASE WHEN cardinality(l.node_ids) >= 2 THEN l.node_ids END AS node_ids,
       CASE WHEN cardinality(l.node_ids) >= 2 THEN l.geom END AS geom,
       jsonb_build_object(
           'osm', jsonb_build_object('type', 'way', 'id', r.osm_id, 'tags', r.tags),
           'name_zh', r.tags ->> 'name:zh',
           'name_en', r.tags ->> 'name:en',
           'missing_nodes', nullif(mi.n, 0)) AS props
  FROM osm_import.roads r
  LEFT JOIN line l USING (osm_id)
  LEFT JOIN missing mi USING (osm_id);

CREATE UNIQUE INDEX ON st_roads (osm_id);

INSERT INTO osm_report (layer, metric, value)
SELECT 'roads', 'skipped_no_geometry', count(*) FROM st_roads WHERE geom IS NULL
UNION ALL
SELECT 'roads', 'with_missing_nodes', count(*) FROM st_roads
 WHERE geom IS NOT NULL AND props ->> 'missing_nodes' IS NOT NULL;

CREATE TEMP TABLE up_roads ON COMMIT DROP AS
WITH m AS (
    SELECT t.id,
           CASE WHEN pg_temp.osm_keeps(t.props, 'name') THEN t.name ELSE s.name END AS name,
           CASE WHEN pg_temp.osm_keeps(t.props, 'class') THEN t.class ELSE s.class END AS class,
           CASE WHEN pg_temp.osm_keeps(t.props, 'oneway') THEN t.oneway
                ELSE s.oneway END AS oneway,
           CASE WHEN pg_temp.osm_keeps(t.props, 'speed_kmh') THEN t.speed_kmh
                ELSE s.speed_kmh END AS speed_kmh,
           CASE WHEN pg_temp.osm_keeps(t.props, 'geom') THEN t.geom ELSE s.geom END AS geom,
           CASE WHEN pg_temp.osm_keeps(t.props, 'geom') THEN t.node_ids
                ELSE s.node_ids END AS node_ids,
           pg_temp.osm_props(t.props, s.props) AS props
      FROM roads t
      JOIN st_roads s ON t.source = 'osm' AND t.osm_id = s.osm_id
     WHERE s.geom IS NOT NULL
)
SELECT m.*
  FROM m JOIN roads t ON t.id = m.id
 WHERE (t.name, t.class, t.oneway, t.speed_kmh, ST_AsEWKB(t.geom), t.node_ids, t.props)
       IS DISTINCT FROM
       (m.name, m.class, m.oneway, m.speed_kmh, ST_AsEWKB(m.geom), m.node_ids, m.props);

CREATE TEMP TABLE in_roads ON COMMIT DROP AS
SELECT s.*
  FROM st_roads s
 WHERE s.geom IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM roads t WHERE t.source = 'osm' AND t.osm_id = s.osm_id);

INSERT INTO osm_report (layer, metric, value)
SELECT 'roads', 'updated', count(*) FROM up_roads
UNION ALL SELECT 'roads', 'inserted', count(*) FROM in_roads;

SELECT EXISTS (SELECT 1 FROM up_roads) AS go \gset
\if :go
UPDATE roads t
   SET name = m.name, class = m.class, oneway = m.oneway, speed_kmh = m.speed_kmh,
       geom = m.geom, node_ids = m.node_ids, props = m.props
  FROM up_roads m
 WHERE t.id = m.id;
\endif

SELECT EXISTS (SELECT 1 FROM in_roads) AS go \gset
\if :go
INSERT INTO roads (name, class, oneway, speed_kmh, geom, node_ids, osm_id, source, props)
SELECT name, class, oneway, speed_kmh, geom, node_ids, osm_id, 'osm',
       pg_temp.osm_props('{}', props)
  FROM in_roads
 ORDER BY osm_id;
\endif

SELECT pg_temp.osm_remove_vanished('roads', 'roads', (
    SELECT coalesce(array_agg(t.id ORDER BY t.id), '{}')
      FROM roads t
     WHERE t.source = 'osm' AND t.osm_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM st_roads s WHERE s.osm_id = t.osm_id))) \g /dev/null

-- ---------------------------------------------------------------------------------------------
-- Check what we leave behind (a failure here rolls the whole import back), then report.
-- ---------------------------------------------------------------------------------------------

DO $$
DECLARE
    bad bigint;
BEGIN
    SELECT count(*) INTO bad FROM (
        SELECT perimeter AS g FROM schools WHERE source = 'osm'
        UNION ALL SELECT location FROM stations WHERE source = 'osm'
        UNION ALL SELECT geom FROM waters WHERE source = 'osm'
        UNION ALL SELECT geom FROM roads WHERE source = 'osm') x
     WHERE NOT ST_IsValid(g) OR ST_IsEmpty(g);
    IF bad > 0 THEN
        RAISE EXCEPTION 'merge.sql: % imported geometries are invalid or empty', bad;
    END IF;
    SELECT count(*) INTO bad FROM roads
     WHERE source = 'osm' AND (node_ids IS NULL OR cardinality(node_ids) <> ST_NPoints(geom));
    IF bad > 0 THEN
        RAISE EXCEPTION 'merge.sql: % imported roads without one node id per vertex', bad;
    END IF;
END
$$;

INSERT INTO osm_report (layer, metric, value)
SELECT 'schools', 'polygons', count(*) FILTER (WHERE NOT from_node) FROM schools
 WHERE source = 'osm'
UNION ALL
SELECT 'schools', 'nodes', count(*) FILTER (WHERE from_node) FROM schools WHERE source = 'osm'
UNION ALL
SELECT 'schools', 'kind_' || k.kind, count(s.id)
  FROM (VALUES ('primary'), ('central_primary'), ('middle'), ('kindergarten'), ('training'))
       AS k (kind)
  LEFT JOIN schools s ON s.kind = k.kind AND s.source = 'osm'
 GROUP BY k.kind
UNION ALL
SELECT 'schools', 'repaired', count(*) FROM schools
 WHERE source = 'osm' AND (props ->> 'repaired')::boolean
UNION ALL
SELECT 'stations', 'total', count(*) FROM stations WHERE source = 'osm'
UNION ALL
SELECT 'waters', 'polygons', count(*) FROM waters
 WHERE source = 'osm' AND ST_Dimension(geom) = 2
UNION ALL
SELECT 'waters', 'lines', count(*) FROM waters WHERE source = 'osm' AND ST_Dimension(geom) = 1
UNION ALL
SELECT 'waters', 'repaired', count(*) FROM waters
 WHERE source = 'osm' AND (props ->> 'repaired')::boolean
UNION ALL
SELECT 'roads', 'ways', count(*) FROM roads WHERE source = 'osm'
UNION ALL
SELECT 'roads', 'km', round(coalesce(sum(ST_Length(geom::geography)), 0) / 1000)::bigint
  FROM roads WHERE source = 'osm';

\if :{?keep_staging}
\else
DROP SCHEMA osm_import CASCADE;
\endif

SELECT layer, metric, value FROM osm_report ORDER BY ord;

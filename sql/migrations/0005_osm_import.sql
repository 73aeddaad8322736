-- 0005_osm_import.sql
--
-- What the OpenStreetMap import (geodata/import-osm, geodata/osm/merge.sql) needs to update
-- imported rows in place instead of deleting and inserting them again (patrol points and
-- inspections reference schools ON DELETE RESTRICT; ids must stay stable across imports).
--
-- * osm_type ('node', 'way', 'relation') on schools, waters and stations: OSM ids are unique
--   per type only, and these layers take objects of several types (a school may be a node, a
--   closed way or a multipolygon relation). roads come from ways only and need no type.
-- * One imported row per OSM object: unique (osm_type, osm_id) among the rows with
--   source = 'osm' (roads: unique osm_id). Rows of other sources may carry any osm_id (a hand
--   drawn school may say which OSM object it was copied from); several NULL ids are fine.

ALTER TABLE schools
    ADD COLUMN osm_type text CHECK (osm_type IN ('node', 'way', 'relation')),
    ADD CONSTRAINT schools_osm_type_needs_id CHECK (osm_type IS NULL OR osm_id IS NOT NULL);

ALTER TABLE waters
    ADD COLUMN osm_type text CHECK (osm_type IN ('node', 'way', 'relation')),
    ADD CONSTRAINT waters_osm_type_needs_id CHECK (osm_type IS NULL OR osm_id IS NOT NULL);

ALTER TABLE stations
    ADD COLUMN osm_type text CHECK (osm_type IN ('node', 'way', 'relation')),
    ADD CONSTRAINT stations_osm_type_needs_id CHECK (osm_type IS NULL OR osm_id IS NOT NULL);

CREATE UNIQUE INDEX schools_osm_key ON schools (osm_type, osm_id) WHERE source = 'osm';
CREATE UNIQUE INDEX waters_osm_key ON waters (osm_type, osm_id) WHERE source = 'osm';
CREATE UNIQUE INDEX stations_osm_key ON stations (osm_type, osm_id) WHERE source = 'osm';
CREATE UNIQUE INDEX roads_osm_key ON roads (osm_id) WHERE source = 'osm';

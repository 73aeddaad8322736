-- 0007_ingest.sql
--
-- The durable hand-over from ingestion to the check-in engine: every committed batch that
-- stored new fixes (or changed the speed flag of stored ones) adds one engine_queue row with
-- the span of fix times it touched, and runs pg_notify('patrolgis_engine', device_id) in the
-- same transaction. The engine's worker consumes (deletes) the rows; a NOTIFY lost while the
-- worker was away is harmless since the rows stay until they are processed.
--
-- Not audited (device rate); not a layer.

CREATE TABLE engine_queue (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    new_from  timestamptz NOT NULL,  -- earliest fix time stored or re-flagged by the batch
    new_to    timestamptz NOT NULL,  -- latest one
    queued_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT engine_queue_span CHECK (new_from <= new_to)
);

CREATE INDEX engine_queue_device_id_idx ON engine_queue (device_id);

COMMENT ON TABLE engine_queue IS
    'spans of fix times per device that the check-in engine must (re)evaluate; '
    'written by ingestion with NOTIFY patrolgis_engine, deleted by the engine';

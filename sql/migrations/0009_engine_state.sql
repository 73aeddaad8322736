-- 0009_engine_state.sql
--
-- What the check-in engine keeps between runs (server/engine.c, docs/engine.md):
--  * engine_state: a few named values that must survive a restart: the digests of the layer
--    contents the engine's results depend on (so that an edit made while patrold was down is
--    still recomputed at start) and the last local day the periodic pass has closed for good
--    (so that days missed during an outage are caught up);
--  * engine_queue.recompute: a row the engine queued itself to recompute a span after a layer
--    edit (not new fixes): its results are corrections, not news, so they announce nothing;
--  * a unique guard so that a window's checkin_resolved event (a missed window that late fixes
--    showed done or late) exists at most once per local date, like checkin_missed.
-- Not audited; not a layer.

CREATE TABLE engine_state (
    name       text PRIMARY KEY CHECK (name <> ''),
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE engine_state IS
    'check-in engine bookkeeping: layer digests (geometry, rules) and the last day the periodic'
    ' pass closed (missed_through)';

ALTER TABLE engine_queue ADD COLUMN recompute boolean NOT NULL DEFAULT false;

CREATE UNIQUE INDEX events_checkin_resolved_once
    ON events ((payload ->> 'window_id'), (payload ->> 'local_date'))
    WHERE kind = 'checkin_resolved';

-- Up Migration
-- The chain is the source of truth, and registry history is the reputation record (DESIGN.md, invariant 8).
--
-- Provenance: every event says who wrote it — 'indexer' (our indexer or a backfill, read from the chain) or 'ingest'
-- (POST /api/v1/ingest/events, with `pushed_by` naming the credential). Rows written before this migration have no
-- recorded source (NULL); the NOT VALID check makes every new row state one without rewriting the append-only log.
-- When the indexer reads a log whose position or key holds a pushed row with other content, the chain wins: the pushed
-- row gets a retraction with reason 'superseded' (so the relay and the triggers see the correction) and the chain's row
-- is appended. Retractions stay append-only; their count by reason is the conflict metric.
ALTER TABLE events
    ADD COLUMN source TEXT CHECK (source IN ('indexer', 'ingest')),
    ADD COLUMN pushed_by TEXT,
    ADD CONSTRAINT events_pushed_by_is_ingest CHECK (pushed_by IS NULL OR source = 'ingest');
ALTER TABLE events ADD CONSTRAINT events_source_recorded CHECK (source IS NOT NULL) NOT VALID;
-- Pushed rows are few: the indexer's conflict check on every write probes only these small indexes.
CREATE INDEX idx_events_pushed_position ON events(chain_id, block_number, log_index) WHERE source = 'ingest';
CREATE INDEX idx_events_pushed_key ON events(chain_id, block_hash, log_index) WHERE source = 'ingest';
-- A view's `e.*` was expanded when it was created: re-expand it so canonical events carry their provenance.
CREATE OR REPLACE VIEW canonical_events AS
SELECT e.* FROM events e
WHERE NOT EXISTS (SELECT 1 FROM event_retractions r WHERE r.event_seq = e.ingest_seq);

ALTER TABLE event_retractions DROP CONSTRAINT event_retractions_reason_check;
ALTER TABLE event_retractions ADD CONSTRAINT event_retractions_reason_check CHECK (reason IN ('reorg', 'manual', 'superseded'));
--
-- Retention: 0006 deleted events older than 365 days of block time every 15 minutes (and, with TimescaleDB, a
-- retention policy dropped their chunks), so a backfill of older history vanished and summaries lost their oldest
-- feedback. Retention is now off unless the operator sets EVENT_RETENTION_DAYS: the maintenance workflow passes that
-- setting to apply_event_retention(), NULL meaning "keep forever". With TimescaleDB the same function drops whole
-- chunks past the limit, so one setting governs both deployments; the policy 0006 added is removed.
DO $$
BEGIN
  IF to_regclass('timescaledb_information.hypertables') IS NOT NULL THEN
    IF EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'events') THEN
      EXECUTE $q$SELECT remove_retention_policy('events', if_exists => true)$q$;
    END IF;
  END IF;
END;
$$;

-- The old signature had a 365-day default: a call without an argument must not delete anything any more.
DROP FUNCTION IF EXISTS apply_event_retention(INTERVAL);
CREATE FUNCTION apply_event_retention(retention INTERVAL)
RETURNS BIGINT AS $$
DECLARE
  removed BIGINT := 0;
  is_hypertable BOOLEAN := false;
  boundary TIMESTAMPTZ;
  dropped_until TIMESTAMPTZ;
BEGIN
  IF retention IS NULL THEN
    RETURN 0; -- keep forever (the default)
  END IF;
  boundary := NOW() - retention;
  -- Dynamic SQL: without TimescaleDB its catalog does not exist, and a static reference would not even plan.
  IF to_regclass('timescaledb_information.hypertables') IS NOT NULL THEN
    EXECUTE $q$SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'events')$q$ INTO is_hypertable;
  END IF;
  IF is_hypertable THEN
    -- Whole chunks go: rows in the chunk that straddles the boundary stay until all of it is past.
    EXECUTE $q$SELECT max(range_end) FROM timescaledb_information.chunks WHERE hypertable_name = 'events' AND range_end <= $1$q$
      INTO dropped_until USING boundary;
    IF dropped_until IS NULL THEN
      RETURN 0;
    END IF;
    SELECT count(*) INTO removed FROM events WHERE block_time < dropped_until;
    EXECUTE $q$SELECT drop_chunks('events', older_than => $1)$q$ USING boundary;
    RETURN removed;
  END IF;
  -- Retention is the one sanctioned removal from the append-only log.
  ALTER TABLE events DISABLE TRIGGER events_append_only;
  DELETE FROM events WHERE block_time < boundary;
  GET DIAGNOSTICS removed = ROW_COUNT;
  ALTER TABLE events ENABLE TRIGGER events_append_only;
  RETURN removed;
END;
$$ LANGUAGE plpgsql;

-- Down Migration
-- Superseded pushed rows stay retracted (as a manual retraction): the chain's rows remain the canonical ones.
ALTER TABLE event_retractions DISABLE TRIGGER event_retractions_append_only;
UPDATE event_retractions SET reason = 'manual' WHERE reason = 'superseded';
ALTER TABLE event_retractions ENABLE TRIGGER event_retractions_append_only;
ALTER TABLE event_retractions DROP CONSTRAINT event_retractions_reason_check;
ALTER TABLE event_retractions ADD CONSTRAINT event_retractions_reason_check CHECK (reason IN ('reorg', 'manual'));
DROP INDEX IF EXISTS idx_events_pushed_key;
DROP INDEX IF EXISTS idx_events_pushed_position;
DROP VIEW canonical_events;
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_source_recorded, DROP CONSTRAINT IF EXISTS events_pushed_by_is_ingest;
ALTER TABLE events DROP COLUMN IF EXISTS pushed_by, DROP COLUMN IF EXISTS source;
CREATE VIEW canonical_events AS
SELECT e.* FROM events e
WHERE NOT EXISTS (SELECT 1 FROM event_retractions r WHERE r.event_seq = e.ingest_seq);
DROP FUNCTION IF EXISTS apply_event_retention(INTERVAL);
CREATE FUNCTION apply_event_retention(retention INTERVAL DEFAULT INTERVAL '365 days')
RETURNS BIGINT AS $$
DECLARE
  removed BIGINT := 0;
  is_hypertable BOOLEAN := false;
BEGIN
  IF to_regclass('timescaledb_information.hypertables') IS NOT NULL THEN
    EXECUTE $q$SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'events')$q$ INTO is_hypertable;
  END IF;
  IF is_hypertable THEN
    RETURN 0;
  END IF;
  ALTER TABLE events DISABLE TRIGGER events_append_only;
  DELETE FROM events WHERE block_time < NOW() - retention;
  GET DIAGNOSTICS removed = ROW_COUNT;
  ALTER TABLE events ENABLE TRIGGER events_append_only;
  RETURN removed;
END;
$$ LANGUAGE plpgsql;
DO $$
BEGIN
  IF to_regclass('timescaledb_information.hypertables') IS NOT NULL THEN
    IF EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'events') THEN
      EXECUTE $q$SELECT add_retention_policy('events', INTERVAL '365 days', if_not_exists => true)$q$;
    END IF;
  END IF;
END;
$$;

-- Up Migration
-- Bookkeeping for chain ingestion and the relay.

-- Which block ranges of a chain are written ('done') or being written ('claimed', under a lease). The live indexer and
-- backfills claim ranges here under a per-chain lock, so no range is ever read and written twice; a claim whose process
-- died expires and is taken over. Adjacent done ranges are merged, so the table stays small.
CREATE TABLE ingest_ranges (
    id BIGSERIAL PRIMARY KEY,
    chain_id BIGINT NOT NULL CHECK (chain_id > 0),
    from_block BIGINT NOT NULL CHECK (from_block >= 0),
    to_block BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
    owner TEXT NOT NULL,
    lease_expires_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT ingest_ranges_order CHECK (to_block >= from_block),
    CONSTRAINT ingest_ranges_lease CHECK ((state = 'claimed') = (lease_expires_at IS NOT NULL))
);
CREATE INDEX idx_ingest_ranges_chain ON ingest_ranges(chain_id, from_block);

-- Hashes of recently indexed blocks (those with events, and each checkpoint), for finding the common ancestor after a
-- reorg. Pruned to a window behind the checkpoint.
CREATE TABLE indexed_blocks (
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT NOT NULL CHECK (block_hash ~ '^0x[0-9a-f]{64}$'),
    PRIMARY KEY (chain_id, block_number)
);

-- The chain head the indexer last saw, so that any process (the API) can report lag = head - checkpoint.
ALTER TABLE checkpoints
    ADD COLUMN head_block_number BIGINT,
    ADD COLUMN head_seen_at TIMESTAMPTZ;

-- Durable cursors over ingest_seq (events and retractions), one per consumer.
CREATE TABLE relay_cursors (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TRIGGER update_relay_cursors_updated_at
    BEFORE UPDATE ON relay_cursors
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Retractions wake the relay too (same channel; the payload says what it is, consumers read by ingest_seq anyway).
CREATE OR REPLACE FUNCTION notify_event_retraction()
RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify('new_event', 'retracted:' || NEW.event_id);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER event_retractions_notify_trigger
    AFTER INSERT ON event_retractions
    FOR EACH ROW EXECUTE FUNCTION notify_event_retraction();

-- Down Migration
DROP TRIGGER IF EXISTS event_retractions_notify_trigger ON event_retractions;
DROP FUNCTION IF EXISTS notify_event_retraction();
DROP TABLE IF EXISTS relay_cursors;
ALTER TABLE checkpoints DROP COLUMN IF EXISTS head_seen_at, DROP COLUMN IF EXISTS head_block_number;
DROP TABLE IF EXISTS indexed_blocks;
DROP TABLE IF EXISTS ingest_ranges;

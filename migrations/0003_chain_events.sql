-- Up Migration
-- The chain event log (append-only) and indexer checkpoints.
--
-- Seed defects fixed here:
--  * `score INTEGER` cannot hold ERC-8004 v1.0 feedback: `value` is int128 with `value_decimals` (0..18) decimals,
--    stored exactly as NUMERIC(39,0) + SMALLINT. v0.4 `uint8 score` is stored as value = score, value_decimals = 0.
--  * agent ids are uint256 starting at 0: NUMERIC(78,0) >= 0, never NULL-as-zero.
--  * missing v1.0 columns: endpoint, responder, request_uri, updated_by (and from_address for Transfer).
--  * a TimescaleDB hypertable cannot have PRIMARY KEY (id) alone. The time dimension is block_time (the block's
--    timestamp), and the idempotency key (chain_id, block_hash, log_index) carries it. The textual id
--    `{chain_id}-{block_number}-{log_index}` is kept but is not unique by itself: after a reorg the orphaned event and
--    its canonical replacement share it, and the log keeps both (the orphan gets a row in event_retractions).
--    `incarnation` lets a retracted event be appended again when its block returns to the canonical chain.
--  * the relay needs a cursor that follows commit order: ingest_seq, taken from one sequence shared with retractions.
--    Writers take a transaction-level advisory lock before drawing numbers (see src/indexer), so numbers become
--    visible in increasing order and a reader never skips a row that commits later with a smaller number.

CREATE SEQUENCE events_ingest_seq AS BIGINT;

CREATE TABLE events (
    id TEXT NOT NULL,
    ingest_seq BIGINT NOT NULL DEFAULT nextval('events_ingest_seq'),
    chain_id BIGINT NOT NULL CHECK (chain_id > 0),
    block_number BIGINT NOT NULL CHECK (block_number >= 0),
    block_hash TEXT NOT NULL CHECK (block_hash ~ '^0x[0-9a-f]{64}$'),
    transaction_hash TEXT NOT NULL CHECK (transaction_hash ~ '^0x[0-9a-f]{64}$'),
    log_index INTEGER NOT NULL CHECK (log_index >= 0),
    contract_address TEXT NOT NULL CHECK (contract_address ~ '^0x[0-9a-f]{40}$'),
    registry TEXT NOT NULL CHECK (registry IN ('identity', 'reputation', 'validation')),
    event_type TEXT NOT NULL,
    abi_version TEXT NOT NULL DEFAULT 'v1.0' CHECK (abi_version IN ('v1.0', 'v0.4')),

    agent_id NUMERIC(78, 0) CHECK (agent_id >= 0),
    "timestamp" BIGINT NOT NULL CHECK ("timestamp" >= 0),   -- block timestamp, Unix seconds
    block_time TIMESTAMPTZ NOT NULL,                          -- the same instant; the time-series dimension

    -- Identity registry
    owner TEXT,
    from_address TEXT,
    token_uri TEXT,
    metadata_key TEXT,
    metadata_value TEXT,            -- 0x-prefixed hex of the raw bytes ('0x' when empty)
    updated_by TEXT,

    -- Reputation registry
    client_address TEXT,
    feedback_index NUMERIC(20, 0) CHECK (feedback_index >= 0),   -- uint64, 1-based per (agent, client)
    value NUMERIC(39, 0) CHECK (value BETWEEN -170141183460469231731687303715884105728 AND 170141183460469231731687303715884105727),
    value_decimals SMALLINT CHECK (value_decimals BETWEEN 0 AND 18),
    tag1 TEXT,
    tag2 TEXT,
    endpoint TEXT,
    file_uri TEXT,                  -- feedbackURI (v1.0) / fileuri (v0.4)
    file_hash TEXT,                 -- feedbackHash / filehash, 0x-prefixed bytes32
    responder TEXT,

    -- Validation registry (response_uri / response_hash also carry ResponseAppended's)
    validator_address TEXT,
    request_hash TEXT,
    request_uri TEXT,
    response SMALLINT CHECK (response BETWEEN 0 AND 255),
    response_uri TEXT,
    response_hash TEXT,
    tag TEXT,

    -- 0, or how many earlier copies of this (chain, block hash, log index) were retracted: a block can leave the
    -- canonical chain and come back (A→B→A reorgs), and its events must then be appended again.
    incarnation SMALLINT NOT NULL DEFAULT 0 CHECK (incarnation >= 0),

    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),

    CONSTRAINT events_id_is_position CHECK (id = chain_id::TEXT || '-' || block_number::TEXT || '-' || log_index::TEXT),
    CONSTRAINT events_block_time_is_timestamp CHECK (block_time = to_timestamp("timestamp")),
    CONSTRAINT events_value_has_decimals CHECK ((value IS NULL) = (value_decimals IS NULL)),
    CONSTRAINT events_type_matches_registry CHECK (
        (registry = 'identity' AND event_type IN ('Registered', 'Transfer', 'MetadataSet', 'URIUpdated'))
        OR (registry = 'reputation' AND event_type IN ('NewFeedback', 'FeedbackRevoked', 'ResponseAppended'))
        OR (registry = 'validation' AND event_type IN ('ValidationRequest', 'ValidationResponse'))
    ),
    -- Idempotency key of the write path; includes the time dimension so that it is valid on a hypertable.
    CONSTRAINT events_block_log_key UNIQUE (chain_id, block_hash, log_index, incarnation, block_time)
);

CREATE INDEX idx_events_ingest_seq ON events(ingest_seq);
CREATE INDEX idx_events_id ON events(id);
CREATE INDEX idx_events_chain_block_time ON events(chain_id, block_time DESC);
CREATE INDEX idx_events_block_number ON events(chain_id, block_number);
CREATE INDEX idx_events_agent_id ON events(chain_id, agent_id, block_number) WHERE agent_id IS NOT NULL;
CREATE INDEX idx_events_registry_type ON events(registry, event_type);
CREATE INDEX idx_events_client_address ON events(client_address) WHERE client_address IS NOT NULL;
CREATE INDEX idx_events_validator_address ON events(validator_address) WHERE validator_address IS NOT NULL;
CREATE INDEX idx_events_request_hash ON events(request_hash) WHERE request_hash IS NOT NULL;

-- Events that a reorg removed from the canonical chain. Append-only, like events; numbered from the same sequence
-- so that the relay sees additions and retractions in one order.
CREATE TABLE event_retractions (
    ingest_seq BIGINT PRIMARY KEY DEFAULT nextval('events_ingest_seq'),
    event_seq BIGINT NOT NULL UNIQUE,          -- events.ingest_seq of the orphaned event
    event_id TEXT NOT NULL,
    chain_id BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    block_hash TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT 'reorg' CHECK (reason IN ('reorg', 'manual')),
    retracted_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_event_retractions_chain_block ON event_retractions(chain_id, block_number);

-- The canonical event log: every event that no reorg has retracted.
CREATE VIEW canonical_events AS
SELECT e.* FROM events e
WHERE NOT EXISTS (SELECT 1 FROM event_retractions r WHERE r.event_seq = e.ingest_seq);

-- The append-only rule, enforced rather than promised. TRUNCATE stays possible for operators.
CREATE OR REPLACE FUNCTION forbid_event_mutation()
RETURNS TRIGGER AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION forbid_event_mutation();
CREATE TRIGGER event_retractions_append_only
    BEFORE UPDATE OR DELETE ON event_retractions
    FOR EACH ROW EXECUTE FUNCTION forbid_event_mutation();

-- Wake-up for the relay. The payload is the event id; consumers read by ingest_seq, never from the payload alone.
CREATE OR REPLACE FUNCTION notify_new_event()
RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify('new_event', NEW.id);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_notify_trigger
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION notify_new_event();

-- Last block the indexer has fully written, per chain.
-- Seed defect fixed: chain ids above 2^31 exist, so BIGINT.
CREATE TABLE checkpoints (
    chain_id BIGINT PRIMARY KEY CHECK (chain_id > 0),
    last_block_number BIGINT NOT NULL CHECK (last_block_number >= 0),
    last_block_hash TEXT NOT NULL CHECK (last_block_hash ~ '^0x[0-9a-f]{64}$'),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TRIGGER update_checkpoints_updated_at
    BEFORE UPDATE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Down Migration
DROP TABLE IF EXISTS checkpoints;
DROP TRIGGER IF EXISTS events_notify_trigger ON events;
DROP FUNCTION IF EXISTS notify_new_event();
DROP VIEW IF EXISTS canonical_events;
DROP TABLE IF EXISTS event_retractions;
DROP TABLE IF EXISTS events;
DROP FUNCTION IF EXISTS forbid_event_mutation();
DROP SEQUENCE IF EXISTS events_ingest_seq;

-- Up Migration
-- What the trigger engine needs beyond the seed's trigger tables.

-- A trigger may watch every configured chain (chain_id NULL); per-trigger settings (cooldown, hysteresis, start block);
-- the ingest_seq it starts after (it sees only events ingested after its creation unless it asks for a start block);
-- and the static prefilters the relay applies in SQL (NULL = any).
ALTER TABLE triggers ALTER COLUMN chain_id DROP NOT NULL;
ALTER TABLE triggers
    ADD COLUMN settings JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    ADD COLUMN start_seq BIGINT NOT NULL DEFAULT 0 CHECK (start_seq >= 0),
    ADD COLUMN start_block BIGINT CHECK (start_block IS NULL OR start_block >= 0),
    ADD COLUMN prefilter_event_types TEXT[],
    ADD COLUMN prefilter_agent_ids NUMERIC(78, 0)[];

-- The relay's candidate lookup: enabled triggers by registry, then chain (NULL matches every chain).
DROP INDEX IF EXISTS idx_triggers_chain_registry_enabled;
CREATE INDEX idx_triggers_chain_registry_enabled ON triggers(registry, chain_id) WHERE enabled = true;

-- Every time a trigger fired: one row per (trigger, event, kind), written idempotently by the trigger workflow.
CREATE TABLE trigger_matches (
    id BIGSERIAL PRIMARY KEY,
    trigger_id UUID NOT NULL REFERENCES triggers(id) ON DELETE CASCADE,
    event_seq BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    agent_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('match', 'absence')),
    block_time TIMESTAMPTZ NOT NULL,
    evaluation JSONB NOT NULL,
    matched_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (trigger_id, event_seq, kind)
);
CREATE INDEX idx_trigger_matches_trigger ON trigger_matches(trigger_id, matched_at DESC);

-- Down Migration
DROP TABLE IF EXISTS trigger_matches;
DROP INDEX IF EXISTS idx_triggers_chain_registry_enabled;
CREATE INDEX idx_triggers_chain_registry_enabled ON triggers(chain_id, registry) WHERE enabled = true;
ALTER TABLE triggers
    DROP COLUMN IF EXISTS prefilter_agent_ids,
    DROP COLUMN IF EXISTS prefilter_event_types,
    DROP COLUMN IF EXISTS start_block,
    DROP COLUMN IF EXISTS start_seq,
    DROP COLUMN IF EXISTS settings;
DELETE FROM triggers WHERE chain_id IS NULL;
ALTER TABLE triggers ALTER COLUMN chain_id SET NOT NULL;

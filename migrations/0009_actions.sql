-- Up Migration
-- Durable action delivery: one delivery per (trigger, event, action) — its idempotency key — with every attempt in
-- action_results, dead letters, replays, per-destination circuit breakers and per-organization webhook signing secrets.

CREATE TABLE deliveries (
    idempotency_key TEXT PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    trigger_id UUID REFERENCES triggers(id) ON DELETE CASCADE,
    action_id INTEGER REFERENCES trigger_actions(id) ON DELETE SET NULL,
    action_type TEXT NOT NULL CHECK (action_type IN ('telegram', 'rest', 'mcp')),
    match_id BIGINT NOT NULL REFERENCES trigger_matches(id) ON DELETE CASCADE,
    event_seq BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    -- What templates see (event, trigger, agent state, firing time), frozen at the firing so every attempt and replay
    -- renders the same message.
    context JSONB NOT NULL,
    destination TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'parked', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error TEXT,
    last_http_status INTEGER,
    workflow_id TEXT,
    replays INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    delivered_at TIMESTAMPTZ,
    dead_at TIMESTAMPTZ
);
CREATE INDEX idx_deliveries_trigger ON deliveries(trigger_id, created_at DESC);
CREATE INDEX idx_deliveries_org_status ON deliveries(organization_id, status, created_at DESC);
CREATE INDEX idx_deliveries_dead ON deliveries(trigger_id, dead_at) WHERE status = 'dead';

CREATE TRIGGER update_deliveries_updated_at
    BEFORE UPDATE ON deliveries
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Every attempt: the seed's action_results, with the delivery it belongs to and what the destination answered.
ALTER TABLE action_results
    ADD COLUMN idempotency_key TEXT REFERENCES deliveries(idempotency_key) ON DELETE CASCADE,
    ADD COLUMN attempt INTEGER CHECK (attempt IS NULL OR attempt >= 1),
    ADD COLUMN http_status INTEGER,
    ADD COLUMN destination TEXT;
CREATE INDEX idx_action_results_delivery ON action_results(idempotency_key, attempt);

-- Circuit breaker per destination (URL host, Telegram chat, MCP endpoint).
CREATE TABLE delivery_breakers (
    destination TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    opened_at TIMESTAMPTZ,
    -- While open: when the next probe may go out (half-open).
    retry_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TRIGGER update_delivery_breakers_updated_at
    BEFORE UPDATE ON delivery_breakers
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Standard Webhooks signing secret per organization, sealed with the application key. During a rotation window the
-- previous secret signs too (both signatures are sent).
CREATE TABLE organization_webhook_secrets (
    organization_id UUID PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    previous_secret_sealed TEXT,
    previous_valid_until TIMESTAMPTZ,
    rotated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Down Migration
DROP TABLE IF EXISTS organization_webhook_secrets;
DROP TABLE IF EXISTS delivery_breakers;
DROP INDEX IF EXISTS idx_action_results_delivery;
ALTER TABLE action_results
    DROP COLUMN IF EXISTS destination,
    DROP COLUMN IF EXISTS http_status,
    DROP COLUMN IF EXISTS attempt,
    DROP COLUMN IF EXISTS idempotency_key;
DROP TABLE IF EXISTS deliveries;

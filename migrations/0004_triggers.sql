-- Up Migration
-- Triggers, their conditions and actions, per-trigger state, and the delivery log.
-- Seed defects fixed: triggers referenced organizations before it existed (now created in 0002); ids are UUID
-- throughout; the seed's index comment named idx_triggers_chain_registry_enabled while the index it created led with
-- organization_id, which the relay's lookup (chain, registry, enabled) cannot use. Both indexes exist here, each named
-- for what it covers.

CREATE TABLE triggers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL,               -- creator
    organization_id UUID NOT NULL,       -- owner
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description TEXT,
    chain_id BIGINT NOT NULL CHECK (chain_id > 0),
    registry TEXT NOT NULL CHECK (registry IN ('identity', 'reputation', 'validation')),
    enabled BOOLEAN NOT NULL DEFAULT true,
    is_stateful BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE,
    CONSTRAINT fk_organization FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE
);
CREATE INDEX idx_triggers_user_id ON triggers(user_id);
CREATE INDEX idx_triggers_organization_id ON triggers(organization_id);
-- The relay's candidate lookup: enabled triggers for a chain and registry.
CREATE INDEX idx_triggers_chain_registry_enabled
    ON triggers(chain_id, registry) WHERE enabled = true;
-- The API's per-organization listing.
CREATE INDEX idx_triggers_org_chain_registry_enabled
    ON triggers(organization_id, chain_id, registry, enabled) WHERE enabled = true;

CREATE TRIGGER update_triggers_updated_at
    BEFORE UPDATE ON triggers
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Example condition_type values: agent_id_equals, score_threshold, tag_equals, validator_whitelist,
-- event_type_equals, ema_threshold, rate_limit, file_uri_exists. config holds window_size, alpha, time_window, …
CREATE TABLE trigger_conditions (
    id SERIAL PRIMARY KEY,
    trigger_id UUID NOT NULL,
    condition_type TEXT NOT NULL,
    field TEXT NOT NULL,
    operator TEXT NOT NULL,
    value TEXT NOT NULL,
    config JSONB CHECK (config IS NULL OR jsonb_typeof(config) = 'object'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT fk_trigger FOREIGN KEY (trigger_id) REFERENCES triggers(id) ON DELETE CASCADE
);
CREATE INDEX idx_trigger_conditions_trigger_id ON trigger_conditions(trigger_id);

CREATE TABLE trigger_actions (
    id SERIAL PRIMARY KEY,
    trigger_id UUID NOT NULL,
    action_type TEXT NOT NULL CHECK (action_type IN ('telegram', 'rest', 'mcp')),
    priority INTEGER NOT NULL DEFAULT 1,   -- lower number runs first
    config JSONB NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT fk_trigger FOREIGN KEY (trigger_id) REFERENCES triggers(id) ON DELETE CASCADE
);
CREATE INDEX idx_trigger_actions_trigger_id ON trigger_actions(trigger_id);

-- Snapshot of a trigger workflow's state (the workflow holds the live copy).
CREATE TABLE trigger_state (
    trigger_id UUID PRIMARY KEY,
    state_data JSONB NOT NULL,
    last_updated TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT fk_trigger FOREIGN KEY (trigger_id) REFERENCES triggers(id) ON DELETE CASCADE
);

-- Every attempt of every action. Seed defects fixed: job_id named a Redis job (there is no Redis); it is now the
-- Temporal workflow/activity that ran the attempt. event_id cannot reference events(id): that id is not unique
-- (reorgs) and hypertables are not foreign-key targets; event_seq identifies the exact event row.
CREATE TABLE action_results (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id TEXT NOT NULL,
    trigger_id UUID,
    action_id INTEGER,
    event_id TEXT,
    event_seq BIGINT,
    action_type TEXT NOT NULL CHECK (action_type IN ('telegram', 'rest', 'mcp')),
    status TEXT NOT NULL CHECK (status IN ('success', 'failed', 'retrying')),
    executed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    duration_ms INTEGER CHECK (duration_ms IS NULL OR duration_ms >= 0),
    error_message TEXT,
    response_data JSONB,
    retry_count INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    CONSTRAINT fk_trigger FOREIGN KEY (trigger_id) REFERENCES triggers(id) ON DELETE SET NULL,
    CONSTRAINT fk_action FOREIGN KEY (action_id) REFERENCES trigger_actions(id) ON DELETE SET NULL
);
CREATE INDEX idx_action_results_trigger_id ON action_results(trigger_id);
CREATE INDEX idx_action_results_event_id ON action_results(event_id);
CREATE INDEX idx_action_results_status ON action_results(status);
CREATE INDEX idx_action_results_executed_at ON action_results(executed_at DESC);
CREATE INDEX idx_action_results_action_type ON action_results(action_type);

-- Tokens to present to an agent's MCP server; encrypted by the application before they reach this table.
CREATE TABLE agent_mcp_tokens (
    agent_id NUMERIC(78, 0) NOT NULL CHECK (agent_id >= 0),
    chain_id BIGINT NOT NULL CHECK (chain_id > 0),
    token TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    -- Seed defect fixed: agent ids are per chain, so the key is (chain_id, agent_id), not agent_id alone.
    PRIMARY KEY (chain_id, agent_id)
);

CREATE TRIGGER update_agent_mcp_tokens_updated_at
    BEFORE UPDATE ON agent_mcp_tokens
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Hourly delivery metrics (a plain materialized view in both deployments; refreshed by the maintenance schedule).
CREATE MATERIALIZED VIEW action_metrics_hourly AS
SELECT
    date_trunc('hour', executed_at) AS hour,
    action_type,
    COUNT(*) AS total_executions,
    SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END) AS success_count,
    SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failure_count,
    AVG(duration_ms) AS avg_duration_ms,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_duration_ms
FROM action_results
GROUP BY 1, 2;
-- A unique index lets the view refresh CONCURRENTLY (readers are not blocked).
CREATE UNIQUE INDEX idx_action_metrics_hourly_key ON action_metrics_hourly(hour, action_type);

-- Deletes delivery records older than the retention window (90 days by default).
CREATE OR REPLACE FUNCTION cleanup_old_action_results(retention INTERVAL DEFAULT INTERVAL '90 days')
RETURNS BIGINT AS $$
DECLARE
    removed BIGINT;
BEGIN
    DELETE FROM action_results WHERE executed_at < NOW() - retention;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END;
$$ LANGUAGE plpgsql;

-- Down Migration
DROP FUNCTION IF EXISTS cleanup_old_action_results(INTERVAL);
DROP MATERIALIZED VIEW IF EXISTS action_metrics_hourly;
DROP TABLE IF EXISTS agent_mcp_tokens;
DROP TABLE IF EXISTS action_results;
DROP TABLE IF EXISTS trigger_state;
DROP TABLE IF EXISTS trigger_actions;
DROP TABLE IF EXISTS trigger_conditions;
DROP TABLE IF EXISTS triggers;

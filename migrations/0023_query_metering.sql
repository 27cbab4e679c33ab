-- Up Migration
-- Paid queries (issue 13): every call is metered in usage_logs, whoever pays — an organization's credits or an x402
-- payment by a wallet without an account (organization_id NULL, payer_address set). A request id makes a retried
-- call one row (and one charge: the ledger key is query:<request id>). The cache keys answers by chain too, and
-- records the block an answer is as of. Plans may include query calls per month: query_allowances counts them.

ALTER TABLE usage_logs
    ALTER COLUMN organization_id DROP NOT NULL,
    ADD COLUMN request_key TEXT,
    ADD COLUMN surface TEXT NOT NULL DEFAULT 'trpc' CHECK (surface IN ('trpc', 'rest', 'mcp', 'x402', 'a2a')),
    ADD COLUMN caller TEXT CHECK (length(caller) <= 200),
    ADD COLUMN payer_address TEXT CHECK (payer_address ~ '^0x[0-9a-f]{40}$'),
    ADD COLUMN payment_reference TEXT CHECK (length(payment_reference) <= 200),
    ADD COLUMN chain_id BIGINT,
    ADD COLUMN agent_id NUMERIC(78, 0),
    ADD COLUMN as_of_block BIGINT,
    ADD COLUMN price DECIMAL(20, 8) CHECK (price >= 0),
    ADD COLUMN included BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN outcome TEXT NOT NULL DEFAULT 'answered' CHECK (outcome IN ('answered', 'refused', 'failed')),
    ADD COLUMN error TEXT CHECK (length(error) <= 1000),
    ADD CONSTRAINT usage_logs_has_payer CHECK (organization_id IS NOT NULL OR payer_address IS NOT NULL),
    ADD CONSTRAINT usage_logs_cost_at_most_price CHECK (price IS NULL OR cost <= price);
-- One row per request of a payer: `<organization id or payer address>:<request id>`.
CREATE UNIQUE INDEX idx_usage_logs_request ON usage_logs(request_key) WHERE request_key IS NOT NULL;
CREATE INDEX idx_usage_logs_payer ON usage_logs(payer_address, created_at DESC) WHERE payer_address IS NOT NULL;

-- x402 rows belong to no organization: the tenant policy lets an organization see its own rows only, as before.

ALTER TABLE query_cache
    ADD COLUMN chain_id BIGINT,
    ADD COLUMN as_of_block BIGINT,
    ADD COLUMN semantics_version TEXT;

CREATE TABLE query_allowances (
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    -- First day (UTC) of the calendar month the calls are counted in.
    period_start DATE NOT NULL,
    used INTEGER NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (organization_id, period_start)
);
ALTER TABLE query_allowances ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON query_allowances USING (organization_id = app_current_organization())
    WITH CHECK (organization_id = app_current_organization());

-- Down Migration
DROP TABLE IF EXISTS query_allowances;
ALTER TABLE query_cache DROP COLUMN IF EXISTS semantics_version, DROP COLUMN IF EXISTS as_of_block,
    DROP COLUMN IF EXISTS chain_id;
DROP INDEX IF EXISTS idx_usage_logs_payer;
DROP INDEX IF EXISTS idx_usage_logs_request;
DELETE FROM usage_logs WHERE organization_id IS NULL;
ALTER TABLE usage_logs
    DROP CONSTRAINT IF EXISTS usage_logs_cost_at_most_price,
    DROP CONSTRAINT IF EXISTS usage_logs_has_payer,
    DROP COLUMN IF EXISTS error,
    DROP COLUMN IF EXISTS outcome,
    DROP COLUMN IF EXISTS included,
    DROP COLUMN IF EXISTS price,
    DROP COLUMN IF EXISTS as_of_block,
    DROP COLUMN IF EXISTS agent_id,
    DROP COLUMN IF EXISTS chain_id,
    DROP COLUMN IF EXISTS payment_reference,
    DROP COLUMN IF EXISTS payer_address,
    DROP COLUMN IF EXISTS caller,
    DROP COLUMN IF EXISTS surface,
    DROP COLUMN IF EXISTS request_key,
    ALTER COLUMN organization_id SET NOT NULL;

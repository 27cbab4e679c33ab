-- Up Migration
-- Credits, payments, subscriptions, A2A tasks and the query layer. Money is DECIMAL, never float.

CREATE TABLE credits (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    -- The balance never goes negative, even under concurrent charges: the database refuses it.
    balance DECIMAL(20, 8) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    currency TEXT NOT NULL DEFAULT 'USDC' CHECK (currency ~ '^[A-Z]{3,10}$'),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (organization_id, currency)
);

CREATE TRIGGER update_credits_updated_at
    BEFORE UPDATE ON credits
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Seed defect fixed: credit_transactions had no currency although balances are per currency, and no guard against
-- booking the same payment twice; (organization_id, type, reference_id) is unique for purchases and refunds.
CREATE TABLE credit_transactions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    amount DECIMAL(20, 8) NOT NULL CHECK (amount <> 0),
    currency TEXT NOT NULL DEFAULT 'USDC',
    type TEXT NOT NULL CHECK (type IN ('purchase', 'usage', 'refund', 'bonus')),
    description TEXT,
    reference_id TEXT,
    balance_after DECIMAL(20, 8) NOT NULL CHECK (balance_after >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    -- Usage debits and purchases/bonuses/refunds credit: the sign follows the type.
    CONSTRAINT credit_tx_sign CHECK ((type = 'usage' AND amount < 0) OR (type <> 'usage' AND amount > 0))
);
CREATE INDEX idx_credit_tx_org ON credit_transactions(organization_id, created_at DESC);
CREATE INDEX idx_credit_tx_created ON credit_transactions(created_at DESC);
CREATE INDEX idx_credit_tx_type ON credit_transactions(type);
CREATE UNIQUE INDEX idx_credit_tx_reference ON credit_transactions(organization_id, type, reference_id)
    WHERE reference_id IS NOT NULL AND type IN ('purchase', 'refund');

CREATE TABLE subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    stripe_subscription_id TEXT NOT NULL UNIQUE,
    plan TEXT NOT NULL CHECK (plan IN ('starter', 'pro', 'enterprise')),
    status TEXT NOT NULL CHECK (status IN ('active', 'canceled', 'past_due', 'trialing')),
    current_period_start TIMESTAMPTZ NOT NULL,
    current_period_end TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT subscriptions_period_order CHECK (current_period_end > current_period_start)
);
CREATE INDEX idx_subscriptions_org ON subscriptions(organization_id);
CREATE INDEX idx_subscriptions_status ON subscriptions(status) WHERE status = 'active';

CREATE TRIGGER update_subscriptions_updated_at
    BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE payment_nonces (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    nonce TEXT UNIQUE NOT NULL,
    amount DECIMAL(20, 8) NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'expired', 'failed')),
    payment_method TEXT NOT NULL CHECK (payment_method IN ('stripe', 'x402', 'credits')),
    expires_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT payment_nonces_completed_at CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
CREATE INDEX idx_payment_nonces_status ON payment_nonces(status) WHERE status = 'pending';
CREATE INDEX idx_payment_nonces_org ON payment_nonces(organization_id);

-- Lifecycle: submitted → working → completed | failed | cancelled.
CREATE TABLE a2a_tasks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    tool TEXT NOT NULL,
    arguments JSONB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'working', 'completed', 'failed', 'cancelled')),
    progress DECIMAL(3, 2) NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    result JSONB,
    error TEXT,
    cost DECIMAL(20, 8) CHECK (cost IS NULL OR cost >= 0),
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_a2a_tasks_org ON a2a_tasks(organization_id, created_at DESC);
CREATE INDEX idx_a2a_tasks_status ON a2a_tasks(status) WHERE status IN ('submitted', 'working');
CREATE INDEX idx_a2a_tasks_created ON a2a_tasks(created_at DESC);
CREATE INDEX idx_a2a_tasks_tool ON a2a_tasks(tool);

CREATE TRIGGER update_a2a_tasks_updated_at
    BEFORE UPDATE ON a2a_tasks
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Cache key format: t{tier}:{tool}:{agentId}:{params_hash}. Durations: tier 0 5 min, 1 1 h, 2 6 h, 3 24 h.
CREATE TABLE query_cache (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    cache_key TEXT UNIQUE NOT NULL,
    tier INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 3),
    tool TEXT NOT NULL,
    arguments JSONB NOT NULL,
    result JSONB NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_query_cache_expires ON query_cache(expires_at);

CREATE TABLE usage_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    tool TEXT NOT NULL,
    tier INTEGER NOT NULL CHECK (tier BETWEEN 0 AND 3),
    arguments JSONB NOT NULL,
    cost DECIMAL(20, 8) NOT NULL CHECK (cost >= 0),
    cached BOOLEAN NOT NULL DEFAULT false,
    response_time_ms INTEGER CHECK (response_time_ms IS NULL OR response_time_ms >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_usage_logs_org ON usage_logs(organization_id, created_at DESC);
CREATE INDEX idx_usage_logs_created ON usage_logs(created_at DESC);
CREATE INDEX idx_usage_logs_tool ON usage_logs(tool);
CREATE INDEX idx_usage_logs_tier ON usage_logs(tier);

-- Down Migration
DROP TABLE IF EXISTS usage_logs;
DROP TABLE IF EXISTS query_cache;
DROP TABLE IF EXISTS a2a_tasks;
DROP TABLE IF EXISTS payment_nonces;
DROP TABLE IF EXISTS subscriptions;
DROP TABLE IF EXISTS credit_transactions;
DROP TABLE IF EXISTS credits;

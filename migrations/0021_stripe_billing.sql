-- Up Migration
-- Stripe (issue 12): credit purchases through Checkout, each webhook event applied once, subscriptions that set the
-- organization's plan. Webhooks run on the owner pool (no organization context), so these tables need no row policy
-- for them; credit_purchases gets the tenant policy (as subscriptions has) so the API's read paths stay isolated.

-- Every Stripe event id we applied, recorded in the same transaction as its effect: a replay finds it and does nothing.
CREATE TABLE stripe_events (
    event_id TEXT PRIMARY KEY CHECK (event_id ~ '^evt_'),
    type TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- A credit pack bought through Checkout: created pending before the session, credited once on payment.
-- awaiting_payment: the session completed with a delayed payment method that has not cleared yet.
CREATE TABLE credit_purchases (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    pack_id TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents > 0),
    currency TEXT NOT NULL DEFAULT 'usd',
    credit_amount DECIMAL(20, 8) NOT NULL CHECK (credit_amount > 0),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'awaiting_payment', 'paid', 'failed', 'expired')),
    checkout_session_id TEXT UNIQUE,
    payment_intent_id TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_credit_purchases_org ON credit_purchases(organization_id, created_at DESC);

CREATE TRIGGER update_credit_purchases_updated_at
    BEFORE UPDATE ON credit_purchases
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

ALTER TABLE credit_purchases ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON credit_purchases USING (organization_id = app_current_organization())
    WITH CHECK (organization_id = app_current_organization());

-- Subscriptions mirror Stripe's states; last_event_created (the `created` of the last applied event, Stripe's clock)
-- keeps an older event from overwriting a newer state. Periods moved to subscription items in Stripe's API and may be
-- absent from an event: nullable.
ALTER TABLE subscriptions
    DROP CONSTRAINT subscriptions_status_check,
    DROP CONSTRAINT subscriptions_period_order,
    ALTER COLUMN current_period_start DROP NOT NULL,
    ALTER COLUMN current_period_end DROP NOT NULL,
    ADD COLUMN stripe_price TEXT,
    ADD COLUMN last_event_created TIMESTAMPTZ;
ALTER TABLE subscriptions
    ADD CONSTRAINT subscriptions_status_check CHECK (status IN
        ('active', 'trialing', 'past_due', 'canceled', 'unpaid', 'incomplete', 'incomplete_expired', 'paused')),
    ADD CONSTRAINT subscriptions_period_order CHECK (current_period_end > current_period_start);

-- Down Migration
DELETE FROM subscriptions
    WHERE status NOT IN ('active', 'canceled', 'past_due', 'trialing')
       OR current_period_start IS NULL OR current_period_end IS NULL;
ALTER TABLE subscriptions
    DROP CONSTRAINT subscriptions_status_check,
    DROP COLUMN last_event_created,
    DROP COLUMN stripe_price,
    ALTER COLUMN current_period_start SET NOT NULL,
    ALTER COLUMN current_period_end SET NOT NULL,
    ADD CONSTRAINT subscriptions_status_check CHECK (status IN ('active', 'canceled', 'past_due', 'trialing'));
DROP TABLE IF EXISTS credit_purchases;
DROP TABLE IF EXISTS stripe_events;

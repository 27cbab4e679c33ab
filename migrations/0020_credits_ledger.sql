-- Up Migration
-- The credits ledger (issue 12): the seed's `credits` becomes the account and `credit_transactions` its ledger, both
-- in USDC with 8 decimals; holds reserve credits for long work. Invariants (src/billing/ledger.ts keeps them, the
-- checks below refuse what would break them): per account, sum(ledger amount) = balance, sum(ledger owed_delta) =
-- owed, sum(active holds) = held, and 0 <= held <= balance.

-- held: reserved by active holds (available = balance - held). owed: what the organization owes after a payment was
-- reversed (refund, dispute) once its credits were already spent; paid calls are refused while it is above zero, and
-- the next credit settles it first.
ALTER TABLE credits
    ADD COLUMN held DECIMAL(20, 8) NOT NULL DEFAULT 0 CHECK (held >= 0),
    ADD COLUMN owed DECIMAL(20, 8) NOT NULL DEFAULT 0 CHECK (owed >= 0),
    ADD CONSTRAINT credits_held_within_balance CHECK (held <= balance);

-- A reservation for long work: captured once (at most its amount; the rest goes back), released, or expired by the
-- maintenance sweeper. One hold per idempotency key and organization.
CREATE TABLE credit_holds (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    currency TEXT NOT NULL DEFAULT 'USDC',
    idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    amount DECIMAL(20, 8) NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'captured', 'released', 'expired')),
    -- What the capture asked for (a retry must ask the same) and what it took: at most the hold.
    capture_requested DECIMAL(20, 8) CHECK (capture_requested >= 0),
    captured DECIMAL(20, 8) CHECK (captured >= 0 AND captured <= amount),
    description TEXT,
    expires_at TIMESTAMPTZ NOT NULL,
    settled_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (organization_id, idempotency_key),
    FOREIGN KEY (organization_id, currency) REFERENCES credits(organization_id, currency) ON DELETE CASCADE,
    CONSTRAINT credit_holds_settled CHECK ((status = 'held') = (settled_at IS NULL)),
    CONSTRAINT credit_holds_captured CHECK (
        (status = 'captured') = (captured IS NOT NULL) AND (captured IS NULL) = (capture_requested IS NULL))
);
CREATE INDEX idx_credit_holds_expiry ON credit_holds(expires_at) WHERE status = 'held';

ALTER TABLE credit_holds ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON credit_holds USING (organization_id = app_current_organization())
    WITH CHECK (organization_id = app_current_organization());

-- Ledger rows: `amount` is the change of the balance, `owed_delta` the change of the debt; their difference is the
-- value of the operation (a credit that settles a debt moves less into the balance, a reversal that finds the credits
-- spent records the rest as owed). `seq` orders the rows for paging. Each row carries the idempotency key of its
-- operation, except a capture, which is keyed by its hold.
ALTER TABLE credit_transactions
    ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN idempotency_key TEXT CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    ADD COLUMN owed_delta DECIMAL(20, 8) NOT NULL DEFAULT 0,
    ADD COLUMN hold_id UUID REFERENCES credit_holds(id) ON DELETE CASCADE,
    DROP CONSTRAINT credit_tx_sign,
    DROP CONSTRAINT credit_transactions_type_check,
    DROP CONSTRAINT credit_transactions_amount_check;
-- usage: a paid call; capture: a hold's charge; reversal: a payment taken back; the others add credits.
ALTER TABLE credit_transactions
    ADD CONSTRAINT credit_transactions_type_check
        CHECK (type IN ('purchase', 'grant', 'bonus', 'refund', 'usage', 'capture', 'reversal')),
    ADD CONSTRAINT credit_tx_sign CHECK (CASE
        WHEN type IN ('usage', 'capture') THEN amount < 0 AND owed_delta = 0
        WHEN type = 'reversal' THEN amount <= 0 AND owed_delta >= 0 AND amount - owed_delta < 0
        ELSE amount >= 0 AND owed_delta <= 0 AND amount - owed_delta > 0
    END),
    ADD CONSTRAINT credit_tx_capture_hold CHECK ((type = 'capture') = (hold_id IS NOT NULL));
CREATE UNIQUE INDEX idx_credit_tx_idempotency ON credit_transactions(organization_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX idx_credit_tx_hold ON credit_transactions(hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX idx_credit_tx_org_seq ON credit_transactions(organization_id, seq DESC);

-- Down Migration
-- Rows the older schema cannot hold (new kinds, credits that only settled a debt) are removed.
DROP INDEX IF EXISTS idx_credit_tx_org_seq;
DROP INDEX IF EXISTS idx_credit_tx_hold;
DROP INDEX IF EXISTS idx_credit_tx_idempotency;
DELETE FROM credit_transactions WHERE type IN ('grant', 'capture', 'reversal') OR amount = 0;
ALTER TABLE credit_transactions
    DROP CONSTRAINT credit_tx_capture_hold,
    DROP CONSTRAINT credit_tx_sign,
    DROP CONSTRAINT credit_transactions_type_check,
    DROP COLUMN hold_id,
    DROP COLUMN owed_delta,
    DROP COLUMN idempotency_key,
    DROP COLUMN seq,
    ADD CONSTRAINT credit_transactions_amount_check CHECK (amount <> 0),
    ADD CONSTRAINT credit_transactions_type_check CHECK (type IN ('purchase', 'usage', 'refund', 'bonus')),
    ADD CONSTRAINT credit_tx_sign CHECK ((type = 'usage' AND amount < 0) OR (type <> 'usage' AND amount > 0));
DROP TABLE IF EXISTS credit_holds;
ALTER TABLE credits
    DROP CONSTRAINT credits_held_within_balance,
    DROP COLUMN owed,
    DROP COLUMN held;

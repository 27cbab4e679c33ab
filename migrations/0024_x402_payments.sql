-- Up Migration
-- x402 pay-per-call (issue 13): a payment by EIP-3009 authorization, claimed before the query it pays for runs, so
-- one signature sent N times at once runs the query once and is settled once. The claim key is what the token itself
-- keeps unique: the authorizer's nonce on one token on one chain. payment_nonces (0005) is per organization; these
-- payers have no account, hence a table of their own (src/payments/x402/payments.ts).
CREATE TABLE x402_payments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    network TEXT NOT NULL CHECK (network ~ '^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$'),
    asset TEXT NOT NULL CHECK (asset ~ '^0x[0-9a-f]{40}$'),
    payer TEXT NOT NULL CHECK (payer ~ '^0x[0-9a-f]{40}$'),
    nonce TEXT NOT NULL CHECK (nonce ~ '^0x[0-9a-f]{64}$'),
    pay_to TEXT NOT NULL CHECK (pay_to ~ '^0x[0-9a-f]{40}$'),
    -- In the asset's smallest unit.
    amount NUMERIC(78, 0) NOT NULL CHECK (amount > 0),
    -- The authorization's validBefore (unix seconds): past it, an unsettled authorization can never settle.
    valid_before NUMERIC(78, 0) NOT NULL,
    -- sha256 of the signature: only its bearer may collect the answer of a settlement that was pending (below).
    signature_hash TEXT NOT NULL CHECK (signature_hash ~ '^[0-9a-f]{64}$'),
    tool TEXT NOT NULL,
    request_id TEXT NOT NULL,
    -- claimed: verified and reserved, query running or settling; pending: broadcast, receipt not seen yet;
    -- settled: on chain; failed: refused or expired unsettled (never on chain).
    status TEXT NOT NULL CHECK (status IN ('claimed', 'pending', 'settled', 'failed')),
    transaction_hash TEXT CHECK (transaction_hash ~ '^0x[0-9a-f]{64}$'),
    error TEXT CHECK (length(error) <= 1000),
    claimed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    settled_at TIMESTAMPTZ,
    -- When the answer was released. A settlement answered 202 pending is paid but not yet answered: the same
    -- signature sent again once it settled collects the answer, once.
    delivered_at TIMESTAMPTZ,
    CONSTRAINT x402_payments_claim_key UNIQUE (network, asset, payer, nonce),
    CONSTRAINT x402_payments_pending_hash CHECK (status <> 'pending' OR transaction_hash IS NOT NULL),
    CONSTRAINT x402_payments_settled_at CHECK ((status = 'settled') = (settled_at IS NOT NULL)),
    CONSTRAINT x402_payments_delivered CHECK (delivered_at IS NULL OR status = 'settled')
);
-- The reconciler's work list.
CREATE INDEX idx_x402_payments_unresolved ON x402_payments(claimed_at) WHERE status IN ('claimed', 'pending');
CREATE INDEX idx_x402_payments_payer ON x402_payments(payer, claimed_at DESC);

-- Down Migration
DROP TABLE IF EXISTS x402_payments;

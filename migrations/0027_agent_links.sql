-- Up Migration
-- Agents and their owners (issue 14): an organization links an agent by a signature of its owner or agentWallet; the
-- link lapses when the indexer sees the agent transferred or its wallet changed; organizations follow agents through a
-- managed set of triggers.

-- A link is active, revoked (unlinked by its organization) or lapsed (the agent changed hands or wallet on chain).
ALTER TABLE agent_links DROP CONSTRAINT agent_links_status_check;
ALTER TABLE agent_links ADD CONSTRAINT agent_links_status_check CHECK (status IN ('active', 'revoked', 'lapsed'));
ALTER TABLE agent_links
    -- Who signed: the ERC-721 owner or the agent's agentWallet; and in which form (EIP-191 text or EIP-712 data).
    ADD COLUMN signer_kind TEXT CHECK (signer_kind IN ('owner', 'agentWallet')),
    ADD COLUMN signature_scheme TEXT CHECK (signature_scheme IN ('eip191', 'eip712')),
    -- The block the ownership was read at: only identity events above it lapse the link (older ones were seen).
    ADD COLUMN verified_block NUMERIC(78, 0) CHECK (verified_block >= 0),
    ADD COLUMN linked_by UUID REFERENCES users(id) ON DELETE SET NULL,
    ADD COLUMN lapsed_at TIMESTAMPTZ,
    ADD COLUMN lapse_reason TEXT CHECK (lapse_reason IN ('transferred', 'wallet_changed', 'owner_changed')),
    -- The event that lapsed it (events.id), when the indexer saw it; null when a use-time check found the change.
    ADD COLUMN lapse_event_id TEXT,
    -- When the organization was told (mail to its owner and admins); null while that is pending.
    ADD COLUMN lapse_notified_at TIMESTAMPTZ,
    ADD CONSTRAINT agent_links_lapse CHECK ((status = 'lapsed') = (lapsed_at IS NOT NULL AND lapse_reason IS NOT NULL));
CREATE INDEX idx_agent_links_lapse_pending ON agent_links(lapsed_at) WHERE status = 'lapsed' AND lapse_notified_at IS NULL;

-- A consumed nonce says what it was for: sign-in ('siwe') or an agent link challenge ('agent_link').
ALTER TABLE used_nonces
    ADD COLUMN purpose TEXT NOT NULL DEFAULT 'siwe' CHECK (purpose IN ('siwe', 'agent_link')),
    ADD COLUMN chain_id BIGINT CHECK (chain_id IS NULL OR chain_id > 0);

-- What an owner may see of a sealed token: a fingerprint (sha256 prefix) and its last four characters.
ALTER TABLE agent_mcp_tokens
    ADD COLUMN fingerprint TEXT CHECK (fingerprint ~ '^[0-9a-f]{16}$'),
    ADD COLUMN last4 TEXT CHECK (length(last4) <= 4);

-- An organization follows an agent: one row, and the triggers created for it (removed together on unfollow).
CREATE TABLE agent_follows (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    chain_id BIGINT NOT NULL CHECK (chain_id > 0),
    agent_id NUMERIC(78, 0) NOT NULL CHECK (agent_id >= 0),
    created_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (organization_id, chain_id, agent_id)
);
CREATE TABLE agent_follow_triggers (
    follow_id UUID NOT NULL REFERENCES agent_follows(id) ON DELETE CASCADE,
    trigger_id UUID NOT NULL REFERENCES triggers(id) ON DELETE CASCADE,
    -- Which of the set: new feedback, revocations, validation responses, reputation drop.
    kind TEXT NOT NULL CHECK (kind IN ('feedback', 'revocation', 'validation_response', 'reputation_drop')),
    PRIMARY KEY (follow_id, trigger_id),
    UNIQUE (trigger_id)
);
ALTER TABLE agent_follows ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_follows
    USING (organization_id = app_current_organization()) WITH CHECK (organization_id = app_current_organization());
ALTER TABLE agent_follow_triggers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_follow_triggers
    USING (follow_id IN (SELECT id FROM agent_follows)) WITH CHECK (follow_id IN (SELECT id FROM agent_follows));

-- Down Migration
DROP TABLE IF EXISTS agent_follow_triggers;
DROP TABLE IF EXISTS agent_follows;
ALTER TABLE agent_mcp_tokens DROP COLUMN IF EXISTS last4, DROP COLUMN IF EXISTS fingerprint;
ALTER TABLE used_nonces DROP COLUMN IF EXISTS chain_id, DROP COLUMN IF EXISTS purpose;
DROP INDEX IF EXISTS idx_agent_links_lapse_pending;
ALTER TABLE agent_links DROP CONSTRAINT IF EXISTS agent_links_lapse;
ALTER TABLE agent_links
    DROP COLUMN IF EXISTS lapse_notified_at,
    DROP COLUMN IF EXISTS lapse_event_id,
    DROP COLUMN IF EXISTS lapse_reason,
    DROP COLUMN IF EXISTS lapsed_at,
    DROP COLUMN IF EXISTS linked_by,
    DROP COLUMN IF EXISTS verified_block,
    DROP COLUMN IF EXISTS signature_scheme,
    DROP COLUMN IF EXISTS signer_kind;
-- Lapsed links cannot stay under the older constraint: they end as revoked.
UPDATE agent_links SET status = 'revoked', revoked_at = coalesce(revoked_at, NOW()) WHERE status = 'lapsed';
ALTER TABLE agent_links DROP CONSTRAINT agent_links_status_check;
ALTER TABLE agent_links ADD CONSTRAINT agent_links_status_check CHECK (status IN ('active', 'revoked'));

-- Up Migration
-- Membership by consent. Registration verified nothing and admins could add anyone who had registered an email;
-- now an account carries a verified-email flag, set by a one-time link mailed to the address, and members join only
-- by accepting an invitation while signed in with that verified address.
--
-- Accounts created before this migration are unverified: their addresses were never proved (they can ask for a link).

ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;

-- One-time verification links. Only the sha256 of the token is stored (a 32-byte random token needs no slow hash);
-- the address is recorded so that a link proves the address it was sent to, and nothing else.
CREATE TABLE email_verification_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_email_verification_tokens_user ON email_verification_tokens(user_id) WHERE used_at IS NULL;

-- Invitations end in exactly one way: accepted (by whom), declined, or revoked (by whom); or they expire.
ALTER TABLE organization_invitations
    ADD COLUMN accepted_by UUID REFERENCES users(id) ON DELETE SET NULL,
    ADD COLUMN declined_at TIMESTAMPTZ,
    ADD COLUMN revoked_at TIMESTAMPTZ,
    ADD COLUMN revoked_by UUID REFERENCES users(id) ON DELETE SET NULL,
    ADD CONSTRAINT organization_invitations_one_outcome CHECK (
        (accepted_at IS NOT NULL)::int + (declined_at IS NOT NULL)::int + (revoked_at IS NOT NULL)::int <= 1
    );
CREATE INDEX idx_org_invitations_open ON organization_invitations(organization_id, email)
    WHERE accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL;

-- Down Migration
DROP INDEX IF EXISTS idx_org_invitations_open;
ALTER TABLE organization_invitations
    DROP CONSTRAINT IF EXISTS organization_invitations_one_outcome,
    DROP COLUMN IF EXISTS revoked_by,
    DROP COLUMN IF EXISTS revoked_at,
    DROP COLUMN IF EXISTS declined_at,
    DROP COLUMN IF EXISTS accepted_by;
DROP TABLE IF EXISTS email_verification_tokens;
ALTER TABLE users DROP COLUMN IF EXISTS email_verified_at;

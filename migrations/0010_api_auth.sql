-- Up Migration
-- Sessions, lockout, invitations and rate limits for the API.

-- Rotating refresh tokens. Each login starts a family; every refresh replaces the token with a new one in the same
-- family. Presenting a token that was already replaced means it leaked: the whole family is revoked.
CREATE TABLE refresh_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id UUID NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,          -- sha256 of a 32-byte random token (high entropy: no slow hash needed)
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens(user_id);

-- Failed logins per account and per client address, for lockout with backoff.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,                     -- 'user:<email>' or 'ip:<address>'
    failures INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE organization_invitations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email TEXT NOT NULL CHECK (position('@' IN email) > 1),
    role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by UUID REFERENCES users(id) ON DELETE SET NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    accepted_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_org_invitations_org ON organization_invitations(organization_id);

-- Request counters shared by every API process: one row per (bucket, window).
CREATE TABLE rate_limit_counters (
    bucket TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX idx_rate_limit_counters_window ON rate_limit_counters(window_start);

-- Revocations are announced so that every API process drops its cache of verified keys at once.
CREATE OR REPLACE FUNCTION notify_api_key_change()
RETURNS TRIGGER AS $$
BEGIN
    IF NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
       OR NEW.permissions IS DISTINCT FROM OLD.permissions OR NEW.key_hash IS DISTINCT FROM OLD.key_hash THEN
        PERFORM pg_notify('api_key_changed', NEW.prefix);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_notify_change
    AFTER UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_api_key_change();

-- Down Migration
DROP TRIGGER IF EXISTS api_keys_notify_change ON api_keys;
DROP FUNCTION IF EXISTS notify_api_key_change();
DROP TABLE IF EXISTS rate_limit_counters;
DROP TABLE IF EXISTS organization_invitations;
DROP TABLE IF EXISTS login_failures;
DROP TABLE IF EXISTS refresh_tokens;

-- Up Migration
-- Accounts, organizations and credentials.
-- Seed defect fixed: the seed mixed TEXT and UUID ids (organizations.id TEXT referenced as UUID); every id is UUID here,
-- and organizations is created before anything that references it.

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username TEXT UNIQUE NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    email TEXT UNIQUE NOT NULL CHECK (position('@' IN email) > 1),
    password_hash TEXT,                -- argon2id; NULL for wallet-only accounts
    wallet_address TEXT UNIQUE CHECK (wallet_address IS NULL OR wallet_address ~ '^0x[0-9a-fA-F]{40}$'),
    auth_method TEXT NOT NULL DEFAULT 'password'
        CHECK (auth_method IN ('password', 'wallet', 'both')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_login_at TIMESTAMPTZ,
    is_active BOOLEAN NOT NULL DEFAULT true,
    -- A password account must have a hash; a wallet account must have an address.
    CONSTRAINT users_credentials_present CHECK (
        (auth_method = 'password' AND password_hash IS NOT NULL)
        OR (auth_method = 'wallet' AND wallet_address IS NOT NULL)
        OR (auth_method = 'both' AND password_hash IS NOT NULL AND wallet_address IS NOT NULL)
    )
);
-- The UNIQUE constraints already index email, username and wallet_address; the seed's extra
-- idx_users_email / idx_users_username duplicated them. The partial wallet index is kept for lookups by wallet.
CREATE INDEX idx_users_wallet ON users(wallet_address) WHERE wallet_address IS NOT NULL;

CREATE TRIGGER update_users_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

CREATE TABLE organizations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug TEXT UNIQUE NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'),
    owner_id UUID NOT NULL,
    plan TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'starter', 'pro', 'enterprise')),
    is_personal BOOLEAN NOT NULL DEFAULT false,
    is_active BOOLEAN NOT NULL DEFAULT true,
    stripe_customer_id TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    -- ON DELETE RESTRICT: a user cannot be deleted while they own an organization.
    CONSTRAINT fk_owner FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE RESTRICT
);
CREATE INDEX idx_organizations_owner ON organizations(owner_id);
CREATE INDEX idx_organizations_plan ON organizations(plan);

CREATE TRIGGER update_organizations_updated_at
    BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Roles: admin (members, billing), member (triggers, queries), viewer (read-only). The owner is organizations.owner_id.
CREATE TABLE organization_members (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    invited_by UUID REFERENCES users(id) ON DELETE SET NULL,
    joined_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (organization_id, user_id)
);
CREATE INDEX idx_org_members_user ON organization_members(user_id);

-- API keys: sk_live_… / sk_test_…; only the argon2id hash is stored, the prefix is the lookup key.
CREATE TABLE api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix TEXT NOT NULL UNIQUE,
    environment TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    key_type TEXT NOT NULL DEFAULT 'standard' CHECK (key_type IN ('standard', 'restricted', 'admin')),
    permissions JSONB NOT NULL DEFAULT '["read"]' CHECK (jsonb_typeof(permissions) = 'array'),
    rate_limit_override INTEGER CHECK (rate_limit_override IS NULL OR rate_limit_override > 0),
    last_used_at TIMESTAMPTZ,
    last_used_ip INET,
    expires_at TIMESTAMPTZ,
    created_by UUID NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    revoked_at TIMESTAMPTZ,
    revoked_by UUID REFERENCES users(id) ON DELETE SET NULL,
    revocation_reason TEXT
);
-- The UNIQUE constraint on prefix serves lookups of revoked keys too; these partial indexes serve the live paths.
CREATE INDEX idx_api_keys_prefix ON api_keys(prefix) WHERE revoked_at IS NULL;
CREATE INDEX idx_api_keys_org ON api_keys(organization_id) WHERE revoked_at IS NULL;
CREATE INDEX idx_api_keys_env ON api_keys(organization_id, environment) WHERE revoked_at IS NULL;

-- OAuth 2.0 client-credentials clients and their tokens.
CREATE TABLE oauth_clients (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    client_id TEXT UNIQUE NOT NULL,
    client_secret_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    redirect_uris JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(redirect_uris) = 'array'),
    allowed_scopes JSONB NOT NULL DEFAULT '["read"]' CHECK (jsonb_typeof(allowed_scopes) = 'array'),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    is_confidential BOOLEAN NOT NULL DEFAULT true,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_oauth_clients_client_id ON oauth_clients(client_id) WHERE is_active = true;
CREATE INDEX idx_oauth_clients_org ON oauth_clients(organization_id);

CREATE TRIGGER update_oauth_clients_updated_at
    BEFORE UPDATE ON oauth_clients
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Seed defect fixed: user_id is nullable because client-credentials tokens act for the client's organization, not a user.
CREATE TABLE oauth_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    token_type TEXT NOT NULL CHECK (token_type IN ('access', 'refresh')),
    token_hash TEXT NOT NULL,
    token_prefix TEXT UNIQUE,          -- lookup key, as for API keys
    client_id UUID NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    user_id UUID REFERENCES users(id) ON DELETE CASCADE,
    scopes JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scopes) = 'array'),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_oauth_tokens_hash ON oauth_tokens(token_hash) WHERE revoked_at IS NULL;
CREATE INDEX idx_oauth_tokens_user ON oauth_tokens(user_id);
CREATE INDEX idx_oauth_tokens_client ON oauth_tokens(client_id);
CREATE INDEX idx_oauth_tokens_expires ON oauth_tokens(expires_at) WHERE revoked_at IS NULL;

-- On-chain agents linked to an organization by a wallet signature.
-- Seed defect fixed: agent ids are uint256 and start at 0, so NUMERIC(78,0) >= 0 rather than BIGINT;
-- account_id is a real foreign key to organizations.
CREATE TABLE agent_links (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id NUMERIC(78, 0) NOT NULL CHECK (agent_id >= 0),
    chain_id BIGINT NOT NULL CHECK (chain_id > 0),
    account_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    wallet_address TEXT NOT NULL CHECK (wallet_address ~ '^0x[0-9a-fA-F]{40}$'),
    linked_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    linked_by_signature TEXT NOT NULL,
    signature_message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (agent_id, chain_id)
);
CREATE INDEX idx_agent_links_account ON agent_links(account_id) WHERE status = 'active';
CREATE INDEX idx_agent_links_wallet ON agent_links(wallet_address) WHERE status = 'active';

-- Consumed sign-in nonces (replay protection); rows are kept 24 h past expiry for debugging.
CREATE TABLE used_nonces (
    nonce_hash TEXT PRIMARY KEY,
    agent_id NUMERIC(78, 0) CHECK (agent_id IS NULL OR agent_id >= 0),
    wallet_address TEXT,
    used_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_used_nonces_expires ON used_nonces(expires_at);

-- Down Migration
DROP TABLE IF EXISTS used_nonces;
DROP TABLE IF EXISTS agent_links;
DROP TABLE IF EXISTS oauth_tokens;
DROP TABLE IF EXISTS oauth_clients;
DROP TABLE IF EXISTS api_keys;
DROP TABLE IF EXISTS organization_members;
DROP TABLE IF EXISTS organizations;
DROP TABLE IF EXISTS users;

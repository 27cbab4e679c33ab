-- Up Migration
-- Row-level security on organization-owned tables: the second line of tenancy behind the API's membership check.
--
-- The API runs organization-scoped procedures as the NOLOGIN role erc8004_tenant (its tenant pool sets the role on
-- every connection) with `app.organization_id` set from the authenticated context each time a connection is taken.
-- A query that forgets its `WHERE organization_id = …` then still sees and changes only that organization's rows; with
-- no organization set it sees none (fail closed). The worker, relay, indexer and migrations connect as the owning role,
-- which row security does not restrict, so the engine is unaffected. Foreign-key cascades are not subject to it either.
--
-- Roles are cluster-wide: the role is created once and shared by every database of the cluster (test databases run
-- these migrations concurrently, hence the tolerant create). Without CREATEROLE an administrator creates it once.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'erc8004_tenant') THEN
        BEGIN
            CREATE ROLE erc8004_tenant NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;  -- created concurrently by another database's migration
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'creating role erc8004_tenant needs CREATEROLE. Ask an administrator to run once: CREATE ROLE erc8004_tenant NOLOGIN; GRANT erc8004_tenant TO %;', current_user;
        END;
    END IF;
    -- The API's login role switches to the tenant role, so it must be a member (superusers always are).
    IF NOT pg_has_role(current_user, 'erc8004_tenant', 'MEMBER') THEN
        EXECUTE format('GRANT erc8004_tenant TO %I', current_user);
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO erc8004_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO erc8004_tenant;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO erc8004_tenant;
-- Tables added by later migrations are reachable by the tenant role too; each org-owned one needs its own policy
-- (a schema test fails for an org-owned table without row security).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO erc8004_tenant;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO erc8004_tenant;

-- The organization of the current request; NULL when none is set (then every policy below matches nothing).
CREATE FUNCTION app_current_organization() RETURNS UUID
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.organization_id', true), '')::uuid $$;

DO $$
DECLARE
    t TEXT;
BEGIN
    -- Tables that carry the owning organization's id.
    FOREACH t IN ARRAY ARRAY[
        'organization_members', 'api_keys', 'oauth_clients', 'triggers', 'credits', 'credit_transactions',
        'subscriptions', 'payment_nonces', 'a2a_tasks', 'usage_logs', 'deliveries', 'organization_webhook_secrets',
        'organization_invitations'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (organization_id = app_current_organization()) '
            'WITH CHECK (organization_id = app_current_organization())', t);
    END LOOP;
END $$;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations
    USING (id = app_current_organization()) WITH CHECK (id = app_current_organization());

ALTER TABLE agent_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_links
    USING (account_id = app_current_organization()) WITH CHECK (account_id = app_current_organization());

-- Tables owned through a parent: visible when the parent is (the parent's own policy applies inside the subquery).
-- Written as `IN (SELECT …)` rather than a correlated EXISTS: the planner hashes the organization's parents once per
-- query instead of probing the parent table for every child row (measured: a third of the row-security overhead).
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['trigger_conditions', 'trigger_actions', 'trigger_state', 'trigger_matches'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (trigger_id IN (SELECT id FROM triggers)) '
            'WITH CHECK (trigger_id IN (SELECT id FROM triggers))', t);
    END LOOP;
END $$;

ALTER TABLE oauth_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON oauth_tokens
    USING (client_id IN (SELECT id FROM oauth_clients)) WITH CHECK (client_id IN (SELECT id FROM oauth_clients));

-- Attempts belong to a delivery; the seed's older rows only to a trigger.
ALTER TABLE action_results ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON action_results
    USING (idempotency_key IN (SELECT idempotency_key FROM deliveries) OR trigger_id IN (SELECT id FROM triggers))
    WITH CHECK (idempotency_key IN (SELECT idempotency_key FROM deliveries) OR trigger_id IN (SELECT id FROM triggers));

-- Down Migration
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'organizations', 'organization_members', 'api_keys', 'oauth_clients', 'oauth_tokens', 'agent_links', 'triggers',
        'trigger_conditions', 'trigger_actions', 'trigger_state', 'trigger_matches', 'action_results', 'credits',
        'credit_transactions', 'subscriptions', 'payment_nonces', 'a2a_tasks', 'usage_logs', 'deliveries',
        'organization_webhook_secrets', 'organization_invitations'
    ] LOOP
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END $$;
DROP FUNCTION IF EXISTS app_current_organization();
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM erc8004_tenant;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM erc8004_tenant;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM erc8004_tenant;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM erc8004_tenant;
REVOKE USAGE ON SCHEMA public FROM erc8004_tenant;
-- The role itself stays: it is cluster-wide and other databases of the cluster may use it.

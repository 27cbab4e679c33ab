-- Up Migration
-- Circuit breakers per organization AND destination (issue 10, item 5): a breaker shared by every tenant delivering to a
-- host let one tenant's failures park everyone's deliveries. Existing rows cannot be attributed to an organization;
-- breakers are transient state (a closed breaker is the same as none), so they start over.
DELETE FROM delivery_breakers;
ALTER TABLE delivery_breakers DROP CONSTRAINT delivery_breakers_pkey;
ALTER TABLE delivery_breakers ADD COLUMN organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE delivery_breakers ADD PRIMARY KEY (organization_id, destination);
-- Organization-owned now: row security like the other such tables (migrations/0012_row_level_security.sql).
ALTER TABLE delivery_breakers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON delivery_breakers USING (organization_id = app_current_organization())
    WITH CHECK (organization_id = app_current_organization());

-- A pump's claim is a lease (issue 10, item 12): it holds until claim_expires_at, the pump extends it while it works,
-- and another run takes over only an expired claim. A run settles only the deliveries still claimed by it.
ALTER TABLE deliveries ADD COLUMN claim_expires_at TIMESTAMPTZ;

-- Down Migration
ALTER TABLE deliveries DROP COLUMN IF EXISTS claim_expires_at;
DROP POLICY IF EXISTS tenant_isolation ON delivery_breakers;
ALTER TABLE delivery_breakers DISABLE ROW LEVEL SECURITY;
DELETE FROM delivery_breakers;
ALTER TABLE delivery_breakers DROP CONSTRAINT delivery_breakers_pkey;
ALTER TABLE delivery_breakers DROP COLUMN organization_id;
ALTER TABLE delivery_breakers ADD PRIMARY KEY (destination);

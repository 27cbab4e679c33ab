-- Up Migration
-- Plans (issue 12): every change of an organization's plan is recorded (who asked: a Stripe event, an operator, a
-- test, and their reference), and announced so that every API process drops its cached plan at once — the rate
-- limit and quotas of the new plan apply to the next request (src/organizations/plan.ts).
CREATE TABLE plan_changes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    previous_plan TEXT NOT NULL,
    plan TEXT NOT NULL CHECK (plan IN ('free', 'starter', 'pro', 'enterprise')),
    source TEXT NOT NULL CHECK (source IN ('stripe', 'operator', 'test')),
    reference TEXT CHECK (length(reference) <= 500),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_plan_changes_org ON plan_changes(organization_id, changed_at DESC);

ALTER TABLE plan_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON plan_changes USING (organization_id = app_current_organization())
    WITH CHECK (organization_id = app_current_organization());

-- Any change of the column is announced, whoever makes it (setOrganizationPlan, or SQL by hand): the payload is the
-- organization's id, and the notification goes out when the transaction commits.
CREATE FUNCTION notify_organization_plan_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('organization_plan_changed', NEW.id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER organizations_notify_plan
    AFTER UPDATE OF plan ON organizations
    FOR EACH ROW WHEN (OLD.plan IS DISTINCT FROM NEW.plan) EXECUTE FUNCTION notify_organization_plan_change();

-- Deliveries per calendar month (UTC) and organization, counted where they are created (src/deliveries/firings.ts)
-- under this row's lock: concurrent creators of one organization cannot go past the plan's quota together. A firing
-- beyond the quota keeps its deliveries, marked 'quota_exceeded' and never attempted.
CREATE TABLE delivery_usage (
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    month DATE NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0 CHECK (deliveries >= 0),
    PRIMARY KEY (organization_id, month)
);
ALTER TABLE delivery_usage ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON delivery_usage USING (organization_id = app_current_organization())
    WITH CHECK (organization_id = app_current_organization());

ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check,
    ADD CONSTRAINT deliveries_status_check
        CHECK (status IN ('pending', 'parked', 'delivered', 'dead', 'quota_exceeded'));

-- Down Migration
DELETE FROM deliveries WHERE status = 'quota_exceeded';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check,
    ADD CONSTRAINT deliveries_status_check CHECK (status IN ('pending', 'parked', 'delivered', 'dead'));
DROP TABLE IF EXISTS delivery_usage;
DROP TRIGGER IF EXISTS organizations_notify_plan ON organizations;
DROP FUNCTION IF EXISTS notify_organization_plan_change();
DROP TABLE IF EXISTS plan_changes;

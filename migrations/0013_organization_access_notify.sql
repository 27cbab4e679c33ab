-- Up Migration
-- Every API process caches who may act in an organization (src/auth/organization-access.ts). Changes to members, the
-- owner or the organization's activity are announced with the organization's id so that the caches drop it at once.
CREATE FUNCTION notify_organization_access_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'organizations' THEN
        PERFORM pg_notify('organization_access_changed', OLD.id::text);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('organization_access_changed', NEW.organization_id::text);
    ELSE
        PERFORM pg_notify('organization_access_changed', OLD.organization_id::text);
        IF TG_OP = 'UPDATE' AND NEW.organization_id <> OLD.organization_id THEN
            PERFORM pg_notify('organization_access_changed', NEW.organization_id::text);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER organization_members_notify_access
    AFTER INSERT OR UPDATE OR DELETE ON organization_members
    FOR EACH ROW EXECUTE FUNCTION notify_organization_access_change();

CREATE TRIGGER organizations_notify_access
    AFTER UPDATE OF owner_id, is_active OR DELETE ON organizations
    FOR EACH ROW EXECUTE FUNCTION notify_organization_access_change();

-- Down Migration
DROP TRIGGER IF EXISTS organizations_notify_access ON organizations;
DROP TRIGGER IF EXISTS organization_members_notify_access ON organization_members;
DROP FUNCTION IF EXISTS notify_organization_access_change();

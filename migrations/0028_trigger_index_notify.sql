-- Up Migration
-- The relay keeps its candidate triggers in memory (src/relay/candidate-index.ts). Every change to a trigger row is
-- announced with the trigger's id, so the index reloads that trigger; organizations announce theirs already
-- (organization_access_changed, 0013). A relay dispatches only after a NOTIFY of its own came back: notifications
-- arrive in commit order, so every change committed before the dispatch is in the index by then.
CREATE FUNCTION notify_trigger_index_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('trigger_index_changed', OLD.id::text);
    ELSE
        PERFORM pg_notify('trigger_index_changed', NEW.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER triggers_notify_index
    AFTER INSERT OR UPDATE OR DELETE ON triggers
    FOR EACH ROW EXECUTE FUNCTION notify_trigger_index_change();

-- Down Migration
DROP TRIGGER IF EXISTS triggers_notify_index ON triggers;
DROP FUNCTION IF EXISTS notify_trigger_index_change();

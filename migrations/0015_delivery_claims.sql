-- Up Migration
-- First attempts are made by the delivery dispatchers (workflows/delivery-dispatcher.ts): each runs a long-lived
-- activity that takes the new deliveries assigned to it (deliveries.workflow_id = the dispatcher's id), woken by
-- NOTIFY deliveries_created. A dispatcher claims what it attempts: `claim` names its current run, so a run that takes
-- over after a crashed one picks up what that one had claimed and not settled.
ALTER TABLE deliveries ADD COLUMN claim TEXT;
CREATE INDEX idx_deliveries_dispatch ON deliveries (workflow_id, created_at) WHERE status = 'pending';

-- Down Migration
DROP INDEX IF EXISTS idx_deliveries_dispatch;
ALTER TABLE deliveries DROP COLUMN IF EXISTS claim;

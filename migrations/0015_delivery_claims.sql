-- Up Migration
-- Deliveries are attempted first in batches by the delivery dispatcher workflows (workflows/delivery-dispatcher.ts).
-- A batch claims its deliveries before attempting them: `claim` names the batch (dispatcher run and sequence number,
-- the same when Temporal runs the batch again after a crash), so a delivery signalled twice — a relay batch replayed
-- after a crash — is attempted by one batch only.
ALTER TABLE deliveries ADD COLUMN claim TEXT;

-- Down Migration
ALTER TABLE deliveries DROP COLUMN IF EXISTS claim;

-- Up Migration
-- A2A v1.0 tasks (issue 14): each task is a Temporal workflow (workflow_id `a2a/{id}`) that holds the estimated price
-- (hold_id), computes the answer, captures the price and writes the terminal state here. The row keeps the task as
-- the protocol shows it (status, history, artifacts, metadata: A2A proto-JSON) and who pays: an organization, or a
-- wallet that paid with x402 (organization_id NULL, payer_address set). States are v1.0's, lower case without the
-- TASK_STATE_ prefix.
ALTER TABLE a2a_tasks DROP CONSTRAINT a2a_tasks_status_check;
DROP INDEX idx_a2a_tasks_status;
UPDATE a2a_tasks SET status = 'canceled' WHERE status = 'cancelled';
ALTER TABLE a2a_tasks
    ALTER COLUMN organization_id DROP NOT NULL,
    ADD CONSTRAINT a2a_tasks_status_check CHECK (status IN (
        'submitted', 'working', 'input_required', 'auth_required', 'completed', 'failed', 'canceled', 'rejected')),
    ADD COLUMN context_id TEXT NOT NULL DEFAULT gen_random_uuid()::text CHECK (length(context_id) <= 200),
    ADD COLUMN status_detail JSONB,
    ADD COLUMN history JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN artifacts JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN metadata JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN status_updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    ADD COLUMN caller TEXT CHECK (length(caller) <= 200),
    ADD COLUMN payer_address TEXT CHECK (payer_address ~ '^0x[0-9a-f]{40}$'),
    ADD COLUMN payment_reference TEXT CHECK (length(payment_reference) <= 200),
    ADD COLUMN price DECIMAL(20, 8) CHECK (price IS NULL OR price >= 0),
    ADD COLUMN hold_id UUID REFERENCES credit_holds(id) ON DELETE SET NULL,
    ADD COLUMN workflow_id TEXT,
    ADD CONSTRAINT a2a_tasks_has_payer CHECK (organization_id IS NOT NULL OR payer_address IS NOT NULL);
-- The pending-task limit counts these; the sweep of stale tasks reads them.
CREATE INDEX idx_a2a_tasks_pending ON a2a_tasks(organization_id) WHERE status IN ('submitted', 'working');
-- ListTasks: newest first, keyset-paged.
CREATE INDEX idx_a2a_tasks_org_page ON a2a_tasks(organization_id, created_at DESC, id DESC);
CREATE INDEX idx_a2a_tasks_payer_page ON a2a_tasks(payer_address, created_at DESC, id DESC)
    WHERE payer_address IS NOT NULL;

-- Down Migration
DROP INDEX IF EXISTS idx_a2a_tasks_payer_page;
DROP INDEX IF EXISTS idx_a2a_tasks_org_page;
DROP INDEX IF EXISTS idx_a2a_tasks_pending;
DELETE FROM a2a_tasks WHERE organization_id IS NULL;
UPDATE a2a_tasks SET status = 'cancelled' WHERE status = 'canceled';
UPDATE a2a_tasks SET status = 'failed' WHERE status IN ('rejected', 'input_required', 'auth_required');
ALTER TABLE a2a_tasks
    DROP CONSTRAINT a2a_tasks_has_payer,
    DROP CONSTRAINT a2a_tasks_status_check,
    DROP COLUMN workflow_id,
    DROP COLUMN hold_id,
    DROP COLUMN price,
    DROP COLUMN payment_reference,
    DROP COLUMN payer_address,
    DROP COLUMN caller,
    DROP COLUMN status_updated_at,
    DROP COLUMN metadata,
    DROP COLUMN artifacts,
    DROP COLUMN history,
    DROP COLUMN status_detail,
    DROP COLUMN context_id,
    ALTER COLUMN organization_id SET NOT NULL,
    ADD CONSTRAINT a2a_tasks_status_check CHECK (status IN ('submitted', 'working', 'completed', 'failed', 'cancelled'));
CREATE INDEX idx_a2a_tasks_status ON a2a_tasks(status) WHERE status IN ('submitted', 'working');

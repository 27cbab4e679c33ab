/**
 * Trigger lifecycle: the database rows and the long-lived workflow move together. Create writes the definition and
 * starts the workflow; edits and enable/disable go to the workflow as a validated Update; delete completes the workflow
 * (which removes its state row) and then removes the rows.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { withTransaction } from '../db/transaction.js';
import { checkTriggerQuotas } from '../billing/quotas.js';
import {
  configUpdate,
  stateQuery,
  triggerWorkflow,
  type ConfigChange,
  type TriggerView,
} from '../../workflows/trigger.js';
import { compileDefinition } from './definition.js';
import { triggerSearchAttributes, triggerWorkflowId } from './search-attributes.js';
import { loadTriggerInput, saveTrigger, type TriggerWrite } from './store.js';
import { storedTriggerSummary } from './workflow-summary.js';
import type { SecretBox } from '../secrets.js';
import { refusedDestinations } from '../actions/config.js';
import type { AllowList, HostLookup } from '../actions/safe-http.js';
import { DefinitionError } from './definition.js';

export class TriggerNotFoundError extends Error {
  constructor(readonly triggerId: string) {
    super(`trigger ${triggerId} not found`);
    this.name = 'TriggerNotFoundError';
  }
}

export interface TriggerServiceDeps {
  pool: pg.Pool;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  /** Seals the secrets in action configs. */
  secrets?: SecretBox;
  /**
   * The SSRF allow list (ACTION_ALLOWED_HOSTS): destinations of actions that the guard would refuse at send time are
   * refused when saved. Absent: not checked on save (engine tests without the API); the send still checks.
   */
  destinations?: { allow: AllowList; lookup?: HostLookup };
  /** Passed to new workflows (tests force continue-as-new early). */
  workflowOptions?: { continueAsNewAfterSignals?: number; snapshotEveryMs?: number };
}

export class TriggerService {
  private readonly log: Logger;
  constructor(private readonly deps: TriggerServiceDeps) {
    this.log = deps.logger.child({ component: 'triggers' });
  }

  async create(write: TriggerWrite): Promise<string> {
    await this.checkDestinations(write);
    const id = await withTransaction(this.deps.pool, async (client) => {
      await checkTriggerQuotas(client, write.organizationId, { newTrigger: true, actions: write.actions?.length ?? 0 });
      return saveTrigger(client, write, undefined, this.deps.secrets);
    });
    await this.ensureWorkflow(id, true);
    this.log.info({ triggerId: id, organizationId: write.organizationId }, 'trigger created');
    return id;
  }

  async update(id: string, write: TriggerWrite): Promise<void> {
    await this.checkDestinations(write);
    await withTransaction(this.deps.pool, async (client) => {
      await this.lockExisting(client, id, write.organizationId);
      await checkTriggerQuotas(client, write.organizationId, { newTrigger: false, actions: write.actions?.length });
      await saveTrigger(client, write, id, this.deps.secrets);
    });
    const stored = await loadTriggerInput(this.deps.pool, id);
    if (!stored) throw new TriggerNotFoundError(id);
    await this.sendChange(id, { kind: 'edit', input: stored.input });
  }

  async setEnabled(id: string, organizationId: string, enabled: boolean): Promise<void> {
    const { rowCount } = await this.deps.pool.query(
      'UPDATE triggers SET enabled = $3 WHERE id = $1 AND organization_id = $2',
      [id, organizationId, enabled],
    );
    if (rowCount === 0) throw new TriggerNotFoundError(id);
    await this.sendChange(id, { kind: 'enable', enabled });
  }

  async delete(id: string, organizationId: string): Promise<void> {
    const { rowCount } = await this.deps.pool.query('SELECT 1 FROM triggers WHERE id = $1 AND organization_id = $2', [
      id,
      organizationId,
    ]);
    if (rowCount === 0) throw new TriggerNotFoundError(id);
    try {
      const handle = this.deps.temporal.workflow.getHandle(triggerWorkflowId(id));
      await handle.executeUpdate(configUpdate, { args: [{ kind: 'delete' }] });
      await handle.result();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    await this.deps.pool.query('DELETE FROM triggers WHERE id = $1 AND organization_id = $2', [id, organizationId]);
    this.log.info({ triggerId: id }, 'trigger deleted');
  }

  /** The live state held by the workflow (per-agent EMA, windows, pending absences). */
  async state(id: string): Promise<TriggerView> {
    return this.deps.temporal.workflow.getHandle(triggerWorkflowId(id)).query(stateQuery);
  }

  /** Refuses (DefinitionError) actions whose destination the SSRF guard would refuse; before any write. */
  private async checkDestinations(write: TriggerWrite): Promise<void> {
    if (!this.deps.destinations || !write.actions) return;
    const issues = await refusedDestinations(write.actions, this.deps.destinations.allow, {
      lookup: this.deps.destinations.lookup,
    });
    if (issues.length > 0) throw new DefinitionError(issues);
  }

  private async lockExisting(client: pg.PoolClient, id: string, organizationId: string) {
    const { rowCount } = await client.query(
      'SELECT 1 FROM triggers WHERE id = $1 AND organization_id = $2 FOR UPDATE',
      [id, organizationId],
    );
    if (rowCount === 0) throw new TriggerNotFoundError(id);
  }

  /** Starts the trigger's workflow unless it runs already; `created`: the trigger is new (nothing to restore). */
  private async ensureWorkflow(id: string, created = false): Promise<void> {
    const stored = await loadTriggerInput(this.deps.pool, id);
    if (!stored) throw new TriggerNotFoundError(id);
    const def = compileDefinition(stored.input);
    await this.deps.temporal.workflow.start(triggerWorkflow, {
      workflowId: triggerWorkflowId(id),
      taskQueue: this.deps.taskQueue,
      args: [{ triggerId: id, ...this.deps.workflowOptions, ...(created ? { created } : {}) }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: triggerSearchAttributes(def),
      memo: { name: def.name, registry: def.registry, chainId: def.chainId },
      ...storedTriggerSummary(stored),
    });
  }

  private async sendChange(id: string, change: ConfigChange): Promise<void> {
    try {
      await this.deps.temporal.workflow
        .getHandle(triggerWorkflowId(id))
        .executeUpdate(configUpdate, { args: [change] });
    } catch (err) {
      // No running workflow (never started, or completed): start one; it reads the current definition.
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      await this.ensureWorkflow(id);
    }
  }
}

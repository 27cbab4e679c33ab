/**
 * The delivery dispatchers (workflows/delivery-dispatcher.ts), several per task queue: which one a call's new
 * deliveries go to, and making sure they run.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from '../logger.js';
import { deliveryDispatcherWorkflow } from '../../workflows/delivery-dispatcher.js';
import { dispatcherTaskQueue, dispatcherWorkflowId } from './ids.js';
import type { DeliveryRepository } from './repository.js';

/** How first attempts are spread over delivery dispatchers. */
export interface DispatchSettings {
  /** Dispatchers per task queue. Default 2. */
  dispatchers?: number;
}

export const DEFAULT_DELIVERY_DISPATCHERS = 2;
/** NOTIFY channel that wakes the dispatchers; the payload is the dispatcher's workflow id. */
export const DELIVERIES_CREATED_CHANNEL = 'deliveries_created';

/** Starts a dispatcher workflow unless it runs already. */
export async function ensureDispatcher(temporal: Client, taskQueue: string, workflowId: string): Promise<void> {
  await temporal.workflow.start(deliveryDispatcherWorkflow, {
    workflowId,
    taskQueue,
    args: [{}],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

let turn = Math.floor(Math.random() * 1_000);
/** Dispatchers this process has made sure of (a relay or a worker assigns deliveries to them). */
const ensured = new Set<string>();

/**
 * The dispatcher for the next call, in turn: a call's deliveries (a relay batch) go to one dispatcher, while
 * consecutive calls spread over all of them, so that a batch held up by a slow receiver does not hold up the next.
 */
export async function nextDispatcher(deps: {
  temporal: Client;
  taskQueue: string;
  dispatch?: DispatchSettings;
}): Promise<string> {
  turn = (turn + 1) % 1_000_000;
  const workflowId = dispatcherWorkflowId(
    deps.taskQueue,
    turn % (deps.dispatch?.dispatchers ?? DEFAULT_DELIVERY_DISPATCHERS),
  );
  if (!ensured.has(workflowId)) {
    await ensureDispatcher(deps.temporal, deps.taskQueue, workflowId);
    ensured.add(workflowId);
  }
  return workflowId;
}

/**
 * Safety net, run by the maintenance workflow: the dispatchers of deliveries that have waited over a minute (a
 * dispatcher terminated by hand while a relay still assigns to it, say) are started unless they run. Returns them.
 */
export async function ensureWaitingDispatchers(
  repository: DeliveryRepository,
  temporal: Client,
  log: Logger,
): Promise<string[]> {
  const ids = await repository.dispatchersWaitingOverAMinute();
  for (const workflowId of ids) await ensureDispatcher(temporal, dispatcherTaskQueue(workflowId), workflowId);
  if (ids.length > 0)
    log.warn({ dispatchers: ids }, 'deliveries waited over a minute: made sure their dispatchers run');
  return ids;
}

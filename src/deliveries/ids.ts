/**
 * The names delivery goes by: a delivery's idempotency key, and the Temporal workflow ids of its delivery workflow and
 * of the dispatchers. Built here only, so that the code that starts a workflow and the code that looks for it agree.
 * Pure (the delivery workflows may import it).
 */

/** One delivery per firing and action; receivers see it as the `idempotency-key` of every attempt. */
export function deliveryKey(triggerId: string, eventSeq: string, kind: string, actionId: number): string {
  return `dlv_${triggerId}_${eventSeq}_${kind}_${actionId}`;
}

/** The delivery's own workflow (workflows/delivery.ts), started when a first attempt does not settle it. */
export function deliveryWorkflowId(key: string): string {
  return `delivery/${key}`;
}

/** The workflow of the `replay`-th replay of a dead letter (a new run beside the first one, same idempotency key). */
export function replayWorkflowId(key: string, replay: number): string {
  return `${deliveryWorkflowId(key)}/replay-${replay}`;
}

/** An attempt's row in action_results (its job_id). */
export function attemptJobId(key: string, attempt: number): string {
  return `${deliveryWorkflowId(key)}#${attempt}`;
}

const DISPATCHER_PREFIX = 'deliveries/';
/** A SQL LIKE pattern matching every dispatcher's workflow id. */
export const DISPATCHER_ID_PATTERN = `${DISPATCHER_PREFIX}%`;

/** The `index`-th delivery dispatcher of a task queue (workflows/delivery-dispatcher.ts). */
export function dispatcherWorkflowId(taskQueue: string, index: number): string {
  return `${DISPATCHER_PREFIX}${taskQueue}/${index}`;
}

/** The task queue a dispatcher runs on, from its workflow id. */
export function dispatcherTaskQueue(workflowId: string): string {
  return workflowId.slice(DISPATCHER_PREFIX.length, workflowId.lastIndexOf('/'));
}

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

/** What the Temporal UI shows of a delivery workflow without opening it (its static summary and details). */
export interface DeliveryWorkflowLabel {
  staticSummary: string;
  staticDetails: string;
}

/** The UI's summary is one short line: longer trigger names are cut. */
const SUMMARY_NAME_LENGTH = 120;

/**
 * A delivery workflow's label in the Temporal UI: the trigger's name and the destination (a host or a chat, never a
 * URL path, which may hold a token), and in the details the event, the agent and the idempotency key.
 */
export function deliveryWorkflowLabel(delivery: {
  idempotencyKey: string;
  triggerName: string | null;
  triggerId: string | null;
  destination: string | null;
  eventType: string | null;
  agentKey: string | null;
  kind: string | null;
  replay?: number;
}): DeliveryWorkflowLabel {
  const fullName = delivery.triggerName ?? 'deleted trigger';
  const name = fullName.length > SUMMARY_NAME_LENGTH ? `${fullName.slice(0, SUMMARY_NAME_LENGTH - 1)}…` : fullName;
  const destination = delivery.destination ?? 'unknown destination';
  const replay = delivery.replay === undefined ? '' : ` (replay ${delivery.replay})`;
  const details = [
    `Delivery of trigger **${fullName}**${delivery.triggerId ? ` (\`${delivery.triggerId}\`)` : ''}${replay}`,
    `Destination: \`${destination}\``,
    `Event: ${delivery.eventType ?? 'unknown'}${delivery.kind === 'absence' ? ' (absence)' : ''}${delivery.agentKey ? ` for agent \`${delivery.agentKey}\`` : ''}`,
    `Idempotency key: \`${delivery.idempotencyKey}\``,
  ];
  return { staticSummary: `${name} → ${destination}${replay}`, staticDetails: details.join('\n') };
}

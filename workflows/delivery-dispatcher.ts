/**
 * Delivery dispatcher (id `deliveries/{taskQueue}/{n}`): long-lived, it receives the keys of new deliveries by signal
 * and makes their first attempts in batches, one local activity per batch (claim, attempt, record, hand off). Under
 * load, signals that arrive while a batch runs make up the next batch; so a delivery costs Temporal a share of one
 * signal and one workflow task instead of a workflow of its own. What does not settle at the first attempt — a
 * transient failure, an open breaker, a slow destination — continues in its own delivery workflow
 * (workflows/delivery.ts), started by the batch, for retries, parking and dead letters.
 *
 * A batch runs again when the worker dies during it (the workflow task is retried elsewhere): with the same claim, so it
 * picks up its own deliveries, and attempts again with their idempotency keys. It continues as new well below the
 * signal cap, carrying keys not yet attempted.
 */
import { allHandlersFinished, condition, continueAsNew, defineSignal, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { createDeliveryActivities } from '../activities/deliveries.js';

type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;

const { deliverBatch } = proxyLocalActivities<DeliveryActivities>({
  // Above the longest action timeout (120 s) plus claiming, recording and hand-offs.
  startToCloseTimeout: '5 minutes',
  // A batch that failed as a whole (Postgres unreachable) is retried: claims make that safe.
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

export interface DeliverBatch {
  keys: string[];
}

export const deliverSignal = defineSignal<[DeliverBatch]>('deliver');

export interface DeliveryDispatcherInput {
  /** Signals after which the workflow continues as new (default 1,000; Temporal's hard cap is 10,000). */
  continueAsNewAfterSignals?: number;
  /** Keys received but not yet attempted by the previous run. */
  carried?: string[];
}

/** Keys attempted by one local activity at most (the rest wait for the next batch). */
export const MAX_BATCH_KEYS = 1_000;

export async function deliveryDispatcherWorkflow(args: DeliveryDispatcherInput): Promise<void> {
  const signalCap = args.continueAsNewAfterSignals ?? 1_000;
  const queue: string[] = [...(args.carried ?? [])];
  let signals = 0;
  let batches = 0;
  setHandler(deliverSignal, ({ keys }) => {
    signals++;
    queue.push(...keys);
  });

  const continueSoon = () => signals >= signalCap || workflowInfo().continueAsNewSuggested;
  for (;;) {
    await condition(() => queue.length > 0 || continueSoon());
    while (queue.length > 0) {
      // A key signalled twice (a relay batch replayed after a crash) is attempted once.
      const keys = [...new Set(queue.splice(0, MAX_BATCH_KEYS))];
      const { workflowId, runId } = workflowInfo();
      await deliverBatch({ keys, claim: `${workflowId}/${runId}/${++batches}` });
    }
    if (continueSoon()) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof deliveryDispatcherWorkflow>({ ...args, carried: queue.splice(0) });
    }
  }
}

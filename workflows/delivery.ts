/**
 * One workflow per delivery (id `delivery/{idempotencyKey}`, or `…/replay-N` for a replay): attempts the action until it
 * succeeds, fails permanently (4xx, invalid config, hash mismatch) or exhausts its retry policy — then it is a dead
 * letter. Backoff is exponential and honours Retry-After; while the destination's circuit breaker is open the delivery
 * parks on a durable timer instead of spending attempts. Every attempt carries the same idempotency key.
 */
import { patched, proxyActivities, proxyLocalActivities, sleep } from '@temporalio/workflow';
import { afterTransientFailure, whileBreakerOpen } from '../src/deliveries/timing.js';
import type {
  AttemptOutcome,
  DeliveryPlan,
  DeliveryWorkflowActivities as DeliveryActivities,
  FirstAttempt,
} from '../src/deliveries/types.js';

const { prepareDelivery, checkBreaker, markDelivery } = proxyActivities<DeliveryActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds' },
});
/**
 * The send itself, with a timeout just above the action's own: a worker that dies mid-send is noticed then, and the
 * attempt is retried by Temporal with the same idempotency key.
 */
function sender(actionTimeoutMs: number) {
  return proxyActivities<DeliveryActivities>({
    startToCloseTimeout: actionTimeoutMs + 10_000,
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 10 },
  }).attemptDelivery;
}

/**
 * The first attempt as one local activity (prepare, breaker, send, mark delivered): in the worker running the
 * workflow, without activity tasks through the server. Not retried as such — a failure falls back to the loop below.
 * A worker that dies during it fails its workflow task, which another worker replays, attempting again with the same
 * idempotency key.
 */
const { deliverFirstAttempt } = proxyLocalActivities<DeliveryActivities>({
  // Above the longest action timeout (120 s) plus preparing and recording.
  startToCloseTimeout: '3 minutes',
  retry: { maximumAttempts: 1 },
});

export interface DeliveryWorkflowInput {
  idempotencyKey: string;
  /**
   * What a dispatcher batch already did (workflows/delivery-dispatcher.ts): its plan, and the outcome of its first
   * attempt unless it left the attempt to this workflow (breaker open, slow destination).
   */
  first?: FirstAttempt;
}

export interface DeliveryWorkflowResult {
  status: 'delivered' | 'dead' | 'skipped';
  attempts: number;
  error?: string;
}

/** The first attempt through the local activity; undefined when it failed as an activity (then the loop starts over). */
async function firstAttempt(idempotencyKey: string): Promise<FirstAttempt | undefined> {
  try {
    return await deliverFirstAttempt(idempotencyKey);
  } catch {
    return undefined;
  }
}

export async function deliveryWorkflow({
  idempotencyKey,
  first: handedOver,
}: DeliveryWorkflowInput): Promise<DeliveryWorkflowResult> {
  const started = Date.now();
  let plan: DeliveryPlan | null;
  /** An attempt already made (by the local first attempt) whose outcome the loop handles first. */
  let made: AttemptOutcome | undefined;
  // Histories from before the local first attempt went through the activities below only.
  const first = handedOver ?? (patched('local-first-attempt') ? await firstAttempt(idempotencyKey) : undefined);
  if (first) {
    plan = first.plan;
    made = first.outcome;
    if (made?.ok) return { status: 'delivered', attempts: 1 }; // marked delivered by the activity
  } else {
    plan = await prepareDelivery(idempotencyKey);
  }
  if (!plan) return { status: 'skipped', attempts: 0 };
  const { retry } = plan;
  const attemptDelivery = sender(plan.timeoutMs);
  let attempts = made ? 1 : 0;
  let lastError = '';
  for (;;) {
    let outcome: AttemptOutcome;
    if (made) {
      outcome = made;
      made = undefined;
    } else {
      // Breakers are per organization: the activity reads the delivery's (histories from before called it without).
      const gate = await (patched('breaker-per-organization')
        ? checkBreaker(plan.destination, idempotencyKey)
        : checkBreaker(plan.destination));
      if (gate.open) {
        const parking = whileBreakerOpen(retry, { elapsedMs: Date.now() - started, retryInMs: gate.retryInMs });
        if (!parking.park) break;
        await markDelivery(idempotencyKey, 'parked');
        await sleep(parking.sleepMs);
        continue;
      }
      attempts++;
      outcome = await attemptDelivery({
        idempotencyKey,
        attempt: plan.attemptsBefore + attempts,
        destination: plan.destination,
      });
    }
    if (outcome.ok) {
      await markDelivery(idempotencyKey, 'delivered');
      return { status: 'delivered', attempts };
    }
    lastError = outcome.error;
    if (outcome.permanent) {
      await markDelivery(idempotencyKey, 'dead', outcome.error);
      return { status: 'dead', attempts, error: outcome.error };
    }
    const next = afterTransientFailure(retry, {
      attempts,
      elapsedMs: Date.now() - started,
      retryAfterMs: outcome.retryAfterMs,
    });
    if (!next.retry) break;
    await sleep(next.delayMs);
  }
  const error = `gave up after ${attempts} attempt(s) within the retry policy: ${lastError || 'destination unavailable (circuit open)'}`;
  await markDelivery(idempotencyKey, 'dead', error);
  return { status: 'dead', attempts, error };
}

/**
 * One workflow per delivery (id `delivery/{idempotencyKey}`, or `…/replay-N` for a replay): attempts the action until it
 * succeeds, fails permanently (4xx, invalid config, hash mismatch) or exhausts its retry policy — then it is a dead
 * letter. Backoff is exponential and honours Retry-After; while the destination's circuit breaker is open the delivery
 * parks on a durable timer instead of spending attempts. Every attempt carries the same idempotency key.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { createDeliveryActivities } from '../activities/deliveries.js';

type DeliveryActivities = ReturnType<typeof createDeliveryActivities>;

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

export interface DeliveryWorkflowInput {
  idempotencyKey: string;
}

export interface DeliveryWorkflowResult {
  status: 'delivered' | 'dead' | 'skipped';
  attempts: number;
  error?: string;
}

export async function deliveryWorkflow({ idempotencyKey }: DeliveryWorkflowInput): Promise<DeliveryWorkflowResult> {
  const started = Date.now();
  const plan = await prepareDelivery(idempotencyKey);
  if (!plan) return { status: 'skipped', attempts: 0 };
  const { retry } = plan;
  const attemptDelivery = sender(plan.timeoutMs);
  let attempts = 0;
  let lastError = '';
  for (;;) {
    const gate = await checkBreaker(plan.destination);
    if (gate.open) {
      if (Date.now() - started + gate.retryInMs > retry.horizon_ms) break;
      await markDelivery(idempotencyKey, 'parked');
      await sleep(gate.retryInMs);
      continue;
    }
    attempts++;
    const outcome = await attemptDelivery({ idempotencyKey, attempt: plan.attemptsBefore + attempts, destination: plan.destination });
    if (outcome.ok) {
      await markDelivery(idempotencyKey, 'delivered');
      return { status: 'delivered', attempts };
    }
    lastError = outcome.error;
    if (outcome.permanent) {
      await markDelivery(idempotencyKey, 'dead', outcome.error);
      return { status: 'dead', attempts, error: outcome.error };
    }
    const backoff = Math.min(retry.initial_interval_ms * 2 ** (attempts - 1), retry.max_interval_ms);
    const delay = Math.max(outcome.retryAfterMs ?? 0, backoff);
    if (attempts >= retry.max_attempts || Date.now() - started + delay > retry.horizon_ms) break;
    await sleep(delay);
  }
  const error = `gave up after ${attempts} attempt(s) within the retry policy: ${lastError || 'destination unavailable (circuit open)'}`;
  await markDelivery(idempotencyKey, 'dead', error);
  return { status: 'dead', attempts, error };
}

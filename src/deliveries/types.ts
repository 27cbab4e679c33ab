/**
 * What the trigger and delivery workflows and the delivery activities exchange: firings, plans, attempt outcomes, and
 * the activities the delivery workflows call (activities/deliveries.ts implements them). Types only: the workflows import them.
 */
import type { BreakerGate } from '../actions/breaker.js';
import type { RetryPolicy } from '../actions/config.js';

/** A trigger's firing, as its workflow (or the relay) records it: one delivery per action follows. */
export interface MatchRecord {
  eventSeq: string;
  eventId: string;
  agentKey: string;
  kind: 'match' | 'absence';
  /** Block time, Unix seconds. */
  timestamp: number;
  evaluation: unknown;
}

export interface AttemptOutcome {
  ok: boolean;
  permanent: boolean;
  error: string;
  status?: number;
  retryAfterMs?: number;
}

/** An outcome with what the destination answered (recorded in action_results, not passed to workflows). */
export type SentOutcome = AttemptOutcome & { excerpt?: string };

export interface DeliveryPlan {
  destination: string;
  retry: RetryPolicy;
  attemptsBefore: number;
  /** The action's own request timeout. */
  timeoutMs: number;
}

/** What deliverFirstAttempt did: no plan (nothing to deliver), a plan without an attempt (breaker open), or both. */
export interface FirstAttempt {
  plan: DeliveryPlan | null;
  /** Present when the attempt was made; when ok, the delivery is already marked delivered. */
  outcome?: AttemptOutcome;
}

/** What a delivery batch did with its deliveries. */
export interface BatchResult {
  claimed: number;
  delivered: number;
  dead: number;
  /** Handed to their own delivery workflow: failed transiently, breaker open, or a slow destination. */
  handedOff: number;
}

/** What one shift of a dispatcher's pump did (its activity result, and its heartbeat details). */
export interface PumpResult extends BatchResult {
  batches: number;
}

export interface AttemptRequest {
  idempotencyKey: string;
  attempt: number;
  destination: string;
}

export type DeliveryMark = 'parked' | 'delivered' | 'dead';

/** The activities the delivery and dispatcher workflows call (activities/deliveries.ts). */
export interface DeliveryWorkflowActivities {
  prepareDelivery(key: string): Promise<DeliveryPlan | null>;
  checkBreaker(destination: string, idempotencyKey?: string): Promise<BreakerGate>;
  attemptDelivery(args: AttemptRequest): Promise<AttemptOutcome>;
  markDelivery(key: string, status: DeliveryMark, error?: string): Promise<void>;
  deliverFirstAttempt(key: string): Promise<FirstAttempt>;
  pumpDeliveries(args: { dispatcherId: string; shiftMs: number }): Promise<PumpResult>;
}

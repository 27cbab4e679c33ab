/**
 * When the delivery workflow (workflows/delivery.ts) tries again, parks, or gives up: pure decisions over the action's
 * retry policy, so that they can be tested without a workflow. Workflow-safe: no I/O, no clock — the caller passes the
 * time elapsed since the delivery's workflow started.
 */
import type { RetryPolicy } from '../actions/config.js';

/** The exponential backoff before attempt `attempts + 1`: the initial interval, doubled per attempt, capped. */
export function backoffMs(retry: RetryPolicy, attempts: number): number {
  return Math.min(retry.initial_interval_ms * 2 ** (attempts - 1), retry.max_interval_ms);
}

/** The wait before the next attempt: the backoff, or longer when the destination asked for it (`Retry-After`). */
export function retryDelayMs(retry: RetryPolicy, attempts: number, retryAfterMs: number | undefined): number {
  return Math.max(retryAfterMs ?? 0, backoffMs(retry, attempts));
}

/** Whether waiting `waitMs` more still ends within the retry horizon (counted from the workflow's start). */
export function withinHorizon(retry: RetryPolicy, elapsedMs: number, waitMs: number): boolean {
  return elapsedMs + waitMs <= retry.horizon_ms;
}

/** After a transient failure: wait `delayMs` and attempt again, or give up (dead letter). */
export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/** What follows a transient failure, after `attempts` attempts in `elapsedMs`. */
export function afterTransientFailure(
  retry: RetryPolicy,
  { attempts, elapsedMs, retryAfterMs }: { attempts: number; elapsedMs: number; retryAfterMs?: number },
): RetryDecision {
  const delayMs = retryDelayMs(retry, attempts, retryAfterMs);
  if (attempts >= retry.max_attempts || !withinHorizon(retry, elapsedMs, delayMs)) return { retry: false };
  return { retry: true, delayMs };
}

/** While the destination's breaker is open: park for `sleepMs` (no attempt spent), or give up. */
export type ParkDecision = { park: true; sleepMs: number } | { park: false };

/** What an open breaker that reopens in `retryInMs` means for a delivery `elapsedMs` into its retry horizon. */
export function whileBreakerOpen(
  retry: RetryPolicy,
  { elapsedMs, retryInMs }: { elapsedMs: number; retryInMs: number },
): ParkDecision {
  return withinHorizon(retry, elapsedMs, retryInMs) ? { park: true, sleepMs: retryInMs } : { park: false };
}

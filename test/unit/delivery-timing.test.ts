import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, retryPolicySchema, type RetryPolicy } from '../../src/actions/config.js';
import {
  afterTransientFailure,
  backoffMs,
  retryDelayMs,
  whileBreakerOpen,
  withinHorizon,
} from '../../src/deliveries/timing.js';

/** Any retry policy an action may configure (the schema's bounds). */
const retryPolicy: fc.Arbitrary<RetryPolicy> = fc
  .record({
    max_attempts: fc.integer({ min: 1, max: 1_000 }),
    initial_interval_ms: fc.integer({ min: 100, max: 3_600_000 }),
    max_interval_ms: fc.integer({ min: 100, max: 86_400_000 }),
    horizon_ms: fc.integer({ min: 1_000, max: 7 * 86_400_000 }),
  })
  .filter((r) => r.max_interval_ms >= r.initial_interval_ms)
  .map((r) => retryPolicySchema.parse(r));
const attempts = fc.integer({ min: 1, max: 2_000 });
const elapsed = fc.integer({ min: 0, max: 8 * 86_400_000 });
const retryAfter = fc.option(fc.integer({ min: 0, max: 86_400_000 }), { nil: undefined });

describe('backoffMs', () => {
  it('doubles from the initial interval up to the cap (the defaults: 1 s, 2 s, 4 s … 30 min)', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(DEFAULT_RETRY, n))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(backoffMs(DEFAULT_RETRY, 11)).toBe(1_024_000);
    expect(backoffMs(DEFAULT_RETRY, 12)).toBe(30 * 60_000);
    expect(backoffMs(DEFAULT_RETRY, 1_000)).toBe(30 * 60_000);
  });

  it('stays between the initial and the maximum interval, and never shrinks from one attempt to the next', () => {
    fc.assert(
      fc.property(retryPolicy, attempts, (retry, n) => {
        const now = backoffMs(retry, n);
        expect(now).toBeGreaterThanOrEqual(retry.initial_interval_ms);
        expect(now).toBeLessThanOrEqual(retry.max_interval_ms);
        expect(backoffMs(retry, n + 1)).toBeGreaterThanOrEqual(now);
        // Doubles until the cap.
        expect(backoffMs(retry, n + 1)).toBe(Math.min(now * 2, retry.max_interval_ms));
      }),
    );
  });
});

describe('retryDelayMs', () => {
  it('is the backoff unless the destination asked for longer (Retry-After)', () => {
    expect(retryDelayMs(DEFAULT_RETRY, 1, undefined)).toBe(1_000);
    expect(retryDelayMs(DEFAULT_RETRY, 1, 500)).toBe(1_000);
    expect(retryDelayMs(DEFAULT_RETRY, 1, 5_000)).toBe(5_000);
    fc.assert(
      fc.property(retryPolicy, attempts, retryAfter, (retry, n, after) => {
        const delay = retryDelayMs(retry, n, after);
        expect(delay).toBe(Math.max(after ?? 0, backoffMs(retry, n)));
      }),
    );
  });
});

describe('afterTransientFailure', () => {
  it('retries after the delay while attempts and the horizon allow it, else gives up', () => {
    fc.assert(
      fc.property(retryPolicy, attempts, elapsed, retryAfter, (retry, n, elapsedMs, after) => {
        const decision = afterTransientFailure(retry, { attempts: n, elapsedMs, retryAfterMs: after });
        const delayMs = retryDelayMs(retry, n, after);
        const allowed = n < retry.max_attempts && elapsedMs + delayMs <= retry.horizon_ms;
        expect(decision).toEqual(allowed ? { retry: true, delayMs } : { retry: false });
      }),
    );
  });

  it('gives up at max_attempts, and when the wait would end past the horizon', () => {
    const retry = { ...DEFAULT_RETRY, max_attempts: 3, horizon_ms: 60_000 };
    expect(afterTransientFailure(retry, { attempts: 2, elapsedMs: 0 })).toEqual({ retry: true, delayMs: 2_000 });
    expect(afterTransientFailure(retry, { attempts: 3, elapsedMs: 0 })).toEqual({ retry: false });
    expect(afterTransientFailure(retry, { attempts: 1, elapsedMs: 59_000 })).toEqual({ retry: true, delayMs: 1_000 });
    expect(afterTransientFailure(retry, { attempts: 1, elapsedMs: 59_001 })).toEqual({ retry: false });
    // A Retry-After beyond the horizon ends the delivery rather than be cut short.
    expect(afterTransientFailure(retry, { attempts: 1, elapsedMs: 0, retryAfterMs: 61_000 })).toEqual({
      retry: false,
    });
  });

  it('never lets a delivery wait past its horizon nor attempt more than max_attempts', () => {
    fc.assert(
      fc.property(retryPolicy, fc.array(retryAfter, { minLength: 1, maxLength: 60 }), (retry, answers) => {
        // A destination that fails every attempt, each answer with its own Retry-After.
        let elapsedMs = 0;
        let made = 0;
        for (const after of answers) {
          made++;
          const decision = afterTransientFailure(retry, { attempts: made, elapsedMs, retryAfterMs: after });
          if (!decision.retry) break;
          elapsedMs += decision.delayMs;
        }
        expect(made).toBeLessThanOrEqual(retry.max_attempts);
        expect(elapsedMs).toBeLessThanOrEqual(retry.horizon_ms);
      }),
    );
  });
});

describe('whileBreakerOpen', () => {
  it('parks until the breaker reopens if that is within the horizon, else gives up', () => {
    fc.assert(
      fc.property(retryPolicy, elapsed, fc.integer({ min: 0, max: 15 * 60_000 }), (retry, elapsedMs, retryInMs) => {
        const decision = whileBreakerOpen(retry, { elapsedMs, retryInMs });
        expect(decision).toEqual(
          withinHorizon(retry, elapsedMs, retryInMs) ? { park: true, sleepMs: retryInMs } : { park: false },
        );
      }),
    );
    const retry = { ...DEFAULT_RETRY, horizon_ms: 60_000 };
    expect(whileBreakerOpen(retry, { elapsedMs: 30_000, retryInMs: 30_000 })).toEqual({ park: true, sleepMs: 30_000 });
    expect(whileBreakerOpen(retry, { elapsedMs: 30_001, retryInMs: 30_000 })).toEqual({ park: false });
  });
});

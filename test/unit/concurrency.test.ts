import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConcurrencyGate, forEachConcurrently, GateFullError } from '../../src/concurrency.js';

describe('forEachConcurrently', () => {
  it('visits every item once, never more than `concurrency` at a time, starting them in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(5), { maxLength: 40 }),
        fc.integer({ min: 1, max: 8 }),
        async (delays, concurrency) => {
          const started: number[] = [];
          let running = 0;
          let peak = 0;
          await forEachConcurrently(
            delays.map((d, i) => ({ d, i })),
            concurrency,
            async ({ d, i }) => {
              started.push(i);
              peak = Math.max(peak, ++running);
              await new Promise((r) => setTimeout(r, d));
              running--;
            },
          );
          expect(started).toEqual(delays.map((_, i) => i));
          expect(peak).toBeLessThanOrEqual(concurrency);
          if (delays.length >= concurrency && delays.every((d) => d > 0)) expect(peak).toBe(concurrency);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rejects with the failure of an item', async () => {
    await expect(
      forEachConcurrently([1, 2, 3], 2, async (n) => {
        if (n === 2) throw new Error('item 2 failed');
      }),
    ).rejects.toThrow('item 2 failed');
  });

  it('does nothing for no items, and treats a concurrency below 1 as 1', async () => {
    let calls = 0;
    await forEachConcurrently([], 4, async () => void calls++);
    await forEachConcurrently([1, 2], 0, async () => void calls++);
    expect(calls).toBe(2);
  });
});

describe('ConcurrencyGate', () => {
  it('runs at most `concurrency` at a time, in order of arrival, and refuses callers beyond `maxWaiting` at once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(4), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 10 }),
        async (delays, concurrency, maxWaiting) => {
          const gate = new ConcurrencyGate(concurrency, maxWaiting);
          const started: number[] = [];
          let running = 0;
          let peak = 0;
          const outcomes = await Promise.allSettled(
            delays.map((d, i) =>
              gate.run(async () => {
                started.push(i);
                peak = Math.max(peak, ++running);
                await new Promise((r) => setTimeout(r, d));
                running--;
                return i;
              }),
            ),
          );
          // All arrive before any finishes: the first `concurrency + maxWaiting` are admitted, the rest refused.
          const admitted = Math.min(delays.length, concurrency + maxWaiting);
          expect(outcomes.slice(0, admitted).every((o) => o.status === 'fulfilled')).toBe(true);
          for (const o of outcomes.slice(admitted)) {
            expect(o.status).toBe('rejected');
            expect((o as PromiseRejectedResult).reason).toBeInstanceOf(GateFullError);
          }
          expect(started).toEqual([...Array(admitted).keys()]);
          expect(peak).toBeLessThanOrEqual(concurrency);
          expect(gate.peakInFlight).toBe(Math.min(concurrency, admitted));
          expect(gate.queued).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('frees the slot of a run that fails', async () => {
    const gate = new ConcurrencyGate(1, 0);
    await expect(gate.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(gate.run(async () => 'next')).resolves.toBe('next');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forEachConcurrently } from '../../src/concurrency.js';

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

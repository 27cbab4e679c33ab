import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isQueryError } from '../../src/queries/errors.js';
import type { FeedbackPoint } from '../../src/queries/feedback-point.js';
import {
  GRANULARITIES,
  MAX_TREND_BUCKETS,
  bucketStart,
  computeTrend,
  nextBucketStart,
  type Granularity,
} from '../../src/queries/trend.js';

const WAD = 10n ** 18n;
const at = (iso: string) => Date.parse(iso) / 1000;
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const point = (client: string, value: bigint, time: string, revoked = false): FeedbackPoint => ({
  client,
  wad: value * WAD,
  time: at(time),
  revoked,
});

describe('bucketStart', () => {
  it('starts days at UTC midnight, ISO weeks on Monday and months on the 1st', () => {
    const t = at('2026-12-10T15:30:00Z'); // a Thursday
    expect(iso(bucketStart(t, 'day'))).toBe('2026-12-10T00:00:00.000Z');
    expect(iso(bucketStart(t, 'week'))).toBe('2026-12-07T00:00:00.000Z');
    expect(iso(bucketStart(t, 'month'))).toBe('2026-12-01T00:00:00.000Z');
    expect(iso(bucketStart(at('2026-12-07T00:00:00Z'), 'week'))).toBe('2026-12-07T00:00:00.000Z');
    expect(iso(bucketStart(at('2026-12-06T23:59:59Z'), 'week'))).toBe('2026-11-30T00:00:00.000Z');
    expect(iso(nextBucketStart(at('2026-12-01T00:00:00Z'), 'month'))).toBe('2027-01-01T00:00:00.000Z');
    expect(iso(nextBucketStart(at('2024-02-01T00:00:00Z'), 'month'))).toBe('2024-03-01T00:00:00.000Z');
  });

  it('puts every instant in a bucket that holds it, aligned to itself', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800 }), fc.constantFrom(...GRANULARITIES), (t, g) => {
        const start = bucketStart(t, g);
        const end = nextBucketStart(start, g);
        expect(start).toBeLessThanOrEqual(t);
        expect(t).toBeLessThan(end);
        expect(bucketStart(start, g)).toBe(start);
        if (g === 'week') expect(new Date(start * 1000).getUTCDay()).toBe(1); // Monday
        if (g === 'month') expect(new Date(start * 1000).getUTCDate()).toBe(1);
      }),
    );
  });
});

describe('computeTrend', () => {
  it('fills empty months, restates revoked feedback away, counts new clients and cumulative figures', () => {
    const feedback = [
      point('0xa', 90n, '2026-01-15T00:00:00Z'),
      point('0xb', -3n, '2026-01-20T00:00:00Z'),
      point('0xa', 70n, '2026-03-02T00:00:00Z'),
      point('0xc', 10n, '2026-03-03T00:00:00Z', true), // revoked: nowhere
      point('0xb', -4n, '2026-04-10T00:00:00Z'),
    ];
    const trend = computeTrend(feedback, 'month', at('2026-04-20T12:00:00Z'));
    expect(trend.buckets.map((b) => iso(b.start).slice(0, 7))).toEqual(['2026-01', '2026-02', '2026-03', '2026-04']);
    expect(trend.buckets.map((b) => b.count)).toEqual([2, 0, 1, 1]);
    // (90 − 3)/2 = 43.5, truncated
    expect(trend.buckets.map((b) => b.meanWad)).toEqual([435n * 10n ** 17n, null, 70n * WAD, -4n * WAD]);
    expect(trend.buckets.map((b) => b.uniqueClients)).toEqual([2, 0, 1, 1]);
    expect(trend.buckets.map((b) => b.newClients)).toEqual([2, 0, 0, 0]);
    expect(trend.buckets.map((b) => b.cumulativeCount)).toEqual([2, 2, 3, 4]);
    // (90 − 3 + 70 − 4)/4 = 38.25
    expect(trend.buckets[3]!.cumulativeMeanWad).toBe(3825n * 10n ** 16n);
    expect(trend.buckets.map((b) => b.partial)).toEqual([false, false, false, true]);
  });

  it('truncates negative means toward zero, like the contract', () => {
    const trend = computeTrend(
      [point('0xa', -1n, '2026-01-01T00:00:00Z'), point('0xb', -2n, '2026-01-01T01:00:00Z')],
      'day',
      at('2026-01-01T02:00:00Z'),
    );
    expect(trend.buckets).toHaveLength(1);
    expect(trend.buckets[0]!.meanWad).toBe(-(15n * 10n ** 17n));
    const thirds = computeTrend(
      [1n, 1n, -3n].map((v, i) => ({ client: `0x${i}`, wad: v, time: at('2026-01-01T00:00:00Z'), revoked: false })),
      'day',
      at('2026-01-01T00:00:00Z'),
    );
    expect(thirds.buckets[0]!.meanWad).toBe(0n); // −1/3 → 0, not −1
  });

  it('counts feedback before an explicit window in the cumulative figures only, and marks cut buckets partial', () => {
    const feedback = [point('0xa', 10n, '2026-01-01T00:00:00Z'), point('0xa', 20n, '2026-01-10T00:00:00Z')];
    const trend = computeTrend(feedback, 'week', at('2026-02-01T00:00:00Z'), {
      from: at('2026-01-08T00:00:00Z'), // a Thursday
      to: at('2026-01-22T00:00:00Z'),
    });
    expect(trend.buckets.map((b) => iso(b.start).slice(0, 10))).toEqual(['2026-01-05', '2026-01-12', '2026-01-19']);
    expect(trend.buckets.map((b) => b.count)).toEqual([1, 0, 0]);
    expect(trend.buckets.map((b) => b.newClients)).toEqual([0, 0, 0]); // 0xa's first feedback was before the window
    expect(trend.buckets.map((b) => b.cumulativeCount)).toEqual([2, 2, 2]);
    expect(trend.buckets.map((b) => b.partial)).toEqual([true, false, true]);
  });

  it('refuses a window of more than 365 buckets or one that ends before it starts', () => {
    const refused = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return isQueryError(err, 'invalid_params');
      }
      return false;
    };
    const now = at('2026-12-31T00:00:00Z');
    expect(refused(() => computeTrend([], 'day', now, { from: at('2025-01-01T00:00:00Z') }))).toBe(true);
    expect(computeTrend([], 'day', now, { from: at('2026-01-01T00:00:00Z') }).buckets).toHaveLength(MAX_TREND_BUCKETS);
    expect(refused(() => computeTrend([], 'day', now, { from: now + 10, to: now }))).toBe(true);
  });

  it('ends a window at the as-of time: the buckets after it are unknown, the one holding it is partial', () => {
    const trend = computeTrend([point('0xa', 1n, '2026-01-02T00:00:00Z')], 'month', at('2026-02-10T00:00:00Z'), {
      from: at('2026-01-01T00:00:00Z'),
      to: at('2026-12-01T00:00:00Z'),
    });
    expect(trend.to).toBe(at('2026-02-10T00:00:01Z'));
    expect(trend.buckets.map((b) => [iso(b.start).slice(0, 7), b.partial])).toEqual([
      ['2026-01', false],
      ['2026-02', true],
    ]);
  });

  it('keeps the latest 365 buckets by default', () => {
    const trend = computeTrend([point('0xa', 1n, '2020-01-01T00:00:00Z')], 'day', at('2026-06-01T00:00:00Z'));
    expect(trend.buckets).toHaveLength(MAX_TREND_BUCKETS);
    expect(trend.buckets.at(-1)!.cumulativeCount).toBe(1);
    expect(trend.buckets.reduce((s, b) => s + b.count, 0)).toBe(0);
  });

  const anyFeedback = fc.array(
    fc.record({
      client: fc.constantFrom('0xa', '0xb', '0xc', '0xd'),
      wad: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
      time: fc.integer({ min: at('2025-01-01T00:00:00Z'), max: at('2026-12-31T00:00:00Z') }),
      revoked: fc.boolean(),
    }),
    { maxLength: 60 },
  );

  it('gives contiguous buckets whose counts and new clients add up to the window’s', () => {
    fc.assert(
      fc.property(anyFeedback, fc.constantFrom<Granularity>('week', 'month'), (feedback, granularity) => {
        const asOfTime = at('2026-12-31T00:00:00Z');
        const { buckets, from, to } = computeTrend(feedback, granularity, asOfTime);
        expect(buckets.length).toBeGreaterThan(0);
        expect(buckets.length).toBeLessThanOrEqual(MAX_TREND_BUCKETS);
        for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.start).toBe(buckets[i - 1]!.end);
        expect(buckets[0]!.start).toBeLessThanOrEqual(from);
        expect(buckets.at(-1)!.end).toBeGreaterThanOrEqual(to);
        const counted = feedback.filter((f) => !f.revoked);
        const inWindow = counted.filter((f) => f.time >= from && f.time < to);
        expect(buckets.reduce((s, b) => s + b.count, 0)).toBe(inWindow.length);
        expect(buckets.reduce((s, b) => s + b.newClients, 0)).toBe(new Set(inWindow.map((f) => f.client)).size);
        expect(buckets.at(-1)!.cumulativeCount).toBe(counted.filter((f) => f.time < to).length);
        for (const b of buckets) expect(b.meanWad === null).toBe(b.count === 0);
      }),
    );
  });
});

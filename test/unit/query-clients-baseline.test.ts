import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareWithPopulation, percentileRank, quantile } from '../../src/queries/baseline.js';
import { computeClientConcentration } from '../../src/queries/client-concentration.js';
import type { FeedbackPoint } from '../../src/queries/feedback-point.js';
import { ratioString } from '../../src/queries/ratio.js';
import { compareScaled, parseDecimal } from '../../src/triggers/decimal.js';

const WAD = 10n ** 18n;
/** `counts[i]` feedback from client i, value 1, one second apart. */
function fromCounts(counts: readonly number[]): FeedbackPoint[] {
  return counts.flatMap((n, i) =>
    Array.from({ length: n }, (_, j) => ({
      client: `0x${i.toString(16).padStart(2, '0')}`,
      wad: WAD,
      time: j,
      revoked: false,
    })),
  );
}
const decimal = (text: string | null) => parseDecimal(text!)!;

describe('computeClientConcentration', () => {
  it('computes shares, HHI and flags from the counts', () => {
    const analysis = computeClientConcentration(fromCounts([6, 2, 1, 1]), new Set(['0x02', '0x03']));
    expect(analysis.feedbackCount).toBe(10);
    expect(analysis.clientCount).toBe(4);
    expect(analysis.repeatClients).toBe(2);
    expect(analysis.hhi).toBe('0.420000'); // (36 + 4 + 1 + 1)/100
    expect(analysis.effectiveClients).toBe('2.380952'); // 100/42, truncated
    expect(analysis.topClientShare).toBe('0.600000');
    expect(analysis.top5Share).toBe('1.000000');
    expect(analysis.exclusiveClientShare).toBe('0.500000'); // 2 of 4: not more than half
    expect(analysis.flags).toEqual(['LOW_DIVERSITY', 'CONCENTRATED', 'DOMINANT_CLIENT']);
    expect(analysis.clients.map((c) => [c.client, c.count])).toEqual([
      ['0x00', 6],
      ['0x01', 2],
      ['0x02', 1],
      ['0x03', 1],
    ]);
  });

  it('keeps revoked feedback out of the counts but in the client’s figures', () => {
    const feedback: FeedbackPoint[] = [
      { client: '0xa', wad: 5n * WAD, time: 10, revoked: false },
      { client: '0xa', wad: -2n * WAD, time: 20, revoked: false },
      { client: '0xb', wad: 9n * WAD, time: 5, revoked: true },
    ];
    const analysis = computeClientConcentration(feedback, new Set());
    expect(analysis.clients).toEqual([
      { client: '0xa', count: 2, revoked: 0, first: 10, last: 20, meanWad: 15n * 10n ** 17n },
      { client: '0xb', count: 0, revoked: 1, first: 5, last: 5, meanWad: null },
    ]);
    expect(analysis.clientCount).toBe(1);
    expect(analysis.hhi).toBe('1.000000');
  });

  it('raises a flag only strictly above its threshold', () => {
    // Two clients with equal counts: the top share is exactly 1/2, not dominant; both exclusive of 2 → 1 > 1/2.
    const even = computeClientConcentration(fromCounts([3, 3]), new Set(['0x00', '0x01']));
    expect(even.flags).toEqual(['LOW_DIVERSITY', 'EXCLUSIVE_CLIENTS']);
    // Ten equal clients: HHI 0.1, not concentrated, not low diversity.
    expect(computeClientConcentration(fromCounts(Array(10).fill(2)), new Set()).flags).toEqual([]);
    // Nothing counted: only LOW_DIVERSITY, and no ratios.
    const none = computeClientConcentration([], new Set());
    expect(none.flags).toEqual(['LOW_DIVERSITY']);
    expect(none.hhi).toBeNull();
  });

  it('keeps HHI between 1/K and 1 and effective clients between 1 and K', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 30 }), (counts) => {
        const analysis = computeClientConcentration(fromCounts(counts), new Set());
        const k = BigInt(counts.length);
        expect(analysis.clientCount).toBe(counts.length);
        expect(compareScaled(decimal(analysis.hhi), decimal(ratioString(1n, k)))).toBeGreaterThanOrEqual(0);
        expect(compareScaled(decimal(analysis.hhi), decimal('1'))).toBeLessThanOrEqual(0);
        expect(compareScaled(decimal(analysis.effectiveClients), decimal('1'))).toBeGreaterThanOrEqual(0);
        expect(compareScaled(decimal(analysis.effectiveClients), decimal(k.toString()))).toBeLessThanOrEqual(0);
        expect(compareScaled(decimal(analysis.topClientShare), decimal(analysis.top5Share))).toBeLessThanOrEqual(0);
        const n = counts.reduce((s, c) => s + c, 0);
        expect(analysis.flags.includes('DOMINANT_CLIENT')).toBe(2 * Math.max(...counts) > n);
      }),
    );
  });
});

describe('baseline', () => {
  const w = (n: number) => BigInt(n) * WAD;

  it('ranks by mid-rank, with lower-is-better metrics reversed', () => {
    expect(percentileRank(w(2), [w(1), w(2), w(2), w(3)], true)).toBe('50.000000');
    expect(percentileRank(w(3), [w(1), w(2), w(2)], true)).toBe('100.000000');
    expect(percentileRank(w(1), [w(1), w(2), w(3)], true)).toBe('16.666666');
    expect(percentileRank(w(1), [w(1), w(2), w(3)], false)).toBe('83.333333');
    expect(percentileRank(w(1), [], true)).toBeNull();
  });

  it('interpolates quartiles like percentile_cont, truncating at 18 decimals', () => {
    expect(quantile([0n, 10n, 20n, 30n, 40n], 1n, 4n)).toBe(10n);
    expect(quantile([0n, 10n, 20n, 30n], 1n, 4n)).toBe(7n); // 7.5
    expect(quantile([0n, 10n, 20n, 30n], 1n, 2n)).toBe(15n);
    expect(quantile([-30n, -20n, -10n, 0n], 1n, 4n)).toBe(-22n); // −22.5 toward zero
    expect(quantile([5n], 3n, 4n)).toBe(5n);
    expect(quantile([], 1n, 2n)).toBeUndefined();
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), { minLength: 1, maxLength: 40 }),
        (values) => {
          const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          const [p25, p50, p75] = [quantile(sorted, 1n, 4n)!, quantile(sorted, 1n, 2n)!, quantile(sorted, 3n, 4n)!];
          expect(sorted[0]! <= p25 && p25 <= p50 && p50 <= p75 && p75 <= sorted.at(-1)!).toBe(true);
        },
      ),
    );
  });

  it('pulls the mean toward the population’s by the median sample size', () => {
    const population = [
      { value: w(60), sampleSize: 2 },
      { value: w(80), sampleSize: 4 },
      { value: w(100), sampleSize: 6 },
      { value: w(40), sampleSize: 8 },
    ];
    const baseline = compareWithPopulation('mean', { value: w(90), sampleSize: 5 }, population);
    expect(baseline.populationSize).toBe(4);
    expect(baseline.populationMean).toBe(w(70));
    expect(baseline.medianSampleSizeTimesTwo).toBe(10n); // median 5
    expect(baseline.shrunkValue).toBe(w(80)); // (5·70 + 5·90)/10
    expect(baseline.median).toBe(w(70));
    expect(baseline.percentileRank).toBe('75.000000');
    // An agent with no feedback is the population mean; a count is not shrunk.
    expect(compareWithPopulation('mean', undefined, population).shrunkValue).toBe(w(70));
    expect(compareWithPopulation('count', { value: w(5), sampleSize: 5 }, population).shrunkValue).toBeNull();
    expect(compareWithPopulation('mean', { value: w(5), sampleSize: 5 }, []).percentileRank).toBeNull();
  });
});

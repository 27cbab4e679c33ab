import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeedbackPoint } from '../../src/queries/feedback-point.js';
import { confidenceOf, recentDecline, reportSignals, type SignalInputs } from '../../src/queries/report-signals.js';

const WAD = 10n ** 18n;
const DAY = 86_400;
const NOW = 1_800_000_000;
const at = (daysAgo: number, value: bigint, revoked = false): FeedbackPoint => ({
  client: '0xa',
  wad: value * WAD,
  time: NOW - daysAgo * DAY,
  revoked,
});

const quiet: SignalInputs = {
  feedbackCount: 50,
  revokedCount: 0,
  decline: { recentCount: 0, priorCount: 0, recentMeanWad: null, priorMeanWad: null, declined: false },
  validationRequests: 3,
  failedValidations: 0,
  clientFlags: [],
  hhi: '0.100000',
  topClientShare: '0.100000',
  exclusiveClientShare: '0.000000',
  clientCount: 10,
};

describe('recentDecline', () => {
  it('declines when the last 30 days are more than one deviation below the 90 before', () => {
    const prior = [80n, 82n, 78n, 80n, 80n].map((v, i) => at(40 + i, v)); // mean 80, σ ≈ 1.26
    const recent = [70n, 71n, 72n, 70n, 72n].map((v, i) => at(1 + i, v));
    const decline = recentDecline([...prior, ...recent], NOW);
    expect(decline).toEqual({
      recentCount: 5,
      priorCount: 5,
      recentMeanWad: 71n * WAD,
      priorMeanWad: 80n * WAD,
      declined: true,
    });
    // 79 is less than one σ below 80.
    expect(recentDecline([...prior, ...[79n, 79n, 79n, 79n, 79n].map((v, i) => at(i, v))], NOW).declined).toBe(false);
    // Four recent points are not enough; revoked feedback does not count.
    expect(recentDecline([...prior, ...recent.slice(0, 4), at(2, 0n, true)], NOW).declined).toBe(false);
    // Older than 120 days is outside both windows.
    expect(recentDecline([...prior.map((f) => ({ ...f, time: f.time - 100 * DAY })), ...recent], NOW).priorCount).toBe(
      0,
    );
  });

  it('agrees with a floating-point check away from the boundary', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 5, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 5, maxLength: 12 }),
        (prior, recent) => {
          const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
          const sigma = Math.sqrt(mean(prior.map((x) => (x - mean(prior)) ** 2)));
          const gap = mean(prior) - mean(recent) - sigma;
          fc.pre(Math.abs(gap) > 1e-6);
          const feedback = [...prior.map((v, i) => at(31 + i, BigInt(v))), ...recent.map((v, i) => at(i, BigInt(v)))];
          expect(recentDecline(feedback, NOW).declined).toBe(gap > 0);
        },
      ),
    );
  });
});

describe('reportSignals', () => {
  it('raises nothing for a healthy agent', () => {
    expect(reportSignals(quiet)).toEqual([]);
  });

  it('raises each signal with its figures, in the stable code order', () => {
    const signals = reportSignals({
      ...quiet,
      feedbackCount: 8,
      revokedCount: 1, // 1 of 9 > 10 %
      validationRequests: 0,
      clientFlags: ['DOMINANT_CLIENT', 'LOW_DIVERSITY'],
      topClientShare: '0.750000',
      clientCount: 2,
    });
    expect(signals).toEqual([
      { code: 'LOW_SAMPLE', figures: { feedbackCount: 8, threshold: 10 } },
      { code: 'HIGH_REVOCATION', figures: { revokedCount: 1, revocationRate: '0.111111' } },
      { code: 'NO_VALIDATIONS', figures: { validationRequests: 0 } },
      { code: 'LOW_DIVERSITY', figures: { clientCount: 2 } },
      { code: 'DOMINANT_CLIENT', figures: { topClientShare: '0.750000' } },
    ]);
  });

  it('needs more than 10 % revoked and names failed validations', () => {
    expect(reportSignals({ ...quiet, feedbackCount: 45, revokedCount: 5 })).toEqual([]); // exactly 10 %
    expect(reportSignals({ ...quiet, failedValidations: 1 })).toEqual([
      { code: 'FAILED_VALIDATIONS', figures: { failedValidations: 1, validationRequests: 3 } },
    ]);
  });
});

describe('confidenceOf', () => {
  it('is low under 5 clients, medium under 20, high from 20', () => {
    expect([0, 4, 5, 19, 20, 500].map(confidenceOf)).toEqual(['low', 'low', 'medium', 'medium', 'high', 'high']);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { configurePlans, DEFAULT_PLANS, planLimits, PLANS } from '../../src/billing/plans.js';
import { quotaMessage } from '../../src/billing/quotas.js';
import { loadConfig } from '../../src/config.js';

const plansOf = (json: unknown) => loadConfig({ BILLING_PLANS: JSON.stringify(json) }).billing.plans;
const problem = (raw: string) => {
  try {
    loadConfig({ BILLING_PLANS: raw });
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

describe('BILLING_PLANS', () => {
  afterEach(() => configurePlans(DEFAULT_PLANS));

  it('defaults to plans that grow with the price, with the request limits the rate limiter always had', () => {
    expect(loadConfig({}).billing.plans).toEqual(DEFAULT_PLANS);
    expect(PLANS.map((p) => DEFAULT_PLANS[p].requestsPerHour)).toEqual([50, 100, 500, 2000]);
    for (const figure of ['requestsPerHour', 'maxTriggers', 'maxActionsPerTrigger', 'deliveriesPerMonth'] as const) {
      const values = PLANS.map((p) => DEFAULT_PLANS[p][figure]);
      expect(values, figure).toEqual([...values].sort((a, b) => a - b));
    }
    expect(DEFAULT_PLANS.free.includedMonthlyCredits).toBe('0');
  });

  it('overrides only the figures it names', () => {
    const plans = plansOf({
      free: { maxTriggers: 10 },
      pro: { requestsPerHour: 1000, includedMonthlyCredits: '12.5' },
    });
    expect(plans.free).toEqual({ ...DEFAULT_PLANS.free, maxTriggers: 10 });
    expect(plans.pro).toEqual({ ...DEFAULT_PLANS.pro, requestsPerHour: 1000, includedMonthlyCredits: '12.5' });
    expect(plans.starter).toEqual(DEFAULT_PLANS.starter);
    expect(plans.enterprise).toEqual(DEFAULT_PLANS.enterprise);
  });

  it('refuses at startup, naming the variable and the problem', () => {
    expect(problem('{free')).toMatch(/BILLING_PLANS: must be a JSON object such as/);
    expect(problem('[]')).toMatch(/BILLING_PLANS: must be a JSON object of plans/);
    expect(problem('{"gold":{}}')).toMatch(
      /BILLING_PLANS: unknown plan \(plans: free, starter, pro, enterprise\): "gold"/,
    );
    expect(problem('{"free":{"maxTrigger":1}}')).toMatch(/BILLING_PLANS\.free: unknown figure .*"maxTrigger"/);
    expect(problem('{"free":{"maxTriggers":0}}')).toMatch(
      /BILLING_PLANS\.free\.maxTriggers: maxTriggers must be at least 1/,
    );
    expect(problem('{"pro":{"maxActionsPerTrigger":17}}')).toMatch(/at most 16 \(what any trigger may have\)/);
    expect(problem('{"free":{"maxTriggers":2.5}}')).toMatch(/maxTriggers must be a whole number/);
    expect(problem('{"free":{"maxTriggers":"5"}}')).toMatch(/maxTriggers must be a whole number/);
    expect(problem('{"pro":{"includedMonthlyCredits":10}}')).toMatch(/includedMonthlyCredits must be a decimal string/);
    expect(problem('{"pro":{"includedMonthlyCredits":"1.123456789"}}')).toMatch(/at most 8 decimals/);
  });

  it('is what the quota messages and the rate limiter read once installed', () => {
    configurePlans(plansOf({ free: { maxTriggers: 2 }, starter: { maxTriggers: 2 }, pro: { maxTriggers: 7 } }));
    expect(planLimits('free').maxTriggers).toBe(2);
    // The next plan that allows more is named, skipping one that allows no more.
    expect(quotaMessage('maxTriggers', 'free')).toBe('the free plan allows 2 triggers; the pro plan allows 7');
    expect(quotaMessage('maxActionsPerTrigger', 'starter')).toBe(
      'the starter plan allows 10 actions per trigger; the pro plan allows 16',
    );
    expect(quotaMessage('maxActionsPerTrigger', 'pro')).toBe(
      'the pro plan allows 16 actions per trigger, the most of any plan',
    );
    expect(quotaMessage('deliveriesPerMonth', 'enterprise')).toBe(
      `the enterprise plan allows ${DEFAULT_PLANS.enterprise.deliveriesPerMonth} deliveries per month, the most of any plan`,
    );
  });
});

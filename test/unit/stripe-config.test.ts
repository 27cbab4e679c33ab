import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { proportionalCredits } from '../../src/billing/stripe.js';

const stripeEnv = { STRIPE_SECRET_KEY: 'sk_test_abc', STRIPE_WEBHOOK_SECRET: 'whsec_abc' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('Stripe configuration', () => {
  it('turns billing off without a key', () => {
    expect(loadConfig({}).stripe).toBeUndefined();
  });

  it('parses packs, plan prices, the API base and derives the return URLs', () => {
    const config = loadConfig({
      ...stripeEnv,
      API_PUBLIC_URL: 'https://api.example.com/',
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
      BILLING_CREDIT_PACKS: '[{"id":"pack-25","name":"25 credits","priceCents":2500,"credits":"25"}]',
      BILLING_PLAN_PRICES: '[{"price":"price_pro","lookupKey":"pro_monthly","plan":"pro"}]',
    });
    expect(config.stripe).toMatchObject({
      api: { host: '127.0.0.1', port: 12111, protocol: 'http' },
      creditPacks: [{ id: 'pack-25', priceCents: 2500, credits: '25' }],
      planPrices: [{ price: 'price_pro', plan: 'pro' }],
      successUrl: 'https://api.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}',
      cancelUrl: 'https://api.example.com/billing/cancelled',
    });
    expect(loadConfig(stripeEnv).stripe?.api).toBeUndefined();
  });

  it('requires the webhook secret with the key', () => {
    expect(problemsOf({ STRIPE_SECRET_KEY: 'sk_test_abc' })).toEqual([
      expect.stringContaining('STRIPE_WEBHOOK_SECRET: required with STRIPE_SECRET_KEY'),
    ]);
  });

  it('names what is wrong in a pack or a price mapping', () => {
    const problems = problemsOf({
      ...stripeEnv,
      STRIPE_SECRET_KEY: 'pk_test_abc',
      BILLING_CREDIT_PACKS: '[{"id":"a","name":"A","priceCents":10,"credits":"1.123456789"}]',
      BILLING_PLAN_PRICES: '[{"price":"price_a","plan":"free"}]',
    }).join('\n');
    expect(problems).toContain('STRIPE_SECRET_KEY: must be a Stripe secret or restricted key');
    expect(problems).toContain('BILLING_CREDIT_PACKS: 0.priceCents: Stripe charges at least 50 cents');
    expect(problems).toContain('BILLING_CREDIT_PACKS: 0.credits: must be a positive decimal string');
    expect(problems).toContain("BILLING_PLAN_PRICES: 0.plan: must be 'starter', 'pro' or 'enterprise'");
    expect(problemsOf({ ...stripeEnv, BILLING_CREDIT_PACKS: '[' }).join('\n')).toMatch(
      /BILLING_CREDIT_PACKS: must be JSON/,
    );
    expect(
      problemsOf({
        ...stripeEnv,
        BILLING_PLAN_PRICES:
          '[{"price":"price_a","plan":"pro"},{"price":"price_b","lookupKey":"price_a","plan":"pro"}]',
      }).join('\n'),
    ).toContain('price ids and lookup keys must be unique');
  });
});

describe('proportionalCredits', () => {
  const purchase = { credit_amount: '25.00000000', price_cents: 2500 };
  it('gives the share of the credits that a part of the price bought, exact for the whole', () => {
    expect(proportionalCredits(purchase, 2500)).toBe('25.00000000');
    expect(proportionalCredits(purchase, 500)).toBe('5.00000000');
    expect(proportionalCredits({ credit_amount: '10', price_cents: 3 }, 1)).toBe('3.33333333');
  });
  it('never exceeds the purchase nor goes below zero', () => {
    expect(proportionalCredits(purchase, 9999)).toBe('25.00000000');
    expect(proportionalCredits(purchase, -5)).toBe('0.00000000');
  });
});

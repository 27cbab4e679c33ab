/**
 * The API's Stripe settings against the run's stripe-mock (test/global-setup.ts), for tests that start an API, and
 * webhook events signed as Stripe signs them (stripe-mock sends none).
 */
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { inject } from 'vitest';
import { STRIPE_WEBHOOK_PATH } from '../../src/api/stripe-webhook.js';
import { STRIPE_MOCK_SECRET_KEY } from './stripe-mock.js';

export const TEST_WEBHOOK_SECRET = 'whsec_apitest';
export const TEST_PACK = { id: 'pack-25', name: '25 USDC of credits', priceCents: 2500, credits: '25' };
export const TEST_PLAN_PRICES = [
  { price: 'price_starter_monthly', plan: 'starter' },
  { price: 'price_pro_monthly', lookupKey: 'pro_monthly', plan: 'pro' },
] as const;

/** STRIPE_* and BILLING_* settings: one credit pack (TEST_PACK), starter and pro for sale. */
export function stripeMockEnv(): Record<string, string> {
  return {
    STRIPE_SECRET_KEY: STRIPE_MOCK_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    STRIPE_API_BASE: inject('stripeMockUrl'),
    BILLING_CREDIT_PACKS: JSON.stringify([TEST_PACK]),
    BILLING_PLAN_PRICES: JSON.stringify(TEST_PLAN_PRICES),
  };
}

const signer = new Stripe(STRIPE_MOCK_SECRET_KEY);
let clock = Math.floor(Date.now() / 1000) - 1000;

/** An event as Stripe sends it; `created` increases with every call unless given, so later events are newer. */
export function stripeEvent(type: string, object: Record<string, unknown>, created = ++clock) {
  return { id: `evt_${randomUUID().replace(/-/g, '')}`, object: 'event', type, created, data: { object } };
}

/**
 * Delivers an event to the API's webhook route, signed as Stripe signs it (with TEST_WEBHOOK_SECRET unless `secret`);
 * `payload` sends another body under the event's signature (a tampered one), `timestamp` signs at another time.
 */
export async function deliverWebhook(
  apiUrl: string,
  event: object,
  options: { payload?: string; secret?: string; timestamp?: number } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const header = signer.webhooks.generateTestHeaderString({
    payload: JSON.stringify(event),
    secret: options.secret ?? TEST_WEBHOOK_SECRET,
    timestamp: options.timestamp,
  });
  const res = await fetch(`${apiUrl}${STRIPE_WEBHOOK_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
    body: options.payload ?? JSON.stringify(event),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Delivers a signed event; its HTTP status. */
export async function deliverSigned(apiUrl: string, event: object): Promise<number> {
  return (await deliverWebhook(apiUrl, event)).status;
}

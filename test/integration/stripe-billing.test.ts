/**
 * Stripe billing (src/billing/stripe.ts) against stripe-mock and the real webhook route: checkout creation, signed
 * events delivered over HTTP (replays, reordering, tampering, concurrent duplicates), credits, plans, refunds, disputes.
 * stripe-mock sends no webhooks: the tests sign the events Stripe would send, as Stripe would.
 */
import { formatAmount, toUnits } from '../../src/billing/amount.js';
import { planLimits } from '../../src/billing/plans.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer } from '../../src/api/server.js';
import { MAX_STRIPE_WEBHOOK_BYTES, STRIPE_WEBHOOK_PATH } from '../../src/api/stripe-webhook.js';
import { isBillingError } from '../../src/billing/errors.js';
import { debit, getAccount } from '../../src/billing/ledger.js';
import { currentSubscription, type StripeBilling } from '../../src/billing/stripe.js';
import { PLAN_CHANGED_CHANNEL } from '../../src/organizations/plan.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { deliverWebhook, stripeEvent, stripeMockEnv, TEST_PACK, TEST_PLAN_PRICES } from '../helpers/stripe-env.js';
import { until } from '../helpers/wait.js';

const PACK = TEST_PACK;
const PRO = TEST_PLAN_PRICES[1];
/** A subscription period that began before any event of this file. */
const PERIOD_START = Math.floor(Date.now() / 1000) - 2_000;

let db: TestDatabase;
let api: TestApi;
let billing: StripeBilling;
let webhookUrl: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { env: stripeMockEnv() });
  billing = api.stripeBilling!;
  webhookUrl = `${api.server.url}${STRIPE_WEBHOOK_PATH}`;
});

afterAll(async () => {
  await api?.close();
  await db?.drop();
});

async function newOrganization(): Promise<string> {
  return insertOrganization(db.pool, await insertUser(db.pool));
}

const deliver = (event: object, options?: Parameters<typeof deliverWebhook>[2]) =>
  deliverWebhook(api.server.url, event, options);

function checkoutSession(
  purchase: { organizationId: string; purchaseId: string; sessionId: string },
  overrides: Record<string, unknown> = {},
) {
  return {
    id: purchase.sessionId,
    object: 'checkout.session',
    mode: 'payment',
    payment_status: 'paid',
    amount_total: PACK.priceCents,
    currency: 'usd',
    payment_intent: `pi_${purchase.purchaseId.replace(/-/g, '')}`,
    client_reference_id: purchase.organizationId,
    metadata: { org_id: purchase.organizationId, purchase_id: purchase.purchaseId },
    ...overrides,
  };
}

async function buyPack(organizationId: string) {
  const checkout = await billing.createCreditCheckout(organizationId, PACK.id);
  return { organizationId, ...checkout };
}

const balanceOf = async (organizationId: string) => (await getAccount(db.pool, organizationId)).balance;
const purchaseStatus = async (purchaseId: string) =>
  (await db.pool.query<{ status: string }>('SELECT status FROM credit_purchases WHERE id = $1', [purchaseId])).rows[0]!
    .status;
const planOf = async (organizationId: string) =>
  (await db.pool.query<{ plan: string }>('SELECT plan FROM organizations WHERE id = $1', [organizationId])).rows[0]!
    .plan;

describe('credit checkout', () => {
  it('creates a pending purchase and a payment-mode session keyed by the purchase id', async () => {
    const organizationId = await newOrganization();
    const requests: Array<{ path: string; method: string; idempotency_key?: string }> = [];
    const onRequest = (request: { path: string; method: string; idempotency_key?: string }) => requests.push(request);
    billing.stripe.on('request', onRequest);
    try {
      const checkout = await buyPack(organizationId);
      expect(checkout.sessionId).toMatch(/^cs_/);
      expect(checkout.url).toMatch(/^https:\/\//);
      expect(requests).toEqual([
        expect.objectContaining({
          method: 'POST',
          path: '/v1/checkout/sessions',
          idempotency_key: `checkout:${checkout.purchaseId}`,
        }),
      ]);
      const { rows } = await db.pool.query(
        `SELECT organization_id, pack_id, price_cents, currency, credit_amount::text, status, checkout_session_id
         FROM credit_purchases WHERE id = $1`,
        [checkout.purchaseId],
      );
      expect(rows[0]).toEqual({
        organization_id: organizationId,
        pack_id: PACK.id,
        price_cents: 2500,
        currency: 'usd',
        credit_amount: '25.00000000',
        status: 'pending',
        checkout_session_id: checkout.sessionId,
      });
    } finally {
      billing.stripe.off('request', onRequest);
    }
  });

  it('refuses a pack the configuration does not offer', async () => {
    const organizationId = await newOrganization();
    const err = await billing.createCreditCheckout(organizationId, 'pack-999').catch((e: unknown) => e);
    expect(isBillingError(err, 'unknown_pack')).toBe(true);
    expect((err as Error).message).toContain('pack-25');
  });
});

describe('webhook verification', () => {
  it('refuses a tampered body, a wrong secret and a stale timestamp with 400, applying nothing', async () => {
    const purchase = await buyPack(await newOrganization());
    const event = stripeEvent('checkout.session.completed', checkoutSession(purchase));
    const tampered = JSON.stringify(event).replace('"amount_total":2500', '"amount_total":2501');
    const refusals = [
      await deliver(event, { payload: tampered }),
      await deliver(event, { secret: 'whsec_someoneelse' }),
      await deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 600 }),
      await deliver(event, { payload: JSON.stringify(event, null, 2) }),
    ];
    for (const refusal of refusals) {
      expect(refusal.status).toBe(400);
      expect(String(refusal.body.error)).toMatch(/signature/i);
    }
    const res = await fetch(webhookUrl, { method: 'POST', body: JSON.stringify(event) });
    expect(res.status).toBe(400);
    expect(await balanceOf(purchase.organizationId)).toBe('0.00000000');
    const recorded = await db.pool.query('SELECT 1 FROM stripe_events WHERE event_id = $1', [event.id]);
    expect(recorded.rowCount).toBe(0);
    expect(await purchaseStatus(purchase.purchaseId)).toBe('pending');
  });

  it('refuses a body over the size limit with 413 before verifying anything', async () => {
    const res = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'stripe-signature': 't=1,v1=00' },
      body: 'x'.repeat(MAX_STRIPE_WEBHOOK_BYTES + 1),
    });
    expect(res.status).toBe(413);
  });

  it('answers 503 when billing is not configured', async () => {
    const server = await startApiServer(
      { pool: db.pool, temporal: api.services.temporal, taskQueue: 'unused', logger: testLogger },
      { host: '127.0.0.1', port: 0 },
    );
    try {
      const res = await fetch(`${server.url}${STRIPE_WEBHOOK_PATH}`, { method: 'POST', body: '{}' });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: 'billing is not configured' });
    } finally {
      await server.stop();
    }
  });
});

describe('credit purchases through the webhook', () => {
  it('credits a paid session once, however often and in whatever form it is reported', async () => {
    const purchase = await buyPack(await newOrganization());
    const completed = stripeEvent('checkout.session.completed', checkoutSession(purchase));
    expect(await deliver(completed)).toMatchObject({ status: 200, body: { status: 'applied' } });
    expect(await deliver(completed)).toMatchObject({ status: 200, body: { status: 'duplicate' } });
    // Another event for the same session (a different event id) finds the ledger key taken.
    expect(
      (await deliver(stripeEvent('checkout.session.async_payment_succeeded', checkoutSession(purchase)))).status,
    ).toBe(200);
    expect(await balanceOf(purchase.organizationId)).toBe('25.00000000');
    expect(await purchaseStatus(purchase.purchaseId)).toBe('paid');
  });

  it('applies five concurrent deliveries of one event, and of one payment, once', async () => {
    const purchase = await buyPack(await newOrganization());
    const event = stripeEvent('checkout.session.completed', checkoutSession(purchase));
    const same = await Promise.all(Array.from({ length: 5 }, () => deliver(event)));
    expect(same.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(same.filter((r) => r.body.status === 'applied')).toHaveLength(1);
    const others = await Promise.all(
      Array.from({ length: 5 }, () =>
        deliver(stripeEvent('checkout.session.async_payment_succeeded', checkoutSession(purchase))),
      ),
    );
    expect(others.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await balanceOf(purchase.organizationId)).toBe('25.00000000');
    const entries = await db.pool.query('SELECT 1 FROM credit_transactions WHERE organization_id = $1', [
      purchase.organizationId,
    ]);
    expect(entries.rowCount).toBe(1);
  });

  it('waits for a delayed payment: unpaid, then credited on success or failed without credit', async () => {
    const clears = await buyPack(await newOrganization());
    await deliver(stripeEvent('checkout.session.completed', checkoutSession(clears, { payment_status: 'unpaid' })));
    expect(await purchaseStatus(clears.purchaseId)).toBe('awaiting_payment');
    expect(await balanceOf(clears.organizationId)).toBe('0.00000000');
    await deliver(stripeEvent('checkout.session.async_payment_succeeded', checkoutSession(clears)));
    expect(await purchaseStatus(clears.purchaseId)).toBe('paid');
    expect(await balanceOf(clears.organizationId)).toBe('25.00000000');

    const bounces = await buyPack(await newOrganization());
    await deliver(stripeEvent('checkout.session.completed', checkoutSession(bounces, { payment_status: 'unpaid' })));
    await deliver(
      stripeEvent('checkout.session.async_payment_failed', checkoutSession(bounces, { payment_status: 'unpaid' })),
    );
    expect(await purchaseStatus(bounces.purchaseId)).toBe('failed');
    expect(await balanceOf(bounces.organizationId)).toBe('0.00000000');
  });

  it('does not credit a session whose amount or currency differs from the pack', async () => {
    const purchase = await buyPack(await newOrganization());
    await deliver(stripeEvent('checkout.session.completed', checkoutSession(purchase, { amount_total: 100 })));
    const other = await buyPack(await newOrganization());
    await deliver(stripeEvent('checkout.session.completed', checkoutSession(other, { currency: 'eur' })));
    expect(await balanceOf(purchase.organizationId)).toBe('0.00000000');
    expect(await balanceOf(other.organizationId)).toBe('0.00000000');
    expect(await purchaseStatus(purchase.purchaseId)).toBe('failed');
  });

  it('reverses a refund in proportion, recording what was already spent as owed', async () => {
    const purchase = await buyPack(await newOrganization());
    const session = checkoutSession(purchase);
    await deliver(stripeEvent('checkout.session.completed', session));
    await debit(db.pool, { organizationId: purchase.organizationId, key: 'call-1', amount: '20' });

    const partial = { id: 're_partial', object: 'refund', status: 'succeeded', amount: 500 };
    await deliver(stripeEvent('refund.created', { ...partial, payment_intent: session.payment_intent }));
    expect(await getAccount(db.pool, purchase.organizationId)).toMatchObject({
      balance: '0.00000000',
      owed: '0.00000000',
    });

    const rest = {
      id: 're_rest',
      object: 'refund',
      status: 'succeeded',
      amount: 2000,
      payment_intent: session.payment_intent,
    };
    await deliver(stripeEvent('refund.created', rest));
    // The same refund again, listed on charge.refunded: keyed stripe:refund:re_rest, it takes nothing more.
    await deliver(stripeEvent('charge.refunded', { id: 'ch_1', object: 'charge', refunds: { data: [rest] } }));
    expect(await getAccount(db.pool, purchase.organizationId)).toMatchObject({
      balance: '0.00000000',
      owed: '20.00000000',
    });
    const refused = await debit(db.pool, { organizationId: purchase.organizationId, key: 'call-2', amount: '1' }).catch(
      (e: unknown) => e,
    );
    expect(isBillingError(refused, 'account_owes')).toBe(true);
  });

  it('takes back a disputed payment at once and restores it when the dispute is won', async () => {
    const purchase = await buyPack(await newOrganization());
    const session = checkoutSession(purchase);
    await deliver(stripeEvent('checkout.session.completed', session));
    const dispute = { id: 'dp_1', object: 'dispute', amount: 2500, payment_intent: session.payment_intent };
    await deliver(stripeEvent('charge.dispute.created', { ...dispute, status: 'needs_response' }));
    expect(await balanceOf(purchase.organizationId)).toBe('0.00000000');
    await deliver(stripeEvent('charge.dispute.closed', { ...dispute, status: 'won' }));
    expect(await balanceOf(purchase.organizationId)).toBe('25.00000000');
  });
});

describe('subscriptions', () => {
  function subscription(organizationId: string, status: string, price: object = { id: PRO.price }) {
    return {
      id: `sub_${organizationId.slice(0, 8)}`,
      object: 'subscription',
      status,
      customer: 'cus_unknown',
      metadata: { org_id: organizationId },
      items: { data: [{ price, current_period_start: PERIOD_START, current_period_end: PERIOD_START + 30 * 86_400 }] },
    };
  }

  it('sets the plan in the transaction of the event, announces it, and ignores older events', async () => {
    const organizationId = await newOrganization();
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const announced: string[] = [];
    listener.on('notification', (n) => announced.push(n.payload ?? ''));
    await listener.query(`LISTEN ${PLAN_CHANGED_CHANNEL}`);
    try {
      const older = stripeEvent('customer.subscription.updated', subscription(organizationId, 'canceled'));
      await deliver(stripeEvent('customer.subscription.created', subscription(organizationId, 'active')));
      expect(await planOf(organizationId)).toBe('pro');
      await until(() => announced.includes(organizationId));

      await deliver(stripeEvent('customer.subscription.updated', subscription(organizationId, 'past_due')));
      expect(await planOf(organizationId)).toBe('pro');
      // Sent before the two above, delivered after: it changes nothing.
      expect((await deliver(older)).status).toBe(200);
      expect(await planOf(organizationId)).toBe('pro');
      const { rows } = await db.pool.query('SELECT status FROM subscriptions WHERE organization_id = $1', [
        organizationId,
      ]);
      expect(rows).toEqual([{ status: 'past_due' }]);
      expect(await currentSubscription(db.pool, organizationId)).toMatchObject({ plan: 'pro', pastDue: true });

      // Matched by lookup key as well as by id.
      await deliver(
        stripeEvent(
          'customer.subscription.paused',
          subscription(organizationId, 'paused', { id: 'price_x', lookup_key: PRO.lookupKey }),
        ),
      );
      expect(await planOf(organizationId)).toBe('free');
      await deliver(stripeEvent('customer.subscription.resumed', subscription(organizationId, 'active')));
      expect(await planOf(organizationId)).toBe('pro');
      await deliver(stripeEvent('customer.subscription.deleted', subscription(organizationId, 'canceled')));
      expect(await planOf(organizationId)).toBe('free');
      expect(await currentSubscription(db.pool, organizationId)).toBeUndefined();
    } finally {
      await listener.end();
    }
  });

  it('grants the included credits once per paid invoice', async () => {
    const organizationId = await newOrganization();
    const invoice = {
      id: `in_${organizationId.slice(0, 8)}`,
      object: 'invoice',
      customer: 'cus_unknown',
      parent: {
        type: 'subscription_details',
        subscription_details: { subscription: 'sub_x', metadata: { org_id: organizationId } },
      },
      lines: { data: [{ pricing: { type: 'price_details', price_details: { price: PRO.price } } }] },
    };
    await deliver(stripeEvent('invoice.paid', invoice));
    await deliver(stripeEvent('invoice.paid', invoice));
    // The pro plan's included credits (src/billing/plans.ts), once.
    expect(await balanceOf(organizationId)).toBe(formatAmount(toUnits(planLimits('pro').includedMonthlyCredits)));
  });

  it('opens subscription checkout and the portal on one customer per organization', async () => {
    const organizationId = await newOrganization();
    const [a, b] = await Promise.all([
      billing.createSubscriptionCheckout(organizationId, 'pro'),
      billing.createPortalLink(organizationId),
    ]);
    expect(a.sessionId).toMatch(/^cs_/);
    expect(b.url).toMatch(/^https:\/\//);
    const { rows } = await db.pool.query('SELECT stripe_customer_id FROM organizations WHERE id = $1', [
      organizationId,
    ]);
    expect(rows[0].stripe_customer_id).toMatch(/^cus_/);
    expect(await billing.ensureCustomer(organizationId)).toBe(rows[0].stripe_customer_id);
    const refused = await billing.createSubscriptionCheckout(organizationId, 'enterprise').catch((e: unknown) => e);
    expect(isBillingError(refused, 'unknown_plan')).toBe(true);
  });
});

describe('journey', () => {
  it('buys a pack through checkout and the signed webhook, sees the balance and spends it', async () => {
    const organizationId = await newOrganization();
    const purchase = await buyPack(organizationId);
    await deliver(stripeEvent('checkout.session.completed', checkoutSession(purchase, { payment_status: 'unpaid' })));
    expect(await getAccount(db.pool, organizationId)).toMatchObject({ balance: '0.00000000' });
    await deliver(stripeEvent('checkout.session.async_payment_succeeded', checkoutSession(purchase)));
    expect(await getAccount(db.pool, organizationId)).toMatchObject({
      balance: '25.00000000',
      available: '25.00000000',
    });
    await debit(db.pool, { organizationId, key: 'journey-call', amount: '2.5' });
    expect(await balanceOf(organizationId)).toBe('22.50000000');
  });
});

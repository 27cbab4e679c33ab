/**
 * The billing router (tRPC and REST) against stripe-mock and the real webhook route: the journey (sign up, buy
 * a pack, see the balance, subscribe, see the new rate limit and quotas, cancel, back to free), who may call what,
 * refused input that changes nothing, and a server without Stripe settings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credit, debit } from '../../src/billing/ledger.js';
import { planLimits } from '../../src/billing/plans.js';
import { code, startTestApi, type ApiCaller, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { deliverSigned, stripeEvent, stripeMockEnv, TEST_PACK, TEST_PLAN_PRICES } from '../helpers/stripe-env.js';
import { eventually } from '../helpers/wait.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { env: stripeMockEnv() });
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

let n = 0;
/** A new user with their own organization (auth.register), signed in. */
async function signUp(): Promise<{ organizationId: string; accessToken: string; as: ApiCaller }> {
  const tag = `${Date.now().toString(36)}${++n}`;
  const session = await (
    await api.caller({}, `10.77.0.${n}`)
  ).auth.register({
    username: `billing${tag}`,
    email: `billing${tag}@example.test`,
    password: 'correct horse battery',
  });
  return {
    organizationId: session.organizationId!,
    accessToken: session.accessToken,
    as: await api.caller({ authorization: `Bearer ${session.accessToken}` }),
  };
}

const rest = (path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) =>
  fetch(`${api.server.url}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

const purchases = async (organizationId: string) =>
  (await db.pool.query('SELECT count(*)::int AS n FROM credit_purchases WHERE organization_id = $1', [organizationId]))
    .rows[0]!.n as number;

describe('journey', () => {
  it('signs up, buys a pack, sees the balance, subscribes (new rate limit and quotas), cancels back to free', async () => {
    const owner = await signUp();
    const { organizationId } = owner;
    const org = { organizationId };

    // Buy a pack: checkout, then Stripe's signed report of the paid session.
    const checkout = await owner.as.billing.createCreditCheckout({ ...org, packId: TEST_PACK.id });
    expect(checkout.url).toMatch(/^https:\/\//);
    const session = {
      id: checkout.sessionId,
      object: 'checkout.session',
      mode: 'payment',
      payment_status: 'paid',
      amount_total: TEST_PACK.priceCents,
      currency: 'usd',
      payment_intent: `pi_${checkout.purchaseId.replace(/-/g, '')}`,
      metadata: { org_id: organizationId, purchase_id: checkout.purchaseId },
    };
    expect(await deliverSigned(api.server.url, stripeEvent('checkout.session.completed', session))).toBe(200);
    expect(await owner.as.billing.account(org)).toEqual({
      currency: 'USDC',
      balance: '25.00000000',
      held: '0.00000000',
      available: '25.00000000',
      owed: '0.00000000',
      holds: [],
    });
    expect((await owner.as.billing.entries(org)).entries).toMatchObject([
      { kind: 'purchase', amount: '25.00000000', balanceAfter: '25.00000000', reference: checkout.sessionId },
    ]);

    // The rate limit of the plan, as a read key sees it over REST.
    const readKey = (await owner.as.apiKeys.create({ ...org, name: 'reader', permissions: ['read'] })).key;
    const planOverRest = async () => {
      const res = await rest(`/organizations/${organizationId}/billing/plan`, { headers: { 'x-api-key': readKey } });
      return { status: res.status, limit: res.headers.get('x-ratelimit-limit'), body: (await res.json()) as object };
    };
    expect(await planOverRest()).toMatchObject({
      status: 200,
      limit: '50',
      body: { plan: 'free', subscription: null },
    });

    // Subscribe to pro: checkout on the organization's customer, then Stripe's report of the active subscription.
    expect((await owner.as.billing.createSubscriptionCheckout({ ...org, plan: 'pro' })).url).toMatch(/^https:\/\//);
    const { rows } = await db.pool.query('SELECT stripe_customer_id FROM organizations WHERE id = $1', [
      organizationId,
    ]);
    const subscription = (status: string) => ({
      id: `sub_${organizationId.slice(0, 8)}`,
      object: 'subscription',
      status,
      customer: rows[0].stripe_customer_id,
      metadata: { org_id: organizationId },
      items: { data: [{ price: { id: 'price_pro_monthly' } }] },
    });
    expect(
      await deliverSigned(api.server.url, stripeEvent('customer.subscription.created', subscription('active'))),
    ).toBe(200);
    expect(await owner.as.billing.plan(org)).toEqual({
      plan: 'pro',
      limits: planLimits('pro'),
      usage: { triggers: 0, deliveriesThisMonth: 0, includedQueryCallsThisMonth: 0 },
      subscription: { plan: 'pro', status: 'active', pastDue: false, currentPeriodEnd: null },
    });
    // The plan change reaches the API's plan cache by NOTIFY: the next requests carry pro's limit.
    expect(await eventually(planOverRest, (r) => r.limit === '500', 5_000, 100)).toMatchObject({
      status: 200,
      body: { plan: 'pro' },
    });

    // A failed renewal keeps the plan, flagged.
    await deliverSigned(api.server.url, stripeEvent('customer.subscription.updated', subscription('past_due')));
    expect(await owner.as.billing.plan(org)).toMatchObject({ plan: 'pro', subscription: { pastDue: true } });

    // Cancelled: back to free, plan and rate limit.
    await deliverSigned(api.server.url, stripeEvent('customer.subscription.deleted', subscription('canceled')));
    expect(await owner.as.billing.plan(org)).toMatchObject({
      plan: 'free',
      limits: planLimits('free'),
      subscription: null,
    });
    expect(await eventually(planOverRest, (r) => r.limit === '50', 5_000, 100)).toMatchObject({
      body: { plan: 'free' },
    });
    // The credits bought stay.
    expect((await owner.as.billing.account(org)).balance).toBe('25.00000000');
  });
});

describe('reading the ledger', () => {
  it('pages entries by cursor, filters by kind and time, sums usage per period, shows active holds', async () => {
    const { organizationId, as } = await signUp();
    const org = { organizationId };
    for (let i = 1; i <= 3; i++) await credit(db.pool, { organizationId, kind: 'grant', key: `g${i}`, amount: `${i}` });
    await debit(db.pool, { organizationId, key: 'call-1', amount: '0.5' });

    const first = await as.billing.entries({ ...org, limit: 2 });
    expect(first.entries.map((e) => [e.kind, e.amount])).toEqual([
      ['usage', '-0.50000000'],
      ['grant', '3.00000000'],
    ]);
    const second = await as.billing.entries({ ...org, limit: 2, cursor: first.nextCursor });
    expect(second.entries.map((e) => e.key)).toEqual(['g2', 'g1']);
    expect(second.nextCursor).toBeUndefined();
    expect((await as.billing.entries({ ...org, kind: 'usage' })).entries.map((e) => e.key)).toEqual(['call-1']);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await as.billing.entries({ ...org, from: future })).entries).toEqual([]);

    const today = new Date().toISOString().slice(0, 10);
    expect(await as.billing.usage({ ...org, period: 'day' })).toEqual({
      period: 'day',
      items: [{ periodStart: today, spent: '0.50000000', charges: 1 }],
    });
    expect((await as.billing.usage({ ...org, period: 'month' })).items).toEqual([
      { periodStart: `${today.slice(0, 8)}01`, spent: '0.50000000', charges: 1 },
    ]);

    const { reserve } = await import('../../src/billing/ledger.js');
    const { hold } = await reserve(db.pool, { organizationId, key: 'task-1', amount: '1.25', description: 'a task' });
    expect(await as.billing.account(org)).toMatchObject({
      balance: '5.50000000',
      held: '1.25000000',
      available: '4.25000000',
      holds: [{ id: hold.id, amount: '1.25000000', description: 'a task' }],
    });
    expect(await as.billing.packs(org)).toEqual({ packs: [TEST_PACK], plans: TEST_PLAN_PRICES.map((p) => p.plan) });
  });
});

describe('who may call what', () => {
  it('read keys see balances but move no money; admin keys and owners do; other tenants see nothing', async () => {
    const owner = await signUp();
    const org = { organizationId: owner.organizationId };
    const key = async (permissions: ('read' | 'write' | 'admin')[]) =>
      api.caller({ 'x-api-key': (await owner.as.apiKeys.create({ ...org, name: 'k', permissions })).key });
    const reader = await key(['read']);
    const writer = await key(['read', 'write']);
    const admin = await key(['admin']);

    expect(await code(reader.billing.account(org))).toBe('OK');
    expect(await code(reader.billing.plan(org))).toBe('OK');
    for (const caller of [reader, writer]) {
      expect(await code(caller.billing.createCreditCheckout({ ...org, packId: TEST_PACK.id }))).toBe('FORBIDDEN');
      expect(await code(caller.billing.createSubscriptionCheckout({ ...org, plan: 'pro' }))).toBe('FORBIDDEN');
      expect(await code(caller.billing.portalLink(org))).toBe('FORBIDDEN');
    }
    expect(await purchases(owner.organizationId)).toBe(0);
    expect(await code(admin.billing.createCreditCheckout({ ...org, packId: TEST_PACK.id }))).toBe('OK');
    expect(await code(admin.billing.portalLink(org))).toBe('OK');
    expect(await purchases(owner.organizationId)).toBe(1);

    const stranger = await signUp();
    expect(await code(stranger.as.billing.account(org))).toBe('FORBIDDEN');
    expect(await code(stranger.as.billing.createCreditCheckout({ ...org, packId: TEST_PACK.id }))).toBe('FORBIDDEN');
    const strangerKey = await api.caller({
      'x-api-key': (
        await stranger.as.apiKeys.create({
          organizationId: stranger.organizationId,
          name: 'theirs',
          permissions: ['admin'],
        })
      ).key,
    });
    expect(await code(strangerKey.billing.entries(org))).toBe('FORBIDDEN');
    expect(await purchases(owner.organizationId)).toBe(1);
  });
});

describe('refused input', () => {
  it('answers 400 for an unknown pack, a plan not for sale and a bad cursor, and changes nothing', async () => {
    const owner = await signUp();
    const org = { organizationId: owner.organizationId };
    const unknownPack = await owner.as.billing.createCreditCheckout({ ...org, packId: 'pack-1000' }).catch((e) => e);
    expect(unknownPack).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('pack-25') });
    // enterprise is a plan, but not one configured for sale; free and gold are not in the schema.
    expect(await code(owner.as.billing.createSubscriptionCheckout({ ...org, plan: 'enterprise' }))).toBe('BAD_REQUEST');
    for (const plan of ['free', 'gold'])
      expect(await code(owner.as.billing.createSubscriptionCheckout({ ...org, plan } as never))).toBe('BAD_REQUEST');
    expect(await code(owner.as.billing.entries({ ...org, cursor: 'abc' }))).toBe('BAD_REQUEST');
    expect(await code(owner.as.billing.entries({ ...org, cursor: '0' }))).toBe('BAD_REQUEST');
    expect(await code(owner.as.billing.usage({ ...org, period: 'year' } as never))).toBe('BAD_REQUEST');
    expect(await purchases(owner.organizationId)).toBe(0);
    const { rows } = await db.pool.query('SELECT stripe_customer_id FROM organizations WHERE id = $1', [
      owner.organizationId,
    ]);
    expect(rows[0].stripe_customer_id).toBeNull();
  });
});

describe('over REST', () => {
  it('serves the account and a checkout under /api/v1, and the OpenAPI document lists the billing paths', async () => {
    const owner = await signUp();
    const auth = { authorization: `Bearer ${owner.accessToken}` };
    const base = `/organizations/${owner.organizationId}/billing`;
    const account = await rest(`${base}/account`, { headers: auth });
    expect(account.status).toBe(200);
    expect(await account.json()).toMatchObject({ balance: '0.00000000', holds: [] });
    const checkout = await rest(`${base}/credit-checkout`, {
      method: 'POST',
      headers: auth,
      body: { packId: TEST_PACK.id },
    });
    expect(checkout.status).toBe(200);
    expect(await checkout.json()).toMatchObject({
      url: expect.stringMatching(/^https:/),
      purchaseId: expect.any(String),
    });
    const unknown = await rest(`${base}/credit-checkout`, { method: 'POST', headers: auth, body: { packId: 'nope' } });
    expect(unknown.status).toBe(400);
    const entries = await rest(`${base}/entries?kind=purchase&limit=5`, { headers: auth });
    expect(entries.status).toBe(200);
    expect(await entries.json()).toEqual({ entries: [] });
    expect((await rest(`${base}/entries?cursor=x`, { headers: auth })).status).toBe(400);

    const doc = (await (await fetch(`${api.server.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const billingPaths = Object.keys(doc.paths).filter((p) => p.includes('/billing/'));
    expect(billingPaths.sort()).toEqual(
      ['account', 'credit-checkout', 'entries', 'packs', 'plan', 'portal-link', 'subscription-checkout', 'usage'].map(
        (p) => `/organizations/{organizationId}/billing/${p}`,
      ),
    );
    expect(
      Object.keys(doc.paths[`/organizations/{organizationId}/billing/credit-checkout`]!.post!.responses),
    ).toContain('503');
    expect(Object.keys(doc.paths['/organizations/{organizationId}/triggers']!.get!.responses)).not.toContain('503');
  });
});

describe('billing not configured', () => {
  it('answers 503 naming the settings for Stripe calls, and still shows the ledger', async () => {
    const bare = await startTestApi(db);
    try {
      const session = await (
        await bare.caller({}, '10.78.0.1')
      ).auth.register({ username: 'nobilling', email: 'nobilling@example.test', password: 'correct horse battery' });
      const org = { organizationId: session.organizationId! };
      const owner = await bare.caller({ authorization: `Bearer ${session.accessToken}` });
      const refused = await owner.billing.createCreditCheckout({ ...org, packId: TEST_PACK.id }).catch((e) => e);
      expect(refused).toMatchObject({
        code: 'SERVICE_UNAVAILABLE',
        message: expect.stringContaining('STRIPE_SECRET_KEY'),
      });
      expect(await code(owner.billing.portalLink(org))).toBe('SERVICE_UNAVAILABLE');
      expect(await code(owner.billing.packs(org))).toBe('SERVICE_UNAVAILABLE');
      expect(await code(owner.billing.account(org))).toBe('OK');
      const res = await fetch(`${bare.server.url}/api/v1/organizations/${org.organizationId}/billing/portal-link`, {
        method: 'POST',
        headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ message: expect.stringContaining('STRIPE_SECRET_KEY') });
    } finally {
      await bare.close();
    }
  });
});

/**
 * Plans and quotas (issue 12): a plan's quotas refuse what would exceed them with a 403 naming the plan that lifts
 * them, also when creates race at the limit; a plan change (setOrganizationPlan) is recorded and reaches every API
 * process at once — two API processes on one database see the new rate limit well before their caches' TTL.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import { configurePlans, DEFAULT_PLANS } from '../../src/billing/plans.js';
import { planAndUsage } from '../../src/billing/quotas.js';
import { loadConfig } from '../../src/config.js';
import { recordMatches, startDeliveries } from '../../src/deliveries/firings.js';
import { setOrganizationPlan } from '../../src/organizations/plan.js';
import { appendEvents, feedbackRecord } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { eventually } from '../helpers/wait.js';

let db: TestDatabase;
let first: TestApi;
let second: TestApi;

// Small quotas, so that the limits are reached with a few requests (BILLING_PLANS, as an operator would set it).
const plans = loadConfig({
  BILLING_PLANS: JSON.stringify({
    free: { maxTriggers: 2, maxActionsPerTrigger: 2, deliveriesPerMonth: 3 },
    starter: { maxTriggers: 3, maxActionsPerTrigger: 4 },
  }),
}).billing.plans;

beforeAll(async () => {
  configurePlans(plans);
  db = await createTestDatabase();
  // One token secret: a user signed in on one process is signed in on the other, as behind a load balancer.
  const env = { JWT_SECRET: randomBytes(32).toString('hex') };
  [first, second] = await Promise.all([startTestApi(db, { env }), startTestApi(db, { env })]);
});
afterAll(async () => {
  configurePlans(DEFAULT_PLANS);
  await first?.close();
  await second?.close();
  await db?.drop();
});

let n = 0;
const ip = () => `10.30.${Math.floor(++n / 250)}.${(n % 250) + 1}`;

/** A new user with a personal organization (free), signed in on both API processes. */
async function account() {
  const tag = randomBytes(4).toString('hex');
  const session = await (
    await first.caller({}, ip())
  ).auth.register({ username: `p${tag}`, email: `p${tag}@example.test`, password: 'correct horse battery' });
  const headers = { authorization: `Bearer ${session.accessToken}` };
  return {
    ...session,
    organizationId: session.organizationId!,
    onFirst: await first.caller(headers, ip()),
    onSecond: await second.caller(headers, ip()),
  };
}

const action = (i: number) => ({ action_type: 'rest' as const, config: { url: `https://receiver.example/hook/${i}` } });
const trigger = (actions = 1) => ({
  name: 'low feedback',
  chainId: 31337,
  registry: 'reputation' as const,
  conditions: [{ condition_type: 'score_threshold', field: 'value', operator: '<', value: '50' }],
  actions: Array.from({ length: actions }, (_, i) => action(i)),
});

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'allowed',
    (err: unknown) => (err instanceof TRPCError ? `${err.code}: ${err.message}` : err),
  );

const count = async (sql: string, organizationId: string) =>
  (await db.pool.query<{ n: number }>(sql, [organizationId])).rows[0]!.n;
const triggerCount = (organizationId: string) =>
  count('SELECT count(*)::int AS n FROM triggers WHERE organization_id = $1', organizationId);

describe('quotas', () => {
  it('refuses a trigger beyond the plan, naming the limit and the plan that lifts it; a better plan allows it', async () => {
    const owner = await account();
    const organizationId = owner.organizationId;
    await owner.onFirst.triggers.create({ organizationId, ...trigger() });
    await owner.onSecond.triggers.create({ organizationId, ...trigger() });
    expect(await refusal(owner.onFirst.triggers.create({ organizationId, ...trigger() }))).toBe(
      'FORBIDDEN: the free plan allows 2 triggers; the starter plan allows 3',
    );
    // Over REST too: 403 with the same message.
    const res = await fetch(`${first.server.url}/api/v1/organizations/${organizationId}/triggers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.accessToken}` },
      body: JSON.stringify(trigger()),
    });
    expect(res.status).toBe(403);
    expect(JSON.stringify(await res.json())).toContain('the free plan allows 2 triggers; the starter plan allows 3');
    expect(await triggerCount(organizationId)).toBe(2);

    await setOrganizationPlan(db.pool, organizationId, 'starter', { source: 'test' });
    await owner.onSecond.triggers.create({ organizationId, ...trigger() });
    expect(await refusal(owner.onSecond.triggers.create({ organizationId, ...trigger() }))).toBe(
      'FORBIDDEN: the starter plan allows 3 triggers; the pro plan allows 1000',
    );
    expect(await triggerCount(organizationId)).toBe(3);
  });

  it('lets only one of two creates racing at the limit through, whichever API process they reach', async () => {
    const owner = await account();
    const organizationId = owner.organizationId;
    await owner.onFirst.triggers.create({ organizationId, ...trigger() });
    const outcomes = await Promise.all([
      refusal(owner.onFirst.triggers.create({ organizationId, ...trigger() })),
      refusal(owner.onSecond.triggers.create({ organizationId, ...trigger() })),
    ]);
    expect(outcomes.sort()).toEqual([
      'FORBIDDEN: the free plan allows 2 triggers; the starter plan allows 3',
      'allowed',
    ]);
    expect(await triggerCount(organizationId)).toBe(2);
  });

  it('refuses more actions per trigger than the plan allows, on create and on update, changing nothing', async () => {
    const owner = await account();
    const organizationId = owner.organizationId;
    const message = 'FORBIDDEN: the free plan allows 2 actions per trigger; the starter plan allows 4';
    expect(await refusal(owner.onFirst.triggers.create({ organizationId, ...trigger(3) }))).toBe(message);
    expect(await triggerCount(organizationId)).toBe(0);

    const { id } = await owner.onFirst.triggers.create({ organizationId, ...trigger(2) });
    expect(await refusal(owner.onSecond.triggers.update({ organizationId, triggerId: id, ...trigger(3) }))).toBe(
      message,
    );
    expect(await count('SELECT count(*)::int AS n FROM trigger_actions WHERE trigger_id = $1', id)).toBe(2);
  });
});

describe('plan changes', () => {
  it('reach every API process at once: both announce the new rate limit well before the plan cache TTL', async () => {
    const owner = await account();
    const organizationId = owner.organizationId;
    const limitOn = async (api: TestApi) => {
      const res = await fetch(`${api.server.url}/api/v1/organizations/${organizationId}/triggers`, {
        headers: { authorization: `Bearer ${owner.accessToken}` },
      });
      expect(res.status).toBe(200);
      return res.headers.get('x-ratelimit-limit');
    };
    // Both processes have read (and cached) the free plan.
    expect([await limitOn(first), await limitOn(second)]).toEqual(['50', '50']);

    expect(await setOrganizationPlan(db.pool, organizationId, 'pro', { source: 'test', ref: 'upgrade' })).toEqual({
      changed: true,
      previous: 'free',
    });
    // Bounded far below the cache TTL (30 s): only the notification explains the new limit this soon.
    const limits = await eventually(
      () => Promise.all([limitOn(first), limitOn(second)]),
      (l) => l.every((limit) => limit === '500'),
      3_000,
      50,
    );
    expect(limits).toEqual(['500', '500']);

    // Setting the same plan again changes and records nothing.
    expect(await setOrganizationPlan(db.pool, organizationId, 'pro', { source: 'operator' })).toEqual({
      changed: false,
      previous: 'pro',
    });
    const { rows } = await db.pool.query(
      'SELECT previous_plan, plan, source, reference FROM plan_changes WHERE organization_id = $1',
      [organizationId],
    );
    expect(rows).toEqual([{ previous_plan: 'free', plan: 'pro', source: 'test', reference: 'upgrade' }]);
  });

  it('refuses an unknown plan, source or organization, changing nothing', async () => {
    const owner = await account();
    const organizationId = owner.organizationId;
    const message = (promise: Promise<unknown>) =>
      promise.then(
        () => 'changed',
        (err: Error) => err.message,
      );
    expect(await message(setOrganizationPlan(db.pool, organizationId, 'gold' as 'pro', { source: 'test' }))).toBe(
      'a plan is one of free, starter, pro, enterprise',
    );
    expect(await message(setOrganizationPlan(db.pool, organizationId, 'pro', { source: 'me' as 'test' }))).toBe(
      "a plan change's source is one of stripe, operator, test",
    );
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(await message(setOrganizationPlan(db.pool, missing, 'pro', { source: 'test' }))).toBe(
      `no organization ${missing}`,
    );
    expect(await message(setOrganizationPlan(db.pool, 'not-an-id', 'pro', { source: 'test' }))).toBe(
      'no organization not-an-id',
    );
    expect((await db.pool.query('SELECT plan FROM organizations WHERE id = $1', [organizationId])).rows).toEqual([
      { plan: 'free' },
    ]);
    expect(await count('SELECT count(*)::int AS n FROM plan_changes WHERE organization_id = $1', organizationId)).toBe(
      0,
    );
  });
});

describe('deliveries per month', () => {
  let block = 9_000;
  /** A recorded firing of the trigger on a new event (as the relay or the trigger workflow records it). */
  async function firing(triggerId: string) {
    const record = feedbackRecord({ block_number: ++block, timestamp: Math.floor(Date.now() / 1000) });
    await appendEvents(db.pool, [record]);
    const { rows } = await db.pool.query<{ seq: string }>('SELECT ingest_seq::text AS seq FROM events WHERE id = $1', [
      record.id,
    ]);
    const eventSeq = rows[0]!.seq;
    await recordMatches(db.pool, triggerId, [
      { eventSeq, eventId: record.id, agentKey: '31337:0', kind: 'match', timestamp: record.timestamp, evaluation: {} },
    ]);
    return { triggerId, eventSeq, kind: 'match' as const };
  }
  const deliver = (fired: Awaited<ReturnType<typeof firing>>[]) =>
    startDeliveries(
      { pool: db.pool, temporal: first.services.temporal, taskQueue: first.services.taskQueue, logger: testLogger },
      fired,
    );
  const statuses = async (organizationId: string) =>
    (
      await db.pool.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM deliveries WHERE organization_id = $1 GROUP BY status ORDER BY status',
        [organizationId],
      )
    ).rows;

  it('records the firing but does not attempt deliveries beyond the quota; a replayed firing is not counted twice', async () => {
    const owner = await account();
    const organizationId = owner.organizationId;
    const { id } = await owner.onFirst.triggers.create({ organizationId, ...trigger(2) });
    await deliver([await firing(id)]);
    const second = await firing(id);
    await deliver([second]);
    expect(await statuses(organizationId)).toEqual([
      { status: 'pending', n: 3 },
      { status: 'quota_exceeded', n: 1 },
    ]);
    await deliver([second]); // the same firing again (a retried activity): nothing new, nothing counted
    expect(await count('SELECT count(*)::int AS n FROM deliveries WHERE organization_id = $1', organizationId)).toBe(4);
    expect(await count('SELECT deliveries AS n FROM delivery_usage WHERE organization_id = $1', organizationId)).toBe(
      3,
    );
    // The refused firing is recorded all the same.
    expect(await count('SELECT count(*)::int AS n FROM trigger_matches WHERE trigger_id = $1', id)).toBe(2);
    expect(await planAndUsage(db.pool, organizationId)).toEqual({
      plan: 'free',
      limits: plans.free,
      usage: { triggers: 1, deliveriesThisMonth: 3, includedQueryCallsThisMonth: 0 },
    });
    // Listed with its status.
    const listed = await owner.onFirst.deliveries.list({ organizationId, status: 'quota_exceeded' });
    expect(listed.items).toHaveLength(1);
  });

  it('lets concurrent creators of one organization together attempt no more than the quota', async () => {
    const owner = await account();
    const organizationId = owner.organizationId;
    const { id } = await owner.onFirst.triggers.create({ organizationId, ...trigger(1) });
    const fired = await Promise.all(Array.from({ length: 6 }, () => firing(id)));
    await Promise.all(fired.map((f) => deliver([f])));
    expect(await statuses(organizationId)).toEqual([
      { status: 'pending', n: 3 },
      { status: 'quota_exceeded', n: 3 },
    ]);
  });
});

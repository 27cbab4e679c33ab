/**
 * Plan quotas on what an organization creates: triggers per organization and actions per trigger. A refusal names the
 * limit, the organization's plan and the plan that lifts it. Counts are checked under a lock of the organization row
 * taken in the caller's transaction (FOR NO KEY UPDATE: concurrent creates queue, inserts of rows that reference the
 * organization do not), so two creates racing at the limit cannot both pass.
 */
import type { Queryable } from '../db/transaction.js';
import { organizationPlan } from '../organizations/plan.js';
import { PLANS, planLimits, type Plan, type PlanLimits } from './plans.js';

type CountedQuota = 'maxTriggers' | 'maxActionsPerTrigger' | 'deliveriesPerMonth';

const NOUNS: Record<CountedQuota, string> = {
  maxTriggers: 'triggers',
  maxActionsPerTrigger: 'actions per trigger',
  deliveriesPerMonth: 'deliveries per month',
};

/** A plan's quota would be exceeded; the API answers 403 with this message. */
export class QuotaExceededError extends Error {
  constructor(
    readonly quota: CountedQuota,
    readonly plan: Plan,
    readonly limit: number,
  ) {
    super(quotaMessage(quota, plan));
    this.name = 'QuotaExceededError';
  }
}

/** "the free plan allows 25 triggers; the starter plan allows 100", naming the next plan that allows more. */
export function quotaMessage(quota: CountedQuota, plan: Plan): string {
  const limit = (p: Plan) => planLimits(p)[quota];
  const own = `the ${plan} plan allows ${limit(plan)} ${NOUNS[quota]}`;
  const better = PLANS.slice(PLANS.indexOf(plan) + 1).find((p) => limit(p) > limit(plan));
  return better ? `${own}; the ${better} plan allows ${limit(better)}` : `${own}, the most of any plan`;
}

/**
 * Locks the organization row for the rest of the caller's transaction and returns its plan (serialises the quota
 * checks of one organization). Undefined: no such organization.
 */
export async function lockOrganizationPlan(client: Queryable, organizationId: string): Promise<Plan | undefined> {
  const { rows } = await client.query<{ plan: Plan }>(
    'SELECT plan FROM organizations WHERE id = $1 FOR NO KEY UPDATE',
    [organizationId],
  );
  return rows[0]?.plan;
}

export function checkActionsPerTrigger(plan: Plan, actions: number): void {
  const limit = planLimits(plan).maxActionsPerTrigger;
  if (actions > limit) throw new QuotaExceededError('maxActionsPerTrigger', plan, limit);
}

/**
 * Refuses a trigger with more actions than the plan allows and, for a new trigger, one more trigger than it allows.
 * Run in the transaction that writes the trigger, before the write.
 */
export async function checkTriggerQuotas(
  client: Queryable,
  organizationId: string,
  write: { newTrigger: boolean; actions: number | undefined },
): Promise<void> {
  // Only a new trigger needs the lock (its count); an edit's actions are its own.
  const plan = write.newTrigger
    ? ((await lockOrganizationPlan(client, organizationId)) ?? 'free')
    : ((await organizationPlan(client, organizationId)) ?? 'free');
  if (write.actions !== undefined) checkActionsPerTrigger(plan, write.actions);
  if (!write.newTrigger) return;
  const limit = planLimits(plan).maxTriggers;
  const { rows } = await client.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM triggers WHERE organization_id = $1',
    [organizationId],
  );
  if (rows[0]!.n >= limit) throw new QuotaExceededError('maxTriggers', plan, limit);
}

/**
 * The organization's plan, what it allows, and what the organization uses of its counted quotas: the billing router's
 * "current plan and quotas". Deliveries are this calendar month's (UTC) that were attempted or are to be.
 */
export interface PlanUsage {
  plan: Plan;
  limits: PlanLimits;
  usage: { triggers: number; deliveriesThisMonth: number; includedQueryCallsThisMonth: number };
}

export async function planAndUsage(db: Queryable, organizationId: string): Promise<PlanUsage> {
  const { rows } = await db.query<{ plan: Plan; triggers: number; deliveries: number; queries: number }>(
    `SELECT o.plan,
       (SELECT count(*)::int FROM triggers t WHERE t.organization_id = o.id) AS triggers,
       coalesce((SELECT u.deliveries FROM delivery_usage u
                 WHERE u.organization_id = o.id AND u.month = (date_trunc('month', now() AT TIME ZONE 'UTC'))::date), 0) AS deliveries,
       coalesce((SELECT a.used FROM query_allowances a
                 WHERE a.organization_id = o.id AND a.period_start = (date_trunc('month', now() AT TIME ZONE 'UTC'))::date), 0) AS queries
     FROM organizations o WHERE o.id = $1`,
    [organizationId],
  );
  const row = rows[0];
  const plan = row?.plan ?? 'free';
  return {
    plan,
    limits: planLimits(plan),
    usage: {
      triggers: row?.triggers ?? 0,
      deliveriesThisMonth: row?.deliveries ?? 0,
      includedQueryCallsThisMonth: row?.queries ?? 0,
    },
  };
}

export type NewDeliveryStatus = 'pending' | 'quota_exceeded';

/**
 * Counts new deliveries against their organizations' deliveries per month (UTC), in the caller's transaction, which
 * must insert them before it commits: 'pending' within the quota, 'quota_exceeded' beyond it (recorded, never
 * attempted). The month's counters (`delivery_usage`) are locked in organization order, so concurrent creators of one
 * organization take turns and cannot both pass the quota. Deliveries that exist already (a replayed firing) are not
 * counted again; their status is whatever it was.
 */
export async function deliveryStatuses(
  client: Queryable,
  deliveries: readonly { key: string; organizationId: string }[],
): Promise<NewDeliveryStatus[]> {
  const organizations = [...new Set(deliveries.map((d) => d.organizationId))].sort();
  const { rows: counters } = await client.query<{ organization_id: string; deliveries: number; plan: Plan | null }>(
    `INSERT INTO delivery_usage AS u (organization_id, month)
     SELECT o, (date_trunc('month', now() AT TIME ZONE 'UTC'))::date FROM unnest($1::uuid[]) AS o
     ON CONFLICT (organization_id, month) DO UPDATE SET deliveries = u.deliveries
     RETURNING u.organization_id, u.deliveries, (SELECT plan FROM organizations WHERE id = u.organization_id) AS plan`,
    [organizations],
  );
  const { rows: existing } = await client.query<{ idempotency_key: string }>(
    'SELECT idempotency_key FROM deliveries WHERE idempotency_key = ANY($1::text[])',
    [deliveries.map((d) => d.key)],
  );
  const known = new Set(existing.map((r) => r.idempotency_key));
  const used = new Map(counters.map((c) => [c.organization_id, c.deliveries]));
  const quota = new Map(counters.map((c) => [c.organization_id, planLimits(c.plan ?? 'free').deliveriesPerMonth]));
  const statuses = deliveries.map((d): NewDeliveryStatus => {
    if (known.has(d.key)) return 'pending';
    const count = used.get(d.organizationId) ?? 0;
    if (count >= (quota.get(d.organizationId) ?? 0)) return 'quota_exceeded';
    used.set(d.organizationId, count + 1);
    return 'pending';
  });
  await client.query(
    `UPDATE delivery_usage u SET deliveries = c.n
     FROM unnest($1::uuid[], $2::int[]) AS c(o, n)
     WHERE u.organization_id = c.o AND u.month = (date_trunc('month', now() AT TIME ZONE 'UTC'))::date`,
    [[...used.keys()], [...used.values()]],
  );
  return statuses;
}

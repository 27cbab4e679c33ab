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

/** What the plan allows, with what the organization uses of its counted quotas (the billing router's "plan and quotas"). */
export interface PlanUsage {
  plan: Plan;
  limits: PlanLimits;
  usage: { triggers: number; deliveriesThisMonth: number };
}

export async function planAndUsage(db: Queryable, organizationId: string): Promise<PlanUsage> {
  const { rows } = await db.query<{ plan: Plan; triggers: number; deliveries: number }>(
    `SELECT o.plan,
       (SELECT count(*)::int FROM triggers t WHERE t.organization_id = o.id) AS triggers,
       (SELECT count(*)::int FROM deliveries d
         WHERE d.organization_id = o.id AND d.created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS deliveries
     FROM organizations o WHERE o.id = $1`,
    [organizationId],
  );
  const row = rows[0];
  const plan = row?.plan ?? 'free';
  return {
    plan,
    limits: planLimits(plan),
    usage: { triggers: row?.triggers ?? 0, deliveriesThisMonth: row?.deliveries ?? 0 },
  };
}

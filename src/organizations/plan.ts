/**
 * An organization's plan: the one way to change it (Stripe subscriptions, the operator command, tests). The change
 * and its audit row (`plan_changes`) are one statement, so they commit together on any handle — a pool, or the
 * client of a caller's transaction (the Stripe webhook's). The organizations row's trigger (migration 0022) NOTIFYs
 * `organization_plan_changed` when the transaction commits: every API process drops that organization's cached plan
 * (PlanCache) and the next request gets the new plan's rate limit and quotas.
 */
import { BillingError } from '../billing/errors.js';
import { isPlan, PLANS, type Plan } from '../billing/plans.js';
import type { Queryable } from '../db/transaction.js';

export const PLAN_CHANGED_CHANNEL = 'organization_plan_changed';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const PLAN_CHANGE_SOURCES = ['stripe', 'operator', 'test'] as const;

/**
 * Sets the organization's plan, recording who asked (`reason.source`) and why (`reason.ref`: a Stripe event or
 * subscription id, an operator's note). Nothing changes (and nothing is recorded) when it is on that plan already.
 * Throws BillingError 'invalid_input' for an unknown plan, source or organization, having changed nothing.
 */
export async function setOrganizationPlan(
  db: Queryable,
  organizationId: string,
  plan: Plan,
  reason: { source: 'stripe' | 'operator' | 'test'; ref?: string },
): Promise<{ changed: boolean; previous: Plan }> {
  if (!isPlan(plan)) throw new BillingError('invalid_input', `a plan is one of ${PLANS.join(', ')}`);
  if (!(PLAN_CHANGE_SOURCES as readonly string[]).includes(reason.source)) {
    throw new BillingError('invalid_input', `a plan change's source is one of ${PLAN_CHANGE_SOURCES.join(', ')}`);
  }
  if (!UUID.test(organizationId)) throw new BillingError('invalid_input', `no organization ${organizationId}`);
  if (reason.ref !== undefined && reason.ref.length > 500) {
    throw new BillingError('invalid_input', "a plan change's reference has at most 500 characters");
  }
  // One statement: the row is locked, changed and audited atomically, also outside a transaction. A concurrent change
  // waits for the lock and then sees ours as its previous plan.
  const { rows } = await db.query<{ previous: Plan; changed: boolean }>(
    `WITH current AS (
       SELECT id, plan FROM organizations WHERE id = $1 FOR NO KEY UPDATE),
     updated AS (
       UPDATE organizations o SET plan = $2 FROM current c WHERE o.id = c.id AND c.plan <> $2 RETURNING o.id),
     audited AS (
       INSERT INTO plan_changes (organization_id, previous_plan, plan, source, reference)
       SELECT c.id, c.plan, $2, $3, $4 FROM current c JOIN updated u ON u.id = c.id)
     SELECT c.plan AS previous, EXISTS (SELECT FROM updated) AS changed FROM current c`,
    [organizationId, plan, reason.source, reason.ref ?? null],
  );
  const row = rows[0];
  if (!row) throw new BillingError('invalid_input', `no organization ${organizationId}`);
  return { changed: row.changed, previous: row.previous };
}

/** The organization's plan; undefined when there is no such organization. */
export async function organizationPlan(db: Queryable, organizationId: string): Promise<Plan | undefined> {
  if (!UUID.test(organizationId)) return undefined;
  const { rows } = await db.query<{ plan: Plan }>('SELECT plan FROM organizations WHERE id = $1', [organizationId]);
  return rows[0]?.plan;
}

/** The best plan among the active organizations the user owns or belongs to (free when none). */
export async function bestPlanOfUser(db: Queryable, userId: string): Promise<Plan> {
  const { rows } = await db.query<{ plan: Plan | null }>(
    `SELECT (array_agg(o.plan ORDER BY array_position($2::text[], o.plan) DESC))[1] AS plan
     FROM organizations o LEFT JOIN organization_members m ON m.organization_id = o.id AND m.user_id = $1
     WHERE o.is_active AND (o.owner_id = $1 OR m.user_id IS NOT NULL)`,
    [userId, PLANS],
  );
  return rows[0]?.plan ?? 'free';
}

/**
 * An organization's plan: the one place that changes it. Call inside the transaction that justifies the change (a
 * Stripe subscription event, an operator command): the plan commits with it, and the NOTIFY on
 * PLAN_CHANGED_CHANNEL (delivered at commit, payload the organization id) lets every API process drop its cached plan
 * at once.
 */
import type { Queryable } from '../db/transaction.js';
import type { Plan } from '../rate-limit.js';

/** NOTIFY channel announcing a plan change; the payload is the organization id. */
export const PLAN_CHANGED_CHANNEL = 'organization_plan_changed';

export interface PlanChange {
  organizationId: string;
  previous: Plan;
  plan: Plan;
  /** False when the organization already had this plan (nothing written, nothing announced). */
  changed: boolean;
}

/**
 * Sets the plan; `reason` says why (a Stripe subscription id, an operator) for the logs of the caller. Throws when the
 * organization does not exist.
 */
export async function setOrganizationPlan(
  client: Queryable,
  organizationId: string,
  plan: Plan,
  reason: string,
): Promise<PlanChange> {
  const { rows } = await client.query<{ previous: Plan }>(
    `SELECT plan AS previous FROM organizations WHERE id = $1 FOR UPDATE`,
    [organizationId],
  );
  if (!rows[0]) throw new Error(`no organization ${organizationId} to set the plan of (${reason})`);
  const { previous } = rows[0];
  if (previous === plan) return { organizationId, previous, plan, changed: false };
  await client.query(`UPDATE organizations SET plan = $2 WHERE id = $1`, [organizationId, plan]);
  await client.query(`SELECT pg_notify($1, $2)`, [PLAN_CHANGED_CHANNEL, organizationId]);
  return { organizationId, previous, plan, changed: true };
}

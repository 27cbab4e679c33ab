/** The organization's plan as the billing API shows it: limits, usage of its quotas and the subscription behind it. */
import type { Queryable } from '../db/transaction.js';
import { planAndUsage, type PlanUsage } from './quotas.js';
import { currentSubscription, type SubscriptionSummary } from './stripe.js';

export interface PlanStatus extends PlanUsage {
  /** The subscription that gives the plan; absent on the free plan or a plan set by hand. */
  subscription: SubscriptionSummary | undefined;
}

export async function planStatus(db: Queryable, organizationId: string): Promise<PlanStatus> {
  const [usage, subscription] = await Promise.all([
    planAndUsage(db, organizationId),
    currentSubscription(db, organizationId),
  ]);
  return { ...usage, subscription };
}

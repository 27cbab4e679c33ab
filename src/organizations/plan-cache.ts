/**
 * Each API process reads plans on every request (rate limits) and keeps them for a while; a NOTIFY on
 * `organization_plan_changed` (migration 0022, sent when a plan change commits) drops the organization's plan at once,
 * so a new plan's limits apply to the next request in every process. While the LISTEN connection is down the cache is
 * bypassed. A user's best plan depends on all their organizations: any plan change drops every user's.
 */
import type { Plan } from '../billing/plans.js';
import { NotifiedCache } from '../auth/notified-cache.js';
import type { Queryable } from '../db/transaction.js';
import { bestPlanOfUser, organizationPlan, PLAN_CHANGED_CHANNEL } from './plan.js';

/** The prefix users' best plans are filed under (organization ids are UUIDs, so it cannot collide). */
const USERS = 'users';

/**
 * Membership changes are not announced on this channel: a user's best plan may lag one by this long. Plan changes
 * themselves are announced, whatever the TTL.
 */
const PLAN_TTL_MS = 30_000;

interface CachedPlan {
  /** An organization's id, or USERS. */
  prefix: string;
  plan: Plan;
}

export class PlanCache extends NotifiedCache<CachedPlan> {
  constructor(options: { applicationName?: string; onListenerError?: (err: unknown) => void } = {}) {
    super({
      ...options,
      name: 'PlanCache',
      channel: PLAN_CHANGED_CHANNEL,
      applicationName: options.applicationName ?? 'erc8004-plan-listener',
      prefixOf: (cached) => cached.prefix,
      ttlMs: PLAN_TTL_MS,
    });
  }

  async planOf(db: Queryable, organizationId: string): Promise<Plan> {
    const cached = await this.load(`org:${organizationId}`, async () => ({
      prefix: organizationId,
      // An organization that does not exist (any more) gets the smallest limits.
      plan: (await organizationPlan(db, organizationId)) ?? 'free',
    }));
    return cached.plan;
  }

  async bestPlanOfUser(db: Queryable, userId: string): Promise<Plan> {
    const cached = await this.load(`user:${userId}`, async () => ({
      prefix: USERS,
      plan: await bestPlanOfUser(db, userId),
    }));
    return cached.plan;
  }

  override invalidatePrefix(organizationId: string): void {
    super.invalidatePrefix(organizationId);
    super.invalidatePrefix(USERS);
  }
}

/**
 * The plans (free, starter, pro, enterprise) and what each allows: the API rate limit and the quotas. One table for
 * the whole process: the defaults below, overridden per plan by BILLING_PLANS (parsed and checked by src/config.ts at
 * startup, installed by runProcess with configurePlans). Everything that needs a plan's figures asks planLimits.
 */

export const PLANS = ['free', 'starter', 'pro', 'enterprise'] as const;
export type Plan = (typeof PLANS)[number];

export interface PlanLimits {
  /** API requests per hour, per organization (src/rate-limit.ts). */
  requestsPerHour: number;
  /** Triggers an organization may have. */
  maxTriggers: number;
  /** Actions one trigger may have. */
  maxActionsPerTrigger: number;
  /** Deliveries created per calendar month (UTC); firings beyond it are recorded but not delivered. */
  deliveriesPerMonth: number;
  /** Credits (USDC, decimal string) included every month of a paid subscription. */
  includedMonthlyCredits: string;
}

export type PlanTable = Record<Plan, PlanLimits>;

export const DEFAULT_PLANS: PlanTable = {
  free: {
    requestsPerHour: 50,
    maxTriggers: 25,
    maxActionsPerTrigger: 5,
    deliveriesPerMonth: 1_000,
    includedMonthlyCredits: '0',
  },
  starter: {
    requestsPerHour: 100,
    maxTriggers: 100,
    maxActionsPerTrigger: 10,
    deliveriesPerMonth: 20_000,
    includedMonthlyCredits: '10',
  },
  pro: {
    requestsPerHour: 500,
    maxTriggers: 1_000,
    maxActionsPerTrigger: 20,
    deliveriesPerMonth: 250_000,
    includedMonthlyCredits: '100',
  },
  enterprise: {
    requestsPerHour: 2_000,
    maxTriggers: 10_000,
    maxActionsPerTrigger: 50,
    deliveriesPerMonth: 5_000_000,
    includedMonthlyCredits: '1000',
  },
};

export function isPlan(value: unknown): value is Plan {
  return typeof value === 'string' && (PLANS as readonly string[]).includes(value);
}

let active: PlanTable = DEFAULT_PLANS;

/** Installs the process's plan table (runProcess does, from BILLING_PLANS); tests may install their own. */
export function configurePlans(table: PlanTable): void {
  active = table;
}

/** What a plan allows. An unknown plan (the column is CHECK-constrained) gets the free plan's limits, never none. */
export function planLimits(plan: Plan): PlanLimits {
  return active[plan] ?? active.free;
}

/**
 * The plans (free, starter, pro, enterprise) and what each allows: the API rate limit and the quotas. One table for
 * the whole process: the defaults below, overridden per plan by BILLING_PLANS (parsed and checked by src/config.ts at
 * startup, installed by runProcess with configurePlans). Everything that needs a plan's figures asks planLimits.
 */

import { z } from 'zod';
import { jsonSetting } from '../json-setting.js';
import { isAmount } from './amount.js';

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
  /** Paid query calls (any tool, any tier) answered without charge per calendar month (UTC); the rest are charged. */
  includedQueryCallsPerMonth: number;
}

export type PlanTable = Record<Plan, PlanLimits>;

/** The most actions any trigger may have, whatever the plan (the API's trigger schema refuses more). */
export const MAX_ACTIONS_PER_TRIGGER = 16;

export const DEFAULT_PLANS: PlanTable = {
  free: {
    requestsPerHour: 50,
    maxTriggers: 25,
    maxActionsPerTrigger: 5,
    deliveriesPerMonth: 1_000,
    includedMonthlyCredits: '0',
    includedQueryCallsPerMonth: 0,
  },
  starter: {
    requestsPerHour: 100,
    maxTriggers: 100,
    maxActionsPerTrigger: 10,
    deliveriesPerMonth: 20_000,
    includedMonthlyCredits: '10',
    includedQueryCallsPerMonth: 1_000,
  },
  pro: {
    requestsPerHour: 500,
    maxTriggers: 1_000,
    maxActionsPerTrigger: 16,
    deliveriesPerMonth: 250_000,
    includedMonthlyCredits: '100',
    includedQueryCallsPerMonth: 10_000,
  },
  enterprise: {
    requestsPerHour: 2_000,
    maxTriggers: 100_000,
    maxActionsPerTrigger: 16,
    deliveriesPerMonth: 50_000_000,
    includedMonthlyCredits: '1000',
    includedQueryCallsPerMonth: 100_000,
  },
};

export function isPlan(value: unknown): value is Plan {
  return typeof value === 'string' && (PLANS as readonly string[]).includes(value);
}

const count = (what: string) =>
  z
    .number({ message: `${what} must be a whole number` })
    .int(`${what} must be a whole number`)
    .min(1, `${what} must be at least 1`)
    .max(1_000_000_000, `${what} must be at most 1000000000`);

/** Names the keys a strict object does not know: a misspelt plan or figure is refused, not ignored. */
const unknownKeys =
  (what: string, otherwise: string) =>
  (issue: { code?: string; keys?: string[] }): string =>
    issue.code === 'unrecognized_keys'
      ? `unknown ${what}: ${(issue.keys ?? []).map((k) => JSON.stringify(k)).join(', ')}`
      : otherwise;

const limitsOverride = z.strictObject(
  {
    requestsPerHour: count('requestsPerHour').optional(),
    maxTriggers: count('maxTriggers').optional(),
    maxActionsPerTrigger: count('maxActionsPerTrigger')
      .max(
        MAX_ACTIONS_PER_TRIGGER,
        `maxActionsPerTrigger must be at most ${MAX_ACTIONS_PER_TRIGGER} (what any trigger may have)`,
      )
      .optional(),
    deliveriesPerMonth: count('deliveriesPerMonth').optional(),
    includedQueryCallsPerMonth: z
      .number({ message: 'includedQueryCallsPerMonth must be a whole number' })
      .int('includedQueryCallsPerMonth must be a whole number')
      .min(0, 'includedQueryCallsPerMonth must be at least 0')
      .max(1_000_000_000, 'includedQueryCallsPerMonth must be at most 1000000000')
      .optional(),
    includedMonthlyCredits: z
      .string({ message: 'includedMonthlyCredits must be a decimal string such as "10" or "12.5"' })
      .refine((v) => isAmount(v, { allowZero: true }), {
        message: 'includedMonthlyCredits must be a decimal string with at most 8 decimals, such as "10" or "12.5"',
      })
      .optional(),
  },
  {
    error: unknownKeys(
      'figure (figures: requestsPerHour, maxTriggers, maxActionsPerTrigger, deliveriesPerMonth, includedMonthlyCredits, includedQueryCallsPerMonth)',
      'must be an object of figures, such as {"maxTriggers":10}',
    ),
  },
);

/**
 * BILLING_PLANS: a JSON object of plans, each with the figures it changes, e.g.
 * `{"free":{"maxTriggers":10},"pro":{"requestsPerHour":1000}}`; what it leaves out keeps its default.
 */
export const planTableSchema = jsonSetting('must be a JSON object such as {"free":{"maxTriggers":10}}')
  .pipe(
    z.strictObject(
      Object.fromEntries(PLANS.map((plan) => [plan, limitsOverride.optional()])) as Record<
        Plan,
        z.ZodOptional<typeof limitsOverride>
      >,
      { error: unknownKeys(`plan (plans: ${PLANS.join(', ')})`, 'must be a JSON object of plans') },
    ),
  )
  .transform(
    (overrides): PlanTable =>
      Object.fromEntries(
        PLANS.map((plan) => [plan, { ...DEFAULT_PLANS[plan], ...stripUndefined(overrides[plan]) }]),
      ) as PlanTable,
  );

const stripUndefined = <T extends object>(o: T | undefined): Partial<T> =>
  Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;

let active: PlanTable = DEFAULT_PLANS;

/** Installs the process's plan table (runProcess does, from BILLING_PLANS); tests may install their own. */
export function configurePlans(table: PlanTable): void {
  active = table;
}

/** What a plan allows. An unknown plan (the column is CHECK-constrained) gets the free plan's limits, never none. */
export function planLimits(plan: Plan): PlanLimits {
  return active[plan] ?? active.free;
}

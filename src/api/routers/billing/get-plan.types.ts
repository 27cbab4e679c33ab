import { z } from 'zod';
import { PLANS } from '../../../billing/plans.js';
import type { ApiMeta } from '../../trpc/trpc.js';
import { amount } from './schema.js';

export const getPlanMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/billing/plan',
    tags: ['Billing'],
    summary: "The organization's plan, its limits and quotas, what it uses of them, and the subscription behind it",
    protect: true,
  },
};
export const ZGetPlanRequest = z.looseObject({});
export const ZGetPlanResponse = z.object({
  plan: z.enum(PLANS),
  limits: z.object({
    requestsPerHour: z.number().int(),
    maxTriggers: z.number().int(),
    maxActionsPerTrigger: z.number().int(),
    deliveriesPerMonth: z.number().int(),
    includedMonthlyCredits: amount.describe('USDC included every month of a paid subscription'),
    includedQueryCallsPerMonth: z.number().int().describe('Paid query calls answered without charge per month (UTC)'),
  }),
  usage: z.object({
    triggers: z.number().int(),
    deliveriesThisMonth: z.number().int().describe('This calendar month (UTC)'),
    includedQueryCallsThisMonth: z.number().int().describe('Included query calls taken this calendar month (UTC)'),
  }),
  subscription: z
    .object({
      plan: z.enum(PLANS),
      status: z.string(),
      pastDue: z.boolean().describe('The payment failed and Stripe is retrying: the plan is kept meanwhile'),
      currentPeriodEnd: z.string().nullable(),
    })
    .nullable()
    .describe('The Stripe subscription that gives the plan; null on the free plan or a plan set by an operator'),
});

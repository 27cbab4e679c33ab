import { orgProcedure } from '../../trpc/trpc.js';
import { planStatus } from '../../../billing/plan-status.js';
import { getPlanMeta, ZGetPlanRequest, ZGetPlanResponse } from './get-plan.types.js';

export const getPlanRoute = orgProcedure('read')
  .meta(getPlanMeta)
  .input(ZGetPlanRequest)
  .output(ZGetPlanResponse)
  .query(async ({ ctx, input }) => {
    const { subscription, ...status } = await planStatus(ctx.pool, input.organizationId);
    return {
      ...status,
      subscription: subscription
        ? {
            plan: subscription.plan,
            status: subscription.status,
            pastDue: subscription.pastDue,
            currentPeriodEnd: subscription.currentPeriodEnd?.toISOString() ?? null,
          }
        : null,
    };
  });

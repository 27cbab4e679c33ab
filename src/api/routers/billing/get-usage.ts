import { orgProcedure } from '../../trpc/trpc.js';
import { usage } from '../../../billing/ledger.js';
import { getUsageMeta, ZGetUsageRequest, ZGetUsageResponse } from './get-usage.types.js';

export const getUsageRoute = orgProcedure('read')
  .meta(getUsageMeta)
  .input(ZGetUsageRequest)
  .output(ZGetUsageResponse)
  .query(async ({ ctx, input }) => ({
    period: input.period,
    items: await usage(ctx.pool, input.organizationId, {
      period: input.period,
      from: input.from ? new Date(input.from) : undefined,
      to: input.to ? new Date(input.to) : undefined,
    }),
  }));

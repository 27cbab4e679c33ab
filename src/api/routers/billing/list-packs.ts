import { orgProcedure } from '../../trpc/trpc.js';
import { requireBilling } from '../../../billing/stripe.js';
import { listPacksMeta, ZListPacksRequest, ZListPacksResponse } from './list-packs.types.js';

export const listPacksRoute = orgProcedure('read')
  .meta(listPacksMeta)
  .input(ZListPacksRequest)
  .output(ZListPacksResponse)
  .query(({ ctx }) => {
    const billing = requireBilling(ctx.stripeBilling);
    return { packs: [...billing.creditPacks], plans: [...new Set(billing.planPrices.map((p) => p.plan))] };
  });

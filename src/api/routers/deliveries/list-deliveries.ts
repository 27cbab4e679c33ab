import { orgProcedure } from '../../trpc/trpc.js';
import { listDeliveries } from '../../../deliveries/service.js';
import { listDeliveriesMeta, ZListDeliveriesRequest, ZListDeliveriesResponse } from './list-deliveries.types.js';

export const listDeliveriesRoute = orgProcedure('read')
  .meta(listDeliveriesMeta)
  .input(ZListDeliveriesRequest)
  .output(ZListDeliveriesResponse)
  .query(async ({ ctx, input }) => ({
    items: await listDeliveries(ctx.pool, { ...input, since: input.since ? new Date(input.since) : undefined }),
  }));

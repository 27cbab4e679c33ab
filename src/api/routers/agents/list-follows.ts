import { orgProcedure } from '../../trpc/trpc.js';
import { listFollowsMeta, ZListFollowsRequest, ZListFollowsResponse } from './list-follows.types.js';
import { toFollowOutput } from './schema.js';

export const listFollowsRoute = orgProcedure('read')
  .meta(listFollowsMeta)
  .input(ZListFollowsRequest)
  .output(ZListFollowsResponse)
  .query(async ({ ctx, input }) => ({
    items: (await ctx.agents.follows.list(input.organizationId)).map(toFollowOutput),
  }));

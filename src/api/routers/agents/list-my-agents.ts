import { orgProcedure } from '../../trpc/trpc.js';
import { listMyAgentsMeta, ZListMyAgentsRequest, ZListMyAgentsResponse } from './list-my-agents.types.js';
import { toLinkOutput } from './schema.js';

export const listMyAgentsRoute = orgProcedure('read')
  .meta(listMyAgentsMeta)
  .input(ZListMyAgentsRequest)
  .output(ZListMyAgentsResponse)
  .query(async ({ ctx, input }) => ({
    items: (await ctx.agents.myAgents(input.organizationId)).map((a) => ({ ...toLinkOutput(a), summary: a.summary })),
  }));

import { orgProcedure } from '../../trpc/trpc.js';
import { followAgentMeta, ZFollowAgentRequest, ZFollowAgentResponse } from './follow-agent.types.js';
import { toFollowOutput } from './schema.js';

export const followAgentRoute = orgProcedure('write')
  .meta(followAgentMeta)
  .input(ZFollowAgentRequest)
  .output(ZFollowAgentResponse)
  .mutation(async ({ ctx, input }) => {
    const { organizationId, chainId, agentId, ...options } = input;
    const userId = await ctx.actingUserOf(organizationId);
    const { follow, created } = await ctx.agents.follows.follow({ organizationId, chainId, agentId, userId }, options);
    return { ...toFollowOutput(follow), created };
  });

import { orgProcedure } from '../../trpc/trpc.js';
import { unfollowAgentMeta, ZUnfollowAgentRequest, ZUnfollowAgentResponse } from './unfollow-agent.types.js';

export const unfollowAgentRoute = orgProcedure('delete')
  .meta(unfollowAgentMeta)
  .input(ZUnfollowAgentRequest)
  .output(ZUnfollowAgentResponse)
  .mutation(async ({ ctx, input }) => {
    await ctx.agents.follows.unfollow(input);
    return { unfollowed: true as const };
  });

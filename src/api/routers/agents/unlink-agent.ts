import { orgProcedure } from '../../trpc/trpc.js';
import { unlinkAgentMeta, ZUnlinkAgentRequest, ZUnlinkAgentResponse } from './unlink-agent.types.js';

export const unlinkAgentRoute = orgProcedure('admin')
  .meta(unlinkAgentMeta)
  .input(ZUnlinkAgentRequest)
  .output(ZUnlinkAgentResponse)
  .mutation(async ({ ctx, input }) => {
    await ctx.agents.links.unlink(input);
    return { unlinked: true as const };
  });

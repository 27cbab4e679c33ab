import { orgProcedure } from '../../trpc/trpc.js';
import { linkAgentMeta, ZLinkAgentRequest, ZLinkAgentResponse } from './link-agent.types.js';
import { toLinkOutput } from './schema.js';

export const linkAgentRoute = orgProcedure('admin')
  .meta(linkAgentMeta)
  .input(ZLinkAgentRequest)
  .output(ZLinkAgentResponse)
  .mutation(async ({ ctx, input }) =>
    toLinkOutput(await ctx.agents.links.link({ ...input, userId: await ctx.actingUserOf(input.organizationId) })),
  );

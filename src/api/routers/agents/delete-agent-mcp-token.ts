import { orgProcedure } from '../../trpc/trpc.js';
import {
  deleteAgentMcpTokenMeta,
  ZDeleteAgentMcpTokenRequest,
  ZDeleteAgentMcpTokenResponse,
} from './delete-agent-mcp-token.types.js';

export const deleteAgentMcpTokenRoute = orgProcedure('admin')
  .meta(deleteAgentMcpTokenMeta)
  .input(ZDeleteAgentMcpTokenRequest)
  .output(ZDeleteAgentMcpTokenResponse)
  .mutation(async ({ ctx, input }) => {
    await ctx.agents.mcpTokens.delete(input);
    return { deleted: true as const };
  });

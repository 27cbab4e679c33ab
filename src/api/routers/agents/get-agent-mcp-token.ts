import { orgProcedure } from '../../trpc/trpc.js';
import {
  getAgentMcpTokenMeta,
  ZGetAgentMcpTokenRequest,
  ZGetAgentMcpTokenResponse,
} from './get-agent-mcp-token.types.js';
import { toMcpTokenOutput } from './schema.js';

export const getAgentMcpTokenRoute = orgProcedure('read')
  .meta(getAgentMcpTokenMeta)
  .input(ZGetAgentMcpTokenRequest)
  .output(ZGetAgentMcpTokenResponse)
  .query(async ({ ctx, input }) => {
    const token = await ctx.agents.mcpTokens.get(input);
    return token && toMcpTokenOutput(token);
  });

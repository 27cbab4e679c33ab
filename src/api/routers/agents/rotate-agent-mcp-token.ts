import { orgProcedure } from '../../trpc/trpc.js';
import {
  rotateAgentMcpTokenMeta,
  ZRotateAgentMcpTokenRequest,
  ZRotateAgentMcpTokenResponse,
} from './rotate-agent-mcp-token.types.js';
import { toMcpTokenOutput } from './schema.js';

export const rotateAgentMcpTokenRoute = orgProcedure('admin')
  .meta(rotateAgentMcpTokenMeta)
  .input(ZRotateAgentMcpTokenRequest)
  .output(ZRotateAgentMcpTokenResponse)
  .mutation(async ({ ctx, input }) => toMcpTokenOutput(await ctx.agents.mcpTokens.put(input, input.token, 'rotate')));

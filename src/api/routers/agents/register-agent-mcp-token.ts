import { orgProcedure } from '../../trpc/trpc.js';
import {
  registerAgentMcpTokenMeta,
  ZRegisterAgentMcpTokenRequest,
  ZRegisterAgentMcpTokenResponse,
} from './register-agent-mcp-token.types.js';
import { toMcpTokenOutput } from './schema.js';

export const registerAgentMcpTokenRoute = orgProcedure('admin')
  .meta(registerAgentMcpTokenMeta)
  .input(ZRegisterAgentMcpTokenRequest)
  .output(ZRegisterAgentMcpTokenResponse)
  .mutation(async ({ ctx, input }) => toMcpTokenOutput(await ctx.agents.mcpTokens.put(input, input.token, 'register')));

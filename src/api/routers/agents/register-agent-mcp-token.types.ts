import type { ApiMeta } from '../../trpc/trpc.js';
import { agentInput, mcpTokenInput, mcpTokenOutput } from './schema.js';

export const registerAgentMcpTokenMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/mcp-token',
    tags: ['Agents'],
    summary: "Register the agent's MCP token (needs an active link; sealed at rest, never shown again)",
    description:
      "The token goes only with MCP actions that call the endpoint the agent's registration file publishes " +
      '(`resolve_endpoint`). 403 without an active link (re-checked on chain), 409 when a token exists (rotate it).',
    protect: true,
  },
};
export const ZRegisterAgentMcpTokenRequest = agentInput.extend(mcpTokenInput.shape);
export const ZRegisterAgentMcpTokenResponse = mcpTokenOutput;

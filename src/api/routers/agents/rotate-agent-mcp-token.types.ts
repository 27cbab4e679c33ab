import type { ApiMeta } from '../../trpc/trpc.js';
import { agentInput, mcpTokenInput, mcpTokenOutput } from './schema.js';

export const rotateAgentMcpTokenMeta: ApiMeta = {
  openapi: {
    method: 'PUT',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/mcp-token',
    tags: ['Agents'],
    summary: "Replace the agent's MCP token (needs an active link)",
    protect: true,
  },
};
export const ZRotateAgentMcpTokenRequest = agentInput.extend(mcpTokenInput.shape);
export const ZRotateAgentMcpTokenResponse = mcpTokenOutput;

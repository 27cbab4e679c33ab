import type { ApiMeta } from '../../trpc/trpc.js';
import { agentInput, mcpTokenOutput } from './schema.js';

export const getAgentMcpTokenMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/mcp-token',
    tags: ['Agents'],
    summary: "The agent's MCP token: fingerprint, last four characters and timestamps (never the token)",
    protect: true,
  },
};
export const ZGetAgentMcpTokenRequest = agentInput;
export const ZGetAgentMcpTokenResponse = mcpTokenOutput.nullable();

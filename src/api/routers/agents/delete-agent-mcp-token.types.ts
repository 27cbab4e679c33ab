import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { agentInput } from './schema.js';

export const deleteAgentMcpTokenMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/mcp-token',
    tags: ['Agents'],
    summary: "Delete the agent's MCP token (needs an active link)",
    protect: true,
  },
};
export const ZDeleteAgentMcpTokenRequest = agentInput;
export const ZDeleteAgentMcpTokenResponse = z.object({ deleted: z.literal(true) });

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { agentInput } from './schema.js';

export const unlinkAgentMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/link',
    tags: ['Agents'],
    summary: 'Unlink the agent (its MCP token is deleted with the link)',
    protect: true,
  },
};
export const ZUnlinkAgentRequest = agentInput;
export const ZUnlinkAgentResponse = z.object({ unlinked: z.literal(true) });

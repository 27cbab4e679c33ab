import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { agentInput } from './schema.js';

export const unfollowAgentMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/follow',
    tags: ['Agents'],
    summary: 'Unfollow an agent: its managed triggers are deleted',
    protect: true,
  },
};
export const ZUnfollowAgentRequest = agentInput;
export const ZUnfollowAgentResponse = z.object({ unfollowed: z.literal(true) });

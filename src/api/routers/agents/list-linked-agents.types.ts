import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { linkOutput } from './schema.js';

export const listLinkedAgentsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/agent-links',
    tags: ['Agents'],
    summary: "List the organization's agent links (active only, unless includeInactive)",
    protect: true,
  },
};
export const ZListLinkedAgentsRequest = z.object({
  includeInactive: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .default(false),
});
export const ZListLinkedAgentsResponse = z.object({ items: z.array(linkOutput) });

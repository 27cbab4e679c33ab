import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { followOutput } from './schema.js';

export const listFollowsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/follows',
    tags: ['Agents'],
    summary: 'The agents the organization follows, with their managed triggers',
    protect: true,
  },
};
export const ZListFollowsRequest = z.looseObject({});
export const ZListFollowsResponse = z.object({ items: z.array(followOutput) });

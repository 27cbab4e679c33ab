import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { memberOutput } from './schema.js';

export const listMembersMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/members',
    tags: ['Organizations'],
    summary: 'Members and their roles',
    protect: true,
  },
};
export const ZListMembersRequest = z.looseObject({});
export const ZListMembersResponse = z.object({ items: z.array(memberOutput) });

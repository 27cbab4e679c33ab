import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const removeMemberMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}/members/{userId}',
    tags: ['Organizations'],
    summary: 'Remove a member',
    protect: true,
  },
};
export const ZRemoveMemberRequest = z.object({ userId: z.uuid() });
export const ZRemoveMemberResponse = z.object({ removed: z.boolean() });

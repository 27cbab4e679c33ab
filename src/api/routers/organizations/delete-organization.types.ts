import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const deleteOrganizationMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}',
    tags: ['Organizations'],
    summary: 'Delete an organization with its triggers (owner only)',
    protect: true,
  },
};
export const ZDeleteOrganizationRequest = z.looseObject({});
export const ZDeleteOrganizationResponse = z.object({ deleted: z.literal(true), triggersDeleted: z.number() });

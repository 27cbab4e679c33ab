import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { organizationOutput } from './schema.js';

export const renameOrganizationMeta: ApiMeta = {
  openapi: {
    method: 'PATCH',
    path: '/organizations/{organizationId}',
    tags: ['Organizations'],
    summary: 'Rename an organization',
    protect: true,
  },
};
export const ZRenameOrganizationRequest = z.object({ name: z.string().trim().min(1).max(200) });
export const ZRenameOrganizationResponse = organizationOutput;

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { organizationOutput } from './schema.js';

export const transferOrganizationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/transfer',
    tags: ['Organizations'],
    summary: 'Make another member the owner (owner only); you stay as admin',
    protect: true,
  },
};
export const ZTransferOrganizationRequest = z.object({ userId: z.uuid() });
export const ZTransferOrganizationResponse = organizationOutput;

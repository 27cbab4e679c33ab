import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { organizationOutput } from './schema.js';

export const createOrganizationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations',
    tags: ['Organizations'],
    summary: 'Create an organization (you become its owner)',
    protect: true,
  },
};
export const ZCreateOrganizationRequest = z.object({
  name: z.string().trim().min(1).max(200),
  slug: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'lower-case letters, digits and dashes, 1-64 characters'),
});
export const ZCreateOrganizationResponse = organizationOutput;

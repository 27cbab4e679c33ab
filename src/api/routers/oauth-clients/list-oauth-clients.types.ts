import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { oauthClientOutput } from './schema.js';

export const listOAuthClientsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/oauth-clients',
    tags: ['OAuth clients'],
    summary: 'List OAuth clients (never their secrets)',
    protect: true,
  },
};
export const ZListOAuthClientsRequest = z.object({
  includeInactive: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .default(true),
});
export const ZListOAuthClientsResponse = z.object({ items: z.array(oauthClientOutput) });

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { oauthClientOutput, oauthScope } from './schema.js';

export const createOAuthClientMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/oauth-clients',
    tags: ['OAuth clients'],
    protect: true,
    summary: 'Create an OAuth 2.0 client-credentials client (its secret is shown once)',
  },
};
export const ZCreateOAuthClientRequest = z.object({
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().max(1000).optional(),
  allowedScopes: z.array(oauthScope).min(1).max(4).default(['read']),
});
export const ZCreateOAuthClientResponse = oauthClientOutput.extend({
  clientSecret: z.string().describe('ocs_…: shown once, never again'),
  tokenEndpoint: z
    .string()
    .describe('where to exchange the credentials for an access token (grant_type=client_credentials)'),
});
export type CreateOAuthClientRequest = z.infer<typeof ZCreateOAuthClientRequest>;

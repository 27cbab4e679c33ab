import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { oauthClientOutput } from './schema.js';

export const deactivateOAuthClientMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/oauth-clients/{clientId}/deactivate',
    tags: ['OAuth clients'],
    protect: true,
    summary: 'Deactivate an OAuth client: its tokens stop working at once and it gets no new ones',
  },
};
export const ZDeactivateOAuthClientRequest = z.object({
  // URL-safe characters only: path parameters reach the router still percent-encoded.
  clientId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a client id')
    .describe("the public client id (oac_…) or the client's id (UUID)"),
});
export const ZDeactivateOAuthClientResponse = z.object({
  deactivated: z.literal(true),
  client: oauthClientOutput,
  revokedTokens: z.number().int().describe('live access tokens revoked now'),
});

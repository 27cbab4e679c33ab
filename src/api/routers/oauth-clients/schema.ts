import { z } from 'zod';
import { OAUTH_SCOPES, type OAuthClientSummary } from '../../../auth/oauth.js';

export const oauthScope = z.enum(OAUTH_SCOPES);

/** An OAuth client as the API shows it: never its secret (only `create` returns that, once). */
export const oauthClientOutput = z.object({
  id: z.uuid(),
  clientId: z.string().describe('public client identifier (oac_…), used at POST /oauth/token'),
  name: z.string(),
  description: z.string().nullable(),
  allowedScopes: z.array(oauthScope),
  isActive: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type OAuthClientOutput = z.infer<typeof oauthClientOutput>;

export function toOAuthClientOutput(c: OAuthClientSummary): OAuthClientOutput {
  return {
    id: c.id,
    clientId: c.clientId,
    name: c.name,
    description: c.description,
    allowedScopes: c.allowedScopes,
    isActive: c.isActive,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

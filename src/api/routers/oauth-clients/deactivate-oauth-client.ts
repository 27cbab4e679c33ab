import { orgProcedure } from '../../trpc/trpc.js';
import { deactivateOAuthClient } from '../../../auth/oauth.js';
import {
  deactivateOAuthClientMeta,
  ZDeactivateOAuthClientRequest,
  ZDeactivateOAuthClientResponse,
} from './deactivate-oauth-client.types.js';
import { toOAuthClientOutput } from './schema.js';

export const deactivateOAuthClientRoute = orgProcedure('admin')
  .meta(deactivateOAuthClientMeta)
  .input(ZDeactivateOAuthClientRequest)
  .output(ZDeactivateOAuthClientResponse)
  .mutation(async ({ ctx, input }) => {
    const result = await deactivateOAuthClient(ctx.pool, {
      organizationId: input.organizationId,
      clientId: input.clientId,
    });
    // Other processes drop these tokens on the oauth_token_changed notification; this one does not wait for it.
    for (const prefix of result.revokedTokenPrefixes) ctx.oauthTokens?.invalidatePrefix(prefix);
    ctx.log.info(
      {
        organizationId: input.organizationId,
        clientId: result.client.clientId,
        revokedTokens: result.revokedTokenPrefixes.length,
      },
      'OAuth client deactivated',
    );
    return {
      deactivated: true as const,
      client: toOAuthClientOutput(result.client),
      revokedTokens: result.revokedTokenPrefixes.length,
    };
  });

import { orgProcedure } from '../../trpc/trpc.js';
import { createOAuthClient } from '../../../auth/oauth.js';
import { OAUTH_TOKEN_PATH } from '../../oauth-token-endpoint.js';
import {
  createOAuthClientMeta,
  ZCreateOAuthClientRequest,
  ZCreateOAuthClientResponse,
} from './create-oauth-client.types.js';
import { toOAuthClientOutput } from './schema.js';

export const createOAuthClientRoute = orgProcedure('admin')
  .meta(createOAuthClientMeta)
  .input(ZCreateOAuthClientRequest)
  .output(ZCreateOAuthClientResponse)
  .mutation(async ({ ctx, input }) => {
    const created = await createOAuthClient(ctx.pool, {
      organizationId: input.organizationId,
      name: input.name,
      description: input.description,
      allowedScopes: input.allowedScopes,
    });
    ctx.log.info(
      { organizationId: input.organizationId, clientId: created.clientId, scopes: created.allowedScopes },
      'OAuth client created',
    );
    return { ...toOAuthClientOutput(created), clientSecret: created.clientSecret, tokenEndpoint: OAUTH_TOKEN_PATH };
  });

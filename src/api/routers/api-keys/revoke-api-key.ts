import { orgProcedure } from '../../trpc/trpc.js';
import { revokeApiKey } from '../../../auth/api-keys.js';
import { revokeApiKeyMeta, ZRevokeApiKeyRequest, ZRevokeApiKeyResponse } from './revoke-api-key.types.js';

export const revokeApiKeyRoute = orgProcedure('admin')
  .meta(revokeApiKeyMeta)
  .input(ZRevokeApiKeyRequest)
  .output(ZRevokeApiKeyResponse)
  .mutation(async ({ ctx, input }) => {
    const result = await revokeApiKey(ctx.pool, {
      keyId: input.keyId,
      organizationId: input.organizationId,
      revokedBy: await ctx.actingUserOf(input.organizationId),
      reason: input.reason,
    });
    return { revoked: true as const, revokedAt: result.revokedAt.toISOString() };
  });

import { orgProcedure } from '../../trpc/trpc.js';
import { createApiKey } from '../../../auth/api-keys.js';
import { createApiKeyMeta, ZCreateApiKeyRequest, ZCreateApiKeyResponse } from './create-api-key.types.js';
import { toApiKeyOutput } from './schema.js';

export const createApiKeyRoute = orgProcedure('admin')
  .meta(createApiKeyMeta)
  .input(ZCreateApiKeyRequest)
  .output(ZCreateApiKeyResponse)
  .mutation(async ({ ctx, input }) => {
    const created = await createApiKey(ctx.pool, {
      organizationId: input.organizationId,
      createdBy: await ctx.actingUserOf(input.organizationId),
      name: input.name,
      environment: input.environment,
      keyType: input.keyType,
      permissions: input.permissions,
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : undefined,
      rateLimitOverride: input.rateLimitOverride,
    });
    return { ...toApiKeyOutput(created), key: created.key };
  });

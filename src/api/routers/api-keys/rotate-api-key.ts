import { orgProcedure } from '../../trpc/trpc.js';
import { rotateApiKey } from '../../../auth/api-keys.js';
import { rotateApiKeyMeta, ZRotateApiKeyRequest, ZRotateApiKeyResponse } from './rotate-api-key.types.js';
import { toApiKeyOutput } from './schema.js';

export const rotateApiKeyRoute = orgProcedure('admin')
  .meta(rotateApiKeyMeta)
  .input(ZRotateApiKeyRequest)
  .output(ZRotateApiKeyResponse)
  .mutation(async ({ ctx, input }) => {
    const created = await rotateApiKey(ctx.pool, {
      keyId: input.keyId,
      organizationId: input.organizationId,
      rotatedBy: await ctx.actingUserOf(input.organizationId),
    });
    return { ...toApiKeyOutput(created), key: created.key };
  });

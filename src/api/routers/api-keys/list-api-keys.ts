import { orgProcedure } from '../../trpc/trpc.js';
import { listApiKeys } from '../../../auth/api-keys.js';
import { listApiKeysMeta, ZListApiKeysRequest, ZListApiKeysResponse } from './list-api-keys.types.js';
import { toApiKeyOutput } from './schema.js';

export const listApiKeysRoute = orgProcedure('admin')
  .meta(listApiKeysMeta)
  .input(ZListApiKeysRequest)
  .output(ZListApiKeysResponse)
  .query(async ({ ctx, input }) => ({
    items: (await listApiKeys(ctx.pool, input.organizationId, { includeRevoked: input.includeRevoked })).map(
      toApiKeyOutput,
    ),
  }));

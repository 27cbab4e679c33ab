import { orgProcedure } from '../../trpc/trpc.js';
import { listOAuthClients } from '../../../auth/oauth.js';
import {
  listOAuthClientsMeta,
  ZListOAuthClientsRequest,
  ZListOAuthClientsResponse,
} from './list-oauth-clients.types.js';
import { toOAuthClientOutput } from './schema.js';

export const listOAuthClientsRoute = orgProcedure('admin')
  .meta(listOAuthClientsMeta)
  .input(ZListOAuthClientsRequest)
  .output(ZListOAuthClientsResponse)
  .query(async ({ ctx, input }) => ({
    items: (await listOAuthClients(ctx.pool, input.organizationId, { includeInactive: input.includeInactive })).map(
      toOAuthClientOutput,
    ),
  }));

import { orgProcedure } from '../../trpc/trpc.js';
import { listInvitations } from '../../../auth/invitations.js';
import { listInvitationsMeta, ZListInvitationsRequest, ZListInvitationsResponse } from './list-invitations.types.js';
import { toInvitationOutput } from './schema.js';

export const listInvitationsRoute = orgProcedure('admin')
  .meta(listInvitationsMeta)
  .input(ZListInvitationsRequest)
  .output(ZListInvitationsResponse)
  .query(async ({ ctx, input }) => {
    return { items: (await listInvitations(ctx.pool, input.organizationId)).map(toInvitationOutput) };
  });

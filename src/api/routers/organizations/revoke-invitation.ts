import { orgProcedure } from '../../trpc/trpc.js';
import { revokeInvitation } from '../../../auth/invitations.js';
import {
  revokeInvitationMeta,
  ZRevokeInvitationRequest,
  ZRevokeInvitationResponse,
} from './revoke-invitation.types.js';
import { toInvitationOutput } from './schema.js';

export const revokeInvitationRoute = orgProcedure('admin')
  .meta(revokeInvitationMeta)
  .input(ZRevokeInvitationRequest)
  .output(ZRevokeInvitationResponse)
  .mutation(async ({ ctx, input }) => {
    return toInvitationOutput(
      await revokeInvitation(
        ctx.pool,
        input.organizationId,
        input.invitationId,
        await ctx.actingUserOf(input.organizationId),
      ),
    );
  });

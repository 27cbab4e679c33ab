import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc.js';
import { answerInvitation } from '../../../auth/invitations.js';
import {
  acceptInvitationMeta,
  ZAcceptInvitationRequest,
  ZAcceptInvitationResponse,
} from './accept-invitation.types.js';

export const acceptInvitationRoute = authedProcedure
  .meta(acceptInvitationMeta)
  .input(ZAcceptInvitationRequest)
  .output(ZAcceptInvitationResponse)
  .mutation(async ({ ctx, input }) => {
    if (ctx.subject.kind !== 'user')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'invitations are accepted by signed-in users' });
    const userId = ctx.subject.userId;
    const accepted = await answerInvitation(ctx.pool, userId, input.token, 'accept');
    // This process answers the new member's next request without waiting for the NOTIFY (other processes get that).
    ctx.organizationAccess?.invalidatePrefix(accepted.organizationId);
    return { userId, username: accepted.username, email: accepted.email, role: accepted.role };
  });

import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc.js';
import { answerInvitation } from '../../../auth/invitations.js';
import {
  declineInvitationMeta,
  ZDeclineInvitationRequest,
  ZDeclineInvitationResponse,
} from './decline-invitation.types.js';

export const declineInvitationRoute = authedProcedure
  .meta(declineInvitationMeta)
  .input(ZDeclineInvitationRequest)
  .output(ZDeclineInvitationResponse)
  .mutation(async ({ ctx, input }) => {
    if (ctx.subject.kind !== 'user')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'invitations are declined by signed-in users' });
    const declined = await answerInvitation(ctx.pool, ctx.subject.userId, input.token, 'decline');
    return { declined: true as const, organizationId: declined.organizationId };
  });

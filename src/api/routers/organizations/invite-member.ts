import { TRPCError } from '@trpc/server';
import { orgProcedure } from '../../trpc/trpc.js';
import { createInvitation, discardInvitation } from '../../../auth/invitations.js';
import { invitationMail } from '../../../mail/messages.js';
import { inviteMemberMeta, ZInviteMemberRequest, ZInviteMemberResponse } from './invite-member.types.js';
import { toInvitationOutput } from './schema.js';

export const inviteMemberRoute = orgProcedure('admin')
  .meta(inviteMemberMeta)
  .input(ZInviteMemberRequest)
  .output(ZInviteMemberResponse)
  .mutation(async ({ ctx, input }) => {
    const created = await createInvitation(ctx.pool, {
      organizationId: input.organizationId,
      email: input.email,
      role: input.role,
      // API keys and OAuth tokens hold the admin permission here (orgProcedure), users their role.
      inviterRole: ctx.org.role ?? 'admin',
      invitedBy: await ctx.actingUserOf(input.organizationId),
    });
    try {
      await ctx.mailer.send(
        invitationMail({
          to: created.invitation.email,
          publicUrl: ctx.publicUrl,
          token: created.token,
          organizationName: created.organizationName,
          inviterName: created.inviterName,
          role: created.invitation.role,
          expiresAt: created.invitation.expiresAt,
        }),
      );
    } catch (err) {
      // The token went nowhere: an invitation nobody can accept is not left behind.
      await discardInvitation(ctx.pool, input.organizationId, created.invitation.id);
      ctx.log.error({ err, invitationId: created.invitation.id }, 'invitation mail not sent');
      throw new TRPCError({
        code: 'SERVICE_UNAVAILABLE',
        message: 'the invitation mail could not be sent; nothing was created, try again later',
      });
    }
    return toInvitationOutput(created.invitation);
  });

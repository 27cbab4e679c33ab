import { TRPCError } from '@trpc/server';
import { authedProcedure, orgProcedure } from '../../trpc/trpc.js';
import {
  answerInvitation,
  createInvitation,
  discardInvitation,
  listInvitations,
  revokeInvitation,
  type Invitation,
} from '../../../auth/invitations.js';
import { invitationMail } from '../../../mail/messages.js';
import {
  acceptInvitationMeta,
  declineInvitationMeta,
  inviteMemberMeta,
  listInvitationsMeta,
  memberOutput,
  revokeInvitationMeta,
  ZAcceptInvitationRequest,
  ZDeclineInvitationResponse,
  ZInviteMemberRequest,
  ZInviteMemberResponse,
  ZListInvitationsRequest,
  ZListInvitationsResponse,
  ZRevokeInvitationRequest,
} from './organizations.types.js';

const toOutput = (i: Invitation) => ({
  id: i.id,
  email: i.email,
  role: i.role,
  status: i.status,
  expiresAt: i.expiresAt.toISOString(),
  createdAt: i.createdAt.toISOString(),
});

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
    return toOutput(created.invitation);
  });

export const listInvitationsRoute = orgProcedure('admin')
  .meta(listInvitationsMeta)
  .input(ZListInvitationsRequest)
  .output(ZListInvitationsResponse)
  .query(async ({ ctx, input }) => {
    return { items: (await listInvitations(ctx.pool, input.organizationId)).map(toOutput) };
  });

export const revokeInvitationRoute = orgProcedure('admin')
  .meta(revokeInvitationMeta)
  .input(ZRevokeInvitationRequest)
  .output(ZInviteMemberResponse)
  .mutation(async ({ ctx, input }) => {
    return toOutput(
      await revokeInvitation(
        ctx.pool,
        input.organizationId,
        input.invitationId,
        await ctx.actingUserOf(input.organizationId),
      ),
    );
  });

export const acceptInvitationRoute = authedProcedure
  .meta(acceptInvitationMeta)
  .input(ZAcceptInvitationRequest)
  .output(memberOutput)
  .mutation(async ({ ctx, input }) => {
    if (ctx.subject.kind !== 'user')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'invitations are accepted by signed-in users' });
    const userId = ctx.subject.userId;
    const accepted = await answerInvitation(ctx.pool, userId, input.token, 'accept');
    // This process answers the new member's next request without waiting for the NOTIFY (other processes get that).
    ctx.organizationAccess?.invalidatePrefix(accepted.organizationId);
    return { userId, username: accepted.username, email: accepted.email, role: accepted.role };
  });

export const declineInvitationRoute = authedProcedure
  .meta(declineInvitationMeta)
  .input(ZAcceptInvitationRequest)
  .output(ZDeclineInvitationResponse)
  .mutation(async ({ ctx, input }) => {
    if (ctx.subject.kind !== 'user')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'invitations are declined by signed-in users' });
    const declined = await answerInvitation(ctx.pool, ctx.subject.userId, input.token, 'decline');
    return { declined: true as const, organizationId: declined.organizationId };
  });

import { createHash, randomBytes } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { authedProcedure, orgProcedure } from '../../trpc/trpc.js';
import type { ApiContext } from '../../trpc/context.js';
import { ApiError } from '../../trpc/errors.js';
import { withTransaction } from '../../../indexer/store.js';
import {
  acceptInvitationMeta, deleteOrganizationMeta, inviteMemberMeta, memberOutput, organizationOutput, transferOrganizationMeta,
  ZAcceptInvitationRequest, ZDeleteOrganizationRequest, ZDeleteOrganizationResponse, ZInviteMemberRequest, ZInviteMemberResponse, ZTransferOrganizationRequest,
} from './organizations.types.js';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Owner-only operations: an API key or a non-owner admin is refused. */
async function requireOwner(ctx: Pick<ApiContext, 'subject' | 'roleOf'>, organizationId: string): Promise<string> {
  if (ctx.subject.kind !== 'user' || (await ctx.roleOf(ctx.subject.userId, organizationId)) !== 'owner') {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'only the owner can do this' });
  }
  return ctx.subject.userId;
}

export const deleteOrganizationRoute = orgProcedure('admin').meta(deleteOrganizationMeta).input(ZDeleteOrganizationRequest).output(ZDeleteOrganizationResponse).mutation(async ({ ctx, input }) => {
  await requireOwner(ctx, input.organizationId);
  // Complete every trigger workflow first, so that none keeps running for a vanished organization.
  const { rows } = await ctx.pool.query<{ id: string }>('SELECT id FROM triggers WHERE organization_id = $1', [input.organizationId]);
  for (const t of rows) await ctx.triggers.delete(t.id, input.organizationId);
  await ctx.pool.query('DELETE FROM organizations WHERE id = $1', [input.organizationId]);
  return { deleted: true as const, triggersDeleted: rows.length };
});

export const transferOrganizationRoute = orgProcedure('admin').meta(transferOrganizationMeta).input(ZTransferOrganizationRequest).output(organizationOutput).mutation(async ({ ctx, input }) => {
  const owner = await requireOwner(ctx, input.organizationId);
  if (input.userId === owner) throw new ApiError('BAD_REQUEST', 'you already own this organization');
  return withTransaction(ctx.pool, async (client) => {
    const member = await client.query('SELECT 1 FROM organization_members WHERE organization_id = $1 AND user_id = $2', [input.organizationId, input.userId]);
    if (!member.rowCount) throw new ApiError('BAD_REQUEST', 'the new owner must be a member of the organization');
    await client.query('DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2', [input.organizationId, input.userId]);
    await client.query(
      `INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'admin') ON CONFLICT (organization_id, user_id) DO UPDATE SET role = 'admin'`,
      [input.organizationId, owner],
    );
    const { rows } = await client.query('UPDATE organizations SET owner_id = $2 WHERE id = $1 RETURNING *', [input.organizationId, input.userId]);
    return { id: rows[0].id, name: rows[0].name, slug: rows[0].slug, plan: rows[0].plan, isPersonal: rows[0].is_personal };
  });
});

export const inviteMemberRoute = orgProcedure('admin').meta(inviteMemberMeta).input(ZInviteMemberRequest).output(ZInviteMemberResponse).mutation(async ({ ctx, input }) => {
  const token = `inv_${randomBytes(24).toString('base64url')}`;
  const { rows } = await ctx.pool.query<{ id: string; expires_at: Date }>(
    `INSERT INTO organization_invitations (organization_id, email, role, token_hash, invited_by, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + interval '7 days') RETURNING id, expires_at`,
    [input.organizationId, input.email.toLowerCase(), input.role, hashToken(token), await ctx.actingUserOf(input.organizationId)],
  );
  return { invitationId: rows[0]!.id, token, expiresAt: rows[0]!.expires_at.toISOString() };
});

export const acceptInvitationRoute = authedProcedure.meta(acceptInvitationMeta).input(ZAcceptInvitationRequest).output(memberOutput).mutation(async ({ ctx, input }) => {
  if (ctx.subject.kind !== 'user') throw new TRPCError({ code: 'FORBIDDEN', message: 'invitations are accepted by signed-in users' });
  const userId = ctx.subject.userId;
  const accepted = await withTransaction(ctx.pool, async (client) => {
    const { rows } = await client.query(
      `SELECT i.id, i.organization_id, i.role, i.email, u.username, u.email AS user_email
       FROM organization_invitations i JOIN users u ON u.id = $2
       WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > now() FOR UPDATE OF i`,
      [hashToken(input.token), userId],
    );
    const invitation = rows[0];
    // The same answer for unknown, used, expired and someone else's invitation.
    if (!invitation || invitation.email !== invitation.user_email) throw new ApiError('NOT_FOUND', 'no open invitation with this token for your email');
    await client.query('UPDATE organization_invitations SET accepted_at = now() WHERE id = $1', [invitation.id]);
    await client.query(
      `INSERT INTO organization_members (organization_id, user_id, role, invited_by)
       SELECT $1, $2, $3, invited_by FROM organization_invitations WHERE id = $4
       ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role`,
      [invitation.organization_id, userId, invitation.role, invitation.id],
    );
    return { organizationId: invitation.organization_id as string, member: { userId, username: invitation.username, email: invitation.user_email, role: invitation.role } };
  });
  // This process answers the new member's next request without waiting for the NOTIFY (other processes get that).
  ctx.organizationAccess?.invalidatePrefix(accepted.organizationId);
  return accepted.member;
});

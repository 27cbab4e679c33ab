import { TRPCError } from '@trpc/server';
import { orgProcedure } from '../../trpc/trpc.js';
import type { ApiContext } from '../../trpc/context.js';
import { ApiError } from '../../trpc/errors.js';
import { withTransaction } from '../../../db/transaction.js';
import {
  deleteOrganizationMeta,
  organizationOutput,
  transferOrganizationMeta,
  ZDeleteOrganizationRequest,
  ZDeleteOrganizationResponse,
  ZTransferOrganizationRequest,
} from './organizations.types.js';

/** Owner-only operations: an API key or a non-owner admin is refused. */
async function requireOwner(ctx: Pick<ApiContext, 'subject' | 'roleOf'>, organizationId: string): Promise<string> {
  if (ctx.subject.kind !== 'user' || (await ctx.roleOf(ctx.subject.userId, organizationId)) !== 'owner') {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'only the owner can do this' });
  }
  return ctx.subject.userId;
}

export const deleteOrganizationRoute = orgProcedure('admin')
  .meta(deleteOrganizationMeta)
  .input(ZDeleteOrganizationRequest)
  .output(ZDeleteOrganizationResponse)
  .mutation(async ({ ctx, input }) => {
    await requireOwner(ctx, input.organizationId);
    // Complete every trigger workflow first, so that none keeps running for a vanished organization.
    const { rows } = await ctx.pool.query<{ id: string }>('SELECT id FROM triggers WHERE organization_id = $1', [
      input.organizationId,
    ]);
    for (const t of rows) await ctx.triggers.delete(t.id, input.organizationId);
    await ctx.pool.query('DELETE FROM organizations WHERE id = $1', [input.organizationId]);
    return { deleted: true as const, triggersDeleted: rows.length };
  });

export const transferOrganizationRoute = orgProcedure('admin')
  .meta(transferOrganizationMeta)
  .input(ZTransferOrganizationRequest)
  .output(organizationOutput)
  .mutation(async ({ ctx, input }) => {
    const owner = await requireOwner(ctx, input.organizationId);
    if (input.userId === owner) throw new ApiError('BAD_REQUEST', 'you already own this organization');
    return withTransaction(ctx.pool, async (client) => {
      const member = await client.query(
        'SELECT 1 FROM organization_members WHERE organization_id = $1 AND user_id = $2',
        [input.organizationId, input.userId],
      );
      if (!member.rowCount) throw new ApiError('BAD_REQUEST', 'the new owner must be a member of the organization');
      await client.query('DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2', [
        input.organizationId,
        input.userId,
      ]);
      await client.query(
        `INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'admin') ON CONFLICT (organization_id, user_id) DO UPDATE SET role = 'admin'`,
        [input.organizationId, owner],
      );
      const { rows } = await client.query('UPDATE organizations SET owner_id = $2 WHERE id = $1 RETURNING *', [
        input.organizationId,
        input.userId,
      ]);
      return {
        id: rows[0].id,
        name: rows[0].name,
        slug: rows[0].slug,
        plan: rows[0].plan,
        isPersonal: rows[0].is_personal,
      };
    });
  });

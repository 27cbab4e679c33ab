import { TRPCError } from '@trpc/server';
import { authedProcedure, orgProcedure } from '../../trpc/trpc.js';
import {
  createOrganizationMeta,
  listMembersMeta,
  memberOutput,
  organizationOutput,
  removeMemberMeta,
  renameOrganizationMeta,
  ZCreateOrganizationRequest,
  ZListMembersRequest,
  ZListMembersResponse,
  ZRemoveMemberRequest,
  ZRemoveMemberResponse,
  ZRenameOrganizationRequest,
} from './organizations.types.js';

const toOrg = (o: Record<string, any>) => ({
  id: o.id,
  name: o.name,
  slug: o.slug,
  plan: o.plan,
  isPersonal: o.is_personal,
});

export const createOrganizationRoute = authedProcedure
  .meta(createOrganizationMeta)
  .input(ZCreateOrganizationRequest)
  .output(organizationOutput)
  .mutation(async ({ ctx, input }) => {
    if (ctx.subject.kind !== 'user')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'organizations are created by signed-in users' });
    const userId = ctx.subject.userId;
    const { rows } = await ctx.pool.query(
      'INSERT INTO organizations (name, slug, owner_id) VALUES ($1, $2, $3) RETURNING *',
      [input.name, input.slug, userId],
    );
    return toOrg(rows[0]);
  });

export const renameOrganizationRoute = orgProcedure('admin')
  .meta(renameOrganizationMeta)
  .input(ZRenameOrganizationRequest)
  .output(organizationOutput)
  .mutation(async ({ ctx, input }) => {
    const { rows } = await ctx.pool.query('UPDATE organizations SET name = $2 WHERE id = $1 RETURNING *', [
      input.organizationId,
      input.name,
    ]);
    return toOrg(rows[0]);
  });

export const listMembersRoute = orgProcedure('read')
  .meta(listMembersMeta)
  .input(ZListMembersRequest)
  .output(ZListMembersResponse)
  .query(async ({ ctx, input }) => {
    const { rows } = await ctx.pool.query(
      `SELECT u.id AS user_id, u.username, u.email, 'owner' AS role FROM organizations o JOIN users u ON u.id = o.owner_id WHERE o.id = $1
     UNION ALL
     SELECT u.id, u.username, u.email, m.role FROM organization_members m JOIN users u ON u.id = m.user_id
     JOIN organizations o ON o.id = m.organization_id WHERE m.organization_id = $1 AND m.user_id <> o.owner_id`,
      [input.organizationId],
    );
    return {
      items: rows.map((r) =>
        memberOutput.parse({ userId: r.user_id, username: r.username, email: r.email, role: r.role }),
      ),
    };
  });

export const removeMemberRoute = orgProcedure('admin')
  .meta(removeMemberMeta)
  .input(ZRemoveMemberRequest)
  .output(ZRemoveMemberResponse)
  .mutation(async ({ ctx, input }) => {
    const { rowCount } = await ctx.pool.query(
      'DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2',
      [input.organizationId, input.userId],
    );
    return { removed: (rowCount ?? 0) > 0 };
  });

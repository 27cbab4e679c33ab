import { orgProcedure } from '../../trpc/trpc.js';
import { deleteOrganization } from '../../../organizations/organizations.js';
import {
  deleteOrganizationMeta,
  ZDeleteOrganizationRequest,
  ZDeleteOrganizationResponse,
} from './delete-organization.types.js';
import { requireOwner } from './require-owner.js';

export const deleteOrganizationRoute = orgProcedure('admin')
  .meta(deleteOrganizationMeta)
  .input(ZDeleteOrganizationRequest)
  .output(ZDeleteOrganizationResponse)
  .mutation(async ({ ctx, input }) => {
    await requireOwner(ctx, input.organizationId);
    const { triggersDeleted } = await deleteOrganization(ctx.pool, ctx.triggers, input.organizationId);
    return { deleted: true as const, triggersDeleted };
  });

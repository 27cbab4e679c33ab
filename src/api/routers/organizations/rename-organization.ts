import { orgProcedure } from '../../trpc/trpc.js';
import { renameOrganization } from '../../../organizations/organizations.js';
import {
  renameOrganizationMeta,
  ZRenameOrganizationRequest,
  ZRenameOrganizationResponse,
} from './rename-organization.types.js';

export const renameOrganizationRoute = orgProcedure('admin')
  .meta(renameOrganizationMeta)
  .input(ZRenameOrganizationRequest)
  .output(ZRenameOrganizationResponse)
  .mutation(({ ctx, input }) => renameOrganization(ctx.pool, input.organizationId, input.name));

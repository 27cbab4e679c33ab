import { orgProcedure } from '../../trpc/trpc.js';
import { transferOrganization } from '../../../organizations/organizations.js';
import {
  transferOrganizationMeta,
  ZTransferOrganizationRequest,
  ZTransferOrganizationResponse,
} from './transfer-organization.types.js';
import { requireOwner } from './require-owner.js';

export const transferOrganizationRoute = orgProcedure('admin')
  .meta(transferOrganizationMeta)
  .input(ZTransferOrganizationRequest)
  .output(ZTransferOrganizationResponse)
  .mutation(async ({ ctx, input }) =>
    transferOrganization(ctx.pool, {
      organizationId: input.organizationId,
      currentOwnerId: await requireOwner(ctx, input.organizationId),
      newOwnerId: input.userId,
    }),
  );

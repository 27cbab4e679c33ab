import { orgProcedure } from '../../trpc/trpc.js';
import { removeMember } from '../../../organizations/organizations.js';
import { removeMemberMeta, ZRemoveMemberRequest, ZRemoveMemberResponse } from './remove-member.types.js';

export const removeMemberRoute = orgProcedure('admin')
  .meta(removeMemberMeta)
  .input(ZRemoveMemberRequest)
  .output(ZRemoveMemberResponse)
  .mutation(async ({ ctx, input }) => ({ removed: await removeMember(ctx.pool, input.organizationId, input.userId) }));

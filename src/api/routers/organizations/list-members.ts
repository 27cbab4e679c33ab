import { orgProcedure } from '../../trpc/trpc.js';
import { listMembers } from '../../../organizations/organizations.js';
import { listMembersMeta, ZListMembersRequest, ZListMembersResponse } from './list-members.types.js';

export const listMembersRoute = orgProcedure('read')
  .meta(listMembersMeta)
  .input(ZListMembersRequest)
  .output(ZListMembersResponse)
  .query(async ({ ctx, input }) => ({ items: await listMembers(ctx.pool, input.organizationId) }));

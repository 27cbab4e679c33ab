import { router } from '../../trpc/trpc.js';
import { addMemberRoute, createOrganizationRoute, listMembersRoute, removeMemberRoute, renameOrganizationRoute } from './organizations.js';

export const organizationsRouter = router({
  create: createOrganizationRoute,
  rename: renameOrganizationRoute,
  members: listMembersRoute,
  addMember: addMemberRoute,
  removeMember: removeMemberRoute,
});

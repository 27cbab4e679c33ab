import { router } from '../../trpc/trpc.js';
import { acceptInvitationRoute, deleteOrganizationRoute, inviteMemberRoute, transferOrganizationRoute } from './organization-ownership.js';
import { addMemberRoute, createOrganizationRoute, listMembersRoute, removeMemberRoute, renameOrganizationRoute } from './organizations.js';

export const organizationsRouter = router({
  create: createOrganizationRoute,
  rename: renameOrganizationRoute,
  members: listMembersRoute,
  addMember: addMemberRoute,
  removeMember: removeMemberRoute,
  invite: inviteMemberRoute,
  acceptInvitation: acceptInvitationRoute,
  transfer: transferOrganizationRoute,
  delete: deleteOrganizationRoute,
});

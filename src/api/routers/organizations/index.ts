import { router } from '../../trpc/trpc.js';
import {
  acceptInvitationRoute,
  declineInvitationRoute,
  inviteMemberRoute,
  listInvitationsRoute,
  revokeInvitationRoute,
} from './invitations.js';
import { deleteOrganizationRoute, transferOrganizationRoute } from './organization-ownership.js';
import {
  createOrganizationRoute,
  listMembersRoute,
  removeMemberRoute,
  renameOrganizationRoute,
} from './organizations.js';

/** Members join by invitation only: an invitation to an email address, accepted by the signed-in owner of that verified address. */
export const organizationsRouter = router({
  create: createOrganizationRoute,
  rename: renameOrganizationRoute,
  members: listMembersRoute,
  removeMember: removeMemberRoute,
  invite: inviteMemberRoute,
  invitations: listInvitationsRoute,
  revokeInvitation: revokeInvitationRoute,
  acceptInvitation: acceptInvitationRoute,
  declineInvitation: declineInvitationRoute,
  transfer: transferOrganizationRoute,
  delete: deleteOrganizationRoute,
});

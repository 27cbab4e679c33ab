import { router } from '../../trpc/trpc.js';
import { acceptInvitationRoute } from './accept-invitation.js';
import { createOrganizationRoute } from './create-organization.js';
import { declineInvitationRoute } from './decline-invitation.js';
import { deleteOrganizationRoute } from './delete-organization.js';
import { inviteMemberRoute } from './invite-member.js';
import { listInvitationsRoute } from './list-invitations.js';
import { listMembersRoute } from './list-members.js';
import { removeMemberRoute } from './remove-member.js';
import { renameOrganizationRoute } from './rename-organization.js';
import { revokeInvitationRoute } from './revoke-invitation.js';
import { transferOrganizationRoute } from './transfer-organization.js';

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

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const createOrganizationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations',
    tags: ['Organizations'],
    summary: 'Create an organization (you become its owner)',
    protect: true,
  },
};
export const listMembersMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/members',
    tags: ['Organizations'],
    summary: 'Members and their roles',
    protect: true,
  },
};
export const removeMemberMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}/members/{userId}',
    tags: ['Organizations'],
    summary: 'Remove a member',
    protect: true,
  },
};
export const renameOrganizationMeta: ApiMeta = {
  openapi: {
    method: 'PATCH',
    path: '/organizations/{organizationId}',
    tags: ['Organizations'],
    summary: 'Rename an organization',
    protect: true,
  },
};

export const ZCreateOrganizationRequest = z.object({
  name: z.string().trim().min(1).max(200),
  slug: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'lower-case letters, digits and dashes, 1-64 characters'),
});
export const organizationOutput = z.object({
  id: z.uuid(),
  name: z.string(),
  slug: z.string(),
  plan: z.string(),
  isPersonal: z.boolean(),
});
export const ZListMembersRequest = z.looseObject({});
export const memberOutput = z.object({
  userId: z.uuid(),
  username: z.string(),
  email: z.string(),
  role: z.enum(['owner', 'admin', 'member', 'viewer']),
});
export const ZListMembersResponse = z.object({ items: z.array(memberOutput) });
export const ZRemoveMemberRequest = z.object({ userId: z.uuid() });
export const ZRemoveMemberResponse = z.object({ removed: z.boolean() });
export const ZRenameOrganizationRequest = z.object({ name: z.string().trim().min(1).max(200) });

export const deleteOrganizationMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}',
    tags: ['Organizations'],
    summary: 'Delete an organization with its triggers (owner only)',
    protect: true,
  },
};
export const transferOrganizationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/transfer',
    tags: ['Organizations'],
    summary: 'Make another member the owner (owner only); you stay as admin',
    protect: true,
  },
};
export const inviteMemberMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/invitations',
    tags: ['Organizations'],
    summary:
      'Invite an email address with a role (not above your own); the token is mailed to the address, valid 7 days. Members join only by accepting',
    protect: true,
  },
};
export const listInvitationsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/invitations',
    tags: ['Organizations'],
    summary: 'Invitations and their status',
    protect: true,
  },
};
export const revokeInvitationMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}/invitations/{invitationId}',
    tags: ['Organizations'],
    summary: 'Revoke an open invitation',
    protect: true,
  },
};
export const acceptInvitationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/invitations/accept',
    tags: ['Organizations'],
    summary: 'Accept an invitation addressed to your verified email',
    protect: true,
  },
};
export const declineInvitationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/invitations/decline',
    tags: ['Organizations'],
    summary: 'Decline an invitation addressed to your verified email',
    protect: true,
  },
};

export const ZDeleteOrganizationRequest = z.looseObject({});
export const ZDeleteOrganizationResponse = z.object({ deleted: z.literal(true), triggersDeleted: z.number() });
export const ZTransferOrganizationRequest = z.object({ userId: z.uuid() });
export const ZInviteMemberRequest = z.object({
  email: z.email().max(320),
  role: z.enum(['admin', 'member', 'viewer']),
});
export const invitationOutput = z.object({
  id: z.uuid(),
  email: z.string(),
  role: z.enum(['admin', 'member', 'viewer']),
  status: z.enum(['pending', 'accepted', 'declined', 'revoked', 'expired']),
  expiresAt: z.string(),
  createdAt: z.string(),
});
export const ZInviteMemberResponse = invitationOutput;
export const ZListInvitationsRequest = z.looseObject({});
export const ZListInvitationsResponse = z.object({ items: z.array(invitationOutput) });
export const ZRevokeInvitationRequest = z.object({ invitationId: z.uuid() });
export const ZAcceptInvitationRequest = z.object({
  token: z.string().regex(/^inv_[A-Za-z0-9_-]{20,100}$/, 'is not an invitation token'),
});
export const ZDeclineInvitationResponse = z.object({ declined: z.literal(true), organizationId: z.uuid() });

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { invitationOutput } from './schema.js';

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
export const ZInviteMemberRequest = z.object({
  email: z.email().max(320),
  role: z.enum(['admin', 'member', 'viewer']),
});
export const ZInviteMemberResponse = invitationOutput;

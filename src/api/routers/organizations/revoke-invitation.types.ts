import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { invitationOutput } from './schema.js';

export const revokeInvitationMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}/invitations/{invitationId}',
    tags: ['Organizations'],
    summary: 'Revoke an open invitation',
    protect: true,
  },
};
export const ZRevokeInvitationRequest = z.object({ invitationId: z.uuid() });
export const ZRevokeInvitationResponse = invitationOutput;

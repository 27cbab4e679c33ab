import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { ZAcceptInvitationRequest } from './accept-invitation.types.js';

export const declineInvitationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/invitations/decline',
    tags: ['Organizations'],
    summary: 'Decline an invitation addressed to your verified email',
    protect: true,
  },
};
export const ZDeclineInvitationRequest = ZAcceptInvitationRequest;
export const ZDeclineInvitationResponse = z.object({ declined: z.literal(true), organizationId: z.uuid() });

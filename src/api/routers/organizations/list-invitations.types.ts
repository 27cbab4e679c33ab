import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { invitationOutput } from './schema.js';

export const listInvitationsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/invitations',
    tags: ['Organizations'],
    summary: 'Invitations and their status',
    protect: true,
  },
};
export const ZListInvitationsRequest = z.looseObject({});
export const ZListInvitationsResponse = z.object({ items: z.array(invitationOutput) });

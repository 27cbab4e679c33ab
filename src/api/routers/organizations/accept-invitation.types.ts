import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { memberOutput } from './schema.js';

export const acceptInvitationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/invitations/accept',
    tags: ['Organizations'],
    summary: 'Accept an invitation addressed to your verified email',
    protect: true,
  },
};
/** The token of an invitation mail (accept and decline take the same). */
export const ZAcceptInvitationRequest = z.object({
  token: z.string().regex(/^inv_[A-Za-z0-9_-]{20,100}$/, 'is not an invitation token'),
});
export const ZAcceptInvitationResponse = memberOutput;

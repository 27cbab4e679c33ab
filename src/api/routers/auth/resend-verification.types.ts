import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const resendVerificationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/auth/verify-email/resend',
    tags: ['Auth'],
    summary: 'Mail a new verification link to your address (3 per hour); earlier links stop working',
    protect: true,
  },
};
export const ZResendVerificationRequest = z.looseObject({});
export const ZResendVerificationResponse = z.object({
  sent: z.literal(true),
  email: z.string(),
  expiresAt: z.string(),
});

import { z } from 'zod';
import { authPost } from './schema.js';

export const verifyEmailMeta = authPost(
  '/auth/verify-email',
  'Confirm your email address with the one-time token from the verification mail',
);
export const ZVerifyEmailRequest = z.object({
  token: z.string().regex(/^evt_[A-Za-z0-9_-]{43}$/, 'is not an email verification token'),
});
export const ZVerifyEmailResponse = z.object({ verified: z.literal(true), email: z.string() });

import { z } from 'zod';
import { authPost, ZSessionResponse } from './schema.js';

export const siweVerifyMeta = authPost(
  '/auth/siwe/verify',
  'Sign in with an EIP-4361 message and its signature (creates the account on first use)',
);
export const ZSiweVerifyRequest = z.object({
  message: z.string().min(1).max(8_192),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte 0x-prefixed signature'),
});
export const ZSiweVerifyResponse = ZSessionResponse;

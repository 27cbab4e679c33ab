import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const siweNonceMeta: ApiMeta = {
  auth: true,
  openapi: {
    method: 'GET',
    path: '/auth/siwe/nonce',
    tags: ['Auth'],
    summary: 'A one-use nonce for Sign-In with Ethereum (EIP-4361), valid 5 minutes',
  },
};
export const ZSiweNonceRequest = z.looseObject({});
export const ZSiweNonceResponse = z.object({ nonce: z.string(), expiresAt: z.string(), domain: z.string() });

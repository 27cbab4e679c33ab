import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { usernameSchema } from '../../../auth/accounts.js';

const post = (path: `/${string}`, summary: string): ApiMeta => ({
  auth: true,
  openapi: { method: 'POST', path, tags: ['Auth'], summary },
});
export const registerMeta = post('/auth/register', 'Create an account (with a personal organization) and sign in');
export const loginMeta = post('/auth/login', 'Sign in with email and password');
export const refreshMeta = post(
  '/auth/refresh',
  'Exchange a refresh token for new tokens (refresh tokens rotate; reuse revokes the family)',
);
export const logoutMeta = post('/auth/logout', 'Revoke a refresh token and its family');
export const meMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/me',
    tags: ['Auth'],
    summary: 'The signed-in user and their organizations',
    protect: true,
  },
};

export const ZRegisterRequest = z.object({
  username: usernameSchema,
  email: z.email('must be an email address').max(320),
  password: z.string().min(8, 'must be at least 8 characters').max(1024),
});
export const ZLoginRequest = z.object({
  email: z.email('must be an email address').max(320),
  password: z.string().min(1).max(1024),
});
export const ZRefreshRequest = z.object({ refreshToken: z.string().min(10).max(200) });
export const ZSessionResponse = z.object({
  userId: z.uuid(),
  accessToken: z.string(),
  refreshToken: z.string(),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number(),
  organizationId: z.uuid().optional(),
});
export const ZLogoutResponse = z.object({ revoked: z.number() });
export const ZMeRequest = z.looseObject({});
export const ZMeResponse = z.object({
  user: z.object({
    id: z.uuid(),
    username: z.string(),
    email: z.string(),
    emailVerified: z.boolean(),
    walletAddress: z.string().nullable(),
  }),
  organizations: z.array(
    z.object({
      id: z.uuid(),
      name: z.string(),
      slug: z.string(),
      plan: z.string(),
      role: z.enum(['owner', 'admin', 'member', 'viewer']),
      isPersonal: z.boolean(),
    }),
  ),
});

export const siweNonceMeta: ApiMeta = {
  auth: true,
  openapi: {
    method: 'GET',
    path: '/auth/siwe/nonce',
    tags: ['Auth'],
    summary: 'A one-use nonce for Sign-In with Ethereum (EIP-4361), valid 5 minutes',
  },
};
export const siweVerifyMeta = post(
  '/auth/siwe/verify',
  'Sign in with an EIP-4361 message and its signature (creates the account on first use)',
);
export const ZSiweNonceRequest = z.looseObject({});
export const ZSiweNonceResponse = z.object({ nonce: z.string(), expiresAt: z.string(), domain: z.string() });
export const ZSiweVerifyRequest = z.object({
  message: z.string().min(1).max(8_192),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte 0x-prefixed signature'),
});

export const verifyEmailMeta = post(
  '/auth/verify-email',
  'Confirm your email address with the one-time token from the verification mail',
);
export const resendVerificationMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/auth/verify-email/resend',
    tags: ['Auth'],
    summary: 'Mail a new verification link to your address (3 per hour); earlier links stop working',
    protect: true,
  },
};
export const ZVerifyEmailRequest = z.object({
  token: z.string().regex(/^evt_[A-Za-z0-9_-]{43}$/, 'is not an email verification token'),
});
export const ZVerifyEmailResponse = z.object({ verified: z.literal(true), email: z.string() });
export const ZResendVerificationRequest = z.looseObject({});
export const ZResendVerificationResponse = z.object({
  sent: z.literal(true),
  email: z.string(),
  expiresAt: z.string(),
});

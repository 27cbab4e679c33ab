import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

/** Meta of the public authentication endpoints (POST, the stricter auth rate limit). */
export const authPost = (path: `/${string}`, summary: string): ApiMeta => ({
  auth: true,
  openapi: { method: 'POST', path, tags: ['Auth'], summary },
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

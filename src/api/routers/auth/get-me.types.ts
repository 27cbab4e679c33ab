import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const meMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/me',
    tags: ['Auth'],
    summary: 'The signed-in user and their organizations',
    protect: true,
  },
};
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

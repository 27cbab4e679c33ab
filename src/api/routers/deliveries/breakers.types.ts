import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const listBreakersMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/breakers',
    tags: ['Deliveries'],
    summary: "Circuit breakers of the organization's destinations",
    protect: true,
  },
};
export const resetBreakerMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/breakers/reset',
    tags: ['Deliveries'],
    summary: 'Close a circuit breaker by hand',
    protect: true,
  },
};
export const breakerOutput = z.object({
  destination: z.string(),
  state: z.enum(['closed', 'open', 'half_open']),
  consecutiveFailures: z.number(),
  openedAt: z.string().nullable(),
  retryAt: z.string().nullable(),
});
export const ZListBreakersRequest = z.looseObject({});
export const ZListBreakersResponse = z.object({ items: z.array(breakerOutput) });
export const ZResetBreakerRequest = z.object({ destination: z.string().min(1).max(500) });
export const ZResetBreakerResponse = z.object({ reset: z.boolean() });

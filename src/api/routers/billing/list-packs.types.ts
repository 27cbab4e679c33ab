import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { amount } from './schema.js';

export const listPacksMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/billing/packs',
    tags: ['Billing'],
    summary: 'The credit packs on sale and the plans that can be subscribed to; 503 when billing is not configured',
    protect: true,
  },
};
export const ZListPacksRequest = z.looseObject({});
export const ZListPacksResponse = z.object({
  packs: z.array(
    z.object({ id: z.string(), name: z.string(), priceCents: z.number().int().describe('US cents'), credits: amount }),
  ),
  plans: z.array(z.enum(['starter', 'pro', 'enterprise'])),
});

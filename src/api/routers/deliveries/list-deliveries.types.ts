import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const listDeliveriesMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/deliveries',
    tags: ['Deliveries'],
    summary: 'Action deliveries (status dead = dead letters), newest first',
    protect: true,
  },
};
export const ZListDeliveriesRequest = z.object({
  triggerId: z.uuid().optional(),
  actionId: z.coerce.number().int().positive().max(2_147_483_647).optional(),
  // quota_exceeded: created beyond the plan's deliveries per month, never attempted.
  status: z.enum(['pending', 'parked', 'delivered', 'dead', 'quota_exceeded']).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export const deliveryOutput = z.object({
  idempotencyKey: z.string(),
  triggerId: z.string().nullable(),
  actionId: z.number().nullable(),
  actionType: z.string(),
  eventId: z.string(),
  destination: z.string().nullable(),
  status: z.string(),
  attempts: z.number(),
  lastError: z.string().nullable(),
  lastHttpStatus: z.number().nullable(),
  replays: z.number(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
  deadAt: z.string().nullable(),
});
export const ZListDeliveriesResponse = z.object({ items: z.array(deliveryOutput) });

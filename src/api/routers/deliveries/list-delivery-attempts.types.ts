import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const listDeliveryAttemptsMeta: ApiMeta = {
  openapi: { method: 'GET', path: '/organizations/{organizationId}/deliveries/{idempotencyKey}/attempts', tags: ['Deliveries'], summary: 'Every attempt of one delivery', protect: true },
};
export const ZListDeliveryAttemptsRequest = z.object({ idempotencyKey: z.string().min(1).max(300) });
export const ZListDeliveryAttemptsResponse = z.object({
  items: z.array(z.object({ attempt: z.number().nullable(), status: z.string(), httpStatus: z.number().nullable(), durationMs: z.number().nullable(), error: z.string().nullable(), response: z.unknown(), executedAt: z.string() })),
});

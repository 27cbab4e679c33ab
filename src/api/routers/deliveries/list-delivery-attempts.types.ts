import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const listDeliveryAttemptsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/deliveries/{idempotencyKey}/attempts',
    tags: ['Deliveries'],
    summary: 'Every attempt of one delivery',
    protect: true,
  },
};
// URL-safe characters only (keys are dlv_<trigger>_<seq>_<kind>_<action>): path parameters reach the router still percent-encoded.
export const ZListDeliveryAttemptsRequest = z.object({
  idempotencyKey: z.string().regex(/^[A-Za-z0-9_-]{1,300}$/, 'must be a delivery idempotency key'),
});
export const ZListDeliveryAttemptsResponse = z.object({
  items: z.array(
    z.object({
      attempt: z.number().nullable(),
      status: z.string(),
      httpStatus: z.number().nullable(),
      durationMs: z.number().nullable(),
      error: z.string().nullable(),
      response: z.unknown(),
      executedAt: z.string(),
    }),
  ),
});

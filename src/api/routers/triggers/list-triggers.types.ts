import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { triggerOutput } from './schema.js';

export const listTriggersMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/triggers',
    tags: ['Triggers'],
    summary: 'List triggers (newest first, cursor pagination)',
    protect: true,
  },
};
export const ZListTriggersRequest = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.uuid().optional(),
  enabled: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
});
export const ZListTriggersResponse = z.object({ items: z.array(triggerOutput), nextCursor: z.string().nullable() });

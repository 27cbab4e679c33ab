import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { triggerIdInput } from './schema.js';

export const deleteTriggerMeta: ApiMeta = {
  openapi: {
    method: 'DELETE',
    path: '/organizations/{organizationId}/triggers/{triggerId}',
    tags: ['Triggers'],
    summary: 'Delete a trigger (its workflow completes)',
    protect: true,
  },
};
export const ZDeleteTriggerRequest = triggerIdInput;
export const ZDeleteTriggerResponse = z.object({ deleted: z.literal(true) });

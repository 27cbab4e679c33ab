import type { ApiMeta } from '../../trpc/trpc.js';
import { triggerIdInput, triggerOutput } from './schema.js';

export const getTriggerMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/triggers/{triggerId}',
    tags: ['Triggers'],
    summary: 'Get a trigger',
    protect: true,
  },
};
export const ZGetTriggerRequest = triggerIdInput;
export const ZGetTriggerResponse = triggerOutput;

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { triggerIdInput, triggerOutput } from './schema.js';

export const setTriggerEnabledMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/triggers/{triggerId}/enabled',
    tags: ['Triggers'],
    summary: 'Enable or disable a trigger',
    protect: true,
  },
};
export const ZSetTriggerEnabledRequest = triggerIdInput.extend({ enabled: z.boolean() });
export const ZSetTriggerEnabledResponse = triggerOutput;

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { DEFINITION_RULES, triggerBody, triggerWithNewSecretsOutput } from './schema.js';

export const createTriggerMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/triggers',
    tags: ['Triggers'],
    summary: 'Create a trigger with its conditions and actions',
    description: DEFINITION_RULES,
    protect: true,
  },
};
export const ZCreateTriggerRequest = triggerBody;
export const ZCreateTriggerResponse = triggerWithNewSecretsOutput;
export type CreateTriggerRequest = z.infer<typeof ZCreateTriggerRequest>;

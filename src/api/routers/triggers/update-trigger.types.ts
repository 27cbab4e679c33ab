import type { ApiMeta } from '../../trpc/trpc.js';
import { DEFINITION_RULES, triggerBody, triggerIdInput, triggerWithNewSecretsOutput } from './schema.js';

export const updateTriggerMeta: ApiMeta = {
  openapi: {
    method: 'PUT',
    path: '/organizations/{organizationId}/triggers/{triggerId}',
    tags: ['Triggers'],
    summary: 'Replace a trigger definition (conditions and actions as a whole)',
    description: DEFINITION_RULES,
    protect: true,
  },
};
export const ZUpdateTriggerRequest = triggerIdInput.extend(triggerBody.shape);
export const ZUpdateTriggerResponse = triggerWithNewSecretsOutput;

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { triggerIdInput } from './schema.js';

export const getTriggerStateMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/triggers/{triggerId}/state',
    tags: ['Triggers'],
    summary: 'Current per-agent state of a trigger',
    protect: true,
  },
};
export const ZGetTriggerStateRequest = triggerIdInput.extend({ agentKey: z.string().max(200).optional() });
export const ZGetTriggerStateResponse = z.object({
  /** Firings recorded (matches and absences), whoever evaluated them. */
  fired: z.number(),
  /** Per-agent condition state, held by the trigger's workflow (empty for a trigger without stateful conditions). */
  agents: z.record(z.string(), z.unknown()),
  pendingAbsences: z.number(),
});

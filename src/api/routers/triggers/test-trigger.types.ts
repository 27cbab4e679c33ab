import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { exactlyOneOf } from '../../trpc/openapi.js';
import { DEFINITION_RULES, triggerBody } from './schema.js';

export const testTriggerMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/triggers/test',
    tags: ['Triggers'],
    protect: true,
    summary: 'Evaluate a trigger against one event and render its actions without sending anything',
    description: `Give a stored trigger (triggerId) or a definition, and a stored event (eventSeq) or an event. ${DEFINITION_RULES}`,
  },
};
const sampleEvent = z.object({
  chain_id: z.number().int().positive(),
  block_number: z.number().int().min(0).default(0),
  log_index: z.number().int().min(0).default(0),
  // Seconds; up to the end of year 9999, the last time a template can render.
  timestamp: z.number().int().min(0).max(253_402_300_799),
  registry: z.enum(['identity', 'reputation', 'validation']),
  event_type: z.string().min(1).max(64),
  agent_id: z
    .string()
    .regex(/^\d{1,78}$/)
    .nullable()
    .default(null),
  value: z
    .string()
    .regex(/^-?\d{1,39}$/)
    .nullable()
    .default(null),
  value_decimals: z.number().int().min(0).max(18).nullable().default(null),
  tag1: z.string().max(256).nullable().default(null),
  tag2: z.string().max(256).nullable().default(null),
  tag: z.string().max(256).nullable().default(null),
  validator_address: z
    .string()
    .regex(/^0x[0-9a-fA-F]{40}$/)
    .nullable()
    .default(null),
  file_uri: z.string().max(8_192).nullable().default(null),
  file_hash: z.string().nullable().default(null),
  response: z.number().int().min(0).max(255).nullable().default(null),
  request_hash: z.string().nullable().default(null),
  client_address: z.string().nullable().default(null),
});
export const ZTestTriggerRequest = exactlyOneOf(
  z.object({
    triggerId: z.uuid().optional(),
    definition: triggerBody.optional(),
    /** A stored event, by its ingest sequence number. */
    eventSeq: z
      .string()
      .regex(/^\d{1,19}$/)
      .optional(),
    event: sampleEvent.optional(),
  }),
  ['triggerId', 'definition'],
  ['eventSeq', 'event'],
);
export const ZTestTriggerResponse = z.object({
  eligible: z.boolean(),
  matched: z.boolean(),
  fired: z.boolean(),
  values: z.record(
    z.string(),
    z.object({ result: z.boolean(), metric: z.union([z.number(), z.string(), z.null()]).optional() }),
  ),
  actions: z.array(
    z.object({ actionType: z.string(), priority: z.number(), preview: z.unknown(), error: z.string().optional() }),
  ),
});

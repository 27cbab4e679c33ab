/** Shared shapes of the trigger procedures (inputs are re-validated as a whole by the trigger definition compiler). */
import { MAX_ACTIONS_PER_TRIGGER } from '../../../billing/plans.js';
import { z } from 'zod';

/** What the trigger operations' documents say about the rules beyond this schema. */
export const DEFINITION_RULES =
  'The definition is then compiled: each condition type has its own fields, operators and value formats, and each action its own config. ' +
  'A definition that does not compile answers 400 with every problem in `data.issues` (dotted path and message).';

export const conditionInput = z.object({
  condition_type: z.string().min(1).max(64),
  field: z.string().max(64).optional(),
  operator: z.string().max(16).optional(),
  value: z.string().max(16_384).optional(),
  config: z.record(z.string(), z.unknown()).nullable().optional(),
});

export const actionInput = z.object({
  action_type: z.enum(['telegram', 'rest', 'mcp']),
  priority: z.number().int().min(0).max(1_000).optional(),
  config: z.record(z.string(), z.unknown()),
});

export const settingsInput = z
  .object({
    cooldown_seconds: z.number().int().min(0).max(31_536_000).optional(),
    hysteresis: z.boolean().optional(),
    start_block: z.number().int().min(0).nullable().optional(),
  })
  .strict();

export const triggerBody = z.object({
  name: z.string().min(1).max(200),
  description: z.string().max(2_000).nullable().optional(),
  chainId: z.number().int().positive().nullable(),
  registry: z.enum(['identity', 'reputation', 'validation']),
  enabled: z.boolean().optional(),
  settings: settingsInput.optional(),
  conditions: z.array(conditionInput).max(32),
  actions: z.array(actionInput).max(MAX_ACTIONS_PER_TRIGGER).default([]),
});

export const triggerOutput = z.object({
  id: z.uuid(),
  organizationId: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  chainId: z.number().nullable(),
  registry: z.enum(['identity', 'reputation', 'validation']),
  enabled: z.boolean(),
  settings: z.record(z.string(), z.unknown()),
  conditions: z.array(
    z.object({
      id: z.number(),
      condition_type: z.string(),
      field: z.string(),
      operator: z.string(),
      value: z.string(),
      config: z.record(z.string(), z.unknown()).nullable(),
    }),
  ),
  actions: z.array(
    z.object({
      id: z.number(),
      action_type: z.enum(['telegram', 'rest', 'mcp']),
      priority: z.number(),
      config: z.record(z.string(), z.unknown()),
    }),
  ),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** Answers of create and update: the signing secrets of the REST actions they created, shown once to the caller. */
export const triggerWithNewSecretsOutput = triggerOutput.extend({
  webhookSecrets: z.array(z.object({ actionId: z.number(), secret: z.string() })),
});

export const triggerIdInput = z.object({ triggerId: z.uuid('must be a trigger id') });

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

const PATH = '/organizations/{organizationId}/triggers/{triggerId}/actions/{actionId}/webhook-secret';

export const getWebhookSecretMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: PATH,
    tags: ['Webhooks'],
    summary: 'The Standard Webhooks signing secret of a REST action (its receiver verifies deliveries with it)',
    protect: true,
  },
};
export const rotateWebhookSecretMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: `${PATH}/rotate`,
    tags: ['Webhooks'],
    summary: "Rotate a REST action's signing secret (the old one keeps signing during the window)",
    protect: true,
  },
};
const actionPath = {
  triggerId: z.uuid('must be a trigger id'),
  actionId: z.coerce.number().int().positive('must be an action id').max(2_147_483_647, 'must be an action id'),
};
export const ZGetWebhookSecretRequest = z.object(actionPath);
export const ZRotateWebhookSecretRequest = z.object({
  ...actionPath,
  windowHours: z
    .number()
    .int()
    .min(0)
    .max(24 * 30)
    .default(24),
});
export const ZWebhookSecretResponse = z.object({
  actionId: z.number(),
  secret: z.string(),
  /** During a rotation window: the previous secret, which still signs until previousValidUntil. */
  previousSecret: z.string().nullable(),
  previousValidUntil: z.string().nullable(),
  scheme: z.literal('standard-webhooks-v1'),
});

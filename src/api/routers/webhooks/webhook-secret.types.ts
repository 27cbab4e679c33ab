import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const getWebhookSecretMeta: ApiMeta = {
  openapi: { method: 'GET', path: '/organizations/{organizationId}/webhook-secret', tags: ['Webhooks'], summary: 'The Standard Webhooks signing secret of the organization', protect: true },
};
export const rotateWebhookSecretMeta: ApiMeta = {
  openapi: { method: 'POST', path: '/organizations/{organizationId}/webhook-secret/rotate', tags: ['Webhooks'], summary: 'Rotate the signing secret (the old one keeps signing during the window)', protect: true },
};
export const ZGetWebhookSecretRequest = z.looseObject({});
export const ZRotateWebhookSecretRequest = z.object({ windowHours: z.number().int().min(0).max(24 * 30).default(24) });
export const ZWebhookSecretResponse = z.object({ secret: z.string(), scheme: z.literal('standard-webhooks-v1') });

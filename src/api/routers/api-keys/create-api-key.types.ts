import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { createdApiKeyOutput } from './schema.js';

export const createApiKeyMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/api-keys',
    tags: ['API keys'],
    summary: 'Create an API key (the key is shown once)',
    protect: true,
  },
};
export const ZCreateApiKeyRequest = z.object({
  name: z.string().regex(/\S/, 'must not be blank').trim().min(1).max(200),
  environment: z.enum(['live', 'test']).default('live'),
  keyType: z.enum(['standard', 'restricted', 'admin']).default('standard'),
  permissions: z
    .array(z.enum(['read', 'write', 'delete', 'admin']))
    .min(1)
    .max(4)
    .default(['read']),
  expiresAt: z.iso.datetime({ offset: true }).describe('must be in the future').optional(),
  rateLimitOverride: z
    .number()
    .int()
    .positive()
    .max(1_000_000)
    .optional()
    .describe(
      "Requests per hour for this key, at most its organization's plan limit: an override only lowers a key's limit (above the plan: 400)",
    ),
});
export const ZCreateApiKeyResponse = createdApiKeyOutput;

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const createApiKeyMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/api-keys',
    tags: ['API keys'],
    summary: 'Create an API key (the key is shown once)',
    protect: true,
  },
};
export const listApiKeysMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/api-keys',
    tags: ['API keys'],
    summary: 'List API keys (never the keys themselves)',
    protect: true,
  },
};
export const revokeApiKeyMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/api-keys/{keyId}/revoke',
    tags: ['API keys'],
    summary: 'Revoke an API key at once',
    protect: true,
  },
};
export const rotateApiKeyMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/api-keys/{keyId}/rotate',
    tags: ['API keys'],
    summary: 'Replace an API key with a new one with the same settings',
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
export const apiKeyOutput = z.object({
  id: z.uuid(),
  name: z.string(),
  prefix: z.string(),
  environment: z.string(),
  keyType: z.string(),
  permissions: z.array(z.string()),
  rateLimitOverride: z.number().nullable(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  lastUsedIp: z.string().nullable(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  revocationReason: z.string().nullable(),
});
export const ZCreateApiKeyResponse = apiKeyOutput.extend({ key: z.string() });
export const ZListApiKeysRequest = z.object({
  includeRevoked: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .default(false),
});
export const ZListApiKeysResponse = z.object({ items: z.array(apiKeyOutput) });
export const ZRevokeApiKeyRequest = z.object({ keyId: z.uuid(), reason: z.string().max(500).optional() });
export const ZRevokeApiKeyResponse = z.object({ revoked: z.literal(true), revokedAt: z.string() });
export const ZRotateApiKeyRequest = z.object({ keyId: z.uuid() });

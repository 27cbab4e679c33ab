import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const revokeApiKeyMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/api-keys/{keyId}/revoke',
    tags: ['API keys'],
    summary: 'Revoke an API key at once',
    protect: true,
  },
};
export const ZRevokeApiKeyRequest = z.object({ keyId: z.uuid(), reason: z.string().max(500).optional() });
export const ZRevokeApiKeyResponse = z.object({ revoked: z.literal(true), revokedAt: z.string() });

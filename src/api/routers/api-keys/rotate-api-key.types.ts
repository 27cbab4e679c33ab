import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { createdApiKeyOutput } from './schema.js';

export const rotateApiKeyMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/api-keys/{keyId}/rotate',
    tags: ['API keys'],
    summary: 'Replace an API key with a new one with the same settings',
    protect: true,
  },
};
export const ZRotateApiKeyRequest = z.object({ keyId: z.uuid() });
export const ZRotateApiKeyResponse = createdApiKeyOutput;

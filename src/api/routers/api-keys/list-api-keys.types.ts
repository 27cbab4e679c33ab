import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { apiKeyOutput } from './schema.js';

export const listApiKeysMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/api-keys',
    tags: ['API keys'],
    summary: 'List API keys (never the keys themselves)',
    protect: true,
  },
};
export const ZListApiKeysRequest = z.object({
  includeRevoked: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .default(false),
});
export const ZListApiKeysResponse = z.object({ items: z.array(apiKeyOutput) });

import { z } from 'zod';
import type { ApiKeySummary } from '../../../auth/api-keys.js';

/** An API key as the API shows it: never the key itself (only create and rotate return that, once). */
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
/** A new key: shown in full this once. */
export const createdApiKeyOutput = apiKeyOutput.extend({ key: z.string() });

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toApiKeyOutput(k: ApiKeySummary): z.infer<typeof apiKeyOutput> {
  return apiKeyOutput.parse({
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    environment: k.environment,
    keyType: k.keyType,
    permissions: k.permissions,
    rateLimitOverride: k.rateLimitOverride,
    expiresAt: iso(k.expiresAt),
    lastUsedAt: iso(k.lastUsedAt),
    lastUsedIp: k.lastUsedIp,
    createdAt: k.createdAt.toISOString(),
    revokedAt: iso(k.revokedAt),
    revocationReason: k.revocationReason,
  });
}

import { orgProcedure } from '../../trpc/trpc.js';
import { createApiKey, listApiKeys, revokeApiKey, rotateApiKey, type ApiKeySummary } from '../../../auth/api-keys.js';
import {
  apiKeyOutput,
  createApiKeyMeta,
  listApiKeysMeta,
  revokeApiKeyMeta,
  rotateApiKeyMeta,
  ZCreateApiKeyRequest,
  ZCreateApiKeyResponse,
  ZListApiKeysRequest,
  ZListApiKeysResponse,
  ZRevokeApiKeyRequest,
  ZRevokeApiKeyResponse,
  ZRotateApiKeyRequest,
} from './api-keys.types.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const toOutput = (k: ApiKeySummary) =>
  apiKeyOutput.parse({
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

export const createApiKeyRoute = orgProcedure('admin')
  .meta(createApiKeyMeta)
  .input(ZCreateApiKeyRequest)
  .output(ZCreateApiKeyResponse)
  .mutation(async ({ ctx, input }) => {
    const created = await createApiKey(ctx.pool, {
      organizationId: input.organizationId,
      createdBy: await ctx.actingUserOf(input.organizationId),
      name: input.name,
      environment: input.environment,
      keyType: input.keyType,
      permissions: input.permissions,
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : undefined,
      rateLimitOverride: input.rateLimitOverride,
    });
    return { ...toOutput(created), key: created.key };
  });

export const listApiKeysRoute = orgProcedure('admin')
  .meta(listApiKeysMeta)
  .input(ZListApiKeysRequest)
  .output(ZListApiKeysResponse)
  .query(async ({ ctx, input }) => ({
    items: (await listApiKeys(ctx.pool, input.organizationId, { includeRevoked: input.includeRevoked })).map(toOutput),
  }));

export const revokeApiKeyRoute = orgProcedure('admin')
  .meta(revokeApiKeyMeta)
  .input(ZRevokeApiKeyRequest)
  .output(ZRevokeApiKeyResponse)
  .mutation(async ({ ctx, input }) => {
    const result = await revokeApiKey(ctx.pool, {
      keyId: input.keyId,
      organizationId: input.organizationId,
      revokedBy: await ctx.actingUserOf(input.organizationId),
      reason: input.reason,
    });
    return { revoked: true as const, revokedAt: result.revokedAt.toISOString() };
  });

export const rotateApiKeyRoute = orgProcedure('admin')
  .meta(rotateApiKeyMeta)
  .input(ZRotateApiKeyRequest)
  .output(ZCreateApiKeyResponse)
  .mutation(async ({ ctx, input }) => {
    const created = await rotateApiKey(ctx.pool, {
      keyId: input.keyId,
      organizationId: input.organizationId,
      rotatedBy: await ctx.actingUserOf(input.organizationId),
    });
    return { ...toOutput(created), key: created.key };
  });

/**
 * Organization API keys: sk_live_<id>_<secret> / sk_test_<id>_<secret>. The full key is shown once; only its argon2id
 * hash is stored, found by its prefix (sk_live_<id>, indexed). Verifications are cached per process for at most a
 * minute, and dropped at once when any process revokes or changes the key (NOTIFY api_key_changed, payload = prefix).
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import pg from 'pg';
import type * as s from 'zapatos/schema';
import type { Row } from '../db/rows.js';
import { z } from 'zod';
import { AuthError } from './errors.js';
import { withTransaction, type Queryable } from '../db/transaction.js';
import { NotifiedCache } from './notified-cache.js';
import { hashPassword, verifyDummy, verifyPassword } from './passwords.js';
import type { Db } from '../db/pool.js';
import type { Plan } from '../billing/plans.js';
import { maxRateLimitOverride } from '../rate-limit.js';

export type ApiKeyEnvironment = 'live' | 'test';
export type ApiKeyType = 'standard' | 'restricted' | 'admin';
export type ApiKeyPermission = 'read' | 'write' | 'delete' | 'admin';

export const API_KEY_PERMISSIONS = ['read', 'write', 'delete', 'admin'] as const satisfies readonly ApiKeyPermission[];
const API_KEY_RE = /^sk_(live|test)_([A-Za-z0-9]{8})_([A-Za-z0-9]{32})$/;
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniformly random base62 text (rejection sampling: no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

/** Splits a key into its parts, or undefined if it is not shaped like one. */
export function parseApiKey(fullKey: string): { environment: ApiKeyEnvironment; prefix: string } | undefined {
  const m = typeof fullKey === 'string' ? API_KEY_RE.exec(fullKey) : null;
  if (!m) return undefined;
  return { environment: m[1] as ApiKeyEnvironment, prefix: `sk_${m[1]}_${m[2]}` };
}

function generateApiKey(environment: ApiKeyEnvironment): { key: string; prefix: string } {
  const prefix = `sk_${environment}_${randomBase62(8)}`;
  return { key: `${prefix}_${randomBase62(32)}`, prefix };
}

// ------------------------------------------------------------------------------------------------ create / list

export const createApiKeyInputSchema = z.object({
  organizationId: z.uuid(),
  createdBy: z.uuid(),
  name: z.string().trim().min(1).max(200),
  environment: z.enum(['live', 'test']),
  keyType: z.enum(['standard', 'restricted', 'admin']).default('standard'),
  permissions: z
    .array(z.enum(API_KEY_PERMISSIONS))
    .min(1)
    .transform((p) => [...new Set(p)]),
  expiresAt: z
    .date()
    .refine((d) => d.getTime() > Date.now(), 'expiresAt must be in the future')
    .nullish(),
  rateLimitOverride: z.number().int().positive().nullish(),
});
export type CreateApiKeyInput = z.input<typeof createApiKeyInputSchema>;

export interface ApiKeySummary {
  id: string;
  organizationId: string;
  name: string;
  prefix: string;
  environment: ApiKeyEnvironment;
  keyType: ApiKeyType;
  permissions: ApiKeyPermission[];
  rateLimitOverride: number | null;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  createdBy: string;
  createdAt: Date;
  revokedAt: Date | null;
  revokedBy: string | null;
  revocationReason: string | null;
}

export interface CreatedApiKey extends ApiKeySummary {
  /** The full key: shown once, never stored. */
  key: string;
}

const SUMMARY_COLUMNS = `id, organization_id, name, prefix, environment, key_type, permissions, rate_limit_override, expires_at,
  last_used_at, host(last_used_ip) AS last_used_ip, created_by, created_at, revoked_at, revoked_by, revocation_reason`;

/** The columns of SUMMARY_COLUMNS; environment, key_type and permissions are CHECK-constrained (jsonb: an array). */
type SummaryRow = Row<s.api_keys.Selectable, Exclude<keyof s.api_keys.Selectable, 'key_hash'>, KeyKind>;
type KeyKind = { environment: ApiKeyEnvironment; key_type: ApiKeyType; permissions: ApiKeyPermission[] };

function toSummary(r: SummaryRow): ApiKeySummary {
  return {
    id: r.id,
    organizationId: r.organization_id,
    name: r.name,
    prefix: r.prefix,
    environment: r.environment,
    keyType: r.key_type,
    permissions: r.permissions,
    rateLimitOverride: r.rate_limit_override,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    lastUsedIp: r.last_used_ip,
    createdBy: r.created_by,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    revokedBy: r.revoked_by,
    revocationReason: r.revocation_reason,
  };
}

type KeySettings = z.output<typeof createApiKeyInputSchema>;

/** Inserts a key on the given client; a prefix collision (≈ never) is retried with fresh material. */
async function insertApiKey(
  client: Queryable,
  settings: KeySettings,
  first: { key: string; prefix: string; hash: string },
): Promise<CreatedApiKey> {
  let material = first;
  for (let attempt = 0; ; attempt++) {
    const { rows } = await client.query<SummaryRow>(
      `INSERT INTO api_keys (organization_id, key_hash, name, prefix, environment, key_type, permissions, rate_limit_override,
                             expires_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)
       ON CONFLICT (prefix) DO NOTHING
       RETURNING ${SUMMARY_COLUMNS}`,
      [
        settings.organizationId,
        material.hash,
        settings.name,
        material.prefix,
        settings.environment,
        settings.keyType,
        JSON.stringify(settings.permissions),
        settings.rateLimitOverride ?? null,
        settings.expiresAt ?? null,
        settings.createdBy,
      ],
    );
    if (rows[0]) return { ...toSummary(rows[0]), key: material.key };
    if (attempt >= 3) throw new Error('could not generate a unique API key prefix');
    const next = generateApiKey(settings.environment);
    material = { ...next, hash: await hashPassword(next.key) };
  }
}

/**
 * A key's rate_limit_override may only lower its limit: at most the organization's plan limit (the plan stays the
 * ceiling at request time too, if the plan is downgraded later). Above it → AuthError 'invalid_input'.
 */
async function assertOverrideWithinPlan(db: Queryable, organizationId: string, override: number): Promise<void> {
  const { rows } = await db.query<{ plan: Plan }>('SELECT plan FROM organizations WHERE id = $1', [organizationId]);
  if (!rows[0]) return; // unknown organization: the insert reports it
  const max = maxRateLimitOverride(rows[0].plan);
  if (override > max) {
    throw new AuthError(
      'invalid_input',
      `rateLimitOverride may only lower a key's limit: at most ${max} requests per hour on the ${rows[0].plan} plan`,
    );
  }
}

/**
 * Creates a key and returns it in full, once. Only the argon2id hash and the prefix are stored. Invalid input throws a
 * ZodError; an unknown organization or user throws AuthError 'not_found'. Whether `createdBy` may create keys for the
 * organization is the caller's decision.
 */
export async function createApiKey(pool: Db | pg.PoolClient, input: CreateApiKeyInput): Promise<CreatedApiKey> {
  const settings = createApiKeyInputSchema.parse(input);
  if (settings.rateLimitOverride != null)
    await assertOverrideWithinPlan(pool, settings.organizationId, settings.rateLimitOverride);
  const generated = generateApiKey(settings.environment);
  const hash = await hashPassword(generated.key);
  try {
    return await insertApiKey(pool, settings, { ...generated, hash });
  } catch (err) {
    if ((err as { code?: string }).code === '23503')
      throw new AuthError('not_found', 'unknown organization or user', { cause: err });
    throw err;
  }
}

/** Every key of the organization, newest first (revoked ones too unless `includeRevoked: false`); never the hashes. */
export async function listApiKeys(
  db: Queryable,
  organizationId: string,
  opts: { includeRevoked?: boolean } = {},
): Promise<ApiKeySummary[]> {
  const { rows } = await db.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM api_keys
     WHERE organization_id = $1 AND ($2 OR revoked_at IS NULL)
     ORDER BY created_at DESC, id`,
    [organizationId, opts.includeRevoked ?? true],
  );
  return rows.map(toSummary);
}

// ------------------------------------------------------------------------------------------------ revoke / rotate

export interface RevokeApiKeyInput {
  keyId: string;
  organizationId: string;
  revokedBy: string;
  reason?: string | null;
}

/**
 * Revokes a key of the organization (every process drops it from its cache through the api_key_changed
 * notification). Revoking a revoked key changes nothing. Unknown key, or a key of another organization → 'not_found'.
 */
export async function revokeApiKey(
  db: Queryable,
  input: RevokeApiKeyInput,
): Promise<{ prefix: string; revokedAt: Date }> {
  const { rows } = await db
    .query<Pick<s.api_keys.Selectable, 'prefix'> & { revoked_at: Date }>(
      `WITH updated AS (
       UPDATE api_keys SET revoked_at = now(), revoked_by = $3, revocation_reason = $4
       WHERE id = $1 AND organization_id = $2 AND revoked_at IS NULL
       RETURNING prefix, revoked_at
     )
     SELECT prefix, revoked_at FROM updated
     UNION ALL
     SELECT prefix, revoked_at FROM api_keys WHERE id = $1 AND organization_id = $2 AND revoked_at IS NOT NULL`,
      [input.keyId, input.organizationId, input.revokedBy, input.reason?.slice(0, 1000) ?? null],
    )
    .catch((err: unknown) => {
      if ((err as { code?: string }).code === '22P02') return { rows: [] }; // not a UUID
      throw err;
    });
  if (!rows[0]) throw new AuthError('not_found', 'API key not found');
  return { prefix: rows[0].prefix, revokedAt: rows[0].revoked_at };
}

export interface RotateApiKeyInput {
  keyId: string;
  organizationId: string;
  rotatedBy: string;
  /** Name of the new key (default: the old one's). */
  name?: string;
}

/**
 * Replaces a live key by a new one with the same settings (environment, type, permissions, expiry, rate limit) and
 * revokes the old one, atomically. Returns the new key in full. Unknown → 'not_found'; already revoked → 'conflict'.
 */
export async function rotateApiKey(pool: Db, input: RotateApiKeyInput): Promise<CreatedApiKey> {
  const old = (await listApiKeys(pool, input.organizationId)).find((k) => k.id === input.keyId);
  if (!old) throw new AuthError('not_found', 'API key not found');
  if (old.revokedAt) throw new AuthError('conflict', 'this API key is revoked');
  const generated = generateApiKey(old.environment);
  const hash = await hashPassword(generated.key); // outside the transaction
  const created = await withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ revoked: boolean }>(
      'SELECT revoked_at IS NOT NULL AS revoked FROM api_keys WHERE id = $1 AND organization_id = $2 FOR UPDATE',
      [input.keyId, input.organizationId],
    );
    if (!rows[0]) return new AuthError('not_found', 'API key not found');
    if (rows[0].revoked) return new AuthError('conflict', 'this API key is revoked');
    const settings: KeySettings = {
      organizationId: old.organizationId,
      createdBy: input.rotatedBy,
      name: (input.name ?? old.name).trim().slice(0, 200) || old.name,
      environment: old.environment,
      keyType: old.keyType,
      permissions: old.permissions,
      expiresAt: old.expiresAt,
      rateLimitOverride: old.rateLimitOverride,
    };
    const key = await insertApiKey(client, settings, { ...generated, hash });
    await revokeApiKey(client, {
      keyId: old.id,
      organizationId: old.organizationId,
      revokedBy: input.rotatedBy,
      reason: `rotated: replaced by ${key.prefix}`,
    });
    return key;
  });
  if (created instanceof AuthError) throw created;
  return created;
}

// ------------------------------------------------------------------------------------------------ verification

export interface VerifiedApiKey {
  keyId: string;
  organizationId: string;
  prefix: string;
  permissions: ApiKeyPermission[];
  keyType: ApiKeyType;
  environment: ApiKeyEnvironment;
  rateLimitOverride: number | null;
  expiresAt: Date | null;
}

const USAGE_UPDATE_INTERVAL_SECONDS = 60;

/**
 * Verifies a full key: lookup by prefix, argon2 verification, then revocation, expiry and an active organization.
 * Malformed, unknown (an argon2 verification against a dummy hash is still spent), wrong secret, revoked or expired
 * → AuthError 'token_invalid'; the organization is deactivated → 'forbidden'. Records last use (at most once a
 * minute per key, in the background).
 */
export async function verifyApiKey(pool: pg.Pool, fullKey: string, ip?: string | null): Promise<VerifiedApiKey> {
  const parsed = parseApiKey(fullKey);
  if (!parsed) throw new AuthError('token_invalid', 'invalid API key');
  const { rows } = await pool.query<
    Pick<s.api_keys.Selectable, 'id' | 'organization_id' | 'key_hash' | 'rate_limit_override' | 'expires_at'> &
      KeyKind & { revoked: boolean; expired: boolean; usage_due: boolean; org_active: boolean }
  >(
    `SELECT k.id, k.organization_id, k.key_hash, k.permissions, k.key_type, k.environment, k.rate_limit_override, k.expires_at,
            k.revoked_at IS NOT NULL AS revoked, coalesce(k.expires_at <= now(), false) AS expired,
            (k.last_used_at IS NULL OR k.last_used_at < now() - make_interval(secs => $2)) AS usage_due,
            o.is_active AS org_active
     FROM api_keys k JOIN organizations o ON o.id = k.organization_id
     WHERE k.prefix = $1`,
    [parsed.prefix, USAGE_UPDATE_INTERVAL_SECONDS],
  );
  const row = rows[0];
  const ok = row ? await verifyPassword(row.key_hash, fullKey) : await verifyDummy(fullKey);
  // Revocation and expiry are looked at only after the hash: without the secret, nobody learns a key's state.
  if (!row || !ok || row.revoked || row.expired || row.environment !== parsed.environment) {
    throw new AuthError('token_invalid', 'invalid API key');
  }
  if (!row.org_active) throw new AuthError('forbidden', 'the organization of this API key is deactivated');
  if (row.usage_due) {
    void pool
      .query(
        `UPDATE api_keys SET last_used_at = now(), last_used_ip = $2
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $3))`,
        [row.id, ip && isIP(ip) ? ip : null, USAGE_UPDATE_INTERVAL_SECONDS],
      )
      .catch(() => undefined); // best effort: usage bookkeeping never fails a request
  }
  return {
    keyId: row.id,
    organizationId: row.organization_id,
    prefix: parsed.prefix,
    permissions: row.permissions,
    keyType: row.key_type,
    environment: row.environment,
    rateLimitOverride: row.rate_limit_override,
    expiresAt: row.expires_at,
  };
}

// ------------------------------------------------------------------------------------------------ cache

export interface ApiKeyCacheOptions {
  /** How long a successful verification is reused; capped at 60 s (default 60 s). */
  ttlMs?: number;
  maxEntries?: number;
  /** application_name of the LISTEN connection. */
  applicationName?: string;
  /** Told about listener connection problems. */
  onListenerError?: (err: unknown) => void;
  /** Reconnect backoff bounds for the LISTEN connection. */
  reconnectDelayMs?: { min: number; max: number };
}

export const API_KEY_CHANNEL = 'api_key_changed';

/**
 * A per-process cache of successful key verifications (keyed by sha256 of the full key, never the key itself).
 * With listenForRevocations, a dedicated connection LISTENs on api_key_changed and drops a prefix's entries as soon as
 * any process revokes or changes that key; if that connection drops, the cache is emptied and bypassed until it is
 * re-established (notifications may have been missed meanwhile). Concurrent misses for one key share one verification.
 */
export class ApiKeyCache extends NotifiedCache<VerifiedApiKey> {
  constructor(options: ApiKeyCacheOptions = {}) {
    super({
      ...options,
      name: 'ApiKeyCache',
      channel: API_KEY_CHANNEL,
      applicationName: options.applicationName ?? 'erc8004-api-key-listener',
      prefixOf: (result) => result.prefix,
      expiresAtOf: (result) => result.expiresAt,
    });
  }

  /** Verifies through the cache (same contract as verifyApiKey). */
  verify(pool: pg.Pool, fullKey: string, ip?: string | null): Promise<VerifiedApiKey> {
    return verifyApiKeyCached(pool, this, fullKey, ip);
  }
}

/**
 * verifyApiKey with a cache of successful verifications (failures are never cached). Concurrent misses for the same key
 * await one verification (only its caller's ip is recorded as last used).
 */
export function verifyApiKeyCached(
  pool: pg.Pool,
  cache: ApiKeyCache,
  fullKey: string,
  ip?: string | null,
): Promise<VerifiedApiKey> {
  return cache.load(fullKey, () => verifyApiKey(pool, fullKey, ip));
}

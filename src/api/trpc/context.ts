/**
 * The request context, built the same way for tRPC (/trpc) and REST (/api/v1): who is calling (a user by JWT, an API
 * key, an OAuth client token, or nobody), from where, and the services procedures use.
 */
import type http from 'node:http';
import type { Client } from '@temporalio/client';
import { TRPCError } from '@trpc/server';
import type pg from 'pg';
import type { Logger } from '../../logger.js';
import type { Mailer } from '../../mail/mailer.js';
import type { SecretBox } from '../../secrets.js';
import type { TriggerService } from '../../triggers/service.js';
import { AuthError } from '../../auth/errors.js';
import type { ApiKeyCache } from '../../auth/api-keys.js';
import { verifyOAuthAccessToken, type OAuthTokenCache } from '../../auth/oauth.js';
import type { TokenSigner } from '../../auth/tokens.js';
import { organizationIsActive, roleInOrganization, type OrganizationAccessCache } from '../../auth/organization-access.js';
import { bucketFor, rateLimitHeaders, type RateLimiter } from '../rate-limit.js';
import type { Role } from './trpc.js';

export type Permission = 'read' | 'write' | 'delete' | 'admin';
export type Plan = 'free' | 'starter' | 'pro' | 'enterprise';

export type Subject =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string }
  | { kind: 'apiKey'; keyId: string; organizationId: string; permissions: Permission[]; keyType: 'standard' | 'restricted' | 'admin'; rateLimitOverride: number | null }
  | { kind: 'oauth'; clientId: string; organizationId: string; scopes: Permission[] };

/** Long-lived dependencies of the API, created once per process. */
export interface ApiServices {
  pool: pg.Pool;
  /** Connections as the row-security role; organization-scoped procedures get `ctx.pool` from it (src/db/tenant.ts). */
  tenantPool: pg.Pool;
  logger: Logger;
  temporal: Client;
  taskQueue: string;
  triggers: TriggerService;
  secrets: SecretBox;
  tokens: TokenSigner;
  apiKeys: ApiKeyCache;
  /** Cache of OAuth access-token verifications; absent: every request verifies against the database. */
  oauthTokens?: OAuthTokenCache;
  /** Cache of roles and organization activity; absent: every request reads the database. */
  organizationAccess?: OrganizationAccessCache;
  rateLimiter: RateLimiter;
  /** Domain for Sign-In with Ethereum messages (e.g. api.example.com). */
  siweDomain: string;
  /** Secret that makes SIWE nonces self-verifying. */
  siweSecret: Uint8Array;
  /** Verification links and invitations. */
  mailer: Mailer;
  /** Public base URL of the API, for links in mails. */
  publicUrl: string;
}

export interface ApiContext extends ApiServices {
  subject: Subject;
  /** Credentials were sent but are not valid (answered 401 by every procedure). */
  authError: TRPCError | undefined;
  ip: string;
  log: Logger;
  rateLimit(scope: 'api' | 'auth'): Promise<void>;
  /** The user's role in an active organization (undefined: not a member, or the organization is inactive). */
  roleOf(userId: string, organizationId: string): Promise<Role | undefined>;
  organizationActive(organizationId: string): Promise<boolean>;
  /** The user a write is attributed to: the caller, the creator of the API key, or the organization's owner. */
  actingUserOf(organizationId: string): Promise<string>;
}

type AnyRequest = http.IncomingMessage | Request;

/**
 * Plans change rarely and are read on every request (rate limits): keep them per process for a short while. A plan
 * change takes effect within PLAN_TTL_MS.
 */
const PLAN_TTL_MS = 30_000;
const planCache = new Map<string, { plan: Plan; expires: number }>();
async function cachedPlan(key: string, load: () => Promise<Plan>): Promise<Plan> {
  const hit = planCache.get(key);
  if (hit && hit.expires > Date.now()) return hit.plan;
  const plan = await load();
  if (planCache.size > 10_000) planCache.clear();
  planCache.set(key, { plan, expires: Date.now() + PLAN_TTL_MS });
  return plan;
}

/** Reads a header from a Node request or a fetch Request alike. */
export function headerOf(req: AnyRequest, name: string): string | undefined {
  if (typeof (req as Request).headers?.get === 'function') return (req as Request).headers.get(name) ?? undefined;
  const value = (req as http.IncomingMessage).headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function clientIp(req: AnyRequest): string {
  const socket = (req as http.IncomingMessage).socket;
  return socket?.remoteAddress?.replace(/^::ffff:/, '') ?? 'unknown';
}

const unauthorized = (message: string) => new TRPCError({ code: 'UNAUTHORIZED', message });

async function authenticate(services: ApiServices, req: AnyRequest, ip: string): Promise<{ subject: Subject; authError?: TRPCError }> {
  const header = headerOf(req, 'authorization');
  const apiKeyHeader = headerOf(req, 'x-api-key');
  const bearer = header && /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
  if (header && !bearer) return { subject: { kind: 'anonymous' }, authError: unauthorized('Authorization must be "Bearer <token>"') };
  const credential = apiKeyHeader?.trim() || bearer;
  if (!credential) return { subject: { kind: 'anonymous' } };
  try {
    if (credential.startsWith('sk_')) {
      const key = await services.apiKeys.verify(services.pool, credential, ip);
      return {
        subject: {
          kind: 'apiKey', keyId: key.keyId, organizationId: key.organizationId, permissions: key.permissions as Permission[],
          keyType: key.keyType, rateLimitOverride: key.rateLimitOverride,
        },
      };
    }
    if (apiKeyHeader) return { subject: { kind: 'anonymous' }, authError: unauthorized('X-API-Key must hold an sk_live_… or sk_test_… key') };
    if (credential.startsWith('oat_')) {
      const token = services.oauthTokens
        ? await services.oauthTokens.verify(services.pool, credential)
        : await verifyOAuthAccessToken(services.pool, credential);
      return { subject: { kind: 'oauth', clientId: token.clientId, organizationId: token.organizationId, scopes: token.scopes } };
    }
    const { userId } = await services.tokens.verifyAccessToken(credential);
    return { subject: { kind: 'user', userId } };
  } catch (err) {
    if (err instanceof AuthError) {
      return { subject: { kind: 'anonymous' }, authError: unauthorized(err.code === 'token_expired' ? 'the access token has expired: refresh it' : 'invalid credentials') };
    }
    throw err;
  }
}

/** Builds the context for one request; `setHeader` lets middlewares add response headers (rate limits). */
export async function createApiContext(
  services: ApiServices,
  req: AnyRequest,
  setHeader: (name: string, value: string) => void,
): Promise<ApiContext> {
  const ip = clientIp(req);
  const { subject, authError } = await authenticate(services, req, ip);
  const log = services.logger.child({ component: 'api', ip, subject: subject.kind === 'user' ? subject.userId : subject.kind === 'apiKey' ? subject.keyId : subject.kind === 'oauth' ? subject.clientId : subject.kind });
  const pool = services.pool;
  const planOf = (organizationId: string): Promise<Plan> =>
    cachedPlan(`org:${organizationId}`, async () => {
      const { rows } = await pool.query<{ plan: Plan }>('SELECT plan FROM organizations WHERE id = $1', [organizationId]);
      return rows[0]?.plan ?? 'free';
    });
  /** A signed-in user is limited by the best plan among their organizations. */
  const bestPlanOfUser = (userId: string): Promise<Plan> => cachedPlan(`user:${userId}`, async () => {
    const { rows } = await pool.query<{ plan: Plan | null }>(
      `SELECT (array_agg(o.plan ORDER BY array_position(ARRAY['enterprise','pro','starter','free'], o.plan)))[1] AS plan
       FROM organizations o LEFT JOIN organization_members m ON m.organization_id = o.id AND m.user_id = $1
       WHERE o.is_active AND (o.owner_id = $1 OR m.user_id IS NOT NULL)`,
      [userId],
    );
    return rows[0]?.plan ?? 'free';
  });
  return {
    ...services,
    subject,
    authError,
    ip,
    log,
    async rateLimit(scope) {
      const limitSubject =
        scope === 'auth' || subject.kind === 'anonymous' ? { kind: 'anonymous' as const, ip }
        : subject.kind === 'apiKey' ? { kind: 'apiKey' as const, keyId: subject.keyId, override: subject.rateLimitOverride, plan: await planOf(subject.organizationId) }
        : subject.kind === 'oauth' ? { kind: 'user' as const, userId: `oauth:${subject.clientId}`, organizationId: subject.organizationId, plan: await planOf(subject.organizationId) }
        : { kind: 'user' as const, userId: subject.userId, plan: await bestPlanOfUser(subject.userId) };
      const { bucket, limit, windowSeconds } = bucketFor(limitSubject, scope);
      const decision = await services.rateLimiter.consume(bucket, limit, windowSeconds);
      for (const [name, value] of Object.entries(rateLimitHeaders(decision))) setHeader(name, value);
      if (!decision.allowed) {
        throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `rate limit of ${decision.limit} requests exceeded; retry in ${decision.retryAfterSeconds} s` });
      }
    },
    roleOf(userId, organizationId) {
      return services.organizationAccess
        ? services.organizationAccess.roleOf(pool, userId, organizationId)
        : roleInOrganization(pool, userId, organizationId);
    },
    async actingUserOf(organizationId) {
      if (subject.kind === 'user') return subject.userId;
      const { rows } = subject.kind === 'apiKey'
        ? await pool.query<{ user_id: string }>('SELECT created_by AS user_id FROM api_keys WHERE id = $1', [subject.keyId])
        : await pool.query<{ user_id: string }>('SELECT owner_id AS user_id FROM organizations WHERE id = $1', [organizationId]);
      return rows[0]!.user_id;
    },
    organizationActive(organizationId) {
      return services.organizationAccess
        ? services.organizationAccess.isActive(pool, organizationId)
        : organizationIsActive(pool, organizationId);
    },
  };
}

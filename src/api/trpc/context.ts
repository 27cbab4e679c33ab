/**
 * The request context, built the same way for tRPC (/trpc) and REST (/api/v1): who is calling (a user by JWT, an API
 * key, an OAuth client token, or nobody), from where, and the services procedures use.
 */
import type { A2ALimits } from '../../a2a/request-handler.js';
import type { TaskNotifications } from '../../a2a/task-events.js';
import type http from 'node:http';
import type { Client } from '@temporalio/client';
import { TRPCError } from '@trpc/server';
import type pg from 'pg';
import type { Logger } from '../../logger.js';
import type { Mailer } from '../../mail/mailer.js';
import type { SecretBox } from '../../secrets.js';
import type { TriggerService } from '../../triggers/service.js';
import { AuthError, isAuthError } from '../../auth/errors.js';
import { parseApiKey, type ApiKeyCache } from '../../auth/api-keys.js';
import type { CredentialGuard } from '../../auth/credential-guard.js';
import { parseOAuthAccessToken, verifyOAuthAccessToken, type OAuthTokenCache } from '../../auth/oauth.js';
import { GateFullError } from '../../concurrency.js';
import { counter } from '../../counters.js';
import type { TokenSigner } from '../../auth/tokens.js';
import {
  organizationIsActive,
  roleInOrganization,
  type OrganizationAccessCache,
} from '../../auth/organization-access.js';
import { clientIpOf, type TrustedProxies } from '../client-ip.js';
import {
  bucketFor,
  keyOverrideBucket,
  rateLimitHeaders,
  type RateLimitDecision,
  type RateLimiter,
} from '../../rate-limit.js';
import type { Permission, Role, Subject } from '../../auth/authorization.js';
import type { Plan } from '../../billing/plans.js';
import type { PlanCache } from '../../organizations/plan-cache.js';
import type { StripeBilling } from '../../billing/stripe.js';
import type { QueryService } from '../../queries/service.js';
import type { X402Service } from '../../payments/x402/service.js';
import type { AgentService } from '../../agents/service.js';

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
  /** Secrets that failed or passed argon2 verification recently (the unauthenticated argon2 load guard). */
  credentialGuard: CredentialGuard;
  /** Cache of OAuth access-token verifications; absent: every request verifies against the database. */
  oauthTokens?: OAuthTokenCache;
  /** Cache of roles and organization activity; absent: every request reads the database. */
  organizationAccess?: OrganizationAccessCache;
  rateLimiter: RateLimiter;
  /** Organizations' plans (rate limits, quotas), dropped at once when a plan changes. */
  plans: PlanCache;
  /** Proxies whose X-Forwarded-For gives the client address (TRUST_PROXY); absent: the TCP peer is the client. */
  trustedProxies?: TrustedProxies;
  /** Domain for Sign-In with Ethereum messages (e.g. api.example.com). */
  siweDomain: string;
  /** Secret that makes SIWE nonces self-verifying. */
  siweSecret: Uint8Array;
  /** Verification links and invitations. */
  mailer: Mailer;
  /** Public base URL of the API, for links in mails. */
  publicUrl: string;
  /** Stripe checkout, portal and webhooks; absent when billing is not configured (those calls answer 503). */
  stripeBilling?: StripeBilling;
  /** Paid reputation queries (src/queries/service.ts). */
  queries: QueryService;
  /** x402 pay-per-call for callers without credentials; absent unless X402_ENABLED. */
  x402?: X402Service;
  /** A2A tasks (src/a2a): the organizations' limits and the live task updates of this process. */
  a2a: { limits: A2ALimits; notifications: TaskNotifications };
  /** Agent links, agent MCP tokens, follows and "my agents" (src/agents). */
  agents: AgentService;
}

export interface ApiContext extends ApiServices {
  subject: Subject;
  /** Credentials were sent but are not valid (answered 401 by every procedure). */
  authError: TRPCError | undefined;
  ip: string;
  log: Logger;
  /** Which door the request came in by: tRPC (/trpc) or REST (/api/v1). */
  surface: 'trpc' | 'rest';
  /** The request's `Idempotency-Key` header: a paid call retried with the same key is charged once. */
  idempotencyKey: string | undefined;
  rateLimit(scope: 'api' | 'auth'): Promise<void>;
  /** Counts a member's request against the organization's plan bucket (orgProcedure, once membership is checked). */
  rateLimitOrganization(organizationId: string): Promise<void>;
  /** The user's role in an active organization (undefined: not a member, or the organization is inactive). */
  roleOf(userId: string, organizationId: string): Promise<Role | undefined>;
  organizationActive(organizationId: string): Promise<boolean>;
  /** The user a write is attributed to: the caller, the creator of the API key, or the organization's owner. */
  actingUserOf(organizationId: string): Promise<string>;
}

type AnyRequest = http.IncomingMessage | Request;

/** Reads a header from a Node request or a fetch Request alike. */
export function headerOf(req: AnyRequest, name: string): string | undefined {
  if (typeof (req as Request).headers?.get === 'function') return (req as Request).headers.get(name) ?? undefined;
  const value = (req as http.IncomingMessage).headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

const unauthorized = (message: string) => new TRPCError({ code: 'UNAUTHORIZED', message });

/** The token of an `Authorization: Bearer <token>` header; undefined when the header has another form. */
const bearerToken = (header: string): string | undefined => /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();

/** Requests refused for their credentials, by kind of credential and reason (GET /metrics). */
export const authFailures = counter(
  'erc8004_auth_failures_total',
  'API requests refused for their credentials, by credential (api_key, oauth_token, access_token, header) and reason (malformed, invalid, known_invalid, conflicting, rate_limited, busy).',
);

type CredentialKind = 'api_key' | 'oauth_token' | 'access_token' | 'header';
type Authenticated = { subject: Subject; authError?: TRPCError };

function refused(credential: CredentialKind, reason: string, error: TRPCError): Authenticated {
  authFailures.inc({ credential, reason });
  return { subject: { kind: 'anonymous' }, authError: error };
}

/**
 * Verifies an API key or OAuth token with argon2 only when nothing cheaper decides: a cached success is used as is; a
 * secret that failed recently is refused from memory; otherwise the verification counts against the client IP's
 * 'verify' limit first (unless the secret verified recently), and a refusal there is a 429 without verifying.
 */
async function verifyGuarded<T>(
  services: ApiServices,
  credential: CredentialKind,
  secret: string,
  ip: string,
  setHeader: (name: string, value: string) => void,
  cached: T | undefined,
  verify: () => Promise<T>,
): Promise<T | Authenticated> {
  if (cached !== undefined) return cached;
  const guard = services.credentialGuard;
  if (guard.isKnownInvalid(secret)) return refused(credential, 'known_invalid', unauthorized('invalid credentials'));
  const knownValid = guard.isKnownValid(secret);
  if (!knownValid) {
    const { bucket, limit, windowSeconds } = bucketFor({ kind: 'anonymous', ip }, 'verify');
    const blockedUntil = guard.addressBlockedUntil(ip);
    const decision =
      blockedUntil !== undefined
        ? refusedUntil(limit, blockedUntil)
        : await services.rateLimiter.consume(bucket, limit, windowSeconds);
    if (!decision.allowed) {
      guard.recordAddressBlocked(ip, decision.resetAt.getTime());
      for (const [name, value] of Object.entries(rateLimitHeaders(decision))) setHeader(name, value);
      return refused(
        credential,
        'rate_limited',
        new TRPCError({
          code: 'TOO_MANY_REQUESTS',
          message: `too many credential verifications from this address; retry in ${decision.retryAfterSeconds} s`,
        }),
      );
    }
  }
  try {
    const result = knownValid ? await verify() : await guard.unknownVerifications.run(verify);
    guard.recordValid(secret);
    return result;
  } catch (err) {
    if (err instanceof GateFullError) {
      setHeader('Retry-After', '1');
      return refused(
        credential,
        'busy',
        new TRPCError({
          code: 'TOO_MANY_REQUESTS',
          message: 'too many credential verifications waiting; retry in 1 s',
        }),
      );
    }
    if (isAuthError(err, 'token_invalid')) guard.recordInvalid(secret);
    throw err;
  }
}

/** The limiter's refusal, remembered until its window ends. */
const refusedUntil = (limit: number, untilMs: number): RateLimitDecision => ({
  allowed: false,
  limit,
  remaining: 0,
  resetAt: new Date(untilMs),
  retryAfterSeconds: Math.max(1, Math.ceil((untilMs - Date.now()) / 1000)),
});

const isAuthenticated = (value: unknown): value is Authenticated =>
  typeof value === 'object' && value !== null && 'subject' in value;

/**
 * Who is calling. One credential per request: Authorization: Bearer <access token | API key | OAuth token>, or
 * X-API-Key. Any credential that is malformed or invalid makes the request fail with 401, whatever else it carries;
 * two different credentials are refused without verifying either (the same key in both headers is one credential).
 */
async function authenticate(
  services: ApiServices,
  req: AnyRequest,
  ip: string,
  setHeader: (name: string, value: string) => void,
): Promise<Authenticated> {
  const header = headerOf(req, 'authorization');
  const apiKeyHeader = headerOf(req, 'x-api-key');
  if (header === undefined && apiKeyHeader === undefined) return { subject: { kind: 'anonymous' } };
  const bearer = header === undefined ? undefined : bearerToken(header);
  if (header !== undefined && !bearer)
    return refused('header', 'malformed', unauthorized('Authorization must be "Bearer <token>"'));
  const apiKey = apiKeyHeader?.trim();
  if (apiKeyHeader !== undefined && !apiKey) return refused('header', 'malformed', unauthorized('X-API-Key is empty'));
  if (apiKey && bearer && apiKey !== bearer) {
    return refused(
      'header',
      'conflicting',
      unauthorized('send one credential: Authorization or X-API-Key, not two different ones'),
    );
  }
  const credential = (apiKey ?? bearer)!;
  try {
    if (credential.startsWith('sk_')) {
      if (!parseApiKey(credential)) return refused('api_key', 'malformed', unauthorized('invalid credentials'));
      const key = await verifyGuarded(
        services,
        'api_key',
        credential,
        ip,
        setHeader,
        services.apiKeys.get(credential),
        () => services.apiKeys.verify(services.pool, credential, ip),
      );
      if (isAuthenticated(key)) return key;
      return {
        subject: {
          kind: 'apiKey',
          keyId: key.keyId,
          organizationId: key.organizationId,
          permissions: key.permissions as Permission[],
          keyType: key.keyType,
          rateLimitOverride: key.rateLimitOverride,
        },
      };
    }
    if (apiKey)
      return refused('api_key', 'malformed', unauthorized('X-API-Key must hold an sk_live_… or sk_test_… key'));
    if (credential.startsWith('oat_')) {
      if (!parseOAuthAccessToken(credential))
        return refused('oauth_token', 'malformed', unauthorized('invalid credentials'));
      const token = await verifyGuarded(
        services,
        'oauth_token',
        credential,
        ip,
        setHeader,
        services.oauthTokens?.get(credential),
        () =>
          services.oauthTokens
            ? services.oauthTokens.verify(services.pool, credential)
            : verifyOAuthAccessToken(services.pool, credential),
      );
      if (isAuthenticated(token)) return token;
      return {
        subject: {
          kind: 'oauth',
          clientId: token.clientId,
          organizationId: token.organizationId,
          scopes: token.scopes,
        },
      };
    }
    try {
      const { userId } = await services.tokens.verifyAccessToken(credential);
      return { subject: { kind: 'user', userId } };
    } catch (err) {
      if (err instanceof AuthError) {
        return refused(
          'access_token',
          err.code === 'token_expired' ? 'expired' : 'invalid',
          unauthorized(
            err.code === 'token_expired' ? 'the access token has expired: refresh it' : 'invalid credentials',
          ),
        );
      }
      throw err;
    }
  } catch (err) {
    if (err instanceof AuthError) {
      return refused(
        credential.startsWith('sk_') ? 'api_key' : 'oauth_token',
        err.code === 'forbidden' ? 'forbidden' : 'invalid',
        unauthorized('invalid credentials'),
      );
    }
    throw err;
  }
}

/**
 * A request that would only be refused with 429 by the per-IP verification limit (its address is over the limit, and
 * it carries an API key or OAuth token that is neither cached nor known valid), decided before any routing or body
 * parsing: a flood of made-up keys then costs as little as possible. Undefined: the request goes on as usual.
 */
export function floodRefusal(services: ApiServices, req: http.IncomingMessage): RateLimitDecision | undefined {
  const guard = services.credentialGuard;
  const ip = clientIpOf(req, services.trustedProxies);
  const blockedUntil = guard.addressBlockedUntil(ip);
  if (blockedUntil === undefined) return undefined;
  const authorization = headerOf(req, 'authorization');
  const secret =
    headerOf(req, 'x-api-key')?.trim() ?? (authorization === undefined ? undefined : bearerToken(authorization));
  if (!secret || !(secret.startsWith('sk_') || secret.startsWith('oat_'))) return undefined;
  if (
    guard.isKnownInvalid(secret) ||
    guard.isKnownValid(secret) ||
    services.apiKeys.get(secret) ||
    services.oauthTokens?.get(secret)
  )
    return undefined;
  authFailures.inc({ credential: secret.startsWith('sk_') ? 'api_key' : 'oauth_token', reason: 'rate_limited' });
  return refusedUntil(bucketFor({ kind: 'anonymous', ip }, 'verify').limit, blockedUntil);
}

/** Builds the context for one request; `setHeader` lets middlewares add response headers (rate limits). */
export async function createApiContext(
  services: ApiServices,
  req: AnyRequest,
  setHeader: (name: string, value: string) => void,
  surface: 'trpc' | 'rest' = 'trpc',
): Promise<ApiContext> {
  const ip = clientIpOf(req, services.trustedProxies);
  const { subject, authError } = await authenticate(services, req, ip, setHeader);
  const log = services.logger.child({
    component: 'api',
    ip,
    subject:
      subject.kind === 'user'
        ? subject.userId
        : subject.kind === 'apiKey'
          ? subject.keyId
          : subject.kind === 'oauth'
            ? subject.clientId
            : subject.kind,
  });
  const pool = services.pool;
  const planOf = (organizationId: string): Promise<Plan> => services.plans.planOf(pool, organizationId);
  /** A signed-in user is limited by the best plan among their organizations. */
  const bestPlanOfUser = (userId: string): Promise<Plan> => services.plans.bestPlanOfUser(pool, userId);
  /** The most restrictive decision so far sets the X-RateLimit-* headers. */
  let shown: RateLimitDecision | undefined;
  const consume = async (buckets: { bucket: string; limit: number; windowSeconds: number }[]) => {
    for (const { bucket, limit, windowSeconds } of buckets) {
      const decision = await services.rateLimiter.consume(bucket, limit, windowSeconds);
      if (!shown || !decision.allowed || decision.remaining < shown.remaining) {
        shown = decision;
        for (const [name, value] of Object.entries(rateLimitHeaders(decision))) setHeader(name, value);
      }
      if (!decision.allowed) {
        throw new TRPCError({
          code: 'TOO_MANY_REQUESTS',
          message: `rate limit of ${decision.limit} requests exceeded; retry in ${decision.retryAfterSeconds} s`,
        });
      }
    }
  };
  return {
    ...services,
    subject,
    authError,
    ip,
    log,
    surface,
    idempotencyKey: headerOf(req, 'idempotency-key')?.trim() || undefined,
    async rateLimit(scope) {
      if (scope === 'auth' || subject.kind === 'anonymous')
        return consume([bucketFor({ kind: 'anonymous', ip }, scope)]);
      if (subject.kind === 'apiKey') {
        const limitSubject = {
          kind: 'apiKey' as const,
          keyId: subject.keyId,
          organizationId: subject.organizationId,
          override: subject.rateLimitOverride,
          plan: await planOf(subject.organizationId),
        };
        // The key's own (lower) limit first: a key over it does not spend its organization's requests.
        const own = keyOverrideBucket(limitSubject);
        return consume([...(own ? [own] : []), bucketFor(limitSubject, scope)]);
      }
      if (subject.kind === 'oauth') {
        return consume([
          bucketFor(
            {
              kind: 'user',
              userId: `oauth:${subject.clientId}`,
              organizationId: subject.organizationId,
              plan: await planOf(subject.organizationId),
            },
            scope,
          ),
        ]);
      }
      return consume([
        bucketFor({ kind: 'user', userId: subject.userId, plan: await bestPlanOfUser(subject.userId) }, scope),
      ]);
    },
    async rateLimitOrganization(organizationId) {
      // Keys and tokens were counted against their organization already (rateLimit); members are counted here, once
      // their membership is established, so that an outsider cannot spend an organization's requests.
      if (subject.kind !== 'user') return;
      await consume([
        bucketFor({ kind: 'user', userId: subject.userId, organizationId, plan: await planOf(organizationId) }, 'api'),
      ]);
    },
    roleOf(userId, organizationId) {
      return services.organizationAccess
        ? services.organizationAccess.roleOf(pool, userId, organizationId)
        : roleInOrganization(pool, userId, organizationId);
    },
    async actingUserOf(organizationId) {
      if (subject.kind === 'user') return subject.userId;
      const { rows } =
        subject.kind === 'apiKey'
          ? await pool.query<{ user_id: string }>('SELECT created_by AS user_id FROM api_keys WHERE id = $1', [
              subject.keyId,
            ])
          : await pool.query<{ user_id: string }>('SELECT owner_id AS user_id FROM organizations WHERE id = $1', [
              organizationId,
            ]);
      return rows[0]!.user_id;
    },
    organizationActive(organizationId) {
      return services.organizationAccess
        ? services.organizationAccess.isActive(pool, organizationId)
        : organizationIsActive(pool, organizationId);
    },
  };
}

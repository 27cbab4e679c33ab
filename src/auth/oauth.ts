/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4) for organizations.
 *
 * A client (oauth_clients) belongs to one organization and is allowed a set of scopes (read, write, delete, admin: the
 * API-key permissions). Its id is `oac_<24 base62>`, its secret `ocs_<32 base62>`; the secret is shown once and only its
 * argon2id hash is stored. The client trades its credentials for an access token `oat_<8 base62>_<32 base62>` valid
 * for one hour, stored like an API key: argon2id hash, looked up by its prefix (`oat_<8 base62>`, unique).
 *
 * Verifications are cached per process for at most a minute (OAuthTokenCache), and dropped at once when any process
 * revokes a token (NOTIFY oauth_token_changed, payload = token prefix, sent inside the revoking transaction).
 */
import pg from 'pg';
import { z } from 'zod';
import { randomBase62 } from './api-keys.js';
import { withTransaction, type Queryable } from '../db/transaction.js';
import { AuthError } from './errors.js';
import { NotifiedCache } from './notified-cache.js';
import { hashPassword, verifyDummy, verifyPassword } from './passwords.js';
import type { Db } from '../db/pool.js';

export type OAuthScope = 'read' | 'write' | 'delete' | 'admin';
export const OAUTH_SCOPES = ['read', 'write', 'delete', 'admin'] as const satisfies readonly OAuthScope[];

/** Lifetime of an access token. */
export const ACCESS_TOKEN_TTL_SECONDS = 3600;
export const OAUTH_TOKEN_CHANNEL = 'oauth_token_changed';

const CLIENT_ID_RE = /^oac_[A-Za-z0-9]{24}$/;
const CLIENT_SECRET_RE = /^ocs_[A-Za-z0-9]{32}$/;
const ACCESS_TOKEN_RE = /^(oat_[A-Za-z0-9]{8})_[A-Za-z0-9]{32}$/;

/** The lookup prefix (oat_xxxxxxxx) of a well-formed access token, or undefined. */
export function parseOAuthAccessToken(token: string): { prefix: string } | undefined {
  const m = typeof token === 'string' ? ACCESS_TOKEN_RE.exec(token) : null;
  return m ? { prefix: m[1]! } : undefined;
}

function generateClientId(): string {
  return `oac_${randomBase62(24)}`;
}

function generateClientSecret(): string {
  return `ocs_${randomBase62(32)}`;
}

function generateAccessToken(): { token: string; prefix: string } {
  const prefix = `oat_${randomBase62(8)}`;
  return { token: `${prefix}_${randomBase62(32)}`, prefix };
}

/** Scopes in canonical order, without duplicates. */
function canonicalScopes(scopes: Iterable<string>): OAuthScope[] {
  const set = new Set(scopes);
  return OAUTH_SCOPES.filter((s) => set.has(s));
}

const uuidLike = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

// ------------------------------------------------------------------------------------------------ clients

export const createOAuthClientInputSchema = z.object({
  organizationId: z.uuid(),
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().max(1000).nullish(),
  allowedScopes: z.array(z.enum(OAUTH_SCOPES)).min(1).transform(canonicalScopes),
});
export type CreateOAuthClientInput = z.input<typeof createOAuthClientInputSchema>;

export interface OAuthClientSummary {
  /** Row id (UUID). */
  id: string;
  /** Public client identifier (oac_…), sent by the client to the token endpoint. */
  clientId: string;
  organizationId: string;
  name: string;
  description: string | null;
  allowedScopes: OAuthScope[];
  isActive: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface CreatedOAuthClient extends OAuthClientSummary {
  /** The client secret: shown once, never stored. */
  clientSecret: string;
}

const CLIENT_COLUMNS =
  'id, client_id, organization_id, name, description, allowed_scopes, is_active, created_at, updated_at';

interface ClientRow {
  id: string;
  client_id: string;
  organization_id: string;
  name: string;
  description: string | null;
  allowed_scopes: string[];
  is_active: boolean;
  created_at: Date;
  updated_at: Date;
}

function toClientSummary(r: ClientRow): OAuthClientSummary {
  return {
    id: r.id,
    clientId: r.client_id,
    organizationId: r.organization_id,
    name: r.name,
    description: r.description,
    allowedScopes: canonicalScopes(r.allowed_scopes),
    isActive: r.is_active,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * Creates a confidential client for the organization and returns its secret, once. Invalid input throws a ZodError;
 * an unknown organization throws AuthError 'not_found'. Whether the caller may do this is the caller's decision.
 */
export async function createOAuthClient(db: Queryable, input: CreateOAuthClientInput): Promise<CreatedOAuthClient> {
  const s = createOAuthClientInputSchema.parse(input);
  const clientSecret = generateClientSecret();
  const secretHash = await hashPassword(clientSecret);
  for (let attempt = 0; ; attempt++) {
    let rows: ClientRow[];
    try {
      ({ rows } = await db.query<ClientRow>(
        `INSERT INTO oauth_clients (client_id, client_secret_hash, name, description, allowed_scopes, organization_id)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6)
         ON CONFLICT (client_id) DO NOTHING
         RETURNING ${CLIENT_COLUMNS}`,
        [
          generateClientId(),
          secretHash,
          s.name,
          s.description || null,
          JSON.stringify(s.allowedScopes),
          s.organizationId,
        ],
      ));
    } catch (err) {
      if ((err as { code?: string }).code === '23503')
        throw new AuthError('not_found', 'unknown organization', { cause: err });
      throw err;
    }
    if (rows[0]) return { ...toClientSummary(rows[0]), clientSecret };
    if (attempt >= 3) throw new Error('could not generate a unique OAuth client id');
  }
}

/** The organization's clients, newest first (inactive ones too unless `includeInactive: false`); never the hashes. */
export async function listOAuthClients(
  db: Queryable,
  organizationId: string,
  opts: { includeInactive?: boolean } = {},
): Promise<OAuthClientSummary[]> {
  const { rows } = await db.query<ClientRow>(
    `SELECT ${CLIENT_COLUMNS} FROM oauth_clients
     WHERE organization_id = $1 AND ($2 OR is_active)
     ORDER BY created_at DESC, id`,
    [organizationId, opts.includeInactive ?? true],
  );
  return rows.map(toClientSummary);
}

export interface DeactivateOAuthClientInput {
  organizationId: string;
  /** The public client id (oac_…) or the row id (UUID). */
  clientId: string;
}

export interface DeactivatedOAuthClient {
  client: OAuthClientSummary;
  /** Prefixes of the tokens revoked now (every process drops them from its cache through oauth_token_changed). */
  revokedTokenPrefixes: string[];
}

/**
 * Deactivates a client of the organization and revokes all its tokens, in one transaction that notifies every
 * process's cache. Deactivating an inactive client changes nothing. Unknown, or another organization's → 'not_found'.
 */
export async function deactivateOAuthClient(
  pool: Db,
  input: DeactivateOAuthClientInput,
): Promise<DeactivatedOAuthClient> {
  const byRowId = uuidLike(input.clientId);
  if (!byRowId && !CLIENT_ID_RE.test(input.clientId)) throw new AuthError('not_found', 'OAuth client not found');
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<ClientRow>(
      `UPDATE oauth_clients SET is_active = false
       WHERE organization_id = $1 AND ${byRowId ? 'id = $2::uuid' : 'client_id = $2'}
       RETURNING ${CLIENT_COLUMNS}`,
      [input.organizationId, input.clientId],
    );
    const row = rows[0];
    if (!row) throw new AuthError('not_found', 'OAuth client not found');
    // Expired tokens are revoked too (for the record) but nobody can be holding them in a cache.
    const revoked = await client.query<{ token_prefix: string }>(
      `WITH revoked AS (
         UPDATE oauth_tokens SET revoked_at = now()
         WHERE client_id = $1 AND revoked_at IS NULL
         RETURNING token_prefix, expires_at
       )
       SELECT token_prefix, pg_notify($2, token_prefix) FROM revoked
       WHERE token_prefix IS NOT NULL AND expires_at > now()`,
      [row.id, OAUTH_TOKEN_CHANNEL],
    );
    return { client: toClientSummary(row), revokedTokenPrefixes: revoked.rows.map((r) => r.token_prefix) };
  });
}

// ------------------------------------------------------------------------------------------------ token issuance

export interface IssueClientCredentialsTokenInput {
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes (RFC 6749 §3.3); absent or empty = every scope the client is allowed. */
  scope?: string;
}

/** The successful token response of RFC 6749 §5.1. */
export interface ClientCredentialsTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

const MAX_CREDENTIAL_LENGTH = 256;
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces.
const SCOPE_RE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;

/**
 * Authenticates a client by its id and secret and issues an access token for the requested scopes.
 * Unknown client (an argon2 verification against a dummy hash is still spent), wrong secret, inactive client or
 * inactive organization → AuthError 'invalid_credentials'. Requested scopes that are malformed, unknown or not allowed
 * to the client → 'forbidden' (checked only once the client is authenticated).
 */
export async function issueClientCredentialsToken(
  pool: pg.Pool,
  input: IssueClientCredentialsTokenInput,
): Promise<ClientCredentialsTokenResponse> {
  const { clientId, clientSecret } = input;
  const wellFormed =
    typeof clientId === 'string' &&
    CLIENT_ID_RE.test(clientId) &&
    typeof clientSecret === 'string' &&
    clientSecret.length <= MAX_CREDENTIAL_LENGTH;
  const { rows } = wellFormed
    ? await pool.query<{
        id: string;
        client_secret_hash: string;
        allowed_scopes: string[];
        is_active: boolean;
        org_active: boolean;
      }>(
        `SELECT c.id, c.client_secret_hash, c.allowed_scopes, c.is_active, o.is_active AS org_active
         FROM oauth_clients c JOIN organizations o ON o.id = c.organization_id
         WHERE c.client_id = $1`,
        [clientId],
      )
    : { rows: [] };
  const row = rows[0];
  const secret = typeof clientSecret === 'string' ? clientSecret.slice(0, MAX_CREDENTIAL_LENGTH) : '';
  const ok =
    row && CLIENT_SECRET_RE.test(secret)
      ? await verifyPassword(row.client_secret_hash, secret)
      : await verifyDummy(secret);
  if (!row || !ok || !row.is_active || !row.org_active)
    throw new AuthError('invalid_credentials', 'invalid client credentials');

  const allowed = canonicalScopes(row.allowed_scopes);
  let scopes: OAuthScope[];
  const requested = input.scope?.trim() ?? '';
  if (requested === '') {
    scopes = allowed;
  } else {
    if (!SCOPE_RE.test(requested)) throw new AuthError('forbidden', 'malformed scope');
    const names = requested.split(' ');
    const unknown = names.filter((n) => !(allowed as string[]).includes(n));
    if (unknown.length > 0) throw new AuthError('forbidden', `scope not allowed for this client: ${unknown.join(' ')}`);
    scopes = canonicalScopes(names);
  }
  if (scopes.length === 0) throw new AuthError('forbidden', 'this client is allowed no scope');

  for (let attempt = 0; ; attempt++) {
    const { token, prefix } = generateAccessToken();
    const hash = await hashPassword(token);
    // Inserted only while the client is still active: a deactivation that raced this request leaves no live token.
    const inserted = await pool.query<{ id: string }>(
      `INSERT INTO oauth_tokens (token_type, token_hash, token_prefix, client_id, scopes, expires_at)
       SELECT 'access', $1, $2, c.id, $3::jsonb, now() + make_interval(secs => $4)
       FROM oauth_clients c WHERE c.id = $5 AND c.is_active
       ON CONFLICT (token_prefix) DO NOTHING
       RETURNING id`,
      [hash, prefix, JSON.stringify(scopes), ACCESS_TOKEN_TTL_SECONDS, row.id],
    );
    if (inserted.rows[0]) {
      return {
        access_token: token,
        token_type: 'Bearer',
        expires_in: ACCESS_TOKEN_TTL_SECONDS,
        scope: scopes.join(' '),
      };
    }
    const { rows: still } = await pool.query('SELECT 1 FROM oauth_clients WHERE id = $1 AND is_active', [row.id]);
    if (!still[0]) throw new AuthError('invalid_credentials', 'invalid client credentials');
    if (attempt >= 3) throw new Error('could not generate a unique OAuth token prefix');
  }
}

// ------------------------------------------------------------------------------------------------ verification

export interface VerifiedOAuthToken {
  tokenId: string;
  /** Public client id (oac_…). */
  clientId: string;
  organizationId: string;
  /** The token's scopes that its client is still allowed. */
  scopes: OAuthScope[];
  prefix: string;
  expiresAt: Date;
}

/**
 * Verifies an access token: lookup by prefix, argon2 verification, then revocation, expiry, an active client and an
 * active organization. Any failure (malformed; unknown, after a dummy verification; wrong; revoked; expired; client or
 * organization inactive) → AuthError 'token_invalid'.
 */
export async function verifyOAuthAccessToken(pool: pg.Pool, token: string): Promise<VerifiedOAuthToken> {
  const parsed = parseOAuthAccessToken(token);
  if (!parsed) throw new AuthError('token_invalid', 'invalid access token');
  const { rows } = await pool.query<{
    id: string;
    token_hash: string;
    token_type: string;
    scopes: string[];
    expires_at: Date;
    revoked: boolean;
    expired: boolean;
    client_id: string;
    allowed_scopes: string[];
    client_active: boolean;
    organization_id: string;
    org_active: boolean;
  }>(
    `SELECT t.id, t.token_hash, t.token_type, t.scopes, t.expires_at, t.revoked_at IS NOT NULL AS revoked,
            t.expires_at <= now() AS expired, c.client_id, c.allowed_scopes, c.is_active AS client_active, c.organization_id,
            o.is_active AS org_active
     FROM oauth_tokens t
     JOIN oauth_clients c ON c.id = t.client_id
     JOIN organizations o ON o.id = c.organization_id
     WHERE t.token_prefix = $1`,
    [parsed.prefix],
  );
  const row = rows[0];
  const ok = row ? await verifyPassword(row.token_hash, token) : await verifyDummy(token);
  // State is looked at only after the hash: without the secret, nobody learns a token's state.
  if (
    !row ||
    !ok ||
    row.token_type !== 'access' ||
    row.revoked ||
    row.expired ||
    !row.client_active ||
    !row.org_active
  ) {
    throw new AuthError('token_invalid', 'invalid access token');
  }
  const allowed = new Set(row.allowed_scopes);
  return {
    tokenId: row.id,
    clientId: row.client_id,
    organizationId: row.organization_id,
    scopes: canonicalScopes(row.scopes.filter((s) => allowed.has(s))),
    prefix: parsed.prefix,
    expiresAt: row.expires_at,
  };
}

// ------------------------------------------------------------------------------------------------ cache

export interface OAuthTokenCacheOptions {
  /** How long a successful verification is reused; capped at 60 s (default 60 s) and at the token's expiry. */
  ttlMs?: number;
  maxEntries?: number;
  /** application_name of the LISTEN connection. */
  applicationName?: string;
  /** Told about listener connection problems. */
  onListenerError?: (err: unknown) => void;
  /** Reconnect backoff bounds for the LISTEN connection. */
  reconnectDelayMs?: { min: number; max: number };
}

/**
 * A per-process cache of successful access-token verifications (keyed by sha256 of the token, never the token). With
 * listenForRevocations, a dedicated connection LISTENs on oauth_token_changed and drops a prefix's entries as soon as
 * any process revokes that token; while that connection is down, the cache is emptied and bypassed. Concurrent misses
 * for one token share one verification.
 */
export class OAuthTokenCache extends NotifiedCache<VerifiedOAuthToken> {
  constructor(options: OAuthTokenCacheOptions = {}) {
    super({
      ...options,
      name: 'OAuthTokenCache',
      channel: OAUTH_TOKEN_CHANNEL,
      applicationName: options.applicationName ?? 'erc8004-oauth-token-listener',
      prefixOf: (result) => result.prefix,
      expiresAtOf: (result) => result.expiresAt,
    });
  }

  /** Verifies through the cache (same contract as verifyOAuthAccessToken; failures are never cached). */
  verify(pool: pg.Pool, token: string): Promise<VerifiedOAuthToken> {
    return this.load(token, () => verifyOAuthAccessToken(pool, token));
  }
}

/**
 * Session tokens: short-lived access tokens (JWT, HS256) and rotating opaque refresh tokens stored hashed.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type pg from 'pg';
import { AuthError } from './errors.js';
import { withTransaction, type Queryable } from '../db/transaction.js';

// ------------------------------------------------------------------------------------------------ access tokens

export const ACCESS_TOKEN_ISSUER = 'erc8004-backend';
export const ACCESS_TOKEN_AUDIENCE = 'erc8004-api';
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 15 * 60;

export interface TokenSignerOptions {
  /** Lifetime of access tokens (default 15 min). */
  accessTokenTtlSeconds?: number;
  issuer?: string;
  audience?: string;
  /** Accepted clock skew when verifying (default 0). */
  clockToleranceSeconds?: number;
  /** Clock in ms since the epoch (tests). */
  now?: () => number;
}

export interface VerifiedAccessToken {
  userId: string;
  /** The token's jti. */
  tokenId: string;
  expiresAt: Date;
}

export interface TokenSigner {
  signAccessToken(userId: string): Promise<string>;
  /** Throws AuthError 'token_expired' for an expired token, 'token_invalid' for anything else wrong. */
  verifyAccessToken(token: string): Promise<VerifiedAccessToken>;
  readonly accessTokenTtlSeconds: number;
}

/** Signs and verifies access tokens with one HS256 secret (at least 32 bytes). */
export function createTokenSigner(secret: Uint8Array, opts: TokenSignerOptions = {}): TokenSigner {
  if (secret.byteLength < 32) throw new Error('the access-token secret must be at least 32 bytes');
  const key = new Uint8Array(secret); // a copy: later changes to the caller's buffer do not change the key
  const ttl = opts.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS;
  const issuer = opts.issuer ?? ACCESS_TOKEN_ISSUER;
  const audience = opts.audience ?? ACCESS_TOKEN_AUDIENCE;
  const now = opts.now ?? Date.now;
  return {
    accessTokenTtlSeconds: ttl,
    async signAccessToken(userId) {
      const iat = Math.floor(now() / 1000);
      return new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttl)
        .setIssuer(issuer)
        .setAudience(audience)
        .setJti(randomUUID())
        .sign(key);
    },
    async verifyAccessToken(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer,
          audience,
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
          clockTolerance: opts.clockToleranceSeconds ?? 0,
          currentDate: new Date(now()),
        });
        if (typeof payload.sub !== 'string' || payload.sub === '' || typeof payload.jti !== 'string') {
          throw new AuthError('token_invalid', 'invalid access token');
        }
        return { userId: payload.sub, tokenId: payload.jti, expiresAt: new Date(payload.exp! * 1000) };
      } catch (err) {
        if (err instanceof AuthError) throw err;
        if (err instanceof joseErrors.JWTExpired)
          throw new AuthError('token_expired', 'the access token has expired', { cause: err });
        throw new AuthError('token_invalid', 'invalid access token', { cause: err });
      }
    },
  };
}

// ------------------------------------------------------------------------------------------------ refresh tokens

export const DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
const REFRESH_TOKEN_RE = /^rt_[A-Za-z0-9_-]{43}$/;

export interface IssuedRefreshToken {
  /** The opaque token (rt_ + base64url of 32 random bytes); only its sha256 is stored. */
  refreshToken: string;
  familyId: string;
  expiresAt: Date;
}

export interface RefreshTokenOptions {
  ttlSeconds?: number;
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Issues a refresh token, starting a new family unless `familyId` is given (a login starts a family). */
export async function issueRefreshToken(
  db: Queryable,
  userId: string,
  familyId?: string,
  opts: RefreshTokenOptions = {},
): Promise<IssuedRefreshToken> {
  const refreshToken = `rt_${randomBytes(32).toString('base64url')}`;
  const family = familyId ?? randomUUID();
  const { rows } = await db.query<{ expires_at: Date }>(
    `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at`,
    [userId, family, hashRefreshToken(refreshToken), opts.ttlSeconds ?? DEFAULT_REFRESH_TOKEN_TTL_SECONDS],
  );
  return { refreshToken, familyId: family, expiresAt: rows[0]!.expires_at };
}

export interface RotatedRefreshToken extends IssuedRefreshToken {
  userId: string;
}

type RotationOutcome = { ok: RotatedRefreshToken } | { error: AuthError };

/**
 * Exchanges a refresh token for a new one in the same family (atomic: the row is locked FOR UPDATE, so two
 * concurrent uses of one token cannot both succeed). A token already used or revoked means it leaked: the whole family
 * is revoked (committed) and AuthError 'token_reused' thrown, so the newest token of the family stops working too.
 * Expired → 'token_expired'; unknown, malformed, or of a disabled user → 'token_invalid'.
 */
export async function rotateRefreshToken(
  pool: pg.Pool,
  token: string,
  opts: RefreshTokenOptions = {},
): Promise<RotatedRefreshToken> {
  if (typeof token !== 'string' || !REFRESH_TOKEN_RE.test(token))
    throw new AuthError('token_invalid', 'invalid refresh token');
  const outcome = await withTransaction<RotationOutcome>(pool, async (client) => {
    const { rows } = await client.query<{
      id: string;
      user_id: string;
      family_id: string;
      used_at: Date | null;
      revoked_at: Date | null;
      expired: boolean;
      user_active: boolean;
    }>(
      `SELECT rt.id, rt.user_id, rt.family_id, rt.used_at, rt.revoked_at, rt.expires_at <= now() AS expired, u.is_active AS user_active
       FROM refresh_tokens rt JOIN users u ON u.id = rt.user_id
       WHERE rt.token_hash = $1 FOR UPDATE OF rt`,
      [hashRefreshToken(token)],
    );
    const row = rows[0];
    if (!row) return { error: new AuthError('token_invalid', 'invalid refresh token') };
    if (row.used_at || row.revoked_at) {
      await revokeRefreshFamily(client, row.family_id);
      return {
        error: new AuthError(
          'token_reused',
          'this refresh token was already used: every session of its login is revoked',
        ),
      };
    }
    if (row.expired) return { error: new AuthError('token_expired', 'the refresh token has expired: log in again') };
    if (!row.user_active) return { error: new AuthError('token_invalid', 'invalid refresh token') };
    await client.query('UPDATE refresh_tokens SET used_at = now() WHERE id = $1', [row.id]);
    const next = await issueRefreshToken(client, row.user_id, row.family_id, opts);
    return { ok: { userId: row.user_id, ...next } };
  });
  if ('error' in outcome) throw outcome.error; // thrown after COMMIT, so a family revocation sticks
  return outcome.ok;
}

/** Revokes every live token of a family (logout of one session). Returns how many were revoked. */
export async function revokeRefreshFamily(db: Queryable, familyId: string): Promise<number> {
  const { rowCount } = await db.query(
    'UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL',
    [familyId],
  );
  return rowCount ?? 0;
}

/** Logout with the refresh token in hand: revokes its family. Unknown or malformed tokens are ignored. */
export async function revokeRefreshToken(db: Queryable, token: string): Promise<number> {
  if (typeof token !== 'string' || !REFRESH_TOKEN_RE.test(token)) return 0;
  const { rowCount } = await db.query(
    `UPDATE refresh_tokens SET revoked_at = now()
     WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL`,
    [hashRefreshToken(token)],
  );
  return rowCount ?? 0;
}

/** Revokes every refresh token of a user (logout everywhere, password change). Returns how many were revoked. */
export async function revokeAllForUser(db: Queryable, userId: string): Promise<number> {
  const { rowCount } = await db.query(
    'UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL',
    [userId],
  );
  return rowCount ?? 0;
}

/** Deletes tokens expired more than `graceSeconds` ago (housekeeping). */
export async function pruneRefreshTokens(db: Queryable, graceSeconds = 7 * 24 * 3600): Promise<number> {
  const { rowCount } = await db.query(
    'DELETE FROM refresh_tokens WHERE expires_at < now() - make_interval(secs => $1)',
    [graceSeconds],
  );
  return rowCount ?? 0;
}

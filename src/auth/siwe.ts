/**
 * Sign-In with Ethereum (EIP-4361) for externally owned accounts.
 *
 * Nonces are self-verifying, so any API process can check one without shared state: 32 hex chars of randomness,
 * 8 hex chars of expiry (unix seconds), then 32 hex chars of HMAC-SHA256 (truncated to 128 bits) over both. EIP-4361
 * requires an alphanumeric nonce, hence hex and no separators. Consumption is recorded in used_nonces (sha256 of the
 * nonce, kept until its expiry) so that each nonce signs in once.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { getAddress, isHex, verifyMessage, type Hex } from 'viem';
import { parseSiweMessage, validateSiweMessage } from 'viem/siwe';
import { AuthError } from './errors.js';
import { createPersonalOrganization } from './accounts.js';
import { withTransaction } from '../db/transaction.js';

export const SIWE_NONCE_TTL_SECONDS = 5 * 60;
const NONCE_RE = /^([0-9a-f]{32})([0-9a-f]{8})([0-9a-f]{32})$/;

function checkSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.byteLength < 32)
    throw new Error('the SIWE secret must be at least 32 bytes');
}

function nonceMac(secret: Uint8Array, random: string, expiry: string): string {
  return createHmac('sha256', secret).update(`erc8004-siwe-nonce:v1:${random}${expiry}`).digest('hex').slice(0, 32);
}

export interface SiweNonceOptions {
  ttlSeconds?: number;
  /** Clock in ms since the epoch (tests). */
  now?: () => number;
}

/** A fresh nonce for a SIWE message, valid for 5 minutes by default. */
export function issueSiweNonce(secret: Uint8Array, opts: SiweNonceOptions = {}): { nonce: string; expiresAt: Date } {
  checkSecret(secret);
  const now = (opts.now ?? Date.now)();
  const expirySeconds = Math.floor(now / 1000) + (opts.ttlSeconds ?? SIWE_NONCE_TTL_SECONDS);
  const random = randomBytes(16).toString('hex');
  const expiry = Math.max(0, expirySeconds).toString(16).padStart(8, '0');
  return { nonce: `${random}${expiry}${nonceMac(secret, random, expiry)}`, expiresAt: new Date(expirySeconds * 1000) };
}

/** Checks a nonce's MAC and expiry; returns its expiry. Throws 'token_invalid' (not ours) or 'nonce_expired'. */
export function checkSiweNonce(secret: Uint8Array, nonce: string, now: number = Date.now()): Date {
  checkSecret(secret);
  const m = NONCE_RE.exec(nonce);
  if (!m) throw new AuthError('token_invalid', 'the sign-in nonce was not issued by this service');
  const [, random, expiry, mac] = m as unknown as [string, string, string, string];
  const expected = Buffer.from(nonceMac(secret, random, expiry), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) {
    throw new AuthError('token_invalid', 'the sign-in nonce was not issued by this service');
  }
  const expiresAt = new Date(parseInt(expiry, 16) * 1000);
  if (expiresAt.getTime() <= now)
    throw new AuthError('nonce_expired', 'the sign-in nonce has expired: request a new one');
  return expiresAt;
}

export interface VerifySiweInput {
  /** The EIP-4361 message, exactly as signed. */
  message: string;
  /** 0x-prefixed 65-byte personal_sign signature. */
  signature: string;
  /** Our domain (RFC 3986 authority, e.g. api.example.com): the message must name it. */
  domain: string;
  /** The secret nonces were issued with. */
  secret: Uint8Array;
  /** If given, the message's Chain ID must match. */
  chainId?: number;
  /** If given, the message's URI must match. */
  uri?: string;
  /** Clock in ms since the epoch (tests). */
  now?: () => number;
}

export interface SiweLogin {
  userId: string;
  /** EIP-55 checksummed. Stored lower-case in users.wallet_address. */
  walletAddress: string;
  isNewUser: boolean;
}

const invalid = (message: string) => new AuthError('invalid_signature', message);

/**
 * Verifies a signed SIWE message and signs the wallet's user in, creating the user (auth_method 'wallet', username =
 * the lower-case address, email <address>@wallet.invalid) and a personal organization on first sign-in.
 * Errors: malformed message or signature, another domain/chain/URI, or a signature that is not the address's →
 * 'invalid_signature'; nonce not issued by us → 'token_invalid'; nonce older than 5 min → 'nonce_expired'; nonce
 * already used → 'nonce_used'; message past its Expiration Time → 'token_expired', before its Not Before →
 * 'token_invalid'; disabled user → 'forbidden'. Only EOA signatures are supported (no EIP-1271 / EIP-6492: that needs a
 * chain client).
 */
export async function verifySiwe(pool: pg.Pool, input: VerifySiweInput): Promise<SiweLogin> {
  const now = (input.now ?? Date.now)();
  if (typeof input.message !== 'string' || input.message.length > 8_192) throw invalid('malformed SIWE message');
  if (
    typeof input.signature !== 'string' ||
    !isHex(input.signature, { strict: true }) ||
    input.signature.length !== 132
  ) {
    throw invalid('the signature must be 65 bytes of 0x-prefixed hex');
  }
  const parsed = parseSiweMessage(input.message);
  const { address, nonce } = parsed;
  if (
    !address ||
    !nonce ||
    !parsed.domain ||
    !parsed.uri ||
    parsed.version !== '1' ||
    parsed.chainId === undefined ||
    !parsed.issuedAt
  ) {
    throw invalid('malformed SIWE message');
  }
  for (const date of [parsed.issuedAt, parsed.expirationTime, parsed.notBefore]) {
    if (date && Number.isNaN(date.getTime())) throw invalid('malformed SIWE message: bad date');
  }
  if (parsed.domain !== input.domain) throw invalid(`the message is for ${parsed.domain}, not ${input.domain}`);
  if (input.chainId !== undefined && parsed.chainId !== input.chainId)
    throw invalid(`the message is for chain ${parsed.chainId}, not ${input.chainId}`);
  if (input.uri !== undefined && parsed.uri !== input.uri) throw invalid('the message is for another URI');
  if (parsed.expirationTime && parsed.expirationTime.getTime() <= now)
    throw new AuthError('token_expired', 'the SIWE message has expired');
  if (parsed.notBefore && parsed.notBefore.getTime() > now)
    throw new AuthError('token_invalid', 'the SIWE message is not valid yet');
  if (!validateSiweMessage({ message: parsed, domain: input.domain, time: new Date(now) }))
    throw invalid('invalid SIWE message');

  const nonceExpiresAt = checkSiweNonce(input.secret, nonce, now);

  let signed: boolean;
  try {
    signed = await verifyMessage({ address, message: input.message, signature: input.signature as Hex });
  } catch {
    signed = false;
  }
  if (!signed) throw invalid('the signature does not match the message and address');

  const walletAddress = getAddress(address);
  const stored = walletAddress.toLowerCase();
  const outcome = await withTransaction<SiweLogin | AuthError>(pool, async (client) => {
    const consumed = await client.query(
      `INSERT INTO used_nonces (nonce_hash, wallet_address, expires_at) VALUES ($1, $2, $3) ON CONFLICT (nonce_hash) DO NOTHING`,
      [createHash('sha256').update(nonce).digest('hex'), stored, nonceExpiresAt],
    );
    if (consumed.rowCount !== 1)
      return new AuthError('nonce_used', 'this sign-in nonce was already used: request a new one');

    const find = () =>
      client.query<{ id: string; is_active: boolean }>(
        'SELECT id, is_active FROM users WHERE wallet_address = ANY($1::text[])',
        [[stored, walletAddress]],
      );
    let user = (await find()).rows[0];
    let isNewUser = false;
    if (!user) {
      // ON CONFLICT: a concurrent first sign-in of the same wallet waits for ours, then finds the user.
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO users (username, email, wallet_address, auth_method) VALUES ($1, $2, $1, 'wallet')
         ON CONFLICT (wallet_address) DO NOTHING RETURNING id`,
        [stored, `${stored}@wallet.invalid`],
      );
      if (rows[0]) {
        await createPersonalOrganization(client, rows[0].id, stored);
        user = { id: rows[0].id, is_active: true };
        isNewUser = true;
      } else {
        user = (await find()).rows[0];
        if (!user) throw new Error('wallet user vanished during sign-in');
      }
    }
    if (!user.is_active) return new AuthError('forbidden', 'this account is disabled');
    await client.query('UPDATE users SET last_login_at = now() WHERE id = $1', [user.id]);
    return { userId: user.id, walletAddress, isNewUser };
  });
  if (outcome instanceof AuthError) throw outcome;
  return outcome;
}

/** Deletes consumed nonces past their expiry plus `graceSeconds` (they can no longer be replayed anyway). */
export async function pruneUsedNonces(db: pg.Pool | pg.PoolClient, graceSeconds = 24 * 3600): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM used_nonces WHERE expires_at < now() - make_interval(secs => $1)', [
    graceSeconds,
  ]);
  return rowCount ?? 0;
}

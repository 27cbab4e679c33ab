/**
 * Verified email addresses. Registration proves nothing about an address; a one-time link mailed to it does. The link
 * carries a random token of which only the sha256 is stored (high entropy: no slow hash needed); it expires, is used
 * once, and proves only the address it was sent to. A new link replaces the ones sent before.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Mailer } from '../mail/mailer.js';
import { verificationMail } from '../mail/messages.js';
import { AuthError } from './errors.js';
import { withTransaction, type Queryable } from '../db/transaction.js';

export const EMAIL_VERIFICATION_TTL_SECONDS = 24 * 3600;
export const EMAIL_VERIFICATION_TOKEN_PATTERN = /^evt_[A-Za-z0-9_-]{43}$/;
/** Links a user may ask for again (besides the one registration sends), per account. */
export const RESEND_LIMIT = { limit: 3, windowSeconds: 3600 } as const;

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export interface IssuedEmailVerification {
  token: string;
  email: string;
  expiresAt: Date;
}

/**
 * Issues a verification token for the user's current address and mails the link. Once the mail is on its way, earlier
 * unused links stop working; if it cannot be sent, the new token is dropped (the earlier links still work) and the
 * mailer's error is thrown. Throws AuthError 'conflict' when the address is already verified, 'forbidden' for wallet
 * accounts (they have no real address), 'not_found' for an unknown or disabled account.
 */
export async function mailEmailVerification(
  deps: { db: Queryable; mailer: Mailer; publicUrl: string },
  userId: string,
): Promise<IssuedEmailVerification> {
  const { db } = deps;
  const { rows: users } = await db.query<{ email: string; verified: boolean; auth_method: string }>(
    'SELECT email, email_verified_at IS NOT NULL AS verified, auth_method FROM users WHERE id = $1 AND is_active',
    [userId],
  );
  const user = users[0];
  if (!user) throw new AuthError('not_found', 'the account no longer exists');
  if (user.auth_method === 'wallet')
    throw new AuthError('forbidden', 'a wallet account has no email address to verify');
  if (user.verified) throw new AuthError('conflict', 'your email address is already verified');
  const token = `evt_${randomBytes(32).toString('base64url')}`;
  const { rows } = await db.query<{ id: string; expires_at: Date }>(
    `INSERT INTO email_verification_tokens (user_id, email, token_hash, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id, expires_at`,
    [userId, user.email, hashToken(token), EMAIL_VERIFICATION_TTL_SECONDS],
  );
  const { id, expires_at: expiresAt } = rows[0]!;
  try {
    await deps.mailer.send(verificationMail({ to: user.email, publicUrl: deps.publicUrl, token, expiresAt }));
  } catch (err) {
    await db.query('DELETE FROM email_verification_tokens WHERE id = $1', [id]);
    throw err;
  }
  await db.query('DELETE FROM email_verification_tokens WHERE user_id = $1 AND used_at IS NULL AND id <> $2', [
    userId,
    id,
  ]);
  return { token, email: user.email, expiresAt };
}

/**
 * Consumes a verification token and marks its address verified. Unknown, used and expired tokens are refused with
 * AuthError ('token_invalid', 'token_reused', 'token_expired'), as is a token for an address the account no longer has.
 */
export async function verifyEmail(pool: pg.Pool, token: string): Promise<{ userId: string; email: string }> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{
      id: string;
      user_id: string;
      email: string;
      used: boolean;
      expired: boolean;
    }>(
      `SELECT id, user_id, email, used_at IS NOT NULL AS used, expires_at <= now() AS expired
       FROM email_verification_tokens WHERE token_hash = $1 FOR UPDATE`,
      [hashToken(token)],
    );
    const row = rows[0];
    if (!row)
      throw new AuthError(
        'token_invalid',
        'this verification link is not valid (a newer one replaces it): ask for a new one',
      );
    if (row.used) throw new AuthError('token_reused', 'this verification link was already used');
    if (row.expired) throw new AuthError('token_expired', 'this verification link has expired: ask for a new one');
    await client.query('UPDATE email_verification_tokens SET used_at = now() WHERE id = $1', [row.id]);
    const { rowCount } = await client.query(
      'UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) WHERE id = $1 AND email = $2 AND is_active',
      [row.user_id, row.email],
    );
    if (!rowCount)
      throw new AuthError('token_invalid', 'this verification link is for an address the account no longer has');
    return { userId: row.user_id, email: row.email };
  });
}

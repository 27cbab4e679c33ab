/**
 * Accounts: registration (user + personal organization in one transaction) and password login with lockout.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type * as s from 'zapatos/schema';
import { z } from 'zod';
import type { Role } from './authorization.js';
import { AuthError } from './errors.js';
import { slugify, uniqueViolation } from './db.js';
import { withTransaction, type Queryable } from '../db/transaction.js';
import { hashPassword, passwordNeedsRehash, verifyDummy, verifyPassword } from './passwords.js';

// ------------------------------------------------------------------------------------------------ input schemas

/** Emails are compared and stored lower-case. `@wallet.invalid` is reserved for wallet accounts. */
export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email().max(254))
  .refine((e) => !e.endsWith('@wallet.invalid'), 'this email domain is reserved');

/** Starts with a letter, so it can never collide with the 0x… usernames of wallet accounts. */
export const usernameSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{2,63}$/, 'username: 3-64 letters, digits, "_", "." or "-", starting with a letter');

export const passwordSchema = z
  .string()
  .min(8, 'password: at least 8 characters')
  .max(1024, 'password: at most 1024 characters');

export const registerInputSchema = z.object({ username: usernameSchema, email: emailSchema, password: passwordSchema });
export type RegisterInput = z.input<typeof registerInputSchema>;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

// ------------------------------------------------------------------------------------------------ registration

export interface RegisteredUser {
  userId: string;
  organizationId: string;
  username: string;
  email: string;
}

/**
 * Creates a personal organization owned by `userId`, with a slug derived from `name` and made unique (`alice`,
 * `alice-2`, …). Runs on the caller's client, normally inside the transaction that created the user.
 */
export async function createPersonalOrganization(
  client: Queryable,
  userId: string,
  name: string,
): Promise<{ organizationId: string; slug: string }> {
  const base = slugify(name);
  const { rows: taken } = await client.query<{ slug: string }>(
    `SELECT slug FROM organizations WHERE slug = $1 OR slug LIKE $1 || '-%'`,
    [base],
  );
  const used = new Set(taken.map((r) => r.slug));
  let n = 2;
  let candidate = base;
  while (used.has(candidate)) candidate = `${base}-${n++}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    // ON CONFLICT rather than a unique violation: a violation would abort the caller's transaction.
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO organizations (name, slug, owner_id, is_personal) VALUES ($1, $2, $3, true)
       ON CONFLICT (slug) DO NOTHING RETURNING id`,
      [name.slice(0, 200), candidate, userId],
    );
    if (rows[0]) return { organizationId: rows[0].id, slug: candidate };
    candidate = `${base}-${randomBytes(3).toString('hex')}`; // lost a race for that slug
  }
  throw new Error(`could not find a free organization slug for "${base}"`);
}

/**
 * Registers a password account and its personal organization (is_personal, owned by the user) atomically.
 * Invalid input throws a ZodError (validate with registerInputSchema first); a taken email or username throws
 * AuthError 'conflict' naming which.
 */
export async function registerUser(pool: pg.Pool, input: RegisterInput): Promise<RegisteredUser> {
  const { username, email, password } = registerInputSchema.parse(input);
  const passwordHash = await hashPassword(password); // outside the transaction: no connection held while hashing
  try {
    return await withTransaction(pool, async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO users (username, email, password_hash, auth_method) VALUES ($1, $2, $3, 'password') RETURNING id`,
        [username, email, passwordHash],
      );
      const userId = rows[0]!.id;
      const { organizationId } = await createPersonalOrganization(client, userId, username);
      return { userId, organizationId, username, email };
    });
  } catch (err) {
    const constraint = uniqueViolation(err);
    if (constraint === 'users_email_key')
      throw new AuthError('conflict', 'an account with this email already exists', { cause: err });
    if (constraint === 'users_username_key')
      throw new AuthError('conflict', 'this username is already taken', { cause: err });
    throw err;
  }
}

// ------------------------------------------------------------------------------------------------ login + lockout

export interface LockoutPolicy {
  /** Failures (per account, per IP) after which the key is locked. */
  maxFailures: number;
  /** First lock; doubles with every further failure. */
  baseLockSeconds: number;
  maxLockSeconds: number;
  /** A counter starts again from zero after this long without failures (and without a lock in force). */
  resetAfterSeconds: number;
}

export const DEFAULT_LOCKOUT: LockoutPolicy = Object.freeze({
  maxFailures: 5,
  baseLockSeconds: 30,
  maxLockSeconds: 15 * 60,
  resetAfterSeconds: 15 * 60,
});

export interface LoginInput {
  email: string;
  password: string;
  /** Client address; failures are also counted per address. */
  ip?: string | null;
}

function lockoutKeys(email: string, ip: string | null | undefined): string[] {
  const keys = [`user:${email}`];
  if (ip) keys.push(`ip:${ip}`);
  return keys;
}

/** Seconds until every given key is unlocked, or 0. */
export async function lockedForSeconds(db: Queryable, keys: string[]): Promise<number> {
  const { rows } = await db.query<{ retry: number | null }>(
    `SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int AS retry
     FROM login_failures WHERE key = ANY($1::text[]) AND locked_until > now()`,
    [keys],
  );
  return Math.max(0, rows[0]?.retry ?? 0);
}

// The counter after this failure: restarts at 1 when the last failure (and any lock) is older than the reset window.
const NEXT_FAILURES = `(CASE WHEN greatest(f.updated_at, coalesce(f.locked_until, f.updated_at)) < now() - make_interval(secs => $5)
  THEN 1 ELSE f.failures + 1 END)`;
const lockFor = (failures: string) => `(CASE WHEN ${failures} >= $2
  THEN now() + make_interval(secs => least($4::float8, $3::float8 * power(2, least(${failures} - $2, 30)))) END)`;

/**
 * Counts an attempt as a failure for every key BEFORE its password is checked, in one statement, unless a key is
 * locked: `allowed` false then, nothing counted, and `retryAfterSeconds` until the lock ends. Concurrent attempts are
 * serialised on the keys' rows (locked in key order, their newest versions read), so however many arrive at once, no
 * more than the policy allows are let through to the password check. `lockedForSecondsIfFailed`: the lock this attempt
 * set (0 if none), for the answer when the password is wrong. A success takes its count back (settleLoginSuccess).
 */
export async function reserveLoginAttempt(
  db: Queryable,
  keys: string[],
  policy: LockoutPolicy = DEFAULT_LOCKOUT,
): Promise<{ allowed: boolean; retryAfterSeconds: number; lockedForSecondsIfFailed: number }> {
  const { rows } = await db.query<{ locked_retry: number | null; counted: number; failed_retry: number | null }>(
    `WITH current AS (
       SELECT key, locked_until FROM login_failures WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE
     ), upserted AS (
       INSERT INTO login_failures AS f (key, failures, locked_until, updated_at)
       SELECT k, 1, ${lockFor('1')}, now() FROM unnest($1::text[]) AS k
       WHERE NOT EXISTS (SELECT 1 FROM current WHERE locked_until > now())
       ORDER BY k
       ON CONFLICT (key) DO UPDATE SET
         failures = ${NEXT_FAILURES},
         locked_until = ${lockFor(NEXT_FAILURES)},
         updated_at = now()
       WHERE f.locked_until IS NULL OR f.locked_until <= now()
       RETURNING locked_until
     )
     SELECT (SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int FROM current WHERE locked_until > now()) AS locked_retry,
            (SELECT count(*)::int FROM upserted) AS counted,
            (SELECT ceil(extract(epoch FROM max(locked_until) - now()))::int FROM upserted) AS failed_retry`,
    [keys, policy.maxFailures, policy.baseLockSeconds, policy.maxLockSeconds, policy.resetAfterSeconds],
  );
  const row = rows[0]!;
  if (row.counted < keys.length) {
    // A key was locked (or got locked by a concurrent attempt between our lock and our upsert): refused.
    const retry = Math.max(1, row.locked_retry ?? (await lockedForSeconds(db, keys)));
    return { allowed: false, retryAfterSeconds: retry, lockedForSecondsIfFailed: 0 };
  }
  return { allowed: true, retryAfterSeconds: 0, lockedForSecondsIfFailed: Math.max(0, row.failed_retry ?? 0) };
}

/**
 * Takes back the failure reserveLoginAttempt counted for a login that succeeded: the account's counter is cleared, the
 * address's loses this attempt and any lock (a lock in force there was set by this attempt's count: later attempts
 * were refused, earlier ones still in flight counted below the threshold).
 */
async function settleLoginSuccess(db: Queryable, accountKey: string, addressKeys: string[]): Promise<void> {
  await db.query(
    `WITH cleared AS (DELETE FROM login_failures WHERE key = $1)
     UPDATE login_failures SET failures = greatest(failures - 1, 0), locked_until = NULL WHERE key = ANY($2::text[])`,
    [accountKey, addressKeys],
  );
}

/** Clears the counters of the given keys (e.g. an account after a successful login, or by an administrator). */
export async function clearLoginFailures(db: Queryable, keys: string[]): Promise<void> {
  await db.query('DELETE FROM login_failures WHERE key = ANY($1::text[])', [keys]);
}

/** Deletes counters with no recent failure and no lock in force (housekeeping). */
export async function pruneLoginFailures(db: Queryable, olderThanSeconds = 24 * 3600): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM login_failures
     WHERE updated_at < now() - make_interval(secs => $1) AND (locked_until IS NULL OR locked_until < now())`,
    [olderThanSeconds],
  );
  return rowCount ?? 0;
}

/**
 * Password login. While the account or the client address is locked, throws AuthError 'locked' (retryAfterSeconds)
 * without looking at the password. A wrong password or unknown email throws 'invalid_credentials' (same time spent:
 * an unknown email is verified against a dummy hash) and counts a failure for the account and the address; the
 * failure that triggers a lock carries retryAfterSeconds. Success clears the account's counter (not the address's:
 * an attacker's own account must not reset the counter of the address they spray from) and sets last_login_at.
 * A disabled account with the right password throws 'forbidden'.
 */
export async function loginWithPassword(
  pool: pg.Pool,
  input: LoginInput,
  policy: LockoutPolicy = DEFAULT_LOCKOUT,
): Promise<{ userId: string }> {
  const email = normalizeEmail(input.email);
  const ip = input.ip?.trim().slice(0, 100) || null;
  const keys = lockoutKeys(email, ip);

  const attempt = await reserveLoginAttempt(pool, keys, policy);
  if (!attempt.allowed) {
    const retry = attempt.retryAfterSeconds;
    throw new AuthError('locked', `too many failed logins: try again in ${retry} s`, { retryAfterSeconds: retry });
  }

  const { rows } = await pool.query<{ id: string; password_hash: string | null; is_active: boolean }>(
    'SELECT id, password_hash, is_active FROM users WHERE email = $1',
    [email],
  );
  const user = rows[0];
  const ok = user?.password_hash
    ? await verifyPassword(user.password_hash, input.password)
    : await verifyDummy(input.password);
  if (!user || !ok) {
    const lockedFor = attempt.lockedForSecondsIfFailed;
    throw new AuthError(
      'invalid_credentials',
      'invalid email or password',
      lockedFor > 0 ? { retryAfterSeconds: lockedFor } : {},
    );
  }
  await settleLoginSuccess(pool, keys[0]!, keys.slice(1));
  if (!user.is_active) throw new AuthError('forbidden', 'this account is disabled');

  const rehash = passwordNeedsRehash(user.password_hash!) ? await hashPassword(input.password) : null;
  await pool.query(
    'UPDATE users SET last_login_at = now(), password_hash = coalesce($2, password_hash) WHERE id = $1',
    [user.id, rehash],
  );
  return { userId: user.id };
}

// ------------------------------------------------------------------------------------------------ profile

export interface AccountProfile {
  user: { id: string; username: string; email: string; emailVerified: boolean; walletAddress: string | null };
  /** The active organizations the user owns or is a member of, oldest first. */
  organizations: { id: string; name: string; slug: string; plan: string; role: Role; isPersonal: boolean }[];
}

/** The user and their organizations with their role in each; undefined when the account is gone or disabled. */
export async function accountProfile(db: Queryable, userId: string): Promise<AccountProfile | undefined> {
  const { rows: users } = await db.query<
    Pick<s.users.Selectable, 'id' | 'username' | 'email' | 'wallet_address'> & { email_verified: boolean }
  >(
    'SELECT id, username, email, email_verified_at IS NOT NULL AS email_verified, wallet_address FROM users WHERE id = $1 AND is_active',
    [userId],
  );
  const user = users[0];
  if (!user) return undefined;
  const { rows: orgs } = await db.query<
    Pick<s.organizations.Selectable, 'id' | 'name' | 'slug' | 'plan' | 'is_personal'> & { role: Role }
  >(
    `SELECT o.id, o.name, o.slug, o.plan, o.is_personal, CASE WHEN o.owner_id = $1 THEN 'owner' ELSE m.role END AS role
     FROM organizations o LEFT JOIN organization_members m ON m.organization_id = o.id AND m.user_id = $1
     WHERE o.is_active AND (o.owner_id = $1 OR m.user_id IS NOT NULL) ORDER BY o.created_at`,
    [userId],
  );
  return {
    user: {
      id: user.id,
      username: user.username,
      email: user.email,
      emailVerified: user.email_verified,
      walletAddress: user.wallet_address,
    },
    organizations: orgs.map((o) => ({
      id: o.id,
      name: o.name,
      slug: o.slug,
      plan: o.plan,
      role: o.role,
      isPersonal: o.is_personal,
    })),
  };
}

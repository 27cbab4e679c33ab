import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { createSiweMessage } from 'viem/siwe';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { ZodError } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { until } from '../helpers/wait.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';
import { AuthError } from '../../src/auth/errors.js';
import { loginWithPassword, registerUser } from '../../src/auth/accounts.js';
import { argon2Verifications, hashPassword, verifyPassword } from '../../src/auth/passwords.js';
import {
  issueRefreshToken,
  revokeAllForUser,
  revokeRefreshFamily,
  revokeRefreshToken,
  rotateRefreshToken,
} from '../../src/auth/tokens.js';
import {
  ApiKeyCache,
  createApiKey,
  listApiKeys,
  revokeApiKey,
  rotateApiKey,
  verifyApiKey,
  verifyApiKeyCached,
} from '../../src/auth/api-keys.js';
import { issueSiweNonce, verifySiwe } from '../../src/auth/siwe.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

async function authError(p: Promise<unknown>): Promise<AuthError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AuthError) return err;
    throw err;
  }
  throw new Error('expected an AuthError');
}

const tag = () => randomBytes(4).toString('hex');
const newIp = () => `10.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

async function newAccount(password = 'correct horse battery') {
  const t = tag();
  const reg = await registerUser(db.pool, { username: `u${t}`, email: `U${t}@Example.Test`, password });
  return { ...reg, password };
}

// ---------------------------------------------------------------------------------------------------- passwords

describe('passwords', () => {
  it('hashes with argon2id (OWASP parameters) and verifies', async () => {
    const hash = await hashPassword('s3cret-pass');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(hash, 's3cret-pass')).toBe(true);
    expect(await verifyPassword(hash, 's3cret-pasS')).toBe(false);
    expect(await verifyPassword('not a hash', 'x')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------- registration

describe('registerUser', () => {
  it('creates the user, a personal organization and its ownership', async () => {
    const t = tag();
    const reg = await registerUser(db.pool, {
      username: `Alice.${t}`,
      email: `  Alice.${t}@Example.TEST `,
      password: 'correct horse',
    });
    expect(reg.email).toBe(`alice.${t}@example.test`);
    const {
      rows: [user],
    } = await db.pool.query('SELECT * FROM users WHERE id = $1', [reg.userId]);
    expect(user).toMatchObject({
      username: `Alice.${t}`,
      email: `alice.${t}@example.test`,
      auth_method: 'password',
      wallet_address: null,
    });
    expect(user.password_hash).toMatch(/^\$argon2id\$/);
    expect(user.password_hash).not.toContain('correct horse');
    const {
      rows: [org],
    } = await db.pool.query('SELECT * FROM organizations WHERE id = $1', [reg.organizationId]);
    expect(org).toMatchObject({
      owner_id: reg.userId,
      is_personal: true,
      slug: `alice-${t}`,
      name: `Alice.${t}`,
      plan: 'free',
    });
  });

  it('makes the slug unique', async () => {
    const t = tag();
    const owner = await insertUser(db.pool);
    await insertOrganization(db.pool, owner, { slug: `bob-${t}` });
    await insertOrganization(db.pool, owner, { slug: `bob-${t}-2` });
    const reg = await registerUser(db.pool, {
      username: `bob_${t}`,
      email: `bob${t}@example.test`,
      password: 'password123',
    });
    const { rows } = await db.pool.query('SELECT slug FROM organizations WHERE id = $1', [reg.organizationId]);
    expect(rows[0].slug).toBe(`bob-${t}-3`);
  });

  it('is atomic: if the organization cannot be created, neither is the user', async () => {
    await db.pool.query(`
      CREATE FUNCTION test_refuse_org() RETURNS trigger AS $$
      BEGIN IF NEW.name LIKE 'refused%' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql;
      CREATE TRIGGER test_refuse_org BEFORE INSERT ON organizations FOR EACH ROW EXECUTE FUNCTION test_refuse_org();`);
    try {
      const t = tag();
      await expect(
        registerUser(db.pool, { username: `refused${t}`, email: `refused${t}@example.test`, password: 'password123' }),
      ).rejects.toThrow(/refused by test/);
      const { rows } = await db.pool.query('SELECT 1 FROM users WHERE email = $1', [`refused${t}@example.test`]);
      expect(rows).toHaveLength(0);
    } finally {
      await db.pool.query('DROP TRIGGER test_refuse_org ON organizations; DROP FUNCTION test_refuse_org();');
    }
  });

  it('refuses a taken email (any case) or username with conflict, saying which, and leaves nothing behind', async () => {
    const first = await newAccount();
    const users = await db.pool.query('SELECT count(*)::int AS n FROM users');
    const orgs = await db.pool.query('SELECT count(*)::int AS n FROM organizations');

    const byEmail = await authError(
      registerUser(db.pool, { username: `other${tag()}`, email: first.email.toUpperCase(), password: 'password123' }),
    );
    expect(byEmail.code).toBe('conflict');
    expect(byEmail.message).toMatch(/email/);
    const byName = await authError(
      registerUser(db.pool, {
        username: `u${first.email.slice(1, 9)}`,
        email: `x${tag()}@example.test`,
        password: 'password123',
      }),
    );
    expect(byName.code).toBe('conflict');
    expect(byName.message).toMatch(/username/);

    expect((await db.pool.query('SELECT count(*)::int AS n FROM users')).rows[0].n).toBe(users.rows[0].n);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM organizations')).rows[0].n).toBe(orgs.rows[0].n);
  });

  it('validates its input', async () => {
    await expect(
      registerUser(db.pool, { username: 'ab', email: 'a@example.test', password: 'password123' }),
    ).rejects.toBeInstanceOf(ZodError);
    await expect(
      registerUser(db.pool, { username: 'valid_name', email: 'not-an-email', password: 'password123' }),
    ).rejects.toBeInstanceOf(ZodError);
    await expect(
      registerUser(db.pool, { username: 'valid_name', email: 'a@example.test', password: 'short' }),
    ).rejects.toBeInstanceOf(ZodError);
    await expect(
      registerUser(db.pool, { username: '0xabc', email: 'a@example.test', password: 'password123' }),
    ).rejects.toBeInstanceOf(ZodError);
    await expect(
      registerUser(db.pool, { username: 'valid_name', email: 'a@wallet.invalid', password: 'password123' }),
    ).rejects.toBeInstanceOf(ZodError);
  });
});

// ---------------------------------------------------------------------------------------------------- login

describe('loginWithPassword', () => {
  it('logs in (email in any case) and records last_login_at', async () => {
    const acct = await newAccount();
    const { userId } = await loginWithPassword(db.pool, {
      email: acct.email.toUpperCase(),
      password: acct.password,
      ip: newIp(),
    });
    expect(userId).toBe(acct.userId);
    const { rows } = await db.pool.query('SELECT last_login_at FROM users WHERE id = $1', [userId]);
    expect(rows[0].last_login_at).toBeInstanceOf(Date);
  });

  it('refuses a wrong password or an unknown email with invalid_credentials', async () => {
    const acct = await newAccount();
    expect(
      (await authError(loginWithPassword(db.pool, { email: acct.email, password: 'wrong password', ip: newIp() })))
        .code,
    ).toBe('invalid_credentials');
    expect(
      (
        await authError(
          loginWithPassword(db.pool, { email: `nobody${tag()}@example.test`, password: 'x', ip: newIp() }),
        )
      ).code,
    ).toBe('invalid_credentials');
  });

  it('locks the account after 5 failures, even for the right password, with a doubling lock', async () => {
    const acct = await newAccount();
    const fail = () =>
      authError(loginWithPassword(db.pool, { email: acct.email, password: 'wrong password', ip: newIp() }));
    for (let i = 1; i <= 4; i++) {
      const err = await fail();
      expect(err.code).toBe('invalid_credentials');
      expect(err.retryAfterSeconds).toBeUndefined();
    }
    const fifth = await fail();
    expect(fifth.code).toBe('invalid_credentials');
    expect(fifth.retryAfterSeconds).toBeGreaterThan(25);
    expect(fifth.retryAfterSeconds).toBeLessThanOrEqual(30);

    const locked = await authError(
      loginWithPassword(db.pool, { email: acct.email, password: acct.password, ip: newIp() }),
    );
    expect(locked.code).toBe('locked');
    expect(locked.retryAfterSeconds).toBeGreaterThan(0);
    expect(locked.retryAfterSeconds).toBeLessThanOrEqual(30);
    // No failure counted while locked.
    const key = `user:${acct.email}`;
    expect((await db.pool.query('SELECT failures FROM login_failures WHERE key = $1', [key])).rows[0].failures).toBe(5);

    const expireLock = () =>
      db.pool.query(`UPDATE login_failures SET locked_until = now() - interval '1 second' WHERE key = $1`, [key]);
    await expireLock();
    expect((await fail()).retryAfterSeconds).toBeGreaterThan(55); // 6th: 60 s
    await expireLock();
    const seventh = await fail();
    expect(seventh.retryAfterSeconds).toBeGreaterThan(115); // 7th: 120 s
    expect(seventh.retryAfterSeconds).toBeLessThanOrEqual(120);
    await db.pool.query(
      `UPDATE login_failures SET failures = 40, locked_until = now() - interval '1 second' WHERE key = $1`,
      [key],
    );
    const capped = await fail();
    expect(capped.retryAfterSeconds).toBeGreaterThan(890);
    expect(capped.retryAfterSeconds).toBeLessThanOrEqual(900);
  });

  it('resets the account counter on success', async () => {
    const acct = await newAccount();
    const key = `user:${acct.email}`;
    for (let i = 0; i < 5; i++)
      await authError(loginWithPassword(db.pool, { email: acct.email, password: 'nope nope', ip: newIp() }));
    await db.pool.query(`UPDATE login_failures SET locked_until = now() - interval '1 second' WHERE key = $1`, [key]);
    await loginWithPassword(db.pool, { email: acct.email, password: acct.password, ip: newIp() });
    expect((await db.pool.query('SELECT 1 FROM login_failures WHERE key = $1', [key])).rows).toHaveLength(0);
    // Four new failures do not lock: the counter started again.
    for (let i = 0; i < 4; i++) {
      expect(
        (await authError(loginWithPassword(db.pool, { email: acct.email, password: 'nope nope', ip: newIp() })))
          .retryAfterSeconds,
      ).toBeUndefined();
    }
    await loginWithPassword(db.pool, { email: acct.email, password: acct.password, ip: newIp() });
  });

  it('locks a client address that fails 5 times, across accounts', async () => {
    const ip = newIp();
    const victims = await Promise.all([newAccount(), newAccount(), newAccount()]);
    for (let i = 0; i < 5; i++) {
      await authError(loginWithPassword(db.pool, { email: victims[i % 2]!.email, password: 'guess guess', ip }));
    }
    const err = await authError(
      loginWithPassword(db.pool, { email: victims[2]!.email, password: victims[2]!.password, ip }),
    );
    expect(err.code).toBe('locked');
    expect(err.retryAfterSeconds).toBeGreaterThan(0);
    // From elsewhere, the third account is fine.
    await loginWithPassword(db.pool, { email: victims[2]!.email, password: victims[2]!.password, ip: newIp() });
  });

  it('refuses a disabled account with forbidden (only with the right password)', async () => {
    const acct = await newAccount();
    await db.pool.query('UPDATE users SET is_active = false WHERE id = $1', [acct.userId]);
    expect(
      (await authError(loginWithPassword(db.pool, { email: acct.email, password: acct.password, ip: newIp() }))).code,
    ).toBe('forbidden');
    expect(
      (await authError(loginWithPassword(db.pool, { email: acct.email, password: 'wrong one', ip: newIp() }))).code,
    ).toBe('invalid_credentials');
  });
});

// ---------------------------------------------------------------------------------------------------- refresh tokens

describe('refresh tokens', () => {
  it('are opaque, stored as sha256 only, for 30 days', async () => {
    const user = await insertUser(db.pool);
    const issued = await issueRefreshToken(db.pool, user);
    expect(issued.refreshToken).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.pool.query('SELECT * FROM refresh_tokens WHERE family_id = $1', [issued.familyId]);
    expect(rows).toHaveLength(1);
    expect(rows[0].token_hash).toBe(createHash('sha256').update(issued.refreshToken).digest('hex'));
    expect(JSON.stringify(rows[0])).not.toContain(issued.refreshToken.slice(3));
    const days = (rows[0].expires_at.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  it('rotate within the family', async () => {
    const user = await insertUser(db.pool);
    const first = await issueRefreshToken(db.pool, user);
    const second = await rotateRefreshToken(db.pool, first.refreshToken);
    expect(second).toMatchObject({ userId: user, familyId: first.familyId });
    expect(second.refreshToken).not.toBe(first.refreshToken);
    const third = await rotateRefreshToken(db.pool, second.refreshToken);
    expect(third.familyId).toBe(first.familyId);
    const { rows } = await db.pool.query(
      'SELECT used_at IS NOT NULL AS used FROM refresh_tokens WHERE family_id = $1 ORDER BY created_at',
      [first.familyId],
    );
    expect(rows.map((r) => r.used)).toEqual([true, true, false]);
  });

  it('revoke the whole family when a used token comes back (the newest fails too)', async () => {
    const user = await insertUser(db.pool);
    const t1 = await issueRefreshToken(db.pool, user);
    const otherSession = await issueRefreshToken(db.pool, user);
    const t2 = await rotateRefreshToken(db.pool, t1.refreshToken);
    const t3 = await rotateRefreshToken(db.pool, t2.refreshToken);

    expect((await authError(rotateRefreshToken(db.pool, t1.refreshToken))).code).toBe('token_reused');
    expect((await authError(rotateRefreshToken(db.pool, t3.refreshToken))).code).toBe('token_reused');
    const { rows } = await db.pool.query('SELECT revoked_at FROM refresh_tokens WHERE family_id = $1', [t1.familyId]);
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.revoked_at !== null)).toBe(true);
    // Another login of the same user is untouched.
    await expect(rotateRefreshToken(db.pool, otherSession.refreshToken)).resolves.toMatchObject({ userId: user });
  });

  it('let only one of two concurrent rotations of a token succeed', async () => {
    const user = await insertUser(db.pool);
    const t = await issueRefreshToken(db.pool, user);
    const results = await Promise.allSettled([
      rotateRefreshToken(db.pool, t.refreshToken),
      rotateRefreshToken(db.pool, t.refreshToken),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 'token_reused' });
  });

  it('refuse expired, unknown and malformed tokens', async () => {
    const user = await insertUser(db.pool);
    const t = await issueRefreshToken(db.pool, user);
    await db.pool.query(`UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE family_id = $1`, [
      t.familyId,
    ]);
    expect((await authError(rotateRefreshToken(db.pool, t.refreshToken))).code).toBe('token_expired');
    expect((await authError(rotateRefreshToken(db.pool, `rt_${randomBytes(32).toString('base64url')}`))).code).toBe(
      'token_invalid',
    );
    expect((await authError(rotateRefreshToken(db.pool, 'rt_short'))).code).toBe('token_invalid');
  });

  it('are revoked per family, by token, or all for a user', async () => {
    const user = await insertUser(db.pool);
    const a = await issueRefreshToken(db.pool, user);
    const b = await issueRefreshToken(db.pool, user);
    const c = await issueRefreshToken(db.pool, user);
    expect(await revokeRefreshFamily(db.pool, a.familyId)).toBe(1);
    expect((await authError(rotateRefreshToken(db.pool, a.refreshToken))).code).toBe('token_reused');
    expect(await revokeRefreshToken(db.pool, b.refreshToken)).toBe(1);
    expect((await authError(rotateRefreshToken(db.pool, b.refreshToken))).code).toBe('token_reused');
    const c2 = await rotateRefreshToken(db.pool, c.refreshToken);
    expect(await revokeAllForUser(db.pool, user)).toBe(2); // c (used) and c2
    expect((await authError(rotateRefreshToken(db.pool, c2.refreshToken))).code).toBe('token_reused');
  });
});

// ---------------------------------------------------------------------------------------------------- API keys

describe('API keys', () => {
  let userId: string;
  let organizationId: string;
  beforeAll(async () => {
    ({ userId, organizationId } = await newAccount());
  });
  const create = (overrides: Partial<Parameters<typeof createApiKey>[1]> = {}) =>
    createApiKey(db.pool, {
      organizationId,
      createdBy: userId,
      name: 'ci',
      environment: 'live',
      keyType: 'standard',
      permissions: ['read', 'write'],
      ...overrides,
    });
  const code = async (p: Promise<unknown>) => (await authError(p)).code;

  it('are returned once in full and stored only as an argon2id hash', async () => {
    const created = await create({ rateLimitOverride: 40 });
    expect(created.key).toMatch(/^sk_live_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/);
    expect(created.prefix).toBe(created.key.slice(0, 16));
    const { rows } = await db.pool.query('SELECT * FROM api_keys WHERE id = $1', [created.id]);
    expect(rows[0].key_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(rows[0].prefix).toBe(created.prefix);
    const stored = JSON.stringify(rows[0]);
    expect(stored).not.toContain(created.key);
    expect(stored).not.toContain(created.key.slice(17));
    const test = await create({ environment: 'test' });
    expect(test.key).toMatch(/^sk_test_/);
  });

  it('verify, with their settings, and record last use', async () => {
    const created = await create({
      keyType: 'restricted',
      permissions: ['read', 'read', 'delete'],
      rateLimitOverride: 42,
    });
    const verified = await verifyApiKey(db.pool, created.key, '203.0.113.9');
    expect(verified).toEqual({
      keyId: created.id,
      organizationId,
      prefix: created.prefix,
      permissions: ['read', 'delete'],
      keyType: 'restricted',
      environment: 'live',
      rateLimitOverride: 42,
      expiresAt: null,
    });
    await until(async () => {
      const { rows } = await db.pool.query(
        'SELECT last_used_at, host(last_used_ip) AS ip FROM api_keys WHERE id = $1',
        [created.id],
      );
      return rows[0].last_used_at !== null && rows[0].ip === '203.0.113.9';
    });
  });

  it('refuse a wrong secret, an unknown prefix, a malformed, revoked or expired key with token_invalid', async () => {
    const created = await create();
    const wrongSecret = `${created.prefix}_${'A'.repeat(32)}`;
    expect(await code(verifyApiKey(db.pool, wrongSecret))).toBe('token_invalid');
    const unknown = `sk_live_ZZZZZZZZ_${created.key.slice(17)}`;
    expect(await code(verifyApiKey(db.pool, unknown))).toBe('token_invalid');
    expect(await code(verifyApiKey(db.pool, created.key.replace('sk_live_', 'sk_test_')))).toBe('token_invalid');
    expect(await code(verifyApiKey(db.pool, 'sk_live_short'))).toBe('token_invalid');

    const revoked = await create();
    await revokeApiKey(db.pool, { keyId: revoked.id, organizationId, revokedBy: userId, reason: 'leaked' });
    expect(await code(verifyApiKey(db.pool, revoked.key))).toBe('token_invalid');

    const expiring = await create({ expiresAt: new Date(Date.now() + 3_600_000) });
    await verifyApiKey(db.pool, expiring.key);
    await db.pool.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.id]);
    expect(await code(verifyApiKey(db.pool, expiring.key))).toBe('token_invalid');
  });

  it('spend an argon2 verification on an unknown prefix too', async () => {
    const created = await create();
    // Counted, not timed: an unknown prefix costs the same one verification as a known prefix with a wrong secret.
    const verifications = async (key: string) => {
      const before = argon2Verifications.value();
      await expect(verifyApiKey(db.pool, key)).rejects.toMatchObject({ code: 'token_invalid' });
      return argon2Verifications.value() - before;
    };
    expect(await verifications(`${created.prefix}_${'B'.repeat(32)}`)).toBe(1);
    expect(await verifications(`sk_live_YYYYYYYY_${'B'.repeat(32)}`)).toBe(1);
  });

  it('are refused for a deactivated organization', async () => {
    const owner = await insertUser(db.pool);
    const org = await insertOrganization(db.pool, owner);
    const created = await createApiKey(db.pool, {
      organizationId: org,
      createdBy: owner,
      name: 'k',
      environment: 'test',
      keyType: 'standard',
      permissions: ['read'],
    });
    await db.pool.query('UPDATE organizations SET is_active = false WHERE id = $1', [org]);
    expect(await code(verifyApiKey(db.pool, created.key))).toBe('forbidden');
  });

  it('validate creation input', async () => {
    await expect(create({ permissions: [] })).rejects.toBeInstanceOf(ZodError);
    await expect(create({ name: '' })).rejects.toBeInstanceOf(ZodError);
    await expect(create({ expiresAt: new Date(Date.now() - 1000) })).rejects.toBeInstanceOf(ZodError);
    await expect(create({ rateLimitOverride: 0 })).rejects.toBeInstanceOf(ZodError);
  });

  it('are listed without hashes', async () => {
    const owner = await insertUser(db.pool);
    const org = await insertOrganization(db.pool, owner);
    const a = await createApiKey(db.pool, {
      organizationId: org,
      createdBy: owner,
      name: 'a',
      environment: 'live',
      keyType: 'admin',
      permissions: ['admin'],
    });
    const b = await createApiKey(db.pool, {
      organizationId: org,
      createdBy: owner,
      name: 'b',
      environment: 'test',
      keyType: 'standard',
      permissions: ['read'],
    });
    await revokeApiKey(db.pool, { keyId: a.id, organizationId: org, revokedBy: owner, reason: 'done' });
    const all = await listApiKeys(db.pool, org);
    expect(all.map((k) => k.id).sort()).toEqual([a.id, b.id].sort());
    for (const k of all) {
      expect(k).not.toHaveProperty('key');
      expect(k).not.toHaveProperty('keyHash');
      expect(JSON.stringify(k)).not.toContain('argon2');
    }
    expect(all.find((k) => k.id === a.id)).toMatchObject({
      revocationReason: 'done',
      revokedBy: owner,
      keyType: 'admin',
    });
    expect((await listApiKeys(db.pool, org, { includeRevoked: false })).map((k) => k.id)).toEqual([b.id]);
  });

  it('are revoked only within their organization', async () => {
    const created = await create();
    const other = await insertOrganization(db.pool, userId);
    expect(
      await code(revokeApiKey(db.pool, { keyId: created.id, organizationId: other, revokedBy: userId, reason: null })),
    ).toBe('not_found');
    expect(await code(revokeApiKey(db.pool, { keyId: 'not-a-uuid', organizationId, revokedBy: userId }))).toBe(
      'not_found',
    );
    await verifyApiKey(db.pool, created.key);
  });

  it('rotate: a new key with the same settings, the old one revoked', async () => {
    const old = await create({
      name: 'deploy',
      keyType: 'restricted',
      permissions: ['read', 'delete'],
      rateLimitOverride: 7,
      environment: 'test',
    });
    const next = await rotateApiKey(db.pool, { keyId: old.id, organizationId, rotatedBy: userId });
    expect(next.key).toMatch(/^sk_test_/);
    expect(next).toMatchObject({
      name: 'deploy',
      keyType: 'restricted',
      permissions: ['read', 'delete'],
      rateLimitOverride: 7,
      environment: 'test',
    });
    expect(next.id).not.toBe(old.id);
    await expect(verifyApiKey(db.pool, next.key)).resolves.toMatchObject({ keyId: next.id });
    expect(await code(verifyApiKey(db.pool, old.key))).toBe('token_invalid');
    expect(await code(rotateApiKey(db.pool, { keyId: old.id, organizationId, rotatedBy: userId }))).toBe('conflict');
  });

  describe('cache', () => {
    const caches: ApiKeyCache[] = [];
    afterAll(async () => {
      await Promise.all(caches.map((c) => c.close()));
    });
    const newCache = async (listen: boolean, applicationName?: string) => {
      const cache = new ApiKeyCache({ applicationName, reconnectDelayMs: { min: 50, max: 200 } });
      caches.push(cache);
      if (listen) await cache.listenForRevocations(db.url);
      return cache;
    };

    it('serves repeated verifications from memory, never failures', async () => {
      const cache = await newCache(false);
      const created = await create();
      const first = await verifyApiKeyCached(db.pool, cache, created.key);
      expect(cache.get(created.key)).toEqual(first);
      // Even with the database out of reach, the cached verification answers.
      const brokenPool = { query: () => Promise.reject(new Error('no database')) } as unknown as pg.Pool;
      await expect(verifyApiKeyCached(brokenPool, cache, created.key)).resolves.toEqual(first);
      const wrong = `${created.prefix}_${'D'.repeat(32)}`;
      expect(await code(verifyApiKeyCached(db.pool, cache, wrong))).toBe('token_invalid');
      expect(cache.get(wrong)).toBeUndefined();
    });

    it('coalesces concurrent misses for one key into a single verification, failures included', async () => {
      const cache = await newCache(false);
      const created = await create();
      await verifyApiKeyCached(db.pool, cache, created.key);
      cache.clear();
      let lookups = 0;
      const countingPool = {
        query: (...args: Parameters<pg.Pool['query']>) => {
          if (typeof args[0] === 'string' && /SELECT[\s\S]*FROM api_keys/.test(args[0])) lookups++;
          return (db.pool.query as (...a: unknown[]) => unknown)(...args);
        },
      } as unknown as pg.Pool;
      const results = await Promise.all(
        Array.from({ length: 10 }, () => verifyApiKeyCached(countingPool, cache, created.key)),
      );
      expect(lookups).toBe(1);
      for (const r of results) expect(r).toEqual(results[0]);
      expect(cache.get(created.key)).toEqual(results[0]);

      // A failure is shared by the callers that overlapped it, never cached, and not left in flight.
      lookups = 0;
      const wrong = `${created.prefix}_${'E'.repeat(32)}`;
      const codes = await Promise.all(
        Array.from({ length: 5 }, () => code(verifyApiKeyCached(countingPool, cache, wrong))),
      );
      expect(codes).toEqual(Array(5).fill('token_invalid'));
      expect(lookups).toBe(1);
      expect(cache.get(wrong)).toBeUndefined();
      expect(await code(verifyApiKeyCached(countingPool, cache, wrong))).toBe('token_invalid');
      expect(lookups).toBe(2);

      // An invalidation during the flight: not cached, and later callers start a fresh verification.
      cache.clear();
      lookups = 0;
      const first = verifyApiKeyCached(countingPool, cache, created.key);
      cache.invalidatePrefix(created.prefix);
      const second = verifyApiKeyCached(countingPool, cache, created.key);
      await Promise.all([first, second]);
      expect(lookups).toBe(2);
      expect(cache.get(created.key)).toBeDefined(); // the second one started after the invalidation
    });

    it('drops a revoked key at once in every process (LISTEN api_key_changed)', async () => {
      const processA = await newCache(true);
      const processB = await newCache(true);
      const notListening = await newCache(false);
      const created = await create();
      for (const cache of [processA, processB, notListening]) await cache.verify(db.pool, created.key, '198.51.100.1');
      expect(processA.get(created.key)).toBeDefined();
      expect(processB.get(created.key)).toBeDefined();

      await revokeApiKey(db.pool, { keyId: created.id, organizationId, revokedBy: userId, reason: 'compromised' });
      await until(() => processA.get(created.key) === undefined && processB.get(created.key) === undefined, 2_000);
      expect(await code(processA.verify(db.pool, created.key))).toBe('token_invalid');
      expect(await code(processB.verify(db.pool, created.key))).toBe('token_invalid');
      // Without the notification the revoked key would still pass for up to a minute.
      await expect(notListening.verify(db.pool, created.key)).resolves.toMatchObject({ keyId: created.id });
    });

    it('reconnects when the LISTEN connection drops', async () => {
      const applicationName = `api-key-listener-${tag()}`;
      const cache = await newCache(true, applicationName);
      expect(cache.listening).toBe(true);
      const created = await create();
      await cache.verify(db.pool, created.key);
      expect(cache.get(created.key)).toBeDefined();

      await db.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [
        applicationName,
      ]);
      await until(() => !cache.listening);
      expect(cache.get(created.key)).toBeUndefined(); // emptied and bypassed while deaf
      await until(() => cache.listening);

      await cache.verify(db.pool, created.key);
      expect(cache.get(created.key)).toBeDefined();
      await revokeApiKey(db.pool, { keyId: created.id, organizationId, revokedBy: userId });
      await until(() => cache.get(created.key) === undefined, 2_000);
      expect(await code(cache.verify(db.pool, created.key))).toBe('token_invalid');
    });
  });
});

// ---------------------------------------------------------------------------------------------------- SIWE

describe('Sign-In with Ethereum', () => {
  const secret = randomBytes(32);
  const domain = 'api.example.test';

  function siweMessage(
    address: `0x${string}`,
    nonce: string,
    overrides: Partial<Parameters<typeof createSiweMessage>[0]> = {},
  ) {
    return createSiweMessage({
      address,
      chainId: 1,
      domain,
      nonce,
      uri: `https://${domain}/login`,
      version: '1',
      issuedAt: new Date(),
      statement: 'Sign in to the ERC-8004 API',
      ...overrides,
    });
  }

  async function signIn(account = privateKeyToAccount(generatePrivateKey()), nonce = issueSiweNonce(secret).nonce) {
    const message = siweMessage(account.address, nonce);
    const signature = await account.signMessage({ message });
    return { account, message, signature, nonce };
  }

  it('creates the wallet user and a personal organization on first sign-in, finds it afterwards', async () => {
    const { account, message, signature } = await signIn();
    const login = await verifySiwe(db.pool, { message, signature, domain, secret });
    expect(login).toMatchObject({ walletAddress: account.address, isNewUser: true });
    const address = account.address.toLowerCase();
    const {
      rows: [user],
    } = await db.pool.query('SELECT * FROM users WHERE id = $1', [login.userId]);
    expect(user).toMatchObject({
      auth_method: 'wallet',
      wallet_address: address,
      username: address,
      email: `${address}@wallet.invalid`,
      password_hash: null,
    });
    expect(user.last_login_at).toBeInstanceOf(Date);
    const { rows: orgs } = await db.pool.query('SELECT * FROM organizations WHERE owner_id = $1', [login.userId]);
    expect(orgs).toHaveLength(1);
    expect(orgs[0]).toMatchObject({ is_personal: true, slug: address });

    const again = await signIn(account);
    await expect(
      verifySiwe(db.pool, { message: again.message, signature: again.signature, domain, secret }),
    ).resolves.toEqual({ userId: login.userId, walletAddress: account.address, isNewUser: false });
  });

  it('accepts each nonce once', async () => {
    const { message, signature, nonce } = await signIn();
    await verifySiwe(db.pool, { message, signature, domain, secret });
    expect((await authError(verifySiwe(db.pool, { message, signature, domain, secret }))).code).toBe('nonce_used');
    const { rows } = await db.pool.query('SELECT expires_at FROM used_nonces WHERE nonce_hash = $1', [
      createHash('sha256').update(nonce).digest('hex'),
    ]);
    expect(rows).toHaveLength(1);
    const minutes = (rows[0].expires_at.getTime() - Date.now()) / 60_000;
    expect(minutes).toBeGreaterThan(4);
    expect(minutes).toBeLessThanOrEqual(5);
  });

  it('refuses a tampered message or a signature by another account, without burning the nonce', async () => {
    const { account, message, signature, nonce } = await signIn();
    const tampered = message.replace(`https://${domain}/login`, `https://${domain}/login?evil=1`);
    expect((await authError(verifySiwe(db.pool, { message: tampered, signature, domain, secret }))).code).toBe(
      'invalid_signature',
    );
    const impostor = privateKeyToAccount(generatePrivateKey());
    const impostorSignature = await impostor.signMessage({ message });
    expect((await authError(verifySiwe(db.pool, { message, signature: impostorSignature, domain, secret }))).code).toBe(
      'invalid_signature',
    );
    expect((await authError(verifySiwe(db.pool, { message, signature: '0x1234', domain, secret }))).code).toBe(
      'invalid_signature',
    );
    expect((await authError(verifySiwe(db.pool, { message: 'hello', signature, domain, secret }))).code).toBe(
      'invalid_signature',
    );
    // The genuine message still signs in with that nonce.
    await expect(verifySiwe(db.pool, { message, signature, domain, secret })).resolves.toMatchObject({
      walletAddress: account.address,
    });
    expect(nonce).toMatch(/^[a-z0-9]+$/);
  });

  it('refuses a message for another domain or chain', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const message = siweMessage(account.address, issueSiweNonce(secret).nonce, { domain: 'evil.example.test' });
    const signature = await account.signMessage({ message });
    expect((await authError(verifySiwe(db.pool, { message, signature, domain, secret }))).code).toBe(
      'invalid_signature',
    );
    const ok = await signIn(account);
    expect(
      (
        await authError(
          verifySiwe(db.pool, { message: ok.message, signature: ok.signature, domain, secret, chainId: 8453 }),
        )
      ).code,
    ).toBe('invalid_signature');
  });

  it('refuses an expired, forged or foreign nonce, and an expired message', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const expired = issueSiweNonce(secret, { now: () => Date.now() - 6 * 60_000 }).nonce;
    const a = await signIn(account, expired);
    expect(
      (await authError(verifySiwe(db.pool, { message: a.message, signature: a.signature, domain, secret }))).code,
    ).toBe('nonce_expired');

    const b = await signIn(account, randomBytes(36).toString('hex'));
    expect(
      (await authError(verifySiwe(db.pool, { message: b.message, signature: b.signature, domain, secret }))).code,
    ).toBe('token_invalid');
    const c = await signIn(account, issueSiweNonce(randomBytes(32)).nonce);
    expect(
      (await authError(verifySiwe(db.pool, { message: c.message, signature: c.signature, domain, secret }))).code,
    ).toBe('token_invalid');

    const message = siweMessage(account.address, issueSiweNonce(secret).nonce, {
      expirationTime: new Date(Date.now() - 1000),
    });
    const signature = await account.signMessage({ message });
    expect((await authError(verifySiwe(db.pool, { message, signature, domain, secret }))).code).toBe('token_expired');
    const { rows } = await db.pool.query('SELECT 1 FROM users WHERE wallet_address = $1', [
      account.address.toLowerCase(),
    ]);
    expect(rows).toHaveLength(0);
  });

  it('creates one user when a wallet signs in twice at once', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const [x, y] = await Promise.all([signIn(account), signIn(account)]);
    const [l1, l2] = await Promise.all([
      verifySiwe(db.pool, { message: x.message, signature: x.signature, domain, secret }),
      verifySiwe(db.pool, { message: y.message, signature: y.signature, domain, secret }),
    ]);
    expect(l1.userId).toBe(l2.userId);
    expect([l1.isNewUser, l2.isNewUser].sort()).toEqual([false, true]);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM organizations WHERE owner_id = $1', [
      l1.userId,
    ]);
    expect(rows[0].n).toBe(1);
  });
});

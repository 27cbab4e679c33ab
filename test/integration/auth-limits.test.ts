/**
 * Authentication under abuse (issue 10, items 4, 9, 12 and 19), on the production API wiring over HTTP and in-process:
 *  - unknown API keys cost at most one argon2 verification each (negative cache), and a flood from one address gets
 *    429 before any verification beyond its limit; refusals are counted in /metrics;
 *  - a request carrying any invalid credential is refused, whatever else it carries;
 *  - plan limits are per organization (keys and members share one bucket), an override may only lower a key's limit;
 *  - the client address comes from X-Forwarded-For only through a trusted proxy (TRUST_PROXY);
 *  - anonymous deep health checks share one health workflow;
 *  - concurrent wrong passwords cannot get more guesses through than the lockout allows.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { AUTH_LIMIT, bucketFor, RateLimiter, VERIFY_LIMIT } from '../../src/rate-limit.js';
import { loginWithPassword, registerUser } from '../../src/auth/accounts.js';
import { createApiKey } from '../../src/auth/api-keys.js';
import { setOrganizationPlan } from '../../src/organizations/plan.js';
import { CredentialGuard } from '../../src/auth/credential-guard.js';
import { AuthError } from '../../src/auth/errors.js';
import { code, startTestApi, type ApiCaller, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/wait.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { withWorker: true });
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

const tag = () => randomBytes(4).toString('hex');
let ipCounter = 0;
/** A fresh client address per use: the auth and verify limits are per address. */
const newIp = () => `198.18.${Math.floor(++ipCounter / 250)}.${(ipCounter % 250) + 1}`;
const bogusKey = () => `sk_live_${randomBytes(4).toString('hex')}_${randomBytes(16).toString('hex')}`;

async function account(plan?: 'free' | 'starter' | 'pro' | 'enterprise') {
  const session = await (
    await api.caller({}, newIp())
  ).auth.register({ username: `u${tag()}`, email: `u${tag()}@example.test`, password: 'correct horse battery' });
  if (plan) await db.pool.query('UPDATE organizations SET plan = $2 WHERE id = $1', [session.organizationId, plan]);
  return {
    ...session,
    organizationId: session.organizationId!,
    as: await api.caller({ authorization: `Bearer ${session.accessToken}` }, newIp()),
  };
}

/** A counter's value from GET /metrics (the sum over the samples whose labels include `labels`). */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${api.server.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const sample = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => sample[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

const rest = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
  fetch(`${api.server.url}/api/v1${path}`, { ...init, headers: { 'content-type': 'application/json', ...headers } });

describe('unknown API keys and the argon2 threadpool (item 4)', () => {
  it('verifies the same unknown key once: the second attempt is refused from memory, and both are counted', async () => {
    const ip = newIp();
    const key = bogusKey();
    const verificationsBefore = await metric('erc8004_argon2_verifications_total');
    const knownBefore = await metric('erc8004_auth_failures_total', { credential: 'api_key', reason: 'known_invalid' });
    const invalidBefore = await metric('erc8004_auth_failures_total', { credential: 'api_key', reason: 'invalid' });

    expect(await code((await api.caller({ 'x-api-key': key }, ip)).auth.me({}))).toBe('UNAUTHORIZED');
    expect(await code((await api.caller({ authorization: `Bearer ${key}` }, newIp())).auth.me({}))).toBe(
      'UNAUTHORIZED',
    );

    expect(await metric('erc8004_argon2_verifications_total')).toBe(verificationsBefore + 1);
    expect(await metric('erc8004_auth_failures_total', { credential: 'api_key', reason: 'invalid' })).toBe(
      invalidBefore + 1,
    );
    expect(await metric('erc8004_auth_failures_total', { credential: 'api_key', reason: 'known_invalid' })).toBe(
      knownBefore + 1,
    );

    // The same for an OAuth access token (also an argon2 hash).
    const token = `oat_${randomBytes(4).toString('hex')}_${randomBytes(16).toString('hex')}`;
    for (let i = 0; i < 2; i++)
      expect(await code((await api.caller({ authorization: `Bearer ${token}` }, newIp())).auth.me({}))).toBe(
        'UNAUTHORIZED',
      );
    expect(await metric('erc8004_argon2_verifications_total')).toBe(verificationsBefore + 2);
    expect(await metric('erc8004_auth_failures_total', { credential: 'oauth_token', reason: 'known_invalid' })).toBe(1);
  });

  it('answers a flood of made-up keys from one address with 429 beyond its limit, without verifying them', async () => {
    const owner = await account('enterprise');
    const good = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'good',
      permissions: ['read'],
    });
    const ip = newIp();
    // The limiter's clock stands still: the window a refusal is remembered for cannot end before the test's last
    // step, however slowly a loaded machine runs the flood.
    const limiter = api.services.rateLimiter;
    const frozen = new Date();
    api.services.rateLimiter = new RateLimiter(db.pool, { now: () => frozen });
    onTestFinished(() => {
      api.services.rateLimiter = limiter;
    });
    // The good key verifies once from this address (then it is known valid).
    expect(
      await code(
        (await api.caller({ 'x-api-key': good.key }, ip)).triggers.list({ organizationId: owner.organizationId }),
      ),
    ).toBe('OK');

    const flood = VERIFY_LIMIT.limit + 15;
    const verificationsBefore = await metric('erc8004_argon2_verifications_total');
    const rateLimitedBefore = await metric('erc8004_auth_failures_total', {
      credential: 'api_key',
      reason: 'rate_limited',
    });
    const results = await Promise.all(
      Array.from({ length: flood }, async () => code((await api.caller({ 'x-api-key': bogusKey() }, ip)).auth.me({}))),
    );
    const unauthorized = results.filter((r) => r === 'UNAUTHORIZED').length;
    const tooMany = results.filter((r) => r === 'TOO_MANY_REQUESTS').length;
    // One window: the limit less the good key's verification.
    expect(unauthorized).toBe(VERIFY_LIMIT.limit - 1);
    expect(tooMany).toBe(16);
    // Every refusal with 429 came without an argon2 verification; every 401 cost exactly one.
    expect(await metric('erc8004_argon2_verifications_total')).toBe(verificationsBefore + unauthorized);
    expect(await metric('erc8004_auth_failures_total', { credential: 'api_key', reason: 'rate_limited' })).toBe(
      rateLimitedBefore + tooMany,
    );

    // Once refused, the address is answered from memory until the window ends: more made-up keys cost no limiter
    // round trip (the shared counter stays where it is) and still get 429.
    const { bucket } = bucketFor({ kind: 'anonymous', ip }, 'verify');
    const counted = async () =>
      Number(
        (
          await db.pool.query('SELECT coalesce(sum(count), 0) AS n FROM rate_limit_counters WHERE bucket = $1', [
            bucket,
          ])
        ).rows[0].n,
      );
    const countedBefore = await counted();
    for (let i = 0; i < 5; i++)
      expect(await code((await api.caller({ 'x-api-key': bogusKey() }, ip)).auth.me({}))).toBe('TOO_MANY_REQUESTS');
    expect(await counted()).toBe(countedBefore);

    // Another address is not affected, and the good key still works from the flooded one, also once its cached
    // verification is gone (a key that verified recently is not subject to the address's verification limit).
    expect(await code((await api.caller({ 'x-api-key': bogusKey() }, newIp())).auth.me({}))).toBe('UNAUTHORIZED');
    api.services.apiKeys.clear();
    expect(
      await code(
        (await api.caller({ 'x-api-key': good.key }, ip)).triggers.list({ organizationId: owner.organizationId }),
      ),
    ).toBe('OK');
  });
});

describe('the verification gate: unknown credentials take one core at most (item 4)', () => {
  it('verifies made-up keys one at a time, however many addresses they come from', async () => {
    const gate = api.services.credentialGuard.unknownVerifications;
    gate.peakInFlight = 0;
    const verificationsBefore = await metric('erc8004_argon2_verifications_total');
    const results = await Promise.all(
      Array.from({ length: 12 }, async () =>
        code((await api.caller({ 'x-api-key': bogusKey() }, newIp())).auth.me({})),
      ),
    );
    expect(results).toEqual(Array(12).fill('UNAUTHORIZED'));
    expect(await metric('erc8004_argon2_verifications_total')).toBe(verificationsBefore + 12);
    expect(gate.peakInFlight).toBe(1);
  });

  it('refuses with 429 at once when its queue is full, verifying nothing for the refused, and a known key still works', async () => {
    const owner = await account('enterprise');
    const good = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'good',
      permissions: ['read'],
    });
    const usesGood = async () =>
      code(
        (await api.caller({ 'x-api-key': good.key }, newIp())).triggers.list({ organizationId: owner.organizationId }),
      );
    expect(await usesGood()).toBe('OK');

    const original = api.services.credentialGuard;
    api.services.credentialGuard = new CredentialGuard({ unknownVerificationQueue: 2 });
    try {
      // The gate's one slot is taken: two made-up keys may wait, the others are refused without waiting.
      let open!: () => void;
      const occupied = api.services.credentialGuard.unknownVerifications.run(
        () => new Promise<void>((resolve) => (open = resolve)),
      );
      const verificationsBefore = await metric('erc8004_argon2_verifications_total');
      const busyBefore = await metric('erc8004_auth_failures_total', { credential: 'api_key', reason: 'busy' });
      const pending = Array.from({ length: 6 }, async () =>
        code((await api.caller({ 'x-api-key': bogusKey() }, newIp())).auth.me({})),
      );
      await eventually(
        () => metric('erc8004_auth_failures_total', { credential: 'api_key', reason: 'busy' }),
        (n) => n === busyBefore + 4,
        10_000,
      );
      expect(await metric('erc8004_argon2_verifications_total')).toBe(verificationsBefore);
      open();
      await occupied;
      const results = await Promise.all(pending);
      expect(results.filter((r) => r === 'UNAUTHORIZED')).toHaveLength(2);
      expect(results.filter((r) => r === 'TOO_MANY_REQUESTS')).toHaveLength(4);
      expect(await metric('erc8004_argon2_verifications_total')).toBe(verificationsBefore + 2);

      // Over HTTP the refusal says when to retry.
      const held = api.services.credentialGuard.unknownVerifications.run(
        () => new Promise<void>((resolve) => (open = resolve)),
      );
      const queued = [1, 2].map(() => rest('/me', { 'x-api-key': bogusKey() }));
      await eventually(
        async () => api.services.credentialGuard.unknownVerifications.queued,
        (n) => n === 2,
        10_000,
      );
      const refusedOverHttp = await rest('/me', { 'x-api-key': bogusKey() });
      expect(refusedOverHttp.status).toBe(429);
      expect(refusedOverHttp.headers.get('retry-after')).toBe('1');
      open();
      await held;
      expect((await Promise.all(queued)).map((r) => r.status)).toEqual([401, 401]);

      // A key verified before does not wait behind unknown ones (its cached verification is gone, too).
      api.services.apiKeys.clear();
      api.services.credentialGuard.recordValid(good.key);
      const blocked = api.services.credentialGuard.unknownVerifications.run(
        () => new Promise<void>((resolve) => (open = resolve)),
      );
      expect(await usesGood()).toBe('OK');
      open();
      await blocked;
    } finally {
      api.services.credentialGuard = original;
    }
  });
});

describe('conflicting credentials (item 19)', () => {
  it('refuses a request that carries any invalid credential, whatever valid one it carries too', async () => {
    const owner = await account();
    const { key } = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'k',
      permissions: ['read'],
    });
    const other = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'k2',
      permissions: ['read'],
    });
    const jwt = owner.accessToken;
    const call = async (headers: Record<string, string>) =>
      code((await api.caller(headers, newIp())).triggers.list({ organizationId: owner.organizationId }));

    // Each valid credential alone works; the same key in both headers is one credential.
    expect(await call({ 'x-api-key': key })).toBe('OK');
    expect(await call({ authorization: `Bearer ${key}` })).toBe('OK');
    expect(await call({ authorization: `Bearer ${jwt}` })).toBe('OK');
    expect(await call({ 'x-api-key': key, authorization: `Bearer ${key}` })).toBe('OK');

    const refusals: Record<string, string>[] = [
      { 'x-api-key': key, authorization: 'Bearer not-a-token' }, // valid key, invalid bearer
      { 'x-api-key': key, authorization: `Bearer ${bogusKey()}` }, // valid key, unknown key as bearer
      { 'x-api-key': key, authorization: `Bearer ${jwt}x` }, // valid key, tampered access token
      { 'x-api-key': key, authorization: 'Basic dXNlcjpwYXNz' }, // valid key, another scheme
      { authorization: `Bearer ${key}`, 'x-api-key': bogusKey() }, // valid bearer key, unknown X-API-Key
      { authorization: `Bearer ${jwt}`, 'x-api-key': bogusKey() }, // valid access token, unknown X-API-Key
      { authorization: `Bearer ${jwt}`, 'x-api-key': 'garbage' }, // valid access token, malformed X-API-Key
      { authorization: `Bearer ${jwt}`, 'x-api-key': '' }, // valid access token, empty X-API-Key
      { authorization: `Bearer ${jwt}`, 'x-api-key': key }, // two valid credentials of different kinds
      { 'x-api-key': key, authorization: `Bearer ${other.key}` }, // two valid keys
    ];
    for (const headers of refusals)
      expect([JSON.stringify(headers), await call(headers)]).toEqual([JSON.stringify(headers), 'UNAUTHORIZED']);

    // The same over HTTP (REST), both header orders.
    const url = `/organizations/${owner.organizationId}/triggers`;
    expect((await rest(url, { 'x-api-key': key, authorization: 'Bearer not-a-token' })).status).toBe(401);
    expect((await rest(url, { authorization: 'Bearer not-a-token', 'x-api-key': key })).status).toBe(401);
    expect((await rest(url, { authorization: `Bearer ${jwt}`, 'x-api-key': 'sk_live_bad' })).status).toBe(401);
    expect((await rest(url, { 'x-api-key': key })).status).toBe(200);
  });
});

describe('plan limits per organization (item 9)', () => {
  it('refuses an override above the plan (400) and changes nothing', async () => {
    const owner = await account(); // free: 50 requests per hour
    const create = (rateLimitOverride: number) =>
      rest(
        `/organizations/${owner.organizationId}/api-keys`,
        { authorization: `Bearer ${owner.accessToken}` },
        {
          method: 'POST',
          body: JSON.stringify({ name: 'partner', permissions: ['read'], rateLimitOverride }),
        },
      );
    const above = await create(51);
    expect(above.status).toBe(400);
    expect(JSON.stringify(await above.json())).toContain('rateLimitOverride');
    expect((await create(1_000_000)).status).toBe(400);
    expect(
      (
        await db.pool.query('SELECT count(*)::int AS n FROM api_keys WHERE organization_id = $1', [
          owner.organizationId,
        ])
      ).rows[0].n,
    ).toBe(0);
    expect((await create(10)).status).toBe(200);
  });

  it('two keys of a free organization share its 50 requests per hour, and its members count there too', async () => {
    const owner = await account();
    const a = await owner.as.apiKeys.create({ organizationId: owner.organizationId, name: 'a', permissions: ['read'] });
    const b = await owner.as.apiKeys.create({ organizationId: owner.organizationId, name: 'b', permissions: ['read'] });
    const asA = await api.caller({ 'x-api-key': a.key }, newIp());
    const asB = await api.caller({ 'x-api-key': b.key }, newIp());
    const list = (c: ApiCaller) => code(c.triggers.list({ organizationId: owner.organizationId }));
    // The owner's two calls above (create key) already count for the organization.
    const results: string[] = [];
    for (let i = 0; i < 24; i++) results.push(await list(asA));
    for (let i = 0; i < 24; i++) results.push(await list(asB));
    expect(results.every((r) => r === 'OK')).toBe(true);
    expect(await list(asA)).toBe('TOO_MANY_REQUESTS');
    expect(await list(asB)).toBe('TOO_MANY_REQUESTS');
    expect(await code(owner.as.triggers.list({ organizationId: owner.organizationId }))).toBe('TOO_MANY_REQUESTS');
  });

  it("a key's lower override is its own limit and spends no more of its organization's requests", async () => {
    const owner = await account('starter'); // 100 per hour
    const low = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'low',
      permissions: ['read'],
      rateLimitOverride: 3,
    });
    const normal = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'normal',
      permissions: ['read'],
    });
    const asLow = await api.caller({ 'x-api-key': low.key }, newIp());
    const results: string[] = [];
    for (let i = 0; i < 6; i++) results.push(await code(asLow.triggers.list({ organizationId: owner.organizationId })));
    expect(results).toEqual(['OK', 'OK', 'OK', 'TOO_MANY_REQUESTS', 'TOO_MANY_REQUESTS', 'TOO_MANY_REQUESTS']);
    // Organization bucket: 2 key creations + 3 allowed calls of the low key; the refused ones spent nothing there.
    const res = await rest(`/organizations/${owner.organizationId}/triggers`, { 'x-api-key': normal.key });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit')).toBe('100');
    expect(res.headers.get('x-ratelimit-remaining')).toBe(String(100 - 6));
  });

  it("announces the organization's plan limit, and the new plan's once a plan change reaches the API process", async () => {
    const owner = await account(); // free
    const key = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'k',
      permissions: ['read'],
    });
    const url = `/organizations/${owner.organizationId}/triggers`;
    const limits = async () => {
      const byKey = await rest(url, { 'x-api-key': key.key });
      const byOwner = await rest(url, { authorization: `Bearer ${owner.accessToken}` });
      expect([byKey.status, byOwner.status]).toEqual([200, 200]);
      return { key: byKey.headers.get('x-ratelimit-limit'), owner: byOwner.headers.get('x-ratelimit-limit') };
    };
    expect(await limits()).toEqual({ key: '50', owner: '50' });
    await setOrganizationPlan(db.pool, owner.organizationId, 'pro', { source: 'test' });
    // The API process caches plans for 30 s (src/organizations/plan-cache.ts); the change's notification drops it now.
    expect(await eventually(limits, (l) => l.key === '500' && l.owner === '500', 3_000, 50)).toEqual({
      key: '500',
      owner: '500',
    });
  });

  it('a plan downgrade caps an override that was within the old plan', async () => {
    const owner = await account('pro');
    // Created in the domain directly: an API call would cache the organization's plan (30 s) in this process.
    const key = await createApiKey(db.pool, {
      organizationId: owner.organizationId,
      createdBy: owner.userId,
      name: 'big',
      environment: 'live',
      permissions: ['read'],
      rateLimitOverride: 400,
    });
    await db.pool.query(`UPDATE organizations SET plan = 'free' WHERE id = $1`, [owner.organizationId]);
    const res = await rest(`/organizations/${owner.organizationId}/triggers`, { 'x-api-key': key.key });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit')).toBe('50');
  });
});

describe('client address behind a proxy (TRUST_PROXY)', () => {
  const lastUsedIp = async (keyId: string) =>
    (await db.pool.query<{ ip: string | null }>('SELECT host(last_used_ip) AS ip FROM api_keys WHERE id = $1', [keyId]))
      .rows[0]!.ip;

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const owner = await account();
    const key = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'k',
      permissions: ['read'],
    });
    const res = await rest(`/organizations/${owner.organizationId}/triggers`, {
      'x-api-key': key.key,
      'x-forwarded-for': '203.0.113.50',
    });
    expect(res.status).toBe(200);
    expect(
      await eventually(
        () => lastUsedIp(key.id),
        (ip) => ip !== null,
      ),
    ).toBe('127.0.0.1');
  });

  it('takes the rightmost untrusted hop when the peer is a trusted proxy', async () => {
    const proxied = await startTestApi(db, { env: { TRUST_PROXY: '127.0.0.1/32' } });
    try {
      const owner = await account();
      const key = await owner.as.apiKeys.create({
        organizationId: owner.organizationId,
        name: 'k',
        permissions: ['read'],
      });
      const res = await fetch(`${proxied.server.url}/api/v1/organizations/${owner.organizationId}/triggers`, {
        // The client wrote 192.0.2.1 itself; the proxy appended the address it saw.
        headers: { 'x-api-key': key.key, 'x-forwarded-for': '192.0.2.1, 203.0.113.50' },
      });
      expect(res.status).toBe(200);
      expect(
        await eventually(
          () => lastUsedIp(key.id),
          (ip) => ip !== null,
        ),
      ).toBe('203.0.113.50');
    } finally {
      await proxied.close();
    }
  });
});

describe('the stricter sign-in limit, per client address, on every sign-in endpoint', () => {
  // Behind a trusted proxy, so that X-Forwarded-For names the client address each request comes from.
  let proxied: TestApi;
  const signInEmail = `signin${tag()}@example.test`;
  beforeAll(async () => {
    proxied = await startTestApi(db, { env: { TRUST_PROXY: '127.0.0.1/32' } });
    await registerUser(db.pool, { username: `signin${tag()}`, email: signInEmail, password: 'correct horse battery' });
  });
  afterAll(async () => {
    await proxied?.close();
  });

  const send = (ip: string, method: 'GET' | 'POST', path: string, body?: unknown) =>
    fetch(`${proxied.server.url}/api/v1${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const signIns: Record<string, { served: number; request: (ip: string) => Promise<Response> }> = {
    // Right passwords: wrong ones would meet the login lockout (5 per address) before the rate limit.
    login: {
      served: 200,
      request: (ip) => send(ip, 'POST', '/auth/login', { email: signInEmail, password: 'correct horse battery' }),
    },
    register: {
      served: 200,
      request: (ip) => {
        const t = tag();
        return send(ip, 'POST', '/auth/register', {
          username: `r${t}`,
          email: `r${t}@example.test`,
          password: 'correct horse battery',
        });
      },
    },
    'SIWE nonce': { served: 200, request: (ip) => send(ip, 'GET', '/auth/siwe/nonce') },
    'SIWE verify': {
      served: 401,
      request: (ip) =>
        send(ip, 'POST', '/auth/siwe/verify', {
          message: 'not an EIP-4361 message',
          signature: `0x${'11'.repeat(65)}`,
        }),
    },
  };
  const users = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]!.n;

  for (const [name, endpoint] of Object.entries(signIns)) {
    it(`${name}: the attempt after ${AUTH_LIMIT.limit} from one address gets 429 with Retry-After; another address is served`, async () => {
      const ip = newIp();
      const statuses: number[] = [];
      for (let i = 0; i < AUTH_LIMIT.limit; i++) statuses.push((await endpoint.request(ip)).status);
      expect(statuses).toEqual(Array(AUTH_LIMIT.limit).fill(endpoint.served));
      const usersBefore = await users();
      const refused = await endpoint.request(ip);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.headers.get('x-ratelimit-limit')).toBe(String(AUTH_LIMIT.limit));
      expect(await users()).toBe(usersBefore);
      // One budget per address for all sign-in endpoints: the others are refused from it too.
      for (const other of Object.values(signIns)) expect((await other.request(ip)).status).toBe(429);
      expect((await endpoint.request(newIp())).status).toBe(endpoint.served);
    });
  }
});

describe('GET /health?deep=true without credentials (item 12)', () => {
  it('shares one health workflow between callers instead of starting one per call', async () => {
    const deep = async () => {
      const res = await fetch(`${api.server.url}/health?deep=true`);
      expect(res.status).toBe(200);
      return ((await res.json()) as { checks: { worker: { status: string; detail: { workflowId: string } } } }).checks
        .worker;
    };
    const answers = await Promise.all(Array.from({ length: 8 }, deep));
    answers.push(await deep());
    const ids = new Set(answers.map((w) => w.detail.workflowId));
    expect(answers.every((w) => w.status === 'ok')).toBe(true);
    expect(ids.size).toBe(1);
    const [workflowId] = ids;
    const described = await api.services.temporal.workflow.getHandle(workflowId!).describe();
    expect(described.type).toBe('healthWorkflow');
  });
});

describe('login lockout under concurrent attempts (item 12)', () => {
  async function authCode(p: Promise<unknown>): Promise<string> {
    try {
      await p;
      return 'OK';
    } catch (err) {
      if (err instanceof AuthError) return err.code;
      throw err;
    }
  }

  it('lets no more wrong passwords through than the policy allows, however many arrive at once, and counts them all', async () => {
    const t = tag();
    const { email } = { email: `lock${t}@example.test` };
    await registerUser(db.pool, { username: `lock${t}`, email, password: 'correct horse battery' });
    const ip = newIp();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => authCode(loginWithPassword(db.pool, { email, password: 'wrong password', ip }))),
    );
    expect(results.filter((r) => r === 'invalid_credentials')).toHaveLength(5);
    expect(results.filter((r) => r === 'locked')).toHaveLength(15);
    const { rows } = await db.pool.query<{ key: string; failures: number; locked: boolean }>(
      'SELECT key, failures, locked_until > now() AS locked FROM login_failures WHERE key = ANY($1) ORDER BY key',
      [[`user:${email}`, `ip:${ip}`]],
    );
    expect(rows).toEqual([
      { key: `ip:${ip}`, failures: 5, locked: true },
      { key: `user:${email}`, failures: 5, locked: true },
    ]);
  });

  it('a successful login takes back its own count (the address is not charged for it)', async () => {
    const t = tag();
    const email = `ok${t}@example.test`;
    await registerUser(db.pool, { username: `ok${t}`, email, password: 'correct horse battery' });
    const ip = newIp();
    for (let i = 0; i < 2; i++)
      expect(await authCode(loginWithPassword(db.pool, { email, password: 'nope nope', ip }))).toBe(
        'invalid_credentials',
      );
    for (let i = 0; i < 5; i++)
      expect(await authCode(loginWithPassword(db.pool, { email, password: 'correct horse battery', ip }))).toBe('OK');
    const { rows } = await db.pool.query<{ key: string; failures: number; locked_until: Date | null }>(
      'SELECT key, failures, locked_until FROM login_failures WHERE key = ANY($1)',
      [[`user:${email}`, `ip:${ip}`]],
    );
    expect(rows).toEqual([{ key: `ip:${ip}`, failures: 2, locked_until: null }]);
  });
});

// Last: it spends the verification budget of 127.0.0.1, the address of every HTTP request of this file.
describe('unknown API keys over HTTP (item 4)', () => {
  it("a flooded address gets 429 with Retry-After, in each surface's shape, and a key it used before still works", async () => {
    const owner = await account('enterprise');
    const good = await owner.as.apiKeys.create({
      organizationId: owner.organizationId,
      name: 'good over http',
      permissions: ['read'],
    });
    const triggers = `/organizations/${owner.organizationId}/triggers`;
    expect((await rest(triggers, { 'x-api-key': good.key })).status).toBe(200);
    // HTTP requests come from 127.0.0.1: spend its verification budget until a refusal (within two windows at most).
    let refused: Response | undefined;
    for (let i = 0; i <= 2 * VERIFY_LIMIT.limit && !refused; i++) {
      const res = await rest('/me', { 'x-api-key': bogusKey() });
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(401);
    }
    expect(refused?.status).toBe(429);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused!.json()) as { message?: string }).message).toMatch(/too many credential verifications/);

    // From now on the address is refused before routing, in the shape of the surface asked.
    const again = await rest('/me', { 'x-api-key': bogusKey() });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await again.json()).toMatchObject({
      code: 'TOO_MANY_REQUESTS',
      message: expect.stringMatching(/too many credential verifications/),
    });
    const overTrpc = await fetch(`${api.server.url}/trpc/auth.me`, {
      headers: { authorization: `Bearer ${bogusKey()}` },
    });
    expect(overTrpc.status).toBe(429);
    expect(await overTrpc.json()).toMatchObject({
      error: {
        message: expect.stringMatching(/too many credential verifications/),
        data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429 },
      },
    });
    // A key this address used successfully is not held up by the flood.
    api.services.apiKeys.clear();
    expect((await rest(triggers, { 'x-api-key': good.key })).status).toBe(200);
  });
});

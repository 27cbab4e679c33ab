import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ANONYMOUS_LIMIT_PER_HOUR,
  API_WINDOW_SECONDS,
  AUTH_LIMIT,
  RateLimiter,
  bucketFor,
  clientIpKey,
  keyOverrideBucket,
  maxRateLimitOverride,
  VERIFY_LIMIT,
  rateLimitHeaders,
  type RateLimitDecision,
} from '../../src/rate-limit.js';
import { DEFAULT_PLANS } from '../../src/billing/plans.js';
import { createPool } from '../../src/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';

let db: TestDatabase;
// A second pool on the same database: what a second API process would have.
let otherPool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  otherPool = createPool(db.url, testLogger, { max: 5, applicationName: 'erc8004-test-2' });
});

afterAll(async () => {
  await otherPool?.end();
  await db?.drop();
});

const HOUR = 3600_000;
/** 2030-01-01T00:00:00Z, on an hour boundary. */
const T0 = Date.UTC(2030, 0, 1, 0, 0, 0);

/** A mutable injected clock. */
function clock(startMs: number) {
  let ms = startMs;
  return {
    now: () => new Date(ms),
    set: (v: number) => void (ms = v),
    advance: (d: number) => void (ms += d),
  };
}

const bucket = (tag = 'test') => `${tag}:${randomUUID()}`;

async function storedCount(name: string): Promise<number> {
  const { rows } = await db.pool.query<{ total: string | null }>(
    'SELECT SUM(count)::text AS total FROM rate_limit_counters WHERE bucket = $1',
    [name],
  );
  return Number(rows[0]?.total ?? 0);
}

async function consumeN(limiter: RateLimiter, name: string, limit: number, windowSeconds: number, n: number) {
  const out: RateLimitDecision[] = [];
  for (let i = 0; i < n; i++) out.push(await limiter.consume(name, limit, windowSeconds));
  return out;
}

describe('bucketFor', () => {
  it('uses the plan limits per hour', () => {
    const perHour = Object.fromEntries(Object.entries(DEFAULT_PLANS).map(([plan, p]) => [plan, p.requestsPerHour]));
    expect(perHour).toEqual({ free: 50, starter: 100, pro: 500, enterprise: 2000 });
    for (const plan of ['free', 'starter', 'pro', 'enterprise'] as const) {
      // Per organization: every key of the organization shares this bucket.
      expect(bucketFor({ kind: 'apiKey', keyId: 'k1', organizationId: 'o1', override: null, plan }, 'api')).toEqual({
        bucket: 'api:org:o1',
        limit: DEFAULT_PLANS[plan].requestsPerHour,
        windowSeconds: 3600,
      });
    }
  });

  it('gives an API key its own bucket only for an override below the plan (an override never raises the limit)', () => {
    const key = (override: number | null, plan: 'free' | 'enterprise') => ({
      kind: 'apiKey' as const,
      keyId: 'k1',
      organizationId: 'o1',
      override,
      plan,
    });
    expect(keyOverrideBucket(key(7, 'enterprise'))).toEqual({ bucket: 'api:key:k1', limit: 7, windowSeconds: 3600 });
    expect(bucketFor(key(7, 'enterprise'), 'api')).toEqual({ bucket: 'api:org:o1', limit: 2000, windowSeconds: 3600 });
    expect(keyOverrideBucket(key(10_000, 'free'))).toBeUndefined();
    expect(bucketFor(key(10_000, 'free'), 'api').limit).toBe(50);
    expect(keyOverrideBucket(key(50, 'free'))).toBeUndefined();
    expect(keyOverrideBucket(key(null, 'free'))).toBeUndefined();
    expect(maxRateLimitOverride('starter')).toBe(100);
  });

  it('counts JWT requests per organization, or per user without one', () => {
    expect(bucketFor({ kind: 'user', userId: 'u1', organizationId: 'o1', plan: 'pro' }, 'api')).toEqual({
      bucket: 'api:org:o1',
      limit: 500,
      windowSeconds: API_WINDOW_SECONDS,
    });
    // Two members of one organization share its counter.
    expect(bucketFor({ kind: 'user', userId: 'u2', organizationId: 'o1', plan: 'pro' }, 'api').bucket).toBe(
      'api:org:o1',
    );
    expect(bucketFor({ kind: 'user', userId: 'u1', plan: 'free' }, 'api')).toEqual({
      bucket: 'api:user:u1',
      limit: 50,
      windowSeconds: 3600,
    });
  });

  it('limits anonymous requests per IP and authentication endpoints per IP, more strictly', () => {
    expect(bucketFor({ kind: 'anonymous', ip: '203.0.113.9' }, 'api')).toEqual({
      bucket: 'api:ip:203.0.113.9',
      limit: ANONYMOUS_LIMIT_PER_HOUR,
      windowSeconds: 3600,
    });
    expect(bucketFor({ kind: 'anonymous', ip: '203.0.113.9' }, 'auth')).toEqual({
      bucket: 'auth:ip:203.0.113.9',
      limit: AUTH_LIMIT.limit,
      windowSeconds: AUTH_LIMIT.windowSeconds,
    });
    expect(AUTH_LIMIT).toEqual({ limit: 10, windowSeconds: 900 });
    expect(() =>
      bucketFor({ kind: 'apiKey', keyId: 'k1', organizationId: 'o1', override: null, plan: 'free' }, 'auth'),
    ).toThrow(/per client IP/);
    expect(bucketFor({ kind: 'anonymous', ip: '203.0.113.9' }, 'verify')).toEqual({
      bucket: 'verify:ip:203.0.113.9',
      limit: VERIFY_LIMIT.limit,
      windowSeconds: VERIFY_LIMIT.windowSeconds,
    });
  });

  it('normalises client addresses (IPv4-mapped, IPv6 per /64, garbage)', () => {
    expect(clientIpKey('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(clientIpKey('::FFFF:C633:6407')).toBe('198.51.100.7');
    expect(clientIpKey(' 198.51.100.7 ')).toBe('198.51.100.7');
    expect(clientIpKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientIpKey('[2001:0db8:0001:0002:ffff:0:0:9]')).toBe('2001:db8:1:2::/64');
    expect(clientIpKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientIpKey('::1')).toBe('0:0:0:0::/64');
    expect(clientIpKey('not an ip')).toBe('unknown');
    expect(clientIpKey('')).toBe('unknown');
  });
});

describe('rateLimitHeaders', () => {
  it('sets X-RateLimit-* always and Retry-After only on refusal', () => {
    const resetAt = new Date(T0 + HOUR);
    expect(rateLimitHeaders({ allowed: true, limit: 50, remaining: 49, resetAt, retryAfterSeconds: 0 })).toEqual({
      'X-RateLimit-Limit': '50',
      'X-RateLimit-Remaining': '49',
      'X-RateLimit-Reset': String((T0 + HOUR) / 1000),
    });
    expect(rateLimitHeaders({ allowed: false, limit: 50, remaining: 0, resetAt, retryAfterSeconds: 12 })).toEqual({
      'X-RateLimit-Limit': '50',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': String((T0 + HOUR) / 1000),
      'Retry-After': '12',
    });
  });
});

describe('RateLimiter', () => {
  it('allows exactly `limit` requests, then refuses with Retry-After and headers', async () => {
    const c = clock(T0 + 10 * 60_000 + 500); // 00:10:00.5
    const limiter = new RateLimiter(db.pool, { now: c.now });
    const name = bucket();

    const allowed = await consumeN(limiter, name, 5, 3600, 5);
    expect(allowed.map((d) => d.allowed)).toEqual([true, true, true, true, true]);
    expect(allowed.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0]);
    for (const d of allowed) {
      expect(d.retryAfterSeconds).toBe(0);
      expect(d.resetAt.toISOString()).toBe(new Date(T0 + HOUR).toISOString());
    }
    expect(rateLimitHeaders(allowed[0]!)).toEqual({
      'X-RateLimit-Limit': '5',
      'X-RateLimit-Remaining': '4',
      'X-RateLimit-Reset': String((T0 + HOUR) / 1000),
    });

    const refused = await limiter.consume(name, 5, 3600);
    expect(refused).toMatchObject({ allowed: false, limit: 5, remaining: 0 });
    // 49 min 59.5 s to the end of the hour, rounded up.
    expect(refused.retryAfterSeconds).toBe(3000);
    expect(rateLimitHeaders(refused)).toEqual({
      'X-RateLimit-Limit': '5',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': String((T0 + HOUR) / 1000),
      'Retry-After': '3000',
    });

    // Still refused a little later, with a shorter wait; never less than one second.
    c.set(T0 + HOUR - 200);
    const late = await limiter.consume(name, 5, 3600);
    expect(late).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
  });

  it('starts a fresh window when the hour changes', async () => {
    const c = clock(T0 + 59 * 60_000);
    const limiter = new RateLimiter(db.pool, { now: c.now });
    const name = bucket();
    await consumeN(limiter, name, 3, 3600, 3);
    expect((await limiter.consume(name, 3, 3600)).allowed).toBe(false);

    c.set(T0 + HOUR); // exactly on the boundary: the next window
    const fresh = await consumeN(limiter, name, 3, 3600, 4);
    expect(fresh.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(fresh[0]!.resetAt.toISOString()).toBe(new Date(T0 + 2 * HOUR).toISOString());

    c.advance(HOUR + 17 * 60_000);
    expect(await limiter.consume(name, 3, 3600)).toMatchObject({ allowed: true, remaining: 2 });

    // One row per window, aligned to the epoch. (The refusal after the 3rd request of a window was answered from
    // the in-process cache, the window being known full: not stored.)
    const { rows } = await db.pool.query<{ window_start: Date; count: number }>(
      'SELECT window_start, count FROM rate_limit_counters WHERE bucket = $1 ORDER BY window_start',
      [name],
    );
    expect(rows.map((r) => [r.window_start.toISOString(), r.count])).toEqual([
      [new Date(T0).toISOString(), 3],
      [new Date(T0 + HOUR).toISOString(), 3],
      [new Date(T0 + 2 * HOUR).toISOString(), 1],
    ]);
  });

  it('uses the database clock when none is injected', async () => {
    const limiter = new RateLimiter(db.pool);
    const before = Date.now();
    const d = await limiter.consume(bucket(), 2, 3600);
    expect(d).toMatchObject({ allowed: true, remaining: 1, retryAfterSeconds: 0 });
    expect(d.resetAt.getTime() % HOUR).toBe(0);
    expect(d.resetAt.getTime()).toBeGreaterThan(before - 5_000);
    expect(d.resetAt.getTime()).toBeLessThanOrEqual(before + HOUR + 5_000);
  });

  it('counts refused requests too (hammering resets nothing)', async () => {
    const c = clock(T0 + 30 * 60_000);
    const limiter = new RateLimiter(db.pool, { now: c.now, maxCachedBuckets: 0 });
    const name = bucket();
    await consumeN(limiter, name, 2, 3600, 10);
    expect(await storedCount(name)).toBe(10);
    c.advance(20 * 60_000);
    expect(await limiter.consume(name, 2, 3600)).toMatchObject({ allowed: false, retryAfterSeconds: 600 });
  });

  it('charges a cost greater than one and rejects invalid arguments', async () => {
    const limiter = new RateLimiter(db.pool, { now: () => new Date(T0) });
    const name = bucket();
    expect(await limiter.consume(name, 10, 3600, 4)).toMatchObject({ allowed: true, remaining: 6 });
    expect(await limiter.consume(name, 10, 3600, 6)).toMatchObject({ allowed: true, remaining: 0 });
    expect(await limiter.consume(name, 10, 3600, 1)).toMatchObject({ allowed: false, remaining: 0 });
    await expect(limiter.consume(name, 0, 3600)).rejects.toThrow(RangeError);
    await expect(limiter.consume(name, 10, 0)).rejects.toThrow(RangeError);
    await expect(limiter.consume(name, 10, 3600, 0)).rejects.toThrow(RangeError);
    await expect(limiter.consume(name, 1.5, 3600)).rejects.toThrow(RangeError);
    await expect(limiter.consume('', 10, 3600)).rejects.toThrow(TypeError);
  });

  it("applies an API key's lower override in its own bucket, and the plan in its organization's", async () => {
    const limiter = new RateLimiter(db.pool, { now: () => new Date(T0 + 5_000) });
    const subject = {
      kind: 'apiKey' as const,
      keyId: randomUUID(),
      organizationId: randomUUID(),
      override: 3,
      plan: 'starter' as const,
    };
    const own = keyOverrideBucket(subject)!;
    const results = await consumeN(limiter, own.bucket, own.limit, own.windowSeconds, 5);
    expect(results.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(results[0]!.limit).toBe(3);

    // The organization's bucket is a different counter, with the plan's limit.
    const shared = bucketFor(subject, 'api');
    expect(shared.bucket).not.toBe(own.bucket);
    const next = await limiter.consume(shared.bucket, shared.limit, shared.windowSeconds);
    expect(next).toMatchObject({ allowed: true, limit: 100, remaining: 99 });
  });

  it('limits anonymous clients per IP (IPv6 per /64) and authentication endpoints per IP', async () => {
    const c = clock(T0 + 2 * HOUR);
    const limiter = new RateLimiter(db.pool, { now: c.now });
    const ip = `198.51.${Math.floor(Math.random() * 255)}.${Math.floor(Math.random() * 255)}`;

    const anon = bucketFor({ kind: 'anonymous', ip }, 'api');
    const anonResults = await consumeN(
      limiter,
      anon.bucket,
      anon.limit,
      anon.windowSeconds,
      ANONYMOUS_LIMIT_PER_HOUR + 1,
    );
    expect(anonResults.filter((d) => d.allowed)).toHaveLength(ANONYMOUS_LIMIT_PER_HOUR);
    expect(anonResults.at(-1)!.allowed).toBe(false);

    // The authentication bucket of the same address is separate, stricter and shorter.
    const auth = bucketFor({ kind: 'anonymous', ip: `::ffff:${ip}` }, 'auth');
    expect(auth.bucket).toBe(`auth:ip:${ip}`);
    const authResults = await consumeN(limiter, auth.bucket, auth.limit, auth.windowSeconds, 12);
    expect(authResults.filter((d) => d.allowed)).toHaveLength(10);
    expect(authResults.at(-1)!).toMatchObject({ allowed: false, retryAfterSeconds: 15 * 60 });
    expect(authResults[0]!.resetAt.toISOString()).toBe(new Date(T0 + 2 * HOUR + 15 * 60_000).toISOString());
    c.advance(15 * 60_000);
    expect((await limiter.consume(auth.bucket, auth.limit, auth.windowSeconds)).allowed).toBe(true);
    // ...while the hourly anonymous bucket is still exhausted.
    expect((await limiter.consume(anon.bucket, anon.limit, anon.windowSeconds)).allowed).toBe(false);

    // Addresses in one IPv6 /64 share a bucket; another /64 does not.
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    const a = bucketFor({ kind: 'anonymous', ip: `${prefix}::1` }, 'auth');
    const b = bucketFor({ kind: 'anonymous', ip: `${prefix}:dead:beef:0:2` }, 'auth');
    const other = bucketFor({ kind: 'anonymous', ip: `${prefix.slice(0, -1)}2::1` }, 'auth');
    expect(a.bucket).toBe(b.bucket);
    expect(other.bucket).not.toBe(a.bucket);
    await consumeN(limiter, a.bucket, a.limit, a.windowSeconds, 10);
    expect((await limiter.consume(b.bucket, b.limit, b.windowSeconds)).allowed).toBe(false);
    expect((await limiter.consume(other.bucket, other.limit, other.windowSeconds)).allowed).toBe(true);
  });

  it('is exact under concurrent requests (Promise.all)', async () => {
    const limiter = new RateLimiter(db.pool, { now: () => new Date(T0 + 3 * HOUR) });
    const name = bucket();
    const results = await Promise.all(Array.from({ length: 120 }, () => limiter.consume(name, 37, 3600)));
    const allowed = results.filter((d) => d.allowed);
    expect(allowed).toHaveLength(37);
    // Every allowed request saw a different count: remaining runs 36..0 with no duplicates.
    expect(allowed.map((d) => d.remaining).sort((x, y) => x - y)).toEqual(Array.from({ length: 37 }, (_, i) => i));
    for (const d of results.filter((r) => !r.allowed)) expect(d.retryAfterSeconds).toBe(3600);
    expect(await storedCount(name)).toBe(120);
  });

  it('coalesces concurrent requests for a bucket into few statements, each request keeping its own position', async () => {
    let statements = 0;
    const counting = new Proxy(db.pool, {
      get(target, prop, receiver) {
        if (prop === 'query')
          return (...args: unknown[]) => (statements++, (target.query as (...a: unknown[]) => unknown)(...args));
        return Reflect.get(target, prop, receiver);
      },
    });
    const limiter = new RateLimiter(counting, { now: () => new Date(T0 + 3 * HOUR) });
    const name = bucket();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => limiter.consume(name, 60, 3600, i % 3 === 0 ? 2 : 1)),
    );
    // 134 units in all: the first requests in arrival order that fit within 60 are allowed, positions never repeat.
    const positions = results.filter((d) => d.allowed).map((d) => 60 - d.remaining);
    expect(new Set(positions).size).toBe(positions.length);
    expect(Math.max(...positions)).toBeLessThanOrEqual(60);
    expect(await storedCount(name)).toBe(134);
    expect(statements).toBeGreaterThanOrEqual(2);
    expect(statements).toBeLessThan(10);
    // A failing statement fails every request of its batch, and the bucket recovers afterwards.
    let down = true;
    const flaky = new Proxy(db.pool, {
      get(target, prop, receiver) {
        if (prop === 'query')
          return (...args: unknown[]) =>
            down ? Promise.reject(new Error('database down')) : (target.query as (...a: unknown[]) => unknown)(...args);
        return Reflect.get(target, prop, receiver);
      },
    });
    const flakyLimiter = new RateLimiter(flaky, { now: () => new Date(T0 + 3 * HOUR) });
    const flakyBucket = bucket();
    const failed = await Promise.allSettled(
      Array.from({ length: 5 }, () => flakyLimiter.consume(flakyBucket, 5, 3600)),
    );
    expect(failed.map((r) => r.status)).toEqual(Array(5).fill('rejected'));
    down = false;
    expect(await flakyLimiter.consume(flakyBucket, 5, 3600)).toMatchObject({ allowed: true, remaining: 4 });
  });

  it('shares one limit exactly between two processes (two pools)', async () => {
    const at = () => new Date(T0 + 4 * HOUR + 123);
    const first = new RateLimiter(db.pool, { now: at });
    const second = new RateLimiter(otherPool, { now: at });
    const name = bucket('shared');
    const results = await Promise.all(
      Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? first : second).consume(name, 50, 3600)),
    );
    expect(results.filter((d) => d.allowed)).toHaveLength(50);
    const bySide = [0, 1].map((side) => results.filter((d, i) => i % 2 === side && d.allowed).length);
    expect(bySide[0]! + bySide[1]!).toBe(50);
    expect(bySide[0]).toBeGreaterThan(0);
    expect(bySide[1]).toBeGreaterThan(0);

    // Both now refuse, whichever served the last allowed request.
    expect((await first.consume(name, 50, 3600)).allowed).toBe(false);
    expect((await second.consume(name, 50, 3600)).allowed).toBe(false);
  });

  it('shares the limit between processes without the clock injected (database clock)', async () => {
    const first = new RateLimiter(db.pool);
    const second = new RateLimiter(otherPool);
    const name = bucket('shared-db-clock');
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? first : second).consume(name, 20, 3600)),
    );
    // A window boundary could fall inside this test; then both windows are exact on their own.
    const { rows } = await db.pool.query<{ count: number }>('SELECT count FROM rate_limit_counters WHERE bucket = $1', [
      name,
    ]);
    const expected = rows.reduce((sum, r) => sum + Math.min(20, r.count), 0);
    expect(results.filter((d) => d.allowed)).toHaveLength(expected);
    expect(rows.reduce((sum, r) => sum + r.count, 0)).toBe(30);
  });

  it('skips the database for a bucket known to be over its limit until its window ends, and only to refuse', async () => {
    const c = clock(T0 + 5 * HOUR + 45 * 60_000);
    const cached = new RateLimiter(db.pool, { now: c.now });
    const name = bucket('cached');
    await consumeN(cached, name, 3, 3600, 3); // count reaches the limit: known to be full
    expect(await storedCount(name)).toBe(3);

    const refusals = await consumeN(cached, name, 3, 3600, 5);
    for (const d of refusals)
      expect(d).toMatchObject({ allowed: false, remaining: 0, limit: 3, retryAfterSeconds: 900 });
    expect(rateLimitHeaders(refusals[0]!)['Retry-After']).toBe('900');
    expect(await storedCount(name)).toBe(3); // answered in process

    // Another process without that knowledge asks the database and is refused too (and counted).
    const other = new RateLimiter(otherPool, { now: c.now });
    expect((await other.consume(name, 3, 3600)).allowed).toBe(false);
    expect(await storedCount(name)).toBe(4);

    // A higher limit (e.g. a new override) is not answered from the cache.
    expect(await cached.consume(name, 10, 3600)).toMatchObject({ allowed: true, remaining: 5 });

    // When the window ends the cache is forgotten and the new window is counted in the database.
    c.advance(15 * 60_000);
    expect(await cached.consume(name, 3, 3600)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await storedCount(name)).toBe(6);
  });

  it('keeps the cache bounded', async () => {
    const limiter = new RateLimiter(db.pool, { now: () => new Date(T0 + 6 * HOUR), maxCachedBuckets: 2 });
    const names = [bucket('b'), bucket('b'), bucket('b')];
    for (const n of names) await limiter.consume(n, 1, 3600); // each full: cached, the first evicted by the third
    // Newest first, so that re-caching the evicted one cannot evict the others before they are checked.
    for (const n of [...names].reverse()) expect((await limiter.consume(n, 1, 3600)).allowed).toBe(false);
    expect(await storedCount(names[2]!)).toBe(1); // cached
    expect(await storedCount(names[1]!)).toBe(1); // cached
    expect(await storedCount(names[0]!)).toBe(2); // evicted: went to the database
  });

  it('cleanup removes windows older than the cut-off', async () => {
    const c = clock(T0 + 10 * HOUR);
    const limiter = new RateLimiter(db.pool, { now: c.now });
    const name = bucket('cleanup');
    for (let h = 0; h < 5; h++) {
      c.set(T0 + (10 + h) * HOUR + 60_000);
      await limiter.consume(name, 100, 3600);
    }
    const others = await db.pool.query<{ n: string }>(
      'SELECT COUNT(*)::text AS n FROM rate_limit_counters WHERE window_start >= $1',
      [new Date(T0 + 12 * HOUR)],
    );

    const deleted = await limiter.cleanup(new Date(T0 + 12 * HOUR), 1);
    expect(deleted).toBeGreaterThanOrEqual(2);
    const { rows } = await db.pool.query<{ window_start: Date }>(
      'SELECT window_start FROM rate_limit_counters WHERE bucket = $1 ORDER BY window_start',
      [name],
    );
    expect(rows.map((r) => r.window_start.getTime())).toEqual([T0 + 12 * HOUR, T0 + 13 * HOUR, T0 + 14 * HOUR]);
    const { rows: old } = await db.pool.query<{ n: string }>(
      'SELECT COUNT(*)::text AS n FROM rate_limit_counters WHERE window_start < $1',
      [new Date(T0 + 12 * HOUR)],
    );
    expect(old[0]!.n).toBe('0');
    // Nothing newer was touched.
    const after = await db.pool.query<{ n: string }>(
      'SELECT COUNT(*)::text AS n FROM rate_limit_counters WHERE window_start >= $1',
      [new Date(T0 + 12 * HOUR)],
    );
    expect(after.rows[0]!.n).toBe(others.rows[0]!.n);
    // The current window still counts on.
    expect(await limiter.consume(name, 100, 3600)).toMatchObject({ allowed: true, remaining: 98 });
  });
});

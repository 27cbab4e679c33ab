/**
 * Request rate limits shared by every API process: the plans' limits (their figures are in the plan table,
 * src/billing/plans.ts), and the Postgres counters behind them (also consumed by the auth services' mail limits and
 * pruned by the maintenance schedule, hence outside src/api).
 *
 * Algorithm: FIXED windows aligned to the Unix epoch (an hourly window runs from hh:00:00 to hh+1:00:00 UTC). The
 * counters live in Postgres (`rate_limit_counters`, migration 0010), one row per (bucket, window), so any number of
 * API processes share one limit exactly. A `consume` is one round trip: an
 * `INSERT … ON CONFLICT DO UPDATE … RETURNING count`, which Postgres serialises per row, so concurrent requests can
 * never be allowed beyond the limit. Within a process, requests for a bucket that arrive while its statement is in
 * flight are added by the next statement together (each still gets its own position in the count). A sliding-window refinement was deliberately NOT chosen: fixed windows give the
 * exact "N requests per clock hour" the plans promise and are easy to reason about and test; the known trade-off is
 * that a client may spend a full window just before a boundary and another just after it (up to 2 × limit within a
 * short span around the boundary, never more than `limit` within one window).
 *
 * Clock: when no `now` is injected, the window is computed from the database clock (`clock_timestamp()`), so all
 * processes agree on window boundaries even when their own clocks drift. Tests inject `now` to move through time.
 *
 * A refused request is still counted (so hammering never resets or shortens anything) and the client is told when the
 * window ends (`Retry-After`). Failures to reach Postgres are thrown: the HTTP layer decides whether to fail open or
 * closed.
 *
 * In-process cache: once a bucket is seen at or over its limit, this process remembers it until the window ends and
 * refuses further requests for it without touching the database. The cache can only REFUSE (never allow), it is keyed
 * by bucket and window length, it checks the limit given at call time (a raised limit, e.g. a new override, goes back
 * to the database), and it is bounded (`maxCachedBuckets`). Requests refused from the cache are not added to the
 * shared counter; they would be refused anyway and the window end does not depend on the count.
 */
import { isIP } from 'node:net';
import type pg from 'pg';
import { planLimits, type Plan } from './billing/plans.js';

/** Window of the plan and anonymous limits. */
export const API_WINDOW_SECONDS = 3600;

/** Requests per hour for unauthenticated requests, per client IP (IPv6: per /64). */
export const ANONYMOUS_LIMIT_PER_HOUR = 30;

/** Authentication endpoints (login, register, refresh, SIWE): per client IP, much stricter. */
export const AUTH_LIMIT = { limit: 10, windowSeconds: 15 * 60 } as const;

/**
 * argon2 verifications of API keys and OAuth tokens this API has not seen succeed recently, per client IP. Counted
 * before verifying: a flood of made-up keys gets 429 instead of the argon2 threadpool. A legitimate client needs about
 * one per key and process per minute (successes are cached), so this is generous for it.
 */
export const VERIFY_LIMIT = { limit: 60, windowSeconds: 60 } as const;

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  /** Requests left in the current window (0 when refused). */
  remaining: number;
  /** End of the current window. */
  resetAt: Date;
  /** Seconds until the window ends when refused (at least 1); 0 when allowed. */
  retryAfterSeconds: number;
}

export type RateLimitSubject =
  | { kind: 'apiKey'; keyId: string; organizationId: string; override: number | null; plan: Plan }
  | { kind: 'user'; userId: string; organizationId?: string; plan: Plan }
  | { kind: 'anonymous'; ip: string };

export type RateLimitScope = 'api' | 'auth' | 'verify';

export interface RateLimiterOptions {
  /** Clock override (tests). Without it, windows follow the database clock. */
  now?: () => Date;
  /** Size bound of the over-limit cache; 0 disables it. Default 10 000 buckets. */
  maxCachedBuckets?: number;
}

interface CachedRefusal {
  /** Count seen in the database (at or over the limit at that time). */
  count: number;
  resetAt: Date;
  /** Local-clock instant (ms) at which the window ends: immune to skew between this host and the database. */
  expiresAtMs: number;
}

const INT32_MAX = 2_147_483_647;

interface CounterRow {
  count: number;
  window_start: Date;
  now: Date;
}

interface Waiter {
  cost: number;
  resolve(row: CounterRow): void;
  reject(err: unknown): void;
}

// One statement: the window is computed from the given instant (or the database clock), the counter is created or
// incremented atomically, and the row's count, window and the instant used come back for the decision.
const CONSUME_SQL = `
WITH t AS (SELECT COALESCE($4::timestamptz, clock_timestamp()) AS now)
INSERT INTO rate_limit_counters AS c (bucket, window_start, count)
SELECT $1::text, date_bin(make_interval(secs => $3::int), t.now, TIMESTAMPTZ '1970-01-01 00:00:00+00'), $2::int
FROM t
ON CONFLICT (bucket, window_start)
  DO UPDATE SET count = LEAST(c.count::bigint + EXCLUDED.count, ${INT32_MAX})::int
RETURNING c.count, c.window_start, (SELECT now FROM t) AS now`;

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

export class RateLimiter {
  private readonly clock: (() => Date) | undefined;
  private readonly maxCached: number;
  private readonly overLimit = new Map<string, CachedRefusal>();
  /** Buckets with an upsert in flight, and the requests waiting to go in the next one. */
  private readonly inFlight = new Map<string, { next: Waiter[] | undefined }>();

  constructor(
    private readonly pool: pg.Pool,
    options: RateLimiterOptions = {},
  ) {
    this.clock = options.now;
    this.maxCached = options.maxCachedBuckets ?? 10_000;
  }

  private localNowMs(): number {
    return (this.clock ? this.clock() : new Date()).getTime();
  }

  /**
   * Counts `cost` requests against `bucket` in the current `windowSeconds` window and says whether they fit within
   * `limit`. Requests over the limit are counted too, and refused.
   */
  async consume(bucket: string, limit: number, windowSeconds: number, cost = 1): Promise<RateLimitDecision> {
    if (typeof bucket !== 'string' || bucket.length === 0) throw new TypeError('bucket must be a non-empty string');
    assertPositiveInteger('limit', limit);
    assertPositiveInteger('windowSeconds', windowSeconds);
    assertPositiveInteger('cost', cost);
    if (cost > INT32_MAX) throw new RangeError('cost is too large');

    const cacheKey = `${windowSeconds}|${bucket}`;
    const cached = this.overLimit.get(cacheKey);
    if (cached) {
      const nowMs = this.localNowMs();
      if (nowMs >= cached.expiresAtMs) {
        this.overLimit.delete(cacheKey);
      } else if (cached.count + cost > limit) {
        // The shared count only grows within a window: this request cannot fit, whatever other processes did.
        return refused(limit, cached.resetAt, cached.expiresAtMs - nowMs);
      }
    }

    const row = await this.increment(cacheKey, bucket, windowSeconds, cost);
    const resetAt = new Date(row.window_start.getTime() + windowSeconds * 1000);
    const msToReset = Math.max(0, resetAt.getTime() - row.now.getTime());

    if (row.count >= limit) this.remember(cacheKey, row.count, resetAt, msToReset);

    if (row.count <= limit) {
      return { allowed: true, limit, remaining: limit - row.count, resetAt, retryAfterSeconds: 0 };
    }
    return refused(limit, resetAt, msToReset);
  }

  /**
   * Adds `cost` to the shared counter and returns the count up to and including this request. Requests for a bucket
   * that arrive while its upsert is in flight are coalesced into the next one (one statement adds their total): under
   * load a bucket takes one round trip per batch instead of queueing on its row lock. Each request still gets its own
   * position in the count, so the limit stays exact.
   */
  private increment(key: string, bucket: string, windowSeconds: number, cost: number): Promise<CounterRow> {
    return new Promise<CounterRow>((resolve, reject) => {
      const waiter = { cost, resolve, reject };
      const state = this.inFlight.get(key);
      if (state) {
        (state.next ??= []).push(waiter);
        return;
      }
      this.inFlight.set(key, { next: undefined });
      void this.flush(key, bucket, windowSeconds, [waiter]);
    });
  }

  private async flush(key: string, bucket: string, windowSeconds: number, batch: Waiter[]): Promise<void> {
    const total = batch.reduce((sum, w) => sum + w.cost, 0);
    try {
      // Named: prepared once per connection instead of parsed and planned on every request.
      const { rows } = await this.pool.query<CounterRow>({
        name: 'rate-limit-consume',
        text: CONSUME_SQL,
        values: [bucket, Math.min(total, INT32_MAX), windowSeconds, this.clock ? this.clock() : null],
      });
      // Each request gets its own position: the batch's requests are the last `total` of the returned count.
      const row = rows[0]!;
      let position = row.count - total;
      for (const w of batch) {
        position += w.cost;
        w.resolve({ ...row, count: Math.min(Math.max(position, 0), INT32_MAX) });
      }
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
    // Whoever queued meanwhile goes next, as one statement.
    const state = this.inFlight.get(key)!;
    const next = state.next;
    state.next = undefined;
    if (next) void this.flush(key, bucket, windowSeconds, next);
    else this.inFlight.delete(key);
  }

  /** Deletes the counters of windows that started before `olderThan` (pass now minus the longest window, or more). */
  async cleanup(olderThan: Date, batchSize = 10_000): Promise<number> {
    assertPositiveInteger('batchSize', batchSize);
    let total = 0;
    // Batches keep each statement (and its locks) short on a large table.
    for (;;) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM rate_limit_counters
          WHERE (bucket, window_start) IN (
            SELECT bucket, window_start FROM rate_limit_counters WHERE window_start < $1 LIMIT $2)`,
        [olderThan, batchSize],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < batchSize) break;
    }
    const cutoff = olderThan.getTime();
    for (const [key, entry] of this.overLimit) {
      if (entry.resetAt.getTime() <= cutoff) this.overLimit.delete(key);
    }
    return total;
  }

  private remember(cacheKey: string, count: number, resetAt: Date, msToReset: number): void {
    if (this.maxCached <= 0 || msToReset <= 0) return;
    const nowMs = this.localNowMs();
    if (!this.overLimit.has(cacheKey) && this.overLimit.size >= this.maxCached) {
      for (const [key, entry] of this.overLimit) if (entry.expiresAtMs <= nowMs) this.overLimit.delete(key);
      // Still full: drop the oldest entries (Map keeps insertion order). Forgetting only costs a database round trip.
      while (this.overLimit.size >= this.maxCached) {
        const oldest = this.overLimit.keys().next();
        if (oldest.done) break;
        this.overLimit.delete(oldest.value);
      }
    }
    this.overLimit.delete(cacheKey);
    this.overLimit.set(cacheKey, { count, resetAt, expiresAtMs: nowMs + msToReset });
  }
}

function refused(limit: number, resetAt: Date, msToReset: number): RateLimitDecision {
  return { allowed: false, limit, remaining: 0, resetAt, retryAfterSeconds: Math.max(1, Math.ceil(msToReset / 1000)) };
}

/** `X-RateLimit-*` headers for every response, plus `Retry-After` on a refusal (HTTP 429). */
export function rateLimitHeaders(d: RateLimitDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'X-RateLimit-Limit': String(d.limit),
    'X-RateLimit-Remaining': String(Math.max(0, d.remaining)),
    'X-RateLimit-Reset': String(Math.ceil(d.resetAt.getTime() / 1000)),
  };
  if (!d.allowed) headers['Retry-After'] = String(Math.max(1, d.retryAfterSeconds));
  return headers;
}

/** Requests per hour of the plan (its `requestsPerHour` in the plan table, src/billing/plans.ts). */
function planLimit(plan: Plan): number {
  return planLimits(plan).requestsPerHour;
}

/**
 * Which counter a request uses and its limit:
 *  - scope 'api': the organization's plan limit is per organization, one bucket shared by its API keys, OAuth tokens
 *    and members (JWT requests count there once the organization is known, see orgProcedure); a user outside any
 *    organization procedure counts per user (the best plan among their organizations); anonymous requests per IP. An
 *    API key whose `rate_limit_override` is below the plan has, in addition, its own bucket with that lower limit
 *    (keyOverrideBucket): an override only ever lowers a key's limit.
 *  - scope 'auth' (login, register, refresh, SIWE): always per client IP with AUTH_LIMIT. Pass the anonymous
 *    subject `{ kind: 'anonymous', ip }`: these endpoints are reached before any credential is verified.
 *  - scope 'verify': argon2 verifications of credentials not seen valid recently, per client IP (VERIFY_LIMIT).
 */
export function bucketFor(
  subject: RateLimitSubject,
  scope: RateLimitScope,
): { bucket: string; limit: number; windowSeconds: number } {
  if (scope === 'auth' || scope === 'verify') {
    if (subject.kind !== 'anonymous') {
      throw new TypeError(`the '${scope}' rate limit is per client IP: pass { kind: 'anonymous', ip }`);
    }
    const { limit, windowSeconds } = scope === 'auth' ? AUTH_LIMIT : VERIFY_LIMIT;
    return { bucket: `${scope}:ip:${clientIpKey(subject.ip)}`, limit, windowSeconds };
  }
  switch (subject.kind) {
    case 'apiKey':
      return {
        bucket: `api:org:${subject.organizationId}`,
        limit: planLimit(subject.plan),
        windowSeconds: API_WINDOW_SECONDS,
      };
    case 'user':
      return subject.organizationId
        ? {
            bucket: `api:org:${subject.organizationId}`,
            limit: planLimit(subject.plan),
            windowSeconds: API_WINDOW_SECONDS,
          }
        : { bucket: `api:user:${subject.userId}`, limit: planLimit(subject.plan), windowSeconds: API_WINDOW_SECONDS };
    case 'anonymous':
      return {
        bucket: `api:ip:${clientIpKey(subject.ip)}`,
        limit: ANONYMOUS_LIMIT_PER_HOUR,
        windowSeconds: API_WINDOW_SECONDS,
      };
  }
}

/**
 * The API key's own bucket when its override is below its organization's plan (checked before the organization's
 * bucket), else undefined. An override at or above the plan changes nothing: the plan is the ceiling.
 */
export function keyOverrideBucket(
  subject: Extract<RateLimitSubject, { kind: 'apiKey' }>,
): { bucket: string; limit: number; windowSeconds: number } | undefined {
  const override = subject.override;
  if (override === null || !Number.isSafeInteger(override) || override < 1 || override >= planLimit(subject.plan))
    return undefined;
  return { bucket: `api:key:${subject.keyId}`, limit: override, windowSeconds: API_WINDOW_SECONDS };
}

/** The highest `rate_limit_override` an API key of an organization on this plan may have. */
export function maxRateLimitOverride(plan: Plan): number {
  return planLimit(plan);
}

/**
 * Canonical client address for a bucket: IPv4 as is (also when IPv4-mapped in IPv6), IPv6 reduced to its /64 (one
 * subscriber usually owns a whole /64, so per-address buckets would be trivial to evade). Anything that is not an IP
 * address shares the single bucket 'unknown'.
 */
export function clientIpKey(raw: string): string {
  let ip = raw.trim().toLowerCase();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  const version = isIP(ip);
  if (version === 4) return ip;
  if (version !== 6) return 'unknown';
  const hextets = ipv6Hextets(ip);
  if (hextets.slice(0, 5).every((h) => h === '0') && hextets[5] === 'ffff') {
    // IPv4-mapped (::ffff:a.b.c.d, as dual-stack sockets report IPv4 clients): the IPv4 address itself.
    const lo = parseInt(hextets[6]!, 16);
    const hi = parseInt(hextets[7]!, 16);
    return [lo >> 8, lo & 0xff, hi >> 8, hi & 0xff].join('.');
  }
  return `${hextets.slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of a valid IPv6 address, without leading zeros. */
function ipv6Hextets(ip: string): string[] {
  const toHextets = (part: string): string[] => {
    if (part === '') return [];
    const out: string[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
        out.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
      } else {
        out.push(parseInt(piece, 16).toString(16));
      }
    }
    return out;
  };
  const [head = '', tail] = ip.split('::');
  const left = toHextets(head);
  if (tail === undefined) return left;
  const right = toHextets(tail);
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
}

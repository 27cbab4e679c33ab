/**
 * Circuit breaker per organization and destination, in Postgres so every worker shares it. Closed: deliveries flow.
 * After FAILURE_THRESHOLD consecutive attempts that found the destination unhealthy it opens for a pause (doubling on
 * each failed probe, capped): while open, delivery workflows park (a durable timer) instead of spending attempts. When
 * the pause ends it is half-open: the next attempt is the probe; success closes it, failure opens it again.
 *
 * Per organization, so that one tenant's failures never park another tenant's deliveries to a common host; and only
 * what says the destination is down counts (`destinationHealth`), so that a tenant's own mistakes (a 4xx, an
 * expected_status, an address the SSRF guard refuses, an invalid config) open nothing.
 */
import type pg from 'pg';
import type { Db } from '../db/pool.js';

export const FAILURE_THRESHOLD = 5;
export const BASE_PAUSE_MS = 30_000;
export const MAX_PAUSE_MS = 15 * 60_000;

/** What a breaker guards: one organization's deliveries to one destination (`destinationOf` in ./config.ts). */
export interface BreakerKey {
  organizationId: string;
  destination: string;
}

/** A breaker key as a map key (the gates of a batch). */
export const breakerKeyId = (key: BreakerKey): string => `${key.organizationId} ${key.destination}`;

export interface BreakerView {
  destination: string;
  state: 'closed' | 'open' | 'half_open';
  consecutiveFailures: number;
  openedAt: string | null;
  retryAt: string | null;
}

export interface BreakerOptions {
  threshold?: number;
  basePauseMs?: number;
}

/** `failing`: the breaker has failures to forget or is not closed, so a success must be written (else it need not). */
export type BreakerGate = { open: false; failing: boolean } | { open: true; retryInMs: number };

/**
 * What an attempt says about its destination: `up` (it answered as asked), `down` (no answer — a connection error or
 * a timeout, which leave no status and are transient — or a 5xx or 429), or nothing: a 4xx, another status than the
 * expected one, a refusal by the SSRF guard, an invalid config are the sender's doing, not the destination's.
 */
export function destinationHealth(outcome: {
  ok: boolean;
  permanent: boolean;
  status?: number;
}): 'up' | 'down' | undefined {
  if (outcome.ok) return 'up';
  if (outcome.status === undefined) return outcome.permanent ? undefined : 'down';
  return outcome.status === 429 || outcome.status >= 500 ? 'down' : undefined;
}

/** Whether a delivery to this organization's destination may go out now; if not, how long to park. */
export async function breakerGate(pool: pg.Pool, key: BreakerKey): Promise<BreakerGate> {
  return (await breakerGates(pool, [key])).get(breakerKeyId(key))!;
}

/** The gates of several breakers in one statement (a delivery batch), by `breakerKeyId`. */
export async function breakerGates(pool: pg.Pool, keys: readonly BreakerKey[]): Promise<Map<string, BreakerGate>> {
  const gates = new Map<string, BreakerGate>(keys.map((k) => [breakerKeyId(k), { open: false, failing: false }]));
  if (keys.length === 0) return gates;
  const unique = [...new Map(keys.map((k) => [breakerKeyId(k), k])).values()];
  const { rows } = await pool.query<{
    organization_id: string;
    destination: string;
    state: string;
    consecutive_failures: number;
    wait_ms: number | null;
  }>(
    `SELECT b.organization_id, b.destination, b.state, b.consecutive_failures, greatest(0, extract(epoch FROM b.retry_at - now()) * 1000)::float8 AS wait_ms
     FROM delivery_breakers b JOIN unnest($1::uuid[], $2::text[]) AS k(organization_id, destination) USING (organization_id, destination)`,
    [unique.map((k) => k.organizationId), unique.map((k) => k.destination)],
  );
  const probing: BreakerKey[] = [];
  for (const row of rows) {
    const key = { organizationId: row.organization_id, destination: row.destination };
    if (row.state === 'open' && (row.wait_ms ?? 0) > 0)
      gates.set(breakerKeyId(key), { open: true, retryInMs: Math.ceil(row.wait_ms!) });
    else {
      gates.set(breakerKeyId(key), { open: false, failing: row.state !== 'closed' || row.consecutive_failures > 0 });
      if (row.state === 'open') probing.push(key);
    }
  }
  // The pause is over: half-open, let this attempt probe.
  if (probing.length > 0) {
    await pool.query(
      `UPDATE delivery_breakers b SET state = 'half_open' FROM unnest($1::uuid[], $2::text[]) AS k(organization_id, destination)
       WHERE b.organization_id = k.organization_id AND b.destination = k.destination AND b.state = 'open' AND b.retry_at <= now()`,
      [probing.map((k) => k.organizationId), probing.map((k) => k.destination)],
    );
  }
  return gates;
}

/** Records an attempt's outcome — or `failures` failed attempts in a row; opens, re-opens or closes the breaker. */
async function recordBreakerOutcome(
  pool: pg.Pool,
  key: BreakerKey,
  ok: boolean,
  options: BreakerOptions = {},
  failures = 1,
): Promise<void> {
  if (ok) {
    await pool.query(
      `UPDATE delivery_breakers SET state = 'closed', consecutive_failures = 0, opened_at = NULL, retry_at = NULL WHERE organization_id = $1 AND destination = $2`,
      [key.organizationId, key.destination],
    );
    return;
  }
  const threshold = options.threshold ?? FAILURE_THRESHOLD;
  const base = options.basePauseMs ?? BASE_PAUSE_MS;
  await pool.query(
    `INSERT INTO delivery_breakers (organization_id, destination, consecutive_failures, state, opened_at, retry_at)
       VALUES ($6, $1, $5::int4, CASE WHEN $5::int4 >= $2::int4 THEN 'open' ELSE 'closed' END, CASE WHEN $5::int4 >= $2::int4 THEN now() END,
               CASE WHEN $5::int4 >= $2::int4 THEN now() + make_interval(secs => least($4::float8, $3::float8 * power(2, $5::int4 - $2::int4)) / 1000) END)
     ON CONFLICT (organization_id, destination) DO UPDATE SET
       consecutive_failures = delivery_breakers.consecutive_failures + $5,
       state = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + $5 >= $2 THEN 'open' ELSE delivery_breakers.state END,
       opened_at = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + $5 >= $2 THEN now() ELSE delivery_breakers.opened_at END,
       -- The pause doubles with every failure past the threshold, up to the cap.
       retry_at = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + $5 >= $2
         THEN now() + make_interval(secs => least($4::float8, $3::float8 * power(2, greatest(0, delivery_breakers.consecutive_failures + $5 - $2))) / 1000)
         ELSE delivery_breakers.retry_at END`,
    [key.destination, threshold, base, MAX_PAUSE_MS, failures, key.organizationId],
  );
}

/**
 * Feeds a batch's attempts, in attempt order, to the breakers: per breaker, a success if one came after the last
 * failure run's start, then the failures since the last success. Attempts without a verdict (`destinationHealth`)
 * count for nothing. A success needs no statement when the gate read before the attempts shows nothing to reset (a
 * destination without failures: the common case); without a gate, it is written.
 */
export async function recordBreakerOutcomes(
  pool: pg.Pool,
  outcomes: readonly { key: BreakerKey; health: 'up' | 'down' | undefined }[],
  gates: ReadonlyMap<string, BreakerGate>,
  options: BreakerOptions = {},
): Promise<void> {
  const perBreaker = new Map<string, { key: BreakerKey; succeeded: boolean; trailingFailures: number }>();
  for (const { key, health } of outcomes) {
    if (health === undefined) continue;
    const id = breakerKeyId(key);
    const b = perBreaker.get(id) ?? { key, succeeded: false, trailingFailures: 0 };
    if (health === 'up') {
      b.succeeded = true;
      b.trailingFailures = 0;
    } else b.trailingFailures++;
    perBreaker.set(id, b);
  }
  for (const [id, b] of perBreaker) {
    const gate = gates.get(id);
    const mustReset = gate === undefined || gate.open || gate.failing;
    if (b.succeeded && mustReset) await recordBreakerOutcome(pool, b.key, true, options);
    if (b.trailingFailures > 0) await recordBreakerOutcome(pool, b.key, false, options, b.trailingFailures);
  }
}

/** An organization's breakers (of some destinations, or all). */
export async function listBreakers(pool: Db, organizationId: string, destinations?: string[]): Promise<BreakerView[]> {
  const { rows } = await pool.query(
    `SELECT destination, state, consecutive_failures, opened_at, retry_at FROM delivery_breakers
     WHERE organization_id = $1 AND ($2::text[] IS NULL OR destination = ANY($2)) ORDER BY destination`,
    [organizationId, destinations ?? null],
  );
  return rows.map((r) => ({
    destination: r.destination,
    state: r.state,
    consecutiveFailures: r.consecutive_failures,
    openedAt: r.opened_at?.toISOString() ?? null,
    retryAt: r.retry_at?.toISOString() ?? null,
  }));
}

/** Closes an organization's breaker by hand (its destination was fixed). */
export async function resetBreaker(pool: Db, organizationId: string, destination: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE delivery_breakers SET state = 'closed', consecutive_failures = 0, opened_at = NULL, retry_at = NULL WHERE organization_id = $1 AND destination = $2`,
    [organizationId, destination],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Circuit breaker per destination, in Postgres so every worker shares it. Closed: deliveries flow. After
 * FAILURE_THRESHOLD consecutive failed attempts it opens for a pause (doubling on each failed probe, capped): while open,
 * delivery workflows park (a durable timer) instead of spending attempts. When the pause ends it is half-open: the
 * next attempt is the probe; success closes it, failure opens it again.
 */
import type pg from 'pg';
import type { Db } from '../db/pool.js';

export const FAILURE_THRESHOLD = 5;
export const BASE_PAUSE_MS = 30_000;
export const MAX_PAUSE_MS = 15 * 60_000;

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

/** Whether a delivery to `destination` may go out now; if not, how long to park. */
export async function breakerGate(pool: pg.Pool, destination: string): Promise<BreakerGate> {
  return (await breakerGates(pool, [destination])).get(destination)!;
}

/** The gates of several destinations in one statement (a delivery batch). */
export async function breakerGates(pool: pg.Pool, destinations: readonly string[]): Promise<Map<string, BreakerGate>> {
  const gates = new Map<string, BreakerGate>(destinations.map((d) => [d, { open: false, failing: false }]));
  if (destinations.length === 0) return gates;
  const { rows } = await pool.query<{ destination: string; state: string; consecutive_failures: number; wait_ms: number | null }>(
    `SELECT destination, state, consecutive_failures, greatest(0, extract(epoch FROM retry_at - now()) * 1000)::float8 AS wait_ms
     FROM delivery_breakers WHERE destination = ANY($1::text[])`,
    [[...new Set(destinations)]],
  );
  const probing: string[] = [];
  for (const row of rows) {
    if (row.state === 'open' && (row.wait_ms ?? 0) > 0) gates.set(row.destination, { open: true, retryInMs: Math.ceil(row.wait_ms!) });
    else {
      gates.set(row.destination, { open: false, failing: row.state !== 'closed' || row.consecutive_failures > 0 });
      if (row.state === 'open') probing.push(row.destination);
    }
  }
  // The pause is over: half-open, let this attempt probe.
  if (probing.length > 0) {
    await pool.query(`UPDATE delivery_breakers SET state = 'half_open' WHERE destination = ANY($1::text[]) AND state = 'open' AND retry_at <= now()`, [probing]);
  }
  return gates;
}

/** Records an attempt's outcome — or `failures` failed attempts in a row; opens, re-opens or closes the breaker. */
async function recordBreakerOutcome(pool: pg.Pool, destination: string, ok: boolean, options: BreakerOptions = {}, failures = 1): Promise<void> {
  if (ok) {
    await pool.query(
      `UPDATE delivery_breakers SET state = 'closed', consecutive_failures = 0, opened_at = NULL, retry_at = NULL WHERE destination = $1`,
      [destination],
    );
    return;
  }
  const threshold = options.threshold ?? FAILURE_THRESHOLD;
  const base = options.basePauseMs ?? BASE_PAUSE_MS;
  await pool.query(
    `INSERT INTO delivery_breakers (destination, consecutive_failures, state, opened_at, retry_at)
       VALUES ($1, $5::int4, CASE WHEN $5::int4 >= $2::int4 THEN 'open' ELSE 'closed' END, CASE WHEN $5::int4 >= $2::int4 THEN now() END,
               CASE WHEN $5::int4 >= $2::int4 THEN now() + make_interval(secs => least($4::float8, $3::float8 * power(2, $5::int4 - $2::int4)) / 1000) END)
     ON CONFLICT (destination) DO UPDATE SET
       consecutive_failures = delivery_breakers.consecutive_failures + $5,
       state = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + $5 >= $2 THEN 'open' ELSE delivery_breakers.state END,
       opened_at = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + $5 >= $2 THEN now() ELSE delivery_breakers.opened_at END,
       -- The pause doubles with every failure past the threshold, up to the cap.
       retry_at = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + $5 >= $2
         THEN now() + make_interval(secs => least($4::float8, $3::float8 * power(2, greatest(0, delivery_breakers.consecutive_failures + $5 - $2))) / 1000)
         ELSE delivery_breakers.retry_at END`,
    [destination, threshold, base, MAX_PAUSE_MS, failures],
  );
}

/**
 * Feeds a batch's outcomes, in attempt order, to the breakers: per destination, a success if one came after the last
 * failure run's start, then the failures since the last success. A success needs no statement when the gate read
 * before the attempts shows nothing to reset (a destination without failures: the common case); without a gate, it
 * is written.
 */
export async function recordBreakerOutcomes(
  pool: pg.Pool,
  outcomes: readonly { destination: string; ok: boolean }[],
  gates: ReadonlyMap<string, BreakerGate>,
  options: BreakerOptions = {},
): Promise<void> {
  const perDestination = new Map<string, { succeeded: boolean; trailingFailures: number }>();
  for (const { destination, ok } of outcomes) {
    const d = perDestination.get(destination) ?? { succeeded: false, trailingFailures: 0 };
    if (ok) {
      d.succeeded = true;
      d.trailingFailures = 0;
    } else d.trailingFailures++;
    perDestination.set(destination, d);
  }
  for (const [destination, d] of perDestination) {
    const gate = gates.get(destination);
    const mustReset = gate === undefined || gate.open || gate.failing;
    if (d.succeeded && mustReset) await recordBreakerOutcome(pool, destination, true, options);
    if (d.trailingFailures > 0) await recordBreakerOutcome(pool, destination, false, options, d.trailingFailures);
  }
}

export async function listBreakers(pool: Db, destinations?: string[]): Promise<BreakerView[]> {
  const { rows } = await pool.query(
    `SELECT destination, state, consecutive_failures, opened_at, retry_at FROM delivery_breakers
     WHERE $1::text[] IS NULL OR destination = ANY($1) ORDER BY destination`,
    [destinations ?? null],
  );
  return rows.map((r) => ({
    destination: r.destination, state: r.state, consecutiveFailures: r.consecutive_failures,
    openedAt: r.opened_at?.toISOString() ?? null, retryAt: r.retry_at?.toISOString() ?? null,
  }));
}

/** Closes a breaker by hand (an operator fixed the destination). */
export async function resetBreaker(pool: Db, destination: string): Promise<boolean> {
  const { rowCount } = await pool.query(`UPDATE delivery_breakers SET state = 'closed', consecutive_failures = 0, opened_at = NULL, retry_at = NULL WHERE destination = $1`, [destination]);
  return (rowCount ?? 0) > 0;
}

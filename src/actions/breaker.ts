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

/** Whether a delivery to `destination` may go out now; if not, how long to park. */
export async function breakerGate(pool: pg.Pool, destination: string): Promise<{ open: false } | { open: true; retryInMs: number }> {
  const { rows } = await pool.query<{ state: string; wait_ms: number | null }>(
    `SELECT state, greatest(0, extract(epoch FROM retry_at - now()) * 1000)::float8 AS wait_ms FROM delivery_breakers WHERE destination = $1`,
    [destination],
  );
  const row = rows[0];
  if (!row || row.state === 'closed') return { open: false };
  if (row.state === 'open' && (row.wait_ms ?? 0) > 0) return { open: true, retryInMs: Math.ceil(row.wait_ms!) };
  // The pause is over: half-open, let this attempt probe.
  await pool.query(`UPDATE delivery_breakers SET state = 'half_open' WHERE destination = $1 AND state = 'open' AND retry_at <= now()`, [destination]);
  return { open: false };
}

/** Records an attempt's outcome; opens, re-opens or closes the breaker. */
export async function recordBreakerOutcome(pool: pg.Pool, destination: string, ok: boolean, options: BreakerOptions = {}): Promise<void> {
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
    `INSERT INTO delivery_breakers (destination, consecutive_failures) VALUES ($1, 1)
     ON CONFLICT (destination) DO UPDATE SET
       consecutive_failures = delivery_breakers.consecutive_failures + 1,
       state = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + 1 >= $2 THEN 'open' ELSE delivery_breakers.state END,
       opened_at = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + 1 >= $2 THEN now() ELSE delivery_breakers.opened_at END,
       -- The pause doubles with every failure past the threshold, up to the cap.
       retry_at = CASE WHEN delivery_breakers.state = 'half_open' OR delivery_breakers.consecutive_failures + 1 >= $2
         THEN now() + make_interval(secs => least($4::float8, $3::float8 * power(2, greatest(0, delivery_breakers.consecutive_failures + 1 - $2))) / 1000)
         ELSE delivery_breakers.retry_at END`,
    [destination, threshold, base, MAX_PAUSE_MS],
  );
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

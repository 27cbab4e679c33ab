import pg from 'pg';
import type { Logger } from '../logger.js';

export type Pool = pg.Pool;

/**
 * What services need from a database handle: a pool, or an organization-scoped one (`TenantDb` in ./tenant.ts) whose
 * every query runs under that organization's row-level security.
 */
export interface Db {
  query: pg.Pool['query'];
  connect(): Promise<pg.PoolClient>;
}

// NUMERIC and BIGINT stay strings (exact); pg would otherwise hand back strings anyway, we only make it explicit.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export function createPool(
  url: string,
  logger: Logger,
  options: {
    max?: number;
    applicationName?: string;
    /** a role every connection switches to on login */ role?: string;
  } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    ...(options.role ? { options: `-c role=${options.role}` } : {}),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'erc8004-backend',
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that loses its connection emits here; without a handler the process would crash.
  pool.on('error', (err) => logger.warn({ err }, 'idle Postgres connection failed'));
  // So would a checked-out one held between queries (the relay's and the indexer's advisory-lock sessions) when
  // Postgres shuts down or restarts; its next query fails and the caller deals with it.
  pool.on('connect', (client) => client.on('error', (err) => logger.warn({ err }, 'Postgres connection failed')));
  return pool;
}

/** Hides the password in a connection URL for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

export class DatabaseUnavailableError extends Error {
  constructor(url: string, timeoutMs: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `Postgres at ${redactUrl(url)} did not accept connections within ${timeoutMs} ms (last error: ${reason}). ` +
        'Check DATABASE_URL, or unset it to use the embedded database.',
    );
    this.name = 'DatabaseUnavailableError';
  }
}

/** Retries a trivial query until Postgres answers or the deadline passes. */
export async function waitForDatabase(url: string, timeoutMs: number, logger?: Logger): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let delay = 100;
  while (Date.now() < deadline) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: Math.min(5_000, timeoutMs) });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      lastError = err;
      logger?.debug({ err }, 'Postgres not ready yet');
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 2_000);
  }
  throw new DatabaseUnavailableError(url, timeoutMs, lastError);
}

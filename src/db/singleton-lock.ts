/**
 * Singletons (the relay per cursor, the live indexer per chain): one process does the work, the others stand by. The
 * holder keeps a session advisory lock on a dedicated connection. A session lock is held exactly as long as that
 * session lives, so the holder watches the connection: when it drops (Postgres restarted, the backend was terminated,
 * the network went away) another process may already hold the lock, and the work must stop at once.
 */
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { sleep } from '../indexer/rpc.js';

/** The lock's session ended while the work was running: someone else may be doing it now. */
export class LockLostError extends Error {
  constructor(key: string, cause?: unknown) {
    super(`lost the lock ${key} (its Postgres session ended); stopping so that only one process does this work`, {
      cause,
    });
    this.name = 'LockLostError';
  }
}

export interface SingletonLock {
  /** Aborted when the lock's session is gone. */
  readonly lost: AbortSignal;
  /** The LockLostError to throw once `lost` is aborted. */
  readonly error: () => LockLostError;
  release(): Promise<void>;
}

export interface SingletonLockOptions {
  /** Lock name; hashed into the advisory lock key. */
  key: string;
  logger: Logger;
  signal: AbortSignal;
  /** Delay between two attempts while another process holds the lock. */
  standbyMs: number;
  /** A round trip on the lock's connection this often, so a silently dead connection is noticed too. */
  checkEveryMs?: number;
}

/** Waits until this process holds the lock; undefined when `signal` aborted first. */
export async function acquireSingletonLock(
  pool: pg.Pool,
  options: SingletonLockOptions,
): Promise<SingletonLock | undefined> {
  const { key, logger, signal, standbyMs } = options;
  const client = await pool.connect();
  const lost = new AbortController();
  let reason: unknown;
  const lose = (err?: unknown) => {
    if (lost.signal.aborted) return;
    reason = err;
    lost.abort();
  };
  const onError = (err: Error) => lose(err);
  const onEnd = () => lose();
  client.on('error', onError);
  client.on('end', onEnd);
  let check: NodeJS.Timeout | undefined;
  const release = async () => {
    clearInterval(check);
    client.off('error', onError);
    client.off('end', onEnd);
    if (lost.signal.aborted) {
      client.release(true);
      return;
    }
    await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    client.release();
  };
  try {
    for (;;) {
      if (signal.aborted) {
        await release();
        return undefined;
      }
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
        [key],
      );
      if (rows[0]?.ok) break;
      logger.info({ lock: key }, 'another process holds this lock; standing by');
      await sleep(standbyMs, signal).catch(() => undefined);
    }
  } catch (err) {
    lose(err);
    await release();
    throw err;
  }
  check = setInterval(() => {
    client.query('SELECT 1').catch(lose);
  }, options.checkEveryMs ?? 5_000);
  check.unref();
  lost.signal.addEventListener(
    'abort',
    () => logger.error({ err: reason, lock: key }, 'lost the lock: its Postgres session ended'),
    { once: true },
  );
  return { lost: lost.signal, error: () => new LockLostError(key, reason), release };
}

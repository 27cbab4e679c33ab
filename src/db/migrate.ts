import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../logger.js';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');
export const MIGRATIONS_TABLE = 'pgmigrations';

export interface MigrateOptions {
  databaseUrl: string;
  direction?: 'up' | 'down';
  /** How many migrations to run; default all (up) or one (down). */
  count?: number;
  logger: Logger;
}

/** Applies or reverts migrations with node-pg-migrate; returns the names that ran. */
export async function migrate({ databaseUrl, direction = 'up', count, logger }: MigrateOptions): Promise<string[]> {
  const log = logger.child({ component: 'migrate' });
  const ran = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction,
    count: count ?? (direction === 'up' ? Infinity : 1),
    checkOrder: true,
    // Each migration in its own transaction: the TimescaleDB step must run outside one.
    singleTransaction: false,
    // Several processes may start at once (docker-compose): the second waits for the first instead of failing.
    advisoryLockMode: 'wait',
    logger: {
      debug: (msg: string) => log.trace(msg),
      info: (msg: string) => log.debug(msg),
      warn: (msg: string) => (msg.includes('not wrapped in a transaction') ? log.debug(msg) : log.warn(msg)),
      error: (msg: string) => log.error(msg),
    },
  });
  const names = ran.map((m) => m.name);
  if (names.length > 0) log.info({ direction, migrations: names }, `ran ${names.length} migration(s)`);
  return names;
}

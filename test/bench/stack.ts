/**
 * What every benchmark starts before measuring: a temp folder, an embedded Postgres with a migrated database, and a
 * Temporal dev server (in memory, headless). Everything registers its own cleanup and is stopped by runBench.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../src/logger.js';
import { ensureDatabase, startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { resolveTemporalCli, startTemporalDevServer, type TemporalDevServer } from '../../src/temporal/dev-server.js';
import { getFreePort } from '../helpers/ports.js';

export type OnCleanup = (name: string, fn: () => Promise<unknown>) => void;

/** A temp folder removed at the end; Postgres runs as an unprivileged user when we are root, so others may enter it. */
export async function benchFolder(prefix: string, onCleanup: OnCleanup): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  onCleanup('temp folder', () => fs.rm(root, { recursive: true, force: true }));
  await fs.chmod(root, 0o755);
  return root;
}

export interface BenchPostgres {
  db: EmbeddedDatabase;
  /** The migrated database. */
  databaseUrl: string;
  /** The postmaster: its process tree is Postgres' CPU. */
  postmasterPid: number;
}

/** Embedded Postgres in `root`/pg with `database` created and migrated. */
export async function startBenchPostgres(
  root: string,
  database: string,
  logger: Logger,
  onCleanup: OnCleanup,
): Promise<BenchPostgres> {
  const dataDir = path.join(root, 'pg');
  const db = await startEmbeddedPostgres({ dataDir, port: await getFreePort(), logger });
  onCleanup('embedded Postgres', () => db.stop());
  await ensureDatabase(db.adminUrl, database);
  await migrate({ databaseUrl: db.urlFor(database), logger });
  const postmasterPid = Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  return { db, databaseUrl: db.urlFor(database), postmasterPid };
}

/** A Temporal dev server as the project starts it (or with other dynamic config), and the CLI that runs it. */
export async function startBenchTemporal(
  logger: Logger,
  onCleanup: OnCleanup,
  options: { dynamicConfig?: readonly string[] } = {},
): Promise<{ server: TemporalDevServer; cliPath: string }> {
  const cliPath = await resolveTemporalCli(process.env.TEMPORAL_CLI);
  const server = await startTemporalDevServer({
    cliPath,
    port: await getFreePort(),
    namespace: 'default',
    logger,
    headless: true,
    readyTimeoutMs: 90_000,
    dynamicConfig: options.dynamicConfig,
  });
  onCleanup('Temporal dev server', () => server.stop());
  return { server, cliPath };
}

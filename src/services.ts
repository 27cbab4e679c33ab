import path from 'node:path';
import type { Pool } from 'pg';
import { createPool, waitForDatabase } from './db/pool.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { connectTemporal, createTemporalClient } from './temporal/connection.js';
import { resolveTemporalCli, startTemporalDevServer } from './temporal/dev-server.js';
import type { ProcessContext } from './runtime.js';
import { requireDatabaseUrl, requireTemporalAddress } from './config.js';

/** Name of the application database inside the embedded cluster. */
export const EMBEDDED_DATABASE = 'erc8004';

/**
 * Postgres for this process: DATABASE_URL when set, else (only where `allowEmbedded`) the embedded cluster under
 * DATA_DIR. Waits for readiness and applies migrations when MIGRATE_ON_START is on.
 */
export async function provideDatabase(ctx: ProcessContext, { allowEmbedded }: { allowEmbedded: boolean }): Promise<string> {
  const { config, logger } = ctx;
  let url = config.database.url;
  if (!url) {
    if (!allowEmbedded) url = requireDatabaseUrl(config);
    else {
      const embedded = await startEmbeddedPostgres({
        dataDir: path.join(config.dataDir, 'postgres'),
        port: config.database.embeddedPort,
        logger,
        database: EMBEDDED_DATABASE,
      });
      ctx.onShutdown('embedded postgres', embedded.stop);
      url = embedded.urlFor(EMBEDDED_DATABASE);
    }
  }
  await waitForDatabase(url, config.database.readyTimeoutMs, logger);
  if (config.database.migrateOnStart) await migrate({ databaseUrl: url, logger });
  return url;
}

export function providePool(ctx: ProcessContext, url: string, applicationName: string): Pool {
  const pool = createPool(url, ctx.logger, { max: ctx.config.database.poolMax, applicationName });
  ctx.onShutdown('postgres pool', () => pool.end());
  return pool;
}

/** The Temporal frontend address: TEMPORAL_ADDRESS when set, else (only where `allowDevServer`) a dev server it starts. */
export async function provideTemporal(ctx: ProcessContext, { allowDevServer }: { allowDevServer: boolean }): Promise<string> {
  const { config, logger } = ctx;
  if (config.temporal.address || !allowDevServer) {
    const address = config.temporal.address ?? requireTemporalAddress(config);
    const connection = await connectTemporal(address, config.temporal.readyTimeoutMs, logger);
    await connection.close();
    return address;
  }
  const cliPath = await resolveTemporalCli(config.temporal.cliPath);
  const server = await startTemporalDevServer({
    cliPath,
    port: config.temporal.devPort,
    uiPort: config.temporal.uiPort,
    dbFile: path.join(config.dataDir, 'temporal', 'temporal.db'),
    namespace: config.temporal.namespace,
    logger,
    readyTimeoutMs: config.temporal.readyTimeoutMs,
  });
  ctx.onShutdown('temporal dev server', server.stop);
  return server.address;
}

export async function provideTemporalClient(ctx: ProcessContext, address: string) {
  const connection = await connectTemporal(address, ctx.config.temporal.readyTimeoutMs, ctx.logger);
  ctx.onShutdown('temporal client', () => connection.close());
  return createTemporalClient(connection, ctx.config.temporal.namespace);
}

import path from 'node:path';
import type { Pool } from 'pg';
import { createPool, waitForDatabase } from './db/pool.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { connectTemporal, createTemporalClient } from './temporal/connection.js';
import { resolveTemporalCli, startTemporalDevServer } from './temporal/dev-server.js';
import type { ProcessContext } from './runtime.js';
import { apiBaseUrl, requireDatabaseUrl, requireTemporalAddress } from './config.js';
import type { ChainConfig } from './chain/config.js';
import { ChainIndexer } from './indexer/chain-indexer.js';
import { createHeadSubscriptionClient, sleep } from './indexer/rpc.js';
import { Relay } from './relay/relay.js';
import { TriggerDispatcher } from './relay/trigger-dispatcher.js';
import { LinkLapseDispatcher } from './agents/lapses.js';
import { createMailer } from './mail/mailer.js';
import type { Client } from '@temporalio/client';
import type { ActionSettings } from './actions/settings.js';
import { createDirectSender } from './deliveries/direct.js';

/** Name of the application database inside the embedded cluster. */
export const EMBEDDED_DATABASE = 'erc8004';

/**
 * Postgres for this process: DATABASE_URL when set, else (only where `allowEmbedded`) the embedded cluster under
 * DATA_DIR. Waits for readiness and applies migrations when MIGRATE_ON_START is on.
 */
export async function provideDatabase(
  ctx: ProcessContext,
  { allowEmbedded }: { allowEmbedded: boolean },
): Promise<string> {
  const { config, logger } = ctx;
  let url = config.database.url;
  if (!url) {
    const running = `postgres://postgres:postgres@127.0.0.1:${config.database.embeddedPort}/${EMBEDDED_DATABASE}`;
    if (!allowEmbedded) url = requireDatabaseUrl(config);
    else if (await isReachable(running)) {
      // `npm start` is already running the embedded cluster: share it (e.g. `npm run backfill` next to it).
      logger.info({ port: config.database.embeddedPort }, 'using the embedded Postgres that is already running');
      url = running;
    } else {
      const embedded = await startEmbeddedPostgres({
        dataDir: path.join(config.dataDir, 'postgres'),
        port: config.database.embeddedPort,
        logger,
        database: EMBEDDED_DATABASE,
      });
      ctx.onShutdown('embedded postgres', embedded.stop);
      // SIGINT: a fast shutdown (SIGTERM would wait for every client to disconnect).
      ctx.trackChild('embedded Postgres', embedded.pid, 'SIGINT');
      url = embedded.urlFor(EMBEDDED_DATABASE);
    }
  }
  await waitForDatabase(url, config.database.readyTimeoutMs, logger);
  if (config.database.migrateOnStart) await migrate({ databaseUrl: url, logger });
  return url;
}

async function isReachable(url: string): Promise<boolean> {
  try {
    await waitForDatabase(url, 500);
    return true;
  } catch {
    return false;
  }
}

export function providePool(ctx: ProcessContext, url: string, applicationName: string): Pool {
  const pool = createPool(url, ctx.logger, { max: ctx.config.database.poolMax, applicationName });
  ctx.onShutdown('postgres pool', () => pool.end());
  return pool;
}

/** The Temporal frontend address: TEMPORAL_ADDRESS when set, else (only where `allowDevServer`) a dev server it starts. */
export async function provideTemporal(
  ctx: ProcessContext,
  { allowDevServer }: { allowDevServer: boolean },
): Promise<string> {
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
  ctx.trackChild('Temporal dev server', server.process.pid);
  return server.address;
}

export async function provideTemporalClient(ctx: ProcessContext, address: string) {
  const connection = await connectTemporal(address, ctx.config.temporal.readyTimeoutMs, ctx.logger);
  ctx.onShutdown('temporal client', () => connection.close());
  return createTemporalClient(connection, ctx.config.temporal.namespace);
}

/**
 * Live indexers for the configured chains; stopped (and their claims released) on shutdown. An indexer that fails
 * (e.g. it lost its lock) is restarted or fails the process (see `superviseComponent`).
 */
export function startIndexers(ctx: ProcessContext, pool: Pool, chains: ChainConfig[]): ChainIndexer[] {
  const controller = new AbortController();
  const indexers = chains.map(
    (chain) => new ChainIndexer({ chain, pool, logger: ctx.logger, signal: controller.signal }),
  );
  const subscriptions = indexers.map((indexer) => headSubscription(indexer.chain, ctx));
  const runs = indexers.map((indexer, i) =>
    superviseComponent(ctx, `indexer ${indexer.chain.chainId}`, controller.signal, () =>
      indexer.run({ wake: subscriptions[i]?.wake }),
    ),
  );
  ctx.onShutdown('indexers', async () => {
    controller.abort();
    await Promise.all(runs);
    // Closed, the WebSocket stops reconnecting (and complaining) once the chain's node goes away.
    await Promise.all(subscriptions.flatMap((s) => (s ? [s.close()] : [])));
  });
  return indexers;
}

/**
 * Runs a long-lived component until `signal` aborts. When its run fails (a lost lock, a fatal error), `npm start`'s
 * supervisor restarts it after a backoff and logs that it did; any other process exits with code 1 (its process
 * manager restarts it).
 */
export async function superviseComponent(
  ctx: ProcessContext,
  name: string,
  signal: AbortSignal,
  run: () => Promise<void>,
): Promise<void> {
  const log = ctx.logger.child({ component: name });
  let failures = 0;
  while (!signal.aborted) {
    const started = Date.now();
    try {
      await run();
      return;
    } catch (err) {
      if (signal.aborted) return;
      if (!ctx.restartFailedComponents) return ctx.fail(name, err);
      // A run that lasted a while starts the backoff over.
      failures = Date.now() - started > 60_000 ? 1 : failures + 1;
      const delayMs = Math.min(500 * 2 ** (failures - 1), 30_000);
      log.error({ err, restartInMs: delayMs, failures }, `${name} failed; restarting it`);
      await sleep(delayMs, signal).catch(() => undefined);
      if (!signal.aborted) log.warn({ failures }, `${name} restarted`);
    }
  }
}

/** With a WebSocket URL, new heads wake the indexer at once instead of at the next poll. */
function headSubscription(chain: ChainConfig, ctx: ProcessContext) {
  const client = createHeadSubscriptionClient(chain);
  if (!client) return undefined;
  return {
    wake: (notify: (head: number) => void) =>
      client.watchBlockNumber({
        emitOnBegin: false,
        onBlockNumber: (blockNumber) => notify(Number(blockNumber)),
        onError: (err) =>
          ctx.logger.warn({ err, chainId: chain.chainId }, 'head subscription error; polling continues'),
      }),
    close: async () => {
      const transport = client.transport as { getRpcClient?: () => Promise<{ close(): void }> };
      (await transport.getRpcClient?.().catch(() => undefined))?.close();
    },
  };
}

/**
 * The relay from the event log to the trigger workflows (per-event triggers evaluated on the way); a failed relay is
 * restarted or fails the process. With the action settings (the same sealing key as the workers'), the deliveries it
 * creates get their first attempts in this process at once (src/deliveries/direct.ts), else from the pumps.
 */
export function startRelay(
  ctx: ProcessContext,
  pool: Pool,
  databaseUrl: string,
  temporal: Client,
  actions?: ActionSettings,
): Relay {
  const taskQueue = ctx.config.temporal.taskQueue;
  const direct = actions && createDirectSender({ ...actions, pool, temporal, taskQueue, logger: ctx.logger });
  const dispatcher = new TriggerDispatcher({
    pool,
    temporal,
    taskQueue,
    logger: ctx.logger,
    dispatch: { dispatchers: ctx.config.actions.dispatchers },
    // The candidates of each batch from memory, kept current by NOTIFY.
    databaseUrl,
    direct,
  });
  const controller = new AbortController();
  const relay = new Relay({ pool, databaseUrl, dispatcher, logger: ctx.logger });
  const run = superviseComponent(ctx, 'relay', controller.signal, () => relay.run(controller.signal));
  // Agent links lapse on their own cursor: a slow mail never holds up the triggers (src/agents/lapses.ts).
  const mailer = createMailer(ctx.config, ctx.logger);
  const lapses = new Relay({
    pool,
    databaseUrl,
    name: 'agent-links',
    logger: ctx.logger,
    dispatcher: new LinkLapseDispatcher({
      pool,
      mailer,
      publicUrl: apiBaseUrl(ctx.config.api),
      logger: ctx.logger,
    }),
  });
  const lapsesRun = superviseComponent(ctx, 'agent-link relay', controller.signal, () => lapses.run(controller.signal));
  ctx.onShutdown('relay', async () => {
    controller.abort();
    await Promise.all([run, lapsesRun]);
    await dispatcher.close();
    await direct?.close();
    mailer.close();
  });
  return relay;
}

/**
 * The worker and the API as the entry points run them (`npm start`, `start:worker`, `start:api`), from the
 * configuration. Kept out of src/services.ts so that the indexer, relay and CLIs do not load the worker or the API.
 */
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { ActionSettings } from '../actions/settings.js';
import { startApiServer, type RunningApiServer } from '../api/server.js';
import { createApiServices } from '../api/services.js';
import { createApiHandlers } from '../api/trpc/handlers.js';
import { apiBaseUrl } from '../config.js';
import type { ProcessContext } from '../runtime.js';
import { startWorker, type RunningWorker } from '../worker/worker.js';

/** The Temporal worker on the configured task queue, with the schedules; a crash stops the process. */
export async function startConfiguredWorker(
  ctx: ProcessContext,
  pool: Pool,
  temporalAddress: string,
  actions: ActionSettings,
): Promise<RunningWorker> {
  const { config, logger } = ctx;
  const worker = await startWorker({
    address: temporalAddress,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    maxCachedWorkflows: config.temporal.maxCachedWorkflows,
    dispatch: { dispatchers: config.actions.dispatchers },
    eventRetentionDays: config.eventRetentionDays,
    queries: { prices: config.queries.prices, chains: config.chains },
    pool,
    logger,
    actions,
    schedules: true,
  });
  ctx.onShutdown('worker', worker.stop);
  // A crashed worker stops the process with a non-zero exit code (its process manager restarts it).
  worker.done.catch((err) => ctx.fail('worker', err));
  return worker;
}

/** The HTTP API (tRPC, REST, ingestion, health) with its services, on the configured host and port. */
export async function startConfiguredApi(
  ctx: ProcessContext,
  deps: { pool: Pool; databaseUrl: string; temporal: Client; actions: ActionSettings },
): Promise<RunningApiServer> {
  const { config, logger } = ctx;
  const { pool, databaseUrl, temporal, actions } = deps;
  const apiServices = await createApiServices({
    config,
    pool,
    databaseUrl,
    temporal,
    logger,
    secrets: actions.secrets,
    appKey: actions.appKey!,
  });
  ctx.onShutdown('api services', apiServices.close);
  const api = await startApiServer(
    {
      pool,
      temporal,
      taskQueue: config.temporal.taskQueue,
      logger,
      ingestApiToken: config.ingestApiToken,
      rateLimiter: apiServices.services.rateLimiter,
      trustedProxies: config.api.trustedProxies,
      stripeBilling: apiServices.services.stripeBilling,
      api: createApiHandlers(apiServices.services, {
        baseUrl: apiBaseUrl(config.api),
      }),
    },
    config.api,
  );
  ctx.onShutdown('api', api.stop);
  return api;
}

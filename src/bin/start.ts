/**
 * `npm start`: the whole system in one supervisor on embedded defaults — embedded Postgres (unless DATABASE_URL),
 * the Temporal dev server (unless TEMPORAL_ADDRESS), migrations, the worker, the indexers, the relay and the API — and,
 * with no chain configured, a local demo chain with a simulator. Ctrl-C stops everything.
 */
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, provideTemporal, provideTemporalClient, startIndexers, startRelay } from '../services.js';
import { TriggerDispatcher } from '../relay/trigger-dispatcher.js';
import { startWorker } from '../worker/worker.js';
import { actionSettings } from '../actions/settings.js';
import { createApiServices } from '../api/services.js';
import { createApiHandlers } from '../api/trpc/handlers.js';
import { startApiServer } from '../api/server.js';

await runProcess('erc8004', async (ctx) => {
  const { config, logger } = ctx;
  const [databaseUrl, temporalAddress] = await Promise.all([
    provideDatabase(ctx, { allowEmbedded: true }),
    provideTemporal(ctx, { allowDevServer: true }),
  ]);
  const pool = providePool(ctx, databaseUrl, 'erc8004-supervisor');

  const actions = await actionSettings(config);
  const worker = await startWorker({
    address: temporalAddress,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    maxCachedWorkflows: config.temporal.maxCachedWorkflows,
    pool,
    logger,
    actions,
    schedules: true,
  });
  ctx.onShutdown('worker', worker.stop);
  worker.done.catch((err) => {
    logger.fatal({ err }, 'worker crashed');
    process.kill(process.pid, 'SIGTERM');
  });

  let chains = config.chains;
  if (config.demo.mode === 'on' || (config.demo.mode === 'auto' && chains.length === 0)) {
    // Loaded only in demo mode: it pulls in the Solidity compiler and anvil.
    const { startDemo } = await import('../demo/demo-mode.js');
    chains = [...chains, await startDemo(ctx)];
  }
  const temporal = await provideTemporalClient(ctx, temporalAddress);
  startIndexers(ctx, pool, chains);
  startRelay(ctx, pool, databaseUrl, new TriggerDispatcher({ pool, temporal, taskQueue: config.temporal.taskQueue, logger }));

  const apiServices = await createApiServices({ config, pool, databaseUrl, temporal, logger, secrets: actions.secrets, appKey: actions.appKey! });
  ctx.onShutdown('api services', apiServices.close);
  const api = await startApiServer(
    {
      pool, temporal, taskQueue: config.temporal.taskQueue, logger, ingestApiToken: config.ingestApiToken,
      rateLimiter: apiServices.services.rateLimiter,
      api: createApiHandlers(apiServices.services, { baseUrl: config.api.publicUrl ?? `http://${config.api.host}:${config.api.port}` }),
    },
    config.api,
  );
  ctx.onShutdown('api', api.stop);

  logger.info(
    {
      api: api.url,
      health: `${api.url}/health`,
      temporalUi: config.temporal.address ? undefined : `http://127.0.0.1:${config.temporal.uiPort}`,
      temporal: temporalAddress,
      chains: chains.map((c) => c.chainId),
    },
    'erc8004-backend is up',
  );
});

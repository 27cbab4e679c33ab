/**
 * `npm start`: the whole system in one supervisor on embedded defaults — embedded Postgres (unless DATABASE_URL),
 * the Temporal dev server (unless TEMPORAL_ADDRESS), migrations, the worker and the API. Ctrl-C stops everything.
 */
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, provideTemporal, provideTemporalClient } from '../services.js';
import { startWorker } from '../worker/worker.js';
import { startApiServer } from '../api/server.js';

await runProcess('erc8004', async (ctx) => {
  const { config, logger } = ctx;
  const [databaseUrl, temporalAddress] = await Promise.all([
    provideDatabase(ctx, { allowEmbedded: true }),
    provideTemporal(ctx, { allowDevServer: true }),
  ]);
  const pool = providePool(ctx, databaseUrl, 'erc8004-supervisor');

  const worker = await startWorker({
    address: temporalAddress,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    pool,
    logger,
  });
  ctx.onShutdown('worker', worker.stop);
  worker.done.catch((err) => {
    logger.fatal({ err }, 'worker crashed');
    process.kill(process.pid, 'SIGTERM');
  });

  const temporal = await provideTemporalClient(ctx, temporalAddress);
  const api = await startApiServer({ pool, temporal, taskQueue: config.temporal.taskQueue, logger }, config.api);
  ctx.onShutdown('api', api.stop);

  logger.info(
    {
      api: api.url,
      health: `${api.url}/health`,
      temporalUi: config.temporal.address ? undefined : `http://127.0.0.1:${config.temporal.uiPort}`,
      temporal: temporalAddress,
    },
    'erc8004-backend is up',
  );
});

/** Production entry point: the Temporal worker for workflows/ and activities/. Needs DATABASE_URL and TEMPORAL_ADDRESS. */
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, provideTemporal } from '../services.js';
import { startWorker } from '../worker/worker.js';
import { actionSettings } from '../actions/settings.js';

await runProcess('erc8004-worker', async (ctx) => {
  const { config, logger } = ctx;
  const databaseUrl = await provideDatabase(ctx, { allowEmbedded: false });
  const temporalAddress = await provideTemporal(ctx, { allowDevServer: false });
  const pool = providePool(ctx, databaseUrl, 'erc8004-worker');
  const worker = await startWorker({
    address: temporalAddress,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    maxCachedWorkflows: config.temporal.maxCachedWorkflows,
    pool,
    logger,
    actions: await actionSettings(config),
    schedules: true,
  });
  ctx.onShutdown('worker', worker.stop);
  worker.done.catch((err) => {
    logger.fatal({ err }, 'worker crashed');
    process.kill(process.pid, 'SIGTERM');
  });
});

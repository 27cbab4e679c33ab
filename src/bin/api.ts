/** Production entry point: the HTTP API. Needs DATABASE_URL and TEMPORAL_ADDRESS. */
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, provideTemporal, provideTemporalClient } from '../services.js';
import { startApiServer } from '../api/server.js';
import { actionSettings } from '../actions/settings.js';
import { createApiServices } from '../api/services.js';
import { createApiHandlers } from '../api/trpc/handlers.js';

await runProcess('erc8004-api', async (ctx) => {
  const databaseUrl = await provideDatabase(ctx, { allowEmbedded: false });
  const temporalAddress = await provideTemporal(ctx, { allowDevServer: false });
  const pool = providePool(ctx, databaseUrl, 'erc8004-api');
  const temporal = await provideTemporalClient(ctx, temporalAddress);
  const { config, logger } = ctx;
  const actions = await actionSettings(config);
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
});

/** Production entry point: the HTTP API. Needs DATABASE_URL and TEMPORAL_ADDRESS. */
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, provideTemporal, provideTemporalClient } from '../services.js';
import { startApiServer } from '../api/server.js';

await runProcess('erc8004-api', async (ctx) => {
  const databaseUrl = await provideDatabase(ctx, { allowEmbedded: false });
  const temporalAddress = await provideTemporal(ctx, { allowDevServer: false });
  const pool = providePool(ctx, databaseUrl, 'erc8004-api');
  const temporal = await provideTemporalClient(ctx, temporalAddress);
  const api = await startApiServer(
    { pool, temporal, taskQueue: ctx.config.temporal.taskQueue, logger: ctx.logger, ingestApiToken: ctx.config.ingestApiToken },
    ctx.config.api,
  );
  ctx.onShutdown('api', api.stop);
});

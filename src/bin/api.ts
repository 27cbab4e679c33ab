/** Production entry point: the HTTP API. Needs DATABASE_URL and TEMPORAL_ADDRESS. */
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, provideTemporal, provideTemporalClient } from '../services.js';
import { startConfiguredApi } from './components.js';
import { actionSettings } from '../actions/settings.js';

await runProcess('erc8004-api', async (ctx) => {
  const databaseUrl = await provideDatabase(ctx, { allowEmbedded: false });
  const temporalAddress = await provideTemporal(ctx, { allowDevServer: false });
  const pool = providePool(ctx, databaseUrl, 'erc8004-api');
  const temporal = await provideTemporalClient(ctx, temporalAddress);
  await startConfiguredApi(ctx, { pool, databaseUrl, temporal, actions: await actionSettings(ctx.config) });
});

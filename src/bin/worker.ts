/** Production entry point: the Temporal worker for workflows/ and activities/. Needs DATABASE_URL and TEMPORAL_ADDRESS. */
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, provideTemporal } from '../services.js';
import { startConfiguredWorker } from './components.js';
import { actionSettings } from '../actions/settings.js';

await runProcess('erc8004-worker', async (ctx) => {
  const databaseUrl = await provideDatabase(ctx, { allowEmbedded: false });
  const temporalAddress = await provideTemporal(ctx, { allowDevServer: false });
  const pool = providePool(ctx, databaseUrl, 'erc8004-worker');
  await startConfiguredWorker(ctx, pool, temporalAddress, await actionSettings(ctx.config));
});

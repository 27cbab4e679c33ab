/** Production entry point: the relay from the event log to the trigger workflows. Needs DATABASE_URL and TEMPORAL_ADDRESS. */
import { actionSettings } from '../actions/settings.js';
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, provideTemporal, provideTemporalClient, startRelay } from '../services.js';

await runProcess('erc8004-relay', async (ctx) => {
  const databaseUrl = await provideDatabase(ctx, { allowEmbedded: false });
  const temporalAddress = await provideTemporal(ctx, { allowDevServer: false });
  const pool = providePool(ctx, databaseUrl, 'erc8004-relay');
  const temporal = await provideTemporalClient(ctx, temporalAddress);
  // First attempts in this process need the workers' sealing key: only with APP_ENCRYPTION_KEY (else the pumps make them).
  const actions = ctx.config.actions.appEncryptionKey ? await actionSettings(ctx.config) : undefined;
  startRelay(ctx, pool, databaseUrl, temporal, actions);
});

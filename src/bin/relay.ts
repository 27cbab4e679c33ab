/** Production entry point: the relay from the event log to the trigger workflows. Needs DATABASE_URL. */
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, startRelay } from '../services.js';
import { LogDispatcher } from '../relay/log-dispatcher.js';

await runProcess('erc8004-relay', async (ctx) => {
  const databaseUrl = await provideDatabase(ctx, { allowEmbedded: false });
  const pool = providePool(ctx, databaseUrl, 'erc8004-relay');
  startRelay(ctx, pool, databaseUrl, new LogDispatcher(ctx.logger.child({ component: 'relay' })));
});

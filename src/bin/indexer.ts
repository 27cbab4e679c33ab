/** Production entry point: the live indexers of the chains in CHAINS / CHAINS_FILE. Needs DATABASE_URL. */
import { ConfigError } from '../config.js';
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool, startIndexers } from '../services.js';

await runProcess('erc8004-indexer', async (ctx) => {
  if (ctx.config.chains.length === 0)
    throw new ConfigError(['CHAINS: no chain configured (set CHAINS or CHAINS_FILE)']);
  const databaseUrl = await provideDatabase(ctx, { allowEmbedded: false });
  const pool = providePool(ctx, databaseUrl, 'erc8004-indexer');
  startIndexers(ctx, pool, ctx.config.chains);
});

/**
 * `npm start`: the whole system in one supervisor on embedded defaults — embedded Postgres (unless DATABASE_URL),
 * the Temporal dev server (unless TEMPORAL_ADDRESS), migrations, the worker, the indexers, the relay and the API — and,
 * with no chain configured, a local demo chain with a simulator. Ctrl-C stops everything. An indexer or the relay that
 * fails (e.g. loses its lock) is restarted here, and the log says so.
 */
import { runProcess } from '../runtime.js';
import {
  provideDatabase,
  providePool,
  provideTemporal,
  provideTemporalClient,
  startIndexers,
  startRelay,
} from '../services.js';
import { startConfiguredApi, startConfiguredWorker } from './components.js';
import { actionSettings } from '../actions/settings.js';

await runProcess(
  'erc8004',
  async (ctx) => {
    const { config, logger } = ctx;
    const [databaseUrl, temporalAddress] = await Promise.all([
      provideDatabase(ctx, { allowEmbedded: true }),
      provideTemporal(ctx, { allowDevServer: true }),
    ]);
    const pool = providePool(ctx, databaseUrl, 'erc8004-supervisor');

    const actions = await actionSettings(config);
    await startConfiguredWorker(ctx, pool, temporalAddress, actions);

    let chains = config.chains;
    if (config.demo.mode === 'on' || (config.demo.mode === 'auto' && chains.length === 0)) {
      // Loaded only in demo mode: it pulls in the Solidity compiler and anvil.
      const { startDemo } = await import('../demo/demo-mode.js');
      chains = [...chains, await startDemo(ctx)];
    }
    const temporal = await provideTemporalClient(ctx, temporalAddress);
    startIndexers(ctx, pool, chains);
    startRelay(ctx, pool, databaseUrl, temporal, actions);

    const api = await startConfiguredApi(ctx, { pool, databaseUrl, temporal, actions });

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
  },
  { restartFailedComponents: true, recordChildren: true },
);

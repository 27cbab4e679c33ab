import path from 'node:path';
import type { ChainConfig } from '../chain/config.js';
import type { ProcessContext } from '../runtime.js';
import { startDemoChain } from './demo-chain.js';
import { startSimulator } from './simulator.js';

/** Starts the demo chain and its simulator for `npm start`; both stop with the supervisor. */
export async function startDemo(ctx: ProcessContext): Promise<ChainConfig> {
  const { config, logger } = ctx;
  const demo = await startDemoChain({ dataDir: config.dataDir, port: config.demo.anvilPort, logger });
  ctx.onShutdown('demo chain', demo.stop);
  ctx.trackChild('demo chain (anvil)', demo.pid);
  const simulator = startSimulator({
    registries: demo.registries,
    eventsPerSecond: config.demo.eventsPerSecond,
    logger,
  });
  ctx.onShutdown('demo simulator', simulator.stop);
  logger.info(
    {
      rpcUrl: demo.rpcUrl,
      chainId: demo.chain.chainId,
      resumed: !demo.fresh,
      eventsPerSecond: config.demo.eventsPerSecond,
      state: path.join(config.dataDir, 'anvil'),
    },
    'demo mode: local anvil chain with our ERC-8004 registries and a simulator',
  );
  return demo.chain;
}

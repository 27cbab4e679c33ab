import type pg from 'pg';
import { parseChains, type ChainConfig } from '../../src/chain/config.js';
import {
  deployPaymentToken,
  deployRegistries,
  startAnvil,
  type AnvilInstance,
  type AnvilOptions,
  type DeployedPaymentToken,
  type DeployedRegistries,
} from '../../src/chain/dev/anvil.js';
import { DevRegistries } from '../../src/chain/dev/registry-client.js';
import { ChainIndexer } from '../../src/indexer/chain-indexer.js';
import { testLogger } from './logger.js';

export interface TestChain {
  anvil: AnvilInstance;
  deployed: DeployedRegistries;
  registries: DevRegistries;
  config: ChainConfig;
  /** Our EIP-3009 token (with Multicall3 installed), when asked for with `paymentToken: true`. */
  paymentToken: DeployedPaymentToken | undefined;
  stop(): Promise<void>;
}

/** A fresh anvil with our registries deployed, and the chain configuration an indexer needs to read it. */
export async function startTestChain(
  options: AnvilOptions & { confirmations?: number; maxBlockRange?: number; paymentToken?: boolean } = {},
): Promise<TestChain> {
  const anvil = await startAnvil(options);
  try {
    const deployed = await deployRegistries(anvil.rpcUrl);
    const registries = await DevRegistries.connect(anvil.rpcUrl, deployed);
    const firstBlock = Number(deployed.deployBlock);
    const [config] = parseChains([
      {
        chainId: anvil.chainId,
        rpcUrl: anvil.rpcUrl,
        wsUrl: anvil.wsUrl,
        confirmations: options.confirmations ?? 0,
        pollIntervalMs: 50,
        maxBlockRange: options.maxBlockRange ?? 1_000,
        deployments: [
          { registry: 'identity', address: deployed.identity, abiVersion: 'v1.0', firstBlock },
          { registry: 'reputation', address: deployed.reputation, abiVersion: 'v1.0', firstBlock },
          { registry: 'validation', address: deployed.validation, abiVersion: 'v1.0', firstBlock },
          { registry: 'reputation', address: deployed.legacyReputation, abiVersion: 'v0.4', firstBlock },
        ],
      },
    ]);
    const paymentToken = options.paymentToken ? await deployPaymentToken(anvil.rpcUrl) : undefined;
    return { anvil, deployed, registries, config: config!, paymentToken, stop: () => anvil.stop() };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

export function testIndexer(chain: ChainConfig, pool: pg.Pool, signal?: AbortSignal): ChainIndexer {
  return new ChainIndexer({ chain, pool, logger: testLogger, signal });
}

/** Canonical events of a chain in chain order, with the columns a test compares. */
export async function canonicalEvents(pool: pg.Pool, chainId: number) {
  const { rows } = await pool.query(
    `SELECT * FROM canonical_events WHERE chain_id = $1 ORDER BY block_number, log_index`,
    [chainId],
  );
  return rows;
}

/**
 * Demo mode's chain: a local anvil with our registries deployed, persisted under `<dataDir>/anvil/` so a restart
 * resumes the same chain (same blocks, hashes, logs and addresses) instead of starting over.
 *
 * - `state.json`: anvil's own `--state` file (loaded on start, dumped on a graceful exit and every few seconds).
 * - `deployment.json`: the registry addresses, the deployment block and its hash, written after a fresh deployment.
 *
 * Verified with anvil 1.7.1: after a SIGTERM/SIGINT (or an interval dump) and a restart with `--state`, block numbers,
 * block hashes, parent hashes, logs (with blockTimestamp), nonces and code are all preserved, and new blocks extend
 * the old head. A chain that does not match the saved deployment (missing/corrupt state, other hashes, no code) is
 * discarded and redeployed, and `fresh: true` tells the caller that previously indexed demo events are gone (the
 * indexer's reorg detection retracts them).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createPublicClient, getAddress, http, type Address, type Hex } from 'viem';
import { parseChains, type ChainConfig } from '../chain/config.js';
import {
  anvilChain,
  deployRegistries,
  startAnvil,
  type AnvilInstance,
  type AnvilOptions,
  type DeployedRegistries,
} from '../chain/dev/anvil.js';
import { DevRegistries } from '../chain/dev/registry-client.js';
import type { Logger } from '../logger.js';

export interface DemoChainOptions {
  /** The application's data directory; the chain lives in `<dataDir>/anvil/`. */
  dataDir: string;
  /** JSON-RPC (HTTP and WebSocket) port of the demo chain. */
  port: number;
  logger: Logger;
}

export interface DemoChain {
  chain: ChainConfig;
  registries: DevRegistries;
  deployed: DeployedRegistries;
  rpcUrl: string;
  wsUrl: string;
  /** True when the registries were deployed on a new chain (nothing from a previous run survives). */
  fresh: boolean;
  /** The anvil process. */
  pid: number | undefined;
  /** Stops anvil gracefully (it dumps its state to `<dataDir>/anvil/state.json`). Safe to call more than once. */
  stop(): Promise<void>;
}

/** What `deployment.json` holds. */
interface SavedDeployment {
  version: 1;
  chainId: number;
  identity: Address;
  reputation: Address;
  validation: Address;
  legacyReputation: Address;
  deployer: Address;
  deployBlock: string;
  deployBlockHash: Hex;
  deployedAt: string;
}

/** Seconds between anvil's periodic state dumps: bounds what a crash (SIGKILL) loses. */
const STATE_INTERVAL_SECONDS = 5;

export async function startDemoChain(opts: DemoChainOptions): Promise<DemoChain> {
  const log = opts.logger.child({ component: 'demo-chain' });
  const dir = path.join(opts.dataDir, 'anvil');
  const stateFile = path.join(dir, 'state.json');
  const deploymentFile = path.join(dir, 'deployment.json');
  await fs.mkdir(dir, { recursive: true });

  const launch = async (): Promise<AnvilInstance> => {
    const anvilOptions: AnvilOptions = {
      port: opts.port,
      extraArgs: ['--state', stateFile, '--state-interval', String(STATE_INTERVAL_SECONDS)],
    };
    return startAnvil(anvilOptions);
  };

  const discard = async (reason: string) => {
    log.warn({ reason, dir }, 'discarding the saved demo chain; deploying a fresh one');
    await Promise.all([fs.rm(stateFile, { force: true }), fs.rm(deploymentFile, { force: true })]);
  };

  let anvil: AnvilInstance | undefined;
  let deployed: DeployedRegistries | undefined;
  let fresh = true;

  const saved = await readSavedDeployment(deploymentFile);
  const haveState = await exists(stateFile);
  if (saved && haveState) {
    try {
      anvil = await launch();
    } catch (err) {
      // A corrupt or incompatible state file makes anvil exit at once.
      await discard(`anvil could not load the saved state: ${(err as Error).message}`);
    }
    if (anvil) {
      const problem = await verifyDeployment(anvil, saved);
      if (problem === undefined) {
        deployed = {
          identity: saved.identity,
          reputation: saved.reputation,
          validation: saved.validation,
          legacyReputation: saved.legacyReputation,
          deployBlock: BigInt(saved.deployBlock),
          deployer: saved.deployer,
          chain: anvilChain(anvil.rpcUrl, anvil.chainId),
        };
        fresh = false;
      } else {
        await anvil.stop(); // dumps the mismatched state; removed next
        anvil = undefined;
        await discard(problem);
      }
    }
  } else if (saved || haveState) {
    await discard(
      saved
        ? 'deployment.json exists but state.json is missing'
        : 'state.json exists but deployment.json is missing or unreadable',
    );
  }

  try {
    if (!anvil) anvil = await launch();
    if (!deployed) {
      deployed = await deployRegistries(anvil.rpcUrl);
      const block = await publicClient(anvil).getBlock({ blockNumber: deployed.deployBlock });
      const record: SavedDeployment = {
        version: 1,
        chainId: anvil.chainId,
        identity: deployed.identity,
        reputation: deployed.reputation,
        validation: deployed.validation,
        legacyReputation: deployed.legacyReputation,
        deployer: deployed.deployer,
        deployBlock: deployed.deployBlock.toString(),
        deployBlockHash: block.hash,
        deployedAt: new Date().toISOString(),
      };
      const tmp = `${deploymentFile}.tmp`;
      await fs.writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
      await fs.rename(tmp, deploymentFile);
      fresh = true;
    }

    const registries = await DevRegistries.connect(anvil.rpcUrl, deployed);
    const firstBlock = Number(deployed.deployBlock);
    const [chain] = parseChains(
      [
        {
          chainId: anvil.chainId,
          name: 'demo (local anvil)',
          rpcUrl: anvil.rpcUrl,
          wsUrl: anvil.wsUrl,
          confirmations: 0,
          pollIntervalMs: 200,
          maxBlockRange: 2_000,
          deployments: [
            { registry: 'identity', address: deployed.identity, abiVersion: 'v1.0', firstBlock },
            { registry: 'reputation', address: deployed.reputation, abiVersion: 'v1.0', firstBlock },
            { registry: 'validation', address: deployed.validation, abiVersion: 'v1.0', firstBlock },
            { registry: 'reputation', address: deployed.legacyReputation, abiVersion: 'v0.4', firstBlock },
          ],
        },
      ],
      'demo chain',
    );

    log.info(
      {
        rpcUrl: anvil.rpcUrl,
        chainId: anvil.chainId,
        fresh,
        deployBlock: firstBlock,
        identity: deployed.identity,
        reputation: deployed.reputation,
        validation: deployed.validation,
        legacyReputation: deployed.legacyReputation,
        stateFile,
      },
      fresh ? 'demo chain started with freshly deployed registries' : 'demo chain resumed from saved state',
    );

    const running = anvil;
    return {
      chain: chain!,
      registries,
      deployed,
      rpcUrl: running.rpcUrl,
      wsUrl: running.wsUrl,
      fresh,
      pid: running.pid,
      stop: () => running.stop(),
    };
  } catch (err) {
    await anvil?.stop();
    throw err;
  }
}

function publicClient(anvil: AnvilInstance) {
  return createPublicClient({ chain: anvilChain(anvil.rpcUrl, anvil.chainId), transport: http(anvil.rpcUrl) });
}

/** Why the running chain does not hold the saved deployment, or undefined when it does. */
async function verifyDeployment(anvil: AnvilInstance, saved: SavedDeployment): Promise<string | undefined> {
  if (anvil.chainId !== saved.chainId) return `chain id ${anvil.chainId} differs from the saved ${saved.chainId}`;
  const client = publicClient(anvil);
  try {
    const deployBlock = BigInt(saved.deployBlock);
    const head = await client.getBlockNumber({ cacheTime: 0 });
    if (head < deployBlock) return `the chain head ${head} is below the deployment block ${deployBlock}`;
    const block = await client.getBlock({ blockNumber: deployBlock });
    if (block.hash !== saved.deployBlockHash) {
      return `block ${deployBlock} has hash ${block.hash}, the deployment was in ${saved.deployBlockHash}`;
    }
    for (const address of [saved.identity, saved.reputation, saved.validation, saved.legacyReputation]) {
      const code = await client.getCode({ address });
      if (!code || code === '0x') return `no contract code at ${address}`;
    }
    return undefined;
  } catch (err) {
    return `cannot verify the saved deployment: ${(err as Error).message}`;
  }
}

async function readSavedDeployment(file: string): Promise<SavedDeployment | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const json = JSON.parse(text) as Partial<SavedDeployment>;
    const isHex = (v: unknown): v is Hex => typeof v === 'string' && /^0x[0-9a-fA-F]*$/.test(v);
    if (
      json.version !== 1 ||
      typeof json.chainId !== 'number' ||
      typeof json.deployBlock !== 'string' ||
      !/^\d+$/.test(json.deployBlock) ||
      !isHex(json.deployBlockHash) ||
      ![json.identity, json.reputation, json.validation, json.legacyReputation, json.deployer].every(
        (a) => typeof a === 'string' && /^0x[0-9a-fA-F]{40}$/.test(a),
      )
    ) {
      return undefined;
    }
    return {
      ...(json as SavedDeployment),
      identity: getAddress(json.identity!),
      reputation: getAddress(json.reputation!),
      validation: getAddress(json.validation!),
      legacyReputation: getAddress(json.legacyReputation!),
      deployer: getAddress(json.deployer!),
    };
  } catch {
    return undefined;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch {
    return false;
  }
}

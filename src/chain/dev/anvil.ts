/**
 * A real local chain for tests: spawns the anvil binary shipped by @foundry-rs/anvil on a free port, and deploys
 * our registries (src/chain/contracts) with anvil's unlocked default accounts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  http,
  type Abi,
  type Address,
  type Chain,
  type Hex,
} from 'viem';
import { loadArtifacts } from './compile.js';

export interface AnvilOptions {
  /** Seconds between blocks (interval mining). Default: automine (a block per transaction). */
  blockTime?: number;
  /** Default 31337. */
  chainId?: number;
  /** A fixed port (demo mode); default: a free port picked at start. */
  port?: number;
  /** Extra command-line arguments passed to anvil as is. */
  extraArgs?: string[];
  /** How long to wait for anvil to answer eth_chainId. Default 15 s. */
  readyTimeoutMs?: number;
}

export interface AnvilInstance {
  rpcUrl: string;
  wsUrl: string;
  port: number;
  chainId: number;
  /** The anvil process. */
  pid: number | undefined;
  /** Kills anvil and waits for it to exit. Safe to call more than once. */
  stop(): Promise<void>;
}

const PLATFORM_PACKAGES: Record<string, string> = {
  'linux-x64': '@foundry-rs/anvil-linux-amd64',
  'linux-arm64': '@foundry-rs/anvil-linux-arm64',
  'darwin-x64': '@foundry-rs/anvil-darwin-amd64',
  'darwin-arm64': '@foundry-rs/anvil-darwin-arm64',
  'win32-x64': '@foundry-rs/anvil-win32-amd64',
};

/** Absolute path of the anvil binary (ANVIL_BIN overrides). */
export function resolveAnvilBinary(): string {
  if (process.env.ANVIL_BIN) return process.env.ANVIL_BIN;
  const platform = `${process.platform}-${process.arch}`;
  const pkg = PLATFORM_PACKAGES[platform];
  const require = createRequire(import.meta.url);
  let dir: string | undefined;
  if (pkg) {
    try {
      dir = path.dirname(require.resolve(`${pkg}/package.json`));
    } catch {
      dir = undefined;
    }
  }
  const bin = dir && path.join(dir, 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
  if (!bin || !fs.existsSync(bin)) {
    throw new Error(
      `anvil binary not found for ${platform}: expected the optional package ${pkg ?? '(none for this platform)'} ` +
        'installed by @foundry-rs/anvil (do not install with --omit=optional), or set ANVIL_BIN to an anvil binary.',
    );
  }
  return bin;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      server.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort: never leave an anvil behind when the test process exits without calling stop().
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

async function rpcChainId(rpcUrl: string): Promise<number | undefined> {
  try {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1_000),
    });
    const body = (await res.json()) as { result?: string };
    return body.result ? Number(body.result) : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startOnce(opts: AnvilOptions): Promise<AnvilInstance> {
  const bin = resolveAnvilBinary();
  const port = opts.port ?? (await freePort());
  const chainId = opts.chainId ?? 31337;
  const args = ['--port', String(port), '--host', '127.0.0.1', '--chain-id', String(chainId), '--silent'];
  if (opts.blockTime !== undefined) args.push('--block-time', String(opts.blockTime));
  if (opts.extraArgs) args.push(...opts.extraArgs);

  // Its own process group: a Ctrl-C reaches our process only, which stops the indexer before the chain (and the exit
  // hook above still takes it down should we exit without stopping it).
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  running.add(child);
  installExitHook();

  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      stderr += `\n${err.message}`;
      running.delete(child);
      resolve();
    });
  });
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const stop = async () => {
    if (hasExited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  const rpcUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (hasExited) {
      throw new Error(`anvil exited before becoming ready (port ${port}, code ${child.exitCode}): ${stderr.trim()}`);
    }
    const id = await rpcChainId(rpcUrl);
    if (id !== undefined) {
      if (id !== chainId) {
        await stop();
        throw new Error(`anvil on port ${port} answered chain id ${id}, expected ${chainId}`);
      }
      break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`anvil did not answer eth_chainId on ${rpcUrl} in time: ${stderr.trim()}`);
    }
    await sleep(25);
  }
  return { rpcUrl, wsUrl: `ws://127.0.0.1:${port}`, port, chainId, pid: child.pid, stop };
}

/** Starts anvil on a free port and resolves once it answers JSON-RPC. Retries on a lost port race. */
export async function startAnvil(opts: AnvilOptions = {}): Promise<AnvilInstance> {
  let lastError: unknown;
  // A fixed port cannot lose a race for a free port: no point retrying.
  for (let attempt = 0; attempt < (opts.port === undefined ? 3 : 1); attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error) || !err.message.startsWith('anvil exited before becoming ready')) throw err;
    }
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------------------- deployment

export interface DeployedRegistries {
  identity: Address;
  reputation: Address;
  validation: Address;
  legacyReputation: Address;
  /** Block of the first deployment (the identity registry): where an indexer should start. */
  deployBlock: bigint;
  /** The account that deployed (anvil's first default account). */
  deployer: Address;
  chain: Chain;
}

/** A viem chain for a local anvil at rpcUrl. */
export function anvilChain(rpcUrl: string, chainId = 31337): Chain {
  return defineChain({
    id: chainId,
    name: 'anvil',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** Deploys contracts with anvil's first unlocked account, waiting for each receipt. */
async function anvilDeployer(rpcUrl: string) {
  const probe = createPublicClient({ transport: http(rpcUrl) });
  const chain = anvilChain(rpcUrl, await probe.getChainId());
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 50 });
  const wallet = createWalletClient({ chain, transport: http(rpcUrl), pollingInterval: 50 });
  const [first] = await wallet.getAddresses();
  if (!first) throw new Error(`no unlocked accounts on ${rpcUrl}`);
  const deployer = getAddress(first);
  const deploy = async (abi: Abi, bytecode: Hex, args: readonly unknown[]) => {
    const hash = await wallet.deployContract({ abi, bytecode, args, account: deployer, chain });
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    if (receipt.status !== 'success' || !receipt.contractAddress) {
      throw new Error(`deployment failed (tx ${hash}, status ${receipt.status})`);
    }
    return { address: getAddress(receipt.contractAddress), blockNumber: receipt.blockNumber };
  };
  return { chain, publicClient, deployer, deploy };
}

/** Deploys the four test registries with anvil's first unlocked account, waiting for each receipt. */
export async function deployRegistries(rpcUrl: string): Promise<DeployedRegistries> {
  const artifacts = await loadArtifacts();
  const { chain, deployer, deploy } = await anvilDeployer(rpcUrl);

  const identity = await deploy(artifacts.IdentityRegistry.abi, artifacts.IdentityRegistry.bytecode, []);
  const reputation = await deploy(artifacts.ReputationRegistry.abi, artifacts.ReputationRegistry.bytecode, [
    identity.address,
  ]);
  const validation = await deploy(artifacts.ValidationRegistry.abi, artifacts.ValidationRegistry.bytecode, [
    identity.address,
  ]);
  const legacyReputation = await deploy(
    artifacts.LegacyReputationRegistryV04.abi,
    artifacts.LegacyReputationRegistryV04.bytecode,
    [identity.address],
  );

  return {
    identity: identity.address,
    reputation: reputation.address,
    validation: validation.address,
    legacyReputation: legacyReputation.address,
    deployBlock: identity.blockNumber,
    deployer,
    chain,
  };
}

// ---------------------------------------------------------------------------------------------------- payment token

/** Where Multicall3 lives on every public chain (and where x402's EVM verifier looks for it). */
export const MULTICALL3_ADDRESS: Address = '0xcA11bde05977b3631167028862bE2a173976CA11';

export interface DeployedPaymentToken {
  /** TestUSDC: EIP-3009, EIP-712 domain { name: 'USD Coin', version: '2' }, 6 decimals. */
  address: Address;
  name: string;
  version: string;
  decimals: number;
}

/**
 * Deploys our EIP-3009 test token (src/chain/contracts/TestUSDC.sol) with anvil's first account, and installs a
 * Multicall3 at its canonical address when the chain has none (anvil has none; the x402 verifier reads failure
 * reasons through it).
 */
export async function deployPaymentToken(rpcUrl: string): Promise<DeployedPaymentToken> {
  const artifacts = await loadArtifacts();
  const { publicClient, deploy } = await anvilDeployer(rpcUrl);
  const token = await deploy(artifacts.TestUSDC.abi, artifacts.TestUSDC.bytecode, []);
  if (!(await publicClient.getCode({ address: MULTICALL3_ADDRESS }))) {
    const multicall = await deploy(artifacts.TestMulticall3.abi, artifacts.TestMulticall3.bytecode, []);
    const code = await publicClient.getCode({ address: multicall.address });
    await publicClient.request({
      method: 'anvil_setCode' as never,
      params: [MULTICALL3_ADDRESS, code] as never,
    });
  }
  return { address: token.address, name: 'USD Coin', version: '2', decimals: 6 };
}

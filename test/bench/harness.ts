/**
 * The stack every benchmark runs on, in one place: the run and its cleanups, a temp folder, an embedded Postgres with a
 * migrated database, a Temporal dev server (in memory, headless), anvil with our registries (and the bench emitter),
 * background loops (relay, indexer), child processes (the Temporal worker, the load generator) and loopback HTTP
 * receivers. The benchmark scripts keep only what they measure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { getAddress, type Abi, type Address } from 'viem';
import {
  deployRegistries,
  startAnvil,
  type AnvilInstance,
  type DeployedRegistries,
} from '../../src/chain/dev/anvil.js';
import { DevRegistries } from '../../src/chain/dev/registry-client.js';
import { ensureDatabase, startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import type { Logger } from '../../src/logger.js';
import { resolveTemporalCli, startTemporalDevServer, type TemporalDevServer } from '../../src/temporal/dev-server.js';
import { getFreePort } from '../helpers/ports.js';
import { BenchError, now, rpc, sleep } from './common.js';
import type { StatsRequest, WorkerChildMessage } from './worker-child.js';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const PROJECT_ROOT = path.resolve(BENCH_DIR, '../..');

// ------------------------------------------------------------------------------------------------ the run

export type OnCleanup = (name: string, fn: () => Promise<unknown>) => void;

/**
 * A benchmark run: `onCleanup` registers what to stop, `run` runs the benchmark's main, then the cleanups in reverse
 * order (each bounded in time), and exits with its status (a BenchError or a crash: non-zero; slowness never is).
 */
export function benchRun(cleanupTimeoutMs = 30_000): {
  onCleanup: OnCleanup;
  run(main: () => Promise<void>): Promise<never>;
} {
  const cleanups: { name: string; fn: () => Promise<unknown> }[] = [];
  return {
    onCleanup: (name, fn) => cleanups.push({ name, fn }),
    async run(main) {
      let exitCode = 0;
      try {
        await main();
      } catch (err) {
        exitCode = 1;
        console.error(
          `ERROR: ${err instanceof BenchError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      } finally {
        for (const { name, fn } of cleanups.reverse()) {
          try {
            await Promise.race([
              fn(),
              sleep(cleanupTimeoutMs).then(() =>
                Promise.reject(new Error(`timed out after ${cleanupTimeoutMs / 1000} s`)),
              ),
            ]);
          } catch (err) {
            console.error(`cleanup of ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      }
      process.exit(exitCode);
    },
  };
}

/**
 * Runs a loop (relay, indexer) until cleanup aborts it (or `controller`, for a loop given its signal earlier); the returned check throws the loop's error, if it failed, so
 * that a benchmark stops instead of waiting for work that will never happen.
 */
export function runInBackground(
  name: string,
  loop: (signal: AbortSignal) => Promise<unknown>,
  onCleanup: OnCleanup,
  controller = new AbortController(),
): () => void {
  let failure: unknown;
  const running = loop(controller.signal).catch((err: unknown) => (failure = err));
  onCleanup(name, async () => {
    controller.abort();
    await running;
  });
  return () => {
    if (failure) throw failure;
  };
}

// ------------------------------------------------------------------------------------------------ Postgres, Temporal

/** A temp folder removed at the end; Postgres runs as an unprivileged user when we are root, so others may enter it. */
export async function benchFolder(prefix: string, onCleanup: OnCleanup): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  onCleanup('temp folder', () => fs.rm(root, { recursive: true, force: true }));
  await fs.chmod(root, 0o755);
  return root;
}

export interface BenchPostgres {
  db: EmbeddedDatabase;
  /** The migrated database. */
  databaseUrl: string;
  /** The postmaster: its process tree is Postgres' CPU. */
  postmasterPid: number;
  /** server_version, e.g. 17.4. */
  version: string;
}

/** Embedded Postgres in `root`/pg with `database` created and migrated. */
export async function startBenchPostgres(
  root: string,
  database: string,
  logger: Logger,
  onCleanup: OnCleanup,
): Promise<BenchPostgres> {
  const dataDir = path.join(root, 'pg');
  const db = await startEmbeddedPostgres({ dataDir, port: await getFreePort(), logger });
  onCleanup('embedded Postgres', () => db.stop());
  await ensureDatabase(db.adminUrl, database);
  await migrate({ databaseUrl: db.urlFor(database), logger });
  const postmasterPid = Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const client = new pg.Client({ connectionString: db.adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    return { db, databaseUrl: db.urlFor(database), postmasterPid, version: rows[0]!.v.split(' ')[0]! };
  } finally {
    await client.end();
  }
}

export interface BenchTemporal {
  server: TemporalDevServer;
  cliPath: string;
  pid: number | undefined;
  /** The server version the CLI reports ('?' when it does not say). */
  version: string;
}

/** A Temporal dev server as the project starts it (or with other dynamic config), and the CLI that runs it. */
export async function startBenchTemporal(
  logger: Logger,
  onCleanup: OnCleanup,
  options: { dynamicConfig?: readonly string[] } = {},
): Promise<BenchTemporal> {
  const cliPath = await resolveTemporalCli(process.env.TEMPORAL_CLI);
  const server = await startTemporalDevServer({
    cliPath,
    port: await getFreePort(),
    namespace: 'default',
    logger,
    headless: true,
    readyTimeoutMs: 90_000,
    dynamicConfig: options.dynamicConfig,
  });
  onCleanup('Temporal dev server', () => server.stop());
  let version = '?';
  try {
    version = /Server ([\d.]+)/.exec(execFileSync(cliPath, ['--version']).toString())?.[1] ?? '?';
  } catch {
    // The version is only printed; a CLI that does not tell leaves '?'.
  }
  return { server, cliPath, pid: server.process.pid, version };
}

/** A Temporal client on the dev server's default namespace, its connection closed at cleanup. */
export async function connectBenchTemporal(address: string, onCleanup: OnCleanup): Promise<Client> {
  const connection = await Connection.connect({ address });
  onCleanup('Temporal client connection', () => connection.close());
  return new Client({ connection, namespace: 'default' });
}

// ------------------------------------------------------------------------------------------------ anvil

export interface BenchChain {
  anvil: AnvilInstance;
  deployed: DeployedRegistries;
  registries: DevRegistries;
  /** anvil's version, e.g. 1.3.0. */
  version: string;
}

/** anvil with our registries deployed. */
export async function startBenchAnvil(
  onCleanup: OnCleanup,
  options: { extraArgs?: string[] } = {},
): Promise<BenchChain> {
  const anvil = await startAnvil(options);
  onCleanup('anvil', () => anvil.stop());
  const version = (await rpc<string>(anvil.rpcUrl, 'web3_clientVersion')).replace(/^anvil\/v?/, '');
  const deployed = await deployRegistries(anvil.rpcUrl);
  const registries = await DevRegistries.connect(anvil.rpcUrl, deployed);
  return { anvil, deployed, registries, version };
}

/** Deploys BenchReputationEmitter (src/chain/contracts): NewFeedback events in bulk, from `account`. */
export async function deployBenchEmitter(
  { registries, deployed }: BenchChain,
  account: Address,
): Promise<{ emitter: Address; abi: Abi; firstBlock: number }> {
  const artifact = registries.artifacts.BenchReputationEmitter;
  const hash = await registries.wallet.deployContract({
    abi: artifact.abi,
    bytecode: artifact.bytecode,
    args: [],
    account,
    chain: deployed.chain,
  });
  const receipt = await registries.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  if (receipt.status !== 'success' || !receipt.contractAddress)
    throw new BenchError('BenchReputationEmitter deployment failed');
  return { emitter: getAddress(receipt.contractAddress), abi: artifact.abi, firstBlock: Number(receipt.blockNumber) };
}

// ------------------------------------------------------------------------------------------------ HTTP receivers

/** A loopback HTTP server on a free port, closed (with its connections) at cleanup. */
export async function startBenchReceiver(
  name: string,
  handler: http.RequestListener,
  options: { keepAliveTimeoutMs: number },
  onCleanup: OnCleanup,
): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  onCleanup(
    name,
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

// ------------------------------------------------------------------------------------------------ child processes

export interface BenchChild {
  child: ChildProcess;
  /** Why the child exited, once it has. */
  exitReason(): string | undefined;
  exited: Promise<void>;
  /** Stops the child and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * A benchmark child process (worker, load generator): `node --import tsx <script>` from the project root with an IPC
 * channel, so that its CPU is accounted for on its own; stopped with SIGTERM, then SIGKILL after `killAfterMs`.
 */
export function spawnBenchChild(
  name: string,
  script: string,
  killAfterMs: number,
  onCleanup: OnCleanup,
  env: Record<string, string> = {},
): BenchChild {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  let exitReason: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitReason = `${name} exited (code ${code}, signal ${signal})`;
      resolve();
    }),
  );
  const stop = async () => {
    if (exitReason) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    await exited;
    clearTimeout(timer);
  };
  onCleanup(name, stop);
  return { child, exitReason: () => exitReason, exited, stop };
}

export interface WorkerProcess<Stats, Ready> {
  pid: number | undefined;
  /** Resolves with the child's 'ready' message once it polls; a BenchError if it fails first or takes longer. */
  ready(timeoutMs: number): Promise<Ready>;
  /** Throws if the child reported an error or exited. */
  check(): void;
  /** The child's measurements (cleared afterwards when `reset`). */
  stats(reset?: boolean): Promise<Stats>;
}

/**
 * The parent side of the benchmarks' Temporal worker processes (worker-child.ts is the child side): spawn the child
 * with its BENCH_* environment, learn when it polls, ask it for stats, notice when it fails or exits.
 */
export function spawnWorkerProcess<Stats extends { type: 'stats'; id: number }, Ready extends object = object>(
  script: string,
  env: Record<string, string>,
  onCleanup: OnCleanup,
): WorkerProcess<Stats, Ready> {
  const { child, exitReason, exited } = spawnBenchChild('worker process', script, 20_000, onCleanup, env);
  let error: string | undefined;
  let readyMessage: Ready | undefined;
  const pending = new Map<number, (stats: Stats) => void>();
  child.on('message', (raw) => {
    const message = raw as WorkerChildMessage<Stats, Ready>;
    if (message.type === 'ready') readyMessage = message as Ready;
    else if (message.type === 'error') error = (message as { message: string }).message;
    else if (message.type === 'stats') pending.get((message as Stats).id)?.(message as Stats);
  });
  const check = () => {
    if (error) throw new BenchError(error);
    const exit = exitReason();
    if (exit) throw new BenchError(exit);
  };
  let statsId = 0;
  return {
    pid: child.pid,
    check,
    async ready(timeoutMs) {
      const deadline = now() + timeoutMs;
      while (!readyMessage) {
        check();
        if (now() > deadline)
          throw new BenchError(`the worker process was not polling after ${Math.round(timeoutMs / 1000)} s`);
        await sleep(100);
      }
      return readyMessage;
    },
    async stats(reset = false) {
      check();
      const id = ++statsId;
      const answer = new Promise<Stats>((resolve) => pending.set(id, resolve));
      child.send({ type: 'stats', id, reset } satisfies StatsRequest);
      const stats = await Promise.race([answer, sleep(15_000).then(() => undefined), exited.then(() => undefined)]);
      pending.delete(id);
      if (!stats) {
        check();
        throw new BenchError('the worker process did not answer a stats request within 15 s');
      }
      return stats;
    },
  };
}

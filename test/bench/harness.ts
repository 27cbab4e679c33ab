/**
 * The stack every benchmark runs on, in one place: the run and its cleanups, a temp folder, an embedded Postgres with a
 * migrated database, a Temporal dev server (in memory, headless), anvil with our registries (and the bench emitter),
 * background loops (relay, indexer), child processes (the Temporal worker, the load generator) and loopback HTTP
 * receivers. The benchmark scripts keep only what they measure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
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
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { createApiServices } from '../../src/api/services.js';
import { createApiHandlers } from '../../src/api/trpc/handlers.js';
import type { ApiServices } from '../../src/api/trpc/context.js';
import { registerUser, type RegisteredUser } from '../../src/auth/accounts.js';
import { createApiKey, type ApiKeyPermission, type CreatedApiKey } from '../../src/auth/api-keys.js';
import type { Plan } from '../../src/billing/plans.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createPool } from '../../src/db/pool.js';
import { SecretBox } from '../../src/secrets.js';
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

// ------------------------------------------------------------------------------------------------ the API server

export interface BenchApi extends RunningApiServer {
  /** The API's own pool (the owner pool the services and the query service read and write through). */
  pool: pg.Pool;
  config: Config;
  services: ApiServices;
}

/**
 * The production API in this process: its pool of `poolMax` connections (production's DATABASE_POOL_MAX default is
 * 10), a Temporal client (TriggerService needs one), createApiServices over the configuration (caches listening for
 * revocations, the tenant pool, the rate limiter, the query service) and startApiServer with createApiHandlers on a
 * free loopback port. `env` adds configuration (e.g. BILLING_PLANS) to what the stack needs.
 */
export async function startBenchApi(
  options: {
    databaseUrl: string;
    temporalAddress: string;
    logger: Logger;
    poolMax: number;
    applicationName: string;
    env?: Record<string, string>;
  },
  onCleanup: OnCleanup,
): Promise<BenchApi> {
  const { databaseUrl, logger, poolMax } = options;
  const pool = createPool(databaseUrl, logger, { max: poolMax, applicationName: options.applicationName });
  onCleanup('API pool', () => pool.end());
  const temporal = await connectBenchTemporal(options.temporalAddress, onCleanup);
  const taskQueue = `${options.applicationName}-${randomUUID()}`;
  const config = loadConfig({
    ...options.env,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: options.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    DATABASE_POOL_MAX: String(poolMax),
  });
  const { services, close } = await createApiServices({
    config,
    pool,
    databaseUrl,
    temporal,
    logger,
    secrets: new SecretBox(randomBytes(32)),
    appKey: randomBytes(32),
  });
  onCleanup('API services', close);
  const server = await startApiServer(
    { pool, temporal, taskQueue, logger, api: createApiHandlers(services, { baseUrl: 'http://127.0.0.1' }) },
    { host: '127.0.0.1', port: 0 },
  );
  onCleanup('API server', () => server.stop());
  return { ...server, pool, config, services };
}

/** A signed-up user whose organization is on `plan`, with an API key of `permissions`. */
export async function benchOrganization(
  db: pg.Pool,
  plan: Plan,
  permissions: ApiKeyPermission[] = ['read'],
): Promise<{ user: RegisteredUser; organizationId: string; key: CreatedApiKey }> {
  const user = await registerUser(db, {
    username: 'bench',
    email: 'bench@example.test',
    password: 'correct horse battery',
  });
  await db.query(`UPDATE organizations SET plan = $2 WHERE id = $1`, [user.organizationId, plan]);
  const key = await createApiKey(db, {
    organizationId: user.organizationId,
    createdBy: user.userId,
    name: 'bench',
    environment: 'live',
    permissions,
  });
  return { user, organizationId: user.organizationId, key };
}

// ------------------------------------------------------------------------------------------------ SQL accounting

export interface SqlTally {
  count: number;
  totalMs: number;
}
/** Statements by kind (what the classifier names them). */
export type SqlTallies = Map<string, SqlTally>;

/** A statement's first characters, whitespace folded: the kind when a benchmark has no better name for it. */
export const sqlPrefix = (sql: string, length = 60) =>
  `other: ${sql.trimStart().replace(/\s+/g, ' ').slice(0, length)}`;

/**
 * Counts and times every query of the API (promise form: all the API's reads use it): `pool.query` of the `queries`
 * pools, and queries on the clients that the `clients` pools hand out (the tenant pool: TenantDb goes through
 * `connect()`). Durations include the wait for a pooled connection. `classify` names a statement's kind (memoised per
 * SQL text).
 */
export function instrumentPools(
  pools: { queries: pg.Pool[]; clients: pg.Pool[] },
  classify: (sql: string) => string = sqlPrefix,
): { snapshot(): SqlTallies } {
  const tallies: SqlTallies = new Map();
  const kinds = new Map<string, string>();
  const kindOf = (sql: string) => {
    let kind = kinds.get(sql);
    if (kind === undefined) kinds.set(sql, (kind = classify(sql)));
    return kind;
  };
  const instrumented = new WeakSet<object>();
  const wrapQuery = (target: { query: unknown }) => {
    if (instrumented.has(target)) return;
    instrumented.add(target);
    const original = (target.query as (...args: unknown[]) => unknown).bind(target);
    target.query = countingQuery(original);
  };
  const countingQuery =
    (original: (...args: unknown[]) => unknown) =>
    (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '');
      const kind = kindOf(text);
      const started = performance.now();
      const result = original(...args);
      if (!(result instanceof Promise)) return result;
      const record = () => {
        let tally = tallies.get(kind);
        if (!tally) tallies.set(kind, (tally = { count: 0, totalMs: 0 }));
        tally.count++;
        tally.totalMs += performance.now() - started;
      };
      result.then(record, record);
      return result;
    };
  for (const pool of pools.queries) wrapQuery(pool as unknown as { query: unknown });
  for (const pool of pools.clients) {
    const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { connect: (...args: unknown[]) => unknown }).connect = (...args: unknown[]) => {
      if (args.length > 0) return connect(...args); // pg's own callback form (pool.query): not counted here
      return (connect() as Promise<pg.PoolClient>).then(
        (client) => (wrapQuery(client as unknown as { query: unknown }), client),
      );
    };
  }
  return { snapshot: () => new Map([...tallies].map(([k, v]) => [k, { ...v }])) };
}

/** What ran between two snapshots. */
export function sqlDelta(a: SqlTallies, b: SqlTallies): SqlTallies {
  const out: SqlTallies = new Map();
  for (const [kind, tally] of b) {
    const before = a.get(kind) ?? { count: 0, totalMs: 0 };
    const count = tally.count - before.count;
    if (count > 0) out.set(kind, { count, totalMs: tally.totalMs - before.totalMs });
  }
  return out;
}

/** The statements requests made (a kind named `bench: …` is the benchmark's own, not a request's). */
export const perRequestKinds = (t: SqlTallies) => [...t].filter(([kind]) => !kind.startsWith('bench:'));

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
  /** A message of the child's own protocol (beyond ready/stats/error); resolves on the answer of type `answer`. */
  request(message: { type: string }, answer: string, timeoutMs: number): Promise<void>;
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
    async request(message, answer, timeoutMs) {
      check();
      const answered = new Promise<boolean>((resolve) => {
        const listener = (raw: unknown) => {
          if ((raw as { type?: string })?.type !== answer) return;
          child.off('message', listener);
          resolve(true);
        };
        child.on('message', listener);
      });
      child.send(message);
      if (!(await Promise.race([answered, sleep(timeoutMs).then(() => false)])))
        throw new BenchError(`the worker process did not answer ${message.type} within ${timeoutMs / 1000} s`);
    },
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

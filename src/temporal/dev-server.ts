import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';
import { SEARCH_ATTRIBUTES } from './search-attributes.js';
import { connectTemporal } from './connection.js';
import { ensureTool } from '../ensure-tool.js';

/**
 * The dev server's defaults throttle task dispatch (20 transfer-queue polls/s on its single shard: ~40 ms before every
 * task or activity is picked up under load). These lift that and let activities start eagerly in the worker; the
 * same values are in temporal/dynamicconfig.yaml for docker-compose. Measured: a workflow + activity round trip went
 * from 150 ms to 30 ms under load.
 */
export const DEV_SERVER_DYNAMIC_CONFIG = [
  'history.transferProcessorMaxPollRPS=10000',
  'history.timerProcessorMaxPollRPS=10000',
  'system.enableActivityEagerExecution=true',
];

/** Runs temporal/ensure-cli.sh, which finds or builds the Temporal CLI and prints its path. */
export function resolveTemporalCli(explicitPath?: string): Promise<string> {
  const env = { ...process.env, ...(explicitPath ? { TEMPORAL_CLI: explicitPath } : {}) };
  return ensureTool('temporal/ensure-cli.sh', 'Temporal CLI', env);
}

export interface TemporalDevServer {
  address: string;
  uiUrl: string | undefined;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  cliPath: string;
  port: number;
  uiPort?: number;
  /** SQLite file for persistence across restarts; omitted means in-memory (tests). */
  dbFile?: string;
  namespace: string;
  logger: Logger;
  readyTimeoutMs?: number;
  headless?: boolean;
  /** --dynamic-config-value pairs instead of DEV_SERVER_DYNAMIC_CONFIG (benchmarks comparing server settings). */
  dynamicConfig?: readonly string[];
}

/** Starts `temporal server start-dev` and resolves once its frontend answers. */
export async function startTemporalDevServer(options: DevServerOptions): Promise<TemporalDevServer> {
  const log = options.logger.child({ component: 'temporal-dev-server' });
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--log-format',
    'json',
    '--log-level',
    'warn',
  ];
  if (options.headless || options.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(options.uiPort));
  if (options.dbFile) {
    await fs.mkdir(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  if (options.namespace !== 'default') args.push('--namespace', options.namespace);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  for (const value of options.dynamicConfig ?? DEV_SERVER_DYNAMIC_CONFIG) args.push('--dynamic-config-value', value);

  // Its own process group: a Ctrl-C in the terminal reaches our process only, which stops the worker first (its
  // long-running activities report their cancellation to the server) and the server last. Should our process exit
  // without stopping it, the exit hook still does.
  const child = spawn(options.cliPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let exited = false;
  let stderrTail = '';
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.on('exit', (code, signal) => {
    exited = true;
    process.removeListener('exit', killOnExit);
    log.info({ code, signal }, 'Temporal dev server exited');
  });
  child.stdout?.on('data', (chunk: Buffer) => log.trace(chunk.toString().trim()));
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stderrTail = (stderrTail + text).slice(-4_000);
    log.debug(text.trim());
  });

  const address = `127.0.0.1:${options.port}`;
  const stop = async () => {
    if (exited) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };

  try {
    const exitedEarly = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`Temporal dev server exited during start-up (code ${code}). ${stderrTail.trim()}`)),
      ),
    );
    // Once start-up is over, a later exit is reported by the 'exit' listener, not as an unhandled rejection.
    exitedEarly.catch(() => undefined);
    const connection = await Promise.race([
      connectTemporal(address, options.readyTimeoutMs ?? 60_000, log),
      exitedEarly,
    ]);
    await connection.close();
  } catch (err) {
    await stop();
    throw err;
  }
  const uiUrl = options.headless || options.uiPort === undefined ? undefined : `http://127.0.0.1:${options.uiPort}`;
  log.info({ address, uiUrl, dbFile: options.dbFile }, 'Temporal dev server is up');
  return { address, uiUrl, process: child, stop };
}

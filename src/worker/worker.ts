import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  NativeConnection,
  Worker,
  Runtime,
  bundleWorkflowCode,
  makeTelemetryFilterString,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { Pool } from 'pg';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../../activities/index.js';
import type { ActionSettings } from '../actions/settings.js';
import { TelegramChatVerifier } from '../actions/telegram-chats.js';
import { ensureSchedules } from './schedules.js';
import type { Logger } from '../logger.js';
import { DEFAULT_DELIVERY_DISPATCHERS, ensureDispatcher, type DispatchSettings } from '../deliveries/dispatchers.js';
import { dispatcherWorkflowId } from '../deliveries/ids.js';
import { QueryService } from '../queries/service.js';
import { rpcBlockHashLookup } from '../queries/as-of.js';
import { createChainClient } from '../indexer/rpc.js';
import type { TierPrices } from '../queries/prices.js';
import type { QueryTool } from '../queries/tool.js';
import { PlanCache } from '../organizations/plan-cache.js';

export const WORKFLOWS_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../workflows/index.ts');

let runtimeInstalled = false;
/** Routes the Temporal Core SDK's logs into our pino logger (once per process). */
function installRuntime(logger: Logger) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const log = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: {
      log: (level, message, meta) =>
        log[level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'debug' | 'info' | 'warn' | 'error')](
          meta ?? {},
          message,
        ),
      trace: (message, meta) => log.trace(meta ?? {}, message),
      debug: (message, meta) => log.debug(meta ?? {}, message),
      info: (message, meta) => log.info(meta ?? {}, message),
      warn: (message, meta) => log.warn(meta ?? {}, message),
      error: (message, meta) => log.error(meta ?? {}, message),
    },
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundles workflows/ once per process; webpack's build report goes to debug level instead of the console. */
export function workflowBundle(logger: Logger): Promise<WorkflowBundleWithSourceMap> {
  const log = logger.child({ component: 'workflow-bundler' });
  const quiet = {
    log: (_level: string, message: string) => log.debug(message),
    trace: (message: string) => log.trace(message),
    debug: (message: string) => log.debug(message),
    info: (message: string) => log.debug(message),
    warn: (message: string) => log.warn(message),
    error: (message: string) => log.error(message),
  };
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });
  return bundle;
}

export interface WorkerOptions {
  address: string;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  logger: Logger;
  /** Workflows kept in memory; the rest are replayed from history when they next run. */
  maxCachedWorkflows?: number;
  actions: ActionSettings;
  /** Circuit breaker tuning (tests shorten the pause). */
  breaker?: { threshold?: number; basePauseMs?: number };
  /** Delivery dispatchers of the task queue (default 2): started with the worker, and given the trigger workflows' deliveries. */
  dispatch?: DispatchSettings;
  /** EVENT_RETENTION_DAYS for the maintenance workflow; 0 or absent keeps registry events forever. */
  eventRetentionDays?: number;
  /** Create the recurring schedules (maintenance) if missing; off in tests that share a server. */
  schedules?: boolean;
  /**
   * The query tools A2A tasks run, their prices (QUERY_PRICE_*), and the chains whose RPC gives the hash of a block
   * the indexer does not remember (as the API's queries do); default: the catalog at default prices, no RPC.
   */
  queries?: {
    prices?: TierPrices;
    tools?: readonly QueryTool[];
    chains?: readonly { chainId: number; rpcUrl: string }[];
  };
}

export interface RunningWorker {
  worker: Worker;
  connection: NativeConnection;
  /** Resolves when the worker has stopped; rejects if it crashed. */
  done: Promise<void>;
  stop(): Promise<void>;
}

function workerQueryService(options: WorkerOptions): QueryService {
  const plans = new PlanCache();
  return new QueryService({
    pool: options.pool,
    logger: options.logger,
    prices: options.queries?.prices,
    tools: options.queries?.tools,
    planOf: (organizationId) => plans.planOf(options.pool, organizationId),
    lookupBlockHash: rpcBlockHashLookup(options.queries?.chains ?? [], (rpcUrl) => createChainClient({ rpcUrl })),
  });
}

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  installRuntime(options.logger);
  const log = options.logger.child({ component: 'worker', taskQueue: options.taskQueue });
  const workflowCode = await workflowBundle(options.logger);
  const connection = await NativeConnection.connect({ address: options.address });
  // Activities start delivery workflows: they need a client of their own.
  const clientConnection = await Connection.connect({ address: options.address });
  const client = new Client({ connection: clientConnection, namespace: options.namespace });
  const closers: (() => Promise<void>)[] = [];
  const worker = await Worker.create({
    connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: workflowCode,
    activities: createActivities({
      pool: options.pool,
      logger: options.logger,
      delivery: {
        ...options.actions,
        temporal: client,
        taskQueue: options.taskQueue,
        breaker: options.breaker,
        dispatch: options.dispatch,
        onClose: (close) => closers.push(close),
      },
      eventRetentionDays: options.eventRetentionDays,
      queries: workerQueryService(options),
    }),
    maxCachedWorkflows: options.maxCachedWorkflows ?? 1_000,
  });
  if (options.schedules) await ensureSchedules(client, options.taskQueue, options.logger);
  // The delivery dispatchers of this task queue keep their pumps running on the workers (a relay starts them too).
  const dispatchers = options.dispatch?.dispatchers ?? DEFAULT_DELIVERY_DISPATCHERS;
  for (let i = 0; i < dispatchers; i++)
    await ensureDispatcher(client, options.taskQueue, dispatcherWorkflowId(options.taskQueue, i));
  const done = worker.run().finally(async () => {
    // The direct sender's attempts in flight finish first: a batch may still hand deliveries off through the client.
    await Promise.allSettled(closers.map((close) => close()));
    await connection.close().catch(() => undefined);
    await clientConnection.close().catch(() => undefined);
  });
  log.info('Temporal worker polling');
  // The platform bot's updates: chats verifying themselves for an organization (one reader across workers).
  const { defaultBotToken, baseUrl } = options.actions.telegram;
  const chatVerifier = defaultBotToken
    ? new TelegramChatVerifier({ pool: options.pool, logger: options.logger, baseUrl, botToken: defaultBotToken })
    : undefined;
  chatVerifier?.start();
  return {
    worker,
    connection,
    done,
    stop: async () => {
      await chatVerifier?.stop();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done.catch((err) => log.error({ err }, 'worker stopped with an error'));
    },
  };
}

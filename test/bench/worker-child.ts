/**
 * What the benchmarks' worker child processes (triggers-worker.ts, actions-worker.ts) share: the production worker
 * started from BENCH_* environment variables, the IPC protocol with the parent ('ready' once polling, 'stats' on
 * request, 'error' when it cannot start or crashes) and an orderly stop on SIGTERM/SIGINT or when the parent goes away.
 * Each child adds only its own instrumentation (the fields it reports and how they reset).
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { startWorker, type RunningWorker, type WorkerOptions } from '../../src/worker/worker.js';

export interface StatsRequest {
  type: 'stats';
  id: number;
  /** Clear the child's own measurements after reporting them. */
  reset?: boolean;
}

/** What every worker child reports; each child adds its own fields. */
export interface BaseWorkerStats {
  type: 'stats';
  id: number;
  memory: NodeJS.MemoryUsage;
  cachedWorkflows: number;
  inFlightActivations: number;
  inFlightActivities: number;
}

export type WorkerChildMessage<Stats, Ready = object> =
  ({ type: 'ready' } & Ready) | Stats | { type: 'error'; message: string };

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

export interface WorkerChildOptions<Extra, Ready> {
  pool: pg.Pool;
  logger: Logger;
  /** Passed to startWorker besides the connection, task queue, pool and logger. */
  worker: Pick<WorkerOptions, 'maxCachedWorkflows' | 'actions'>;
  /** This child's measurements, added to each stats reply. */
  measurements(): Extra;
  /** Clears the measurements (after a reply asked with reset). */
  reset(): void;
  /** Extra fields of the 'ready' message. */
  ready?(worker: RunningWorker['worker']): Ready;
}

export async function runWorkerChild<Extra extends object, Ready extends object = object>(
  options: WorkerChildOptions<Extra, Ready>,
): Promise<void> {
  const send = (message: WorkerChildMessage<BaseWorkerStats & Extra, Ready>) => {
    if (process.connected) process.send?.(message);
  };
  let running: RunningWorker | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (code: number): Promise<void> => {
    stopping ??= (async () => {
      try {
        await running?.stop();
      } finally {
        await options.pool.end().catch(() => undefined);
        process.exit(code);
      }
    })();
    return stopping;
  };

  process.once('SIGTERM', () => void stop(0));
  process.once('SIGINT', () => void stop(0));
  process.once('disconnect', () => void stop(0));

  process.on('message', (raw: unknown) => {
    const message = raw as StatsRequest;
    if (message?.type !== 'stats' || !running) return;
    const status = running.worker.getStatus();
    send({
      type: 'stats',
      id: message.id,
      memory: process.memoryUsage(),
      cachedWorkflows: status.numCachedWorkflows,
      inFlightActivations: status.numInFlightWorkflowActivations,
      inFlightActivities: status.numInFlightActivities,
      ...options.measurements(),
    });
    if (message.reset) options.reset();
  });

  try {
    running = await startWorker({
      address: requiredEnv('BENCH_TEMPORAL_ADDRESS'),
      namespace: 'default',
      taskQueue: requiredEnv('BENCH_TASK_QUEUE'),
      pool: options.pool,
      logger: options.logger,
      ...options.worker,
    });
    running.done.then(
      () => void stop(0),
      (err: unknown) => {
        send({ type: 'error', message: `worker crashed: ${err instanceof Error ? err.message : String(err)}` });
        void stop(1);
      },
    );
    send({ type: 'ready', ...(options.ready?.(running.worker) ?? ({} as Ready)) });
  } catch (err) {
    send({
      type: 'error',
      message: `worker did not start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    });
    await stop(1);
  }
}

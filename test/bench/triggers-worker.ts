/**
 * The Temporal worker of the trigger benchmark (test/bench/triggers.ts), run in its own process so that its memory can
 * be read from /proc/<pid>/status. Not a benchmark by itself: the benchmark spawns it with `node --import tsx`.
 *
 * Environment: BENCH_TEMPORAL_ADDRESS, BENCH_DATABASE_URL, BENCH_TASK_QUEUE (required); BENCH_MAX_CACHED_WORKFLOWS
 * (1000, the production default); BENCH_LOG_LEVEL (error).
 *
 * IPC with the parent: sends { type: 'ready' } once polling; answers { type: 'stats', id, reset } with its memory, the
 * worker's status (cached workflows, in-flight work), how many trigger definitions the workflows have loaded, and the
 * duration of the recordMatches statements since the last reset. Stops on SIGTERM or when the parent goes away.
 */
import pg from 'pg';
import pino from 'pino';
import { createPool } from '../../src/db/pool.js';
import { startWorker, type RunningWorker } from '../../src/worker/worker.js';
import { testActionSettings } from '../helpers/actions.js';

export interface WorkerStatsRequest {
  type: 'stats';
  id: number;
  /** Clear the recordMatches durations after reporting them. */
  reset?: boolean;
}

export interface WorkerStats {
  type: 'stats';
  id: number;
  memory: NodeJS.MemoryUsage;
  cachedWorkflows: number;
  inFlightActivations: number;
  inFlightActivities: number;
  /** loadTriggerDefinition statements run (one per workflow start; replays do not repeat activities). */
  definitionLoads: number;
  /** Durations (ms) of the INSERT INTO trigger_matches statements (recordMatches), including the wait for a connection. */
  recordMatchesMs: number[];
  recordMatchesRows: number;
}

export type WorkerMessage = { type: 'ready' } | WorkerStats | { type: 'error'; message: string };

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const send = (message: WorkerMessage) => {
  if (process.connected) process.send?.(message);
};

const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'error' }, pino.destination(2));
const pool = createPool(required('BENCH_DATABASE_URL'), logger, { max: 10, applicationName: 'bench-trigger-worker' });

// Instrument the worker's pool: the activities run every statement through pool.query (promise form).
let definitionLoads = 0;
let recordMatchesMs: number[] = [];
let recordMatchesRows = 0;
const originalQuery = pool.query.bind(pool) as (...args: unknown[]) => unknown;
(pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
  const text = typeof args[0] === 'string' ? args[0] : '';
  if (text.includes('FROM triggers t WHERE t.id = $1')) definitionLoads++;
  const started = performance.now();
  const result = originalQuery(...args);
  if (!text.includes('INSERT INTO trigger_matches') || !(result instanceof Promise)) return result;
  return result.then((value: pg.QueryResult) => {
    recordMatchesMs.push(performance.now() - started);
    recordMatchesRows += value.rowCount ?? 0;
    return value;
  });
};

let running: RunningWorker | undefined;
let stopping: Promise<void> | undefined;

function stop(code: number): Promise<void> {
  stopping ??= (async () => {
    try {
      await running?.stop();
    } finally {
      await pool.end().catch(() => undefined);
      process.exit(code);
    }
  })();
  return stopping;
}

process.once('SIGTERM', () => void stop(0));
process.once('SIGINT', () => void stop(0));
process.once('disconnect', () => void stop(0));

process.on('message', (raw: unknown) => {
  const message = raw as WorkerStatsRequest;
  if (message?.type !== 'stats' || !running) return;
  const status = running.worker.getStatus();
  send({
    type: 'stats',
    id: message.id,
    memory: process.memoryUsage(),
    cachedWorkflows: status.numCachedWorkflows,
    inFlightActivations: status.numInFlightWorkflowActivations,
    inFlightActivities: status.numInFlightActivities,
    definitionLoads,
    recordMatchesMs,
    recordMatchesRows,
  });
  if (message.reset) {
    recordMatchesMs = [];
    recordMatchesRows = 0;
  }
});

try {
  running = await startWorker({
    address: required('BENCH_TEMPORAL_ADDRESS'),
    namespace: 'default',
    taskQueue: required('BENCH_TASK_QUEUE'),
    pool,
    logger,
    maxCachedWorkflows: Number(process.env.BENCH_MAX_CACHED_WORKFLOWS ?? 1_000),
    // The benchmark's triggers have no actions: delivery settings are never used, as in the tests.
    actions: testActionSettings(),
  });
  running.done.then(
    () => void stop(0),
    (err: unknown) => {
      send({ type: 'error', message: `worker crashed: ${err instanceof Error ? err.message : String(err)}` });
      void stop(1);
    },
  );
  send({ type: 'ready' });
} catch (err) {
  send({ type: 'error', message: `worker did not start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
  await stop(1);
}

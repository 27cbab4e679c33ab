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
 *
 * With BENCH_FLOOR_TASK_QUEUE it also runs the floor's worker (test/bench/floor-workflow.ts, its own bundle and cache of
 * BENCH_FLOOR_CACHE workflows) and reports how many floor workflows started and when each signal's items were handled;
 * { type: 'floor-stop' } shuts that worker down (the trigger measurements that follow run without it).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import pino from 'pino';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createPool } from '../../src/db/pool.js';
import { testActionSettings } from '../helpers/actions.js';
import {
  requiredEnv,
  runWorkerChild,
  type BaseWorkerStats,
  type StatsRequest,
  type WorkerChildMessage,
} from './worker-child.js';

interface TriggerWorkerMeasurements {
  /** loadTriggerDefinition statements run (one per workflow start; replays do not repeat activities). */
  definitionLoads: number;
  /** Durations (ms) of the INSERT INTO trigger_matches statements (recordMatches), including the wait for a connection. */
  recordMatchesMs: number[];
  recordMatchesRows: number;
  /** Floor workflows started, and [ingest_seq, handled at (wall ms)] of the items handled since the last reset. */
  floorStarted: number;
  floorHandled: number;
  floorSamples: [string, number][];
}

export type WorkerStatsRequest = StatsRequest;
export type WorkerStats = BaseWorkerStats & TriggerWorkerMeasurements;
export type WorkerMessage = WorkerChildMessage<WorkerStats>;

const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'error' }, pino.destination(2));
const pool = createPool(requiredEnv('BENCH_DATABASE_URL'), logger, {
  max: 10,
  applicationName: 'bench-trigger-worker',
});

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

let floorStarted = 0;
let floorHandled = 0;
let floorSamples: [string, number][] = [];
const floorQueue = process.env.BENCH_FLOOR_TASK_QUEUE;
await runWorkerChild<TriggerWorkerMeasurements>({
  pool,
  logger,
  worker: {
    maxCachedWorkflows: Number(process.env.BENCH_MAX_CACHED_WORKFLOWS ?? 1_000),
    // The benchmark's triggers have no actions: delivery settings are never used, as in the tests.
    actions: testActionSettings(),
  },
  measurements: () => ({
    definitionLoads,
    recordMatchesMs,
    recordMatchesRows,
    floorStarted,
    floorHandled,
    floorSamples,
  }),
  reset: () => {
    recordMatchesMs = [];
    recordMatchesRows = 0;
    floorSamples = [];
  },
});

// After the production worker: it installs the Temporal runtime this worker shares.
let floorWorker: { worker: Worker; run: Promise<void>; connection: NativeConnection } | undefined;
if (floorQueue) {
  const connection = await NativeConnection.connect({ address: requiredEnv('BENCH_TEMPORAL_ADDRESS') });
  const worker = await Worker.create({
    connection,
    taskQueue: floorQueue,
    workflowsPath: path.join(path.dirname(fileURLToPath(import.meta.url)), 'floor-workflow.ts'),
    maxCachedWorkflows: Number(process.env.BENCH_FLOOR_CACHE ?? 1_000),
    sinks: {
      floor: {
        started: { fn: () => void floorStarted++ },
        handled: {
          fn: (_info, seqs: string[]) => {
            const at = performance.timeOrigin + performance.now();
            floorHandled += seqs.length;
            for (const seq of seqs) floorSamples.push([seq, at]);
          },
        },
      },
    },
  });
  floorWorker = { worker, connection, run: worker.run() };
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== 'floor-stop' || !floorWorker) return;
    const stopping = floorWorker;
    floorWorker = undefined;
    stopping.worker.shutdown();
    void stopping.run.finally(() => stopping.connection.close()).then(() => process.send?.({ type: 'floor-stopped' }));
  });
}

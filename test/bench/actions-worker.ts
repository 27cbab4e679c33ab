/**
 * The Temporal worker of the actions benchmark (test/bench/actions.ts), run in its own process so that its CPU time is
 * accounted for on its own (/proc/<pid>/stat). Not a benchmark by itself: the benchmark spawns it with `node --import tsx`.
 *
 * It runs the production worker (startWorker: the workflow bundle, every activity, the production defaults for the
 * cache and the slots) with action settings that let webhooks reach 127.0.0.1 (the benchmark's receiver).
 *
 * Environment: BENCH_TEMPORAL_ADDRESS, BENCH_DATABASE_URL, BENCH_TASK_QUEUE, BENCH_APP_KEY (hex; required); BENCH_MAX_CACHED_WORKFLOWS
 * (unset: startWorker's default); BENCH_POOL_MAX (10, DATABASE_POOL_MAX's default); BENCH_LOG_LEVEL (error).
 *
 * IPC with the parent: sends { type: 'ready', settings } once polling; answers { type: 'stats', id, reset } with its
 * memory, the worker's status, how many trigger definitions were loaded, every SQL statement the activities ran since
 * the last reset (by kind, with durations that include the wait for a pooled connection) and how many queries waited
 * for a connection. Stops on SIGTERM or when the parent goes away.
 */
import type pg from 'pg';
import pino from 'pino';
import { parseAllowList } from '../../src/actions/safe-http.js';
import { createPool } from '../../src/db/pool.js';
import { SecretBox } from '../../src/secrets.js';
import type { RunningWorker } from '../../src/worker/worker.js';
import { testActionSettings } from '../helpers/actions.js';
import {
  requiredEnv,
  runWorkerChild,
  type BaseWorkerStats,
  type StatsRequest,
  type WorkerChildMessage,
} from './worker-child.js';

export interface ActionsWorkerSettings {
  maxCachedWorkflows: number | string;
  workflowTaskSlots: number | string;
  activityTaskSlots: number | string;
  localActivitySlots: number | string;
  workflowTaskPollers: number | string;
  activityTaskPollers: number | string;
  maxEagerActivityReservationsPerWorkflowTask: number | string;
  reuseV8Context: boolean | string;
  poolMax: number;
}

interface ActionsWorkerMeasurements {
  /** loadTriggerDefinition statements run since start (one per trigger workflow start). */
  definitionLoads: number;
  /** Per statement kind: durations (ms) including the wait for a pooled connection. */
  statements: Record<string, number[]>;
  /** Samples (every 20 ms) of how many queries were waiting for a pooled connection. */
  poolWaiting: { samples: number; sum: number; max: number; nonZero: number };
}

export type ActionsStatsRequest = StatsRequest;
export type ActionsWorkerStats = BaseWorkerStats & ActionsWorkerMeasurements;
export type ActionsWorkerMessage = WorkerChildMessage<ActionsWorkerStats, { settings: ActionsWorkerSettings }>;

/**
 * Which step a statement belongs to (the order matters: INSERT before SELECT of the same table). The pumps claim on
 * their own connection, outside the pool: their claims are not counted here.
 */
const KINDS: [string, (sql: string) => boolean][] = [
  ['loadTriggerDefinition', (s) => s.includes('FROM triggers t WHERE t.id = $1')],
  ['recordMatches INSERT', (s) => s.includes('INSERT INTO trigger_matches')],
  ['startDeliveries SELECT firings', (s) => s.includes('FROM trigger_matches m JOIN triggers t')],
  ['startDeliveries INSERT deliveries + NOTIFY', (s) => s.includes('INSERT INTO deliveries')],
  ['batch: breaker gates SELECT', (s) => s.includes('FROM delivery_breakers b JOIN unnest')],
  ['batch: webhook secrets SELECT', (s) => s.includes('FROM action_webhook_secrets')],
  ['webhook secrets INSERT (first use)', (s) => s.includes('INSERT INTO action_webhook_secrets')],
  ['attempts INSERT action_results', (s) => s.includes('INSERT INTO action_results')],
  ['batch: final states UPDATE deliveries', (s) => s.includes('UPDATE deliveries d SET status = r.status')],
  ['breaker outcome', (s) => s.includes('delivery_breakers')],
  ['delivery workflow: loadDelivery SELECT', (s) => s.includes('FROM deliveries d LEFT JOIN trigger_actions')],
  ['delivery workflow: prepare UPDATE', (s) => s.includes('UPDATE deliveries SET destination')],
  ['delivery workflow: attempt UPDATE', (s) => s.includes('UPDATE deliveries SET attempts')],
  ['delivery workflow: mark UPDATE', (s) => s.includes('UPDATE deliveries SET status')],
  ['maintenance: waiting dispatchers SELECT', (s) => s.includes('SELECT DISTINCT workflow_id FROM deliveries')],
  ['saveTriggerState', (s) => s.includes('trigger_state')],
];
function kindOf(sql: string): string {
  const text = sql.trimStart();
  for (const [kind, test] of KINDS) if (test(text)) return kind;
  return 'other';
}

const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'error' }, pino.destination(2));
const poolMax = Number(process.env.BENCH_POOL_MAX ?? 10);
const pool = createPool(requiredEnv('BENCH_DATABASE_URL'), logger, {
  max: poolMax,
  applicationName: 'bench-actions-worker',
});

// Every activity runs its statements through pool.query (promise form).
let definitionLoads = 0;
let statements: Record<string, number[]> = {};
const originalQuery = pool.query.bind(pool) as (...args: unknown[]) => unknown;
(pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
  const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? '');
  const kind = kindOf(text);
  if (kind === 'loadTriggerDefinition') definitionLoads++;
  const started = performance.now();
  const result = originalQuery(...args);
  if (!(result instanceof Promise)) return result;
  return result.then((value: pg.QueryResult) => {
    (statements[kind] ??= []).push(performance.now() - started);
    return value;
  });
};
let poolWaiting = { samples: 0, sum: 0, max: 0, nonZero: 0 };
setInterval(() => {
  const waiting = pool.waitingCount;
  poolWaiting.samples++;
  poolWaiting.sum += waiting;
  poolWaiting.max = Math.max(poolWaiting.max, waiting);
  if (waiting > 0) poolWaiting.nonZero++;
}, 20).unref();

/** The options the worker actually runs with (after the SDK filled in its defaults). */
function effectiveSettings(worker: RunningWorker['worker']): ActionsWorkerSettings {
  // The compiled options are public but loosely typed across SDK versions: read them defensively.
  const o = (worker as unknown as { options: Record<string, unknown> }).options ?? {};
  const tuner = (o.tuner ?? {}) as Record<string, { numSlots?: number; type?: string } | undefined>;
  const slots = (s: { numSlots?: number; type?: string } | undefined) => s?.numSlots ?? s?.type ?? '?';
  const pollers = (b: unknown) => {
    const p = b as { type?: string; maximum?: number } | undefined;
    return p?.type === 'simple-maximum' ? (p.maximum ?? '?') : p?.type ? `${p.type} ≤ ${p.maximum ?? '?'}` : '?';
  };
  return {
    maxCachedWorkflows: (o.maxCachedWorkflows as number | undefined) ?? '?',
    workflowTaskSlots: slots(tuner.workflowTaskSlotSupplier),
    activityTaskSlots: slots(tuner.activityTaskSlotSupplier),
    localActivitySlots: slots(tuner.localActivityTaskSlotSupplier),
    workflowTaskPollers: pollers(o.workflowTaskPollerBehavior),
    activityTaskPollers: pollers(o.activityTaskPollerBehavior),
    maxEagerActivityReservationsPerWorkflowTask:
      (o.maxEagerActivityReservationsPerWorkflowTask as number | undefined) ?? 'SDK default (3)',
    reuseV8Context: (o.reuseV8Context as boolean | undefined) ?? '?',
    poolMax,
  };
}

const maxCached = process.env.BENCH_MAX_CACHED_WORKFLOWS;
await runWorkerChild<ActionsWorkerMeasurements, { settings: ActionsWorkerSettings }>({
  pool,
  logger,
  worker: {
    ...(maxCached ? { maxCachedWorkflows: Number(maxCached) } : {}),
    // Webhooks go to the benchmark's receiver on 127.0.0.1; the sealing key is the bench's (its relay sends too).
    actions: testActionSettings({
      allow: parseAllowList('127.0.0.1'),
      secrets: new SecretBox(Buffer.from(requiredEnv('BENCH_APP_KEY'), 'hex')),
    }),
  },
  measurements: () => ({ definitionLoads, statements, poolWaiting }),
  reset: () => {
    statements = {};
    poolWaiting = { samples: 0, sum: 0, max: 0, nonZero: 0 };
  },
  ready: (worker) => ({ settings: effectiveSettings(worker) }),
});

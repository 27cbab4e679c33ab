import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { HealthReport } from '../../workflows/index.js';
import { indexerLag } from './metrics.js';

export interface ComponentHealth {
  status: 'ok' | 'down';
  latencyMs: number;
  detail?: Record<string, unknown>;
  error?: string;
}

export interface HealthStatus {
  status: 'ok' | 'degraded';
  checks: Record<string, ComponentHealth>;
}

export interface HealthDeps {
  pool: Pool;
  temporal: Client;
  taskQueue: string;
}

async function timed(
  check: () => Promise<Record<string, unknown> | undefined>,
  timeoutMs: number,
): Promise<ComponentHealth> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round(performance.now() - started), ...(detail ? { detail } : {}) };
  } catch (err) {
    return { status: 'down', latencyMs: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the health workflow: proves that a worker polls the task queue and reaches the database. */
function workerCheck(deps: HealthDeps, timeoutMs: number): Promise<ComponentHealth> {
  return timed(async () => {
    const workflowId = `health/${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const report: HealthReport = await deps.temporal.workflow.execute('healthWorkflow', {
      taskQueue: deps.taskQueue,
      workflowId,
      workflowExecutionTimeout: `${timeoutMs} ms`,
    });
    if (!report.ok) throw new Error(`worker reached but database check failed: ${report.database.error}`);
    return {
      taskQueue: report.taskQueue,
      databaseLatencyMs: report.database.latencyMs,
      workflowId,
      checkedAt: new Date().toISOString(),
    };
  }, timeoutMs);
}

/** How long the result of a deep check is reused for every caller of the process. */
export const DEEP_CHECK_REUSE_MS = 5_000;

/**
 * The worker check shared by every caller of one process: GET /health?deep=true is public (load balancers and
 * orchestrators call it without credentials), so it must not start a workflow per call. At most one health workflow
 * runs at a time, and a success (detail.workflowId, detail.checkedAt) is reused for DEEP_CHECK_REUSE_MS; a failure is
 * shared only while it is in flight, so a recovery shows at the next call.
 */
export function sharedWorkerCheck(deps: HealthDeps, timeoutMs = 3_000): () => Promise<ComponentHealth> {
  let last: { result: Promise<ComponentHealth>; startedAt: number; settled?: ComponentHealth } | undefined;
  return () => {
    const now = performance.now();
    const reusable =
      last && (!last.settled || (last.settled.status === 'ok' && now - last.startedAt < DEEP_CHECK_REUSE_MS));
    if (!reusable) {
      const run: NonNullable<typeof last> = { result: workerCheck(deps, timeoutMs), startedAt: now };
      void run.result.then((health) => (run.settled = health));
      last = run;
    }
    return last!.result;
  };
}

/**
 * Checks Postgres and the Temporal frontend; with `deep`, also the worker (the health workflow), through
 * `workerCheck` when given (sharedWorkerCheck), else by running the workflow for this call.
 */
export async function checkHealth(
  deps: HealthDeps,
  options: { deep?: boolean; timeoutMs?: number; workerCheck?: () => Promise<ComponentHealth> } = {},
): Promise<HealthStatus> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  const checks: Record<string, Promise<ComponentHealth>> = {
    postgres: timed(async () => {
      const { rows } = await deps.pool.query<{ server_version: string }>('SHOW server_version');
      return { serverVersion: rows[0]?.server_version };
    }, timeoutMs),
    temporal: timed(async () => {
      const info = await deps.temporal.workflowService.getSystemInfo({});
      return { serverVersion: info.serverVersion };
    }, timeoutMs),
  };
  checks.indexer = timed(async () => {
    const chains = await indexerLag(deps.pool);
    // An indexer that has not seen its chain's head for two minutes is stuck (RPC down or process gone).
    const stale = chains.filter((c) => c.headSeenSecondsAgo !== null && c.headSeenSecondsAgo > 120);
    if (stale.length > 0)
      throw new Error(`no new head for over 2 minutes on chain(s) ${stale.map((c) => c.chainId).join(', ')}`);
    return { chains };
  }, timeoutMs);
  if (options.deep) checks.worker = options.workerCheck ? options.workerCheck() : workerCheck(deps, timeoutMs);
  const entries = await Promise.all(Object.entries(checks).map(async ([name, p]) => [name, await p] as const));
  const result = Object.fromEntries(entries);
  return { status: entries.every(([, c]) => c.status === 'ok') ? 'ok' : 'degraded', checks: result };
}

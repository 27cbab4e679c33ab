/** A Temporal worker and client for one test file, on the test Temporal server. */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import { startWorker, type RunningWorker, type WorkerOptions } from '../../src/worker/worker.js';
import { testActionSettings } from './actions.js';
import type { TestDatabase } from './db.js';
import { testLogger } from './logger.js';

export interface TestTemporal {
  address: string;
  /** `{name}-{uuid}`: test files share the server, never each other's workers. */
  taskQueue: string;
  client: Client;
  worker: RunningWorker;
  close(): Promise<void>;
}

export async function startTestTemporal(
  db: TestDatabase,
  name: string,
  worker: Partial<Pick<WorkerOptions, 'actions' | 'breaker' | 'maxCachedWorkflows'>> = {},
): Promise<TestTemporal> {
  const address = inject('temporalAddress');
  const taskQueue = `${name}-${randomUUID()}`;
  const running = await startTestWorker(db.pool, taskQueue, worker);
  const connection = await Connection.connect({ address });
  return {
    address,
    taskQueue,
    client: new Client({ connection }),
    worker: running,
    close: async () => {
      await running.stop();
      await connection.close();
    },
  };
}

/** A worker of the test's own on `taskQueue`, on the test Temporal server (test action settings unless given). */
export function startTestWorker(
  pool: WorkerOptions['pool'],
  taskQueue: string,
  options: Partial<Omit<WorkerOptions, 'address' | 'namespace' | 'taskQueue' | 'pool'>> = {},
): Promise<RunningWorker> {
  return startWorker({
    address: inject('temporalAddress'),
    namespace: 'default',
    taskQueue,
    pool,
    logger: testLogger,
    actions: testActionSettings(),
    ...options,
  });
}

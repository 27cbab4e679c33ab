import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, DatabaseCheck } from '../activities/index.js';

const { checkDatabase } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 3, initialInterval: '200 milliseconds' },
});

export interface HealthReport {
  ok: boolean;
  taskQueue: string;
  database: DatabaseCheck;
}

/** A round trip through the Temporal server, a worker and an activity: used by `/health?deep=true` and the tests. */
export async function healthWorkflow(): Promise<HealthReport> {
  const database = await checkDatabase();
  return { ok: database.ok, taskQueue: workflowInfo().taskQueue, database };
}

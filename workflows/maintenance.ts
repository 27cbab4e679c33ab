import { patched, proxyActivities } from '@temporalio/workflow';
import type { createDeliveryActivities } from '../activities/deliveries.js';
import type { createMaintenanceActivities, MaintenanceReport } from '../activities/maintenance.js';
import type { createA2AActivities } from '../activities/a2a.js';

const { refreshReportingViews, applyRetention } = proxyActivities<ReturnType<typeof createMaintenanceActivities>>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 3, initialInterval: '10 seconds' },
});
const { ensureWaitingDispatchers } = proxyActivities<ReturnType<typeof createDeliveryActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '10 seconds' },
});

const { resumeStrandedA2ATasks } = proxyActivities<ReturnType<typeof createA2AActivities>>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3, initialInterval: '10 seconds' },
});

/**
 * Housekeeping, started by the `maintenance` Schedule: retention, expired bookkeeping, reporting views, and the
 * dispatchers of deliveries left waiting, and the workflows of A2A tasks an API process recorded but never started.
 */
export async function maintenanceWorkflow(): Promise<
  MaintenanceReport & { dispatchersEnsured?: string[]; strandedA2ATasksResumed?: string[] }
> {
  // Retention first, so the refreshed views describe the data that is kept.
  const report = await applyRetention();
  await refreshReportingViews();
  if (!patched('ensure-waiting-dispatchers')) return report;
  const ensured = { ...report, dispatchersEnsured: await ensureWaitingDispatchers() };
  if (!patched('resume-stranded-a2a-tasks')) return ensured;
  return { ...ensured, strandedA2ATasksResumed: await resumeStrandedA2ATasks() };
}

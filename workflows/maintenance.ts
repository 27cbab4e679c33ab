import { patched, proxyActivities } from '@temporalio/workflow';
import type { createDeliveryActivities } from '../activities/deliveries.js';
import type { createMaintenanceActivities, MaintenanceReport } from '../activities/maintenance.js';

const { refreshReportingViews, applyRetention } = proxyActivities<ReturnType<typeof createMaintenanceActivities>>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 3, initialInterval: '10 seconds' },
});
const { ensureWaitingDispatchers } = proxyActivities<ReturnType<typeof createDeliveryActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '10 seconds' },
});

/**
 * Housekeeping, started by the `maintenance` Schedule: retention, expired bookkeeping, reporting views, and the
 * dispatchers of deliveries left waiting.
 */
export async function maintenanceWorkflow(): Promise<MaintenanceReport & { dispatchersEnsured?: string[] }> {
  // Retention first, so the refreshed views describe the data that is kept.
  const report = await applyRetention();
  await refreshReportingViews();
  if (!patched('ensure-waiting-dispatchers')) return report;
  return { ...report, dispatchersEnsured: await ensureWaitingDispatchers() };
}

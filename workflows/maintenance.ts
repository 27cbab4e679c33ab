import { proxyActivities } from '@temporalio/workflow';
import type { createMaintenanceActivities, MaintenanceReport } from '../activities/maintenance.js';

const { refreshReportingViews, applyRetention } = proxyActivities<ReturnType<typeof createMaintenanceActivities>>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 3, initialInterval: '10 seconds' },
});

/** Housekeeping, started by the `maintenance` Schedule: retention, expired bookkeeping, reporting views. */
export async function maintenanceWorkflow(): Promise<MaintenanceReport> {
  // Retention first, so the refreshed views describe the data that is kept.
  const report = await applyRetention();
  await refreshReportingViews();
  return report;
}

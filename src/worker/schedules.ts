/** Recurring work as Temporal Schedules (visible and pausable in the Web UI), created idempotently at worker start. */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Logger } from '../logger.js';

export const MAINTENANCE_SCHEDULE_ID = 'maintenance';

export async function ensureSchedules(client: Client, taskQueue: string, logger: Logger, every = '15m'): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: MAINTENANCE_SCHEDULE_ID,
      spec: { intervals: [{ every }] },
      action: { type: 'startWorkflow', workflowType: 'maintenanceWorkflow', taskQueue, args: [] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    logger.info({ scheduleId: MAINTENANCE_SCHEDULE_ID, every }, 'created the maintenance schedule');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
}

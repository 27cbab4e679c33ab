/** Recurring work as Temporal Schedules (visible and pausable in the Web UI), created idempotently at worker start. */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { Logger } from '../logger.js';

export const MAINTENANCE_SCHEDULE_ID = 'maintenance';

export async function ensureSchedules(
  client: Client,
  taskQueue: string,
  logger: Logger,
  { every = '15m', scheduleId = MAINTENANCE_SCHEDULE_ID }: { every?: string; scheduleId?: string } = {},
): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every }] },
      action: { type: 'startWorkflow', workflowType: 'maintenanceWorkflow', taskQueue, args: [] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    logger.info({ scheduleId, every }, 'created the maintenance schedule');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
}

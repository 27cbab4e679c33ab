/**
 * Tasks stranded by an API process that died between recording a task and starting its workflow: left alone, such a
 * task would stay SUBMITTED for ever and count toward its organization's pending-task limit. The maintenance workflow
 * starts their workflows (id `a2a/{taskId}`, attaching to one that exists), which complete them once and charge them
 * once: every step of the task workflow is idempotent on the task.
 */
import type { Client } from '@temporalio/client';
import type { Db } from '../db/pool.js';
import type { Logger } from '../logger.js';
import { startTaskWorkflow } from './executor.js';
import { strandedTasks } from './tasks.js';

/** Long enough for an API process to start the workflow of a task it has just recorded. */
export const STRANDED_TASK_GRACE_SECONDS = 120;

export interface StrandedTaskSweep {
  pool: Db;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  graceSeconds?: number;
}

/** Starts the workflows of stranded tasks; returns their ids. A task whose start fails is left for the next sweep. */
export async function resumeStrandedTasks(sweep: StrandedTaskSweep): Promise<string[]> {
  const log = sweep.logger.child({ component: 'a2a-recovery' });
  const resumed: string[] = [];
  for (const task of await strandedTasks(sweep.pool, sweep.graceSeconds ?? STRANDED_TASK_GRACE_SECONDS)) {
    try {
      await startTaskWorkflow(sweep.temporal, sweep.taskQueue, task);
      resumed.push(task.taskId);
    } catch (err) {
      log.warn({ err, taskId: task.taskId }, 'could not start the workflow of a stranded A2A task');
    }
  }
  if (resumed.length) log.info({ tasks: resumed }, 'started the workflows of stranded A2A tasks');
  return resumed;
}

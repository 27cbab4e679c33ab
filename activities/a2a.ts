/** The A2A task workflow's activities (workflows/a2a-task.ts; contract in src/a2a/workflow-types.ts). */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Logger } from '../src/logger.js';
import { capture, releaseHold, reserve } from '../src/billing/ledger.js';
import { isBillingError } from '../src/billing/errors.js';
import { withTransaction } from '../src/db/transaction.js';
import { returnIncludedCall, takeIncludedCall } from '../src/queries/metering.js';
import type { QueryService } from '../src/queries/service.js';
import type { A2ATaskActivities } from '../src/a2a/workflow-types.js';
import { resumeStrandedTasks } from '../src/a2a/recovery.js';
import {
  finishTask,
  holdOfTask,
  keepAnswer,
  keptAnswer,
  lockTaskPayment,
  markIncludedCallReturned,
  recordHold,
  recordIncludedCall,
  recordProgress,
} from '../src/a2a/tasks.js';

export interface A2AActivityDeps {
  pool: pg.Pool;
  logger: Logger;
  queries: QueryService;
  /** Starts the workflows of stranded tasks (the maintenance workflow's sweep). */
  temporal: Client;
  taskQueue: string;
}

/** A hold outlives the longest computation with its retries; a hold nobody settles expires (maintenance). */
const HOLD_SECONDS = 60 * 60;
const HEARTBEAT_MS = 1_000;

export function createA2AActivities({ pool, logger, queries, temporal, taskQueue }: A2AActivityDeps) {
  const log = logger.child({ component: 'a2a-task' });
  const activities: A2ATaskActivities = {
    async holdTaskPrice(input) {
      const perMonth = await queries.includedCallsPerMonth(input.organizationId);
      // The task's row, locked, remembers what a first attempt took: a retry takes nothing more.
      const paid = await withTransaction(pool, async (client) => {
        const payment = await lockTaskPayment(client, input.taskId);
        if (!payment) throw new Error(`no A2A task ${input.taskId}`);
        if (payment.includedCall) return true;
        if (payment.holdId || !(await takeIncludedCall(client, input.organizationId, perMonth))) return false;
        await recordIncludedCall(client, input.taskId);
        return true;
      });
      if (paid) return { includedCall: true as const };
      try {
        const { hold } = await reserve(pool, {
          organizationId: input.organizationId,
          key: `a2a:${input.taskId}`,
          amount: input.price,
          ttlSeconds: HOLD_SECONDS,
          description: `A2A task ${input.taskId}: ${input.tool}`,
        });
        await recordHold(pool, input.taskId, hold.id);
        return { holdId: hold.id };
      } catch (err) {
        if (isBillingError(err, 'insufficient_credits')) return { refused: `insufficient credits: ${err.message}` };
        throw err;
      }
    },

    async markTaskWorking(taskId) {
      await recordProgress(pool, taskId, 0, 'working');
    },

    async computeTaskAnswer(input) {
      const ctx = Context.current();
      // Heartbeats while the query runs, not only at progress reports: a tool may report none for a while.
      const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_MS);
      try {
        const { answer } = await queries.call({
          tool: input.tool,
          input: input.input,
          payer:
            input.holdId === undefined
              ? { kind: 'included', organizationId: input.organizationId, caller: input.caller }
              : { kind: 'hold', organizationId: input.organizationId, caller: input.caller, holdId: input.holdId },
          // Every attempt is the same metered call: a retry after a lost worker is not logged twice.
          requestId: `a2a:${input.taskId}`,
          surface: 'a2a',
          signal: ctx.cancellationSignal,
          progress: ({ done, total, message }) => {
            ctx.heartbeat();
            void recordProgress(pool, input.taskId, total > 0 ? done / total : 0, message ?? `${done}/${total}`).catch(
              (err) => log.warn({ err, taskId: input.taskId }, 'progress not recorded'),
            );
          },
        });
        await keepAnswer(pool, input.taskId, answer);
      } finally {
        clearInterval(beat);
      }
    },

    async captureTaskPrice({ organizationId, holdId, amount }) {
      const { hold } = await capture(pool, { organizationId, holdId, amount });
      return hold.captured ?? '0';
    },

    async releaseTaskHold({ organizationId, taskId }) {
      await withTransaction(pool, async (client) => {
        if (await markIncludedCallReturned(client, taskId)) await returnIncludedCall(client, organizationId);
      });
      const holdId = await holdOfTask(pool, taskId);
      if (!holdId) return;
      try {
        await releaseHold(pool, { organizationId, holdId });
      } catch (err) {
        // Captured already (the answer won the race): there is nothing to give back.
        if (!isBillingError(err, 'hold_not_active')) throw err;
      }
    },

    async finishA2ATask({ taskId, state, text, cost }) {
      const answer = state === 'completed' ? await keptAnswer(pool, taskId) : undefined;
      await finishTask(pool, taskId, { state, text, cost, answer });
    },
  };
  return {
    ...activities,
    /** The maintenance workflow's sweep of tasks whose workflow was never started (src/a2a/recovery.ts). */
    async resumeStrandedA2ATasks(): Promise<string[]> {
      return resumeStrandedTasks({ pool, temporal, taskQueue, logger });
    },
  };
}

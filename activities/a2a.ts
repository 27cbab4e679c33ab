/** The A2A task workflow's activities (workflows/a2a-task.ts; contract in src/a2a/workflow-types.ts). */
import { Context } from '@temporalio/activity';
import type pg from 'pg';
import type { Logger } from '../src/logger.js';
import { capture, releaseHold, reserve } from '../src/billing/ledger.js';
import { isBillingError } from '../src/billing/errors.js';
import type { QueryService } from '../src/queries/service.js';
import type { A2ATaskActivities } from '../src/a2a/workflow-types.js';
import { finishTask, holdOfTask, keepAnswer, keptAnswer, recordHold, recordProgress } from '../src/a2a/tasks.js';

export interface A2AActivityDeps {
  pool: pg.Pool;
  logger: Logger;
  queries: QueryService;
}

/** A hold outlives the longest computation with its retries; a hold nobody settles expires (maintenance). */
const HOLD_SECONDS = 60 * 60;
const HEARTBEAT_MS = 1_000;

export function createA2AActivities({ pool, logger, queries }: A2AActivityDeps): A2ATaskActivities {
  const log = logger.child({ component: 'a2a-task' });
  return {
    async holdTaskPrice(input) {
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
          payer: { kind: 'hold', organizationId: input.organizationId, caller: input.caller, holdId: input.holdId },
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
}

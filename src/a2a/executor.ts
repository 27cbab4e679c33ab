/**
 * The A2A agent: a message names a query tool and its arguments (./query-request.ts); the task is recorded, its
 * workflow started (`a2a/{taskId}`, workflows/a2a-task.ts), and what the workflow writes to the task is relayed to the
 * SDK's event bus until the task is terminal (./task-events.ts). A message the tools cannot answer is REJECTED with
 * the reason, before any workflow or hold.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { TaskState, type Task } from '@a2a-js/sdk';
import { AgentEvent, type AgentExecutor, type ExecutionEventBus, type RequestContext } from '@a2a-js/sdk/server';
import type { Db } from '../db/pool.js';
import type { Logger } from '../logger.js';
import type { QueryService } from '../queries/service.js';
import { ORGANIZATION_ID } from '../triggers/search-attributes.js';
import { queryRequestOf } from './query-request.js';
import { callerOf } from './user.js';
import { finishTask, insertTask, insertTaskWithinLimit, statusOf, tooManyPendingTasks, type NewTask } from './tasks.js';
import { taskUpdates, type TaskNotifications } from './task-events.js';
import type { A2ATaskInput } from './workflow-types.js';

export const QUERY_TOOL = defineSearchAttributeKey('QueryTool', SearchAttributeType.KEYWORD);

export const a2aWorkflowId = (taskId: string) => `a2a/${taskId}`;

export interface QueryTaskExecutorDeps {
  pool: Db;
  queries: QueryService;
  temporal: Client;
  taskQueue: string;
  notifications: TaskNotifications;
  logger: Logger;
  /** Tasks an organization may have submitted or working at once (A2A_MAX_PENDING_TASKS). */
  maxPendingTasks: number;
}

export class QueryTaskExecutor implements AgentExecutor {
  private readonly log: Logger;

  constructor(private readonly deps: QueryTaskExecutorDeps) {
    this.log = deps.logger.child({ component: 'a2a-executor' });
  }

  async execute(context: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { pool, queries } = this.deps;
    const caller = callerOf(context.context);
    const message = context.userMessage;
    const request = queryRequestOf(message, queries);
    const ids = { id: context.taskId, contextId: context.contextId };
    let status = request.ok
      ? statusOf(ids, TaskState.TASK_STATE_SUBMITTED)
      : statusOf(ids, TaskState.TASK_STATE_REJECTED, request.reason);
    const price = request.ok ? queries.priceOf(request.tool) : undefined;
    const record: NewTask & { owner: { organizationId: string } } = {
      ...ids,
      owner: { organizationId: caller.organizationId },
      caller: caller.caller,
      tool: request.tool,
      arguments: request.ok ? request.input : {},
      price,
      message,
      status,
      workflowId: request.ok ? a2aWorkflowId(context.taskId) : undefined,
    };
    let accepted = request.ok;
    if (request.ok) {
      const admitted = await insertTaskWithinLimit(pool, record, this.deps.maxPendingTasks);
      if (!admitted.inserted) {
        // Sent together with others that took the last places: refused like the request handler refuses.
        accepted = false;
        status = statusOf(
          ids,
          TaskState.TASK_STATE_REJECTED,
          tooManyPendingTasks(admitted.pending, this.deps.maxPendingTasks),
        );
        await insertTask(pool, { ...record, status, workflowId: undefined });
      }
    } else {
      await insertTask(pool, record);
    }
    const task: Task = { ...ids, status, history: [message], artifacts: [], metadata: {} };
    bus.publish(AgentEvent.task(task));
    if (!request.ok || !accepted) return;

    try {
      await startTaskWorkflow(this.deps.temporal, this.deps.taskQueue, {
        taskId: context.taskId,
        organizationId: caller.organizationId,
        caller: caller.caller,
        tool: request.tool,
        input: request.input,
        price: price!,
      });
    } catch (err) {
      // No workflow will ever end this task: it ends here, so that it does not count as pending for ever.
      await finishTask(pool, context.taskId, {
        state: 'failed',
        text: 'the task could not be started; nothing was charged',
      });
      throw err;
    }
    this.log.debug({ taskId: context.taskId, tool: request.tool }, 'A2A task started');
    for await (const event of taskUpdates(pool, this.deps.notifications, context.taskId, {
      timestamp: status.timestamp,
      artifacts: 0,
    })) {
      bus.publish(event);
    }
  }

  /** Cancels the task's workflow, which releases the hold and writes CANCELED (relayed by `execute`). */
  async cancelTask(taskId: string): Promise<void> {
    await cancelTaskWorkflow(this.deps.temporal, taskId);
  }
}

/**
 * Starts the task's workflow, or attaches to it when it exists already (a retried execute, or the sweep of tasks
 * whose API process died before it started them: ./recovery.ts).
 */
export async function startTaskWorkflow(temporal: Client, taskQueue: string, input: A2ATaskInput): Promise<void> {
  await temporal.workflow.start('a2aTaskWorkflow', {
    workflowId: a2aWorkflowId(input.taskId),
    taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: [
      { key: ORGANIZATION_ID, value: input.organizationId },
      { key: QUERY_TOOL, value: input.tool },
    ],
  });
}

/** Asks the task's workflow to cancel; a workflow that has finished already is left as it is. */
export async function cancelTaskWorkflow(temporal: Client, taskId: string): Promise<void> {
  try {
    await temporal.workflow.getHandle(a2aWorkflowId(taskId)).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/**
 * The SDK's request handler, made multi-process. The stock one knows only the tasks whose event bus lives in its own
 * process: elsewhere CancelTask marks the task CANCELED while its work runs on, and SubscribeToTask sends a snapshot
 * and closes. Here every task's truth is its row and its workflow: CancelTask cancels the workflow (which releases the
 * hold and writes CANCELED) and waits for the ending; SubscribeToTask follows the row's changes on any process until
 * the task is terminal. New tasks are checked against the organization's limits first: refused, nothing is written.
 */
import type { Client } from '@temporalio/client';
import {
  RequestMalformedError,
  TaskNotCancelableError,
  TaskNotFoundError,
  UnsupportedOperationError,
} from '@a2a-js/sdk/errors';
import { TaskState, type AgentCard, type ListTasksRequest, type ListTasksResponse, type Task } from '@a2a-js/sdk';
import type { CancelTaskRequest, SendMessageRequest, StreamResponse, SubscribeToTaskRequest } from '@a2a-js/sdk';
import { DefaultRequestHandler, type AgentExecutor, type ServerCallContext, type TaskStore } from '@a2a-js/sdk/server';
import type { Db } from '../db/pool.js';
import { argumentBytes } from './query-request.js';
import { cancelTaskWorkflow } from './executor.js';
import {
  countPendingTasks,
  InvalidPageTokenError,
  isTerminalState,
  listTasks,
  loadTask,
  saveTask,
  tooManyPendingTasks,
} from './tasks.js';
import { taskUpdates, type TaskNotifications } from './task-events.js';
import { ownerOf } from './user.js';

export interface A2ALimits {
  /** Tasks an organization may have submitted or working at once. */
  maxPendingTasks: number;
  /** The largest data part of a message (JSON bytes). */
  maxArgumentBytes: number;
}

/** `a2a_tasks`, scoped by the caller's organization (another's task is not found). */
export class PgTaskStore implements TaskStore {
  constructor(private readonly pool: Db) {}

  save(task: Task, context: ServerCallContext): Promise<void> {
    return saveTask(this.pool, task, ownerOf(context));
  }

  load(taskId: string, context: ServerCallContext): Promise<Task | undefined> {
    return loadTask(this.pool, taskId, ownerOf(context));
  }

  async list(params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> {
    try {
      return await listTasks(this.pool, ownerOf(context), params);
    } catch (err) {
      if (err instanceof InvalidPageTokenError) throw new RequestMalformedError(err.message);
      throw err;
    }
  }
}

/** How long CancelTask waits for the workflow to write the task's ending. */
const CANCEL_WAIT_MS = 30_000;

export interface QueryTaskRequestHandlerDeps {
  card: AgentCard;
  pool: Db;
  executor: AgentExecutor;
  temporal: Client;
  notifications: TaskNotifications;
  limits: A2ALimits;
}

export class QueryTaskRequestHandler extends DefaultRequestHandler {
  private readonly pool: Db;
  private readonly temporal: Client;
  private readonly notifications: TaskNotifications;
  private readonly limits: A2ALimits;

  constructor(deps: QueryTaskRequestHandlerDeps) {
    super(deps.card, new PgTaskStore(deps.pool), deps.executor);
    this.pool = deps.pool;
    this.temporal = deps.temporal;
    this.notifications = deps.notifications;
    this.limits = deps.limits;
  }

  override async sendMessage(params: SendMessageRequest, context: ServerCallContext) {
    await this.checkLimits(params, context);
    return super.sendMessage(params, context);
  }

  override async *sendMessageStream(params: SendMessageRequest, context: ServerCallContext) {
    await this.checkLimits(params, context);
    yield* super.sendMessageStream(params, context);
  }

  private async checkLimits(params: SendMessageRequest, context: ServerCallContext): Promise<void> {
    const bytes = argumentBytes(params.message);
    if (bytes > this.limits.maxArgumentBytes) {
      throw new RequestMalformedError({
        message: `the message's data is ${bytes} bytes; at most ${this.limits.maxArgumentBytes} are accepted`,
        metadata: { limit: String(this.limits.maxArgumentBytes), size: String(bytes) },
      });
    }
    // The common case, refused before any task is written; simultaneous sends that pass it together are held to the
    // limit by the executor's insert (a REJECTED task beyond it).
    const pending = await countPendingTasks(this.pool, ownerOf(context));
    if (pending >= this.limits.maxPendingTasks) {
      throw new RequestMalformedError({
        message: tooManyPendingTasks(pending, this.limits.maxPendingTasks),
        metadata: { limit: String(this.limits.maxPendingTasks), pending: String(pending) },
      });
    }
  }

  override async cancelTask(params: CancelTaskRequest, context: ServerCallContext): Promise<Task> {
    const owner = ownerOf(context);
    let task = await loadTask(this.pool, params.id, owner);
    if (!task) throw new TaskNotFoundError(`Task not found: ${params.id}`);
    if (task.status?.state === TaskState.TASK_STATE_CANCELED) return task;
    if (isTerminalState(task.status?.state)) throw new TaskNotCancelableError(`Task not cancelable: ${params.id}`);
    await cancelTaskWorkflow(this.temporal, task.id);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    while (!isTerminalState(task.status?.state) && Date.now() < deadline) {
      await this.notifications.next(task.id, Math.min(1_000, deadline - Date.now()));
      task = (await loadTask(this.pool, task.id, owner)) ?? task;
    }
    if (task.status?.state === TaskState.TASK_STATE_CANCELED || !isTerminalState(task.status?.state)) return task;
    // The workflow finished before it saw the cancellation.
    throw new TaskNotCancelableError(`Task not cancelable: ${params.id} ended before it could be canceled`);
  }

  override async *resubscribe(
    params: SubscribeToTaskRequest,
    context: ServerCallContext,
  ): AsyncGenerator<StreamResponse, void, undefined> {
    const task = await loadTask(this.pool, params.id, ownerOf(context));
    if (!task) throw new TaskNotFoundError(`Task not found: ${params.id}`);
    if (isTerminalState(task.status?.state)) {
      throw new UnsupportedOperationError(`Task ${params.id} is in a terminal state and cannot be subscribed to.`);
    }
    yield { payload: { $case: 'task', value: task } };
    const seen = { timestamp: task.status?.timestamp, artifacts: task.artifacts.length };
    for await (const event of taskUpdates(this.pool, this.notifications, task.id, seen)) {
      if (event.kind === 'statusUpdate') yield { payload: { $case: 'statusUpdate', value: event.data } };
      else if (event.kind === 'artifactUpdate') yield { payload: { $case: 'artifactUpdate', value: event.data } };
    }
  }
}

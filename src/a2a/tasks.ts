/**
 * A2A tasks in `a2a_tasks`: the task as the protocol shows it (status, history, artifacts as A2A proto-JSON) and who
 * pays for it. Every read is scoped by the payer (an organization, or an x402 wallet): another payer's task is not
 * found. Writes after the task is terminal change nothing (the workflow and the SDK's ResultManager both write the
 * final state; whichever is first wins), and every change is announced on A2A_TASK_CHANNEL so that any API process
 * can relay it to its streams (./task-events.ts).
 */
import {
  Artifact,
  Message,
  Task,
  TaskState,
  TaskStatus,
  type ListTasksRequest,
  type ListTasksResponse,
} from '@a2a-js/sdk';
import type { Db } from '../db/pool.js';
import { withTransaction, type Queryable } from '../db/transaction.js';
import type { QueryAnswer } from '../queries/tool.js';
import type { A2ATaskInput } from './workflow-types.js';

export const A2A_TASK_CHANNEL = 'a2a_task';

/** Who a task belongs to: an organization, or a wallet that paid with x402. */
export type TaskOwner = { organizationId: string } | { payerAddress: string };

export type StoredTaskState =
  'submitted' | 'working' | 'input_required' | 'auth_required' | 'completed' | 'failed' | 'canceled' | 'rejected';

const STORED_STATE: Partial<Record<TaskState, StoredTaskState>> = {
  [TaskState.TASK_STATE_SUBMITTED]: 'submitted',
  [TaskState.TASK_STATE_WORKING]: 'working',
  [TaskState.TASK_STATE_INPUT_REQUIRED]: 'input_required',
  [TaskState.TASK_STATE_AUTH_REQUIRED]: 'auth_required',
  [TaskState.TASK_STATE_COMPLETED]: 'completed',
  [TaskState.TASK_STATE_FAILED]: 'failed',
  [TaskState.TASK_STATE_CANCELED]: 'canceled',
  [TaskState.TASK_STATE_REJECTED]: 'rejected',
};
const TASK_STATE = Object.fromEntries(Object.entries(STORED_STATE).map(([k, v]) => [v, Number(k)])) as Record<
  StoredTaskState,
  TaskState
>;

export const TERMINAL_STATES: readonly StoredTaskState[] = ['completed', 'failed', 'canceled', 'rejected'];
const TERMINAL_SQL = `('completed', 'failed', 'canceled', 'rejected')`;

export const storedState = (state: TaskState): StoredTaskState => STORED_STATE[state] ?? 'submitted';
export const taskState = (state: StoredTaskState): TaskState => TASK_STATE[state];
export const isTerminalState = (state: TaskState | undefined): boolean =>
  state !== undefined && TERMINAL_STATES.includes(storedState(state));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isTaskId = (id: string): boolean => UUID.test(id);

/** The owner condition on `a2a_tasks` with its parameter at `$n`. */
function ownerClause(owner: TaskOwner, n: number): { sql: string; value: string } {
  return 'organizationId' in owner
    ? { sql: `organization_id = $${n}`, value: owner.organizationId }
    : { sql: `payer_address = $${n}`, value: owner.payerAddress.toLowerCase() };
}

interface TaskRow {
  id: string;
  context_id: string;
  status: StoredTaskState;
  status_detail: unknown;
  history: unknown[];
  artifacts: unknown[];
  metadata: Record<string, unknown>;
  progress: number;
  created_at: Date;
}

const TASK_COLUMNS =
  'id, context_id, status, status_detail, history, artifacts, metadata, progress::float8, created_at';

function taskOf(row: TaskRow): Task {
  return {
    id: row.id,
    contextId: row.context_id,
    status: row.status_detail
      ? TaskStatus.fromJSON(row.status_detail)
      : { state: taskState(row.status), message: undefined, timestamp: row.created_at.toISOString() },
    history: row.history.map((m) => Message.fromJSON(m)),
    artifacts: row.artifacts.map((a) => Artifact.fromJSON(a)),
    metadata: row.metadata,
  };
}

/** A status with an agent message saying why (rejections, failures, progress), as the protocol words it. */
export function statusOf(task: { id: string; contextId: string }, state: TaskState, text?: string): TaskStatus {
  return {
    state,
    timestamp: new Date().toISOString(),
    message:
      text === undefined
        ? undefined
        : {
            messageId: crypto.randomUUID(),
            taskId: task.id,
            contextId: task.contextId,
            role: 2, // ROLE_AGENT
            parts: [{ content: { $case: 'text', value: text }, mediaType: 'text/plain', filename: '', metadata: {} }],
            metadata: {},
            extensions: [],
            referenceTaskIds: [],
          },
  };
}

/** The artifact of a completed query task: the answer as one JSON data part. */
export function answerArtifact(answer: QueryAnswer): Artifact {
  return {
    artifactId: 'answer',
    name: answer.tool,
    description: `${answer.tool} for agent ${answer.agentId} on chain ${answer.chainId} as of block ${answer.asOfBlock}`,
    parts: [{ content: { $case: 'data', value: answer }, mediaType: 'application/json', filename: '', metadata: {} }],
    metadata: {},
    extensions: [],
  };
}

export interface NewTask {
  id: string;
  contextId: string;
  owner: TaskOwner;
  /** 'apiKey:<id>', 'oauth:<client>' for an organization's caller; absent for x402. */
  caller?: string;
  paymentReference?: string;
  tool: string;
  arguments: Record<string, unknown>;
  price?: string;
  message: Message;
  status: TaskStatus;
  workflowId?: string;
}

/** Records a new task (the executor's first act); a retried execute of the same task changes nothing. */
export async function insertTask(db: Queryable, task: NewTask): Promise<void> {
  const owner = task.owner;
  await db.query(
    `INSERT INTO a2a_tasks (id, context_id, organization_id, payer_address, caller, payment_reference, tool, arguments,
       price, history, status, status_detail, workflow_id, started_at, completed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now(), CASE WHEN $11 IN ${TERMINAL_SQL} THEN now() END)
     ON CONFLICT (id) DO NOTHING`,
    [
      task.id,
      task.contextId,
      'organizationId' in owner ? owner.organizationId : null,
      'payerAddress' in owner ? owner.payerAddress.toLowerCase() : null,
      task.caller ?? null,
      task.paymentReference ?? null,
      task.tool,
      JSON.stringify(task.arguments),
      task.price ?? null,
      JSON.stringify([Message.toJSON(task.message)]),
      storedState(task.status.state),
      JSON.stringify(TaskStatus.toJSON(task.status)),
      task.workflowId ?? null,
    ],
  );
  await notifyTask(db, task.id, storedState(task.status.state));
}

export async function loadTask(db: Queryable, id: string, owner: TaskOwner): Promise<Task | undefined> {
  if (!isTaskId(id)) return undefined;
  const scope = ownerClause(owner, 2);
  const { rows } = await db.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM a2a_tasks WHERE id = $1 AND ${scope.sql}`, [
    id,
    scope.value,
  ]);
  return rows[0] && taskOf(rows[0]);
}

/** A task and how far its work is (0..1), whoever owns it: for relaying a task the caller was already allowed to see. */
export async function loadTaskProgress(
  db: Queryable,
  id: string,
): Promise<{ task: Task; progress: number } | undefined> {
  const { rows } = await db.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM a2a_tasks WHERE id = $1`, [id]);
  return rows[0] && { task: taskOf(rows[0]), progress: rows[0].progress };
}

/**
 * The SDK's save (every event it processes): status, history and artifacts as it has them. Only an existing task of
 * the owner that is not terminal yet changes.
 */
export async function saveTask(db: Queryable, task: Task, owner: TaskOwner): Promise<void> {
  if (!isTaskId(task.id) || !task.status) return;
  const scope = ownerClause(owner, 2);
  const state = storedState(task.status.state);
  const { rowCount } = await db.query(
    `UPDATE a2a_tasks SET status = $3, status_detail = $4, history = $5, artifacts = $6, status_updated_at = now(),
       completed_at = CASE WHEN $3 IN ${TERMINAL_SQL} THEN now() END
     WHERE id = $1 AND ${scope.sql} AND status NOT IN ${TERMINAL_SQL}`,
    [
      task.id,
      scope.value,
      state,
      JSON.stringify(TaskStatus.toJSON(task.status)),
      JSON.stringify(task.history.map((m) => Message.toJSON(m))),
      JSON.stringify(task.artifacts.map((a) => Artifact.toJSON(a))),
    ],
  );
  if (rowCount) await notifyTask(db, task.id, state);
}

/** A working task's progress (the workflow's compute reports it); nothing once it is terminal. */
export async function recordProgress(db: Queryable, taskId: string, progress: number, text: string): Promise<void> {
  const { rows } = await db.query<{ context_id: string }>(
    `SELECT context_id FROM a2a_tasks WHERE id = $1 AND status NOT IN ${TERMINAL_SQL}`,
    [taskId],
  );
  if (!rows[0]) return;
  const status = statusOf({ id: taskId, contextId: rows[0].context_id }, TaskState.TASK_STATE_WORKING, text);
  const { rowCount } = await db.query(
    `UPDATE a2a_tasks SET status = 'working', status_detail = $2, progress = $3, status_updated_at = now()
     WHERE id = $1 AND status NOT IN ${TERMINAL_SQL}`,
    [taskId, JSON.stringify(TaskStatus.toJSON(status)), Math.min(1, Math.max(0, progress)).toFixed(2)],
  );
  if (rowCount) await notifyTask(db, taskId, 'working');
}

export async function recordHold(db: Queryable, taskId: string, holdId: string): Promise<void> {
  await db.query('UPDATE a2a_tasks SET hold_id = $2 WHERE id = $1', [taskId, holdId]);
}

export async function holdOfTask(db: Queryable, taskId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ hold_id: string | null }>('SELECT hold_id FROM a2a_tasks WHERE id = $1', [taskId]);
  return rows[0]?.hold_id ?? undefined;
}

/** Keeps the computed answer on the task until the workflow completes it (the answer never crosses Temporal). */
export async function keepAnswer(db: Queryable, taskId: string, answer: QueryAnswer): Promise<void> {
  await db.query('UPDATE a2a_tasks SET result = $2 WHERE id = $1', [taskId, JSON.stringify(answer)]);
}

export async function keptAnswer(db: Queryable, taskId: string): Promise<QueryAnswer | undefined> {
  const { rows } = await db.query<{ result: QueryAnswer | null }>('SELECT result FROM a2a_tasks WHERE id = $1', [
    taskId,
  ]);
  return rows[0]?.result ?? undefined;
}

export interface TaskEnding {
  state: 'completed' | 'failed' | 'canceled' | 'rejected';
  /** Why (failed, canceled, rejected), or a short note. */
  text?: string;
  answer?: QueryAnswer;
  /** What the payer was charged (USDC). */
  cost?: string;
}

/**
 * Writes a task's terminal state once: the first ending wins, a repeated one (an activity retried) changes nothing.
 * Returns the state the task ended in.
 */
export async function finishTask(db: Queryable, taskId: string, ending: TaskEnding): Promise<StoredTaskState> {
  const { rows } = await db.query<{ context_id: string; status: StoredTaskState }>(
    'SELECT context_id, status FROM a2a_tasks WHERE id = $1',
    [taskId],
  );
  const row = rows[0];
  if (!row) throw new Error(`no A2A task ${taskId}`);
  if (TERMINAL_STATES.includes(row.status)) return row.status;
  const status = statusOf({ id: taskId, contextId: row.context_id }, taskState(ending.state), ending.text);
  const artifacts = ending.answer ? [Artifact.toJSON(answerArtifact(ending.answer))] : [];
  const { rows: updated } = await db.query<{ status: StoredTaskState }>(
    `UPDATE a2a_tasks SET status = $2, status_detail = $3, artifacts = CASE WHEN $4::jsonb = '[]' THEN artifacts ELSE $4 END,
       result = $5, error = $6, cost = $7, progress = CASE WHEN $2 = 'completed' THEN 1 ELSE progress END,
       status_updated_at = now(), completed_at = now()
     WHERE id = $1 AND status NOT IN ${TERMINAL_SQL} RETURNING status`,
    [
      taskId,
      ending.state,
      JSON.stringify(TaskStatus.toJSON(status)),
      JSON.stringify(artifacts),
      ending.answer ? JSON.stringify(ending.answer) : null,
      ending.state === 'completed' ? null : (ending.text?.slice(0, 1000) ?? null),
      ending.cost ?? null,
    ],
  );
  if (!updated[0])
    return (await db.query<{ status: StoredTaskState }>(`SELECT status FROM a2a_tasks WHERE id = $1`, [taskId]))
      .rows[0]!.status;
  await notifyTask(db, taskId, ending.state);
  return ending.state;
}

/** Why a task beyond the pending-task limit is refused (by the request handler, or by the insert that enforces it). */
export function tooManyPendingTasks(pending: number, limit: number): string {
  return (
    `too many pending tasks: ${pending} are submitted or working, the limit is ${limit}; ` +
    'wait for one to finish or cancel one'
  );
}

/**
 * Records a new task of an organization unless it has `maxPending` tasks submitted or working already. The count and
 * the insert run under a transaction-scoped advisory lock of the organization, so that simultaneous sends (on any API
 * process) cannot pass the limit together. A task recorded before (a retried execute) is accepted as it is.
 */
export async function insertTaskWithinLimit(
  pool: Db,
  task: NewTask & { owner: { organizationId: string } },
  maxPending: number,
): Promise<{ inserted: true } | { inserted: false; pending: number }> {
  return withTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('a2a-pending:' || $1, 0))`, [
      task.owner.organizationId,
    ]);
    const known = await client.query<{ organization_id: string | null }>(
      'SELECT organization_id FROM a2a_tasks WHERE id = $1',
      [task.id],
    );
    // The SDK loads a client's task id through the organization's store first; this guards the workflow id too.
    if (known.rows[0] && known.rows[0].organization_id !== task.owner.organizationId) {
      throw new Error(`task ${task.id} is not this organization's`);
    }
    if (!known.rowCount) {
      const pending = await countPendingTasks(client, task.owner);
      if (pending >= maxPending) return { inserted: false as const, pending };
      await insertTask(client, task);
    }
    return { inserted: true as const };
  });
}

/** An organization's task still SUBMITTED well after it was recorded, as its workflow's input: it may never have started. */
export type StrandedTask = A2ATaskInput;

/** Organization tasks SUBMITTED (with a workflow id) for longer than `graceSeconds`, oldest first. */
export async function strandedTasks(db: Queryable, graceSeconds: number, limit = 500): Promise<StrandedTask[]> {
  const { rows } = await db.query<StrandedTask>(
    `SELECT id AS "taskId", organization_id AS "organizationId", coalesce(caller, '') AS caller, tool,
       arguments AS input, price::text AS price
     FROM a2a_tasks
     WHERE status = 'submitted' AND organization_id IS NOT NULL AND workflow_id IS NOT NULL AND price IS NOT NULL
       AND created_at < now() - make_interval(secs => $1)
     ORDER BY created_at LIMIT $2`,
    [graceSeconds, limit],
  );
  return rows;
}

/**
 * How a task paid with one of its organization's included calls is marked (payment_reference; x402 tasks keep their
 * payment's reference there), and how it is marked once the call was given back.
 */
const INCLUDED_CALL = 'included-call';
const INCLUDED_CALL_RETURNED = 'included-call-returned';

/**
 * Locks the task's row for the choice of how it pays (inside the caller's transaction): whether it took an included
 * call already, and its hold if it has one. Undefined for an unknown task.
 */
export async function lockTaskPayment(
  client: Queryable,
  taskId: string,
): Promise<{ includedCall: boolean; holdId: string | undefined } | undefined> {
  const { rows } = await client.query<{ payment_reference: string | null; hold_id: string | null }>(
    'SELECT payment_reference, hold_id FROM a2a_tasks WHERE id = $1 FOR UPDATE',
    [taskId],
  );
  const row = rows[0];
  return row && { includedCall: row.payment_reference === INCLUDED_CALL, holdId: row.hold_id ?? undefined };
}

export async function recordIncludedCall(db: Queryable, taskId: string): Promise<void> {
  await db.query('UPDATE a2a_tasks SET payment_reference = $2 WHERE id = $1', [taskId, INCLUDED_CALL]);
}

/** Marks the task's included call as given back; false when it took none or gave it back already. */
export async function markIncludedCallReturned(db: Queryable, taskId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE a2a_tasks SET payment_reference = $3 WHERE id = $1 AND payment_reference = $2',
    [taskId, INCLUDED_CALL, INCLUDED_CALL_RETURNED],
  );
  return rowCount === 1;
}

/** The organization's tasks that are not finished yet (the pending-task limit). */
export async function countPendingTasks(db: Queryable, owner: TaskOwner): Promise<number> {
  const scope = ownerClause(owner, 1);
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM a2a_tasks WHERE ${scope.sql} AND status IN ('submitted', 'working')`,
    [scope.value],
  );
  return rows[0]!.n;
}

const encodeCursor = (createdAt: Date, id: string) =>
  Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');
function decodeCursor(token: string): [string, string] | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, 'base64url').toString());
    if (Array.isArray(value) && value.length === 2 && !isNaN(Date.parse(value[0])) && isTaskId(String(value[1])))
      return [value[0], value[1]];
  } catch {
    // an unreadable cursor is refused below
  }
  return undefined;
}

export class InvalidPageTokenError extends Error {}

/** ListTasks: the owner's tasks newest first, keyset-paged; artifacts only when asked for. */
export async function listTasks(
  db: Queryable,
  owner: TaskOwner,
  request: ListTasksRequest,
): Promise<ListTasksResponse> {
  const scope = ownerClause(owner, 1);
  const where = [scope.sql];
  const values: unknown[] = [scope.value];
  const add = (sql: (n: number) => string, value: unknown) => {
    values.push(value);
    where.push(sql(values.length));
  };
  if (request.contextId) add((n) => `context_id = $${n}`, request.contextId);
  if (request.status) add((n) => `status = $${n}`, storedState(request.status));
  if (request.statusTimestampAfter) add((n) => `status_updated_at > $${n}`, request.statusTimestampAfter);
  const filtered = [...where];
  const filterValues = [...values];
  if (request.pageToken) {
    const cursor = decodeCursor(request.pageToken);
    if (!cursor) throw new InvalidPageTokenError('pageToken is not one this server issued');
    values.push(cursor[0], cursor[1]);
    where.push(`(created_at, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
  }
  const pageSize = request.pageSize ?? 50;
  values.push(pageSize + 1);
  const { rows } = await db.query<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM a2a_tasks WHERE ${where.join(' AND ')}
     ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
    values,
  );
  const { rows: total } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM a2a_tasks WHERE ${filtered.join(' AND ')}`,
    filterValues,
  );
  const page = rows.slice(0, pageSize);
  const last = page[page.length - 1];
  return {
    tasks: page.map((row) => {
      const task = taskOf(row);
      return request.includeArtifacts ? task : { ...task, artifacts: [] };
    }),
    nextPageToken: rows.length > pageSize && last ? encodeCursor(last.created_at, last.id) : '',
    pageSize,
    totalSize: total[0]!.n,
  };
}

async function notifyTask(db: Queryable, taskId: string, state: StoredTaskState): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [A2A_TASK_CHANNEL, JSON.stringify({ id: taskId, state })]);
}

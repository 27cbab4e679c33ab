/**
 * Live task updates on any API process. The workflow's activities write a task's state to `a2a_tasks` and announce it
 * with NOTIFY on A2A_TASK_CHANNEL (./tasks.ts); each API process keeps one LISTEN connection and wakes the streams
 * following that task, which read the row and turn what changed into A2A events (status updates, artifacts). A stream
 * also re-reads the row every few seconds, so a notification lost while the connection was down only delays it.
 */
import pg from 'pg';
import { AgentEvent, type AgentExecutionEvent } from '@a2a-js/sdk/server';
import type { Db } from '../db/pool.js';
import type { Logger } from '../logger.js';
import { A2A_TASK_CHANNEL, isTerminalState, loadTaskProgress } from './tasks.js';

const RECONNECT_MS = { min: 250, max: 10_000 };

export class TaskNotifications {
  private client: pg.Client | undefined;
  private readonly waiting = new Map<string, Set<() => void>>();
  private closed = false;
  private backoffMs = RECONNECT_MS.min;
  private readonly log: Logger;

  constructor(
    private readonly databaseUrl: string,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'a2a-task-notifications' });
  }

  /** Resolves once LISTEN is in force (rejects if the first connection fails). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'a2a-task-listener' });
    client.on('notification', (message) => {
      try {
        const { id } = JSON.parse(message.payload ?? '{}') as { id?: string };
        if (id) this.wake(id);
      } catch {
        // not one of ours
      }
    });
    client.on('error', (err) => {
      this.log.warn({ err }, 'LISTEN connection lost; streams poll until it is back');
      this.client = undefined;
      void client.end().catch(() => undefined);
      this.reconnectLater();
    });
    await client.connect();
    await client.query(`LISTEN ${A2A_TASK_CHANNEL}`);
    this.client = client;
    this.backoffMs = RECONNECT_MS.min;
    // Anything announced while disconnected: every stream looks again.
    for (const id of this.waiting.keys()) this.wake(id);
  }

  private reconnectLater(): void {
    if (this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(RECONNECT_MS.max, this.backoffMs * 2);
    setTimeout(() => {
      if (!this.closed) this.connect().catch(() => this.reconnectLater());
    }, delay).unref();
  }

  private wake(taskId: string): void {
    for (const wake of this.waiting.get(taskId) ?? []) wake();
  }

  /** Resolves at the next announcement about the task, or after `timeoutMs`, or when `signal` aborts. */
  next(taskId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiting.get(taskId) ?? new Set();
      this.waiting.set(taskId, set);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0) this.waiting.delete(taskId);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done);
      set.add(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const id of [...this.waiting.keys()]) this.wake(id);
    await this.client?.end().catch(() => undefined);
  }
}

/** How long a stream waits for a notification before it reads the task anyway. */
const POLL_MS = 2_000;

/**
 * The task's changes from now on, as A2A events, until it is terminal (or `signal` aborts). `seen` is what the caller
 * already has: status timestamp and number of artifacts.
 */
export async function* taskUpdates(
  pool: Db,
  notifications: TaskNotifications,
  taskId: string,
  seen: { timestamp?: string; artifacts: number },
  signal?: AbortSignal,
): AsyncGenerator<AgentExecutionEvent> {
  let { timestamp } = seen;
  let artifacts = seen.artifacts;
  for (;;) {
    // Armed before reading, so that a change committed between the read and the wait is not missed.
    const woken = notifications.next(taskId, POLL_MS, signal);
    const snapshot = await loadTaskProgress(pool, taskId);
    if (!snapshot) return;
    const { task, progress } = snapshot;
    for (const artifact of task.artifacts.slice(artifacts)) {
      yield AgentEvent.artifactUpdate({
        taskId,
        contextId: task.contextId,
        artifact,
        append: false,
        lastChunk: true,
        metadata: {},
      });
    }
    artifacts = Math.max(artifacts, task.artifacts.length);
    if (task.status && task.status.timestamp !== timestamp) {
      timestamp = task.status.timestamp;
      yield AgentEvent.statusUpdate({ taskId, contextId: task.contextId, status: task.status, metadata: { progress } });
    }
    if (isTerminalState(task.status?.state) || signal?.aborted) return;
    await woken;
  }
}

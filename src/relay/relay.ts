/**
 * The relay: reads the event log in ingest order after its durable cursor and hands each batch to a dispatcher.
 * NOTIFY on `new_event` is only a wake-up (it is lost while disconnected and carries no order); the cursor in
 * `relay_cursors` is the truth, and it moves only after the dispatcher accepted the batch — delivery is at least once,
 * in order, with nothing skipped. One relay per cursor name is active at a time (advisory lock); others stand by.
 */
import pg from 'pg';
import type * as s from 'zapatos/schema';
import type { Logger } from '../logger.js';
import { EVENT_COLUMNS, type EventRecord } from '../indexer/decode.js';
import { sleep, AbortedError } from '../indexer/rpc.js';
import { acquireSingletonLock, LockLostError } from '../db/singleton-lock.js';
import type { Row } from '../db/rows.js';

/** Another relay moved this cursor past the position this one was about to write: two relays ran on one cursor. */
export class CursorMovedError extends Error {
  constructor(name: string, position: string) {
    super(`relay cursor ${name} is already at or past ${position}: another relay moved it; stopping`);
    this.name = 'CursorMovedError';
  }
}

export interface StoredEvent extends EventRecord {
  ingest_seq: string;
  incarnation: number;
  block_time: string;
}

export type RelayItem =
  | { kind: 'event'; seq: string; event: StoredEvent }
  | {
      kind: 'retraction';
      seq: string;
      eventSeq: string;
      eventId: string;
      chainId: number;
      blockNumber: number;
      blockHash: string;
      /** Fields of the retracted event, so consumers can route the retraction like the event. */
      registry: string;
      eventType: string;
      agentId: string | null;
      requestHash: string | null;
    };

export interface Dispatcher {
  /** Must throw unless every item of the batch was durably accepted downstream. */
  dispatch(batch: readonly RelayItem[]): Promise<void>;
}

export interface RelayOptions {
  pool: pg.Pool;
  /** Connection string for the dedicated LISTEN connection (a pooled one would lose its LISTEN). */
  databaseUrl: string;
  dispatcher: Dispatcher;
  logger: Logger;
  /** Cursor name; one per consumer. */
  name?: string;
  batchSize?: number;
  /** Safety-net poll when no notification arrives (a lost NOTIFY costs at most this delay). */
  idlePollMs?: number;
}

// Exact columns: numeric values stay strings, never JSON numbers. ORDER BY names the table column, not the text alias.
const EVENT_SELECT = `SELECT ingest_seq::text, incarnation, to_char(block_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS block_time,
  ${EVENT_COLUMNS.map((c) => (c === 'chain_id' || c === 'block_number' || c === 'timestamp' ? `"${c}"::float8 AS "${c}"` : `"${c}"`)).join(', ')}
  FROM events e WHERE e.ingest_seq > $1 ORDER BY e.ingest_seq LIMIT $2`;
const RETRACTION_SELECT = `SELECT r.ingest_seq::text AS ingest_seq, r.event_seq::text AS event_seq, r.event_id, r.chain_id::float8 AS chain_id,
    r.block_number::float8 AS block_number, r.block_hash, e.registry, e.event_type, e.agent_id::text AS agent_id, e.request_hash
  FROM event_retractions r JOIN events e ON e.ingest_seq = r.event_seq
  WHERE r.ingest_seq > $1 ORDER BY r.ingest_seq LIMIT $2`;

/** A row of EVENT_SELECT: every field of StoredEvent is a column of events. */
type StoredEventRow = Row<s.events.Selectable, keyof StoredEvent, StoredEvent>;
/** A row of RETRACTION_SELECT: the retraction with the routing fields of its event. */
type RetractionRow = Row<
  s.event_retractions.Selectable,
  'ingest_seq' | 'event_seq' | 'event_id' | 'chain_id' | 'block_number' | 'block_hash',
  { ingest_seq: string; event_seq: string; chain_id: number; block_number: number }
> &
  Row<s.events.Selectable, 'registry' | 'event_type' | 'agent_id' | 'request_hash', { agent_id: string | null }>;

interface Listener {
  client: pg.Client;
  alive: boolean;
}

export class Relay {
  readonly name: string;
  private readonly pool: pg.Pool;
  private readonly databaseUrl: string;
  private readonly dispatcher: Dispatcher;
  private readonly log: Logger;
  private readonly batchSize: number;
  private readonly idlePollMs: number;
  private wake: (() => void) | undefined;
  private pendingWake = false;
  /** Items dispatched since start (metrics). */
  dispatched = 0;

  constructor(options: RelayOptions) {
    this.name = options.name ?? 'triggers';
    this.pool = options.pool;
    this.databaseUrl = options.databaseUrl;
    this.dispatcher = options.dispatcher;
    this.log = options.logger.child({ component: 'relay', cursor: options.name ?? 'triggers' });
    this.batchSize = options.batchSize ?? 500;
    this.idlePollMs = options.idlePollMs ?? 5_000;
  }

  /** The cursor's position, created at 0 on first use (one statement: it is read at every wake-up). */
  async cursor(): Promise<string> {
    const { rows } = await this.pool.query<Pick<s.relay_cursors.Selectable, 'position'>>(
      `WITH created AS (INSERT INTO relay_cursors (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING position)
       SELECT position FROM created UNION ALL SELECT position FROM relay_cursors WHERE name = $1`,
      [this.name],
    );
    return rows[0]!.position;
  }

  /**
   * The next batch after `after`, events and retractions merged in ingest order; `complete` when both reads came back
   * short, so nothing more was committed when they ran (anything committed since sends a NOTIFY, which wakes us again).
   * Both reads share one snapshot (a REPEATABLE READ transaction): with two snapshots, a transaction committing between
   * them could show its retraction but not its earlier event, and the cursor would move past that event for good.
   */
  async readBatch(after: string): Promise<{ items: RelayItem[]; complete: boolean }> {
    const client = await this.pool.connect();
    let events: pg.QueryResult<StoredEventRow>;
    let retractions: pg.QueryResult<RetractionRow>;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      events = await client.query<StoredEventRow>(EVENT_SELECT, [after, this.batchSize]);
      retractions = await client.query<RetractionRow>(RETRACTION_SELECT, [after, this.batchSize]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(err instanceof Error ? err : true);
      throw err;
    }
    client.release();
    const items: RelayItem[] = [
      ...events.rows.map((row): RelayItem => ({ kind: 'event', seq: row.ingest_seq, event: row })),
      ...retractions.rows.map((row): RelayItem => ({
        kind: 'retraction',
        seq: row.ingest_seq,
        eventSeq: row.event_seq,
        eventId: row.event_id,
        chainId: row.chain_id,
        blockNumber: row.block_number,
        blockHash: row.block_hash,
        registry: row.registry,
        eventType: row.event_type,
        agentId: row.agent_id,
        requestHash: row.request_hash,
      })),
    ];
    items.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
    return {
      items: items.slice(0, this.batchSize),
      complete: events.rows.length < this.batchSize && retractions.rows.length < this.batchSize,
    };
  }

  /** Dispatches everything after the cursor; returns how many items went out. Throws if the dispatcher does. */
  async catchUp(signal?: AbortSignal): Promise<number> {
    let position = await this.cursor();
    let total = 0;
    for (;;) {
      if (signal?.aborted) throw new AbortedError();
      const { items: batch, complete } = await this.readBatch(position);
      if (batch.length === 0) return total;
      await this.dispatcher.dispatch(batch);
      // A relay that lost its lock mid-batch leaves the cursor to the one that holds it now.
      if (signal?.aborted) throw new AbortedError();
      const last = batch[batch.length - 1]!.seq;
      await this.advanceCursor(last);
      position = last;
      total += batch.length;
      this.dispatched += batch.length;
      if (complete) return total;
    }
  }

  /**
   * Moves the cursor forward to `position`. The cursor never moves backwards: a write that would is refused in SQL,
   * and it means another relay moved the cursor past ours, so this one stops (CursorMovedError).
   */
  async advanceCursor(position: string): Promise<void> {
    const { rowCount } = await this.pool.query(
      'UPDATE relay_cursors SET position = $2 WHERE name = $1 AND position < $2',
      [this.name, position],
    );
    if (rowCount === 0) throw new CursorMovedError(this.name, position);
  }

  /**
   * Runs until the signal aborts. Throws when the work cannot go on here: the lock was lost (another relay may hold it
   * now) or the cursor was moved by someone else.
   */
  async run(signal: AbortSignal): Promise<void> {
    const lock = await acquireSingletonLock(this.pool, {
      key: `relay:${this.name}`,
      logger: this.log,
      signal,
      standbyMs: this.idlePollMs,
    });
    if (!lock) return;
    const work = AbortSignal.any([signal, lock.lost]);
    let listener: Listener | undefined;
    try {
      this.log.info({ position: await this.cursor() }, 'relay started');
      let failures = 0;
      while (!work.aborted) {
        if (!listener)
          listener = await this.listen(work).catch((err: unknown) => {
            if (!(err instanceof AbortedError))
              this.log.warn({ err }, 'LISTEN connection failed; polling until it is back');
            return undefined;
          });
        try {
          this.pendingWake = false;
          const sent = await this.catchUp(work);
          if (sent > 0) this.log.debug({ sent }, 'dispatched');
          failures = 0;
        } catch (err) {
          if (err instanceof CursorMovedError) throw err;
          if (err instanceof AbortedError || work.aborted) break;
          failures++;
          const delay = Math.min(250 * 2 ** (failures - 1), 30_000);
          this.log.error({ err, retryInMs: delay }, 'dispatch failed; the cursor stays, retrying');
          await sleep(delay, work).catch(() => undefined);
          continue;
        }
        if (listener && !listener.alive) {
          await listener.client.end().catch(() => undefined);
          listener = undefined;
        }
        // Without a live LISTEN connection, poll faster until it is back.
        await this.waitForWake(work, listener ? this.idlePollMs : Math.min(this.idlePollMs, 1_000));
      }
      if (lock.lost.aborted && !signal.aborted) throw lock.error();
    } catch (err) {
      if (lock.lost.aborted && !signal.aborted && !(err instanceof LockLostError)) throw lock.error();
      throw err;
    } finally {
      await listener?.client.end().catch(() => undefined);
      await lock.release();
      this.log.info('relay stopped');
    }
  }

  private async listen(signal: AbortSignal): Promise<Listener> {
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: `erc8004-relay-${this.name}`,
    });
    const listener: Listener = { client, alive: true };
    const lost = (err?: Error) => {
      if (signal.aborted || !listener.alive) return;
      listener.alive = false;
      this.log.warn({ err }, 'LISTEN connection lost; reconnecting');
      this.notify();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', () => this.notify());
    await client.connect();
    await client.query('LISTEN new_event');
    // Anything committed before LISTEN took effect is picked up by the catch-up that follows.
    this.notify();
    return listener;
  }

  private notify() {
    this.pendingWake = true;
    this.wake?.();
  }

  private waitForWake(signal: AbortSignal, timeoutMs: number): Promise<void> {
    if (this.pendingWake || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.wake = done;
    });
  }
}

/** A dispatcher that keeps what it received: for tests and for running the relay without triggers. */
export class RecordingDispatcher implements Dispatcher {
  readonly received: RelayItem[] = [];
  async dispatch(batch: readonly RelayItem[]): Promise<void> {
    this.received.push(...batch);
  }
}

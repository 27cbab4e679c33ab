import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CursorMovedError,
  Relay,
  RecordingDispatcher,
  type Dispatcher,
  type RelayItem,
} from '../../src/relay/relay.js';
import { LockLostError } from '../../src/db/singleton-lock.js';
import { insertEvents, retractAbove } from '../../src/indexer/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { until } from '../helpers/wait.js';
import { appendEvents, feedbackRecord } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

let block = 1_000;
/** `count` feedback events in one new block each call. */
function records(count: number, chainId = 31337) {
  block++;
  return Array.from({ length: count }, (_, i) =>
    feedbackRecord({ chain_id: chainId, block_number: block, log_index: i, value: String(block * 100 + i) }),
  );
}

const seqs = (items: readonly RelayItem[]) => items.map((i) => BigInt(i.seq));
const values = (items: readonly RelayItem[]) => items.flatMap((i) => (i.kind === 'event' ? [i.event.value] : []));

function running(relay: Relay) {
  const controller = new AbortController();
  const done = relay.run(controller.signal);
  return {
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

describe('relay', () => {
  it('dispatches events and retractions in ingest order after its cursor, with exact values', async () => {
    const dispatcher = new RecordingDispatcher();
    const relay = new Relay({
      pool: db.pool,
      databaseUrl: db.url,
      dispatcher,
      logger: testLogger,
      name: 'order',
      batchSize: 7,
    });
    await appendEvents(db.pool, records(10));
    await appendEvents(db.pool, [
      feedbackRecord({ block_number: ++block, value: '-170141183460469231731687303715884105728', value_decimals: 18 }),
    ]);
    await retractAbove(db.pool, 31337, { number: block - 1, hash: `0x${'00'.repeat(32)}` });
    const sent = await relay.catchUp();
    const got = dispatcher.received;
    expect(sent).toBe(12);
    expect(seqs(got)).toEqual([...seqs(got)].sort((a, b) => (a < b ? -1 : 1)));
    expect(got.slice(0, 11).every((i) => i.kind === 'event')).toBe(true);
    const last = got[10]!;
    expect(last.kind === 'event' && last.event).toMatchObject({
      value: '-170141183460469231731687303715884105728',
      value_decimals: 18,
      agent_id: '0',
    });
    expect(got[11]).toMatchObject({ kind: 'retraction', eventSeq: last.seq, chainId: 31337, blockNumber: block });
    // The cursor moved: nothing is sent twice.
    expect(await relay.catchUp()).toBe(0);
  });

  it('wakes up on NOTIFY and catches up what it missed while down, once and in order', async () => {
    const dispatcher = new RecordingDispatcher();
    // A long idle poll: only a notification can explain a prompt dispatch.
    const make = () =>
      new Relay({
        pool: db.pool,
        databaseUrl: db.url,
        dispatcher,
        logger: testLogger,
        name: 'wake',
        idlePollMs: 60_000,
      });
    const first = running(make());
    stops.push(first.stop);
    await until(async () => (await db.pool.query(`SELECT 1 FROM relay_cursors WHERE name = 'wake'`)).rowCount === 1);
    await until(() => dispatcher.received.length > 0); // history from the first test
    const start = dispatcher.received.length;

    const live = records(3);
    await appendEvents(db.pool, live);
    await until(() => dispatcher.received.length === start + 3);

    await first.stop();
    stops.pop();
    const whileDown = [records(4), records(2)];
    for (const batch of whileDown) await appendEvents(db.pool, batch);
    const second = running(make());
    stops.push(second.stop);
    await until(() => dispatcher.received.length === start + 9);
    expect(values(dispatcher.received.slice(start))).toEqual([...live, ...whileDown.flat()].map((r) => r.value));
    // One more event arrives after all of them: nothing was dispatched twice before it.
    const marker = records(1);
    await appendEvents(db.pool, marker);
    await until(() => values(dispatcher.received).includes(marker[0]!.value));
    expect(values(dispatcher.received.slice(start))).toEqual(
      [...live, ...whileDown.flat(), ...marker].map((r) => r.value),
    );
  });

  it('keeps its cursor when the dispatcher fails, and delivers the batch once it succeeds', async () => {
    let failuresLeft = 2;
    const accepted: RelayItem[] = [];
    const flaky: Dispatcher = {
      async dispatch(batch) {
        if (failuresLeft-- > 0) throw new Error('downstream unavailable');
        accepted.push(...batch);
      },
    };
    const relay = new Relay({
      pool: db.pool,
      databaseUrl: db.url,
      dispatcher: flaky,
      logger: testLogger,
      name: 'flaky',
      idlePollMs: 60_000,
    });
    const positionBefore = await relay.cursor();
    await expect(relay.catchUp()).rejects.toThrow('downstream unavailable');
    expect(await relay.cursor()).toBe(positionBefore);
    const r = running(relay);
    stops.push(r.stop);
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM event_retractions) AS n`,
    );
    await until(() => accepted.length === Number(rows[0].n));
    expect(new Set(accepted.map((i) => i.seq)).size).toBe(accepted.length);
  });

  it('reconnects its LISTEN connection after the server drops it', async () => {
    const dispatcher = new RecordingDispatcher();
    const relay = new Relay({
      pool: db.pool,
      databaseUrl: db.url,
      dispatcher,
      logger: testLogger,
      name: 'reconnect',
      idlePollMs: 60_000,
    });
    const r = running(relay);
    stops.push(r.stop);
    await until(() => dispatcher.received.length > 0);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'erc8004-relay-reconnect'`,
      );
      await until(
        async () =>
          (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'erc8004-relay-reconnect'`))
            .rowCount === 1,
      );
    } finally {
      await admin.end();
    }
    const start = dispatcher.received.length;
    await appendEvents(db.pool, records(2));
    await until(() => dispatcher.received.length === start + 2, 5_000);
  });

  it('reads events and retractions in one snapshot: a commit landing between the two reads is not skipped', async () => {
    await appendEvents(db.pool, records(2));
    const orphan = records(1);
    await appendEvents(db.pool, orphan);
    const appName = 'relay-snapshot-test';
    const relayPool = new pg.Pool({ connectionString: db.url, application_name: appName, max: 4 });
    const dispatcher = new RecordingDispatcher();
    const relay = new Relay({ pool: relayPool, databaseUrl: db.url, dispatcher, logger: testLogger, name: 'snapshot' });
    const writer = await db.pool.connect();
    try {
      await relay.catchUp();
      // The writer holds event_retractions, so a read of retractions waits for it while the read of events goes ahead.
      await writer.query('BEGIN');
      await writer.query('LOCK TABLE event_retractions IN ACCESS EXCLUSIVE MODE');
      const reading = relay.catchUp();
      // Proceed once the relay waits on the lock and has read the events (earlier in its transaction, in the same
      // statement, or on another connection).
      await until(async () => {
        const { rows } = await db.pool.query(
          `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock')::int AS waiting,
                  count(*) FILTER (WHERE wait_event_type = 'Lock' AND (query LIKE '%FROM events e%' OR xact_start < query_start)
                                   OR state = 'idle' AND query LIKE 'SELECT ingest_seq::text, incarnation%')::int AS events_read
           FROM pg_stat_activity WHERE application_name = $1`,
          [appName],
        );
        return rows[0].waiting > 0 && rows[0].events_read > 0;
      });
      // One transaction commits an event and, after it in ingest order, a retraction.
      const late = records(1);
      await insertEvents(writer, late);
      await writer.query(
        `INSERT INTO event_retractions (event_seq, event_id, chain_id, block_number, block_hash, reason)
         SELECT ingest_seq, id, chain_id, block_number, block_hash, 'reorg' FROM events WHERE id = $1`,
        [orphan[0]!.id],
      );
      await writer.query('COMMIT');
      await reading;
      await relay.catchUp();
      const events = dispatcher.received.flatMap((i) => (i.kind === 'event' ? [i.event.id] : []));
      expect(events).toContain(late[0]!.id);
      expect(
        dispatcher.received.filter((i) => i.kind === 'retraction').map((i) => i.kind === 'retraction' && i.eventId),
      ).toContain(orphan[0]!.id);
      expect(seqs(dispatcher.received)).toEqual([...seqs(dispatcher.received)].sort((a, b) => (a < b ? -1 : 1)));
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      writer.release();
      await relayPool.end();
    }
  });

  it('lets only one relay per cursor dispatch at a time', async () => {
    const a = new RecordingDispatcher();
    const b = new RecordingDispatcher();
    const ra = running(
      new Relay({
        pool: db.pool,
        databaseUrl: db.url,
        dispatcher: a,
        logger: testLogger,
        name: 'single',
        idlePollMs: 100,
      }),
    );
    stops.push(ra.stop);
    await until(() => a.received.length > 0);
    const logOfB: string[] = [];
    const loggerOfB = pino({ level: 'info' }, { write: (line: string) => void logOfB.push(line) });
    const rb = running(
      new Relay({
        pool: db.pool,
        databaseUrl: db.url,
        dispatcher: b,
        logger: loggerOfB,
        name: 'single',
        idlePollMs: 100,
      }),
    );
    stops.push(rb.stop);
    // B is up and has found the lock taken.
    await until(() => logOfB.some((line) => line.includes('standing by')));
    const whileA = records(3);
    await appendEvents(db.pool, whileA);
    await until(() => values(a.received).includes(whileA[2]!.value));
    // A stops; the standby takes over from A's cursor: it dispatches what comes next, and nothing A had dispatched.
    await ra.stop();
    stops.splice(stops.indexOf(ra.stop), 1);
    const afterA = records(2);
    await appendEvents(db.pool, afterA);
    await until(() => values(b.received).includes(afterA[1]!.value));
    expect(values(b.received)).toEqual(afterA.map((r) => r.value));
  });

  it('stops when its lock is lost; the standby takes over and each item is dispatched once', async () => {
    const a = new RecordingDispatcher();
    const b = new RecordingDispatcher();
    const make = (dispatcher: Dispatcher) =>
      new Relay({
        pool: db.pool,
        databaseUrl: db.url,
        dispatcher,
        logger: testLogger,
        name: 'lost-lock',
        idlePollMs: 100,
      });
    const controllerA = new AbortController();
    let failedA: unknown;
    const runA = make(a)
      .run(controllerA.signal)
      .catch((err: unknown) => (failedA = err));
    stops.push(async () => {
      controllerA.abort();
      await runA;
    });
    await until(() => a.received.length > 0);
    const rb = running(make(b));
    stops.push(rb.stop);

    // The session that holds A's advisory lock is terminated (a restart of Postgres, a network cut, an operator).
    const { rows } = await db.pool.query(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('relay:lost-lock', 0)`,
    );
    expect(rows).toEqual([{ ok: true }]);
    await until(() => failedA !== undefined);
    expect(failedA).toBeInstanceOf(LockLostError);

    // B holds the lock now and dispatches what comes next; A dispatched nothing more.
    const before = a.received.length;
    const next = records(3);
    await appendEvents(db.pool, next);
    await until(() => values(b.received).includes(next[2]!.value));
    expect(a.received.length).toBe(before);
    const all = [...a.received, ...b.received].map((i) => i.seq);
    expect(new Set(all).size).toBe(all.length);
    const { rows: log } = await db.pool.query(
      `SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM event_retractions) AS n`,
    );
    expect(all.length).toBe(Number(log[0].n));
  });

  it('never moves its cursor backwards: a write below the stored position is refused and the relay stops', async () => {
    // Another relay advances the cursor while this one dispatches a batch it read before.
    const ahead = '999999999';
    const racing: Dispatcher = {
      async dispatch() {
        await db.pool.query(`UPDATE relay_cursors SET position = $1 WHERE name = 'race'`, [ahead]);
      },
    };
    const relay = new Relay({
      pool: db.pool,
      databaseUrl: db.url,
      dispatcher: racing,
      logger: testLogger,
      name: 'race',
    });
    await relay.cursor();
    await expect(relay.catchUp()).rejects.toBeInstanceOf(CursorMovedError);
    expect(await relay.cursor()).toBe(ahead);
    await expect(relay.advanceCursor('1')).rejects.toBeInstanceOf(CursorMovedError);
    expect(await relay.cursor()).toBe(ahead);
  });

  it(
    'run alone (start:relay), a relay that loses its lock exits with code 1 and says why',
    { timeout: 60_000 },
    async () => {
      const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/relay.ts'], {
        cwd: root,
        env: {
          ...process.env,
          DATABASE_URL: db.url,
          TEMPORAL_ADDRESS: inject('temporalAddress'),
          MIGRATE_ON_START: 'false',
          LOG_FORMAT: 'json',
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        const holder = async () =>
          (
            await db.pool.query(
              `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('relay:triggers', 0)`,
            )
          ).rows[0]?.pid as number | undefined;
        await until(async () => (await holder()) !== undefined, 30_000);
        await db.pool.query('SELECT pg_terminate_backend($1)', [await holder()]);
        expect(await exited).toBe(1);
        expect(output).toContain('relay failed: lost the lock relay:triggers');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    },
  );
});

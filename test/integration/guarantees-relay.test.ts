/**
 * README guarantees of the relay that only a race or an outage shows: every ingest_seq dispatched exactly once while
 * writers commit concurrently, and a cursor that stays put while Temporal cannot be reached.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.js';
import { insertEvents, withIngestTransaction } from '../../src/indexer/store.js';
import { Relay, RecordingDispatcher, type Dispatcher } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { TriggerService } from '../../src/triggers/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { eventually } from '../helpers/wait.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

function running(relay: Relay) {
  const controller = new AbortController();
  const done = relay.run(controller.signal);
  const stop = async () => {
    controller.abort();
    await done;
  };
  stops.push(stop);
  return stop;
}

const cursorOf = async (name: string) =>
  (await db.pool.query<{ position: string }>('SELECT position::text FROM relay_cursors WHERE name = $1', [name]))
    .rows[0]?.position ?? '0';

/**
 * A TCP pass-through to the test Temporal server that can be taken down (connections cut, new ones closed at once)
 * and brought back on the same port: Temporal as the relay sees it during an outage.
 */
async function startTemporalProxy(target: string) {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const proxy = { up: true, refused: 0 };
  const server = net.createServer((inbound) => {
    sockets.add(inbound);
    inbound.on('close', () => sockets.delete(inbound));
    inbound.on('error', () => undefined);
    if (!proxy.up) {
      proxy.refused++;
      inbound.destroy();
      return;
    }
    const outbound = net.connect(port, host);
    sockets.add(outbound);
    outbound.on('close', () => sockets.delete(outbound));
    outbound.on('error', () => inbound.destroy());
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get refused() {
      return proxy.refused;
    },
    down() {
      proxy.up = false;
      for (const s of sockets) s.destroy();
    },
    up() {
      proxy.up = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('relay guarantees', () => {
  it(
    'dispatches every ingest_seq exactly once while several writers commit concurrently',
    { timeout: 60_000 },
    async () => {
      const dispatcher = new RecordingDispatcher();
      // A short idle poll and small batches: the relay reads often, in between the writers' commits.
      const relay = new Relay({
        pool: db.pool,
        databaseUrl: db.url,
        dispatcher,
        logger: testLogger,
        name: 'concurrent',
        batchSize: 3,
        idlePollMs: 5,
      });
      running(relay);
      const writers = createPool(db.url, testLogger, { max: 6, applicationName: 'guarantees-writers' });
      stops.push(() => writers.end());
      let block = 10_000;
      // Each transaction draws its numbers, then holds them a random while before committing: without the writers'
      // lock, a later number commits first, the relay moves past it, and the earlier one is never dispatched.
      const writer = async () => {
        for (let t = 0; t < 20; t++) {
          const b = ++block;
          const records = Array.from({ length: 1 + (t % 3) }, (_, i) =>
            feedbackRecord({ block_number: b, log_index: i, value: String(b * 10 + i) }),
          );
          await withIngestTransaction(writers, async (client) => {
            await insertEvents(client, records);
            await client.query('SELECT pg_sleep($1)', [Math.random() * 0.015]);
          });
        }
      };
      await Promise.all(Array.from({ length: 5 }, writer));
      const { rows } = await db.pool.query<{ seq: string }>(
        'SELECT ingest_seq::text AS seq FROM events ORDER BY ingest_seq',
      );
      expect(rows.length).toBe(5 * 39); // per writer: 7 × 1 + 7 × 2 + 6 × 3 events
      const last = rows.at(-1)!.seq;
      // Positive first: the relay has read up to the last number written.
      await eventually(
        () => cursorOf('concurrent'),
        (p) => p === last,
        20_000,
      );
      const dispatched = dispatcher.received.map((i) => i.seq);
      expect(new Set(dispatched).size).toBe(dispatched.length);
      expect(dispatched).toEqual(rows.map((r) => r.seq));
    },
  );

  it(
    'keeps its cursor while Temporal cannot be reached, and delivers the events once it is back',
    { timeout: 60_000 },
    async () => {
      const temporal: TestTemporal = await startTestTemporal(db, 'guarantees-relay');
      stops.push(() => temporal.close());
      const proxy = await startTemporalProxy(temporal.address);
      stops.push(() => proxy.close());
      // Two gRPC attempts per call instead of ten: a call fails in well under a second while Temporal is away.
      const connection = await Connection.connect({
        address: proxy.address,
        interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 2 }))],
      });
      stops.push(() => connection.close());
      const viaProxy = new Client({ connection });

      const userId = await insertUser(db.pool);
      const orgId = await insertOrganization(db.pool, userId);
      const service = new TriggerService({
        pool: db.pool,
        temporal: temporal.client,
        taskQueue: temporal.taskQueue,
        logger: testLogger,
      });
      // A rate condition holds state: its events go to its workflow by signal, through Temporal.
      const triggerId = await service.create({
        organizationId: orgId,
        userId,
        name: 'outage',
        chainId: 31337,
        registry: 'reputation',
        conditions: [
          { condition_type: 'agent_id_equals', operator: '=', value: '42' },
          { condition_type: 'rate_limit', operator: '>=', value: '1', config: { time_window: '7d' } },
        ],
      });
      const real = new TriggerDispatcher({
        pool: db.pool,
        temporal: viaProxy,
        taskQueue: temporal.taskQueue,
        logger: testLogger,
      });
      let failures = 0;
      // The real dispatcher, observed: the test waits for failed attempts rather than for time to pass.
      const observed: Dispatcher = {
        dispatch: (batch) =>
          real.dispatch(batch).catch((err: unknown) => {
            failures++;
            throw err;
          }),
      };
      const relay = new Relay({
        pool: db.pool,
        databaseUrl: db.url,
        dispatcher: observed,
        logger: testLogger,
        name: 'outage',
        idlePollMs: 100,
      });
      // Start from the current end of the log (the first test's events are not this test's business).
      await relay.cursor();
      const { rows: end } = await db.pool.query<{ seq: string }>(
        `SELECT coalesce(max(ingest_seq), 0)::text AS seq FROM events`,
      );
      await db.pool.query(`UPDATE relay_cursors SET position = $1 WHERE name = 'outage'`, [end[0]!.seq]);
      const before = await cursorOf('outage');

      proxy.down();
      running(relay);
      let block = 50_000;
      const records = Array.from({ length: 3 }, (_, i) =>
        feedbackRecord({ block_number: ++block, agent_id: '42', value: String(i + 1), timestamp: 1_767_225_600 + i }),
      );
      await appendEvents(db.pool, records);
      // Two failed attempts (the relay retried with its cursor in place), or a cursor that moved anyway.
      const seen = await eventually(
        async () => ({ failures, cursor: await cursorOf('outage') }),
        (v) => v.failures >= 2 || v.cursor !== before,
        20_000,
      );
      expect(seen.cursor).toBe(before);
      expect(await cursorOf('outage')).toBe(before);
      expect((await db.pool.query('SELECT 1 FROM trigger_matches WHERE trigger_id = $1', [triggerId])).rowCount).toBe(
        0,
      );

      proxy.up();
      const { rows: seqs } = await db.pool.query<{ seq: string }>(
        `SELECT ingest_seq::text AS seq FROM events WHERE ingest_seq > $1 ORDER BY ingest_seq`,
        [before],
      );
      await eventually(
        () => cursorOf('outage'),
        (p) => p === seqs.at(-1)!.seq,
        40_000,
      );
      const matched = await eventually(
        async () =>
          (
            await db.pool.query<{ seq: string }>(
              'SELECT event_seq::text AS seq FROM trigger_matches WHERE trigger_id = $1 ORDER BY event_seq',
              [triggerId],
            )
          ).rows,
        (r) => r.length >= 3,
        20_000,
      );
      expect(matched.map((r) => r.seq)).toEqual(seqs.map((r) => r.seq));
    },
  );
});

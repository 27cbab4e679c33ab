/**
 * README guarantee of the ingestion endpoint: a batch is written all or nothing, also when the database fails in the
 * middle of it (here a trigger the test installs raises on the fourth row).
 */
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { Relay, RecordingDispatcher } from '../../src/relay/relay.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';

const TOKEN = 'ingest-token-guarantees-0123456789';
let db: TestDatabase;
let api: RunningApiServer;
let connection: Connection;

beforeAll(async () => {
  db = await createTestDatabase();
  connection = await Connection.connect({ address: inject('temporalAddress') });
  api = await startApiServer(
    {
      pool: db.pool,
      temporal: new Client({ connection }),
      taskQueue: 'unused',
      logger: testLogger,
      ingestApiToken: TOKEN,
    },
    { host: '127.0.0.1', port: 0 },
  );
});
afterAll(async () => {
  await api?.stop();
  await connection?.close();
  await db?.drop();
});

const h = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
const addr = (n: number) => `0x${n.toString(16).padStart(40, '0')}`;

function feedback(block: number, logIndex: number, tag1: string) {
  return {
    registry: 'reputation',
    event_type: 'NewFeedback',
    block_number: block,
    block_hash: h(block),
    transaction_hash: h(block * 1000 + logIndex),
    log_index: logIndex,
    contract_address: addr(0x8004),
    timestamp: 1_767_225_600 + block,
    agent_id: '5',
    client_address: addr(7),
    feedback_index: String(logIndex + 1),
    value: String(90 + logIndex),
    value_decimals: 0,
    tag1,
  };
}

const post = (body: unknown) =>
  fetch(`${api.url}/api/v1/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });

const count = async (table: string) => Number((await db.pool.query(`SELECT count(*) FROM ${table}`)).rows[0].count);

describe('ingest guarantees', () => {
  it('a batch the database fails in the middle of stores nothing, and the relay sees none of it; the same batch succeeds later', async () => {
    const dispatcher = new RecordingDispatcher();
    const relay = new Relay({
      pool: db.pool,
      databaseUrl: db.url,
      dispatcher,
      logger: testLogger,
      name: 'ingest-failure',
    });
    // Something already stored and relayed: the relay's cursor has a position to keep.
    expect((await post({ chainId: 84532, events: [feedback(20, 0, 'before')] })).status).toBe(200);
    expect(await relay.catchUp()).toBe(1);
    const cursorBefore = await relay.cursor();

    await db.pool.query(`
      CREATE FUNCTION test_fail_on_marker() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.tag1 = 'explode' THEN RAISE EXCEPTION 'injected failure on row %', NEW.log_index; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_fail_on_marker BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION test_fail_on_marker();`);
    // Six rows; the fourth (in the order they are written: block, then log index) makes the database fail.
    const batch = {
      chainId: 84532,
      events: [0, 1, 2, 3, 4, 5].map((i) => feedback(21, i, i === 3 ? 'explode' : 'fine')),
    };
    const eventsBefore = await count('events');
    const failed = await post(batch);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(await failed.text()).not.toContain('injected failure');
    expect(await count('events')).toBe(eventsBefore);
    expect(await count('event_retractions')).toBe(0);
    // The relay finds nothing new (a positive answer: catchUp ran and returned), and its cursor stays.
    expect(await relay.catchUp()).toBe(0);
    expect(await relay.cursor()).toBe(cursorBefore);

    await db.pool.query('DROP TRIGGER test_fail_on_marker ON events; DROP FUNCTION test_fail_on_marker()');
    const retried = await post(batch);
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ received: 6, inserted: 6, duplicates: 0 });
    expect(await relay.catchUp()).toBe(6);
    const relayed = dispatcher.received
      .slice(1)
      .map((i) => (i.kind === 'event' ? [i.event.log_index, i.event.tag1] : null));
    expect(relayed).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, i === 3 ? 'explode' : 'fine']));
  });
});

import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { MAX_INGEST_BODY_BYTES } from '../../src/api/ingest.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';

const TOKEN = 'ingest-token-0123456789abcdef';
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

function feedback(block: number, logIndex: number, extra: Record<string, unknown> = {}) {
  return {
    registry: 'reputation',
    event_type: 'NewFeedback',
    block_number: block,
    block_hash: h(block),
    transaction_hash: h(block * 1000 + logIndex),
    log_index: logIndex,
    contract_address: addr(0x8004),
    timestamp: 1_767_225_600 + block,
    agent_id: '0',
    client_address: addr(7),
    feedback_index: '1',
    value: '-170141183460469231731687303715884105728',
    value_decimals: 18,
    tag1: 'quality',
    ...extra,
  };
}

function post(body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${api.url}/api/v1/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function eventCount() {
  return Number((await db.pool.query('SELECT count(*) FROM events')).rows[0].count);
}

describe('POST /api/v1/ingest/events', () => {
  it('writes a batch exactly, and a replay changes nothing', async () => {
    const payload = {
      chainId: 84532,
      events: [
        feedback(10, 0),
        {
          registry: 'validation',
          event_type: 'ValidationResponse',
          block_number: 10,
          block_hash: h(10),
          transaction_hash: h(99),
          log_index: 1,
          contract_address: addr(0x8005),
          timestamp: 1_767_225_610,
          agent_id: (2n ** 256n - 1n).toString(),
          validator_address: addr(9),
          request_hash: h(5),
          response: 100,
          response_uri: 'ipfs://v',
          response_hash: h(6),
          tag: 'tee',
        },
      ],
    };
    const res = await post(payload);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: 2, inserted: 2, duplicates: 0, conflicts: 0 });
    const { rows } = await db.pool.query(
      'SELECT id, value, value_decimals, agent_id, response, block_time, source, pushed_by FROM events ORDER BY log_index',
    );
    // Pushed rows say so, and name the credential by a fingerprint (never the token).
    expect(rows[0]).toMatchObject({
      id: '84532-10-0',
      value: '-170141183460469231731687303715884105728',
      value_decimals: 18,
      agent_id: '0',
      source: 'ingest',
    });
    expect(rows[0].pushed_by).toMatch(/^token:[0-9a-f]{12}$/);
    expect(rows[0].pushed_by).not.toContain(TOKEN);
    expect(rows[1]).toMatchObject({ id: '84532-10-1', agent_id: (2n ** 256n - 1n).toString(), response: 100 });
    expect(rows[0].block_time.getTime()).toBe(1_767_225_610 * 1000);

    const replay = await post(payload);
    expect(await replay.json()).toEqual({ received: 2, inserted: 0, duplicates: 2, conflicts: 0 });
    expect(await eventCount()).toBe(2);
  });

  it('refuses a missing or wrong token', async () => {
    const before = await eventCount();
    expect((await post({ chainId: 1, events: [feedback(20, 0)] }, { authorization: '' })).status).toBe(401);
    const wrong = await post({ chainId: 1, events: [feedback(20, 0)] }, { authorization: `Bearer ${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    expect(await eventCount()).toBe(before);
  });

  it('names every bad field and writes nothing of the batch', async () => {
    const before = await eventCount();
    const res = await post({
      chainId: 1,
      events: [
        feedback(30, 0),
        feedback(30, 1, { value_decimals: 19 }),
        feedback(30, 2, { value: (2n ** 127n).toString() }),
        feedback(30, 3, { agent_id: '-1' }),
        feedback(30, 4, { block_hash: '0x1234' }),
        feedback(30, 5, { event_type: 'Staked' }),
      ],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; issues: { path: string; message: string }[] };
    expect(body.error).toBe('invalid ingestion payload');
    expect(body.issues).toEqual(
      expect.arrayContaining([
        { path: 'events.1.value_decimals', message: 'must be 0..18' },
        { path: 'events.2.value', message: 'out of range for int128 value' },
        { path: 'events.3.agent_id', message: 'out of range for uint256 agent id' },
        { path: 'events.4.block_hash', message: 'must be a 0x-prefixed 32-byte hex string' },
        expect.objectContaining({ path: 'events.5.event_type' }),
      ]),
    );
    expect(await eventCount()).toBe(before);
  });

  it('answers malformed, oversized, empty and wrongly typed requests with a 4xx', async () => {
    const before = await eventCount();
    expect((await post('{"chainId": 1, "events": [')).status).toBe(400);
    expect((await post({ chainId: 1, events: [] })).status).toBe(400);
    expect((await post({ chainId: 1, events: Array.from({ length: 1_001 }, (_, i) => feedback(40, i)) })).status).toBe(
      400,
    );
    expect((await post('x'.repeat(MAX_INGEST_BODY_BYTES + 1))).status).toBe(413);
    expect((await post('{}', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await fetch(`${api.url}/api/v1/ingest/events`)).status).toBe(405);
    expect(await eventCount()).toBe(before);
  });

  it('is disabled without a configured token', async () => {
    const closed = await startApiServer(
      { pool: db.pool, temporal: new Client({ connection }), taskQueue: 'unused', logger: testLogger },
      { host: '127.0.0.1', port: 0 },
    );
    try {
      const res = await fetch(`${closed.url}/api/v1/ingest/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer anything' },
        body: '{}',
      });
      expect(res.status).toBe(404);
    } finally {
      await closed.stop();
    }
  });
});

describe('GET /metrics', () => {
  it('exposes indexer lag per chain and relay lag', async () => {
    await db.pool.query(
      `INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash, head_block_number, head_seen_at) VALUES (84532, 90, $1, 100, now())`,
      [h(90)],
    );
    await db.pool.query(`INSERT INTO relay_cursors (name, position) VALUES ('triggers', 1)`);
    const res = await fetch(`${api.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('erc8004_indexer_lag_blocks{chain_id="84532"} 10');
    expect(text).toContain('erc8004_indexer_checkpoint_block{chain_id="84532"} 90');
    expect(text).toMatch(/erc8004_relay_lag_items\{cursor="triggers"\} [1-9]/);
    const health = (await (await fetch(`${api.url}/health`)).json()) as {
      checks: { indexer: { detail: { chains: unknown[] } } };
    };
    expect(health.checks.indexer.detail.chains).toEqual([expect.objectContaining({ chainId: 84532, lagBlocks: 10 })]);
  });
});

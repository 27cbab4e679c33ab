/**
 * Provenance of events and "the chain wins": a row pushed through POST /api/v1/ingest/events for a real log's key
 * cannot pre-empt the log. When the indexer reads the log, the pushed row is retracted (superseded) and the chain's
 * content appended; the conflict is counted in /metrics, and every event says where it came from.
 */
import { Client, Connection } from '@temporalio/client';
import type { Address, TransactionReceipt } from 'viem';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { RecordingDispatcher, Relay } from '../../src/relay/relay.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { startTestChain, testIndexer, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';

const TOKEN = 'provenance-ingest-token-0123456789';
let db: TestDatabase;
let chain: TestChain;
let ingestApi: RunningApiServer;
let api: TestApi;
let connection: Connection;
let owner: Address, client: Address;

beforeAll(async () => {
  [db, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  [owner, client] = chain.registries.accounts as [Address, Address];
  connection = await Connection.connect({ address: inject('temporalAddress') });
  ingestApi = await startApiServer(
    {
      pool: db.pool,
      temporal: new Client({ connection }),
      taskQueue: 'unused',
      logger: testLogger,
      ingestApiToken: TOKEN,
    },
    { host: '127.0.0.1', port: 0 },
  );
  api = await startTestApi(db);
});
afterAll(async () => {
  await api?.close();
  await ingestApi?.stop();
  await connection?.close();
  await chain?.stop();
  await db?.drop();
});

async function push(events: Record<string, unknown>[]) {
  const res = await fetch(`${ingestApi.url}/api/v1/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ chainId: chain.config.chainId, events }),
  });
  expect(res.status).toBe(200);
  return res.json();
}

async function conflictsMetric(): Promise<number> {
  const text = await (await fetch(`${ingestApi.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`erc8004_ingest_conflicts_total{chain_id="${chain.config.chainId}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** The NewFeedback log of a giveFeedback receipt, as an ingestion row with the chain's content. */
async function feedbackRow(receipt: TransactionReceipt, agentId: string, value: string) {
  const log = receipt.logs.find((l) => l.address.toLowerCase() === chain.deployed.reputation.toLowerCase())!;
  const block = await chain.registries.publicClient.getBlock({ blockHash: receipt.blockHash });
  return {
    registry: 'reputation',
    event_type: 'NewFeedback',
    block_number: Number(receipt.blockNumber),
    block_hash: receipt.blockHash,
    transaction_hash: receipt.transactionHash,
    log_index: log.logIndex,
    contract_address: chain.deployed.reputation.toLowerCase(),
    timestamp: Number(block.timestamp),
    agent_id: agentId,
    client_address: client.toLowerCase(),
    feedback_index: '1',
    value,
    value_decimals: 0,
    tag1: 'quality',
    tag2: '',
    endpoint: '',
    file_uri: '',
    file_hash: `0x${'00'.repeat(32)}`,
  };
}

async function rowsAt(blockHash: string, logIndex: number) {
  const { rows } = await db.pool.query(
    `SELECT e.value::text AS value, e.source, e.pushed_by, r.reason AS retracted
     FROM events e LEFT JOIN event_retractions r ON r.event_seq = e.ingest_seq
     WHERE e.block_hash = $1 AND e.log_index = $2 ORDER BY e.ingest_seq`,
    [blockHash, logIndex],
  );
  return rows;
}

it('a forged push for a real log is superseded by the chain: canonical content is the log, the conflict counted, provenance shown', async () => {
  const r = chain.registries;
  await r.register(owner, 'ipfs://agent-zero');
  const receipt = await r.giveFeedback(client, { agentId: 0n, value: 95n, valueDecimals: 0, tag1: 'quality' });
  const real = await feedbackRow(receipt, '0', '95');

  // Someone with the ingestion token pushes the same log key with a score of 1, before the indexer has read it.
  expect(await push([{ ...real, value: '1' }])).toMatchObject({ inserted: 1 });
  expect(await rowsAt(real.block_hash, real.log_index)).toEqual([
    { value: '1', source: 'ingest', pushed_by: expect.stringMatching(/^token:[0-9a-f]{12}$/), retracted: null },
  ]);
  const before = await conflictsMetric();

  await testIndexer(chain.config, db.pool).tick();

  // The pushed row is retracted as superseded, and the chain's row is the canonical one.
  expect(await rowsAt(real.block_hash, real.log_index)).toEqual([
    { value: '1', source: 'ingest', pushed_by: expect.stringMatching(/^token:/), retracted: 'superseded' },
    { value: '95', source: 'indexer', pushed_by: null, retracted: null },
  ]);
  const { rows: canonical } = await db.pool.query(
    `SELECT value::text AS value FROM canonical_events WHERE event_type = 'NewFeedback'`,
  );
  expect(canonical).toEqual([{ value: '95' }]);
  expect(await conflictsMetric()).toBe(before + 1);

  // Consumers of the log (the relay, hence the triggers) see the pushed row, its retraction, then the chain's row.
  const recording = new RecordingDispatcher();
  await new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    dispatcher: recording,
    logger: testLogger,
    name: 'provenance',
  }).catchUp();
  const feedbackItems = recording.received.flatMap((i) =>
    i.kind === 'retraction'
      ? [`retracted ${i.eventSeq}`]
      : i.event.event_type === 'NewFeedback'
        ? [`${i.event.value} ${i.seq}`]
        : [],
  );
  const forgedSeq = feedbackItems[0]!.split(' ')[1];
  expect(feedbackItems).toEqual([`1 ${forgedSeq}`, `retracted ${forgedSeq}`, expect.stringMatching(/^95 /)]);

  // The events API says where each event came from.
  const anon = await api.caller({}, '10.7.0.1');
  const session = await anon.auth.register({
    username: `prov_${Date.now() % 100000}`,
    email: `prov_${Date.now()}@example.test`,
    password: 'correct horse battery',
  });
  const me = await api.caller({ authorization: `Bearer ${session.accessToken}` }, '10.7.0.2');
  const events = await me.events.search({ chainId: chain.config.chainId, eventType: 'NewFeedback' });
  expect(events.items).toEqual([
    expect.objectContaining({ fields: expect.objectContaining({ value: '95' }), source: 'indexer', pushedBy: null }),
  ]);
});

it('a forged push with a made-up block hash at a real log position is superseded too; an identical push is not a conflict', async () => {
  const r = chain.registries;
  const receipt = await r.giveFeedback(client, { agentId: 0n, value: 80n, valueDecimals: 0, tag1: 'quality' });
  const real = { ...(await feedbackRow(receipt, '0', '80')), feedback_index: '2' };
  const fakeHash = `0x${'ab'.repeat(32)}`;
  expect(await push([{ ...real, block_hash: fakeHash, value: '2' }])).toMatchObject({ inserted: 1 });
  const before = await conflictsMetric();

  await testIndexer(chain.config, db.pool).tick();

  expect(await rowsAt(fakeHash, real.log_index)).toEqual([
    { value: '2', source: 'ingest', pushed_by: expect.any(String), retracted: 'superseded' },
  ]);
  expect(await rowsAt(real.block_hash, real.log_index)).toEqual([
    { value: '80', source: 'indexer', pushed_by: null, retracted: null },
  ]);
  expect(await conflictsMetric()).toBe(before + 1);

  // After the chain has spoken, the same log pushed again is a duplicate, and a different content is refused.
  expect(await push([real])).toMatchObject({ inserted: 0, duplicates: 1, conflicts: 0 });
  expect(await push([{ ...real, value: '3' }])).toMatchObject({ inserted: 0, conflicts: 1 });
  expect(await rowsAt(real.block_hash, real.log_index)).toEqual([
    { value: '80', source: 'indexer', pushed_by: null, retracted: null },
  ]);
  expect(await conflictsMetric()).toBe(before + 1);
});

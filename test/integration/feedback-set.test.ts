/** The feedback of an agent as of a block, over a scripted event log in a real Postgres. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedbackAsOf } from '../../src/queries/feedback-set.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { address, blockTime, REGISTRIES, ScriptedChain } from '../helpers/scripted-events.js';

const CHAIN = 31337;
const AGENT = '7';
const [A, B, C] = [address(0xa), address(0xb), address(0xc)];
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  const chain = new ScriptedChain(db.pool, CHAIN);
  await chain.feedback(10, { agentId: AGENT, client: A, index: 1, value: '95', decimals: 0, tag1: 'quality' });
  await chain.feedback(11, {
    agentId: AGENT,
    client: B,
    index: 1,
    value: '-1234',
    decimals: 2,
    tag1: 'uptime',
    tag2: 'x',
  });
  await chain.feedback(11, { agentId: '8', client: A, index: 1, value: '1', decimals: 0 });
  // A reorg removed A's second feedback at block 12; it came back at block 13 with another value.
  const orphan = await chain.feedback(12, { agentId: AGENT, client: A, index: 2, value: '1', decimals: 18 });
  await chain.retract(orphan);
  await chain.feedback(13, { agentId: AGENT, client: A, index: 2, value: '5', decimals: 0, tag1: 'quality' });
  await chain.revoke(14, { agentId: AGENT, client: A, index: 1 });
  await chain.respond(15, { agentId: AGENT, client: B, index: 1, responder: address(0x99) });
  await chain.respond(16, { agentId: AGENT, client: B, index: 1, responder: address(0x99) });
  // v0.4: no feedback index in the event; the second of client C is its index 2, which C revokes.
  await chain.legacyFeedback(17, { agentId: AGENT, client: C, score: 80 });
  await chain.legacyFeedback(18, { agentId: AGENT, client: C, score: 60 });
  await chain.revoke(19, { agentId: AGENT, client: C, index: 2 }, 'legacyReputation');
  // A revocation retracted by a reorg never counts.
  await chain.retract(await chain.revoke(19, { agentId: AGENT, client: B, index: 1 }));
  await chain.checkpoint(20);
});

afterAll(async () => {
  await db?.drop();
});

const asOf = (asOfBlock: number) => ({ chainId: CHAIN, asOfBlock });

describe('feedbackAsOf', () => {
  it('gives one row per canonical NewFeedback with revocation and responses as of the block', async () => {
    const rows = await feedbackAsOf(db.pool, asOf(20), AGENT);
    expect(rows.map((r) => [r.client, r.feedbackIndex, r.value, r.valueDecimals, r.revoked, r.responses])).toEqual([
      [A, '1', '95', 0, true, 0],
      [B, '1', '-1234', 2, false, 2],
      [A, '2', '5', 0, false, 0],
      [C, '1', '80', 0, false, 0],
      [C, '2', '60', 0, true, 0],
    ]);
    expect(rows.map((r) => r.wad)).toEqual([
      95n * 10n ** 18n,
      -1234n * 10n ** 16n,
      5n * 10n ** 18n,
      80n * 10n ** 18n,
      60n * 10n ** 18n,
    ]);
    expect(rows[0]).toMatchObject({
      registry: REGISTRIES.reputation,
      abiVersion: 'v1.0',
      tag1: 'quality',
      tag2: '',
      blockNumber: 10,
      blockTime: new Date(blockTime(10) * 1000).toISOString(),
      revokedAtBlock: 14,
      fileUri: 'ipfs://feedback-10',
    });
    expect(rows[3]).toMatchObject({ registry: REGISTRIES.legacyReputation, abiVersion: 'v0.4' });
  });

  it('as of an older block, later revocations and responses do not count', async () => {
    const rows = await feedbackAsOf(db.pool, asOf(15), AGENT);
    expect(rows.map((r) => [r.client, r.feedbackIndex, r.revoked, r.responses])).toEqual([
      [A, '1', true, 0],
      [B, '1', false, 1],
      [A, '2', false, 0],
    ]);
    expect((await feedbackAsOf(db.pool, asOf(13), AGENT)).map((r) => r.revoked)).toEqual([false, false, false]);
  });

  it('filters by clients, tags, time window, blocks and ABI version', async () => {
    const keys = async (filter: Parameters<typeof feedbackAsOf>[3]) =>
      (await feedbackAsOf(db.pool, asOf(20), AGENT, filter)).map((r) => `${r.client.slice(-1)}${r.feedbackIndex}`);
    expect(await keys({ clients: [A.toUpperCase().replace('0X', '0x')] })).toEqual(['a1', 'a2']);
    expect(await keys({ tag1: 'quality' })).toEqual(['a1', 'a2']);
    expect(await keys({ tag1: 'uptime', tag2: 'x' })).toEqual(['b1']);
    expect(await keys({ tag2: '' })).toEqual(['a1', 'a2', 'c1', 'c2']);
    expect(await keys({ from: new Date(blockTime(11) * 1000), to: new Date(blockTime(17) * 1000) })).toEqual([
      'b1',
      'a2',
    ]);
    expect(await keys({ fromBlock: 13, toBlock: 17 })).toEqual(['a2', 'c1']);
    expect(await keys({ abiVersions: ['v0.4'] })).toEqual(['c1', 'c2']);
  });

  it('pages in either order after a position', async () => {
    const page1 = await feedbackAsOf(db.pool, asOf(20), AGENT, {}, { order: 'desc', limit: 2 });
    expect(page1.map((r) => r.blockNumber)).toEqual([18, 17]);
    const page2 = await feedbackAsOf(db.pool, asOf(20), AGENT, {}, { order: 'desc', limit: 2, after: page1[1]! });
    expect(page2.map((r) => r.blockNumber)).toEqual([13, 11]);
    const asc = await feedbackAsOf(db.pool, asOf(20), AGENT, {}, { order: 'asc', limit: 10, after: page2[0]! });
    expect(asc.map((r) => r.blockNumber)).toEqual([17, 18]);
  });
});

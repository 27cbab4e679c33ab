/**
 * The first four query tools over a scripted event log in a real Postgres. Every expected figure below is worked out
 * by hand from the script (see the comments), not by calling the code under test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAsOf } from '../../src/queries/as-of.js';
import { canonicalJson } from '../../src/queries/canonical-json.js';
import { QUERY_TOOLS } from '../../src/queries/catalog.js';
import { isQueryError } from '../../src/queries/errors.js';
import type { QueryTool } from '../../src/queries/tool.js';
import { getAgentProfile } from '../../src/queries/tools/get-agent-profile.js';
import { getFeedbacks } from '../../src/queries/tools/get-feedbacks.js';
import { getReputationSummary } from '../../src/queries/tools/get-reputation-summary.js';
import { getValidationHistory } from '../../src/queries/tools/get-validation-history.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { address, blockTime, bytes32, REGISTRIES, ScriptedChain } from '../helpers/scripted-events.js';

const CHAIN = 31337;
const AGENT = '5';
const [A, B, C] = [address(0xa), address(0xb), address(0xc)];
const [OWNER1, OWNER2] = [address(0x01), address(0x02)];
const [V1, V2] = [address(0x71), address(0x72)];
const ZERO = address(0);
const [R1, R2, R3, R4] = [bytes32(0xf1), bytes32(0xf2), bytes32(0xf3), bytes32(0xf4)];
const hexOf = (text: string) => `0x${Buffer.from(text, 'utf8').toString('hex')}`;
const REGISTRATION = {
  type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
  name: 'Alice',
  description: 'answers questions',
  services: [
    { name: 'web', endpoint: 'https://alice.example' },
    { name: 'MCP', endpoint: 'https://alice.example/mcp', version: '2025-11-25' },
  ],
  x402Support: true,
  registrations: [{ agentId: 5, agentRegistry: `eip155:31337:${REGISTRIES.identity}` }],
  supportedTrust: ['reputation'],
};
const BASE64_URI = `data:application/json;base64,${Buffer.from(JSON.stringify({ name: 'Alice v1', endpoints: [{ name: 'A2A', endpoint: 'https://a2a.example' }] })).toString('base64')}`;
const PLAIN_URI = `data:application/json,${encodeURIComponent(JSON.stringify(REGISTRATION))}`;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  const chain = new ScriptedChain(db.pool, CHAIN);
  const identity = (block: number, columns: Record<string, unknown>) =>
    chain.event('identity', block, { agent_id: AGENT, ...columns });

  // Identity: minted to OWNER1 with a base64 data: URI; a percent-encoded one; transferred (wallet cleared); ipfs.
  await identity(1, { event_type: 'Transfer', owner: OWNER1, from_address: ZERO });
  await identity(1, { event_type: 'Registered', owner: OWNER1, token_uri: BASE64_URI });
  await identity(1, { event_type: 'MetadataSet', metadata_key: 'agentWallet', metadata_value: OWNER1 });
  await identity(1, { event_type: 'MetadataSet', metadata_key: 'name', metadata_value: hexOf('Alice') });
  await identity(3, { event_type: 'URIUpdated', token_uri: PLAIN_URI, updated_by: OWNER1 });
  await identity(5, { event_type: 'Transfer', owner: OWNER2, from_address: OWNER1 });
  await identity(5, { event_type: 'MetadataSet', metadata_key: 'agentWallet', metadata_value: '0x' });
  await identity(6, { event_type: 'MetadataSet', metadata_key: 'bin', metadata_value: '0xff00' });
  await identity(7, { event_type: 'URIUpdated', token_uri: 'ipfs://QmAlice', updated_by: OWNER2 });

  // Feedback (v1.0 unless said): values A1 95, B1 -12.34, A2 5, C1 0.123456789012345678, B2 -0.7; legacy C 80.
  await chain.feedback(10, {
    agentId: AGENT,
    client: A,
    index: 1,
    value: '95',
    decimals: 0,
    tag1: 'quality',
    tag2: 'a',
  });
  await chain.feedback(11, { agentId: AGENT, client: B, index: 1, value: '-1234', decimals: 2, tag1: 'uptime' });
  await chain.retract(await chain.feedback(12, { agentId: AGENT, client: A, index: 2, value: '1', decimals: 18 }));
  await chain.feedback(13, {
    agentId: AGENT,
    client: A,
    index: 2,
    value: '5',
    decimals: 0,
    tag1: 'quality',
    tag2: 'b',
  });
  await chain.feedback(14, {
    agentId: AGENT,
    client: C,
    index: 1,
    value: '123456789012345678',
    decimals: 18,
    tag1: 'quality',
  });
  await chain.feedback(15, {
    agentId: AGENT,
    client: B,
    index: 2,
    value: '-7',
    decimals: 1,
    tag1: 'uptime',
    tag2: 'a',
  });
  await chain.feedback(15, { agentId: '6', client: A, index: 1, value: '1', decimals: 0 });
  await chain.revoke(16, { agentId: AGENT, client: A, index: 1 });
  await chain.respond(17, { agentId: AGENT, client: B, index: 1, responder: OWNER2 });
  await chain.legacyFeedback(18, { agentId: AGENT, client: C, score: 80, tag1: 'quality' });

  // Validations: R1, R2 → V1; R3, R4 → V2. R1 answered 100 then 40; R2 80 (a 90 retracted); R3 100; R4 pending.
  const request = (block: number, hash: string, validator: string) =>
    chain.event('validation', block, {
      event_type: 'ValidationRequest',
      agent_id: AGENT,
      validator_address: validator,
      request_hash: hash,
      request_uri: `ipfs://request-${block}`,
    });
  const respond = (block: number, hash: string, validator: string, response: number, tag: string) =>
    chain.event('validation', block, {
      event_type: 'ValidationResponse',
      agent_id: AGENT,
      validator_address: validator,
      request_hash: hash,
      response,
      response_uri: `ipfs://response-${block}`,
      response_hash: bytes32(block),
      tag,
    });
  await request(21, R1, V1);
  await request(22, R2, V1);
  await request(23, R3, V2);
  await request(24, R4, V2);
  await respond(25, R1, V1, 100, 'zk');
  await respond(26, R1, V1, 40, 'zk');
  await respond(26, R2, V1, 80, 'tee');
  await respond(27, R3, V2, 100, 'zk');
  await chain.retract(await respond(28, R2, V1, 90, 'tee'));
  await chain.checkpoint(30);
});

afterAll(async () => {
  await db?.drop();
});

/** Runs a tool as the query service will: parse its params, resolve the block, run, and check the answer's schema. */
async function ask<P extends Record<string, unknown>>(tool: QueryTool, params: P, asOfBlock?: number, agentId = AGENT) {
  const asOf = await resolveAsOf(db.pool, CHAIN, asOfBlock);
  const data = await tool.run({ db: db.pool, asOf, agentId }, tool.params.parse(params));
  expect(tool.data.parse(data)).toEqual(data);
  canonicalJson(data); // serialisable as canonical JSON (no BigInt, no NaN)
  return data as never;
}

describe('catalog', () => {
  it('lists the tools once, with their tiers', () => {
    expect(QUERY_TOOLS.map((t) => [t.name, t.tier])).toEqual([
      ['getAgentProfile', 0],
      ['getFeedbacks', 0],
      ['getReputationSummary', 1],
      ['getValidationHistory', 1],
      ['getTrend', 2],
      ['getClientAnalysis', 2],
      ['compareToBaseline', 2],
      ['getReputationReport', 3],
    ]);
  });
});

describe('getAgentProfile', () => {
  it('reads owner, URI, the registration file of a data: URI, services, metadata and wallet', async () => {
    const p = await ask(getAgentProfile, {}, 4);
    expect(p).toMatchObject({
      registered: true,
      owner: OWNER1,
      registeredAtBlock: 1,
      registeredAt: new Date(blockTime(1) * 1000).toISOString(),
      agentUri: PLAIN_URI,
      services: [
        { name: 'web', endpoint: 'https://alice.example', version: null },
        { name: 'MCP', endpoint: 'https://alice.example/mcp', version: '2025-11-25' },
      ],
      mcpEndpoint: 'https://alice.example/mcp',
      agentWallet: OWNER1,
      metadata: [
        { key: 'agentWallet', value: OWNER1, utf8: null, blockNumber: 1 },
        { key: 'name', value: hexOf('Alice'), utf8: 'Alice', blockNumber: 1 },
      ],
    });
    expect(p).toMatchObject({
      registrationFile: {
        status: 'parsed',
        reason: null,
        name: 'Alice',
        x402Support: true,
        registrations: [{ agentId: '5', agentRegistry: `eip155:31337:${REGISTRIES.identity}` }],
        supportedTrust: ['reputation'],
      },
    });
  });

  it('reads a base64 data: URI with the older `endpoints` key', async () => {
    const p = await ask(getAgentProfile, {}, 2);
    expect(p).toMatchObject({
      agentUri: BASE64_URI,
      registrationFile: { status: 'parsed', name: 'Alice v1' },
      services: [{ name: 'A2A', endpoint: 'https://a2a.example', version: null }],
      mcpEndpoint: null,
    });
  });

  it('after the transfer: new owner, wallet cleared; an ipfs URI is not fetched', async () => {
    const p = await ask(getAgentProfile, {});
    expect(p).toMatchObject({
      registered: true,
      owner: OWNER2,
      agentUri: 'ipfs://QmAlice',
      registrationFile: { status: 'not_fetched', name: null },
      services: [],
      agentWallet: null,
    });
    expect((p as { metadata: unknown[] }).metadata).toEqual([
      { key: 'agentWallet', value: '0x', utf8: '', blockNumber: 5 },
      { key: 'bin', value: '0xff00', utf8: null, blockNumber: 6 },
      { key: 'name', value: hexOf('Alice'), utf8: 'Alice', blockNumber: 1 },
    ]);
    expect((p as { registrationFile: { reason: string } }).registrationFile.reason).toMatch(/not fetched/);
  });

  it('answers registered: false for an agent that does not exist as of the block', async () => {
    expect(await ask(getAgentProfile, {}, 0)).toMatchObject({ registered: false, owner: null, metadata: [] });
    expect(await ask(getAgentProfile, {}, undefined, '9')).toMatchObject({ registered: false });
  });
});

describe('getFeedbacks', () => {
  it('pages newest first with exact values, revocations and responses', async () => {
    type Page = { feedbacks: Record<string, unknown>[]; nextCursor: string | null };
    const first: Page = await ask(getFeedbacks, { limit: '2' });
    expect(first.feedbacks.map((f) => [f.blockNumber, f.client, f.abiVersion])).toEqual([
      [18, C, 'v0.4'],
      [15, B, 'v1.0'],
    ]);
    expect(first.feedbacks[1]).toMatchObject({ value: '-7', valueDecimals: 1, decimal: '-0.7', tag2: 'a' });
    const second: Page = await ask(getFeedbacks, { limit: '2', cursor: first.nextCursor });
    expect(second.feedbacks.map((f) => [f.blockNumber, f.decimal])).toEqual([
      [14, '0.123456789012345678'],
      [13, '5'],
    ]);
    const third: Page = await ask(getFeedbacks, { limit: '2', cursor: second.nextCursor });
    expect(third.nextCursor).toBeNull();
    expect(third.feedbacks).toEqual([
      expect.objectContaining({ client: B, feedbackIndex: '1', decimal: '-12.34', revoked: false, responses: 1 }),
      expect.objectContaining({
        client: A,
        feedbackIndex: '1',
        decimal: '95',
        revoked: true,
        revokedAtBlock: 16,
        responses: 0,
        registry: REGISTRIES.reputation,
        fileUri: 'ipfs://feedback-10',
        blockTime: new Date(blockTime(10) * 1000).toISOString(),
      }),
    ]);
  });

  it('as of an older block: no later feedback, revocation or response; the retracted row never', async () => {
    const page: { feedbacks: Record<string, unknown>[] } = await ask(getFeedbacks, { order: 'asc' }, 15);
    expect(page.feedbacks.map((f) => [f.blockNumber, f.revoked, f.responses])).toEqual([
      [10, false, 0],
      [11, false, 0],
      [13, false, 0],
      [14, false, 0],
      [15, false, 0],
    ]);
  });

  it('filters by clients (comma-separated), tags, window, blocks and version', async () => {
    const blocks = async (params: Record<string, unknown>) =>
      (
        (await ask(getFeedbacks, { order: 'asc', ...params })) as { feedbacks: { blockNumber: number }[] }
      ).feedbacks.map((f) => f.blockNumber);
    expect(await blocks({ clients: `${A},${C.toUpperCase().replace('0X', '0x')}` })).toEqual([10, 13, 14, 18]);
    expect(await blocks({ tag1: 'uptime', tag2: 'a' })).toEqual([15]);
    expect(
      await blocks({
        from: new Date(blockTime(13) * 1000).toISOString(),
        to: new Date(blockTime(15) * 1000).toISOString(),
      }),
    ).toEqual([13, 14]);
    expect(await blocks({ fromBlock: '14', toBlock: '18', abiVersion: 'v1.0' })).toEqual([14, 15]);
  });

  it('refuses a window that ends before it starts, and a foreign cursor', async () => {
    await expect(ask(getFeedbacks, { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' })).rejects.toSatisfy(
      (err) => isQueryError(err, 'invalid_params'),
    );
    expect(() => getFeedbacks.params.parse({ cursor: 'abc' })).toThrow(/cursor/);
  });
});

describe('getReputationSummary', () => {
  it('as of the head: counts, exact mean/min/max/stddev, per tag1, and the registry’s getSummary', async () => {
    // Counted: B1 -12.34, A2 5, C1 0.123456789012345678, B2 -0.7 (A1 revoked; the legacy score is v0.4).
    // Σ = -7.916543210987654322; mean = -1.9791358027469135805 → truncated -1.97913580274691358.
    // σ = 6.3661787493734135400962… → 6.36617874937341354.
    expect(await ask(getReputationSummary, {})).toEqual({
      count: 4,
      uniqueClients: 3,
      mean: '-1.97913580274691358',
      min: '-12.34',
      max: '5',
      stddevPop: '6.36617874937341354',
      revokedCount: 1,
      withResponse: 1,
      byTag1: [
        {
          tag1: 'quality',
          count: 2,
          uniqueClients: 2,
          mean: '2.561728394506172839',
          min: '0.123456789012345678',
          max: '5',
        },
        { tag1: 'uptime', count: 2, uniqueClients: 1, mean: '-6.52', min: '-12.34', max: '-0.7' },
      ],
      mixedTags: true,
      // One feedback each with 0, 1, 2 and 18 decimals: the tie goes to 0; avgWad / 10^18 = -1 (truncated).
      onchain: [
        { registry: REGISTRIES.reputation, count: 4, summaryValue: '-1', summaryValueDecimals: 0, decimal: '-1' },
      ],
    });
  });

  it('as of an older block, before the revocation and the response', async () => {
    // Five values, Σ = 87.083456789012345678: mean 17.4166913578024691356 → 17.416691357802469135; mode 0 (A1, A2).
    expect(await ask(getReputationSummary, {}, 15)).toMatchObject({
      count: 5,
      uniqueClients: 3,
      mean: '17.416691357802469135',
      max: '95',
      stddevPop: '39.207333886185112954',
      revokedCount: 0,
      withResponse: 0,
      onchain: [{ count: 5, summaryValue: '17', summaryValueDecimals: 0 }],
    });
  });

  it('narrows by clients and tags, like the registry; a window narrows the figures, not `onchain`', async () => {
    expect(await ask(getReputationSummary, { clients: [A], tag1: 'quality' })).toMatchObject({
      count: 1,
      mean: '5',
      stddevPop: '0',
      revokedCount: 1,
      mixedTags: false,
      onchain: [{ count: 1, summaryValue: '5', summaryValueDecimals: 0 }],
    });
    expect(await ask(getReputationSummary, { tag1: 'uptime', tag2: 'a' })).toMatchObject({
      count: 1,
      mean: '-0.7',
      onchain: [{ count: 1, summaryValue: '-7', summaryValueDecimals: 1, decimal: '-0.7' }],
    });
    const windowed = await ask(getReputationSummary, { fromBlock: 13, toBlock: 14 });
    expect(windowed).toMatchObject({ count: 2, mean: '2.561728394506172839', onchain: [{ count: 4 }] });
  });

  it('summarises v0.4 scores apart, and an agent without feedback as empty', async () => {
    expect(await ask(getReputationSummary, { abiVersion: 'v0.4' })).toMatchObject({
      count: 1,
      mean: '80',
      onchain: [],
    });
    expect(await ask(getReputationSummary, {}, undefined, '9')).toEqual({
      count: 0,
      uniqueClients: 0,
      mean: null,
      min: null,
      max: null,
      stddevPop: null,
      revokedCount: 0,
      withResponse: 0,
      byTag1: [],
      mixedTags: false,
      onchain: [],
    });
  });
});

describe('getValidationHistory', () => {
  type History = {
    requests: Record<string, unknown>[];
    nextCursor: string | null;
    summary: Record<string, unknown>;
  };

  it('gives each request its latest response, count and latency, and a summary like the registry’s', async () => {
    const h: History = await ask(getValidationHistory, {});
    expect(h.requests.map((r) => [r.requestHash, r.status, r.response, r.responseCount, r.tag])).toEqual([
      [R1, 'responded', 40, 2, 'zk'],
      [R2, 'responded', 80, 1, 'tee'],
      [R3, 'responded', 100, 1, 'zk'],
      [R4, 'pending', null, 0, null],
    ]);
    // R1 requested at block 21, first answered at 25: 4 blocks of 12 s.
    expect(h.requests[0]).toMatchObject({ firstResponseLatencySeconds: 48, responseBlock: 26, validator: V1 });
    expect(h.requests[3]).toMatchObject({ firstResponseLatencySeconds: null, responseTime: null });
    expect(h.summary).toEqual({
      requests: 4,
      responded: 3,
      pending: 1,
      meanResponse: '73.333333333333333333', // 220 / 3
      passRate100: '0.333333333333333333',
      passRate50: '0.666666666666666666',
      onchain: [{ registry: REGISTRIES.validation, count: 3, avgResponse: 73 }],
      byValidator: [
        {
          validator: V1,
          requests: 2,
          responded: 2,
          pending: 0,
          meanResponse: '60',
          passRate100: '0',
          passRate50: '0.5',
        },
        {
          validator: V2,
          requests: 2,
          responded: 1,
          pending: 1,
          meanResponse: '100',
          passRate100: '1',
          passRate50: '1',
        },
      ],
    });
  });

  it('as of an older block; filtered by tag, validators and status; paged', async () => {
    const old: History = await ask(getValidationHistory, {}, 25);
    expect(old.requests.map((r) => [r.status, r.response])).toEqual([
      ['responded', 100],
      ['pending', null],
      ['pending', null],
      ['pending', null],
    ]);
    const zk: History = await ask(getValidationHistory, { tag: 'zk' });
    expect(zk.summary).toMatchObject({ requests: 2, onchain: [{ count: 2, avgResponse: 70 }] });
    const v2: History = await ask(getValidationHistory, { validators: V2, status: 'pending' });
    expect(v2.requests.map((r) => r.requestHash)).toEqual([R4]);
    expect(v2.summary).toMatchObject({ requests: 2, responded: 1 });
    const page1: History = await ask(getValidationHistory, { limit: 3 });
    const page2: History = await ask(getValidationHistory, { limit: 3, cursor: page1.nextCursor });
    expect([...page1.requests, ...page2.requests].map((r) => r.requestHash)).toEqual([R1, R2, R3, R4]);
    expect(page2.nextCursor).toBeNull();
  });
});

/**
 * The queries router over tRPC and REST (GET /api/v1/agents/{chainId}/{agentId}/…) on a scripted chain: the same
 * answer through both doors, the caller's organization charged once per request (Idempotency-Key), who may call
 * (wrong tenant, key without 'read', anonymous), bad input refused with nothing charged, and the tools' price list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credit, getAccount } from '../../src/billing/ledger.js';
import { code, startTestApi, type ApiCaller, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { address, ScriptedChain } from '../helpers/scripted-events.js';

const CHAIN = 31337;
const AGENT = '7';
const [A, B, C] = [address(0xa), address(0xb), address(0xc)];

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const chain = new ScriptedChain(db.pool, CHAIN);
  // Agent 7: A gives 80 and 90.5 (quality); B gives -5 and revokes it; C's 100 is retracted by a reorg.
  await chain.feedback(10, { agentId: AGENT, client: A, index: 1, value: '80', decimals: 0, tag1: 'quality' });
  await chain.feedback(12, { agentId: AGENT, client: A, index: 2, value: '905', decimals: 1, tag1: 'quality' });
  await chain.feedback(14, { agentId: AGENT, client: B, index: 1, value: '-5', decimals: 0, tag1: 'quality' });
  await chain.revoke(16, { agentId: AGENT, client: B, index: 1 });
  await chain.retract(await chain.feedback(18, { agentId: AGENT, client: C, index: 1, value: '100', decimals: 0 }));
  await chain.checkpoint(20);
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

let n = 0;
async function signUp(funds = '1'): Promise<{ organizationId: string; as: ApiCaller; key: string }> {
  const tag = `${Date.now().toString(36)}${++n}`;
  const session = await (
    await api.caller({}, `10.78.0.${n}`)
  ).auth.register({
    username: `queries${tag}`,
    email: `queries${tag}@example.test`,
    password: 'correct horse battery',
  });
  const organizationId = session.organizationId!;
  const as = await api.caller({ authorization: `Bearer ${session.accessToken}` });
  if (funds !== '0') await credit(db.pool, { organizationId, kind: 'grant', key: `grant:${tag}`, amount: funds });
  const key = (await as.apiKeys.create({ organizationId, name: 'reader', permissions: ['read'] })).key;
  return { organizationId, as, key };
}

interface QueryResult {
  answer: { data: Record<string, unknown> } & Record<string, unknown>;
  billing: { price: string; charged: string; cache: string };
}

const rest = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${api.server.url}/api/v1${path}`, { headers });
const balance = async (organizationId: string) => (await getAccount(db.pool, organizationId)).balance;

describe('queries router', () => {
  it('answers each tool the same over tRPC and REST, as of the checkpoint, and charges each call its price', async () => {
    const org = await signUp('1');
    const expectedFigures: Record<string, Record<string, unknown>> = {
      // No identity event for agent 7 on this chain: not registered as of the block.
      profile: { registered: false, owner: null },
      // Newest first; C's retracted feedback is not there, B's is there and revoked.
      feedbacks: {
        feedbacks: [
          { client: B, decimal: '-5', revoked: true, revokedAtBlock: 16, blockNumber: 14 },
          { client: A, value: '905', valueDecimals: 1, decimal: '90.5', revoked: false, blockNumber: 12 },
          { client: A, decimal: '80', revoked: false, blockNumber: 10 },
        ],
        nextCursor: null,
      },
      // 80 and 90.5 count; B's is revoked; C's was retracted.
      summary: { count: 2, uniqueClients: 1, mean: '85.25', min: '80', max: '90.5', revokedCount: 1 },
      validations: { requests: [], summary: { requests: 0, responded: 0, pending: 0 } },
      // One month holding both counted values; A is the only client, and rates no other agent.
      trend: { granularity: 'month', buckets: [{ count: 2, mean: '85.25', uniqueClients: 1, partial: true }] },
      clients: {
        feedbackCount: 2,
        clientCount: 1,
        hhi: '1.000000',
        flags: ['LOW_DIVERSITY', 'DOMINANT_CLIENT', 'EXCLUSIVE_CLIENTS'],
      },
      baseline: { agent: { value: '85.25', sampleSize: 2, eligible: false }, population: { size: 0 } },
      report: { confidence: 'low', summary: { count: 2, revokedCount: 1 } },
    };
    const tools = (await rest('/queries/tools').then((r) => r.json())) as {
      tools: { name: string; path: string; price: string }[];
    };
    let spent = 0;
    for (const [path, figures] of Object.entries(expectedFigures)) {
      const tool = tools.tools.find((t) => t.path === path)!;
      const viaTrpc = await (org.as.queries as unknown as Record<string, (i: unknown) => Promise<QueryResult>>)[
        tool.name
      ]!({
        organizationId: org.organizationId,
        chainId: CHAIN,
        agentId: AGENT,
      });
      const res = await rest(`/agents/${CHAIN}/${AGENT}/${path}`, { 'x-api-key': org.key });
      expect(res.status, path).toBe(200);
      const viaRest = (await res.json()) as { answer: unknown; billing: { cache: string } };
      expect(viaRest.answer, path).toEqual(viaTrpc.answer);
      expect(viaTrpc.answer).toMatchObject({ tool: tool.name, chainId: CHAIN, agentId: AGENT, asOfBlock: 20 });
      expect(viaTrpc.answer.data, path).toMatchObject(figures);
      expect(viaTrpc.billing).toMatchObject({ price: tool.price, charged: tool.price, cache: 'miss' });
      expect(viaRest.billing.cache).toBe('hit');
      spent += 2 * Number(tool.price);
    }
    expect(Number(await balance(org.organizationId))).toBeCloseTo(1 - spent, 8);
  });

  it('charges a request retried with the same Idempotency-Key once', async () => {
    const org = await signUp('1');
    const headers = { 'x-api-key': org.key, 'idempotency-key': 'retry-me-1' };
    const answers = await Promise.all(
      [1, 2, 3].map(() =>
        rest(`/agents/${CHAIN}/${AGENT}/summary?fresh=true`, headers).then((r) => r.json() as Promise<QueryResult>),
      ),
    );
    expect(answers.map((a) => a.billing.charged).sort()).toEqual(['0', '0', '0.01']);
    expect(answers.map((a) => a.billing.cache)).toEqual(['bypass', 'bypass', 'bypass']);
    expect(await balance(org.organizationId)).toBe('0.99000000');
  });

  it('refuses what it must, with the right status, charging nothing', async () => {
    const org = await signUp('1');
    const other = await signUp('1');
    const poor = await signUp('0');
    // Insufficient credits: 402 naming the figures; nothing computed or charged.
    const broke = await rest(`/agents/${CHAIN}/${AGENT}/summary`, { 'x-api-key': poor.key });
    expect(broke.status).toBe(402);
    expect(((await broke.json()) as { message: string }).message).toMatch(
      /0\.01000000 USDC needed, 0\.00000000 available/,
    );
    // Another organization's id with my key: 403.
    expect(
      (await rest(`/agents/${CHAIN}/${AGENT}/summary?organizationId=${other.organizationId}`, { 'x-api-key': org.key }))
        .status,
    ).toBe(403);
    // A user naming an organization they are not in: 403; naming none: 400.
    expect(
      await code(
        org.as.queries.getReputationSummary({ organizationId: other.organizationId, chainId: CHAIN, agentId: AGENT }),
      ),
    ).toBe('FORBIDDEN');
    expect(await code(org.as.queries.getReputationSummary({ chainId: CHAIN, agentId: AGENT }))).toBe('BAD_REQUEST');
    // A key without 'read'.
    const writer = (
      await org.as.apiKeys.create({ organizationId: org.organizationId, name: 'writer', permissions: ['write'] })
    ).key;
    expect((await rest(`/agents/${CHAIN}/${AGENT}/summary`, { 'x-api-key': writer })).status).toBe(403);
    // Bad input: agent id, block above the head, unknown chain.
    expect((await rest(`/agents/${CHAIN}/0x7/summary`, { 'x-api-key': org.key })).status).toBe(400);
    const above = await rest(`/agents/${CHAIN}/${AGENT}/summary?asOfBlock=21`, { 'x-api-key': org.key });
    expect(above.status).toBe(400);
    expect(((await above.json()) as { message: string }).message).toMatch(/head 20/);
    expect((await rest(`/agents/999/${AGENT}/summary`, { 'x-api-key': org.key })).status).toBe(404);
    expect(await code((await api.caller()).queries.getReputationSummary({ chainId: CHAIN, agentId: AGENT }))).toBe(
      'UNAUTHORIZED',
    );
    for (const o of [org, other, poor]) {
      expect(await balance(o.organizationId)).toBe(o === poor ? '0.00000000' : '1.00000000');
    }
    const { rows } = await db.pool.query<{ outcome: string; n: number }>(
      `SELECT outcome, count(*)::int AS n FROM usage_logs WHERE organization_id = ANY($1) GROUP BY outcome`,
      [[org.organizationId, other.organizationId, poor.organizationId]],
    );
    expect(rows.filter((r) => r.outcome === 'answered')).toEqual([]);
  });

  it('lists the tools with their tier, price in force and path, without credentials', async () => {
    const res = await rest('/queries/tools');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { currency: string; tools: { name: string; tier: number; price: string }[] };
    expect(body.currency).toBe('USDC');
    expect(body.tools).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'getAgentProfile', tier: 0, price: '0.001', path: 'profile' }),
        expect.objectContaining({ name: 'getReputationSummary', tier: 1, price: '0.01', path: 'summary' }),
      ]),
    );
  });
});

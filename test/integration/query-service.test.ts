/**
 * The query service (src/queries/service.ts) on a real Postgres: validation, as-of resolution, charging through the
 * ledger, the cache, metering, refusals that compute nothing, retries charged once, refunds when a tool fails, a
 * plan's included calls, and x402 payers. The tool here is a small real one over canonical_events (it counts an
 * agent's feedback as of the block) that also counts its runs, so "not computed" is observable.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { z } from 'zod';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { credit, getAccount } from '../../src/billing/ledger.js';
import { isBillingError } from '../../src/billing/errors.js';
import { configurePlans, DEFAULT_PLANS, type Plan } from '../../src/billing/plans.js';
import { createPool } from '../../src/db/pool.js';
import { canonicalJson } from '../../src/queries/canonical-json.js';
import { isQueryError } from '../../src/queries/errors.js';
import { QueryService, type QueryPayer } from '../../src/queries/service.js';
import { feedbackCountTool } from '../helpers/query-tools.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { feedbackEvent, insertEvent, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';

const CHAIN = 31337;
const HEAD_HASH = `0x${'ab'.repeat(32)}`;
const { tool: feedbackCount, counter } = feedbackCountTool();

let db: TestDatabase;
let pool: pg.Pool;
let owner: string;
const plans = new Map<string, Plan>();
let service: QueryService;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, testLogger, { max: 12, applicationName: 'query-service-test' });
  owner = await insertUser(db.pool);
  service = new QueryService({
    pool,
    logger: testLogger,
    prices: { 0: '0.001', 1: '0.01', 2: '0.05', 3: '0.2' },
    planOf: async (id) => plans.get(id) ?? 'free',
    tools: [feedbackCount],
  });
  await db.pool.query(`INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, 200, $2)`, [
    CHAIN,
    HEAD_HASH,
  ]);
  for (const [block, logIndex] of [
    [100, 0],
    [150, 0],
    [190, 1],
  ] as const) {
    await insertEvent(
      db.pool,
      feedbackEvent({ chain_id: CHAIN, block_number: block, log_index: logIndex, agent_id: '7' }),
    );
  }
});
afterAll(async () => {
  configurePlans(DEFAULT_PLANS);
  await pool?.end();
  await db?.drop();
});
beforeEach(() => {
  counter.runs = 0;
});

async function fundedOrganization(amount: string): Promise<QueryPayer & { kind: 'organization' }> {
  const organizationId = await insertOrganization(db.pool, owner);
  if (amount !== '0') await credit(pool, { organizationId, kind: 'grant', key: `grant:${organizationId}`, amount });
  return { kind: 'organization', organizationId, caller: `user:${owner}` };
}

const balance = async (organizationId: string) => (await getAccount(pool, organizationId)).balance;
const usageRows = async (organizationId: string) =>
  (
    await db.pool.query<{ outcome: string; cost: string; cached: boolean; included: boolean; error: string | null }>(
      `SELECT outcome, cost::text, cached, included, error FROM usage_logs WHERE organization_id = $1 ORDER BY created_at, id`,
      [organizationId],
    )
  ).rows;

describe('query service', () => {
  it('answers as of the indexed head, charges the price once, and meters the call', async () => {
    const payer = await fundedOrganization('1');
    const { answer, billing } = await service.call({
      tool: 'getFeedbacks',
      input: { chainId: CHAIN, agentId: '7', fresh: true },
      payer,
      surface: 'trpc',
    });
    expect(answer).toMatchObject({
      chainId: CHAIN,
      agentId: '7',
      asOfBlock: 200,
      asOfBlockHash: HEAD_HASH,
      data: { count: 3 },
    });
    expect(billing).toMatchObject({ price: '0.01', charged: '0.01', cache: 'bypass', included: false });
    expect(await balance(payer.organizationId)).toBe('0.99000000');
    expect(billing.balance).toBe('0.99000000');
    expect(await usageRows(payer.organizationId)).toEqual([
      { outcome: 'answered', cost: '0.01000000', cached: false, included: false, error: null },
    ]);
  });

  it('serves a second identical question from the cache, charged but not computed', async () => {
    const payer = await fundedOrganization('1');
    const input = { chainId: CHAIN, agentId: '7', asOfBlock: 150 };
    const first = await service.call({ tool: 'getFeedbacks', input, payer, surface: 'rest' });
    const second = await service.call({ tool: 'getFeedbacks', input, payer, surface: 'rest' });
    expect(counter.runs).toBe(1);
    expect(first.answer.data).toEqual({ count: 2 });
    expect(first.billing.cache).toBe('miss');
    expect(second.billing.cache).toBe('hit');
    expect(canonicalJson(second.answer)).toBe(canonicalJson(first.answer));
    expect(await balance(payer.organizationId)).toBe('0.98000000');
    expect((await usageRows(payer.organizationId)).map((r) => r.cached)).toEqual([false, true]);
  });

  it("serves another process's cached answer, reading query_cache once and then from memory", async () => {
    const payer = await fundedOrganization('1');
    const input = { chainId: CHAIN, agentId: '7', asOfBlock: 190 };
    await service.call({ tool: 'getFeedbacks', input, payer, surface: 'rest' });
    let cacheReads = 0;
    const counting = {
      query: (query: string | pg.QueryConfig, values?: unknown[]) => {
        if (/FROM query_cache/.test(typeof query === 'string' ? query : query.text)) cacheReads += 1;
        return pool.query(query, values);
      },
      connect: () => pool.connect(),
    } as unknown as pg.Pool;
    const otherProcess = new QueryService({
      pool: counting,
      logger: testLogger,
      prices: { 0: '0.001', 1: '0.01', 2: '0.05', 3: '0.2' },
      planOf: async () => 'free',
      tools: [feedbackCount],
    });
    const outcomes = [];
    for (let i = 0; i < 3; i++)
      outcomes.push(await otherProcess.call({ tool: 'getFeedbacks', input, payer, surface: 'rest' }));
    expect(outcomes.map((o) => o.billing.cache)).toEqual(['hit', 'hit', 'hit']);
    expect(outcomes.map((o) => o.answer.data)).toEqual(Array(3).fill({ count: 3 }));
    expect(counter.runs).toBe(1);
    expect(cacheReads).toBe(1);
    expect(await balance(payer.organizationId)).toBe('0.96000000');
  });

  it('refuses a call the credits cannot pay, names balance and price, computes nothing and logs the refusal', async () => {
    const payer = await fundedOrganization('0.005');
    const err = await service
      .call({ tool: 'getFeedbacks', input: { chainId: CHAIN, agentId: '7', fresh: true }, payer, surface: 'mcp' })
      .catch((e: unknown) => e);
    expect(isBillingError(err, 'insufficient_credits')).toBe(true);
    expect((err as Error).message).toMatch(/0\.01000000 USDC needed, 0\.00500000 available/);
    expect(counter.runs).toBe(0);
    expect(await balance(payer.organizationId)).toBe('0.00500000');
    const rows = await usageRows(payer.organizationId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'refused', cost: '0.00000000' });
  });

  it('charges a retried request once, even when the retries run at the same time', async () => {
    const payer = await fundedOrganization('1');
    const requestId = randomUUID();
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, () =>
        service.call({
          tool: 'getFeedbacks',
          input: { chainId: CHAIN, agentId: '7' },
          payer,
          requestId,
          surface: 'rest',
        }),
      ),
    );
    expect(outcomes.filter((o) => o.billing.charged === '0.01')).toHaveLength(1);
    expect(await balance(payer.organizationId)).toBe('0.99000000');
    expect(await usageRows(payer.organizationId)).toHaveLength(1);
  });

  it('races many requests and their retries on a small balance: each charged once, exactly what fits, ledger = balance', async () => {
    const payer = await fundedOrganization('0.05');
    const requestIds = Array.from({ length: 12 }, () => randomUUID());
    const call = (requestId: string) =>
      service
        .call({ tool: 'getFeedbacks', input: { chainId: CHAIN, agentId: '7' }, payer, requestId, surface: 'rest' })
        .then((o) => ({ requestId, charged: o.billing.charged }))
        .catch((err: unknown) => {
          if (!isBillingError(err, 'insufficient_credits')) throw err;
          return { requestId, charged: 'refused' };
        });
    // Every request three times at once.
    const outcomes = await Promise.all(requestIds.flatMap((id) => [call(id), call(id), call(id)]));
    const paid = new Set(outcomes.filter((o) => o.charged === '0.01').map((o) => o.requestId));
    expect(outcomes.filter((o) => o.charged === '0.01')).toHaveLength(5);
    expect(paid.size).toBe(5);
    expect(await balance(payer.organizationId)).toBe('0.00000000');
    const { rows: ledger } = await db.pool.query<{ total: string; n: number }>(
      `SELECT sum(amount)::text AS total, count(*)::int AS n FROM credit_transactions WHERE organization_id = $1`,
      [payer.organizationId],
    );
    expect(ledger[0]).toEqual({ total: '0.00000000', n: 6 });
    // A charged request retried once the credits are gone is answered as the retry it is, not refused.
    const retried = await call([...paid][0]!);
    expect(retried.charged).toBe('0');
    const answered = (await usageRows(payer.organizationId)).filter((r) => r.outcome === 'answered');
    expect(answered).toHaveLength(5);
  });

  it('refunds a call that failed on our side; a retry of it is a new, charged call', async () => {
    const payer = await fundedOrganization('1');
    const requestId = randomUUID();
    const failing = {
      tool: 'getFeedbacks',
      input: { chainId: CHAIN, agentId: '7', fail: true },
      payer,
      requestId,
      surface: 'trpc' as const,
    };
    await expect(service.call(failing)).rejects.toThrow('tool failure');
    expect(await balance(payer.organizationId)).toBe('1.00000000');
    const retried = await service.call({ ...failing, input: { chainId: CHAIN, agentId: '7' } });
    expect(retried.billing.charged).toBe('0.01');
    expect(await balance(payer.organizationId)).toBe('0.99000000');
    expect((await usageRows(payer.organizationId)).map((r) => [r.outcome, r.cost])).toEqual([
      ['failed', '0.00000000'],
      ['answered', '0.01000000'],
    ]);
  });

  it('refuses an unknown chain, a block above the head and bad input without charging', async () => {
    const payer = await fundedOrganization('1');
    const call = (input: unknown) =>
      service.call({ tool: 'getFeedbacks', input, payer, surface: 'trpc' }).catch((e: unknown) => e);
    expect(isQueryError(await call({ chainId: 999, agentId: '7' }), 'chain_not_indexed')).toBe(true);
    const above = await call({ chainId: CHAIN, agentId: '7', asOfBlock: 201 });
    expect(isQueryError(above, 'block_not_indexed')).toBe(true);
    expect((above as Error).message).toMatch(/head 200/);
    expect(await call({ chainId: CHAIN, agentId: '07' })).toBeInstanceOf(z.ZodError);
    expect(await call({ chainId: CHAIN, agentId: '7', asOfBlock: 120.5 })).toBeInstanceOf(z.ZodError);
    expect(
      isQueryError(
        await service.call({ tool: 'nope', input: {}, payer, surface: 'trpc' }).catch((e: unknown) => e),
        'unknown_tool',
      ),
    ).toBe(true);
    expect(counter.runs).toBe(0);
    expect(await balance(payer.organizationId)).toBe('1.00000000');
  });

  it("answers as of an older block with that block's hash, and refuses a block whose hash is not known", async () => {
    const payer = await fundedOrganization('1');
    const { answer } = await service.call({
      tool: 'getFeedbacks',
      input: { chainId: CHAIN, agentId: '7', asOfBlock: 150 },
      payer,
      surface: 'trpc',
    });
    const { rows } = await db.pool.query<{ block_hash: string }>(
      `SELECT block_hash FROM events WHERE chain_id = $1 AND block_number = 150`,
      [CHAIN],
    );
    expect(answer).toMatchObject({ asOfBlock: 150, asOfBlockHash: rows[0]!.block_hash, data: { count: 2 } });
    const unknown = await service
      .call({ tool: 'getFeedbacks', input: { chainId: CHAIN, agentId: '7', asOfBlock: 120 }, payer, surface: 'trpc' })
      .catch((e: unknown) => e);
    expect(isQueryError(unknown, 'block_hash_unknown')).toBe(true);
  });

  it("takes a plan's included calls first, exactly as many as the month allows, then charges credits", async () => {
    configurePlans({ ...DEFAULT_PLANS, starter: { ...DEFAULT_PLANS.starter, includedQueryCallsPerMonth: 3 } });
    const payer = await fundedOrganization('1');
    plans.set(payer.organizationId, 'starter');
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () =>
        service.call({ tool: 'getFeedbacks', input: { chainId: CHAIN, agentId: '7' }, payer, surface: 'rest' }),
      ),
    );
    expect(outcomes.filter((o) => o.billing.included)).toHaveLength(3);
    expect(outcomes.filter((o) => o.billing.charged === '0.01')).toHaveLength(3);
    expect(await balance(payer.organizationId)).toBe('0.97000000');
    // The usage rows say the same: an included call cost nothing, a charged one its price.
    const costs = (await usageRows(payer.organizationId)).map((r) => `${r.included}:${r.cost}`).sort();
    expect(costs).toEqual([...Array(3).fill('false:0.01000000'), ...Array(3).fill('true:0.00000000')]);
  });

  it('meters an x402 payer without touching any ledger', async () => {
    const payer = {
      kind: 'x402' as const,
      payer: '0x00000000000000000000000000000000000000AA',
      paymentId: randomUUID(),
    };
    const before = await db.pool.query(`SELECT count(*)::int AS n FROM credit_transactions`);
    const { billing } = await service.call({
      tool: 'getFeedbacks',
      input: { chainId: CHAIN, agentId: '7' },
      payer,
      requestId: payer.paymentId,
      surface: 'x402',
    });
    expect(billing).toMatchObject({ charged: '0.01', balance: null });
    const after = await db.pool.query(`SELECT count(*)::int AS n FROM credit_transactions`);
    expect(after.rows).toEqual(before.rows);
    const { rows } = await db.pool.query(
      `SELECT payer_address, payment_reference, cost::text, surface FROM usage_logs WHERE payer_address IS NOT NULL`,
    );
    expect(rows).toEqual([
      {
        payer_address: '0x00000000000000000000000000000000000000aa',
        payment_reference: payer.paymentId,
        cost: '0.01000000',
        surface: 'x402',
      },
    ]);
  });
});

/**
 * getTrend, getClientAnalysis and compareToBaseline over a scripted event log in a real Postgres: a reorg-retracted
 * feedback, a revocation and answers as of an older block. The expected figures are worked out by hand in the comments.
 */
import type { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareToBaseline } from '../../src/queries/tools/compare-to-baseline.js';
import { isQueryError } from '../../src/queries/errors.js';
import { getClientAnalysis } from '../../src/queries/tools/get-client-analysis.js';
import { getTrend } from '../../src/queries/tools/get-trend.js';
import { agentAggregates } from '../../src/queries/population.js';
import type { Queryable } from '../../src/db/transaction.js';
import type { QueryTool } from '../../src/queries/tool.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { blockAt, datedFeedback, runTool, validationRequest, validationResponse } from '../helpers/dated-feedback.js';
import { address, blockHash, bytes32, ScriptedChain } from '../helpers/scripted-events.js';

const CHAIN = 31337;
const AGENT = '7';
const [A, B, C, D, E] = [0xa, 0xb, 0xc, 0xd, 0xe].map(address) as [string, string, string, string, string];
const LATEST = blockAt('2026-05-10');
const OLDER = blockAt('2026-03-10');

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  const chain = new ScriptedChain(db.pool, CHAIN);
  const feedback = datedFeedback(chain);
  // The agent under test.
  await feedback('2026-01-10', AGENT, A, '95');
  await feedback('2026-01-20', AGENT, B, '-1234', 2); // −12.34
  await feedback('2026-02-05', AGENT, A, '85');
  await feedback('2026-03-03', AGENT, C, '80');
  await chain.revoke(blockAt('2026-03-20'), { agentId: AGENT, client: C, index: 1 });
  // D's first feedback was removed by a reorg; the one that replaced it is worth 60.
  await chain.retract(await feedback('2026-04-02', AGENT, D, '70'));
  feedback.forget(AGENT, D);
  await feedback('2026-04-03', AGENT, D, '60');
  await feedback('2026-04-10', AGENT, A, '95', 1); // 9.5
  await feedback('2026-05-01', AGENT, E, '100');
  // The others. Agent 8: mean 30, clients A, F×2, G, H. Agent 9: mean 75 over six clients (tag uptime).
  for (const [client, value] of [
    [A, '50'],
    [address(0xf), '40'],
    [address(0x10), '30'],
    [address(0xf), '20'],
    [address(0x11), '10'],
  ]) {
    await feedback('2026-01-15', '8', client!, value!);
  }
  for (const [i, value] of ['70', '72', '74', '76', '78', '80'].entries()) {
    await feedback('2026-02-01', '9', address(0x20 + i), value, 0, 'uptime');
  }
  // Agent 10: too little feedback to be in the population. Agent 11: mean 90 from one client, after the older block.
  await feedback('2026-01-05', '10', address(0x30), '100');
  await feedback('2026-01-06', '10', address(0x31), '100');
  for (let i = 0; i < 5; i++) await feedback('2026-04-20', '11', address(0x40), '90');
  // Validations, latest response per request: agent 7 100 and 50 (one pending), agent 8 80, agent 9 50 and 40 (its
  // first response, 10, was superseded).
  const validator = address(0x70);
  const validations: [string, number[]][] = [
    [AGENT, [100]],
    [AGENT, [50]],
    [AGENT, []],
    ['8', [80]],
    ['9', [60]],
    ['9', [10, 40]],
  ];
  for (const [i, [agentId, responses]] of validations.entries()) {
    const hash = bytes32(0x100 + i);
    await validationRequest(chain, '2026-04-21', agentId, validator, hash);
    for (const response of responses) {
      await validationResponse(chain, '2026-04-22', { agentId, validator, hash }, response);
    }
  }
  await feedback('2026-05-10', '12', address(0x50), '1'); // the latest event: the as-of time of LATEST
});

afterAll(async () => {
  await db?.drop();
});

function run<P extends z.ZodObject, D extends z.ZodType>(
  tool: QueryTool<P, D>,
  asOfBlock: number,
  params: Record<string, unknown> = {},
): Promise<z.output<D>> {
  const asOf = { chainId: CHAIN, asOfBlock, asOfBlockHash: blockHash(asOfBlock) };
  return runTool(tool, { db: db.pool, asOf, agentId: AGENT }, params);
}

describe('getTrend', () => {
  it('gives contiguous months with revoked and retracted feedback left out', async () => {
    const trend = await run(getTrend, LATEST, { granularity: 'month' });
    expect(trend.from).toBe('2026-01-01T00:00:00.000Z');
    expect(trend.to).toBe('2026-05-10T00:00:01.000Z');
    expect(trend.buckets).toEqual([
      // 95 and −12.34: mean 41.33
      {
        start: '2026-01-01T00:00:00.000Z',
        end: '2026-02-01T00:00:00.000Z',
        count: 2,
        mean: '41.33',
        uniqueClients: 2,
        newClients: 2,
        cumulativeCount: 2,
        cumulativeMean: '41.33',
        partial: false,
      },
      // 167.66 / 3
      {
        start: '2026-02-01T00:00:00.000Z',
        end: '2026-03-01T00:00:00.000Z',
        count: 1,
        mean: '85',
        uniqueClients: 1,
        newClients: 0,
        cumulativeCount: 3,
        cumulativeMean: '55.886666666666666666',
        partial: false,
      },
      // C's 80 was revoked (as of LATEST): an empty month
      {
        start: '2026-03-01T00:00:00.000Z',
        end: '2026-04-01T00:00:00.000Z',
        count: 0,
        mean: null,
        uniqueClients: 0,
        newClients: 0,
        cumulativeCount: 3,
        cumulativeMean: '55.886666666666666666',
        partial: false,
      },
      // D's 60 (its retracted 70 never counts) and A's 9.5; 237.16 / 5
      {
        start: '2026-04-01T00:00:00.000Z',
        end: '2026-05-01T00:00:00.000Z',
        count: 2,
        mean: '34.75',
        uniqueClients: 2,
        newClients: 1,
        cumulativeCount: 5,
        cumulativeMean: '47.432',
        partial: false,
      },
      // 337.16 / 6; May is not over as of LATEST
      {
        start: '2026-05-01T00:00:00.000Z',
        end: '2026-06-01T00:00:00.000Z',
        count: 1,
        mean: '100',
        uniqueClients: 1,
        newClients: 1,
        cumulativeCount: 6,
        cumulativeMean: '56.193333333333333333',
        partial: true,
      },
    ]);
  });

  it('answers as of an older block: the later revocation had not happened', async () => {
    const trend = await run(getTrend, OLDER, { granularity: 'month' });
    expect(trend.to).toBe('2026-03-03T00:00:01.000Z'); // C's feedback is the latest event at or below OLDER
    expect(trend.buckets.map((b) => [b.start.slice(0, 7), b.count, b.mean, b.cumulativeMean, b.partial])).toEqual([
      ['2026-01', 2, '41.33', '41.33', false],
      ['2026-02', 1, '85', '55.886666666666666666', false],
      ['2026-03', 1, '80', '61.915', true], // 247.66 / 4
    ]);
  });

  it('takes a window and a granularity, and refuses a window that ends before it starts', async () => {
    const weeks = await run(getTrend, LATEST, {
      granularity: 'week',
      from: '2026-04-01T00:00:00Z',
      to: '2026-04-15T00:00:00Z',
    });
    // ISO weeks from Monday 2026-03-30; both ends cut by the window
    expect(weeks.buckets.map((b) => [b.start.slice(0, 10), b.count, b.cumulativeCount, b.partial])).toEqual([
      ['2026-03-30', 1, 4, true],
      ['2026-04-06', 1, 5, false],
      ['2026-04-13', 0, 5, true],
    ]);
    await expect(run(getTrend, LATEST, { from: '2026-04-15T00:00:00Z', to: '2026-04-01T00:00:00Z' })).rejects.toSatisfy(
      (err) => isQueryError(err, 'invalid_params'),
    );
  });
});

describe('getClientAnalysis', () => {
  it('computes per-client figures, concentration, exclusivity and flags', async () => {
    const analysis = await run(getClientAnalysis, LATEST);
    // Counted: A×3, B, D, E (C's only feedback is revoked). N = 6, K = 4, Σn² = 12.
    expect(analysis).toMatchObject({
      feedbackCount: 6,
      clientCount: 4,
      repeatClients: 1,
      hhi: '0.333333',
      effectiveClients: '3.000000',
      topClientShare: '0.500000', // exactly half: not dominant
      top5Share: '1.000000',
      exclusiveClientShare: '0.750000', // B, D, E rated no other agent; A rated agent 8
      flags: ['LOW_DIVERSITY', 'CONCENTRATED', 'EXCLUSIVE_CLIENTS'],
      clientsTotal: 5,
    });
    expect(analysis.clients).toEqual([
      {
        client: A,
        count: 3,
        revoked: 0,
        first: '2026-01-10T00:00:00.000Z',
        last: '2026-04-10T00:00:00.000Z',
        mean: '63.166666666666666666', // 189.5 / 3
        exclusive: false,
      },
      {
        client: B,
        count: 1,
        revoked: 0,
        first: '2026-01-20T00:00:00.000Z',
        last: '2026-01-20T00:00:00.000Z',
        mean: '-12.34',
        exclusive: true,
      },
      {
        client: D,
        count: 1,
        revoked: 0,
        first: '2026-04-03T00:00:00.000Z',
        last: '2026-04-03T00:00:00.000Z',
        mean: '60',
        exclusive: true,
      },
      {
        client: E,
        count: 1,
        revoked: 0,
        first: '2026-05-01T00:00:00.000Z',
        last: '2026-05-01T00:00:00.000Z',
        mean: '100',
        exclusive: true,
      },
      {
        client: C,
        count: 0,
        revoked: 1,
        first: '2026-03-03T00:00:00.000Z',
        last: '2026-03-03T00:00:00.000Z',
        mean: null,
        exclusive: false,
      },
    ]);
    expect((await run(getClientAnalysis, LATEST, { limit: 2 })).clients.map((c) => c.client)).toEqual([A, B]);
  });

  it('answers as of an older block', async () => {
    // Counted: A×2, B, C. N = 4, K = 3, Σn² = 6.
    const analysis = await run(getClientAnalysis, OLDER);
    expect(analysis).toMatchObject({
      feedbackCount: 4,
      clientCount: 3,
      hhi: '0.375000',
      effectiveClients: '2.666666',
      topClientShare: '0.500000',
      exclusiveClientShare: '0.666666',
      flags: ['LOW_DIVERSITY', 'CONCENTRATED', 'EXCLUSIVE_CLIENTS'],
    });
  });
});

describe('compareToBaseline', () => {
  it('ranks the mean among the others with enough feedback and shrinks it toward theirs', async () => {
    const baseline = await run(compareToBaseline, LATEST);
    // Population: agents 8 (30, n 5), 9 (75, n 6), 11 (90, n 5); agent 10 (2 feedback) is out.
    expect(baseline).toEqual({
      metric: 'mean',
      higherIsBetter: true,
      minFeedback: 5,
      agent: { value: '56.193333333333333333', sampleSize: 6, eligible: true },
      population: { size: 3, mean: '65', p25: '52.5', median: '75', p75: '82.5', medianSampleSize: '5' },
      percentileRank: '33.333333', // one of three below
      shrunkValue: '60.196363636363636363', // (5·65 + 6·56.193333333333333333) / 11
    });
  });

  it('ranks the mean latest validation response, per responded request', async () => {
    const validation = await run(compareToBaseline, LATEST, { metric: 'validationAvg', minFeedback: 1 });
    // 7: (100 + 50)/2 = 75 over 2; 8: 80 over 1; 9: (60 + 40)/2 = 50 over 2.
    expect(validation).toEqual({
      metric: 'validationAvg',
      higherIsBetter: true,
      minFeedback: 1,
      agent: { value: '75', sampleSize: 2, eligible: true },
      population: { size: 2, mean: '65', p25: '57.5', median: '65', p75: '72.5', medianSampleSize: '1.5' },
      percentileRank: '50.000000',
      shrunkValue: '70.714285714285714285', // (1.5·65 + 2·75) / 3.5
    });
    // As of OLDER nothing was validated yet.
    const before = await run(compareToBaseline, OLDER, { metric: 'validationAvg', minFeedback: 1 });
    expect(before.agent).toEqual({ value: null, sampleSize: 0, eligible: false });
    expect(before.population.size).toBe(0);
  });

  it('ranks HHI lower-is-better, scopes by tag1 and answers as of an older block', async () => {
    const hhi = await run(compareToBaseline, LATEST, { metric: 'hhi' });
    // 7: 12/36; 8: 7/25; 9: 1/6; 11: 1 — only agent 11 is more concentrated.
    expect(hhi.agent.value).toBe('0.333333333333333333');
    expect(hhi.population).toMatchObject({ size: 3, median: '0.28' });
    expect(hhi.percentileRank).toBe('33.333333');
    expect(hhi.shrunkValue).toBeNull();

    const quality = await run(compareToBaseline, LATEST, { tag1: 'quality' });
    expect(quality.population).toMatchObject({ size: 2, mean: '60' }); // agent 9's feedback is tagged uptime

    const older = await run(compareToBaseline, OLDER, { minFeedback: 2 });
    // As of OLDER: 7 has 95, −12.34, 85, 80 (C not yet revoked); 8 (30), 9 (75), 10 (100); 11 not yet rated.
    expect(older.agent).toEqual({ value: '61.915', sampleSize: 4, eligible: true });
    expect(older.population).toMatchObject({ size: 3, median: '75' });
    expect(older.percentileRank).toBe('33.333333');
  });
});

describe('agentAggregates', () => {
  it('reads the chain once per block, hash and scope', async () => {
    let queries = 0;
    const counting = { query: (...args: Parameters<typeof db.pool.query>) => (queries++, db.pool.query(...args)) };
    const asOf = { chainId: CHAIN, asOfBlock: LATEST - 1, asOfBlockHash: blockHash(LATEST - 1) };
    const first = await agentAggregates(counting as unknown as Queryable, asOf, { tag1: 'quality' });
    expect(await agentAggregates(counting as unknown as Queryable, asOf, { tag1: 'quality' })).toBe(first);
    expect(queries).toBe(1);
    // A reorg below the block changes its hash: read again.
    await agentAggregates(
      counting as unknown as Queryable,
      { ...asOf, asOfBlockHash: blockHash(LATEST - 1, 1) },
      {
        tag1: 'quality',
      },
    );
    await agentAggregates(counting as unknown as Queryable, asOf, { tag1: 'uptime' });
    expect(queries).toBe(3);
    expect(first.find((a) => a.agentId === AGENT)).toEqual({
      agentId: AGENT,
      count: 6,
      wadSum: 33716n * 10n ** 16n, // 337.16
      clients: 4,
      sumOfSquaredClientCounts: 12n,
    });
  });
});

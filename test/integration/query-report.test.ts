/**
 * getReputationReport over a scripted event log: the signals and rates it raises (worked out by hand in the
 * comments), that it composes the other tools' answers, reports progress, and is byte-reproducible.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/queries/canonical-json.js';
import { QueryService } from '../../src/queries/service.js';
import type { QueryContext } from '../../src/queries/tool.js';
import { compareToBaseline } from '../../src/queries/tools/compare-to-baseline.js';
import { getClientAnalysis } from '../../src/queries/tools/get-client-analysis.js';
import { getReputationReport, REPORT_VERSION } from '../../src/queries/tools/get-reputation-report.js';
import { getReputationSummary } from '../../src/queries/tools/get-reputation-summary.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';
import { blockAt, datedFeedback, runTool, validationRequest, validationResponse } from '../helpers/dated-feedback.js';
import { address, blockHash, bytes32, ScriptedChain } from '../helpers/scripted-events.js';

const CHAIN = 31337;
const AGENT = '7';
const [A, B, C, D] = [0xa, 0xb, 0xc, 0xd].map(address) as [string, string, string, string];
const VALIDATOR = address(0x77);
const LATEST = blockAt('2026-06-30');
const OLDER = blockAt('2026-05-15');

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  const chain = new ScriptedChain(db.pool, CHAIN);
  const feedback = datedFeedback(chain);
  // Prior 90 days (from 2026-03-02): six 90s from A, B, C in turn.
  for (const [day, client] of [A, B, C, A, B, C].entries()) await feedback(`2026-04-0${day + 1}`, AGENT, client, '90');
  // Two revoked (C's 50, A's 10): 2 of 13 feedback revoked.
  await feedback('2026-04-10', AGENT, C, '50');
  await chain.revoke(blockAt('2026-04-11'), { agentId: AGENT, client: C, index: 3 });
  await feedback('2026-04-12', AGENT, A, '10');
  await chain.revoke(blockAt('2026-04-13'), { agentId: AGENT, client: A, index: 3 });
  // One failed validation.
  const requestHash = bytes32(0x1234);
  await validationRequest(chain, '2026-05-01', AGENT, VALIDATOR, requestHash);
  await validationResponse(chain, '2026-05-02', { agentId: AGENT, validator: VALIDATOR, hash: requestHash }, 30);
  // Last 30 days (from 2026-05-31): five 80s — more than one σ (0) below 90.
  for (const [day, client] of [A, B, C, A, B].entries()) await feedback(`2026-06-1${day}`, AGENT, client, '80');
  await chain.respond(blockAt('2026-06-16'), { agentId: AGENT, client: A, index: 1, responder: address(0x99) });
  // A reorg removed D's feedback: D is never a client.
  await chain.retract(await feedback('2026-06-15', AGENT, D, '0'));
  // Agent 8 (the population): A rates it too, so only B and C are exclusive to agent 7.
  for (const [i, client] of [A, address(0x81), address(0x82), address(0x83), address(0x84)].entries()) {
    await feedback(`2026-02-0${i + 1}`, '8', client, '70');
  }
  await feedback('2026-06-30', '9', address(0x90), '1'); // the latest event: LATEST's as-of time
  // The indexer's checkpoint, the default as-of block.
  await db.pool.query(`INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, $2, $3)`, [
    CHAIN,
    LATEST,
    blockHash(LATEST),
  ]);
});

afterAll(async () => {
  await db?.drop();
});

const context = (asOfBlock: number, progress?: QueryContext['progress']): QueryContext => ({
  db: db.pool,
  asOf: { chainId: CHAIN, asOfBlock, asOfBlockHash: blockHash(asOfBlock) },
  agentId: AGENT,
  progress,
});

const run = runTool;

describe('getReputationReport', () => {
  it('raises the signals the figures call for, with a confidence level and rates', async () => {
    const report = await run(getReputationReport, context(LATEST));
    expect(report.reportVersion).toBe(REPORT_VERSION);
    expect(report.inputsHash).toMatch(/^[0-9a-f]{64}$/);
    expect(report.confidence).toBe('low'); // three clients
    expect(report.signals).toEqual([
      { code: 'RECENT_DECLINE', figures: { recentCount: 5, priorCount: 6, recentMean: '80', priorMean: '90' } },
      { code: 'HIGH_REVOCATION', figures: { revokedCount: 2, revocationRate: '0.153846' } }, // 2/13
      { code: 'FAILED_VALIDATIONS', figures: { failedValidations: 1, validationRequests: 1 } },
      { code: 'LOW_DIVERSITY', figures: { clientCount: 3 } },
      { code: 'CONCENTRATED', figures: { hhi: '0.338842', clientCount: 3 } }, // (4² + 4² + 3²)/11²
      { code: 'EXCLUSIVE_CLIENTS', figures: { exclusiveClientShare: '0.666666' } }, // B and C
    ]);
    expect(report.rates).toEqual({ responseRate: '0.090909', revocationRate: '0.153846' }); // 1/11, 2/13
    expect(report.summary).toMatchObject({ count: 11, revokedCount: 2, mean: '85.454545454545454545' }); // 940/11
    expect(report.validations).toMatchObject({ requests: 1, responded: 1, passRate50: '0' });
    expect(report.trend12Months.buckets).toHaveLength(12);
    expect(report.trend12Months.buckets.map((b) => [b.start.slice(0, 7), b.count]).slice(-4)).toEqual([
      ['2026-03', 0],
      ['2026-04', 6],
      ['2026-05', 0],
      ['2026-06', 5],
    ]);
    expect(report.trend30Days.buckets).toHaveLength(30);
    expect(report.trend30Days.buckets.reduce((s, b) => s + b.count, 0)).toBe(5);
    expect(report.profile.registered).toBe(false); // no identity events in this script
  });

  it('composes the other tools’ answers', async () => {
    const ctx = context(LATEST);
    const report = await run(getReputationReport, ctx);
    expect(report.summary).toEqual(await run(getReputationSummary, ctx));
    expect(report.clients).toEqual(await run(getClientAnalysis, ctx, { limit: 10 }));
    expect(report.baseline).toEqual(await run(compareToBaseline, ctx));
    expect(report.baseline).toMatchObject({ population: { size: 1, mean: '70' }, percentileRank: '100.000000' });
  });

  it('reports progress part by part', async () => {
    const seen: { done: number; total: number }[] = [];
    await run(
      getReputationReport,
      context(LATEST, ({ done, total }) => seen.push({ done, total })),
    );
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7].map((done) => ({ done, total: 7 })));
  });

  it('gives the same bytes for the same inputs, and another inputsHash for others', async () => {
    const first = canonicalJson(await run(getReputationReport, context(LATEST)));
    const second = canonicalJson(await run(getReputationReport, context(LATEST)));
    expect(second).toBe(first);

    const older = await run(getReputationReport, context(OLDER));
    expect(older.inputsHash).not.toBe(JSON.parse(first).inputsHash);
    // As of OLDER: the six 90s only (both revocations had happened): a small sample, no decline yet.
    expect(older.summary).toMatchObject({ count: 6, revokedCount: 2 });
    expect(older.signals.map((s) => s.code)).toEqual([
      'LOW_SAMPLE',
      'HIGH_REVOCATION',
      'FAILED_VALIDATIONS',
      'LOW_DIVERSITY',
      'CONCENTRATED', // A, B, C twice each: HHI 1/3
      'EXCLUSIVE_CLIENTS',
    ]);
    const legacy = await run(getReputationReport, context(LATEST), { abiVersion: 'v0.4' });
    expect(legacy.inputsHash).not.toBe(JSON.parse(first).inputsHash);
  });

  it('answers through the query service with progress, and from its cache with the same bytes', async () => {
    const service = new QueryService({
      pool: db.pool,
      logger: testLogger,
      prices: { 0: '0.001', 1: '0.01', 2: '0.05', 3: '0.2' },
      planOf: async () => 'free',
      tools: [getReputationReport],
    });
    const ask = (progress?: QueryContext['progress']) => {
      const paymentId = randomUUID();
      return service.call({
        tool: 'getReputationReport',
        input: { chainId: CHAIN, agentId: AGENT },
        payer: { kind: 'x402', payer: address(0xaa), paymentId },
        requestId: paymentId,
        surface: 'x402',
        progress,
      });
    };
    const seen: number[] = [];
    const first = await ask(({ done }) => seen.push(done));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(first.answer).toMatchObject({ asOfBlock: LATEST, asOfBlockHash: blockHash(LATEST) });
    expect(canonicalJson(first.answer.data)).toBe(canonicalJson(await run(getReputationReport, context(LATEST))));
    const again = await ask();
    expect(again.billing.cache).toBe('hit');
    expect(canonicalJson(again.answer)).toBe(canonicalJson(first.answer));
  });
});

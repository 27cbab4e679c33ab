/**
 * End to end: feedback on anvil → indexer → relay → trigger workflow → matches recorded; and the backtest (domain
 * function and CLI) finds exactly the same firings over the same blocks.
 */
import { spawn } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainIndexer } from '../../src/indexer/chain-indexer.js';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { runBacktest } from '../../src/triggers/backtest.js';
import { TriggerService } from '../../src/triggers/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let db: TestDatabase;
let chain: TestChain;
let temporal: TestTemporal;
let service: TriggerService;
const controller = new AbortController();
const running: Promise<void>[] = [];
let orgId: string;
let userId: string;

beforeAll(async () => {
  [db, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  temporal = await startTestTemporal(db, 'e2e');
  const { taskQueue, client } = temporal;
  service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger });
  const indexer = new ChainIndexer({
    chain: chain.config,
    pool: db.pool,
    logger: testLogger,
    signal: controller.signal,
  });
  const relay = new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    logger: testLogger,
    idlePollMs: 200,
    dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger }),
  });
  running.push(indexer.run(), relay.run(controller.signal));
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  controller.abort();
  await Promise.all(running);
  await temporal?.close();
  await chain?.stop();
  await db?.drop();
});

describe('events on a chain reach trigger workflows', () => {
  it('fires the EMA trigger with hysteresis where the backtest says it would', { timeout: 120_000 }, async () => {
    const r = chain.registries;
    const [owner, clientA, clientB] = r.accounts as [Address, Address, Address];
    await r.register(owner, 'ipfs://agent-0');
    await r.register(owner, 'ipfs://agent-1');
    const id = await service.create({
      organizationId: orgId,
      userId,
      name: 'reputation falling',
      chainId: chain.config.chainId,
      registry: 'reputation',
      settings: { hysteresis: true },
      conditions: [
        { condition_type: 'event_type_equals', field: 'event_type', operator: '=', value: 'NewFeedback' },
        {
          condition_type: 'ema_threshold',
          field: 'value',
          operator: '<',
          value: '50',
          config: { window_size: 3, rearm_value: 60 },
        },
      ],
    });
    const fromBlock = Number(await r.publicClient.getBlockNumber({ cacheTime: 0 })) + 1;
    // Agent 0 falls, recovers past the re-arm value, falls again; agent 1 stays high.
    const agent0 = [80, 70, 20, 10, 30, 55, 95, 99, 10, 5];
    for (const [i, v] of agent0.entries()) {
      await r.giveFeedback(clientA, { agentId: 0n, value: BigInt(v * 100), valueDecimals: 2, tag1: 'q' });
      if (i % 3 === 0) await r.giveFeedback(clientB, { agentId: 1n, value: 90n, valueDecimals: 0 });
    }
    const toBlock = Number(await r.publicClient.getBlockNumber({ cacheTime: 0 }));
    // The live indexer catches up (it runs on its own, woken by new heads).
    for (const until = Date.now() + 30_000; Date.now() < until; await new Promise((res) => setTimeout(res, 50))) {
      const { rows } = await db.pool.query('SELECT last_block_number::int AS n FROM checkpoints WHERE chain_id = $1', [
        chain.config.chainId,
      ]);
      if ((rows[0]?.n ?? -1) >= toBlock) break;
    }

    const backtest = await runBacktest(db.pool, { triggerId: id, chainId: chain.config.chainId, fromBlock, toBlock });
    expect(backtest.firings.length).toBe(2);
    expect(backtest.firings.every((f) => f.agentKey === `${chain.config.chainId}:0`)).toBe(true);
    expect(backtest.suppressed.hysteresis).toBeGreaterThan(0);

    const expected = backtest.firings.map((f) => f.event.id);
    const deadline = Date.now() + 60_000;
    let recorded: string[] = [];
    while (Date.now() < deadline) {
      const { rows } = await db.pool.query(
        'SELECT event_id FROM trigger_matches WHERE trigger_id = $1 ORDER BY event_seq',
        [id],
      );
      recorded = rows.map((row) => row.event_id);
      if (recorded.length >= expected.length) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(recorded).toEqual(expected);

    // The CLI prints the same firings.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'backtest-'));
    try {
      const file = path.join(dir, 'definition.json');
      await writeFile(
        file,
        JSON.stringify({
          name: 'from a file',
          chainId: null,
          registry: 'reputation',
          settings: { hysteresis: true },
          conditions: [
            {
              key: 'ema',
              condition_type: 'ema_threshold',
              field: 'value',
              operator: '<',
              value: '50',
              config: { window_size: 3, rearm_value: 60 },
            },
          ],
        }),
      );
      for (const args of [
        ['--trigger', id],
        ['--definition', file],
      ]) {
        const out = await runCli(
          [
            ...args,
            '--chain',
            String(chain.config.chainId),
            '--from',
            String(fromBlock),
            '--to',
            String(toBlock),
            '--json',
          ],
          { DATABASE_URL: db.url },
        );
        expect(out.code, out.stderr).toBe(0);
        const json = JSON.parse(out.stdout) as { firings: { event: { id: string } }[] };
        expect(json.firings.map((f) => f.event.id)).toEqual(expected);
      }
      const bad = await runCli(['--chain', '1', '--from', '5', '--to', '1'], { DATABASE_URL: db.url });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('--trigger: give exactly one of --trigger and --definition');
      expect(bad.stderr).toContain('--to: must not be below --from');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/backtest.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', MIGRATE_ON_START: 'false', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

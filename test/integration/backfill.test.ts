/**
 * Backfills on a real anvil chain: exact results, resuming after `kill -9` with no gap and no duplicate, never reading
 * the blocks the live indexer reads, and ranges that shrink when the RPC refuses them.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keccak256, stringToHex, toHex, type Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackfill, BackfillRequestError, type BackfillProgress } from '../../src/indexer/backfill.js';
import { ChainIndexer } from '../../src/indexer/chain-indexer.js';
import { claimRange } from '../../src/indexer/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { startRpcProxy } from '../helpers/rpc-proxy.js';
import { testLogger } from '../helpers/logger.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let chain: TestChain;
let first: number;
let head: number;
const databases: TestDatabase[] = [];

async function freshDb() {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

beforeAll(async () => {
  chain = await startTestChain({ maxBlockRange: 1_000 });
  const r = chain.registries;
  const [owner, client] = r.accounts as [Address, Address];
  first = Number(chain.deployed.deployBlock);
  await r.register(owner, 'ipfs://agent');
  for (let i = 0; i < 30; i++) {
    await r.giveFeedback(client, { agentId: 0n, value: BigInt(i), valueDecimals: 0, tag1: `t${i}` });
    if (i % 10 === 0) await r.publicClient.request({ method: 'anvil_mine' as never, params: [toHex(3)] as never });
  }
  head = Number(await r.publicClient.getBlockNumber({ cacheTime: 0 }));
});

afterAll(async () => {
  await chain?.stop();
  for (const db of databases) await db.drop();
});

/** (block hash, log index) of the registry's ERC-8004 logs on the chain within [from, to]. */
async function chainKeys(from: number, to: number): Promise<string[]> {
  const logs = await chain.registries.publicClient.getLogs({
    address: chain.config.deployments.map((d) => d.address as Address),
    fromBlock: BigInt(from),
    toBlock: BigInt(to),
  });
  const skip = keccak256(stringToHex('MetadataUpdate(uint256)'));
  return logs
    .filter((l) => l.topics[0] !== skip)
    .map((l) => `${l.blockHash}:${l.logIndex}`)
    .sort();
}

async function storedKeys(db: TestDatabase): Promise<string[]> {
  const { rows } = await db.pool.query(`SELECT block_hash || ':' || log_index AS k FROM events WHERE chain_id = $1`, [
    chain.config.chainId,
  ]);
  return rows.map((r) => r.k).sort();
}

function runCli(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/backfill.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', MIGRATE_ON_START: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

describe('backfill', () => {
  it('writes exactly the events of the range and reports progress; a second run writes nothing', async () => {
    const db = await freshDb();
    const seen: BackfillProgress[] = [];
    const result = await runBackfill({
      chain: chain.config,
      pool: db.pool,
      logger: testLogger,
      from: first,
      to: head,
      chunkSize: 7,
      onProgress: (p) => seen.push(p),
    });
    expect(await storedKeys(db)).toEqual(await chainKeys(first, head));
    expect(result).toMatchObject({
      blocksDone: head - first + 1,
      blocksTotal: head - first + 1,
      eventsWritten: (await chainKeys(first, head)).length,
    });
    expect(seen.map((p) => p.blocksDone)).toEqual([...seen.map((p) => p.blocksDone)].sort((a, b) => a - b));
    expect(seen.at(-1)!.etaSeconds).toBe(0);

    const again = await runBackfill({ chain: chain.config, pool: db.pool, logger: testLogger, from: first, to: head });
    expect(again.eventsWritten).toBe(0);
    const { rows } = await db.pool.query(
      `SELECT from_block::int, to_block::int, state FROM ingest_ranges WHERE chain_id = $1`,
      [chain.config.chainId],
    );
    expect(rows).toEqual([{ from_block: first, to_block: head, state: 'done' }]);
  });

  it("takes over a dead process's expired claim, and leaves a live claim alone", async () => {
    const db = await freshDb();
    const chainId = chain.config.chainId;
    await db.pool.query(
      `INSERT INTO ingest_ranges (chain_id, from_block, to_block, state, owner, lease_expires_at) VALUES
         ($1, 10, 19, 'claimed', 'dead-backfill', now() - interval '1 second'),
         ($1, 20, 29, 'claimed', 'live-backfill', now() + interval '1 hour')`,
      [chainId],
    );
    const segments = await claimRange(db.pool, chainId, { from: 10, to: 29 }, 'me', 60_000);
    expect(segments).toEqual([
      { from: 10, to: 19, status: 'mine' },
      { from: 20, to: 29, status: 'busy' },
    ]);
    const { rows } = await db.pool.query(
      `SELECT from_block::int, to_block::int, owner FROM ingest_ranges WHERE chain_id = $1 ORDER BY from_block`,
      [chainId],
    );
    expect(rows).toEqual([
      { from_block: 10, to_block: 19, owner: 'me' },
      { from_block: 20, to_block: 29, owner: 'live-backfill' },
    ]);
  });

  it('refuses ranges beyond the confirmed head or upside down', async () => {
    const db = await freshDb();
    await expect(
      runBackfill({ chain: chain.config, pool: db.pool, logger: testLogger, from: 0, to: head + 100 }),
    ).rejects.toThrow(BackfillRequestError);
    await expect(
      runBackfill({ chain: chain.config, pool: db.pool, logger: testLogger, from: 10, to: 5 }),
    ).rejects.toThrow(/below --from/);
    expect(await storedKeys(db)).toEqual([]);
  });

  it('resumes after kill -9 with no gap and no duplicate', { timeout: 120_000 }, async () => {
    const db = await freshDb();
    const slow = await startRpcProxy(chain.anvil.rpcUrl, { delayMs: 40 });
    try {
      const env = {
        DATABASE_URL: db.url,
        CHAINS: JSON.stringify([{ ...chain.config, rpcUrl: slow.url, wsUrl: undefined, maxBlockRange: 2 }]),
      };
      const args = ['--chain', String(chain.config.chainId), '--from', String(first), '--to', String(head)];
      const killed = runCli(args, env);
      // Wait until some, but not all, of the range is written, then kill without any chance to clean up.
      for (;;) {
        const { rows } = await db.pool.query(
          `SELECT coalesce(sum(to_block - from_block + 1), 0)::int AS n FROM ingest_ranges WHERE state = 'done'`,
        );
        if (rows[0].n >= 6) break;
        if (killed.child.exitCode !== null)
          throw new Error(`backfill ended before it could be killed:\n${killed.output()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      killed.child.kill('SIGKILL');
      await killed.exited;
      const partial = await storedKeys(db);
      const expected = await chainKeys(first, head);
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.length).toBeLessThan(expected.length);

      const resumed = runCli(args, env);
      expect(await resumed.exited, resumed.output()).toBe(0);
      expect(resumed.output()).toMatch(/100\.0%/);
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n, count(DISTINCT (block_hash, log_index))::int AS distinct_n FROM events WHERE chain_id = $1`,
        [chain.config.chainId],
      );
      expect(rows[0]).toEqual({ n: expected.length, distinct_n: expected.length });
      expect(await storedKeys(db)).toEqual(expected);
    } finally {
      await slow.stop();
    }
  });

  it('and the live indexer never read the same blocks', async () => {
    const db = await freshDb();
    const backfillRpc = await startRpcProxy(chain.anvil.rpcUrl, { delayMs: 5 });
    const liveRpc = await startRpcProxy(chain.anvil.rpcUrl, { delayMs: 5 });
    try {
      const mid = first + Math.floor((head - first) / 2);
      const backfill = runBackfill({
        chain: { ...chain.config, rpcUrl: backfillRpc.url, maxBlockRange: 3 },
        pool: db.pool,
        logger: testLogger,
        from: first,
        to: mid,
      });
      const live = new ChainIndexer({
        chain: { ...chain.config, rpcUrl: liveRpc.url, maxBlockRange: 4 },
        pool: db.pool,
        logger: testLogger,
      });
      // The live indexer runs until it has caught up to the head, waiting on blocks the backfill holds.
      for (let i = 0; i < 200; i++) {
        const checkpoint = await live.tick();
        if (checkpoint?.blockNumber === head) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await backfill;
      expect(await storedKeys(db)).toEqual(await chainKeys(first, head));
      const blocksOf = (ranges: [number, number][]) =>
        new Set(ranges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i)));
      const byBackfill = blocksOf(backfillRpc.logRanges);
      const byLive = blocksOf(liveRpc.logRanges);
      expect([...byBackfill].filter((b) => byLive.has(b))).toEqual([]);
      expect(byBackfill.size + byLive.size).toBe(head - first + 1);
    } finally {
      await backfillRpc.stop();
      await liveRpc.stop();
    }
  });

  it('shrinks its log ranges when the RPC refuses them', async () => {
    const db = await freshDb();
    const picky = await startRpcProxy(chain.anvil.rpcUrl);
    picky.failWith = {
      match: (method, params) => {
        if (method !== 'eth_getLogs') return false;
        const [f] = params as [{ fromBlock: string; toBlock: string }];
        return Number(f.toBlock) - Number(f.fromBlock) + 1 > 4;
      },
      message: 'query returned more than 10000 results. Try with this block range [0x1, 0x4].',
    };
    try {
      await runBackfill({
        chain: { ...chain.config, rpcUrl: picky.url, maxBlockRange: 64 },
        pool: db.pool,
        logger: testLogger,
        from: first,
        to: head,
      });
      expect(await storedKeys(db)).toEqual(await chainKeys(first, head));
      const accepted = picky.logRanges.filter(([a, b]) => b - a + 1 <= 4);
      expect(accepted.length).toBeGreaterThan(0);
    } finally {
      await picky.stop();
    }
  });

  it('the CLI explains bad arguments and an unknown chain, and writes nothing', async () => {
    const db = await freshDb();
    const env = { DATABASE_URL: db.url, CHAINS: JSON.stringify([chain.config]) };
    const badBlock = runCli(['--chain', String(chain.config.chainId), '--from', 'yesterday'], env);
    expect(await badBlock.exited).toBe(1);
    expect(badBlock.output()).toContain('--from: ');
    const unknown = runCli(['--chain', '999', '--from', '0'], env);
    expect(await unknown.exited).toBe(1);
    expect(unknown.output()).toContain('--chain: chain 999 is not configured');
    expect(await storedKeys(db)).toEqual([]);
  });
});

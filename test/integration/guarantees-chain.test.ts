/**
 * README guarantees of the live indexer on a real anvil that no other test would notice breaking: with a `wsUrl`, a new
 * head wakes the indexer at once (the poll interval here is ten minutes), and the block hashes kept for finding a
 * reorg's common ancestor are pruned to a window that still lets a reorg inside it retract only what it orphaned.
 *
 * Beyond the window (a reorg deeper than every stored hash) the indexer finds no common ancestor: it retracts every
 * event of the chain and reads again from the deployments' first block — see reorg.test.ts, "a reorg deeper than the
 * stored hashes retracts everything and re-reads from the start block".
 */
import { keccak256, stringToHex, toHex, type Address } from 'viem';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { ProcessContext } from '../../src/runtime.js';
import { ChainIndexer } from '../../src/indexer/chain-indexer.js';
import { startIndexers } from '../../src/services.js';
import { startTestChain, testIndexer, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

/** As in src/indexer/chain-indexer.ts: hashes kept behind the checkpoint, and blocks between two prunings. */
const HASH_WINDOW = 2_048;
const PRUNE_EVERY = 32;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(options: { maxBlockRange?: number } = {}): Promise<{ db: TestDatabase; chain: TestChain }> {
  const [db, chain] = await Promise.all([createTestDatabase(), startTestChain(options)]);
  cleanups.push(
    () => db.drop(),
    () => chain.stop(),
  );
  return { db, chain };
}

const eventCount = async (db: TestDatabase, tag: string) =>
  Number((await db.pool.query('SELECT count(*) FROM canonical_events WHERE tag1 = $1', [tag])).rows[0].count);

describe('indexer guarantees', () => {
  it(
    'a block mined while the indexer waits out a ten-minute poll interval is indexed at once through the WebSocket head subscription',
    { timeout: 60_000 },
    async () => {
      const { db, chain } = await setUp();
      const [owner, client] = chain.registries.accounts as [Address, Address];
      await chain.registries.register(owner, 'ipfs://agent');
      // The production wiring (startIndexers subscribes to new heads over wsUrl), with a poll interval no test outlives.
      const shutdown: (() => Promise<void>)[] = [];
      const failures: unknown[] = [];
      const ctx: ProcessContext = {
        config: loadConfig({}),
        logger: testLogger,
        onShutdown: (_name, step) => shutdown.push(step),
        shutdownRequested: new Promise(() => undefined),
        fail: (_component, err) => failures.push(err),
        restartFailedComponents: false,
        trackChild: () => undefined,
      };
      startIndexers(ctx, db.pool, [{ ...chain.config, pollIntervalMs: 600_000 }]);
      cleanups.push(async () => {
        for (const step of shutdown.reverse()) await step();
      });
      // Its first pass (at start) is done: the checkpoint is at the head. From now on only a wake-up makes it read again.
      const head = Number(await chain.registries.publicClient.getBlockNumber());
      await eventually(
        async () =>
          (
            await db.pool.query('SELECT last_block_number::float8 AS n FROM checkpoints WHERE chain_id = $1', [
              chain.config.chainId,
            ])
          ).rows[0]?.n,
        (n) => n === head,
        15_000,
      );

      await chain.registries.giveFeedback(client, { agentId: 0n, value: 77n, valueDecimals: 0, tag1: 'woken' });
      await eventually(
        () => eventCount(db, 'woken'),
        (n) => n === 1,
        15_000,
      );
      expect(failures).toEqual([]);
    },
  );

  it(
    'a shutdown that arrives while a pass is running stops the indexer when that pass ends, not after the poll interval',
    { timeout: 60_000 },
    async () => {
      const { db, chain } = await setUp();
      const stop = new AbortController();
      // The pass ends normally (the abort reaches it after its last RPC call): the loop must notice the abort it missed.
      class ShutdownDuringPass extends ChainIndexer {
        override async tick() {
          const checkpoint = await super.tick();
          stop.abort();
          return checkpoint;
        }
      }
      const indexer = new ShutdownDuringPass({
        chain: { ...chain.config, pollIntervalMs: 600_000 },
        pool: db.pool,
        logger: testLogger,
        signal: stop.signal,
      });
      const outcome = await Promise.race([
        indexer.run().then(() => 'stopped'),
        new Promise((resolve) => setTimeout(() => resolve('still waiting out the poll interval'), 10_000).unref()),
      ]);
      expect(outcome).toBe('stopped');
    },
  );

  it(
    'block hashes are pruned to the window, and a reorg inside it retracts only the orphaned events',
    { timeout: 120_000 },
    async () => {
      // Ranges of 64 blocks: a checkpoint hash every 64 blocks, as a live indexer following a chain stores them (sparser).
      const { db, chain } = await setUp({ maxBlockRange: 64 });
      const r = chain.registries;
      const [owner, client] = r.accounts as [Address, Address];
      const rpc = (method: string, params: unknown[]) =>
        r.publicClient.request({ method: method as never, params: params as never });
      await r.register(owner, 'ipfs://agent');
      await r.giveFeedback(client, { agentId: 0n, value: 1n, valueDecimals: 0, tag1: 'early' });
      const indexer = testIndexer(chain.config, db.pool);
      await indexer.tick();

      // In parts: mining thousands of blocks takes anvil seconds, longer than one RPC request may.
      for (let i = 0; i < 8; i++) await rpc('anvil_mine', [toHex((HASH_WINDOW + 200) / 8)]);
      await r.giveFeedback(client, { agentId: 0n, value: 2n, valueDecimals: 0, tag1: 'orphan' });
      await rpc('anvil_mine', [toHex(1)]);
      const checkpoint = (await indexer.tick())!.blockNumber;
      expect(await eventCount(db, 'orphan')).toBe(1);

      // Pruned: nothing older than the window (plus one pruning interval) is kept, and the window is still deep.
      const {
        rows: [kept],
      } = await db.pool.query<{ min: number; count: number }>(
        'SELECT min(block_number)::float8 AS min, count(*)::float8 AS count FROM indexed_blocks WHERE chain_id = $1',
        [chain.config.chainId],
      );
      expect(kept!.min).toBeGreaterThanOrEqual(checkpoint - HASH_WINDOW - PRUNE_EVERY);
      expect(kept!.min).toBeLessThanOrEqual(checkpoint - HASH_WINDOW + 64);

      // Replace the last 100 blocks (the orphan's among them) with empty ones: deeper than the 64 blocks between two
      // stored hashes, well inside the window.
      await rpc('anvil_reorg', [100, []]);
      await indexer.tick();

      expect(await eventCount(db, 'orphan')).toBe(0);
      expect(await eventCount(db, 'early')).toBe(1);
      // Only the orphan was retracted: the common ancestor was found among the kept hashes.
      const { rows: retracted } = await db.pool.query(
        'SELECT e.tag1 FROM event_retractions x JOIN events e ON e.ingest_seq = x.event_seq WHERE x.chain_id = $1',
        [chain.config.chainId],
      );
      expect(retracted.map((x) => x.tag1)).toEqual(['orphan']);
      // The canonical events are exactly the chain's registry logs.
      const metadataUpdate = keccak256(stringToHex('MetadataUpdate(uint256)'));
      const logs = await r.publicClient.getLogs({
        address: chain.config.deployments.map((d) => d.address as Address),
        fromBlock: 0n,
        toBlock: 'latest',
      });
      const onChain = logs
        .filter((l) => l.topics[0] !== metadataUpdate)
        .map((l) => `${l.blockHash}:${l.logIndex}`)
        .sort();
      const { rows: stored } = await db.pool.query(
        `SELECT block_hash || ':' || log_index AS k FROM canonical_events WHERE chain_id = $1`,
        [chain.config.chainId],
      );
      expect(stored.map((s) => s.k).sort()).toEqual(onChain);
    },
  );
});

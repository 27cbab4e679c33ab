/**
 * Reorgs on a real anvil: `anvil_reorg` (same height, other blocks) and `evm_snapshot`/`evm_revert` followed by a longer
 * fork. Afterwards `events` holds exactly the canonical chain's registry events plus the orphans, each with a retraction.
 */
import { encodeFunctionData, keccak256, stringToHex, toHex, type Address } from 'viem';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { canonicalEvents, startTestChain, testIndexer, type TestChain } from '../helpers/chain.js';

let db: TestDatabase;
let chain: TestChain;
let owner: Address, client: Address;

beforeEach(async () => {
  [db, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  [owner, client] = chain.registries.accounts as [Address, Address];
  await chain.registries.register(owner, 'ipfs://agent');
});
afterEach(async () => {
  await chain?.stop();
  await db?.drop();
});

/** (block hash, log index) of every registry log on the chain as it is now. */
async function chainLogKeys(): Promise<string[]> {
  const { publicClient } = chain.registries;
  const logs = await publicClient.getLogs({
    address: chain.config.deployments.map((d) => d.address as Address),
    fromBlock: 0n,
    toBlock: 'latest',
  });
  // Our indexer skips ERC-4906 MetadataUpdate (not an ERC-8004 event).
  const metadataUpdate = keccak256(stringToHex('MetadataUpdate(uint256)'));
  return logs
    .filter((l) => l.topics[0] !== metadataUpdate)
    .map((l) => `${l.blockHash}:${l.logIndex}`)
    .sort();
}

async function storedKeys(view: 'canonical_events' | 'events'): Promise<string[]> {
  const { rows } = await db.pool.query(`SELECT block_hash || ':' || log_index AS k FROM ${view} WHERE chain_id = $1`, [
    chain.config.chainId,
  ]);
  return rows.map((r) => r.k).sort();
}

async function retractedKeys(): Promise<string[]> {
  const { rows } = await db.pool.query(
    `SELECT e.block_hash || ':' || e.log_index AS k FROM event_retractions r JOIN events e ON e.ingest_seq = r.event_seq WHERE r.chain_id = $1`,
    [chain.config.chainId],
  );
  return rows.map((r) => r.k).sort();
}

function rpc(method: string, params: unknown[]) {
  return chain.registries.publicClient.request({ method: method as never, params: params as never });
}

describe('reorgs', () => {
  it('anvil_reorg: orphaned events are retracted and the replacement blocks are indexed', async () => {
    const r = chain.registries;
    await r.giveFeedback(client, { agentId: 0n, value: 10n, valueDecimals: 0, tag1: 'orphan-1' });
    await r.giveFeedback(client, { agentId: 0n, value: 20n, valueDecimals: 0, tag1: 'orphan-2' });
    const indexer = testIndexer(chain.config, db.pool);
    await indexer.tick();
    const before = await storedKeys('events');
    expect(before).toEqual(await chainLogKeys());

    // Replace the last two blocks with blocks carrying one different feedback.
    const data = encodeFunctionData({
      abi: r.artifacts.ReputationRegistry.abi,
      functionName: 'giveFeedback',
      args: [0n, 99n, 0, 'replacement', '', '', '', `0x${'00'.repeat(32)}`],
    });
    await rpc('anvil_reorg', [2, [[{ from: client, to: chain.deployed.reputation, data, gas: toHex(1_000_000) }, 0]]]);

    await indexer.tick();
    const canonical = await chainLogKeys();
    expect(await storedKeys('canonical_events')).toEqual(canonical);
    const orphaned = before.filter((k) => !canonical.includes(k));
    expect(orphaned.length).toBe(2);
    expect(await retractedKeys()).toEqual(orphaned.sort());
    // The log keeps everything: canonical rows plus the orphans.
    expect(await storedKeys('events')).toEqual([...canonical, ...orphaned].sort());
    const tags = (await canonicalEvents(db.pool, chain.config.chainId)).map((e) => e.tag1).filter(Boolean);
    expect(tags).toEqual(['replacement']);
    expect(indexer.stats.reorgs).toBe(1);
    expect(indexer.stats.retracted).toBe(2);
  });

  it('evm_revert to a snapshot and a longer fork: the shorter branch is retracted', async () => {
    const r = chain.registries;
    const snapshot = await rpc('evm_snapshot', []);
    await r.giveFeedback(client, { agentId: 0n, value: 1n, valueDecimals: 0, tag1: 'short-branch' });
    await r.validationRequest(owner, {
      validator: client,
      agentId: 0n,
      requestURI: 'ipfs://r',
      requestHash: keccak256(stringToHex('r')),
    });
    const indexer = testIndexer(chain.config, db.pool);
    await indexer.tick();
    const shortBranch = await storedKeys('events');

    expect(await rpc('evm_revert', [snapshot])).toBe(true);
    await r.giveFeedback(client, { agentId: 0n, value: 2n, valueDecimals: 0, tag1: 'long-branch' });
    await rpc('anvil_mine', [toHex(5)]);
    await r.giveFeedback(client, { agentId: 0n, value: 3n, valueDecimals: 0, tag1: 'long-branch-2' });

    await indexer.tick();
    const canonical = await chainLogKeys();
    expect(await storedKeys('canonical_events')).toEqual(canonical);
    const orphaned = shortBranch.filter((k) => !canonical.includes(k));
    expect(orphaned.length).toBe(2);
    expect(await retractedKeys()).toEqual(orphaned.sort());
    const tags = (await canonicalEvents(db.pool, chain.config.chainId)).map((e) => e.tag1).filter(Boolean);
    expect(tags).toEqual(['long-branch', 'long-branch-2']);
    // Retractions are numbered after the events they retract, in the one ingest order the relay follows.
    const { rows } = await db.pool.query(
      `SELECT bool_and(r.ingest_seq > r.event_seq) AS ordered FROM event_retractions r WHERE r.chain_id = $1`,
      [chain.config.chainId],
    );
    expect(rows[0].ordered).toBe(true);
  });

  it('a reorg deeper than the stored hashes retracts everything and re-reads from the start block', async () => {
    const indexer = testIndexer(chain.config, db.pool);
    await indexer.tick();
    await db.pool.query('DELETE FROM indexed_blocks WHERE chain_id = $1', [chain.config.chainId]);
    await db.pool.query(`UPDATE checkpoints SET last_block_hash = $2 WHERE chain_id = $1`, [
      chain.config.chainId,
      `0x${'ab'.repeat(32)}`,
    ]);
    const before = await storedKeys('events');
    await indexer.tick();
    // Everything was retracted and read again: the same (block hash, log index) pairs are canonical, the old rows retracted.
    expect(await storedKeys('canonical_events')).toEqual(await chainLogKeys());
    expect((await retractedKeys()).length).toBe(before.length);
    // Blocks that come back are appended as a new incarnation, never lost to the idempotency key.
    const { rows } = await db.pool.query('SELECT DISTINCT incarnation FROM canonical_events WHERE chain_id = $1', [
      chain.config.chainId,
    ]);
    expect(rows).toEqual([{ incarnation: 1 }]);
  });
});

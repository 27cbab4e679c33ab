/**
 * Parity: getReputationSummary's `onchain` equals ReputationRegistry.getSummary read by eth_call, case after case.
 *
 * Our registries run on anvil; a seeded PRNG writes feedback (negative values, 0–18 decimals, several clients and tags,
 * revocations) to two agents, with one reorg (evm_snapshot, a short branch that gets indexed, evm_revert and a longer
 * branch). The indexer writes it all into Postgres; then, for client subsets × tag filters × agents, at the head and
 * at an older block, the tool's answer and the contract's must be the same three numbers.
 */
import { getAddress, toHex, type Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAsOf } from '../../src/queries/as-of.js';
import { getReputationSummary } from '../../src/queries/tools/get-reputation-summary.js';
import { startTestChain, testIndexer, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const SEED = 0x8004;
const AGENTS = [0n, 1n];
const TAG1 = ['', 'quality', 'uptime'];
const TAG2 = ['', 'x', 'y'];

/** mulberry32: a small seeded PRNG, so a failing case replays exactly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  /** A signed value of 1 to ~30 digits (int128 holds 38), often small. */
  const value = (): bigint => {
    const digits = pick([1, 2, 3, 6, 12, 20, 30]);
    let v = 0n;
    for (let i = 0; i < digits; i++) v = v * 10n + BigInt(int(10));
    return int(2) ? -v : v;
  };
  return { int, pick, value };
}

let db: TestDatabase;
let chain: TestChain;
let clients: Address[];
let olderBlock: number;

/** What we wrote and not yet revoked, per (agent, client): 1-based feedback indexes. */
type Written = Map<string, { count: number; live: number[] }>;

async function writeFeedback(rand: ReturnType<typeof prng>, written: Written, operations: number) {
  const r = chain.registries;
  for (let i = 0; i < operations; i++) {
    const agentId = rand.pick(AGENTS);
    const client = rand.pick(clients);
    const key = `${agentId}:${client}`;
    const mine = written.get(key) ?? { count: 0, live: [] };
    written.set(key, mine);
    if (mine.live.length > 0 && rand.int(5) === 0) {
      const index = mine.live.splice(rand.int(mine.live.length), 1)[0]!;
      await r.revokeFeedback(client, agentId, BigInt(index));
      continue;
    }
    await r.giveFeedback(client, {
      agentId,
      value: rand.value(),
      valueDecimals: rand.int(19),
      tag1: rand.pick(TAG1),
      tag2: rand.pick(TAG2),
    });
    mine.count++;
    mine.live.push(mine.count);
  }
}

const copy = (written: Written): Written =>
  new Map([...written].map(([k, v]) => [k, { count: v.count, live: [...v.live] }]));

beforeAll(async () => {
  [db, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  const [owner, ...others] = chain.registries.accounts;
  clients = others.slice(0, 5);
  for (let i = 0; i < AGENTS.length; i++) await chain.registries.register(owner!, 'ipfs://agent');
  const rand = prng(SEED);
  let written: Written = new Map();
  const indexer = testIndexer(chain.config, db.pool);
  const rpc = (method: string, params: unknown[]) =>
    chain.registries.publicClient.request({ method: method as never, params: params as never });

  await writeFeedback(rand, written, 40);
  await indexer.tick();
  // The reorg: a short branch, indexed, then replaced by a longer one.
  const snapshot = await rpc('evm_snapshot', []);
  const atSnapshot = copy(written);
  await writeFeedback(rand, written, 8);
  await indexer.tick();
  expect(await rpc('evm_revert', [snapshot])).toBe(true);
  written = atSnapshot;
  await writeFeedback(rand, written, 6);
  await rpc('anvil_mine', [toHex(4)]);
  await indexer.tick();
  olderBlock = Number(await chain.registries.publicClient.getBlockNumber({ cacheTime: 0 }));
  await writeFeedback(rand, written, 20);
  await indexer.tick();
  const { rows } = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM event_retractions WHERE chain_id = $1',
    [chain.config.chainId],
  );
  expect(rows[0]!.n).toBeGreaterThan(0); // the reorg did retract indexed events
}, 120_000);

afterAll(async () => {
  await chain?.stop();
  await db?.drop();
});

async function compare(
  asOfBlock: number | undefined,
  agentId: bigint,
  subset: Address[] | undefined,
  tag1: string,
  tag2: string,
) {
  const { publicClient, artifacts } = chain.registries;
  const asOf = await resolveAsOf(db.pool, chain.config.chainId, asOfBlock, async (_chain, block) => {
    return (await publicClient.getBlock({ blockNumber: BigInt(block) })).hash ?? undefined;
  });
  const params = getReputationSummary.params.parse({ clients: subset, tag1, tag2 });
  const answer = await getReputationSummary.run({ db: db.pool, asOf, agentId: agentId.toString() }, params);
  const ours = answer.onchain.find((o) => o.registry === chain.deployed.reputation.toLowerCase());
  // The contract needs the client list: getClients(agentId) as of the same block, when no subset is asked.
  const blockNumber = BigInt(asOf.asOfBlock);
  const reputation = { address: chain.deployed.reputation, abi: artifacts.ReputationRegistry.abi } as const;
  const list =
    subset ??
    ((await publicClient.readContract({
      ...reputation,
      functionName: 'getClients',
      args: [agentId],
      blockNumber,
    })) as Address[]);
  const [count, summaryValue, summaryValueDecimals] = (await publicClient.readContract({
    ...reputation,
    functionName: 'getSummary',
    args: [agentId, list, tag1, tag2],
    blockNumber,
  })) as [bigint, bigint, number];
  const where = `agent ${agentId}, block ${asOf.asOfBlock}, clients ${subset?.length ?? 'all'}, tags '${tag1}'/'${tag2}'`;
  expect(
    { count: ours?.count ?? 0, value: ours?.summaryValue ?? '0', decimals: ours?.summaryValueDecimals ?? 0 },
    where,
  ).toEqual({ count: Number(count), value: summaryValue.toString(), decimals: summaryValueDecimals });
  return Number(count);
}

describe('getReputationSummary.onchain = ReputationRegistry.getSummary', () => {
  it('for every agent, tag filter and client subset, at the head and at an older block', async () => {
    const rand = prng(SEED + 1);
    let cases = 0;
    let nonEmpty = 0;
    for (const asOfBlock of [undefined, olderBlock]) {
      for (const agentId of AGENTS) {
        const subsets: (Address[] | undefined)[] = [undefined, [clients[0]!], clients.slice(1, 4)];
        for (let i = 0; i < 2; i++) subsets.push(clients.filter(() => rand.int(2) === 1).map((c) => getAddress(c)));
        for (const subset of subsets) {
          if (subset?.length === 0) continue;
          for (const tag1 of [...TAG1, 'absent']) {
            for (const tag2 of TAG2) {
              if ((await compare(asOfBlock, agentId, subset, tag1, tag2)) > 0) nonEmpty++;
              cases++;
            }
          }
        }
      }
    }
    expect(cases).toBeGreaterThanOrEqual(150);
    expect(nonEmpty).toBeGreaterThan(cases / 3); // most cases compare real averages, not (0, 0, 0)
  }, 60_000);
});

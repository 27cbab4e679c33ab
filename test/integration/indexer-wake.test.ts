/**
 * The live indexer's run loop and new heads (issue 15): a head announced while a pass runs is never dropped — it starts
 * a follow-up pass as soon as the pass ends, with the announced head (no eth_blockNumber round trip), and several heads
 * during one pass make one follow-up pass, to the newest. The poll interval here is ten minutes: only the announced
 * heads can start a pass within the test. The passes are stubbed (no chain); the singleton lock is the real one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChains, type ChainConfig } from '../../src/chain/config.js';
import { ChainIndexer } from '../../src/indexer/chain-indexer.js';
import type { Checkpoint } from '../../src/indexer/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';
import { until } from '../helpers/wait.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let chainId = 77_000;
function chain(): ChainConfig {
  return parseChains([
    {
      chainId: ++chainId,
      name: 'wake',
      rpcUrl: 'http://127.0.0.1:9',
      confirmations: 0,
      pollIntervalMs: 600_000,
      deployments: [
        {
          registry: 'reputation',
          address: '0x0000000000000000000000000000000000000001',
          abiVersion: 'v1.0',
          firstBlock: 0,
        },
      ],
    },
  ])[0]!;
}

/** An indexer whose passes only record the head they were given; the first pass announces `duringFirstPass`. */
class RecordingIndexer extends ChainIndexer {
  readonly passes: (number | undefined)[] = [];
  notify: (head?: number) => void = () => undefined;
  constructor(
    private readonly duringFirstPass: number[],
    signal: AbortSignal,
  ) {
    super({ chain: chain(), pool: db.pool, logger: testLogger, signal });
  }
  override async tick(knownHead?: number): Promise<Checkpoint | undefined> {
    this.passes.push(knownHead);
    if (this.passes.length === 1) {
      for (const head of this.duringFirstPass) {
        await sleep(20);
        this.notify(head);
      }
      await sleep(20);
    }
    return undefined;
  }
}

async function runWith(duringFirstPass: number[]) {
  const controller = new AbortController();
  const indexer = new RecordingIndexer(duringFirstPass, controller.signal);
  const run = indexer.run({
    wake: (notify) => {
      indexer.notify = notify;
      return () => undefined;
    },
  });
  return { indexer, controller, run };
}

describe('live indexer wake-ups', () => {
  it('starts a follow-up pass, with the announced head, for a head that arrived during a pass', async () => {
    const { indexer, controller, run } = await runWith([101]);
    await until(() => indexer.passes.length >= 2, 10_000);
    expect(indexer.passes).toEqual([undefined, 101]);
    controller.abort();
    await run;
  });

  it('makes one follow-up pass, to the newest, for several heads during a pass; the next head wakes it again', async () => {
    const { indexer, controller, run } = await runWith([201, 202, 203]);
    await until(() => indexer.passes.length >= 2, 10_000);
    await sleep(200);
    expect(indexer.passes).toEqual([undefined, 203]);
    // Waiting now (the poll is ten minutes away): a new head starts a pass at once.
    indexer.notify(204);
    await until(() => indexer.passes.length >= 3, 10_000);
    expect(indexer.passes).toEqual([undefined, 203, 204]);
    controller.abort();
    await run;
  });
});

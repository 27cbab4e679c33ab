/**
 * A reorg handled in one activation: with the worker down, the relay passes a reorg's retractions and its replacement
 * events to a trigger workflow, which sees them all in one drain when the worker is back. Each replacement must be
 * evaluated against the canonical events, never against the orphaned ones.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { retractAbove } from '../../src/indexer/store.js';
import { TriggerService } from '../../src/triggers/service.js';
import { startWorker, type RunningWorker } from '../../src/worker/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { testActionSettings } from '../helpers/actions.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let restarted: RunningWorker | undefined;
const chainId = 31337;

beforeAll(async () => {
  db = await createTestDatabase();
  temporal = await startTestTemporal(db, 'trigger-reorg');
  client = temporal.client;
});
afterAll(async () => {
  await restarted?.stop();
  await temporal?.close();
  await db?.drop();
});

it(
  'a reorg replacing two feedbacks with three, drained in one activation, fires on the fourth canonical feedback',
  { timeout: 120_000 },
  async () => {
    const { taskQueue } = temporal;
    const userId = await insertUser(db.pool);
    const organizationId = await insertOrganization(db.pool, userId);
    const service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger });
    const relay = new Relay({
      pool: db.pool,
      databaseUrl: db.url,
      logger: testLogger,
      dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger }),
    });
    const id = await service.create({
      organizationId,
      userId,
      name: 'burst',
      chainId,
      registry: 'reputation',
      settings: { hysteresis: true },
      conditions: [{ condition_type: 'rate_limit', operator: '>=', value: '4', config: { time_window: '60s' } }],
    });
    const t0 = 1_767_225_600;
    const feedback = (block: number, value: string) =>
      feedbackRecord({
        chain_id: chainId,
        block_number: block,
        timestamp: t0 + (block - 10) * 5,
        agent_id: '5',
        value,
      });
    const rateCount = async () => {
      const rate = Object.values((await service.state(id)).state.agents[`${chainId}:5`]?.conditions ?? {})[0];
      return rate?.kind === 'rate' ? rate.times.length : 0;
    };

    // Three feedbacks in blocks 10–12: below the threshold.
    await appendEvents(db.pool, [feedback(10, '1'), feedback(11, '2'), feedback(12, '3')]);
    await relay.catchUp();
    await eventually(rateCount, (n) => n === 3);

    // Worker down; a reorg of depth 2 orphans blocks 11 and 12 and the new branch carries three feedbacks (11–13).
    await temporal.worker.stop();
    await retractAbove(db.pool, chainId, { number: 10, hash: `0x${'00'.repeat(32)}` });
    const replacements = [feedback(11, '21'), feedback(12, '22'), feedback(13, '23')];
    await appendEvents(db.pool, replacements);
    expect(await relay.catchUp()).toBe(5);

    restarted = await startWorker({
      address: temporal.address,
      namespace: 'default',
      taskQueue,
      pool: db.pool,
      logger: testLogger,
      actions: testActionSettings(),
    });
    const canonical = await eventually(
      async () =>
        (await db.pool.query(`SELECT value FROM canonical_events WHERE agent_id = 5 ORDER BY ingest_seq`)).rows.map(
          (r) => r.value,
        ),
      (values) => values.length === 4,
    );
    expect(canonical).toEqual(['1', '21', '22', '23']);
    const fired = await eventually(
      async () =>
        (
          await db.pool.query(
            `SELECT e.value FROM trigger_matches m JOIN events e ON e.ingest_seq = m.event_seq WHERE m.trigger_id = $1 ORDER BY m.event_seq`,
            [id],
          )
        ).rows.map((r) => r.value),
      (values) => values.length > 0,
    );
    // The drain is over once the state holds the four canonical feedbacks; the firing was on the fourth one only.
    await eventually(rateCount, (n) => n === 4);
    expect(fired).toEqual(['23']);
    expect(
      await db.pool
        .query(`SELECT count(*)::int AS n FROM trigger_matches WHERE trigger_id = $1`, [id])
        .then((r) => r.rows[0].n),
    ).toBe(1);
  },
);

it(
  'a trigger with a start block re-folds an agent after a reorg from its history too, also in a later run of its workflow',
  { timeout: 120_000 },
  async () => {
    const taskQueue = `${temporal.taskQueue}-history`;
    const worker = await startWorker({
      address: temporal.address,
      namespace: 'default',
      taskQueue,
      pool: db.pool,
      logger: testLogger,
      actions: testActionSettings(),
    });
    try {
      const userId = await insertUser(db.pool);
      const organizationId = await insertOrganization(db.pool, userId);
      // A new run after every signal: the re-fold happens in a run that continued as new, not in the one that read the history.
      const service = new TriggerService({
        pool: db.pool,
        temporal: client,
        taskQueue,
        logger: testLogger,
        workflowOptions: { continueAsNewAfterSignals: 1 },
      });
      const relay = new Relay({
        pool: db.pool,
        databaseUrl: db.url,
        logger: testLogger,
        name: taskQueue,
        dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger }),
      });
      const t0 = 1_767_300_000;
      const feedback = (block: number, value: string) =>
        feedbackRecord({
          chain_id: chainId,
          block_number: block,
          timestamp: t0 + (block - 100) * 5,
          agent_id: '6',
          value,
        });
      // History from before the trigger existed: two feedbacks, read through settings.start_block.
      await appendEvents(db.pool, [feedback(100, '1'), feedback(101, '2')]);
      await relay.catchUp();
      const id = await service.create({
        organizationId,
        userId,
        name: 'burst with history',
        chainId,
        registry: 'reputation',
        settings: { start_block: 100 },
        conditions: [{ condition_type: 'rate_limit', operator: '>=', value: '4', config: { time_window: '60s' } }],
      });
      const rateCount = async () => {
        const rate = Object.values((await service.state(id)).state.agents[`${chainId}:6`]?.conditions ?? {})[0];
        return rate?.kind === 'rate' ? rate.times.length : 0;
      };
      await eventually(rateCount, (n) => n === 2);
      await appendEvents(db.pool, [feedback(102, '3')]);
      await relay.catchUp();
      await eventually(rateCount, (n) => n === 3);

      // A reorg orphans block 102; the new branch carries two feedbacks: history 100–101 plus 102' and 103' make four.
      await retractAbove(db.pool, chainId, { number: 101, hash: `0x${'00'.repeat(32)}` });
      await appendEvents(db.pool, [feedback(102, '32'), feedback(103, '33')]);
      await relay.catchUp();
      const fired = await eventually(
        async () =>
          (
            await db.pool.query(
              `SELECT e.value FROM trigger_matches m JOIN events e ON e.ingest_seq = m.event_seq WHERE m.trigger_id = $1 ORDER BY m.event_seq`,
              [id],
            )
          ).rows.map((r) => r.value),
        (values) => values.length > 0,
      );
      expect(fired).toEqual(['33']);
      expect(await rateCount()).toBe(4);
    } finally {
      await worker.stop();
    }
  },
);

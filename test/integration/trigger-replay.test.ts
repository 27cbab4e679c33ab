/**
 * Determinism guard: workflow histories replay against the current workflow code. Fresh histories are recorded on the
 * real server — a trigger's (events, a retraction, a config update, continue-as-new, delete), a delivery's (a failed
 * first attempt in a dispatcher batch, a retry, success) and the dispatcher's — and the histories committed in test/fixtures/histories (recorded with earlier code)
 * must still replay: a change that breaks them needs patched(). Re-record with RECORD_HISTORIES=1 only when the change
 * is meant to be incompatible and old runs are drained.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { retractAbove } from '../../src/indexer/store.js';
import { TriggerService } from '../../src/triggers/service.js';
import { triggerWorkflowId } from '../../src/triggers/search-attributes.js';
import { workflowBundle } from '../../src/worker/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { startWebhookReceiver } from '../helpers/receivers.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';
import { dispatcherWorkflowId } from '../../src/deliveries/ids.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/histories');
let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let taskQueue: string;

beforeAll(async () => {
  db = await createTestDatabase();
  temporal = await startTestTemporal(db, 'replay');
  ({ taskQueue, client } = temporal);
});
afterAll(async () => {
  await temporal?.close();
  await db?.drop();
});

it('a trigger workflow history recorded now replays deterministically', { timeout: 60_000 }, async () => {
  const userId = await insertUser(db.pool);
  const organizationId = await insertOrganization(db.pool, userId);
  const service = new TriggerService({
    pool: db.pool,
    temporal: client,
    taskQueue,
    logger: testLogger,
    workflowOptions: { continueAsNewAfterSignals: 1_000, snapshotEveryMs: 50 },
  });
  const relay = new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    logger: testLogger,
    dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger }),
  });
  const write = {
    organizationId,
    userId,
    name: 'replayed',
    chainId: 31337,
    registry: 'reputation' as const,
    settings: { cooldown_seconds: 60 },
    conditions: [
      { condition_type: 'ema_threshold', operator: '<', value: '50', config: { alpha: 0.5, rearm_value: 55 } },
    ],
  };
  const id = await service.create(write);
  let block = 10;
  for (const v of ['90', '40', '30', '70', '20']) {
    await appendEvents(db.pool, [
      feedbackRecord({ block_number: ++block, timestamp: 1_767_225_600 + block * 120, value: v }),
    ]);
    await relay.catchUp();
  }
  await retractAbove(db.pool, 31337, { number: block - 1, hash: `0x${'00'.repeat(32)}` });
  await relay.catchUp();
  await service.update(id, { ...write, conditions: [{ ...write.conditions[0]!, value: '45' }] });
  await service.state(id);
  await service.delete(id, organizationId);

  const history = await client.workflow.getHandle(triggerWorkflowId(id)).fetchHistory();
  expect(history.events?.length).toBeGreaterThan(20);
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle(testLogger) }, history);
  if (process.env.RECORD_HISTORIES === '1')
    await writeFile(path.join(FIXTURES, 'trigger-workflow.json'), historyToJSON(history));
});

it('a delivery workflow history recorded now replays deterministically', { timeout: 60_000 }, async () => {
  const hook = await startWebhookReceiver();
  try {
    hook.script({ status: 503 });
    const userId = await insertUser(db.pool);
    const organizationId = await insertOrganization(db.pool, userId);
    const service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger });
    const relay = new Relay({
      pool: db.pool,
      databaseUrl: db.url,
      logger: testLogger,
      name: 'delivery-replay',
      dispatcher: new TriggerDispatcher({
        pool: db.pool,
        temporal: client,
        taskQueue,
        logger: testLogger,
        dispatch: { dispatchers: 1 },
      }),
    });
    const id = await service.create({
      organizationId,
      userId,
      name: 'delivered',
      chainId: 31337,
      registry: 'reputation',
      conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '41' }],
      actions: [
        { action_type: 'rest', config: { url: hook.url, retry: { initial_interval_ms: 100, max_interval_ms: 200 } } },
      ],
    });
    await appendEvents(db.pool, [feedbackRecord({ block_number: 900, timestamp: 1_767_225_600, agent_id: '41' })]);
    await relay.catchUp();
    // The dispatcher's batch makes the first attempt (503) and hands the delivery to its own workflow to retry.
    const [row] = await eventually(
      async () =>
        (await db.pool.query<{ workflow_id: string }>('SELECT workflow_id FROM deliveries WHERE trigger_id = $1', [id]))
          .rows,
      (rows) => rows.length === 1 && rows[0]!.workflow_id.startsWith('delivery/'),
      30_000,
    );
    const handle = client.workflow.getHandle(row!.workflow_id);
    expect(await handle.result()).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(hook.requests).toHaveLength(2);
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(testLogger) }, history);
    const recordTo =
      process.env.RECORD_HISTORIES === '1' ? 'delivery-workflow.json' : process.env.RECORD_DELIVERY_HISTORY;
    if (recordTo) await writeFile(path.join(FIXTURES, recordTo), historyToJSON(history));

    // The dispatcher that made the first attempt: long-lived, its history so far replays too.
    const dispatcher = await client.workflow.getHandle(dispatcherWorkflowId(taskQueue, 0)).fetchHistory();
    expect(
      dispatcher.events?.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'pumpDeliveries'),
    ).toBe(true);
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(testLogger) }, dispatcher);
    if (process.env.RECORD_HISTORIES === '1')
      await writeFile(path.join(FIXTURES, 'delivery-dispatcher.json'), historyToJSON(dispatcher));
  } finally {
    await hook.close();
  }
});

it('committed histories still replay against the current workflow code', async () => {
  const files = (await readdir(FIXTURES)).filter((f) => f.endsWith('.json'));
  expect(files.length).toBeGreaterThan(0);
  for (const file of files) {
    const history = historyFromJSON(JSON.parse(await readFile(path.join(FIXTURES, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle(testLogger) }, history, file);
  }
});

it('the workflow bundle carries no schema library: every cached workflow instantiates all of its modules', async () => {
  const { code } = await workflowBundle(testLogger);
  const modules = [...code.matchAll(/^\/\*\*\*\/ "\.\/node_modules\/((?:@[^/]+\/)?[^/]+)\//gm)].map((m) => m[1]);
  // zod cost about 1 MiB per cached workflow (bench:triggers: 1.22 → 0.22 MiB); only the Temporal SDK belongs here.
  expect(new Set(modules)).not.toContain('zod');
  expect(modules.length).toBeGreaterThan(0);
  expect(
    [...new Set(modules)].every((m) => m!.startsWith('@temporalio/') || ['long', 'ms', 'nexus-rpc'].includes(m!)),
  ).toBe(true);
});

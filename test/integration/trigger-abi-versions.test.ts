/**
 * Legacy v0.4 feedback in a trigger workflow, end to end: the relay carries each event's ABI version to the workflow,
 * whose EMA counts v1.0 feedback only unless the condition opts in (engine rule 6, README "Trigger semantics").
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { TriggerService } from '../../src/triggers/service.js';
import type { TriggerWrite } from '../../src/triggers/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/wait.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';

let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let service: TriggerService;
let relay: Relay;
let orgId: string;
let userId: string;
const chainId = 31337;

beforeAll(async () => {
  db = await createTestDatabase();
  temporal = await startTestTemporal(db, 'trigger-abi');
  client = temporal.client;
  service = new TriggerService({ pool: db.pool, temporal: client, taskQueue: temporal.taskQueue, logger: testLogger });
  const dispatcher = new TriggerDispatcher({
    pool: db.pool,
    temporal: client,
    taskQueue: temporal.taskQueue,
    logger: testLogger,
  });
  relay = new Relay({ pool: db.pool, databaseUrl: db.url, logger: testLogger, dispatcher });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});
afterAll(async () => {
  await temporal?.close();
  await db?.drop();
});

let block = 100;
let ts = 1_767_225_600;
async function feed(...feedbacks: { value: string; abi: 'v1.0' | 'v0.4' }[]) {
  await appendEvents(
    db.pool,
    feedbacks.map((f) => {
      block++;
      ts += 60;
      return feedbackRecord({
        chain_id: chainId,
        block_number: block,
        timestamp: ts,
        agent_id: '3',
        value: f.value,
        value_decimals: 0,
        abi_version: f.abi,
      });
    }),
  );
  await relay.catchUp();
}

function emaTrigger(name: string, config: Record<string, unknown>): TriggerWrite {
  return {
    organizationId: orgId,
    userId,
    name,
    chainId,
    registry: 'reputation',
    conditions: [{ condition_type: 'ema_threshold', operator: '<', value: '60', config }],
  };
}

/** The EMA and how many feedbacks it counted, once the workflow has seen `events` events. */
async function emaAfter(id: string, events: number) {
  const view = await eventually(
    () => service.state(id),
    (v) => (v.seen.chains[chainId]?.recent.length ?? 0) >= events,
  );
  const cond = Object.values(view.state.agents[`${chainId}:3`]?.conditions ?? {})[0];
  return cond?.kind === 'ema' ? { ema: cond.ema, count: cond.count } : undefined;
}

async function firings(id: string) {
  const { rows } = await db.pool.query(
    `SELECT e.value::text AS value FROM trigger_matches m JOIN events e ON e.ingest_seq = m.event_seq WHERE m.trigger_id = $1 ORDER BY m.event_seq`,
    [id],
  );
  return rows.map((r) => r.value);
}

it('a v0.4 score in the middle of an agent series stays out of its v1.0 EMA and fires nothing; a condition that opts in counts it', async () => {
  const current = await service.create(emaTrigger('v1.0 series', { alpha: 0.5 }));
  const both = await service.create(emaTrigger('both series', { alpha: 0.5, abi_versions: ['v1.0', 'v0.4'] }));
  await feed({ value: '90', abi: 'v1.0' }, { value: '5', abi: 'v0.4' }, { value: '80', abi: 'v1.0' });

  // 90, then 80: 85. Counting the legacy 5 it would be 90 → 47.5 (fires) → 63.75.
  expect(await emaAfter(current, 3)).toEqual({ ema: 85, count: 2 });
  expect(await emaAfter(both, 3)).toEqual({ ema: 63.75, count: 3 });
  expect(
    await eventually(
      () => firings(both),
      (f) => f.length === 1,
    ),
  ).toEqual(['5']);
  expect(await firings(current)).toEqual([]);
});

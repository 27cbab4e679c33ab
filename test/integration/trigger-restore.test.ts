/**
 * A trigger workflow that starts without a carry restores its state (the latest trigger_state snapshot plus the events
 * after it), and every trigger shows its firings and a summary in the Temporal UI — on the real Temporal dev server,
 * fed through the real relay and dispatcher (with the in-memory candidate index).
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { TriggerService } from '../../src/triggers/service.js';
import { triggerWorkflowId } from '../../src/triggers/search-attributes.js';
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
let dispatcher: TriggerDispatcher;
let orgId: string;
let userId: string;
const chainId = 31337;

beforeAll(async () => {
  db = await createTestDatabase();
  temporal = await startTestTemporal(db, 'trigger-restore');
  client = temporal.client;
  service = new TriggerService({ pool: db.pool, temporal: client, taskQueue: temporal.taskQueue, logger: testLogger });
  dispatcher = new TriggerDispatcher({
    pool: db.pool,
    temporal: client,
    taskQueue: temporal.taskQueue,
    logger: testLogger,
    databaseUrl: db.url,
    showFiringsEveryMs: 200,
  });
  relay = new Relay({ pool: db.pool, databaseUrl: db.url, logger: testLogger, dispatcher });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  await dispatcher?.close();
  await temporal?.close();
  await db?.drop();
});

let block = 100;
let ts = 1_767_225_600;
async function feed(agent: string, ...values: string[]) {
  await appendEvents(
    db.pool,
    values.map((value) => {
      block++;
      ts += 60;
      return feedbackRecord({ chain_id: chainId, block_number: block, timestamp: ts, agent_id: agent, value });
    }),
  );
  await relay.catchUp();
}

const trigger = (name: string, conditions: TriggerWrite['conditions']): TriggerWrite => ({
  organizationId: orgId,
  userId,
  name,
  chainId,
  registry: 'reputation',
  conditions,
  actions: [{ action_type: 'rest', config: { url: 'https://hooks.example.com/ema?token=secret' } }],
});

/** The values of the events a trigger fired on, in order. */
async function firedValues(triggerId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ value: string }>(
    `SELECT e.value::text AS value FROM trigger_matches m JOIN events e ON e.ingest_seq = m.event_seq
     WHERE m.trigger_id = $1 ORDER BY m.event_seq`,
    [triggerId],
  );
  return rows.map((r) => r.value);
}

/** Waits until the trigger's workflow has evaluated everything sent to it (its seen-events mark reached the log's). */
async function settled(triggerId: string) {
  const { rows } = await db.pool.query<{ max: string }>('SELECT max(ingest_seq)::text AS max FROM events');
  await eventually(
    () => service.state(triggerId),
    (view) => view.seen.chains[String(chainId)]?.hwm === rows[0]!.max,
    20_000,
  );
}

describe('a stateful trigger whose workflow is terminated mid-series', () => {
  it('fires exactly where an uninterrupted one does: the new run restores the snapshot and the events after it', async () => {
    // EMA (alpha 0.5) below 50: 90 → 90, 40 → 65, 30 → 47.5 fires (snapshot), 90 → 68.75, 80 → 74.4; then 40 → 57.2
    // (an empty state would fire: 40; the snapshot alone would fire: 43.75), 20 → 38.6 fires.
    // Agent 1 only: the catch-up reads the events with the relay's prefilters (agent 2's would fire: a new EMA of 10).
    const ema = [
      { condition_type: 'agent_id_equals', operator: '=', value: '1' },
      { condition_type: 'ema_threshold', operator: '<', value: '50', config: { alpha: 0.5 } },
    ];
    const steady = await service.create(trigger('uninterrupted', ema));
    const restarted = await service.create(trigger('terminated', ema));
    await feed('1', '90', '40', '30', '90', '80');
    await settled(steady);
    await settled(restarted);
    expect(await firedValues(restarted)).toEqual(['30']);
    const snapshot = await db.pool.query<{ state_data: { version: number; position: string } }>(
      'SELECT state_data FROM trigger_state WHERE trigger_id = $1',
      [restarted],
    );
    // Written with the firing, not since: the events after it are what the new run must fold again.
    expect(snapshot.rows[0]?.state_data.version).toBe(2);

    await client.workflow.getHandle(triggerWorkflowId(restarted)).terminate('test: the worker lost it');
    // The relay's next signal starts a new run (signalWithStart), without a carry.
    await feed('2', '10');
    await feed('1', '40', '20');
    await settled(steady);
    await settled(restarted);
    expect(await firedValues(steady)).toEqual(['30', '20']);
    expect(await firedValues(restarted)).toEqual(await firedValues(steady));
    const [before, after] = await Promise.all([service.state(steady), service.state(restarted)]);
    // The same EMA state (under each trigger's own condition key).
    const conditionsOf = (view: typeof before) =>
      Object.values(view.state.agents[`${chainId}:1`]!.conditions).filter((c) => c.kind === 'ema');
    expect(conditionsOf(after)).toEqual(conditionsOf(before));
    expect(after.fired).toBe(2);
  });
});

describe('the Temporal UI', () => {
  const visible = (query: string) =>
    eventually(
      async () => {
        const ids: string[] = [];
        for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
        return ids;
      },
      (ids) => ids.length > 0,
      20_000,
    );

  it('finds the triggers that fired since a moment with LastFiredAt, also those the relay evaluates itself', async () => {
    const since = new Date(Date.now() - 1_000).toISOString();
    const stateful = await service.create(
      trigger('rate', [{ condition_type: 'rate_limit', operator: '>=', value: '2', config: { time_window: '1h' } }]),
    );
    const perEvent = await service.create(
      trigger('agent 2', [{ condition_type: 'agent_id_equals', operator: '=', value: '2' }]),
    );
    const quiet = await service.create(
      trigger('agent 3', [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }]),
    );
    await feed('2', '10', '20', '30');
    for (const id of [stateful, perEvent]) {
      const found = await visible(`WorkflowId = "${triggerWorkflowId(id)}" AND LastFiredAt > "${since}"`);
      expect(found).toEqual([triggerWorkflowId(id)]);
    }
    const counts = await visible(`WorkflowId = "${triggerWorkflowId(perEvent)}" AND FiringCount = 3`);
    expect(counts).toHaveLength(1);
    const fired = [];
    for await (const wf of client.workflow.list({ query: `LastFiredAt > "${since}"` })) fired.push(wf.workflowId);
    expect(fired).not.toContain(triggerWorkflowId(quiet));
    expect(dispatcher.indexedBatches).toBeGreaterThan(0);
  });

  it("shows each trigger's name, what it watches and its destinations (never a URL's secrets)", async () => {
    const id = await service.create(
      trigger('summarised', [{ condition_type: 'agent_id_equals', operator: '=', value: '4' }]),
    );
    const description = await client.workflow.getHandle(triggerWorkflowId(id)).describe();
    const summary = await description.staticSummary();
    const details = await description.staticDetails();
    expect(summary).toBe('Trigger "summarised": reputation events on chain 31337 → rest:hooks.example.com');
    expect(details).toContain('agent_id_equals = 4');
    expect(`${summary} ${details}`).not.toContain('secret');
  });
});

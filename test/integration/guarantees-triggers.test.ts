/**
 * README guarantees of the trigger workflows that no other test would notice breaking: `settings.start_block` reads the
 * stored history once per match (also across a worker restart and a workflow started over), and a worker that keeps
 * fewer workflows in its cache than there are triggers replays them from history with their state intact.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { SecretBox } from '../../src/secrets.js';
import { triggerWorkflowId } from '../../src/triggers/search-attributes.js';
import { TriggerService } from '../../src/triggers/service.js';
import type { RunningWorker } from '../../src/worker/worker.js';
import { startTestWorker } from '../helpers/temporal.js';
import { testActionSettings } from '../helpers/actions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/receivers.js';
import { eventually } from '../helpers/wait.js';

const chainId = 31337;
const box = new SecretBox(randomBytes(32));
let db: TestDatabase;
let connection: Connection;
let client: Client;
let orgId: string;
let userId: string;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await connection?.close();
  await db?.drop();
});

const worker = (taskQueue: string, maxCachedWorkflows?: number): Promise<RunningWorker> =>
  startTestWorker(db.pool, taskQueue, { actions: testActionSettings({ secrets: box }), maxCachedWorkflows });

function pipeline(taskQueue: string) {
  const service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger, secrets: box });
  const relay = new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    logger: testLogger,
    name: taskQueue,
    dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger }),
  });
  return { service, relay };
}

let block = 1_000;
let ts = 1_767_225_600;
const record = (agent: string, value: string) =>
  feedbackRecord({ chain_id: chainId, block_number: ++block, timestamp: (ts += 60), agent_id: agent, value });

const matchedValues = async (triggerId: string) =>
  (
    await db.pool.query<{ value: string; seq: string }>(
      `SELECT e.value::text AS value, m.event_seq::text AS seq FROM trigger_matches m JOIN events e ON e.ingest_seq = m.event_seq WHERE m.trigger_id = $1 AND m.kind = 'match' ORDER BY m.event_seq`,
      [triggerId],
    )
  ).rows;

describe('trigger guarantees', () => {
  it(
    'settings.start_block fires once per historical match, and not again after a worker restart or a fresh run',
    { timeout: 90_000 },
    async () => {
      const taskQueue = `guarantees-history-${randomUUID()}`;
      let running = await worker(taskQueue);
      closers.push(() => running.stop());
      const { service, relay } = pipeline(taskQueue);
      const hook: WebhookReceiver = await startWebhookReceiver();
      closers.push(() => hook.close());

      // History: one match before the start block (never fired), three matches from it on, and events that do not match.
      await appendEvents(db.pool, [record('9', '5')]);
      const startBlock = block + 1;
      const history = [
        record('9', '10'),
        record('9', '80'),
        record('9', '20'),
        record('8', '1'),
        record('9', '30'),
        record('9', '90'),
      ];
      await appendEvents(db.pool, history);
      await relay.catchUp();

      const id = await service.create({
        organizationId: orgId,
        userId,
        name: 'history',
        chainId,
        registry: 'reputation',
        conditions: [
          { condition_type: 'agent_id_equals', operator: '=', value: '9' },
          { condition_type: 'score_threshold', field: 'value', operator: '<', value: '50' },
        ],
        settings: { start_block: startBlock },
        actions: [{ action_type: 'rest', config: { url: hook.url, timeout_ms: 3_000 } }],
      });
      const historical = await eventually(
        () => matchedValues(id),
        (r) => r.length >= 3,
        30_000,
      );
      expect(historical.map((r) => r.value)).toEqual(['10', '20', '30']);
      await eventually(
        () => hook.requests.length,
        (n) => n >= 3,
        30_000,
      );

      // A worker restart (the workflow replays from its history), then the workflow started over from nothing: the
      // fresh run reads the history again, and records and delivers none of it twice.
      await running.stop();
      running = await worker(taskQueue);
      await client.workflow.getHandle(triggerWorkflowId(id)).terminate('test: start the trigger over');
      const live = record('9', '40');
      await appendEvents(db.pool, [live]);
      await relay.catchUp();

      const all = await eventually(
        () => matchedValues(id),
        (r) => r.length >= 4,
        30_000,
      );
      expect(all.map((r) => r.value)).toEqual(['10', '20', '30', '40']);
      const deliveries = await eventually(
        async () =>
          (
            await db.pool.query<{ status: string; event_seq: string }>(
              'SELECT status, event_seq::text FROM deliveries WHERE trigger_id = $1 ORDER BY event_seq',
              [id],
            )
          ).rows,
        (rows) =>
          rows.some((d) => d.event_seq === all[3]!.seq && d.status === 'delivered') &&
          rows.every((d) => d.status === 'delivered'),
        30_000,
      );
      expect(deliveries.map((d) => d.event_seq)).toEqual(all.map((r) => r.seq));
      expect(hook.requests.length).toBe(4);
      expect(new Set(hook.requests.map((r) => r.headers['webhook-id'])).size).toBe(4);
    },
  );

  it(
    'with a workflow cache of 2 and 5 EMA triggers, evicted workflows replay from history and keep their state',
    { timeout: 90_000 },
    async () => {
      const taskQueue = `guarantees-cache-${randomUUID()}`;
      const running = await worker(taskQueue, 2);
      closers.push(() => running.stop());
      const { service, relay } = pipeline(taskQueue);
      const agents = ['101', '102', '103', '104', '105'];
      const ids: string[] = [];
      for (const agent of agents) {
        ids.push(
          await service.create({
            organizationId: orgId,
            userId,
            name: `ema ${agent}`,
            chainId,
            registry: 'reputation',
            conditions: [
              { condition_type: 'agent_id_equals', operator: '=', value: agent },
              { condition_type: 'ema_threshold', operator: '<', value: '60', config: { alpha: 0.5 } },
            ],
          }),
        );
      }
      // EMA with α = 0.5: 100 → 70 → 50 (fires) → 75 → 37.5 (fires). A workflow that lost its state would seed from the
      // value at hand instead, and fire at 40.
      const values = ['100', '40', '30', '100', '0'];
      for (const value of values) {
        // One trigger at a time, round-robin over five: with two cached, every signal lands on an evicted workflow.
        for (const agent of agents) {
          await appendEvents(db.pool, [record(agent, value)]);
          await relay.catchUp();
        }
      }
      for (const id of ids) {
        // The last event fires: once it is recorded, every event of the trigger was evaluated.
        const rows = await eventually(
          () => matchedValues(id),
          (r) => r.some((m) => m.value === '0'),
          30_000,
        );
        expect(rows.map((r) => r.value)).toEqual(['30', '0']);
      }
      // Every trigger took all five events, and its state is the fold of them.
      for (const [i, id] of ids.entries()) {
        const view = await eventually(
          () => service.state(id),
          (v) => Object.values(v.state.agents[`${chainId}:${agents[i]}`]?.conditions ?? {}).length > 0,
        );
        const ema = Object.values(view.state.agents[`${chainId}:${agents[i]}`]!.conditions)[0];
        expect(ema).toMatchObject({ kind: 'ema', ema: 37.5 });
      }
    },
  );
});

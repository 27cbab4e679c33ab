/**
 * The direct sender (src/deliveries/direct.ts): the relay records a firing and creates its delivery in one transaction,
 * claimed for the sender in this process, which attempts it right after the commit — no NOTIFY, no pump claim. The
 * durable row stays the truth: a sender that never attempts (its process died after the commit) leaves the delivery to
 * the dispatcher's pump once the claim's lease expires, and the receiver still gets exactly one request; a sender
 * without room leaves new deliveries to the pumps at once.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectSender, DirectSender } from '../../src/deliveries/direct.js';
import type { DeliveryRow } from '../../src/deliveries/repository.js';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { TriggerService } from '../../src/triggers/service.js';
import { testActionSettings } from '../helpers/actions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/receivers.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { until } from '../helpers/wait.js';

/** The worker and the direct senders share the sealing key, as a relay and its workers do in production. */
const actions = testActionSettings();
let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let receiver: WebhookReceiver;
let orgId: string;
let userId: string;
let relayNumber = 0;

beforeAll(async () => {
  [db, receiver] = await Promise.all([createTestDatabase(), startWebhookReceiver()]);
  temporal = await startTestTemporal(db, 'direct-delivery', { actions });
  ({ client } = temporal);
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  await temporal?.close();
  await receiver?.close();
  await db?.drop();
});

/** A direct sender as the relay of `npm start` has: the workers' sealing key, the test database and Temporal. */
const directSender = () =>
  createDirectSender({
    ...actions,
    pool: db.pool,
    temporal: client,
    taskQueue: temporal.taskQueue,
    logger: testLogger,
  });

/** A sender whose process "died" right after the commit: it never attempts what was claimed for it. */
class DeadSender extends DirectSender {
  claimed: DeliveryRow[] = [];
  override send(rows: DeliveryRow[]): void {
    this.claimed.push(...rows);
  }
}

let block = 5_000;
/** A trigger on `agent` with a webhook, a relay (own cursor) with `direct`, and one event for the agent, relayed. */
async function relayOneEvent(agent: string, direct: DirectSender) {
  const { taskQueue } = temporal;
  const service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger });
  const trigger: string = await service.create({
    organizationId: orgId,
    userId,
    name: `direct ${agent}`,
    chainId: 31337,
    registry: 'reputation',
    conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: agent }],
    actions: [{ action_type: 'rest', config: { url: `${receiver.url}/${agent}` } }],
  });
  const dispatcher = new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger, direct });
  const relay = new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    logger: testLogger,
    dispatcher,
    name: `direct-${++relayNumber}`,
  });
  await appendEvents(db.pool, [
    feedbackRecord({ block_number: ++block, timestamp: Math.floor(Date.now() / 1000), agent_id: agent }),
  ]);
  await relay.catchUp();
  const { rows } = await db.pool.query<{
    claim: string | null;
    status: string;
    same_transaction: boolean;
  }>(
    `SELECT d.claim, d.status, d.created_at = m.matched_at AS same_transaction
     FROM deliveries d JOIN trigger_matches m ON m.id = d.match_id WHERE d.trigger_id = $1`,
    [trigger],
  );
  expect(rows).toHaveLength(1);
  const requests = () => receiver.requests.filter((r) => r.path.endsWith(`/${agent}`));
  const delivery = async () =>
    (
      await db.pool.query<{ status: string; claim: string | null }>(
        'SELECT status, claim FROM deliveries WHERE trigger_id = $1 ORDER BY event_seq LIMIT 1',
        [trigger],
      )
    ).rows[0]!;
  /** More events for the agent, all in one relay batch. */
  const feed = async (count: number) => {
    const at = Math.floor(Date.now() / 1000);
    await appendEvents(
      db.pool,
      Array.from({ length: count }, () => feedbackRecord({ block_number: ++block, timestamp: at, agent_id: agent })),
    );
    await relay.catchUp();
  };
  return { created: rows[0]!, requests, delivery, feed };
}

describe('direct first attempts', () => {
  it('records the firing and its delivery in one transaction and attempts it in this process, once', async () => {
    const direct = directSender();
    const { created, requests, delivery } = await relayOneEvent('301', direct);
    // One transaction: the firing's matched_at and the delivery's created_at are the same now().
    expect(created.same_transaction).toBe(true);
    expect(created.claim).toBe(direct.claim);
    await until(async () => (await delivery()).status === 'delivered', 30_000);
    await direct.close(); // its batch has ended
    expect(requests()).toHaveLength(1);
    expect(direct.attempted).toBe(1);
    // Settled by the direct sender itself: the claim is still its own (a pump would have written its run's).
    expect((await delivery()).claim).toBe(direct.claim);
  });

  it('leaves a delivery whose direct sender never attempted it to the pump once the claim expires: one request', async () => {
    const dead = new DeadSender({
      repository: { claimLeaseMs: 1_000 } as never,
      deliverer: undefined as never,
      logger: testLogger,
    });
    const { created, requests, delivery } = await relayOneEvent('302', dead);
    expect(created.claim).toBe(dead.claim);
    expect(dead.claimed).toHaveLength(1);
    // The pump sweeps every couple of seconds; the lease (1 s) has run out by then.
    await until(async () => (await delivery()).status === 'delivered', 30_000);
    expect((await delivery()).claim).toMatch(/^deliveries\//);
    await new Promise((r) => setTimeout(r, 500));
    expect(requests()).toHaveLength(1);
  });

  it('two relays with their own direct senders racing over one event: one firing, one delivery, one request', async () => {
    const [first, second] = [directSender(), directSender()];
    const { taskQueue } = temporal;
    const service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger });
    const trigger: string = await service.create({
      organizationId: orgId,
      userId,
      name: 'direct race',
      chainId: 31337,
      registry: 'reputation',
      conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '306' }],
      actions: [{ action_type: 'rest', config: { url: `${receiver.url}/306` } }],
    });
    const relays = [first, second].map(
      (direct) =>
        new Relay({
          pool: db.pool,
          databaseUrl: db.url,
          logger: testLogger,
          dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger, direct }),
          name: `direct-${++relayNumber}`,
        }),
    );
    await appendEvents(db.pool, [
      feedbackRecord({ block_number: ++block, timestamp: Math.floor(Date.now() / 1000), agent_id: '306' }),
    ]);
    await Promise.all(relays.map((relay) => relay.catchUp()));
    const { rows } = await db.pool.query<{ claim: string; status: string; firings: number }>(
      `SELECT d.claim, d.status, (SELECT count(*)::int FROM trigger_matches m WHERE m.trigger_id = d.trigger_id) AS firings
       FROM deliveries d WHERE d.trigger_id = $1`,
      [trigger],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.firings).toBe(1);
    expect([first.claim, second.claim]).toContain(rows[0]!.claim);
    await until(
      async () =>
        (await db.pool.query('SELECT 1 FROM deliveries WHERE trigger_id = $1 AND status = $2', [trigger, 'delivered']))
          .rowCount === 1,
      30_000,
    );
    await Promise.all([first.close(), second.close()]);
    expect(first.attempted + second.attempted).toBe(1);
    expect(receiver.requests.filter((r) => r.path.endsWith('/306'))).toHaveLength(1);
  });

  it('leaves new deliveries to the pumps when the direct sender has no room', async () => {
    const full = new DeadSender({
      repository: { claimLeaseMs: 60_000 } as never,
      deliverer: undefined as never,
      logger: testLogger,
      maxInFlight: 0,
    });
    const { created, requests, delivery } = await relayOneEvent('303', full);
    expect(created.claim).not.toBe(full.claim);
    expect(full.claimed).toHaveLength(0);
    await until(async () => (await delivery()).status === 'delivered', 30_000);
    expect(requests()).toHaveLength(1);
  });

  it('hands a delivery that did not settle to its workflow, which the Temporal UI lists by trigger and destination', async () => {
    const direct = directSender();
    receiver.script({ status: 503 });
    const { delivery, requests } = await relayOneEvent('304', direct);
    await until(async () => (await delivery()).status === 'delivered', 60_000);
    expect(requests()).toHaveLength(2); // the failed first attempt here, the retry in the delivery workflow
    const { rows } = await db.pool.query<{ workflow_id: string }>(
      `SELECT workflow_id FROM deliveries d JOIN triggers t ON t.id = d.trigger_id WHERE t.name = 'direct 304'`,
    );
    expect(rows[0]!.workflow_id).toMatch(/^delivery\/dlv_/);
    const description = await client.workflow.getHandle(rows[0]!.workflow_id).describe();
    const host = new URL(receiver.url).host;
    expect(await description.staticSummary()).toBe(`direct 304 → rest:${host}`);
    expect(await description.staticDetails()).toContain('Event: NewFeedback for agent');
    await direct.close();
  });

  it(
    'hands off at most 50 deliveries to a slow destination per window; the batch attempts the rest itself',
    { timeout: 120_000 },
    async () => {
      const direct = directSender();
      // The first answer takes over a second: the destination is slow from then on (for this sender's deliverer).
      receiver.script({ delayMs: 1_200 });
      const { delivery, requests, feed } = await relayOneEvent('305', direct);
      await until(async () => (await delivery()).status === 'delivered', 30_000);
      await feed(60);
      const counts = async () =>
        (
          await db.pool.query<{ delivered: number; workflows: number }>(
            `SELECT count(*) FILTER (WHERE status = 'delivered')::int AS delivered,
               count(*) FILTER (WHERE workflow_id LIKE 'delivery/%')::int AS workflows
             FROM deliveries d JOIN triggers t ON t.id = d.trigger_id WHERE t.name = 'direct 305'`,
          )
        ).rows[0]!;
      await until(async () => (await counts()).delivered === 61, 90_000);
      expect((await counts()).workflows).toBe(50);
      expect(requests()).toHaveLength(61);
      await direct.close();
    },
  );
});

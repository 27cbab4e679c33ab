/**
 * A replayed relay batch (the relay's cursor rewound: a crash after dispatching, before the cursor write) for a trigger
 * the relay evaluates itself, with a real webhook: the receiver gets one request per event, not one per dispatch.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { TriggerService } from '../../src/triggers/service.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/receivers.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { until } from '../helpers/wait.js';

let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let receiver: WebhookReceiver;
let service: TriggerService;
let dispatcher: TriggerDispatcher;
let relay: Relay;
let orgId: string;
let userId: string;

beforeAll(async () => {
  [db, receiver] = await Promise.all([createTestDatabase(), startWebhookReceiver()]);
  temporal = await startTestTemporal(db, 'relay-replay');
  ({ client } = temporal);
  const { taskQueue } = temporal;
  service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger });
  dispatcher = new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger });
  relay = new Relay({ pool: db.pool, databaseUrl: db.url, logger: testLogger, dispatcher });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  await temporal?.close();
  await receiver?.close();
  await db?.drop();
});

let block = 2_000;
async function feed(count: number) {
  const records = Array.from({ length: count }, (_, i) =>
    feedbackRecord({
      block_number: ++block,
      timestamp: Math.floor(Date.now() / 1000),
      agent_id: '9',
      value: String(10 + i),
    }),
  );
  await appendEvents(db.pool, records);
  await relay.catchUp();
  const { rows } = await db.pool.query<{ seq: string }>(
    'SELECT ingest_seq::text AS seq FROM events WHERE id = ANY($1) ORDER BY ingest_seq',
    [records.map((r) => r.id)],
  );
  return rows.map((r) => r.seq);
}

/** The event each request was for: deliveries' idempotency keys are dlv_{trigger}_{eventSeq}_{kind}_{action}. */
const eventSeqsReceived = () => receiver.requests.map((r) => String(r.headers['idempotency-key']).split('_')[2]);

describe('a replayed relay batch', () => {
  it('sends one webhook request per event for a trigger the relay evaluates, however often the batch is dispatched', async () => {
    await service.create({
      organizationId: orgId,
      userId,
      name: 'per event webhook',
      chainId: 31337,
      registry: 'reputation',
      conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '9' }],
      actions: [{ action_type: 'rest', config: { url: `${receiver.url}/hook` } }],
    });
    const evaluatedBefore = dispatcher.evaluatedInRelay;
    const first = await feed(3);
    expect(dispatcher.evaluatedInRelay - evaluatedBefore).toBe(3); // evaluated in the relay, not in a workflow
    await until(() => receiver.requests.length >= 3, 30_000);

    // The cursor goes back before the batch, and the relay dispatches the same three events again.
    await db.pool.query(`UPDATE relay_cursors SET position = $1 WHERE name = 'triggers'`, [BigInt(first[0]!) - 1n]);
    await relay.catchUp();
    expect(dispatcher.evaluatedInRelay - evaluatedBefore).toBe(6);

    // A later event goes through after the replay: its request arrives, and every delivery made (the replay's
    // included: the relay creates them before catchUp returns) has been delivered, so each has sent its request.
    const later = await feed(1);
    await until(() => eventSeqsReceived().includes(later[0]!), 30_000);
    const deliveries = async () => (await db.pool.query<{ status: string }>('SELECT status FROM deliveries')).rows;
    await until(async () => (await deliveries()).every((d) => d.status === 'delivered'), 30_000);
    expect((await deliveries()).length).toBe(4);
    expect(eventSeqsReceived().sort()).toEqual([...first, ...later].sort());
  });
});

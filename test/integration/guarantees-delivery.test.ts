/**
 * README guarantees of the delivery path that no other test would notice breaking: retries back off exponentially and
 * end in a dead letter once `horizon_ms` would pass; Telegram messages to one chat go out a second apart while other
 * chats are not held up; relay batches are shared among the delivery dispatchers in turn.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelegramLimiter } from '../../src/actions/telegram.js';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { SecretBox } from '../../src/secrets.js';
import { dispatcherWorkflowId } from '../../src/deliveries/ids.js';
import { TriggerService } from '../../src/triggers/service.js';
import type { TriggerWrite } from '../../src/triggers/store.js';
import { testActionSettings } from '../helpers/actions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/receivers.js';
import { startTelegramStandIn, type TelegramStandIn } from '../helpers/telegram-stand-in.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { eventually } from '../helpers/wait.js';

const BOT_TOKEN = '123456:guarantees-bot-token';
const box = new SecretBox(randomBytes(32));
let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let taskQueue: string;
let service: TriggerService;
let telegram: TelegramStandIn;
let orgId: string;
let userId: string;
const receivers: WebhookReceiver[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  telegram = await startTelegramStandIn({ token: BOT_TOKEN });
  // The production limiter (1 message/s per chat, 30/s overall), not the test default that lifts it.
  const actions = testActionSettings({ secrets: box });
  temporal = await startTestTemporal(db, 'guarantees-delivery', {
    actions: {
      ...actions,
      telegram: { baseUrl: telegram.url, defaultBotToken: BOT_TOKEN, limiter: new TelegramLimiter() },
    },
  });
  ({ taskQueue, client } = temporal);
  service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger, secrets: box });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  await temporal?.close();
  await Promise.all([...receivers.map((r) => r.close()), telegram?.close()]);
  await db?.drop();
});

async function receiver() {
  const r = await startWebhookReceiver();
  receivers.push(r);
  return r;
}

function relay(batchSize?: number) {
  const dispatcher = new TriggerDispatcher({
    pool: db.pool,
    temporal: client,
    taskQueue,
    logger: testLogger,
    dispatch: { dispatchers: 2 },
  });
  return new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    logger: testLogger,
    dispatcher,
    batchSize,
    name: `r-${randomBytes(4).toString('hex')}`,
  });
}

let block = 7_000;
/** Feedback events for the given agents through the write path, all in one transaction. */
async function append(...agents: string[]) {
  const records = agents.map((agent) =>
    feedbackRecord({ block_number: ++block, timestamp: Math.floor(Date.now() / 1000), agent_id: agent, value: '1' }),
  );
  await appendEvents(db.pool, records);
  return records;
}

function perAgent(name: string, agent: string, action: NonNullable<TriggerWrite['actions']>[number]): TriggerWrite {
  return {
    organizationId: orgId,
    userId,
    name,
    chainId: 31337,
    registry: 'reputation',
    conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: agent }],
    actions: [action],
  };
}

const deliveriesOf = async (triggerId: string) =>
  (
    await db.pool.query<{
      status: string;
      attempts: number;
      last_error: string | null;
      workflow_id: string;
      event_seq: string;
    }>(
      'SELECT status, attempts, last_error, workflow_id, event_seq::text FROM deliveries WHERE trigger_id = $1 ORDER BY event_seq',
      [triggerId],
    )
  ).rows;

describe('delivery guarantees', () => {
  it(
    'retries back off exponentially and end in a dead letter once the next one would pass horizon_ms',
    { timeout: 60_000 },
    async () => {
      const hook = await receiver();
      hook.always({ status: 503 });
      // Backoff 500, 1000, 2000 ms after the pump's first attempt; the next (4000 ms) would end past the 6.6 s horizon:
      // four attempts, then a dead letter (without the horizon, max_attempts would allow eight). The dev server fires
      // timers up to about a second late, which the horizon leaves room for.
      const id = await service.create(
        perAgent('backoff', '501', {
          action_type: 'rest',
          config: {
            url: hook.url,
            timeout_ms: 3_000,
            retry: { initial_interval_ms: 500, max_interval_ms: 4_000, horizon_ms: 6_600, max_attempts: 8 },
          },
        }),
      );
      await append('501');
      await relay().catchUp();
      const [dead] = await eventually(
        () => deliveriesOf(id),
        (rows) => rows[0]?.status === 'dead',
        30_000,
      );
      expect(dead).toMatchObject({ status: 'dead', attempts: 4 });
      expect(dead!.last_error).toContain('gave up after 4 attempt(s)');
      // The waits the delivery workflow scheduled, as Temporal recorded them: each twice the one before.
      const history = await client.workflow.getHandle(dead!.workflow_id).fetchHistory();
      const timers = history.events!.flatMap((e) => {
        const d = e.timerStartedEventAttributes?.startToFireTimeout;
        return d ? [Number(d.seconds ?? 0) * 1_000 + Math.round((d.nanos ?? 0) / 1e6)] : [];
      });
      expect(timers).toEqual([500, 1_000, 2_000]);
      // What the receiver saw: four attempts, each gap at least the wait before it, and the gaps grow (the timer
      // lateness is at most about a second, so gap 3 / gap 1 stays above 1 even in the worst case).
      const arrivals = hook.requests.map((r) => r.receivedAt);
      expect(arrivals).toHaveLength(4);
      const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
      gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(timers[i]! - 20));
      expect(gaps[2]! / gaps[0]!).toBeGreaterThan(1.1);
    },
  );

  it(
    'Telegram: one chat gets a message a second at most, and other chats are not held up behind it',
    { timeout: 60_000 },
    async () => {
      const chats = { busy: '7001', quiet: '7002', other: '7003' };
      // These actions use the platform bot: their chats must have proved they belong to the organization (see action-secrets tests).
      for (const chat of Object.values(chats)) {
        await db.pool.query('INSERT INTO telegram_verified_chats (organization_id, chat_id) VALUES ($1, $2)', [
          orgId,
          chat,
        ]);
      }
      for (const [agent, chat] of [
        ['601', chats.busy],
        ['602', chats.quiet],
        ['603', chats.other],
      ] as const) {
        await service.create(
          perAgent(`telegram ${chat}`, agent, {
            action_type: 'telegram',
            config: {
              chat_id: chat,
              parse_mode: 'plain',
              message_template: 'agent {{agent.id}} block {{event.block_number}}',
            },
          }),
        );
      }
      // One relay batch: three firings for the busy chat first, then one for each of the other chats.
      await append('601', '601', '601', '602', '603');
      await relay().catchUp();
      const messages = await eventually(
        () => [...telegram.messages],
        (m) => m.length >= 5,
        30_000,
      );
      const to = (chat: string) => messages.filter((m) => m.chatId === chat);
      expect(to(chats.busy)).toHaveLength(3);
      // Spacing as measured by the stand-in: the limiter spaces sends 1 s apart; arrival adds the requests' jitter.
      const busy = to(chats.busy).map((m) => m.receivedAt.getTime());
      for (let i = 1; i < busy.length; i++) expect(busy[i]! - busy[i - 1]!).toBeGreaterThanOrEqual(750);
      // Ordering, not timing: the other chats' messages arrive before the busy chat's second one.
      const order = messages.map((m) => m.chatId);
      const secondBusy = order.indexOf(chats.busy, order.indexOf(chats.busy) + 1);
      expect(order.indexOf(chats.quiet)).toBeLessThan(secondBusy);
      expect(order.indexOf(chats.other)).toBeLessThan(secondBusy);
    },
  );

  it('relay batches are shared among the delivery dispatchers in turn', { timeout: 60_000 }, async () => {
    const hook = await receiver();
    const id = await service.create(
      perAgent('in turn', '701', { action_type: 'rest', config: { url: hook.url, timeout_ms: 3_000 } }),
    );
    await append('701', '701', '701', '701');
    // One event per relay batch: four batches, four calls to create deliveries.
    await relay(1).catchUp();
    const rows = await eventually(
      () => deliveriesOf(id),
      (r) => r.length === 4 && r.every((d) => d.status === 'delivered'),
      30_000,
    );
    const assigned = rows.map((d) => d.workflow_id);
    expect(new Set(assigned)).toEqual(
      new Set([dispatcherWorkflowId(taskQueue, 0), dispatcherWorkflowId(taskQueue, 1)]),
    );
    for (let i = 1; i < assigned.length; i++) expect(assigned[i]).not.toBe(assigned[i - 1]);
    expect(hook.requests).toHaveLength(4);
  });
});

/**
 * Secrets of actions across tenants, end to end (real Postgres, Temporal, HTTP receivers, the Telegram stand-in):
 * sealed secrets are bound to their organization and field, every REST action signs with its own secret, and the
 * platform's Telegram bot posts only to chats verified for the organization.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../src/actions/webhook-signing.js';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { SecretBox } from '../../src/secrets.js';
import { TriggerService } from '../../src/triggers/service.js';
import type { TriggerWrite } from '../../src/triggers/store.js';
import { testActionSettings } from '../helpers/actions.js';
import { startTestApi, type ApiCaller, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/receivers.js';
import { startTelegramStandIn, type TelegramStandIn } from '../helpers/telegram-stand-in.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { eventually } from '../helpers/wait.js';

const BOT_TOKEN = '123456:tenant-a-bot-token';

let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let api: TestApi;
let service: TriggerService;
let relay: Relay;
let telegram: TelegramStandIn;
const receivers: WebhookReceiver[] = [];
const box = new SecretBox(randomBytes(32));
let userId: string;
let orgA: string;
let orgB: string;
let token: string;
let caller: ApiCaller;

beforeAll(async () => {
  db = await createTestDatabase();
  telegram = await startTelegramStandIn({ token: BOT_TOKEN });
  // The worker has a platform bot (TELEGRAM_BOT_TOKEN): it reads the chats' verification codes from the stand-in.
  const actions = testActionSettings({ secrets: box, telegramBaseUrl: telegram.url });
  temporal = await startTestTemporal(db, 'secrets', {
    actions: { ...actions, telegram: { ...actions.telegram, defaultBotToken: BOT_TOKEN } },
  });
  client = temporal.client;
  service = new TriggerService({
    pool: db.pool,
    temporal: client,
    taskQueue: temporal.taskQueue,
    logger: testLogger,
    secrets: box,
  });
  relay = new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    logger: testLogger,
    dispatcher: new TriggerDispatcher({
      pool: db.pool,
      temporal: client,
      taskQueue: temporal.taskQueue,
      logger: testLogger,
    }),
  });
  api = await startTestApi(db, { taskQueue: temporal.taskQueue, secrets: box });
  userId = await insertUser(db.pool);
  orgA = await insertOrganization(db.pool, userId);
  orgB = await insertOrganization(db.pool, userId);
  token = await api.services.tokens.signAccessToken(userId);
  caller = await api.caller({ authorization: `Bearer ${token}` });
});

afterAll(async () => {
  await api?.close();
  await temporal?.close();
  await Promise.all([...receivers.map((r) => r.close()), telegram?.close()]);
  await db?.drop();
});

async function receiver() {
  const r = await startWebhookReceiver();
  receivers.push(r);
  return r;
}

let block = 9_000;
/** A NewFeedback event for agent 3, through the write path and the relay. */
async function fire() {
  await appendEvents(db.pool, [
    feedbackRecord({ block_number: ++block, timestamp: Math.floor(Date.now() / 1000), agent_id: '3', value: '7' }),
  ]);
  await relay.catchUp();
}

function triggerOf(organizationId: string, name: string, actions: NonNullable<TriggerWrite['actions']>): TriggerWrite {
  return {
    organizationId,
    userId,
    name,
    chainId: 31337,
    registry: 'reputation',
    conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
    actions,
  };
}

async function deliveriesOf(triggerId: string) {
  const { rows } = await db.pool.query(
    `SELECT idempotency_key, action_id, action_type, status, last_error FROM deliveries WHERE trigger_id = $1 ORDER BY action_id`,
    [triggerId],
  );
  return rows;
}

const settled = (n: number) => (rows: { status: string }[]) =>
  rows.length >= n && rows.every((r) => r.status === 'delivered' || r.status === 'dead');
const until = <T>(read: () => Promise<T>, ok: (v: T) => boolean) => eventually(read, ok, 30_000, 50);

describe('sealed secrets are bound to their organization and field', () => {
  it('a sealed-looking secret is refused at the API (400, the field named) and nothing is saved', async () => {
    const sealedElsewhere = box.encrypt(BOT_TOKEN, {
      owner: `organization:${orgA}`,
      field: 'trigger_actions.config.bot_token',
    });
    const countTriggers = async () =>
      (await db.pool.query('SELECT count(*)::int AS n FROM triggers WHERE organization_id = $1', [orgB])).rows[0].n;
    const before = await countTriggers();
    for (const value of [sealedElsewhere, sealedElsewhere.replace(/^v2:/, 'v1:')]) {
      const res = await fetch(`${api.server.url}/api/v1/organizations/${orgB}/triggers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name: 'borrowed token',
          chainId: 31337,
          registry: 'reputation',
          conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
          actions: [{ action_type: 'telegram', config: { chat_id: '777', message_template: 'hi', bot_token: value } }],
        }),
      });
      const text = await res.text();
      expect(res.status, text).toBe(400);
      expect(text).toContain('actions.0.config.bot_token');
      expect(text).toMatch(/looks like a sealed value/);
    }
    // A secret header too, through tRPC.
    await expect(
      caller.triggers.create({
        organizationId: orgB,
        name: 'borrowed header',
        chainId: 31337,
        registry: 'reputation',
        conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
        actions: [
          {
            action_type: 'rest',
            config: { url: 'https://receiver.example/hook', secret_headers: { authorization: sealedElsewhere } },
          },
        ],
      }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('actions.0.config.secret_headers.authorization'),
    });
    expect(await countTriggers()).toBe(before);
  });

  it(
    "another organization's ciphertext copied into its action at the DB level does not open at send time",
    { timeout: 60_000 },
    async () => {
      const telegramAction = (chatId: string, botToken: string) => ({
        action_type: 'telegram' as const,
        config: { chat_id: chatId, bot_token: botToken, message_template: 'agent {{agent.id}}', parse_mode: 'plain' },
      });
      const victim = await service.create(triggerOf(orgA, 'victim', [telegramAction('1001', BOT_TOKEN)]));
      const thief = await service.create(
        triggerOf(orgB, 'thief', [telegramAction('2002', '654321:the-thief-own-token')]),
      );
      // The thief pastes the victim's sealed token into its own action (what the API now refuses, done below it).
      await db.pool.query(
        `UPDATE trigger_actions SET config = jsonb_set(config, '{bot_token}', (SELECT config->'bot_token' FROM trigger_actions WHERE trigger_id = $1))
       WHERE trigger_id = $2`,
        [victim, thief],
      );
      await fire();
      const [victimDelivery] = await until(() => deliveriesOf(victim), settled(1));
      const [thiefDelivery] = await until(() => deliveriesOf(thief), settled(1));
      expect(victimDelivery.status).toBe('delivered');
      expect(thiefDelivery.status).toBe('dead');
      expect(thiefDelivery.last_error).toMatch(/invalid action config: a secret does not open/);
      expect(thiefDelivery.last_error).not.toContain(BOT_TOKEN);
      // Nothing reached the thief's chat; the victim's chat got its message.
      expect(telegram.messages.map((m) => m.chatId)).toEqual(['1001']);
      const attempts = await db.pool.query(
        `SELECT error_message, response_data::text AS response FROM action_results WHERE idempotency_key = $1`,
        [thiefDelivery.idempotency_key],
      );
      for (const a of attempts.rows) expect(`${a.error_message} ${a.response}`).not.toContain(BOT_TOKEN);
    },
  );
});

describe('each REST action has its own signing secret', () => {
  it('a member sees the secret of the action they create, once; reading or rotating secrets is for admins', async () => {
    const memberId = await insertUser(db.pool);
    await db.pool.query(`INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'member')`, [
      orgA,
      memberId,
    ]);
    const member = await api.caller({ authorization: `Bearer ${await api.services.tokens.signAccessToken(memberId)}` });
    const created = await member.triggers.create({
      organizationId: orgA,
      name: 'member hook',
      chainId: 31337,
      registry: 'reputation',
      conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
      actions: [{ action_type: 'rest', config: { url: 'https://receiver.example/member' } }],
    });
    const action = { organizationId: orgA, triggerId: created.id, actionId: created.actions[0]!.id };
    expect(created.webhookSecrets).toEqual([
      { actionId: action.actionId, secret: (await caller.webhooks.secret(action)).secret },
    ]);
    await expect(member.webhooks.secret(action)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(member.webhooks.rotateSecret({ ...action, windowHours: 1 })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    await caller.triggers.delete({ organizationId: orgA, triggerId: created.id });
  });

  it(
    'two actions of one organization: different secrets; a signature for one does not verify with the other',
    { timeout: 60_000 },
    async () => {
      const [hookA, hookB] = [await receiver(), await receiver()];
      const created = await caller.triggers.create({
        organizationId: orgA,
        name: 'two receivers',
        chainId: 31337,
        registry: 'reputation',
        conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
        actions: [
          { action_type: 'rest', priority: 1, config: { url: hookA.url } },
          { action_type: 'rest', priority: 2, config: { url: hookB.url } },
        ],
      });
      const [actionA, actionB] = created.actions.map((a) => ({
        organizationId: orgA,
        triggerId: created.id,
        actionId: a.id,
      }));
      const secretA = (await caller.webhooks.secret(actionA!)).secret;
      const secretB = (await caller.webhooks.secret(actionB!)).secret;
      expect(secretA).toMatch(/^whsec_/);
      expect(secretB).toMatch(/^whsec_/);
      expect(secretA).not.toBe(secretB);
      // The creator was shown them in the answer.
      expect(created.webhookSecrets).toEqual([
        { actionId: actionA!.actionId, secret: secretA },
        { actionId: actionB!.actionId, secret: secretB },
      ]);

      await fire();
      await until(() => deliveriesOf(created.id), settled(2));
      const [toA] = hookA.requests;
      const [toB] = hookB.requests;
      expect(() => verifyWebhook({ headers: toA!.headers, body: toA!.body, secret: secretA })).not.toThrow();
      expect(() => verifyWebhook({ headers: toB!.headers, body: toB!.body, secret: secretB })).not.toThrow();
      // A's signed body replayed to B's receiver does not verify there.
      expect(() => verifyWebhook({ headers: toA!.headers, body: toA!.body, secret: secretB })).toThrow(
        /no webhook signature matches/,
      );
      expect(() => verifyWebhook({ headers: toB!.headers, body: toB!.body, secret: secretA })).toThrow(
        /no webhook signature matches/,
      );
    },
  );

  it(
    'rotation: a delivery verifies with the old and the new secret; an edit keeps the secret unless the URL changes',
    { timeout: 60_000 },
    async () => {
      const hook = await receiver();
      const created = await caller.triggers.create({
        organizationId: orgA,
        name: 'rotating',
        chainId: 31337,
        registry: 'reputation',
        conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
        actions: [{ action_type: 'rest', config: { url: hook.url } }],
      });
      const action = { organizationId: orgA, triggerId: created.id, actionId: created.actions[0]!.id };
      const old = await caller.webhooks.secret(action);
      const rotated = await caller.webhooks.rotateSecret({ ...action, windowHours: 1 });
      expect(rotated).toMatchObject({
        actionId: action.actionId,
        previousSecret: old.secret,
        previousValidUntil: expect.any(String),
      });
      expect(rotated.secret).not.toBe(old.secret);

      await fire();
      await until(() => deliveriesOf(created.id), settled(1));
      const [request] = hook.requests;
      expect(String(request!.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(() => verifyWebhook({ headers: request!.headers, body: request!.body, secret: old.secret })).not.toThrow();
      expect(() =>
        verifyWebhook({ headers: request!.headers, body: request!.body, secret: rotated.secret }),
      ).not.toThrow();

      // An edit that keeps the URL keeps the action (and its secret); another URL is another endpoint, another secret.
      const edited = await caller.triggers.update({
        organizationId: orgA,
        triggerId: created.id,
        name: 'rotating, renamed',
        chainId: 31337,
        registry: 'reputation',
        conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
        actions: [{ action_type: 'rest', config: { url: hook.url, headers: { 'x-team': 'ops' } } }],
      });
      expect(edited.actions.map((a) => a.id)).toEqual([action.actionId]);
      expect(edited.webhookSecrets).toEqual([]);
      expect((await caller.webhooks.secret(action)).secret).toBe(rotated.secret);
      const moved = await caller.triggers.update({
        organizationId: orgA,
        triggerId: created.id,
        name: 'rotating, moved',
        chainId: 31337,
        registry: 'reputation',
        conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
        actions: [{ action_type: 'rest', config: { url: `${hook.url}/elsewhere` } }],
      });
      expect(moved.actions[0]!.id).not.toBe(action.actionId);
      const movedSecret = await caller.webhooks.secret({ ...action, actionId: moved.actions[0]!.id });
      expect([old.secret, rotated.secret]).not.toContain(movedSecret.secret);
      expect(moved.webhookSecrets).toEqual([{ actionId: moved.actions[0]!.id, secret: movedSecret.secret }]);
      // The old action is gone, and so is its secret; another organization's member cannot read an action of orgA.
      await expect(caller.webhooks.secret(action)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(
        caller.webhooks.secret({ ...action, organizationId: orgB, actionId: moved.actions[0]!.id }),
      ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    },
  );
});

describe("the platform's Telegram bot posts only to chats verified for the organization", () => {
  const platformBotAction = (chatId: string) => ({
    action_type: 'telegram' as const,
    config: { chat_id: chatId, message_template: 'agent {{agent.id}} for {{trigger.name}}', parse_mode: 'plain' },
  });
  const body = (name: string, chatId: string) => ({
    name,
    chainId: 31337,
    registry: 'reputation' as const,
    conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
    actions: [platformBotAction(chatId)],
  });

  it('an action without bot_token for an unverified chat is refused when saved (400 saying how to verify), nothing saved', async () => {
    const before = (await db.pool.query('SELECT count(*)::int AS n FROM triggers')).rows[0].n;
    const res = await fetch(`${api.server.url}/api/v1/organizations/${orgA}/triggers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body('unverified chat', '5005')),
    });
    const text = await res.text();
    expect(res.status, text).toBe(400);
    expect(text).toContain('actions.0.config.chat_id');
    expect(text).toContain('chat 5005 is not verified for this organization');
    expect(text).toContain(`/api/v1/organizations/${orgA}/telegram/chat-codes`);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM triggers')).rows[0].n).toBe(before);
  });

  it(
    'a chat that sends the one-time code to the bot is verified for that organization only; the code works once',
    { timeout: 60_000 },
    async () => {
      const { code, message } = await caller.telegram.createChatCode({ organizationId: orgA });
      expect(message).toBe(`/start ${code}`);
      telegram.receive({ chatId: 5005, text: message, chatType: 'group', title: 'Ops room' });
      const chats = await until(
        () => caller.telegram.chats({ organizationId: orgA }),
        (r) => r.items.length > 0,
      );
      expect(chats.items).toMatchObject([{ chatId: '5005', title: 'Ops room' }]);
      // The bot said so in the chat.
      const confirmation = await until(
        async () => telegram.messages.filter((m) => m.chatId === '5005'),
        (m) => m.length > 0,
      );
      expect(confirmation[0]!.text).toContain('verified');

      // Now the action is accepted, and delivered with the platform bot.
      const created = await caller.triggers.create({ organizationId: orgA, ...body('verified chat', '5005') });
      await fire();
      const [delivery] = await until(() => deliveriesOf(created.id), settled(1));
      expect(delivery.status).toBe('delivered');
      expect(telegram.messages.filter((m) => m.chatId === '5005').map((m) => m.text)).toContain(
        'agent 3 for verified chat',
      );

      // Verified for orgA only: orgB still cannot point the platform bot there.
      await expect(caller.triggers.create({ organizationId: orgB, ...body('not ours', '5005') })).rejects.toMatchObject(
        { code: 'BAD_REQUEST', message: expect.stringContaining('chat 5005 is not verified') },
      );
      expect((await caller.telegram.chats({ organizationId: orgB })).items).toEqual([]);

      // The code is used up: another chat sending it is told so and stays unverified.
      telegram.receive({ chatId: 6006, text: code });
      const refusal = await until(
        async () => telegram.messages.filter((m) => m.chatId === '6006'),
        (m) => m.length > 0,
      );
      expect(refusal[0]!.text).toMatch(/unknown, used or expired/);
      expect((await caller.telegram.chats({ organizationId: orgA })).items.map((c) => c.chatId)).toEqual(['5005']);
    },
  );

  it(
    'a delivery to an unverified chat (an action changed below the API) is refused at send time, nothing posted',
    { timeout: 60_000 },
    async () => {
      const created = await caller.triggers.create({ organizationId: orgA, ...body('moved below the API', '5005') });
      await db.pool.query(
        `UPDATE trigger_actions SET config = jsonb_set(config, '{chat_id}', '"7007"') WHERE trigger_id = $1`,
        [created.id],
      );
      await fire();
      const [delivery] = await until(() => deliveriesOf(created.id), settled(1));
      expect(delivery.status).toBe('dead');
      expect(delivery.last_error).toContain('chat 7007 is not verified');
      expect(telegram.messages.filter((m) => m.chatId === '7007')).toEqual([]);
    },
  );
});

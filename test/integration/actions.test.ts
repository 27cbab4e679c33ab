/**
 * Actions end to end on the real Temporal dev server with real receivers: a signed webhook, a Telegram stand-in that
 * speaks the Bot API, and an MCP agent built with the SDK. Retries, Retry-After, fail-fast, dead letters and replay,
 * the circuit breaker, SSRF refusals, templates checked at save, and a worker killed mid-delivery.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Address } from 'viem';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  breakerGates,
  breakerKeyId,
  destinationHealth,
  listBreakers,
  recordBreakerOutcomes,
} from '../../src/actions/breaker.js';
import { replayDeadLetters } from '../../src/deliveries/service.js';
import { currentWebhookSecret } from '../../src/actions/webhook-secrets.js';
import { verifyWebhook } from '../../src/actions/webhook-signing.js';
import { ChainIndexer } from '../../src/indexer/chain-indexer.js';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { agentSecret, SecretBox } from '../../src/secrets.js';
import { DefinitionError } from '../../src/triggers/definition.js';
import { TriggerService } from '../../src/triggers/service.js';
import type { TriggerWrite } from '../../src/triggers/store.js';
import { testActionSettings } from '../helpers/actions.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/wait.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { startMcpAgent, startWebhookReceiver, type McpAgent, type WebhookReceiver } from '../helpers/receivers.js';
import { startTelegramStandIn } from '../helpers/telegram-stand-in.js';
import { startTestApi } from '../helpers/api.js';
import { keccak256, stringToHex } from 'viem';
import { DEFAULT_DELIVERY_DISPATCHERS, ensureDispatcher } from '../../src/deliveries/dispatchers.js';
import { startDeliveries } from '../../src/deliveries/firings.js';
import { deliveryWorkflowId, dispatcherWorkflowId } from '../../src/deliveries/ids.js';
import { maintenanceWorkflow } from '../../workflows/maintenance.js';
import { createDeliveryActivities } from '../../activities/deliveries.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BOT_TOKEN = '123456:test-bot-token';
const AGENT_TOKEN = 'agent-mcp-token';

let db: TestDatabase;
let chain: TestChain;
let temporal: TestTemporal;
let client: Client;
let service: TriggerService;
let relay: Relay;
let telegram: Awaited<ReturnType<typeof startTelegramStandIn>>;
let mcp: McpAgent;
const receivers: WebhookReceiver[] = [];
const appKey = randomBytes(32);
const box = new SecretBox(appKey);
let taskQueue: string;
let orgId: string;
let userId: string;

beforeAll(async () => {
  [db, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  telegram = await startTelegramStandIn({ token: BOT_TOKEN });
  mcp = await startMcpAgent({ token: AGENT_TOKEN });
  temporal = await startTestTemporal(db, 'actions', {
    actions: testActionSettings({ secrets: box, telegramBaseUrl: telegram.url }),
    breaker: { threshold: 2, basePauseMs: 1_000 },
  });
  ({ taskQueue, client } = temporal);
  service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger, secrets: box });
  relay = new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    logger: testLogger,
    dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger }),
  });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  await temporal?.close();
  await Promise.all([...receivers.map((r) => r.close()), mcp?.close(), telegram?.close(), chain?.stop()]);
  await db?.drop();
});

async function receiver() {
  const r = await startWebhookReceiver();
  receivers.push(r);
  return r;
}

let block = 5_000;
/** A NewFeedback event for agent 3, through the write path and the relay. */
async function fire(value = '7') {
  const record = feedbackRecord({
    block_number: ++block,
    timestamp: Math.floor(Date.now() / 1000),
    agent_id: '3',
    value,
  });
  await appendEvents(db.pool, [record]);
  await relay.catchUp();
  return record;
}

function restTrigger(name: string, config: Record<string, unknown>): TriggerWrite {
  return {
    organizationId: orgId,
    userId,
    name,
    chainId: 31337,
    registry: 'reputation',
    conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '3' }],
    actions: [
      {
        action_type: 'rest',
        config: { retry: { initial_interval_ms: 100, max_interval_ms: 400 }, timeout_ms: 3_000, ...config },
      },
    ],
  };
}

async function deliveriesOf(triggerId: string) {
  const { rows } = await db.pool.query(
    `SELECT idempotency_key, action_type, status, attempts, last_error FROM deliveries WHERE trigger_id = $1 ORDER BY action_type`,
    [triggerId],
  );
  return rows;
}

async function attemptsOf(key: string) {
  const { rows } = await db.pool.query(
    `SELECT attempt, status, http_status FROM action_results WHERE idempotency_key = $1 ORDER BY executed_at`,
    [key],
  );
  return rows;
}

/** Deliveries take retries and backoff: a longer default wait. */
const until = <T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000) =>
  eventually(read, ok, timeoutMs, 50);

const settled = (rows: { status: string }[], n = 1) =>
  rows.length >= n && rows.every((r) => r.status === 'delivered' || r.status === 'dead');

describe('actions', () => {
  it(
    "feedback on anvil → signed webhook, escaped Telegram message, MCP tool call to the tenant's endpoint (without the agent token)",
    { timeout: 60_000 },
    async () => {
      const hook = await receiver();
      const tenantMcp = await startMcpAgent();
      const r = chain.registries;
      const [owner, rater] = r.accounts as [Address, Address];
      await r.register(owner, 'ipfs://agent-0');
      await db.pool.query('INSERT INTO agent_mcp_tokens (chain_id, agent_id, token) VALUES ($1, 0, $2)', [
        chain.config.chainId,
        box.encrypt(AGENT_TOKEN, agentSecret(chain.config.chainId, 0, 'agent_mcp_tokens.token')),
      ]);
      const id = await service.create({
        organizationId: orgId,
        userId,
        name: 'negative feedback',
        chainId: chain.config.chainId,
        registry: 'reputation',
        conditions: [{ condition_type: 'score_threshold', field: 'value', operator: '<', value: '0' }],
        actions: [
          {
            action_type: 'telegram',
            priority: 1,
            config: {
              chat_id: '4242',
              bot_token: BOT_TOKEN,
              message_template: '*Alert* agent {{agent.id}}: {{event.value_formatted}} on {{event.tag1}}',
            },
          },
          {
            action_type: 'rest',
            priority: 2,
            config: {
              url: hook.url,
              body_template: {
                text: 'agent {{agent.id}} got {{event.value_formatted}}',
                value: '{{event.value}}',
                decimals: '{{event.value_decimals}}',
              },
            },
          },
          {
            action_type: 'mcp',
            priority: 3,
            config: {
              endpoint: tenantMcp.url,
              tool_name: 'agent.receiveFeedback',
              arguments_template: { feedbackId: '{{event.id}}', value: '{{event.value_formatted}}' },
            },
          },
        ],
      });
      // The bot token is sealed at rest.
      const stored = await db.pool.query(
        `SELECT config->>'bot_token' AS t FROM trigger_actions WHERE trigger_id = $1 AND action_type = 'telegram'`,
        [id],
      );
      expect(stored.rows[0].t).toMatch(/^v2:/);
      expect(stored.rows[0].t).not.toContain(BOT_TOKEN);

      await r.giveFeedback(rater, { agentId: 0n, value: -12345n, valueDecimals: 2, tag1: 'speed_test.v2' });
      const indexer = new ChainIndexer({ chain: chain.config, pool: db.pool, logger: testLogger });
      await indexer.tick();
      await relay.catchUp();
      const rows = await until(
        () => deliveriesOf(id),
        (d) => settled(d, 3),
      );
      expect(rows.map((d) => [d.action_type, d.status, d.attempts])).toEqual([
        ['mcp', 'delivered', 1],
        ['rest', 'delivered', 1],
        ['telegram', 'delivered', 1],
      ]);

      // Webhook: a valid Standard Webhooks signature, the webhook id is the delivery's idempotency key, exact value.
      expect(hook.requests).toHaveLength(1);
      const request = hook.requests[0]!;
      const restActionId = (
        await db.pool.query(`SELECT id FROM trigger_actions WHERE trigger_id = $1 AND action_type = 'rest'`, [id])
      ).rows[0].id;
      const { secret } = await currentWebhookSecret(db.pool, box, { actionId: restActionId, organizationId: orgId });
      expect(() => verifyWebhook({ headers: request.headers, body: request.body, secret })).not.toThrow();
      expect(request.headers['webhook-id']).toBe(rows.find((d) => d.action_type === 'rest')!.idempotency_key);
      expect(JSON.parse(request.body)).toEqual({ text: 'agent 0 got -123.45', value: '-12345', decimals: 2 });

      // Telegram: MarkdownV2 with the interpolated values escaped and the author's markup kept.
      expect(telegram.messages).toHaveLength(1);
      expect(telegram.messages[0]).toMatchObject({
        chatId: '4242',
        parseMode: 'MarkdownV2',
        text: '*Alert* agent 0: \\-123\\.45 on speed\\_test\\.v2',
      });

      // MCP: the rendered arguments and the idempotency key; the agent's token does not go to an endpoint the tenant chose.
      await tenantMcp.close();
      expect(tenantMcp.calls).toHaveLength(1);
      const event = await db.pool.query(`SELECT id FROM events WHERE event_type = 'NewFeedback' AND chain_id = $1`, [
        chain.config.chainId,
      ]);
      expect(tenantMcp.calls[0]).toMatchObject({
        args: { feedbackId: event.rows[0].id, value: '-123.45' },
        authorization: undefined,
      });
      expect(tenantMcp.calls[0]!.idempotencyKey).toBe(rows.find((d) => d.action_type === 'mcp')!.idempotency_key);
    },
  );

  it('a receiver failing twice then succeeding: one effect, three attempts recorded', async () => {
    const hook = await receiver();
    hook.script({ status: 500 }, { status: 503 });
    const id = await service.create(restTrigger('flaky receiver', { url: hook.url }));
    await fire();
    const [d] = await until(() => deliveriesOf(id), settled);
    expect(d).toMatchObject({ status: 'delivered', attempts: 3 });
    expect((await attemptsOf(d.idempotency_key)).map((a) => [a.attempt, a.status, a.http_status])).toEqual([
      [1, 'retrying', 500],
      [2, 'retrying', 503],
      [3, 'success', 200],
    ]);
    expect(new Set(hook.requests.map((q) => q.headers['webhook-id']))).toEqual(new Set([d.idempotency_key]));
  });

  it('a 4xx fails fast; a 429 waits for Retry-After', async () => {
    const bad = await receiver();
    bad.script({ status: 404 });
    const badId = await service.create(restTrigger('gone', { url: bad.url }));
    const limited = await receiver();
    limited.script({ status: 429, headers: { 'retry-after': '1' } });
    const limitedId = await service.create(restTrigger('rate limited', { url: limited.url }));
    await fire();
    const [dead] = await until(() => deliveriesOf(badId), settled);
    expect(dead).toMatchObject({ status: 'dead', attempts: 1 });
    expect(dead.last_error).toContain('404');
    const [ok] = await until(() => deliveriesOf(limitedId), settled);
    expect(ok).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(limited.requests[1]!.receivedAt - limited.requests[0]!.receivedAt).toBeGreaterThanOrEqual(950);
  });

  it('dead letters can be replayed with the original idempotency key', async () => {
    const hook = await receiver();
    hook.always({ status: 500 });
    const id = await service.create(
      restTrigger('down for a while', { url: hook.url, retry: { max_attempts: 2, initial_interval_ms: 100 } }),
    );
    await fire();
    const [dead] = await until(() => deliveriesOf(id), settled);
    expect(dead).toMatchObject({ status: 'dead', attempts: 2 });
    hook.always(undefined);
    // Another organization cannot replay it.
    const otherOrg = await insertOrganization(db.pool, userId);
    expect(
      await replayDeadLetters(db.pool, client, taskQueue, {
        organizationId: otherOrg,
        idempotencyKey: dead.idempotency_key,
      }),
    ).toEqual([]);
    // Through the API: the dead letter is listed, and replayed.
    const api = await startTestApi(db, { taskQueue, secrets: box });
    try {
      const caller = await api.caller({ authorization: `Bearer ${await api.services.tokens.signAccessToken(userId)}` });
      const deadLetters = await caller.deliveries.list({ organizationId: orgId, triggerId: id, status: 'dead' });
      expect(deadLetters.items.map((d) => d.idempotencyKey)).toEqual([dead.idempotency_key]);
      expect(
        (await caller.deliveries.attempts({ organizationId: orgId, idempotencyKey: dead.idempotency_key })).items.map(
          (a) => a.httpStatus,
        ),
      ).toEqual([500, 500]);
      expect(await caller.deliveries.replay({ organizationId: orgId, triggerId: id })).toEqual({
        replayed: [dead.idempotency_key],
      });
      // The trigger fired once (evaluated by the relay: its workflow never saw the event); the state says so.
      expect(await caller.triggers.state({ organizationId: orgId, triggerId: id })).toMatchObject({
        fired: 1,
        agents: {},
      });
    } finally {
      await api.close();
    }
    const [replayed] = await until(
      () => deliveriesOf(id),
      (rows) => rows[0]?.status === 'delivered',
    );
    expect(replayed).toMatchObject({ status: 'delivered', attempts: 3 });
    expect(hook.requests.map((q) => q.headers['webhook-id'])).toEqual([
      dead.idempotency_key,
      dead.idempotency_key,
      dead.idempotency_key,
    ]);
  });

  it(
    'the circuit breaker opens after repeated failures, parks deliveries, and recovers',
    { timeout: 60_000 },
    async () => {
      const hook = await receiver();
      hook.always({ status: 502 });
      const id = await service.create(
        restTrigger('breaker', {
          url: hook.url,
          retry: { max_attempts: 20, initial_interval_ms: 100, max_interval_ms: 200 },
        }),
      );
      await fire();
      const destination = `rest:${new URL(hook.url).host}`;
      await until(
        () => listBreakers(db.pool, orgId, [destination]),
        (b) => b[0]?.state === 'open',
      );
      await until(
        () => deliveriesOf(id),
        (rows) => rows[0]?.status === 'parked',
      );
      const attemptsWhileOpen = hook.requests.length;
      hook.always(undefined);
      const [d] = await until(() => deliveriesOf(id), settled);
      expect(d.status).toBe('delivered');
      // Parked time spent no attempts: only the probe after the pause went out.
      expect(hook.requests.length).toBe(attemptsWhileOpen + 1);
      expect((await listBreakers(db.pool, orgId, [destination]))[0]).toMatchObject({
        state: 'closed',
        consecutiveFailures: 0,
      });
    },
  );

  it(
    "breakers are per organization and count only an unhealthy destination: one tenant's storm or 4xx parks no one else",
    { timeout: 60_000 },
    async () => {
      const [orgA, orgB, orgC] = [
        await insertOrganization(db.pool, userId),
        await insertOrganization(db.pool, userId),
        await insertOrganization(db.pool, userId),
      ];
      const shared = await receiver();
      const [rejecting, unexpected] = [await receiver(), await receiver()];
      rejecting.always({ status: 404 });
      const onAgent = (organizationId: string, agentId: string, actions: TriggerWrite['actions']): TriggerWrite => ({
        organizationId,
        userId,
        name: `breakers ${agentId}`,
        chainId: 31337,
        registry: 'reputation',
        conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: agentId }],
        actions,
      });
      const fireFor = async (agentId: string) => {
        await appendEvents(db.pool, [
          feedbackRecord({
            block_number: ++block,
            timestamp: Math.floor(Date.now() / 1000),
            agent_id: agentId,
            value: '1',
          }),
        ]);
        await relay.catchUp();
      };
      const retry = { max_attempts: 2, initial_interval_ms: 100, max_interval_ms: 200 };
      const api = await startTestApi(db, { taskQueue, secrets: box });
      try {
        const caller = await api.caller({
          authorization: `Bearer ${await api.services.tokens.signAccessToken(userId)}`,
        });
        const breakersOf = async (organizationId: string) =>
          (await caller.deliveries.breakers({ organizationId })).items;
        const destination = `rest:${new URL(shared.url).host}`;

        // Organization A's receiver fails (502) until its delivery is a dead letter: A's breaker opened.
        shared.always({ status: 502 });
        const a = await service.create(
          onAgent(orgA, '41', [{ action_type: 'rest', config: { url: shared.url, retry } }]),
        );
        await fireFor('41');
        await until(
          () => deliveriesOf(a),
          (rows) => rows[0]?.status === 'dead',
        );
        expect(await breakersOf(orgA)).toEqual([expect.objectContaining({ destination, consecutiveFailures: 2 })]);

        // Organization B delivers to the same host: it goes out, and neither touches nor is touched by A's breaker.
        shared.always(undefined);
        const b = await service.create(
          onAgent(orgB, '42', [{ action_type: 'rest', config: { url: `${shared.url}?b`, retry } }]),
        );
        await fireFor('42');
        expect(await until(() => deliveriesOf(b), settled)).toEqual([
          expect.objectContaining({ status: 'delivered', attempts: 1 }),
        ]);
        expect(await breakersOf(orgB)).toEqual([]);
        expect(await breakersOf(orgA)).toEqual([
          expect.objectContaining({
            destination,
            consecutiveFailures: 2,
            state: expect.stringMatching(/^(open|half_open)$/),
          }),
        ]);

        // Organization C's own mistakes — 4xx, an unexpected status, an address the SSRF guard refuses — open nothing.
        const c = await service.create(
          onAgent(orgC, '43', [
            { action_type: 'rest', priority: 1, config: { url: rejecting.url, retry } },
            { action_type: 'rest', priority: 2, config: { url: `${rejecting.url}?again`, retry } },
            { action_type: 'rest', priority: 3, config: { url: `${rejecting.url}?third`, retry } },
            { action_type: 'rest', priority: 4, config: { url: unexpected.url, expected_status: 201, retry } },
            { action_type: 'rest', priority: 5, config: { url: 'http://10.1.2.3/hook', retry } },
          ]),
        );
        await fireFor('43');
        const rows = await until(
          () => deliveriesOf(c),
          (d) => settled(d, 5),
        );
        expect(rows.map((d) => d.status)).toEqual(['dead', 'dead', 'dead', 'dead', 'dead']);
        expect(rejecting.requests).toHaveLength(3);
        expect(await breakersOf(orgC)).toEqual([]);
        for (const [id, org] of [
          [a, orgA],
          [b, orgB],
          [c, orgC],
        ] as const)
          await service.setEnabled(id, org, false);
      } finally {
        await api.close();
      }
    },
  );

  it("a batch's outcomes feed the breakers in order: failures after the last success count, a success closes", async () => {
    const dest = (n: string) => `rest:batch-${n}.example`;
    const key = (n: string) => ({ organizationId: orgId, destination: dest(n) });
    const options = { threshold: 3, basePauseMs: 60_000 };
    const verdicts = (n: string, healths: ('up' | 'down' | undefined)[]) =>
      healths.map((health) => ({ key: key(n), health }));
    // Two failures, a success, then three failures (a verdict-less attempt between them counts for nothing): the
    // breaker opens on the three that followed the success.
    await recordBreakerOutcomes(
      db.pool,
      verdicts('a', ['down', 'down', 'up', 'down', undefined, 'down', 'down']),
      new Map(),
      options,
    );
    // Two failures only: counted, still closed.
    await recordBreakerOutcomes(db.pool, verdicts('b', ['down', 'down']), new Map(), options);
    expect(await listBreakers(db.pool, orgId, [dest('a'), dest('b')])).toEqual([
      expect.objectContaining({ destination: dest('a'), state: 'open', consecutiveFailures: 3 }),
      expect.objectContaining({ destination: dest('b'), state: 'closed', consecutiveFailures: 2 }),
    ]);
    expect((await breakerGates(db.pool, [key('a'), key('b')])).get(breakerKeyId(key('a')))).toMatchObject({
      open: true,
    });
    // A later success closes it.
    await recordBreakerOutcomes(db.pool, verdicts('a', ['up']), await breakerGates(db.pool, [key('a')]), options);
    expect(await listBreakers(db.pool, orgId, [dest('a')])).toEqual([
      expect.objectContaining({ state: 'closed', consecutiveFailures: 0 }),
    ]);
    // Once closed with nothing to forget, further successes write nothing (the row is not even touched).
    const touched = async () =>
      (
        await db.pool.query(
          `SELECT updated_at::text AS at FROM delivery_breakers WHERE organization_id = $1 AND destination = $2`,
          [orgId, dest('a')],
        )
      ).rows[0].at as string;
    const before = await touched();
    await recordBreakerOutcomes(db.pool, verdicts('a', ['up']), await breakerGates(db.pool, [key('a')]), options);
    expect(await touched()).toBe(before);
    // Without a gate read first, a success is written.
    await recordBreakerOutcomes(db.pool, verdicts('a', ['up']), new Map(), options);
    expect(await touched()).not.toBe(before);
    // Only what says the destination is down is a failure: no answer, 5xx, 429 — not a 4xx or an SSRF refusal.
    expect(
      [
        { ok: false, permanent: false },
        { ok: false, permanent: false, status: 503 },
        { ok: false, permanent: false, status: 429 },
        { ok: false, permanent: true, status: 404 },
        { ok: false, permanent: false, status: 408 },
        { ok: false, permanent: true, status: 200 },
        { ok: false, permanent: true },
        { ok: true, permanent: false, status: 200 },
      ].map(destinationHealth),
    ).toEqual(['down', 'down', 'down', undefined, undefined, undefined, undefined, 'up']);
  });

  it('refuses private, loopback and metadata addresses (SSRF) as permanent failures', async () => {
    const id = await service.create({
      ...restTrigger('ssrf', { url: 'http://10.1.2.3/hook' }),
      actions: [
        { action_type: 'rest', config: { url: 'http://10.1.2.3/hook' } },
        { action_type: 'rest', config: { url: 'http://169.254.169.254/latest/meta-data/' } },
      ],
    });
    await fire();
    const rows = await until(
      () => deliveriesOf(id),
      (d) => settled(d, 2),
    );
    expect(rows.every((d) => d.status === 'dead' && d.attempts === 1)).toBe(true);
    expect(rows.map((d) => d.last_error).join(' ')).toMatch(/10\.1\.2\.3/);
    expect(rows.map((d) => d.last_error).join(' ')).toMatch(/169\.254\.169\.254/);
  });

  it('rejects a template naming an unknown variable when the trigger is saved, and writes nothing', async () => {
    const before = (await db.pool.query('SELECT count(*)::int AS n FROM triggers')).rows[0].n;
    const attempt = service.create({
      ...restTrigger('bad template', { url: 'https://example.test/hook' }),
      actions: [
        { action_type: 'telegram', config: { chat_id: '1', message_template: 'value {{event.valu}}' } },
        { action_type: 'rest', config: { url: 'https://example.test/hook', body_template: { x: '{{trigger.nme}}' } } },
      ],
    });
    await expect(attempt).rejects.toBeInstanceOf(DefinitionError);
    const issues = ((await attempt.catch((e: unknown) => e)) as DefinitionError).issues;
    expect(issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['actions.0.config.message_template', 'actions.1.config.body_template']),
    );
    expect(issues.find((i) => i.path === 'actions.0.config.message_template')!.message).toMatch(/event\.valu/);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM triggers')).rows[0].n).toBe(before);
  });

  it('MCP with the endpoint from the agent registration file, and a feedback file whose hash does not match', async () => {
    const registration = {
      type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
      name: 'agent 3',
      services: [{ name: 'MCP', endpoint: mcp.url }],
    };
    const uri = `data:application/json;base64,${Buffer.from(JSON.stringify(registration)).toString('base64')}`;
    await appendEvents(db.pool, [
      feedbackRecord({
        block_number: ++block,
        timestamp: Math.floor(Date.now() / 1000),
        registry: 'identity',
        event_type: 'Registered',
        agent_id: '3',
        token_uri: uri,
        owner: '0x' + '11'.repeat(20),
        value: null,
        value_decimals: null,
        client_address: null,
        feedback_index: null,
        tag1: null,
        tag2: null,
        endpoint: null,
        file_uri: null,
        file_hash: null,
      }),
    ]);
    await db.pool.query(
      `INSERT INTO agent_mcp_tokens (chain_id, agent_id, token) VALUES (31337, 3, $1) ON CONFLICT DO NOTHING`,
      [box.encrypt(AGENT_TOKEN, agentSecret(31337, 3, 'agent_mcp_tokens.token'))],
    );
    const fileBody = '{"value":"7"}';
    const fileUri = `data:application/json;base64,${Buffer.from(fileBody).toString('base64')}`;
    const id = await service.create({
      ...restTrigger('resolved endpoint', { url: 'https://unused.example' }),
      actions: [
        {
          action_type: 'mcp',
          priority: 1,
          config: {
            resolve_endpoint: true,
            tool_name: 'agent.receiveFeedback',
            verify_file_hash: true,
            arguments_template: { feedbackId: '{{event.id}}', value: '{{event.value}}' },
          },
        },
      ],
    });
    const calls = mcp.calls.length;
    const good = feedbackRecord({
      block_number: ++block,
      timestamp: Math.floor(Date.now() / 1000),
      agent_id: '3',
      value: '7',
      file_uri: fileUri,
      file_hash: keccak256(stringToHex(fileBody)),
    });
    const bad = feedbackRecord({
      block_number: ++block,
      timestamp: Math.floor(Date.now() / 1000),
      agent_id: '3',
      value: '8',
      file_uri: fileUri,
      file_hash: keccak256(stringToHex('tampered')),
    });
    await appendEvents(db.pool, [good, bad]);
    await relay.catchUp();
    const rows = await until(
      () => deliveriesOf(id),
      (d) => settled(d, 2),
    );
    const byEvent = Object.fromEntries(
      await Promise.all(
        rows.map(async (d) => [
          (await db.pool.query('SELECT event_id FROM deliveries WHERE idempotency_key = $1', [d.idempotency_key]))
            .rows[0].event_id,
          d,
        ]),
      ),
    );
    expect(byEvent[good.id as string]).toMatchObject({ status: 'delivered' });
    expect(byEvent[bad.id as string]).toMatchObject({ status: 'dead', attempts: 1 });
    expect(byEvent[bad.id as string].last_error).toMatch(/file hash mismatch/);
    expect(mcp.calls.slice(calls)).toEqual([
      expect.objectContaining({ args: { feedbackId: good.id, value: '7' }, authorization: `Bearer ${AGENT_TOKEN}` }),
    ]);
  });

  it("the agent's MCP token goes only to the endpoint the agent publishes, never to an endpoint the tenant chose", async () => {
    // Agent 7 publishes `mcp` (which requires its token); the tenant points a second action at its own MCP server.
    const tenantServer = await startMcpAgent();
    try {
      const registration = {
        type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
        name: 'agent 7',
        services: [{ name: 'MCP', endpoint: mcp.url }],
      };
      await appendEvents(db.pool, [
        feedbackRecord({
          block_number: ++block,
          timestamp: Math.floor(Date.now() / 1000),
          registry: 'identity',
          event_type: 'Registered',
          agent_id: '7',
          token_uri: `data:application/json;base64,${Buffer.from(JSON.stringify(registration)).toString('base64')}`,
          owner: '0x' + '11'.repeat(20),
          value: null,
          value_decimals: null,
          client_address: null,
          feedback_index: null,
          tag1: null,
          tag2: null,
          endpoint: null,
          file_uri: null,
          file_hash: null,
        }),
      ]);
      await db.pool.query(
        `INSERT INTO agent_mcp_tokens (chain_id, agent_id, token) VALUES (31337, 7, $1) ON CONFLICT DO NOTHING`,
        [box.encrypt(AGENT_TOKEN, agentSecret(31337, 7, 'agent_mcp_tokens.token'))],
      );
      const args = { feedbackId: '{{event.id}}', value: '{{event.value}}' };
      const id = await service.create({
        organizationId: orgId,
        userId,
        name: 'agent token destinations',
        chainId: 31337,
        registry: 'reputation',
        conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '7' }],
        actions: [
          {
            action_type: 'mcp',
            priority: 1,
            config: { endpoint: tenantServer.url, tool_name: 'agent.receiveFeedback', arguments_template: args },
          },
          {
            action_type: 'mcp',
            priority: 2,
            config: { resolve_endpoint: true, tool_name: 'agent.receiveFeedback', arguments_template: args },
          },
        ],
      });
      const published = mcp.calls.length;
      const record = feedbackRecord({
        block_number: ++block,
        timestamp: Math.floor(Date.now() / 1000),
        agent_id: '7',
        value: '5',
      });
      await appendEvents(db.pool, [record]);
      await relay.catchUp();
      const rows = await until(
        () => deliveriesOf(id),
        (d) => settled(d, 2),
      );
      expect(rows.map((d) => d.status)).toEqual(['delivered', 'delivered']);
      expect(tenantServer.calls).toEqual([
        expect.objectContaining({ args: { feedbackId: record.id, value: '5' }, authorization: undefined }),
      ]);
      expect(mcp.calls.slice(published)).toEqual([
        expect.objectContaining({
          args: { feedbackId: record.id, value: '5' },
          authorization: `Bearer ${AGENT_TOKEN}`,
        }),
      ]);
    } finally {
      await tenantServer.close();
    }
  });

  it("an agent's MCP token that does not open (sealed for another agent) fails the delivery for good, without a call", async () => {
    const registration = {
      type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
      name: 'agent 17',
      services: [{ name: 'MCP', endpoint: mcp.url }],
    };
    await appendEvents(db.pool, [
      feedbackRecord({
        block_number: ++block,
        timestamp: Math.floor(Date.now() / 1000),
        registry: 'identity',
        event_type: 'Registered',
        agent_id: '17',
        token_uri: `data:application/json;base64,${Buffer.from(JSON.stringify(registration)).toString('base64')}`,
        owner: '0x' + '11'.repeat(20),
        value: null,
        value_decimals: null,
        client_address: null,
        feedback_index: null,
        tag1: null,
        tag2: null,
        endpoint: null,
        file_uri: null,
        file_hash: null,
      }),
    ]);
    // Agent 7's sealed token copied to agent 17: it must not open there.
    await db.pool.query(`INSERT INTO agent_mcp_tokens (chain_id, agent_id, token) VALUES (31337, 17, $1)`, [
      box.encrypt(AGENT_TOKEN, agentSecret(31337, 7, 'agent_mcp_tokens.token')),
    ]);
    const id = await service.create({
      organizationId: orgId,
      userId,
      name: 'agent token that does not open',
      chainId: 31337,
      registry: 'reputation',
      conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: '17' }],
      actions: [
        {
          action_type: 'mcp',
          config: {
            resolve_endpoint: true,
            tool_name: 'agent.receiveFeedback',
            arguments_template: { feedbackId: '{{event.id}}' },
          },
        },
      ],
    });
    const calls = mcp.calls.length;
    await appendEvents(db.pool, [
      feedbackRecord({ block_number: ++block, timestamp: Math.floor(Date.now() / 1000), agent_id: '17', value: '5' }),
    ]);
    await relay.catchUp();
    const [row] = await until(
      () => deliveriesOf(id),
      (d) => settled(d, 1),
    );
    expect(row).toMatchObject({ status: 'dead', attempts: 1 });
    expect(row!.last_error).toMatch(/MCP token does not open/);
    expect(row!.last_error).not.toContain(AGENT_TOKEN);
    expect(mcp.calls.length).toBe(calls);
  });

  it('first attempts go out in batches: 40 firings in one relay batch are claimed and attempted together', async () => {
    const hook = await receiver();
    const id = await service.create(restTrigger('batched', { url: hook.url }));
    const records = Array.from({ length: 40 }, () =>
      feedbackRecord({ block_number: ++block, timestamp: Math.floor(Date.now() / 1000), agent_id: '3' }),
    );
    await appendEvents(db.pool, records);
    await relay.catchUp();
    const rows = await until(
      () => deliveriesOf(id),
      (d) => settled(d, 40),
    );
    expect(rows.every((d) => d.status === 'delivered' && d.attempts === 1)).toBe(true);
    expect(new Set(hook.requests.map((q) => q.headers['webhook-id']))).toEqual(
      new Set(rows.map((d) => d.idempotency_key)),
    );
    expect(hook.requests).toHaveLength(40);
    // All of the relay batch's deliveries went to one dispatcher and were claimed by one batch of its pump; none
    // needed a workflow of its own.
    const { rows: owners } = await db.pool.query(
      `SELECT DISTINCT workflow_id, claim FROM deliveries WHERE trigger_id = $1`,
      [id],
    );
    expect(owners).toHaveLength(1);
    expect(owners[0].workflow_id).toMatch(
      new RegExp(`^deliveries/${taskQueue}/[0-${DEFAULT_DELIVERY_DISPATCHERS - 1}]$`),
    );
    expect(owners[0].claim.startsWith(`${owners[0].workflow_id}#`)).toBe(true);
  });

  it("a firing's actions go out in priority order, and deliveries created again are not attempted again", async () => {
    const hook = await receiver();
    const id = await service.create({
      ...restTrigger('ordered', { url: hook.url }),
      actions: [
        { action_type: 'rest', priority: 9, config: { url: `${hook.url}?p=9` } },
        { action_type: 'rest', priority: 1, config: { url: `${hook.url}?p=1` } },
        { action_type: 'rest', priority: 5, config: { url: `${hook.url}?p=5` } },
      ],
    });
    const record = await fire();
    const rows = await until(
      () => deliveriesOf(id),
      (d) => settled(d, 3),
    );
    expect(rows.every((d) => d.status === 'delivered')).toBe(true);
    expect(hook.requests.map((q) => q.path.split('?')[1])).toEqual(['p=1', 'p=5', 'p=9']);

    // The relay batch dispatched again (as after a crash before its cursor moved): nothing is sent twice.
    const {
      rows: [match],
    } = await db.pool.query(
      `SELECT event_seq::text AS seq FROM trigger_matches WHERE trigger_id = $1 AND event_id = $2`,
      [id, record.id],
    );
    expect(
      await startDeliveries({ pool: db.pool, temporal: client, taskQueue, logger: testLogger }, [
        { triggerId: id, eventSeq: match.seq, kind: 'match' },
      ]),
    ).toBe(3);
    // A later firing proves the dispatchers have looked since.
    await fire();
    await until(
      () => deliveriesOf(id),
      (d) => settled(d, 6),
    );
    expect(hook.requests).toHaveLength(6);
    expect(new Set(hook.requests.map((q) => q.headers['webhook-id'])).size).toBe(6);
  });

  it('a delivery handed to its own workflow after a failed first attempt is not attempted again by a later pump run', async () => {
    const hook = await receiver();
    hook.script({ status: 503 });
    const id = await service.create(
      restTrigger('handed off', { url: hook.url, retry: { initial_interval_ms: 3_000, max_interval_ms: 3_000 } }),
    );
    await fire();
    const [pending] = await until(
      () => db.pool.query(`SELECT claim, workflow_id FROM deliveries WHERE trigger_id = $1`, [id]).then((r) => r.rows),
      (r) => r[0]?.workflow_id.startsWith('delivery/'),
    );
    // The dispatcher starts over (a new run, as after a crash) while the delivery's workflow waits out its backoff:
    // the new pump run sweeps its pending deliveries and leaves this one alone.
    const dispatcherId = (pending.claim as string).split('#')[0]!;
    await client.workflow.getHandle(dispatcherId).terminate('test: start over');
    await ensureDispatcher(client, taskQueue, dispatcherId);
    const [d] = await until(() => deliveriesOf(id), settled);
    expect(d).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(hook.requests).toHaveLength(2);
    expect(hook.requests[1]!.receivedAt - hook.requests[0]!.receivedAt).toBeGreaterThanOrEqual(2_900);
  });

  it('pump claims are leases: another run takes over only an expired claim, and a run whose claim was taken over settles nothing', async () => {
    const hook = await receiver();
    const id = await service.create(restTrigger('leases', { url: hook.url, timeout_ms: 10_000 }));
    await fire();
    const [first] = await until(() => deliveriesOf(id), settled);
    // A pending delivery of a dispatcher no workflow runs, so that only the pump runs below attempt it.
    const dispatcherId = dispatcherWorkflowId(`lease-test-${randomUUID()}`, 0);
    const key = `${first.idempotency_key}_lease`;
    await db.pool.query(
      `INSERT INTO deliveries (idempotency_key, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, workflow_id)
       SELECT $2, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, $3 FROM deliveries WHERE idempotency_key = $1`,
      [first.idempotency_key, key, dispatcherId],
    );
    const activities = createDeliveryActivities({
      pool: db.pool,
      logger: testLogger,
      temporal: client,
      taskQueue,
      ...testActionSettings({ secrets: box }),
      claimLeaseMs: 60_000,
    });
    const pumpRun = (runId: string, shiftMs: number) =>
      new MockActivityEnvironment({
        workflowExecution: { workflowId: dispatcherId, runId },
        activityId: 'pump',
        attempt: 1,
      }).run(activities.pumpDeliveries, { dispatcherId, shiftMs });
    const requestsFor = async () => hook.requests.filter((q) => q.headers['webhook-id'] === key);

    // Run A claims the delivery; the receiver holds its attempt up (and then fails it, 503).
    hook.script({ status: 503, delayMs: 3_000 });
    const runA = pumpRun('run-a', 200);
    await until(requestsFor, (r) => r.length === 1);
    // While A's lease holds, another run claims nothing.
    expect(await pumpRun('run-b', 200)).toMatchObject({ claimed: 0 });
    // A's lease expires (as if A had stalled past it): run C takes the delivery over and delivers it.
    await db.pool.query(
      `UPDATE deliveries SET claim_expires_at = now() - interval '1 second' WHERE idempotency_key = $1`,
      [key],
    );
    expect(await pumpRun('run-c', 200)).toMatchObject({ claimed: 1, delivered: 1 });
    // A's late failure changes nothing: the delivery stays delivered by C, and A hands nothing off to a workflow.
    expect(await runA).toMatchObject({ claimed: 1, handedOff: 0 });
    const { rows } = await db.pool.query(
      `SELECT status, workflow_id, claim FROM deliveries WHERE idempotency_key = $1`,
      [key],
    );
    expect(rows).toEqual([{ status: 'delivered', workflow_id: dispatcherId, claim: expect.stringContaining('run-c') }]);
    // Both attempts are on record (C's was recorded first: A's answer came later).
    expect((await attemptsOf(key)).map((a) => [a.status, a.http_status])).toEqual([
      ['success', 200],
      ['retrying', 503],
    ]);
    await expect(client.workflow.getHandle(deliveryWorkflowId(key)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  });

  it('a delivery created without a notification is found by the sweep; a pump that loses its LISTEN connection starts over', async () => {
    const hook = await receiver();
    const id = await service.create(restTrigger('swept', { url: hook.url }));
    await fire();
    const [first] = await until(() => deliveriesOf(id), settled);
    expect(first).toMatchObject({ status: 'delivered' });
    // A pending delivery nobody announced (as if its NOTIFY had been lost): the pump's sweep picks it up.
    const key = `${first.idempotency_key}_swept`;
    await db.pool.query(
      `INSERT INTO deliveries (idempotency_key, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, workflow_id)
       SELECT $2, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, workflow_id FROM deliveries WHERE idempotency_key = $1`,
      [first.idempotency_key, key],
    );
    await until(
      async () => hook.requests.filter((q) => q.headers['webhook-id'] === key).length,
      (n) => n === 1,
      15_000,
    );

    // The pumps' LISTEN connections dropped: each ends its shift and the next run listens again.
    const pumps = `SELECT pid FROM pg_stat_activity WHERE application_name = 'erc8004-delivery-pump' AND datname = current_database()`;
    const before = (await db.pool.query(pumps)).rows.map((r) => r.pid as number);
    expect(before).toHaveLength(DEFAULT_DELIVERY_DISPATCHERS);
    await db.pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before]);
    const after = await until(
      async () => (await db.pool.query(pumps)).rows.map((r) => r.pid as number),
      (pids) => pids.length === before.length && pids.every((p) => !before.includes(p)),
      20_000,
    );
    expect(after).toHaveLength(DEFAULT_DELIVERY_DISPATCHERS);
    await fire();
    await until(
      () => deliveriesOf(id),
      (d) => settled(d, 3),
    );
  });

  it('the maintenance workflow starts the dispatcher of deliveries left waiting', async () => {
    const hook = await receiver();
    const id = await service.create(restTrigger('orphaned', { url: hook.url }));
    await fire();
    const [first] = await until(() => deliveriesOf(id), settled);
    // A delivery waiting for two minutes on a dispatcher that nobody runs (as after terminating it by hand).
    const orphan = dispatcherWorkflowId(taskQueue, 7);
    const key = `${first.idempotency_key}_orphan`;
    await db.pool.query(
      `INSERT INTO deliveries (idempotency_key, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, workflow_id, created_at)
       SELECT $2, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, $3, now() - interval '2 minutes'
       FROM deliveries WHERE idempotency_key = $1`,
      [first.idempotency_key, key, orphan],
    );
    // A second one, created the same way (no NOTIFY) for the running dispatcher: once a sweep has delivered it, the
    // pumps have looked at the orphan too, and none took it.
    const swept = `${first.idempotency_key}_swept`;
    await db.pool.query(
      `INSERT INTO deliveries (idempotency_key, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, workflow_id)
       SELECT $2, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, workflow_id
       FROM deliveries WHERE idempotency_key = $1`,
      [first.idempotency_key, swept],
    );
    const received = (id = key) => hook.requests.filter((q) => q.headers['webhook-id'] === id).length;
    await until(
      async () => received(swept),
      (n) => n === 1,
    );
    expect(received()).toBe(0);
    const report = await client.workflow.execute(maintenanceWorkflow, {
      taskQueue,
      workflowId: `maintenance-${randomUUID()}`,
    });
    expect(report.dispatchersEnsured).toContain(orphan);
    await until(
      async () => received(),
      (n) => n === 1,
    );
  });

  it('a slow destination is left to per-delivery workflows, so it does not hold up the batches behind it', async () => {
    const slow = await receiver();
    slow.script({ delayMs: 1_200 });
    const id = await service.create(restTrigger('slow receiver', { url: slow.url }));
    await fire();
    const [first] = await until(() => deliveriesOf(id), settled);
    expect(first).toMatchObject({ status: 'delivered', attempts: 1 });
    // The next delivery to that destination does not go through a batch: its own workflow attempts it.
    await fire();
    const rows = await until(
      () => deliveriesOf(id),
      (d) => settled(d, 2),
    );
    expect(rows.every((d) => d.status === 'delivered')).toBe(true);
    const { rows: owners } = await db.pool.query(
      `SELECT workflow_id FROM deliveries WHERE trigger_id = $1 ORDER BY event_seq`,
      [id],
    );
    expect(owners.map((o) => o.workflow_id.split('/')[0])).toEqual(['deliveries', 'delivery']);
  });

  it(
    'a worker killed during a delivery: the retry carries the same idempotency key — one effect after dedupe',
    { timeout: 90_000 },
    async () => {
      const queue = `actions-kill-${randomUUID()}`;
      const hook = await receiver();
      hook.script({ hang: true });
      const killService = new TriggerService({
        pool: db.pool,
        temporal: client,
        taskQueue: queue,
        logger: testLogger,
        secrets: box,
      });
      const killRelay = new Relay({
        pool: db.pool,
        databaseUrl: db.url,
        logger: testLogger,
        name: 'kill',
        dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue: queue, logger: testLogger }),
      });
      const id = await killService.create(restTrigger('killed worker', { url: hook.url, timeout_ms: 2_000 }));
      const env = {
        DATABASE_URL: db.url,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_TASK_QUEUE: queue,
        MIGRATE_ON_START: 'false',
        APP_ENCRYPTION_KEY: appKey.toString('hex'),
        ACTION_ALLOWED_HOSTS: '127.0.0.1',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'warn',
      };
      const first = spawnWorker(env);
      try {
        const record = feedbackRecord({
          block_number: ++block,
          timestamp: Math.floor(Date.now() / 1000),
          agent_id: '3',
        });
        await appendEvents(db.pool, [record]);
        await killRelay.catchUp();
        await until(
          async () => hook.requests.length,
          (n) => n >= 1,
          30_000,
        );
        first.kill('SIGKILL');
        await new Promise((r) => first.once('exit', r));
      } finally {
        if (first.exitCode === null) first.kill('SIGKILL');
      }
      const second = spawnWorker(env);
      try {
        const [d] = await until(() => deliveriesOf(id), settled, 60_000);
        expect(d.status).toBe('delivered');
        const ids = hook.requests.map((q) => q.headers['webhook-id']);
        expect(ids.length).toBeGreaterThanOrEqual(2);
        expect(new Set(ids)).toEqual(new Set([d.idempotency_key]));
        // A receiver that deduplicates by webhook-id applies the effect once.
        expect(new Set(ids).size).toBe(1);
      } finally {
        second.kill('SIGTERM');
        await new Promise((r) => second.once('exit', r));
      }
    },
  );
});

function spawnWorker(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/bin/worker.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
}

/**
 * The A2A server through the SDK's own client (ClientFactory with the JSON-RPC and HTTP+JSON transports) against two
 * real API processes sharing the database and Temporal, with a worker of our own: the agent card (ETag, 304),
 * blocking, non-blocking and streaming sends answered by the task workflow (hold → compute → capture), ListTasks,
 * cancellation and subscription on the same and on the other process, a worker lost mid-task, refusals (credits,
 * unknown tool, limits, another organization's task, a request without A2A-Version).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ClientFactory,
  JsonRpcTransportFactory,
  RestTransportFactory,
  createAuthenticatingFetchWithRetry,
  DefaultAgentCardResolver,
  type Client,
} from '@a2a-js/sdk/client';
import { SendMessageRequest, Task, TaskState, type SendMessageResult, type StreamResponse } from '@a2a-js/sdk';
import { credit, getAccount, listActiveHolds, listEntries } from '../../src/billing/ledger.js';
import { toUnits } from '../../src/billing/amount.js';
import { QUERY_TOOLS } from '../../src/queries/catalog.js';
import { defineQueryTool, type QueryTool } from '../../src/queries/tool.js';
import type { RunningWorker } from '../../src/worker/worker.js';
import { startTestWorker } from '../helpers/temporal.js';
import { A2A_CARD_PATH, A2A_JSONRPC_PATH } from '../../src/a2a/card.js';
import { a2aWorkflowId, QUERY_TOOL } from '../../src/a2a/executor.js';
import { insertTask, statusOf } from '../../src/a2a/tasks.js';
import { resumeStrandedTasks } from '../../src/a2a/recovery.js';
import { createChainClient } from '../../src/indexer/rpc.js';
import { ORGANIZATION_ID } from '../../src/triggers/search-attributes.js';
import { startTestApi, type ApiCaller, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { indexTwoFeedbacks } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { fundedPayer, payingFetch, signedPayment, tokenBalance, x402Env } from '../helpers/x402.js';
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from '@x402/core/http';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { atomicAmount } from '../../src/payments/x402/config.js';

const CHAIN = 31337;
const AGENT = '7';
const HEAD = 110;

// ------------------------------------------------------------------------------------------------ a slow tool

/** Work a test holds open: a slow task's computation waits here until the test lets it go. */
let release: () => void = () => undefined;
let gate: Promise<void> = Promise.resolve();
let slowRuns = 0;
function closeGate(): void {
  gate = new Promise((resolve) => (release = resolve));
}

/** The report, replaced by one that reports progress and waits at the gate (cancellable by its signal). */
const slowReport = defineQueryTool({
  name: 'getReputationReport',
  tier: 3,
  title: 'Slow report',
  description: 'A report that takes as long as the test wants.',
  params: z.object({}),
  data: z.object({ feedback: z.number() }),
  async run(ctx) {
    slowRuns += 1;
    ctx.progress?.({ done: 0, total: 2, message: 'started' });
    await new Promise<void>((resolve, reject) => {
      void gate.then(resolve);
      ctx.signal?.addEventListener('abort', () => reject(new Error('aborted')));
    });
    ctx.progress?.({ done: 1, total: 2, message: 'half way' });
    const { rows } = await ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM canonical_events WHERE chain_id = $1 AND agent_id = $2 AND block_number <= $3`,
      [ctx.asOf.chainId, ctx.agentId, ctx.asOf.asOfBlock],
    );
    return { feedback: rows[0]!.n };
  },
});
const TOOLS: readonly QueryTool[] = QUERY_TOOLS.map((t) => (t.name === 'getReputationReport' ? slowReport : t));

// ------------------------------------------------------------------------------------------------ setup

let db: TestDatabase;
let api: TestApi;
/** The second API process: same database, same Temporal task queue. */
let other: TestApi;
let worker: RunningWorker;
/** The test chain (anvil): x402 payments, and the RPC that gives the worker's queries the hash of an old block. */
let chain: TestChain;
const taskQueue = `a2a-${randomUUID()}`;
let n = 0;
const tag = () => `${++n}_${Date.now() % 1_000_000}`;

interface Account {
  organizationId: string;
  as: ApiCaller;
  key: string;
}

async function account(credits: string): Promise<Account> {
  const session = await (
    await api.caller({}, `10.9.0.${n + 1}`)
  ).auth.register({ username: `a2a${tag()}`, email: `a2a${tag()}@example.test`, password: 'correct horse battery' });
  const as = await api.caller({ authorization: `Bearer ${session.accessToken}` }, `10.9.1.${n}`);
  const organizationId = session.organizationId!;
  const { key } = await as.apiKeys.create({ organizationId, name: `k${tag()}`, permissions: ['read'] });
  if (credits !== '0')
    await credit(db.pool, { organizationId, kind: 'grant', key: `a2a-test-${tag()}`, amount: credits });
  return { organizationId, as, key };
}

const startQueryWorker = (): Promise<RunningWorker> =>
  startTestWorker(db.pool, taskQueue, {
    queries: { tools: TOOLS, chains: [{ chainId: CHAIN, rpcUrl: chain.config.rpcUrl }] },
  });

async function client(server: TestApi, key: string, transport: 'jsonrpc' | 'rest' = 'jsonrpc'): Promise<Client> {
  const fetchImpl = createAuthenticatingFetchWithRetry(fetch, {
    headers: async () => ({ authorization: `Bearer ${key}` }),
    shouldRetryWithHeaders: async () => undefined,
  });
  const factory = new ClientFactory({
    transports: [
      transport === 'jsonrpc' ? new JsonRpcTransportFactory({ fetchImpl }) : new RestTransportFactory({ fetchImpl }),
    ],
    preferredTransports: [transport === 'jsonrpc' ? 'JSONRPC' : 'HTTP+JSON'],
  });
  // The card names the configured public URL (API_PUBLIC_URL); the test servers listen on ports of their own.
  const card = await new DefaultAgentCardResolver().resolve(server.server.url);
  const origin = new URL(server.services.publicUrl).origin;
  for (const i of card.supportedInterfaces) i.url = i.url.replace(origin, server.server.url);
  return factory.createFromAgentCard(card);
}

/** A SendMessage asking for a tool with arguments, as a data part. */
function ask(data: Record<string, unknown>, returnImmediately = false) {
  return {
    tenant: '',
    message: {
      messageId: randomUUID(),
      contextId: '',
      taskId: '',
      role: 1, // ROLE_USER
      parts: [
        { content: { $case: 'data' as const, value: data }, mediaType: 'application/json', filename: '', metadata: {} },
      ],
      metadata: {},
      extensions: [],
      referenceTaskIds: [],
    },
    configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately },
    metadata: {},
  };
}

const summary = { tool: 'getReputationSummary', chainId: CHAIN, agentId: AGENT };
const slow = { tool: 'getReputationReport', chainId: CHAIN, agentId: AGENT, fresh: true };

function asTask(result: SendMessageResult): Task {
  expect('status' in result, 'a task, not a message').toBe(true);
  return result as Task;
}
const stateOf = (task: Task) => task.status?.state;
const textOf = (task: Task) =>
  task.status?.message?.parts.map((p) => (p.content?.$case === 'text' ? p.content.value : '')).join('') ?? '';
const artifactData = (task: Task) => {
  const part = task.artifacts[0]?.parts[0]?.content;
  return part?.$case === 'data' ? (part.value as unknown) : undefined;
};
const balanceOf = async (organizationId: string) => (await getAccount(db.pool, organizationId)).balance;
const captures = async (organizationId: string) =>
  (await listEntries(db.pool, organizationId, { kinds: ['capture'] })).entries;
const taskRows = async (organizationId: string) =>
  Number(
    (await db.pool.query('SELECT count(*)::int AS n FROM a2a_tasks WHERE organization_id = $1', [organizationId]))
      .rows[0].n,
  );
const workflowStatus = async (taskId: string) =>
  (await api.services.temporal.workflow.getHandle(a2aWorkflowId(taskId)).describe()).status.name;

/** A slow task sent without waiting, held WORKING at the gate. */
async function startSlow(org: Account) {
  closeGate();
  const a2a = await client(api, org.key);
  const task = asTask(await a2a.sendMessage(ask(slow, true)));
  await eventually(
    () => a2a.getTask({ id: task.id, tenant: '', historyLength: undefined }),
    (t) => stateOf(t) === TaskState.TASK_STATE_WORKING,
  );
  return { a2a, task };
}

/** Collects a stream's events in the background. */
function collect(stream: AsyncGenerator<StreamResponse>) {
  const events: StreamResponse[] = [];
  const done = (async () => {
    for await (const event of stream) events.push(event);
  })();
  return { events, done };
}
const kinds = (events: StreamResponse[]) =>
  events.map((e) => {
    const p = e.payload!;
    if (p.$case === 'task') return `task:${TaskState[p.value.status!.state]}`;
    if (p.$case === 'statusUpdate') return `status:${TaskState[p.value.status!.state]}`;
    return p.$case;
  });

const indexChain = () =>
  indexTwoFeedbacks(db.pool, { chainId: CHAIN, agentId: AGENT, head: HEAD, headHash: `0x${'ab'.repeat(32)}` });

let owner: Account;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, {
    taskQueue,
    queryTools: TOOLS,
    env: { A2A_MAX_PENDING_TASKS: '3', A2A_MAX_ARGUMENT_BYTES: '512' },
  });
  other = await startTestApi(db, { taskQueue, queryTools: TOOLS, env: { A2A_MAX_PENDING_TASKS: '3' } });
  chain = await startTestChain({ paymentToken: true });
  expect(chain.anvil.chainId).toBe(CHAIN);
  worker = await startQueryWorker();
  await indexChain();
  owner = await account('10');
});
afterAll(async () => {
  release();
  await worker?.stop();
  await other?.close();
  await api?.close();
  await chain?.stop();
  await db?.drop();
});

// ------------------------------------------------------------------------------------------------ the card

describe('agent card', () => {
  it('lists the query tools with their prices, the credentials, both interfaces and streaming; ETag and 304', async () => {
    const res = await fetch(`${api.server.url}${A2A_CARD_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const card = (await res.json()) as {
      skills: { id: string; description: string }[];
      securitySchemes: unknown;
      supportedInterfaces: { protocolBinding: string; protocolVersion: string }[];
      capabilities: { streaming: boolean };
    };
    expect(card.skills.map((s) => s.id)).toEqual(TOOLS.map((t) => t.name));
    for (const skill of card.skills)
      expect(skill.description).toContain(`${api.services.queries.priceOf(skill.id)} USDC`);
    // The proto-JSON form, not the ts-proto object the SDK's own handler would ship ({"$case": …}).
    expect(card.securitySchemes).toEqual({
      bearer: { httpAuthSecurityScheme: expect.objectContaining({ scheme: 'Bearer' }) },
      apiKey: { apiKeySecurityScheme: expect.objectContaining({ location: 'header', name: 'X-API-Key' }) },
    });
    expect(card.supportedInterfaces.map((i) => i.protocolBinding)).toEqual(['JSONRPC', 'HTTP+JSON']);
    expect(card.supportedInterfaces.every((i) => i.protocolVersion === '1.0')).toBe(true);
    expect(card.capabilities.streaming).toBe(true);

    const again = await fetch(`${api.server.url}${A2A_CARD_PATH}`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
  });
});

// ------------------------------------------------------------------------------------------------ the wire

describe('requests', () => {
  const rpc = (headers: Record<string, string>) =>
    fetch(`${api.server.url}${A2A_JSONRPC_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: randomUUID() } }),
    });

  it('refuses a caller without credentials with 401', async () => {
    const res = await rpc({ 'a2a-version': '1.0' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
  });

  it('answers a request without A2A-Version (v0.3) with VersionNotSupported, -32009', async () => {
    const res = await rpc({ authorization: `Bearer ${owner.key}` });
    const body = (await res.json()) as { error?: { code: number } };
    expect(body.error?.code).toBe(-32009);
    const v1 = (await (await rpc({ authorization: `Bearer ${owner.key}`, 'a2a-version': '1.0' })).json()) as {
      error?: { code: number };
    };
    expect(v1.error?.code).toBe(-32001); // no such task: the version was accepted
  });
});

// ------------------------------------------------------------------------------------------------ tasks

describe('SendMessage', () => {
  it('blocks until COMPLETED, with the query answer as the artifact; the price is held, then captured once', async () => {
    const price = api.services.queries.priceOf('getReputationSummary');
    const before = await balanceOf(owner.organizationId);
    const task = asTask(await (await client(api, owner.key)).sendMessage(ask(summary)));
    expect(stateOf(task)).toBe(TaskState.TASK_STATE_COMPLETED);
    const expected = await api.services.queries.call({
      tool: 'getReputationSummary',
      input: { chainId: CHAIN, agentId: AGENT },
      payer: { kind: 'x402', payer: `0x${'99'.repeat(20)}`, paymentId: 'expected-answer' },
      surface: 'x402',
    });
    expect(artifactData(task)).toEqual(expected.answer);
    expect(toUnits(await balanceOf(owner.organizationId))).toBe(toUnits(before) - toUnits(price));
    const captured = (await captures(owner.organizationId)).filter((e) => e.description?.includes(task.id));
    expect(captured).toHaveLength(1);
    expect(await listActiveHolds(db.pool, owner.organizationId)).toEqual([]);
    // The task's ending is the workflow's last step: the workflow closes a moment after.
    const described = await eventually(
      () => api.services.temporal.workflow.getHandle(a2aWorkflowId(task.id)).describe(),
      (d) => d.status.name === 'COMPLETED',
    );
    expect(described.typedSearchAttributes.get(QUERY_TOOL)).toBe('getReputationSummary');
    expect(described.typedSearchAttributes.get(ORGANIZATION_ID)).toBe(owner.organizationId);
  });

  it('returns at once with returnImmediately; GetTask polls it to COMPLETED', async () => {
    const a2a = await client(api, owner.key, 'rest');
    const first = asTask(await a2a.sendMessage(ask({ ...summary, agentId: '8' }, true)));
    expect([TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING]).toContain(stateOf(first));
    const done = await eventually(
      () => a2a.getTask({ id: first.id, tenant: '', historyLength: undefined }),
      (t) => stateOf(t) === TaskState.TASK_STATE_COMPLETED,
    );
    expect((artifactData(done) as { agentId: string }).agentId).toBe('8');
    expect(done.history[0]?.parts[0]?.content?.$case).toBe('data');
  });

  it('streams SUBMITTED > WORKING > the artifact > COMPLETED', async () => {
    for (const transport of ['jsonrpc', 'rest'] as const) {
      closeGate();
      const { events, done } = collect((await client(api, owner.key, transport)).sendMessageStream(ask(slow)));
      await eventually(
        () => kinds(events),
        (k) => k.includes('status:TASK_STATE_WORKING'),
      );
      release();
      await done;
      const seen = kinds(events);
      expect(seen[0]).toBe('task:TASK_STATE_SUBMITTED');
      expect(seen.slice(-2)).toEqual(['artifactUpdate', 'status:TASK_STATE_COMPLETED']);
      const working = events.find((e) => e.payload?.$case === 'statusUpdate');
      expect(working?.payload?.$case === 'statusUpdate' && working.payload.value.metadata).toHaveProperty('progress');
    }
  });

  it('is REJECTED with the reason for an unknown tool or bad arguments, before any hold', async () => {
    const a2a = await client(api, owner.key);
    const unknown = asTask(await a2a.sendMessage(ask({ tool: 'getHoroscope', chainId: CHAIN, agentId: AGENT })));
    expect(stateOf(unknown)).toBe(TaskState.TASK_STATE_REJECTED);
    expect(textOf(unknown)).toMatch(/unknown tool "getHoroscope"/);
    const bad = asTask(await a2a.sendMessage(ask({ tool: 'getReputationSummary', chainId: CHAIN, agentId: '-1' })));
    expect(stateOf(bad)).toBe(TaskState.TASK_STATE_REJECTED);
    expect(textOf(bad)).toMatch(/agentId/);
    const rows = await db.pool.query('SELECT hold_id, workflow_id FROM a2a_tasks WHERE id = ANY($1)', [
      [unknown.id, bad.id],
    ]);
    expect(rows.rows).toEqual([
      { hold_id: null, workflow_id: null },
      { hold_id: null, workflow_id: null },
    ]);
  });

  it('is REJECTED when the credits do not cover the price, and nothing is charged', async () => {
    const poor = await account('0.01');
    const task = asTask(await (await client(api, poor.key)).sendMessage(ask({ ...slow })));
    expect(stateOf(task)).toBe(TaskState.TASK_STATE_REJECTED);
    expect(textOf(task)).toMatch(/^insufficient credits: .*0\.2.*needed/);
    expect(toUnits(await balanceOf(poor.organizationId))).toBe(toUnits('0.01'));
    expect(await captures(poor.organizationId)).toEqual([]);
  });

  it('refuses oversized arguments and a task beyond the pending limit, writing nothing', async () => {
    const org = await account('10');
    const a2a = await client(api, org.key);
    await expect(a2a.sendMessage(ask({ ...summary, padding: 'x'.repeat(600) }))).rejects.toThrow(/at most 512/);
    expect(await taskRows(org.organizationId)).toBe(0);

    closeGate();
    const pending = [];
    for (let i = 0; i < 3; i++) pending.push(asTask(await a2a.sendMessage(ask(slow, true))));
    await expect(a2a.sendMessage(ask(summary))).rejects.toThrow(/too many pending tasks/);
    expect(await taskRows(org.organizationId)).toBe(3);
    release();
    for (const task of pending)
      await eventually(
        () => a2a.getTask({ id: task.id, tenant: '', historyLength: undefined }),
        (t) => stateOf(t) === TaskState.TASK_STATE_COMPLETED,
      );
  });
});

describe('GetTask and ListTasks', () => {
  it("lists the organization's tasks newest first, paged; another organization's task is not found", async () => {
    const org = await account('10');
    const a2a = await client(api, org.key);
    const ids: string[] = [];
    for (const agentId of ['20', '21', '22']) ids.push(asTask(await a2a.sendMessage(ask({ ...summary, agentId }))).id);
    const first = await a2a.listTasks({
      tenant: '',
      contextId: '',
      status: 0,
      pageSize: 2,
      pageToken: '',
      statusTimestampAfter: undefined,
    });
    expect(first.tasks.map((t) => t.id)).toEqual([ids[2], ids[1]]);
    expect(first.totalSize).toBe(3);
    const second = await a2a.listTasks({
      tenant: '',
      contextId: '',
      status: 0,
      pageSize: 2,
      pageToken: first.nextPageToken,
      statusTimestampAfter: undefined,
    });
    expect(second.tasks.map((t) => t.id)).toEqual([ids[0]]);
    expect(second.nextPageToken).toBe('');

    const stranger = await client(api, owner.key);
    await expect(stranger.getTask({ id: ids[0]!, tenant: '', historyLength: undefined })).rejects.toThrow(/not found/i);
    await expect(stranger.cancelTask({ id: ids[0]!, tenant: '', metadata: {} })).rejects.toThrow(/not found/i);
    // A message naming another organization's task (its id chosen by the client) does not reach it.
    const row = async () =>
      (await db.pool.query('SELECT organization_id, history, status_detail FROM a2a_tasks WHERE id = $1', [ids[0]]))
        .rows;
    const before = await row();
    expect(before).toEqual([expect.objectContaining({ organization_id: org.organizationId })]);
    const intrusion = ask(summary);
    intrusion.message.taskId = ids[0]!;
    await expect(stranger.sendMessage(intrusion)).rejects.toThrow(/not found/i);
    expect(await row()).toEqual(before);
  });
});

// ------------------------------------------------------------------------------------------------ cancel, subscribe

describe('CancelTask and SubscribeToTask', () => {
  it('cancels on the same process: workflow cancelled, hold released, nothing charged', async () => {
    const org = await account('10');
    const before = await balanceOf(org.organizationId);
    const { a2a, task } = await startSlow(org);
    const canceled = await a2a.cancelTask({ id: task.id, tenant: '', metadata: {} });
    expect(stateOf(canceled)).toBe(TaskState.TASK_STATE_CANCELED);
    expect(
      await eventually(
        () => workflowStatus(task.id),
        (s) => s === 'CANCELLED',
      ),
    ).toBe('CANCELLED');
    expect(await listActiveHolds(db.pool, org.organizationId)).toEqual([]);
    expect(await balanceOf(org.organizationId)).toBe(before);
    expect(await captures(org.organizationId)).toEqual([]);
    release();
  });

  it('cancels through the other process; its subscription streams live until CANCELED', async () => {
    const org = await account('10');
    const before = await balanceOf(org.organizationId);
    closeGate();
    const stream = collect((await client(api, org.key)).sendMessageStream(ask(slow)));
    await eventually(
      () => kinds(stream.events),
      (k) => k.includes('status:TASK_STATE_WORKING'),
    );
    const taskId = (stream.events[0]!.payload as { value: Task }).value.id;

    const elsewhere = await client(other, org.key, 'rest');
    const subscription = collect(elsewhere.resubscribeTask({ id: taskId, tenant: '' }));
    await eventually(
      () => subscription.events.length,
      (k) => k >= 1,
    );
    const canceled = await elsewhere.cancelTask({ id: taskId, tenant: '', metadata: {} });
    expect(stateOf(canceled)).toBe(TaskState.TASK_STATE_CANCELED);
    await Promise.all([stream.done, subscription.done]);
    expect(kinds(stream.events).at(-1)).toBe('status:TASK_STATE_CANCELED');
    expect(kinds(subscription.events)[0]).toMatch(/^task:/);
    expect(kinds(subscription.events).at(-1)).toBe('status:TASK_STATE_CANCELED');
    expect(stream.events.some((e) => e.payload?.$case === 'artifactUpdate')).toBe(false);
    expect(
      await eventually(
        () => workflowStatus(taskId),
        (s) => s === 'CANCELLED',
      ),
    ).toBe('CANCELLED');
    expect(await listActiveHolds(db.pool, org.organizationId)).toEqual([]);
    expect(await balanceOf(org.organizationId)).toBe(before);
    release();
  });

  it("streams a task's progress live on the other process until COMPLETED", async () => {
    const org = await account('10');
    const { task } = await startSlow(org);
    const subscription = collect((await client(other, org.key)).resubscribeTask({ id: task.id, tenant: '' }));
    await eventually(
      () => subscription.events.length,
      (k) => k >= 1,
    );
    release();
    await subscription.done;
    expect(kinds(subscription.events)[0]).toBe('task:TASK_STATE_WORKING');
    expect(kinds(subscription.events).slice(-2)).toEqual(['artifactUpdate', 'status:TASK_STATE_COMPLETED']);
    // A terminal task has nothing more to say: subscribing is refused.
    await expect(
      (async () => {
        for await (const event of (await client(other, org.key)).resubscribeTask({ id: task.id, tenant: '' }))
          void event;
      })(),
    ).rejects.toThrow(/terminal/);
  });

  it('cancelling a completed task is refused with TaskNotCancelable', async () => {
    const org = await account('10');
    const a2a = await client(other, org.key);
    const task = asTask(await a2a.sendMessage(ask({ ...summary, agentId: '30' })));
    await expect(a2a.cancelTask({ id: task.id, tenant: '', metadata: {} })).rejects.toThrow(/not cancelable/i);
  });

  it('a cancel racing the completion ends the task one way: CANCELED with nothing charged, or COMPLETED charged once', async () => {
    const org = await account('10');
    const before = await balanceOf(org.organizationId);
    const price = api.services.queries.priceOf('getReputationReport');
    const { a2a, task } = await startSlow(org);
    release();
    const cancel = await a2a.cancelTask({ id: task.id, tenant: '', metadata: {} }).then(
      (t) => stateOf(t),
      (err: Error) => err.message,
    );
    const ended = await eventually(
      () => a2a.getTask({ id: task.id, tenant: '', historyLength: undefined }),
      (t) => stateOf(t) === TaskState.TASK_STATE_CANCELED || stateOf(t) === TaskState.TASK_STATE_COMPLETED,
    );
    expect(await listActiveHolds(db.pool, org.organizationId)).toEqual([]);
    if (stateOf(ended) === TaskState.TASK_STATE_CANCELED) {
      expect(cancel).toBe(TaskState.TASK_STATE_CANCELED);
      expect(await captures(org.organizationId)).toEqual([]);
      expect(await balanceOf(org.organizationId)).toBe(before);
    } else {
      expect(cancel).toMatch(/not cancelable/i);
      expect(await captures(org.organizationId)).toHaveLength(1);
      expect(toUnits(await balanceOf(org.organizationId))).toBe(toUnits(before) - toUnits(price));
    }
  });
});

// ------------------------------------------------------------------------------------------------ hardening

describe('the pending-task limit under simultaneous sends', () => {
  it('never lets more than the limit be pending: the sends beyond it are refused or REJECTED', async () => {
    const org = await account('10');
    const clients = [await client(api, org.key), await client(other, org.key, 'rest')];
    closeGate();
    const sends = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => clients[i % 2]!.sendMessage(ask(slow, true))),
    );
    const { rows } = await db.pool.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM a2a_tasks WHERE organization_id = $1 GROUP BY status',
      [org.organizationId],
    );
    const count = (status: string) => rows.find((r) => r.status === status)?.n ?? 0;
    expect(count('submitted') + count('working')).toBe(3);
    const accepted = sends.flatMap((r) =>
      r.status === 'fulfilled' && stateOf(asTask(r.value)) !== TaskState.TASK_STATE_REJECTED ? [asTask(r.value)] : [],
    );
    expect(accepted).toHaveLength(3);
    // Every other send was refused before it was written, or written REJECTED by the insert that holds the limit.
    for (const refused of sends) {
      if (refused.status === 'rejected') expect(String(refused.reason)).toMatch(/too many pending tasks/);
      else if (stateOf(asTask(refused.value)) === TaskState.TASK_STATE_REJECTED)
        expect(textOf(asTask(refused.value))).toMatch(/too many pending tasks: 3 are submitted or working/);
    }
    expect(count('rejected')).toBe(sends.filter((r) => r.status === 'fulfilled').length - 3);
    release();
    for (const task of accepted)
      await eventually(
        () => clients[0]!.getTask({ id: task.id, tenant: '', historyLength: undefined }),
        (t) => stateOf(t) === TaskState.TASK_STATE_COMPLETED,
      );
  }, 60_000);
});

describe('a task whose workflow was never started', () => {
  /** A task recorded as the executor records it, by an API process that died before starting its workflow. */
  async function strandedTask(org: Account, agentId: string, ageSeconds: number): Promise<string> {
    const id = randomUUID();
    const ids = { id, contextId: randomUUID() };
    const input = { chainId: CHAIN, agentId };
    await insertTask(db.pool, {
      ...ids,
      owner: { organizationId: org.organizationId },
      caller: 'apiKey:test',
      tool: 'getReputationSummary',
      arguments: input,
      price: api.services.queries.priceOf('getReputationSummary'),
      message: ask({ ...summary, agentId }).message,
      status: statusOf(ids, TaskState.TASK_STATE_SUBMITTED),
      workflowId: a2aWorkflowId(id),
    });
    await db.pool.query(`UPDATE a2a_tasks SET created_at = now() - make_interval(secs => $2) WHERE id = $1`, [
      id,
      ageSeconds,
    ]);
    return id;
  }

  it('is started by the sweep after the grace period, and completes once, charged once', async () => {
    const org = await account('10');
    const stranded = await strandedTask(org, '30', 600);
    const recent = await strandedTask(org, '31', 0);
    const sweep = { pool: db.pool, temporal: api.services.temporal, taskQueue, logger: testLogger };
    // Two sweeps at once (two maintenance runs, or a retried activity) start one workflow.
    const [first, second] = await Promise.all([resumeStrandedTasks(sweep), resumeStrandedTasks(sweep)]);
    expect(first).toContain(stranded);
    expect(second).toContain(stranded);
    expect(first).not.toContain(recent);
    await eventually(
      () => workflowStatus(stranded),
      (status) => status === 'COMPLETED',
    );
    const price = api.services.queries.priceOf('getReputationSummary');
    const row = await db.pool.query('SELECT status, cost::float8 AS cost FROM a2a_tasks WHERE id = $1', [stranded]);
    expect(row.rows[0]).toEqual({ status: 'completed', cost: Number(price) });
    expect((await captures(org.organizationId)).filter((e) => e.description?.includes(stranded))).toHaveLength(1);
    expect(toUnits(await balanceOf(org.organizationId))).toBe(toUnits('10') - toUnits(price));
    // A sweep after its ending starts nothing again.
    expect(await resumeStrandedTasks(sweep)).not.toContain(stranded);
    expect((await captures(org.organizationId)).filter((e) => e.description?.includes(stranded))).toHaveLength(1);
    expect((await db.pool.query('SELECT status FROM a2a_tasks WHERE id = $1', [recent])).rows[0].status).toBe(
      'submitted',
    );
  }, 60_000);
});

describe('a task as of a block the indexer does not remember', () => {
  it("is answered with the block's hash from the chain's RPC", async () => {
    const block = await createChainClient({ rpcUrl: chain.config.rpcUrl }).getBlock({ blockNumber: 1n });
    const known = await db.pool.query(
      'SELECT 1 FROM indexed_blocks WHERE chain_id = $1 AND block_number = 1 UNION ALL SELECT 1 FROM canonical_events WHERE chain_id = $1 AND block_number = 1',
      [CHAIN],
    );
    expect(known.rowCount).toBe(0);
    const task = asTask(await (await client(api, owner.key)).sendMessage(ask({ ...summary, asOfBlock: 1 })));
    expect(textOf(task)).toBe('');
    expect(stateOf(task)).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(artifactData(task)).toMatchObject({ asOfBlock: 1, asOfBlockHash: block.hash });
  });
});

describe("a plan's included query calls", () => {
  async function includedAccount(): Promise<Account> {
    const org = await account('0');
    await db.pool.query(`UPDATE organizations SET plan = 'starter' WHERE id = $1`, [org.organizationId]);
    return org;
  }
  const usedCalls = async (organizationId: string) =>
    Number(
      (
        await db.pool.query(
          'SELECT coalesce(sum(used), 0)::int AS n FROM query_allowances WHERE organization_id = $1',
          [organizationId],
        )
      ).rows[0].n,
    );

  it('pay for a task while the month has some: no hold, no charge, the usage row says included', async () => {
    const org = await includedAccount();
    const task = asTask(await (await client(api, org.key)).sendMessage(ask(summary)));
    expect(textOf(task)).toBe('');
    expect(stateOf(task)).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(await usedCalls(org.organizationId)).toBe(1);
    expect(toUnits(await balanceOf(org.organizationId))).toBe(0n);
    expect(await captures(org.organizationId)).toEqual([]);
    const usage = await db.pool.query(
      'SELECT included, cost::float8 AS cost, surface FROM usage_logs WHERE organization_id = $1',
      [org.organizationId],
    );
    expect(usage.rows).toEqual([{ included: true, cost: 0, surface: 'a2a' }]);
    const row = await db.pool.query('SELECT hold_id, cost::float8 AS cost FROM a2a_tasks WHERE id = $1', [task.id]);
    expect(row.rows[0]).toEqual({ hold_id: null, cost: 0 });
  });

  it('are given back when the task is canceled', async () => {
    const org = await includedAccount();
    const { a2a, task } = await startSlow(org);
    expect(await usedCalls(org.organizationId)).toBe(1);
    expect(stateOf(await a2a.cancelTask({ id: task.id, tenant: '', metadata: {} }))).toBe(
      TaskState.TASK_STATE_CANCELED,
    );
    await eventually(
      () => usedCalls(org.organizationId),
      (n) => n === 0,
    );
    release();
  });
});

// ------------------------------------------------------------------------------------------------ worker loss

describe('a worker lost mid-task', () => {
  it('is replaced: the task completes once and is charged once', async () => {
    const org = await account('10');
    const before = await balanceOf(org.organizationId);
    const price = api.services.queries.priceOf('getReputationReport');
    closeGate();
    const runsBefore = slowRuns;
    const a2a = await client(api, org.key);
    const task = asTask(await a2a.sendMessage(ask(slow, true)));
    await eventually(
      () => slowRuns,
      (runs) => runs > runsBefore,
    );
    await worker.stop();
    // Let the retried computation through at once on the new worker.
    release();
    worker = await startQueryWorker();
    const done = await eventually(
      () => a2a.getTask({ id: task.id, tenant: '', historyLength: undefined }),
      (t) => stateOf(t) === TaskState.TASK_STATE_COMPLETED,
      30_000,
    );
    expect(slowRuns - runsBefore).toBeGreaterThanOrEqual(2);
    expect(done.artifacts).toHaveLength(1);
    expect(await captures(org.organizationId)).toHaveLength(1);
    expect(toUnits(await balanceOf(org.organizationId))).toBe(toUnits(before) - toUnits(price));
    const answered = await db.pool.query(
      `SELECT count(*)::int AS n FROM usage_logs WHERE organization_id = $1 AND surface = 'a2a' AND outcome = 'answered'`,
      [org.organizationId],
    );
    expect(answered.rows[0].n).toBe(1);
  }, 60_000);
});

// ------------------------------------------------------------------------------------------------ x402

describe('x402 for callers without an account', () => {
  let paid: TestApi;
  const payTo = privateKeyToAccount(generatePrivateKey()).address;
  const sendMessage = (data: Record<string, unknown>, headers: Record<string, string> = { 'a2a-version': '1.0' }) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 7,
      method: 'SendMessage',
      params: SendMessageRequest.toJSON(ask(data)),
    }),
  });
  const rpcUrl = () => `${paid.server.url}${A2A_JSONRPC_PATH}`;

  beforeAll(async () => {
    paid = await startTestApi(db, { taskQueue, queryTools: TOOLS, env: x402Env(chain, payTo) });
  });
  afterAll(async () => {
    await paid?.close();
  });

  it('asks for the price with 402, then answers a paid SendMessage with the COMPLETED task', async () => {
    const price = paid.services.queries.priceOf('getReputationSummary');
    const unpaid = await fetch(rpcUrl(), sendMessage({ ...summary, agentId: '40' }));
    expect(unpaid.status).toBe(402);
    const required = decodePaymentRequiredHeader(unpaid.headers.get('payment-required')!);
    const amount = atomicAmount(price, 6).toString();
    expect(required.accepts).toEqual([expect.objectContaining({ amount, payTo })]);
    expect(required.resource.url).toMatch(/\/a2a\/jsonrpc#getReputationSummary$/);

    const payer = await fundedPayer(chain, 5_000_000n);
    const res = await payingFetch(chain, payer.key)(rpcUrl(), sendMessage({ ...summary, agentId: '40' }));
    expect(res.status).toBe(200);
    expect(decodePaymentResponseHeader(res.headers.get('payment-response')!)).toMatchObject({ success: true });
    const body = (await res.json()) as { id: number; result: { task: { id: string } } };
    expect(body.id).toBe(7);
    const task = Task.fromJSON(body.result.task);
    expect(stateOf(task)).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(artifactData(task)).toMatchObject({ tool: 'getReputationSummary', chainId: CHAIN, agentId: '40' });
    expect(await tokenBalance(chain, payer.address)).toBe(5_000_000n - BigInt(amount));
    const { rows } = await db.pool.query(
      `SELECT t.payer_address, t.organization_id, t.status, u.surface, u.payer_address AS usage_payer
       FROM a2a_tasks t JOIN usage_logs u ON u.payment_reference = t.payment_reference WHERE t.id = $1`,
      [task.id],
    );
    expect(rows).toEqual([
      {
        payer_address: payer.address.toLowerCase(),
        organization_id: null,
        status: 'completed',
        surface: 'a2a',
        usage_payer: payer.address.toLowerCase(),
      },
    ]);
  });

  it('runs one payment once: sent 4 times at once, one COMPLETED task and one sale; sent again, refused', async () => {
    const amount = atomicAmount(paid.services.queries.priceOf('getReputationSummary'), 6);
    const payer = await fundedPayer(chain, 5_000_000n);
    const request = sendMessage({ ...summary, agentId: '41' });
    const signature = await signedPayment(chain, payer.key, rpcUrl(), request);
    const send = () => fetch(rpcUrl(), { ...request, headers: { ...request.headers, 'PAYMENT-SIGNATURE': signature } });
    const responses = await Promise.all(Array.from({ length: 4 }, send));
    expect(responses.map((r) => r.status).sort()).toEqual([200, 402, 402, 402]);
    const replay = await send();
    expect(replay.status).toBe(402);
    expect(decodePaymentRequiredHeader(replay.headers.get('payment-required')!).error).toBe(
      'invalid_exact_evm_nonce_already_used',
    );
    expect(await tokenBalance(chain, payer.address)).toBe(5_000_000n - amount);
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*)::int FROM a2a_tasks WHERE payer_address = $1) AS tasks,
         (SELECT count(*)::int FROM usage_logs WHERE payer_address = $1) AS usage`,
      [payer.address.toLowerCase()],
    );
    expect(rows).toEqual([{ tasks: 1, usage: 1 }]);
  });

  it('refuses bad arguments before any payment, and every other method without credentials', async () => {
    const bad = await fetch(rpcUrl(), sendMessage({ tool: 'getHoroscope', chainId: CHAIN, agentId: AGENT }));
    expect(bad.status).toBe(400);
    expect(bad.headers.get('payment-required')).toBeNull();
    const getTask = await fetch(rpcUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'a2a-version': '1.0' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: randomUUID() } }),
    });
    expect(getTask.status).toBe(401);
    const v03 = (await (await fetch(rpcUrl(), sendMessage(summary, {}))).json()) as { error: { code: number } };
    expect(v03.error.code).toBe(-32009);
  });
});

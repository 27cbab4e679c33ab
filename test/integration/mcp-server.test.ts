/**
 * The MCP server at /mcp through the SDK's own client (Client + StreamableHTTPClientTransport) against a real API
 * server and database: the query tools listed with schemas and prices, bearer auth with API keys and OAuth tokens
 * (401/403 as the MCP authorization spec words them), calls charged to the key's or token's own organization (and
 * refused, charging nothing, when its credits do not cover them), progress notifications, the HTTP edges (405, body
 * limits, malformed JSON), and the pay-per-call seam x402 plugs into, with a stand-in for x402.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOAuthClient, issueClientCredentialsToken } from '../../src/auth/oauth.js';
import { MCP_MAX_BODY_BYTES, type McpHandlerOptions } from '../../src/mcp/handler.js';
import type { ApiServices } from '../../src/api/trpc/context.js';
import { X402_PAYMENT_META, X402_PAYMENT_RESPONSE_META, type McpPayPerCall } from '../../src/mcp/pay-per-call.js';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { createApiHandlers } from '../../src/api/trpc/handlers.js';
import { BILLING_META_KEY, IDEMPOTENCY_META_KEY, PRICING_META_KEY } from '../../src/mcp/tools.js';
import { toUnits } from '../../src/billing/amount.js';
import { credit, getAccount, listEntries } from '../../src/billing/ledger.js';
import { QUERY_TOOLS } from '../../src/queries/catalog.js';
import { TIER_DEFAULTS } from '../../src/queries/tool.js';
import { startTestApi, type ApiCaller, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/wait.js';
import { indexTwoFeedbacks } from '../helpers/fixtures.js';

let db: TestDatabase;
let api: TestApi;
let n = 0;
const tag = () => `${++n}_${Date.now() % 1_000_000}`;

interface Account {
  organizationId: string;
  as: ApiCaller;
}

async function account(): Promise<Account> {
  const session = await (
    await api.caller({}, `10.7.0.${n + 1}`)
  ).auth.register({ username: `mcp${tag()}`, email: `mcp${tag()}@example.test`, password: 'correct horse battery' });
  return {
    organizationId: session.organizationId!,
    as: await api.caller({ authorization: `Bearer ${session.accessToken}` }, `10.7.1.${n}`),
  };
}

let lastKeyId = '';
async function apiKey(owner: Account, permissions: ('read' | 'write' | 'delete' | 'admin')[]): Promise<string> {
  const created = await owner.as.apiKeys.create({
    organizationId: owner.organizationId,
    name: `k${tag()}`,
    permissions,
  });
  lastKeyId = created.id;
  return created.key;
}

async function oauthToken(owner: Account, scope: string): Promise<string> {
  const client = await createOAuthClient(db.pool, {
    organizationId: owner.organizationId,
    name: `c${tag()}`,
    allowedScopes: ['read', 'write'],
  });
  const token = await issueClientCredentialsToken(db.pool, {
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    scope,
  });
  return token.access_token;
}

const mcpUrl = () => new URL(`${api.server.url}/mcp`);

async function connect(headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'mcp-server-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl(), { requestInit: { headers } }));
  return client;
}

const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

/** A raw POST /mcp, as a client that speaks Streamable HTTP would send it. */
function post(headers: Record<string, string>, body: string | Buffer = initialize): Promise<Response> {
  return fetch(mcpUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
}

/** Another API server on the same database, for wiring the test API does not have (pay per call, other tools). */
function startSecondServer(services: ApiServices, mcp?: McpHandlerOptions): Promise<RunningApiServer> {
  return startApiServer(
    {
      pool: db.pool,
      temporal: services.temporal,
      taskQueue: services.taskQueue,
      logger: services.logger,
      api: createApiHandlers(services, { baseUrl: 'http://127.0.0.1', mcp }),
    },
    { host: '127.0.0.1', port: 0 },
  );
}

let owner: Account;
let readKey: string;
let readKeyCaller: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  owner = await account();
  readKey = await apiKey(owner, ['read']);
  readKeyCaller = `apiKey:${lastKeyId}`;
  await indexChain();
  await grant(owner.organizationId, '10');
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

describe('tools/list', () => {
  it('lists every query tool with its input and output schemas, annotations and price', async () => {
    const client = await connect({ authorization: `Bearer ${readKey}` });
    const { tools } = await client.listTools();
    await client.close();
    expect(tools.map((t) => t.name)).toEqual(QUERY_TOOLS.map((t) => t.name));
    for (const tool of QUERY_TOOLS) {
      const listed = tools.find((t) => t.name === tool.name)!;
      const price = api.services.queries.priceOf(tool.name);
      const { cacheTtlSeconds } = TIER_DEFAULTS[tool.tier];
      expect(listed._meta?.[PRICING_META_KEY]).toEqual({ tier: tool.tier, price, currency: 'USDC', cacheTtlSeconds });
      expect(listed.description).toContain(`${price} USDC per call`);
      expect(listed.annotations).toMatchObject({ readOnlyHint: true, idempotentHint: true, openWorldHint: false });
      expect(listed.inputSchema.properties).toMatchObject({ chainId: {}, agentId: {}, asOfBlock: {}, fresh: {} });
      expect(listed.inputSchema.required).toEqual(expect.arrayContaining(['chainId', 'agentId']));
      expect(listed.outputSchema?.properties).toMatchObject({
        chainId: {},
        asOfBlock: {},
        asOfBlockHash: {},
        data: {},
      });
    }
  });
});

describe('bearer authentication', () => {
  it('refuses a request without credentials or with a bad key with 401 and a challenge naming the resource metadata', async () => {
    const bogus = `sk_live_${'A'.repeat(8)}_${'b'.repeat(32)}`;
    const attempts: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${bogus}` },
      { authorization: 'Basic abc' },
    ];
    for (const headers of attempts) {
      const res = await post(headers);
      expect(res.status).toBe(401);
      const challenge = res.headers.get('www-authenticate')!;
      expect(challenge).toMatch(
        /^Bearer error="invalid_token", error_description="[^"\\]+", scope="read", resource_metadata="[^"]+"$/,
      );
      const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)![1]!;
      expect(new URL(metadataUrl).pathname).toBe('/.well-known/oauth-protected-resource/mcp');
      expect(await res.json()).toMatchObject({ error: 'invalid_token' });
    }
    await expect(connect({})).rejects.toThrow();
  });

  it('serves the protected-resource metadata and the authorization server metadata it points to', async () => {
    const resource = await (await fetch(`${api.server.url}/.well-known/oauth-protected-resource/mcp`)).json();
    expect(resource).toMatchObject({
      resource: `${api.services.publicUrl}/mcp`,
      authorization_servers: [api.services.publicUrl],
      bearer_methods_supported: ['header'],
    });
    const server = await (await fetch(`${api.server.url}/.well-known/oauth-authorization-server`)).json();
    expect(server).toMatchObject({
      issuer: api.services.publicUrl,
      token_endpoint: `${api.services.publicUrl}/oauth/token`,
      grant_types_supported: ['client_credentials'],
    });
  });

  it("refuses an API key without the 'read' permission with 403 insufficient_scope", async () => {
    const writeOnly = await apiKey(owner, ['write']);
    const res = await post({ authorization: `Bearer ${writeOnly}` });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_scope", .*scope="read"/);
    expect(await res.json()).toMatchObject({ error: 'insufficient_scope' });
    // X-API-Key is the same credential as for the REST API.
    expect((await post({ 'x-api-key': writeOnly })).status).toBe(403);
    expect((await post({ 'x-api-key': readKey })).status).toBe(200);
  });

  it("takes an OAuth access token with the 'read' scope and refuses one without it", async () => {
    const client = await connect({ authorization: `Bearer ${await oauthToken(owner, 'read')}` });
    expect((await client.listTools()).tools).toHaveLength(QUERY_TOOLS.length);
    await client.close();
    const res = await post({ authorization: `Bearer ${await oauthToken(owner, 'write')}` });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('refuses a user session token (a call is paid by the one organization a key or token names)', async () => {
    const session = await (
      await api.caller({}, '10.7.9.1')
    ).auth.register({ username: `mcp${tag()}`, email: `mcp${tag()}@example.test`, password: 'correct horse battery' });
    const res = await post({ authorization: `Bearer ${session.accessToken}` });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('refuses the keys of a deactivated organization', async () => {
    const other = await account();
    const key = await apiKey(other, ['read']);
    expect((await post({ authorization: `Bearer ${key}` })).status).toBe(200);
    await db.pool.query('UPDATE organizations SET is_active = false WHERE id = $1', [other.organizationId]);
    // The key's verification is cached; the organization's activity is dropped from the caches by a notification.
    const res = await eventually(
      () => post({ authorization: `Bearer ${key}` }),
      (r) => r.status !== 200,
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});

describe('HTTP edges', () => {
  it('answers GET and DELETE with 405: the endpoint is stateless', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(mcpUrl(), { method, headers: { authorization: `Bearer ${readKey}` } });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });
    }
  });

  it('refuses an oversized body with 413, malformed JSON with a parse error and another content type with 415', async () => {
    const auth = { authorization: `Bearer ${readKey}` };
    const big = await post(auth, Buffer.alloc(MCP_MAX_BODY_BYTES + 1, 0x20));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });

    const malformed = await post(auth, '{"jsonrpc":"2.0",');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({
      error: { code: -32700, message: expect.stringMatching(/malformed JSON/) },
    });

    const text = await post({ ...auth, 'content-type': 'text/plain' });
    expect(text.status).toBe(415);

    const nul = await post(
      auth,
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { x: 'a\u0000' } }),
    );
    expect(nul.status).toBe(400);
  });
});

// ------------------------------------------------------------------------------------------------ tool calls

const CHAIN = 31337;
const AGENT = '7';
const HEAD = 110;
const HEAD_HASH = `0x${'ab'.repeat(32)}`;

/** Two feedbacks to agent 7 (90 and 80, two clients) on an indexed chain whose confirmed head is block 110. */
const indexChain = () =>
  indexTwoFeedbacks(db.pool, { chainId: CHAIN, agentId: AGENT, head: HEAD, headHash: HEAD_HASH });

async function grant(organizationId: string, amount: string): Promise<void> {
  await credit(db.pool, { organizationId, kind: 'grant', key: `mcp-test-${tag()}`, amount });
}

const balanceOf = async (organizationId: string) => toUnits((await getAccount(db.pool, organizationId)).balance);
const usageEntries = async (organizationId: string) =>
  (await listEntries(db.pool, organizationId, { kinds: ['usage'] })).entries;

describe('tools/call', () => {
  it("answers with the answer as structured content and text, and charges the caller's organization", async () => {
    const price = api.services.queries.priceOf('getReputationSummary');
    const before = await balanceOf(owner.organizationId);
    const client = await connect({ authorization: `Bearer ${readKey}` });
    const result = await client.callTool({
      name: 'getReputationSummary',
      arguments: { chainId: CHAIN, agentId: AGENT },
    });
    await client.close();

    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      tool: 'getReputationSummary',
      chainId: CHAIN,
      agentId: AGENT,
      asOfBlock: HEAD,
      asOfBlockHash: HEAD_HASH,
      data: { count: 2, uniqueClients: 2, min: '80', max: '90', mean: '85' },
    });
    const [text] = result.content as { type: string; text: string }[];
    expect(JSON.parse(text!.text)).toEqual(result.structuredContent);
    const billing = result._meta?.[BILLING_META_KEY] as Record<string, string>;
    expect(billing).toMatchObject({ price, charged: price, cache: 'miss', currency: 'USDC' });

    expect(await balanceOf(owner.organizationId)).toBe(before - toUnits(price));
    expect(toUnits(billing.balance!)).toBe(before - toUnits(price));
    // Metered as an MCP call by this key, and charged once in the ledger under its usage row.
    const { rows } = await db.pool.query<{ id: string; surface: string; caller: string; tool: string }>(
      'SELECT id, surface, caller, tool FROM usage_logs WHERE request_key = $1',
      [`${owner.organizationId}:${billing.requestId}`],
    );
    expect(rows).toEqual([
      { id: expect.any(String), surface: 'mcp', caller: readKeyCaller, tool: 'getReputationSummary' },
    ]);
    const [entry] = await usageEntries(owner.organizationId);
    expect(entry).toMatchObject({ key: `query:${rows[0]!.id}` });
    expect(toUnits(entry!.amount)).toBe(-toUnits(price));
  });

  it('answers every tool with structured content that matches its output schema', async () => {
    const client = await connect({ authorization: `Bearer ${readKey}` });
    await client.listTools(); // the SDK's client checks structured content against the listed output schemas
    for (const tool of api.services.queries.listTools()) {
      const result = await client.callTool({ name: tool.name, arguments: { chainId: CHAIN, agentId: AGENT } });
      expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
      expect(result.structuredContent).toMatchObject({
        tool: tool.name,
        chainId: CHAIN,
        agentId: AGENT,
        asOfBlock: HEAD,
      });
    }
    await client.close();
  });

  it('reports insufficient credits as a tool error naming the balance and the price, and charges nothing', async () => {
    const poor = await account();
    const key = await apiKey(poor, ['read']);
    const price = api.services.queries.priceOf('getReputationSummary');
    const client = await connect({ authorization: `Bearer ${key}` });
    const result = await client.callTool({
      name: 'getReputationSummary',
      arguments: { chainId: CHAIN, agentId: AGENT },
    });
    await client.close();

    expect(result.isError).toBe(true);
    expect(result._meta).toMatchObject({ code: 'INSUFFICIENT_CREDITS', price, currency: 'USDC' });
    expect(toUnits(result._meta!.balance as string)).toBe(0n);
    const [text] = result.content as { type: string; text: string }[];
    expect(text!.text).toContain(price);
    expect(await usageEntries(poor.organizationId)).toEqual([]);
    expect(await balanceOf(poor.organizationId)).toBe(0n);
  });

  it('reports bad input as a tool error, charging nothing', async () => {
    const before = await balanceOf(owner.organizationId);
    const client = await connect({ authorization: `Bearer ${readKey}` });
    const missing = await client.callTool({ name: 'getReputationSummary', arguments: { chainId: CHAIN } });
    const unknownChain = await client.callTool({
      name: 'getReputationSummary',
      arguments: { chainId: 999_999, agentId: AGENT },
    });
    await client.close();
    expect(missing.isError).toBe(true);
    expect((missing.content as { text: string }[])[0]!.text).toMatch(/agentId/);
    expect(unknownChain).toMatchObject({ isError: true, _meta: { code: 'CHAIN_NOT_INDEXED' } });
    expect(await balanceOf(owner.organizationId)).toBe(before);
  });

  it("charges the key's own organization, whatever organization the arguments name", async () => {
    const other = await account();
    await grant(other.organizationId, '1');
    const otherKey = await apiKey(other, ['read']);
    const ownerBefore = await balanceOf(owner.organizationId);
    const client = await connect({ authorization: `Bearer ${otherKey}` });
    const result = await client.callTool({
      name: 'getReputationSummary',
      arguments: { chainId: CHAIN, agentId: AGENT, organizationId: owner.organizationId, fresh: true },
    });
    await client.close();
    expect(result.isError).toBeFalsy();
    expect(await usageEntries(other.organizationId)).toHaveLength(1);
    expect(await balanceOf(owner.organizationId)).toBe(ownerBefore);
  });

  it('charges a call retried with the same idempotency key once', async () => {
    const entries = (await usageEntries(owner.organizationId)).length;
    const client = await connect({ authorization: `Bearer ${readKey}` });
    const summary = (idempotencyKey: string) =>
      client.callTool({
        name: 'getReputationSummary',
        arguments: { chainId: CHAIN, agentId: AGENT, fresh: true },
        _meta: { [IDEMPOTENCY_META_KEY]: idempotencyKey },
      });
    const key = `retry-${tag()}`;
    const first = await summary(key);
    const second = await summary(key);
    const other = await summary(`retry-${tag()}`);
    const refused = await summary('not a request id');
    // The same key sent three times at once: one charge.
    const raceKey = `race-${tag()}`;
    const racing = await Promise.all([1, 2, 3].map(() => summary(raceKey)));
    await client.close();
    const billing = (result: typeof first) => result._meta?.[BILLING_META_KEY] as Record<string, string>;
    expect(toUnits(billing(first).charged!)).toBeGreaterThan(0n);
    expect(toUnits(billing(second).charged!)).toBe(0n);
    expect(second.structuredContent).toEqual(first.structuredContent);
    expect(toUnits(billing(other).charged!)).toBeGreaterThan(0n);
    expect(refused).toMatchObject({ isError: true, _meta: { code: 'INVALID_PARAMS' } });
    expect(racing.map((r) => toUnits(billing(r).charged!) > 0n).filter(Boolean)).toHaveLength(1);
    expect(await usageEntries(owner.organizationId)).toHaveLength(entries + 3);
  });

  it('also answers with an OAuth access token, charging its organization', async () => {
    const before = (await usageEntries(owner.organizationId)).length;
    const client = await connect({ authorization: `Bearer ${await oauthToken(owner, 'read')}` });
    const result = await client.callTool({
      name: 'getReputationSummary',
      arguments: { chainId: CHAIN, agentId: AGENT, fresh: true },
    });
    await client.close();
    expect(result.isError).toBeFalsy();
    expect(await usageEntries(owner.organizationId)).toHaveLength(before + 1);
  });
});

// ------------------------------------------------------------------------------------------------ the x402 seam

describe('pay per call (the seam x402 plugs into)', () => {
  const settled = { success: true, transaction: `0x${'0f'.repeat(32)}`, network: 'eip155:31337' };
  /** What the stand-in was asked: verify(payment), then settle or release. */
  const seen: unknown[] = [];
  /** A stand-in for x402: a payment is good when it says so; it settles at once. */
  const gate: McpPayPerCall = {
    paymentRequired: async (call) => ({
      x402Version: 2,
      resource: { url: call.resourceUrl },
      accepts: [{ scheme: 'exact', network: 'eip155:31337', amount: call.price }],
    }),
    verify: async (call, payment) => {
      seen.push(payment);
      const { good, pending } = payment as { good?: boolean; pending?: boolean };
      const payer = { kind: 'x402' as const, payer: `0x${'aa'.repeat(20)}`, paymentId: call.requestId };
      const release = async () => void seen.push('released');
      if (pending) {
        return {
          ok: true,
          payer,
          release,
          settle: async () => ({
            success: false,
            refusal: { kind: 'failed', code: 'SETTLEMENT_PENDING', message: 'settlement pending', response: settled },
          }),
        };
      }
      if (good !== true)
        return {
          ok: false,
          refusal: {
            kind: 'payment_required',
            paymentRequired: { x402Version: 2, error: 'invalid_payment', accepts: [] },
          },
        };
      return {
        ok: true,
        payer,
        release,
        settle: async () => (seen.push('settled'), { success: true, response: settled }),
      };
    },
  };
  let paid: RunningApiServer;

  beforeAll(async () => {
    paid = await startSecondServer(api.services, { payPerCall: gate });
  });
  afterAll(async () => {
    await paid?.stop();
  });

  it('lets callers without credentials in, asks them to pay, and answers a paid retry with the settlement', async () => {
    const client = new Client({ name: 'mcp-server-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${paid.url}/mcp`)));
    expect((await client.listTools()).tools).toHaveLength(QUERY_TOOLS.length);
    const args = { name: 'getReputationSummary', arguments: { chainId: CHAIN, agentId: AGENT } };

    // The terms come as the JSON text of the first content block (x402's MCP transport).
    const terms = (result: Awaited<ReturnType<Client['callTool']>>) =>
      JSON.parse((result.content as { text: string }[])[0]!.text) as unknown;
    const unpaid = await client.callTool(args);
    expect(unpaid.isError).toBe(true);
    expect(terms(unpaid)).toMatchObject({
      x402Version: 2,
      accepts: [{ amount: api.services.queries.priceOf('getReputationSummary') }],
    });

    const refused = await client.callTool({ ...args, _meta: { [X402_PAYMENT_META]: { good: false } } });
    expect(refused.isError).toBe(true);
    expect(terms(refused)).toMatchObject({ x402Version: 2, error: 'invalid_payment' });

    // Not settled yet: the answer is withheld, and the client is told why rather than asked to pay again.
    const pending = await client.callTool({ ...args, _meta: { [X402_PAYMENT_META]: { pending: true } } });
    expect(pending).toMatchObject({ isError: true, _meta: { code: 'SETTLEMENT_PENDING' } });
    expect(pending.structuredContent).toBeUndefined();

    const answered = await client.callTool({ ...args, _meta: { [X402_PAYMENT_META]: { good: true } } });
    expect(answered.isError).toBeFalsy();
    expect(answered.structuredContent).toMatchObject({ tool: 'getReputationSummary', data: { count: 2 } });
    expect(answered._meta?.[X402_PAYMENT_RESPONSE_META]).toEqual(settled);
    // A paid call the query service refuses settles nothing: the claim on the payment is released.
    const unknownChain = await client.callTool({
      name: 'getReputationSummary',
      arguments: { chainId: 999_999, agentId: AGENT },
      _meta: { [X402_PAYMENT_META]: { good: true } },
    });
    await client.close();
    expect(unknownChain).toMatchObject({ isError: true, _meta: { code: 'CHAIN_NOT_INDEXED' } });
    expect(seen).toEqual([{ good: false }, { pending: true }, { good: true }, 'settled', { good: true }, 'released']);
  });

  it('still refuses a bad key with 401 (pay per call is for callers without credentials)', async () => {
    const res = await fetch(`${paid.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer sk_live_${'A'.repeat(8)}_${'c'.repeat(32)}`,
      },
      body: initialize,
    });
    expect(res.status).toBe(401);
  });
});

// ------------------------------------------------------------------------------------------------ progress

describe('progress notifications', () => {
  it("forwards the report's progress as notifications/progress when the client sent a progress token", async () => {
    const client = await connect({ authorization: `Bearer ${readKey}` });
    const progress: { progress: number; total?: number; message?: string }[] = [];
    const result = await client.callTool(
      { name: 'getReputationReport', arguments: { chainId: CHAIN, agentId: AGENT, fresh: true } },
      undefined,
      { onprogress: (p) => progress.push(p) },
    );
    await client.close();
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ tool: 'getReputationReport', agentId: AGENT });
    // Part by part, in order, up to the whole.
    const total = progress[0]!.total!;
    expect(total).toBeGreaterThan(1);
    expect(progress.map((p) => p.progress)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(progress.every((p) => p.total === total && typeof p.message === 'string')).toBe(true);
  });

  it('sends none without a progress token (the raw stream holds the result alone)', async () => {
    const call = (meta: Record<string, unknown>) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: {
          name: 'getReputationReport',
          arguments: { chainId: CHAIN, agentId: AGENT, fresh: true },
          _meta: meta,
        },
      });
    const events = async (meta: Record<string, unknown>) => {
      const res = await post({ authorization: `Bearer ${readKey}` }, call(meta));
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const text = await res.text();
      return [...text.matchAll(/^data: (.+)$/gm)].map((m) => JSON.parse(m[1]!) as { method?: string; id?: number });
    };
    const without = await events({});
    // Answered (not refused), so the absence of notifications is the point.
    expect(without[0]).not.toHaveProperty('result.isError');
    expect(without).toEqual([expect.objectContaining({ id: 7, result: expect.anything() })]);
    const withToken = await events({ progressToken: 'p1' });
    expect(withToken.filter((e) => e.method === 'notifications/progress').length).toBeGreaterThan(1);
    expect(withToken.at(-1)).toMatchObject({ id: 7 });
  });
});

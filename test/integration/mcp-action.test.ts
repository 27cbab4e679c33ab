/**
 * callMcpTool against a real MCP server built with the SDK (McpServer + StreamableHTTPServerTransport on node:http,
 * stateless: a fresh server and transport per request).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callMcpTool } from '../../src/actions/mcp.js';
import { getFreePort } from '../helpers/ports.js';

interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  idempotencyKey: string | undefined;
  rpcMethod: string | undefined;
}

const TOKEN = 'agent-secret-token';
const seen: SeenRequest[] = [];
const toolCalls: Array<{ feedbackId: string; value: string }> = [];

function buildServer(): McpServer {
  const server = new McpServer({ name: 'test-agent', version: '1.0.0' });
  server.registerTool(
    'agent.receiveFeedback',
    { description: 'Receives a feedback notification', inputSchema: { feedbackId: z.string(), value: z.string() } },
    async ({ feedbackId, value }) => {
      toolCalls.push({ feedbackId, value });
      return { content: [{ type: 'text', text: `thanks for ${feedbackId} (${value})` }] };
    },
  );
  server.registerTool(
    'agent.reject',
    { description: 'Always refuses', inputSchema: { reason: z.string() } },
    async ({ reason }) => ({
      content: [{ type: 'text', text: `refused: ${reason}` }],
      isError: true,
    }),
  );
  server.registerTool(
    'agent.slow',
    { description: 'Takes its time', inputSchema: { ms: z.number() } },
    async ({ ms }) => {
      await new Promise((r) => setTimeout(r, ms));
      return { content: [{ type: 'text', text: 'late' }] };
    },
  );
  return server;
}

/**
 * A low-level server answering tools/call with JSON-RPC errors, as MCP servers not built on McpServer do
 * (McpServer itself turns unknown tools and invalid arguments into isError results).
 */
function buildLowLevelServer(): Server {
  const server = new Server({ name: 'low-level-agent', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [] }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    if (request.params.name === 'crash') throw new McpError(ErrorCode.InternalError, 'database unavailable');
    throw new McpError(ErrorCode.MethodNotFound, `Unknown tool: ${request.params.name}`);
  });
  return server;
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

async function serveMcp(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: unknown,
  server: McpServer | Server = buildServer(),
): Promise<void> {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

let httpServer: http.Server;
let base: string;

beforeAll(async () => {
  httpServer = http.createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v.join(',') : v;
      };
      seen.push({
        method: req.method ?? '',
        path,
        authorization: header('authorization'),
        idempotencyKey: header('idempotency-key'),
        rpcMethod:
          body && typeof body === 'object' && 'method' in body
            ? String((body as { method: unknown }).method)
            : undefined,
      });
      if (path === '/mcp') return serveMcp(req, res, body);
      if (path === '/lowlevel') return serveMcp(req, res, body, buildLowLevelServer());
      if (path === '/down') {
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '7' }).end('maintenance');
        return;
      }
      if (path === '/secure') {
        if (header('authorization') !== `Bearer ${TOKEN}`) {
          res
            .writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' })
            .end('{"error":"unauthorized"}');
          return;
        }
        return serveMcp(req, res, body);
      }
      res.writeHead(404).end();
    })().catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  httpServer.closeAllConnections();
  await new Promise<void>((resolve) => httpServer.close(() => resolve()));
});

beforeEach(() => {
  seen.length = 0;
  toolCalls.length = 0;
});

const call = (path: string, overrides: Partial<Parameters<typeof callMcpTool>[0]> = {}) =>
  callMcpTool({
    endpoint: `${base}${path}`,
    toolName: 'agent.receiveFeedback',
    arguments: { feedbackId: 'fb-1', value: '95' },
    token: TOKEN,
    idempotencyKey: 'idem-123',
    timeoutMs: 5_000,
    ...overrides,
  });

describe('callMcpTool', () => {
  it('calls the tool and returns its content; every request carried the bearer token and the idempotency key', async () => {
    const result = await call('/mcp');
    expect(result).toMatchObject({ ok: true, result: [{ type: 'text', text: 'thanks for fb-1 (95)' }] });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(toolCalls).toEqual([{ feedbackId: 'fb-1', value: '95' }]);

    const rpc = seen.filter((r) => r.method === 'POST').map((r) => r.rpcMethod);
    expect(rpc).toEqual(['initialize', 'notifications/initialized', 'tools/call']);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const r of seen) {
      expect(r.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.idempotencyKey).toBe('idem-123');
    }
  });

  it('sends no Authorization header without a token', async () => {
    const result = await call('/mcp', { token: undefined });
    expect(result.ok).toBe(true);
    for (const r of seen) {
      expect(r.authorization).toBeUndefined();
      expect(r.idempotencyKey).toBe('idem-123');
    }
  });

  it('uses an injected fetch for every request', async () => {
    const urls: string[] = [];
    const result = await call('/mcp', {
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        urls.push(String(input));
        return fetch(input, init);
      }) as typeof fetch,
    });
    expect(result.ok).toBe(true);
    expect(urls.length).toBe(seen.length);
  });

  it('an unknown tool is a permanent failure', async () => {
    const result = await call('/mcp', { toolName: 'agent.nope' });
    expect(result).toMatchObject({ ok: false, permanent: true });
    if (!result.ok) expect(result.error).toMatch(/agent\.nope not found/);
  });

  it('invalid arguments are a permanent failure', async () => {
    const result = await call('/mcp', { arguments: { feedbackId: 1 } });
    expect(result).toMatchObject({ ok: false, permanent: true });
    expect(toolCalls).toEqual([]);
  });

  it('a JSON-RPC "method not found" error is permanent, an internal error transient', async () => {
    const unknown = await call('/lowlevel', { toolName: 'agent.nope' });
    expect(unknown).toMatchObject({ ok: false, permanent: true, code: -32601 });
    if (!unknown.ok) expect(unknown.error).toMatch(/Unknown tool: agent\.nope/);
    expect(await call('/lowlevel', { toolName: 'crash' })).toMatchObject({ ok: false, permanent: false, code: -32603 });
  });

  it('a tool result with isError is a permanent failure carrying the tool text', async () => {
    const result = await call('/mcp', { toolName: 'agent.reject', arguments: { reason: 'not my feedback' } });
    expect(result).toMatchObject({ ok: false, permanent: true });
    if (!result.ok) expect(result.error).toMatch(/refused: not my feedback/);
  });

  it('HTTP 503 is transient, with Retry-After', async () => {
    const result = await call('/down');
    expect(result).toMatchObject({ ok: false, permanent: false, status: 503, retryAfterMs: 7_000 });
    expect(seen[0]).toMatchObject({ idempotencyKey: 'idem-123', rpcMethod: 'initialize' });
  });

  it('HTTP 401 (token required, none sent) is permanent', async () => {
    const result = await call('/secure', { token: undefined });
    expect(result).toMatchObject({ ok: false, permanent: true, status: 401 });
    expect(toolCalls).toEqual([]);
    expect(await call('/secure')).toMatchObject({ ok: true });
  });

  it('HTTP 404 (no MCP server at that path) is permanent', async () => {
    expect(await call('/elsewhere')).toMatchObject({ ok: false, permanent: true, status: 404 });
  });

  it('an unreachable endpoint is transient', async () => {
    const port = await getFreePort();
    const result = await call('/mcp', { endpoint: `http://127.0.0.1:${port}/mcp` });
    expect(result).toMatchObject({ ok: false, permanent: false });
    if (!result.ok) expect(result.error).toMatch(/network error/);
  });

  it('a call exceeding timeoutMs is transient', async () => {
    const result = await call('/mcp', { toolName: 'agent.slow', arguments: { ms: 3_000 }, timeoutMs: 300 });
    expect(result).toMatchObject({ ok: false, permanent: false });
    // Without the timeout the slow tool would have answered (ok) after 3 s.
    if (!result.ok) expect(result.error).toMatch(/timed out after 300 ms/);
  });

  it('a bad endpoint is permanent without any request', async () => {
    expect(await call('/mcp', { endpoint: 'not a url' })).toMatchObject({ ok: false, permanent: true });
    expect(await call('/mcp', { endpoint: 'ftp://127.0.0.1/mcp' })).toMatchObject({ ok: false, permanent: true });
    expect(seen).toEqual([]);
  });
});

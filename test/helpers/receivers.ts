/** Real HTTP receivers for action tests: a scriptable webhook endpoint and an MCP agent built with the SDK. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export interface ScriptedResponse {
  /** Default 200. */
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (the connection stays open until the receiver closes). */
  hang?: boolean;
  /** Answer after this long. */
  delayMs?: number;
}

export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Answers for the next requests, in order; afterwards 200. */
  script(...responses: ScriptedResponse[]): void;
  /** Answer every request with this from now on (until script() or always(undefined)). */
  always(response: ScriptedResponse | undefined): void;
  close(): Promise<void>;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const queue: ScriptedResponse[] = [];
  let fallback: ScriptedResponse | undefined;
  const requests: ReceivedRequest[] = [];
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '/',
      headers: req.headers,
      body,
      receivedAt: Date.now(),
    });
    const answer = queue.shift() ?? fallback ?? { status: 200, body: '{"received":true}' };
    if (answer.hang) return;
    if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
    res
      .writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers })
      .end(answer.body ?? '');
  });
  const url = await listen(server);
  return {
    url: `${url}/hooks/erc8004`,
    requests,
    script: (...responses) => queue.push(...responses),
    always: (response) => (fallback = response),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface McpAgent {
  url: string;
  calls: { tool: string; args: Record<string, unknown>; authorization?: string; idempotencyKey?: string }[];
  close(): Promise<void>;
}

/** An agent's MCP server (stateless Streamable HTTP) with an `agent.receiveFeedback` tool that records its calls. */
export async function startMcpAgent(options: { token?: string } = {}): Promise<McpAgent> {
  const calls: McpAgent['calls'] = [];
  const server = http.createServer(async (req, res) => {
    const text = await readBody(req);
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    const headers = {
      authorization: req.headers.authorization,
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
    };
    const mcp = new McpServer({ name: 'test-agent', version: '1.0.0' });
    mcp.registerTool(
      'agent.receiveFeedback',
      { description: 'Receives a feedback notification', inputSchema: { feedbackId: z.string(), value: z.string() } },
      async (args) => {
        calls.push({ tool: 'agent.receiveFeedback', args, ...headers });
        return { content: [{ type: 'text', text: `thanks for ${args.feedbackId}` }] };
      },
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, text ? JSON.parse(text) : undefined);
  });
  const url = await listen(server);
  return {
    url: `${url}/mcp`,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

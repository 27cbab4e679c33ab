/**
 * POST /mcp: the MCP server (Streamable HTTP, stateless). Each request gets a fresh server and transport that live as
 * long as it does: no sessions (no Mcp-Session-Id), so any API process answers any request, and `tools/call` needs no
 * `initialize` first. Responses stream (SSE) so that a long call can send progress notifications before its result.
 * GET (a server-to-client stream) and DELETE (ending a session) have no meaning without sessions: 405.
 *
 * Order of work: method, credentials (./auth.ts; before reading the body, so that a flood of bad keys costs little),
 * body (at most MCP_MAX_BODY_BYTES of JSON), then the SDK's transport.
 */
import type http from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { ApiServices } from '../api/trpc/context.js';
import { floodRefusal } from '../api/trpc/context.js';
import { containsNul, HttpError, readJsonBody, sendJson } from '../api/http.js';
import { rateLimitHeaders } from '../rate-limit.js';
import { authenticateMcpRequest } from './auth.js';
import type { McpPayPerCall } from './pay-per-call.js';
import { createMcpServer, defineMcpTools } from './tools.js';
import {
  AUTHORIZATION_SERVER_METADATA_PATH,
  authorizationServerMetadata,
  protectedResourceMetadata,
} from './oauth-metadata.js';

export const MCP_PATH = '/mcp';
/** RFC 9728 §3.1: the metadata of a resource with a path lives under the well-known prefix followed by that path. */
export const MCP_RESOURCE_METADATA_PATH = `/.well-known/oauth-protected-resource${MCP_PATH}`;

/** The paths createMcpHandler answers. */
export const MCP_HANDLER_PATHS: readonly string[] = [
  MCP_PATH,
  MCP_RESOURCE_METADATA_PATH,
  AUTHORIZATION_SERVER_METADATA_PATH,
];

/** A tool call's arguments are a few short fields; a JSON-RPC batch of them stays far below this. */
export const MCP_MAX_BODY_BYTES = 64 * 1024;

export interface McpHandlerOptions {
  /** Pay-per-call (x402) for callers without credentials; absent: every request needs an API key or OAuth token. */
  payPerCall?: McpPayPerCall;
}

/** JSON-RPC's error object for a request refused before it reached the server (the id is unknown then). */
const jsonRpcError = (code: number, message: string) => ({ jsonrpc: '2.0', id: null, error: { code, message } });

/** Handles /mcp and the OAuth metadata documents that describe its authorization (MCP_HANDLER_PATHS). */
export function createMcpHandler(
  services: ApiServices,
  options: McpHandlerOptions = {},
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const endpointUrl = `${services.publicUrl}${MCP_PATH}`;
  const resourceMetadataUrl = `${services.publicUrl}${MCP_RESOURCE_METADATA_PATH}`;
  const definitions = defineMcpTools(services.queries);
  const deps = { queries: services.queries, pool: services.pool, endpointUrl, payPerCall: options.payPerCall };
  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === MCP_RESOURCE_METADATA_PATH || path === AUTHORIZATION_SERVER_METADATA_PATH) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
      const document =
        path === MCP_RESOURCE_METADATA_PATH
          ? protectedResourceMetadata(services.publicUrl, endpointUrl)
          : authorizationServerMetadata(services.publicUrl);
      return sendJson(res, 200, document);
    }
    if (req.method !== 'POST') {
      return sendJson(res, 405, jsonRpcError(-32000, 'Method not allowed: the MCP endpoint is stateless, POST only'), {
        allow: 'POST',
      });
    }
    const flood = floodRefusal(services, req);
    if (flood) {
      const message = `too many credential verifications from this address; retry in ${flood.retryAfterSeconds} s`;
      return sendJson(res, 429, jsonRpcError(-32000, message), rateLimitHeaders(flood));
    }
    const { caller, context } = await authenticateMcpRequest(services, req, res, {
      resourceMetadataUrl,
      allowAnonymous: options.payPerCall !== undefined,
    });
    const body = await readMcpBody(req);
    const requestLog = services.logger.child({
      component: 'mcp',
      ip: context.ip,
      caller: caller.kind === 'organization' ? caller.caller : 'anonymous',
    });
    const server = createMcpServer(definitions, deps, caller, requestLog);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    const authInfo: AuthInfo | undefined = caller.kind === 'organization' ? caller.authInfo : undefined;
    await transport.handleRequest(Object.assign(req, { auth: authInfo }), res, body);
  };
}

/** The JSON body; refusals carry a JSON-RPC error (parse error for malformed JSON, invalid request otherwise). */
async function readMcpBody(req: http.IncomingMessage): Promise<unknown> {
  const refused = (status: number, message: string, code: number, headers?: Record<string, string>) =>
    new HttpError(status, message, headers, undefined, jsonRpcError(code, message));
  let body: unknown;
  try {
    body = await readJsonBody(req, MCP_MAX_BODY_BYTES);
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    // readJsonBody's 400 is malformed JSON; 413 and 415 are requests of the wrong kind.
    throw refused(err.status, err.message, err.status === 400 ? -32700 : -32600, err.headers);
  }
  // Postgres text cannot hold NUL: refused here rather than failing in a query.
  if (containsNul(body)) throw refused(400, 'text must not contain NUL characters (\\u0000)', -32600);
  return body;
}

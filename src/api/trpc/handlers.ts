/** tRPC at /trpc and REST (OpenAPI) at /api/v1 over the same router and the same context. */
import type http from 'node:http';
import { getErrorShape, TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { createOpenApiHttpHandler, generateOpenApiDocument } from 'trpc-to-openapi';
import { appRouter } from './app-router.js';
import { createApiContext, floodRefusal, type ApiServices } from './context.js';
import { rateLimitHeaders } from '../../rate-limit.js';
import { describeAnswers } from './openapi.js';
import { containsNul, HttpError, readJsonBody, sendJson } from '../http.js';
import { createX402QueryHandler } from '../x402-queries.js';
import { x402McpPayPerCall } from '../../payments/x402/mcp.js';
import { createMcpHandler, type McpHandlerOptions } from '../../mcp/handler.js';
import { createA2AHandler } from '../../a2a/handler.js';

/** Larger inputs are refused with 413 before parsing. */
export const MAX_BODY_BYTES = 1024 * 1024;

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const CODE_OF_STATUS: Record<number, TRPCError['code']> = {
  400: 'BAD_REQUEST',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
};

const NUL_REFUSED = 'text must not contain NUL characters (\\u0000)';

/**
 * Reads and checks the input before tRPC or trpc-to-openapi see it: their own parsing answers 500 for malformed JSON
 * (REST) or vague messages (tRPC), and a NUL character, which Postgres text cannot hold, would fail in the database.
 * A refusal throws an HttpError carrying the surface's own error shape; a good body is handed on as `req.body`, which
 * both adapters take instead of reading the stream.
 */
async function acceptInput(req: http.IncomingMessage, surface: 'trpc' | 'rest'): Promise<void> {
  try {
    if (urlContainsNul(req.url ?? '/')) throw new HttpError(400, NUL_REFUSED);
    if (BODY_METHODS.has(req.method ?? '')) await acceptJsonBody(req, surface);
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    throw new HttpError(err.status, err.message, err.headers, undefined, errorBody(err.status, err.message, surface));
  }
}

/** An error answer in the surface's own shape (tRPC's envelope, or the REST error body the OpenAPI document gives). */
function errorBody(status: number, message: string, surface: 'trpc' | 'rest'): unknown {
  const error = new TRPCError({ code: CODE_OF_STATUS[status] ?? 'BAD_REQUEST', message });
  const shape = getErrorShape({
    config: appRouter._def._config,
    error,
    type: 'unknown',
    path: undefined,
    input: undefined,
    ctx: undefined,
  });
  return surface === 'trpc' ? { error: shape } : { ...shape, code: error.code };
}

/** Answers 429 at once to a request the per-IP verification limit would refuse anyway (see floodRefusal). */
function refusedAsFlood(
  services: ApiServices,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  surface: 'trpc' | 'rest',
): boolean {
  const refusal = floodRefusal(services, req);
  if (!refusal) return false;
  const message = `too many credential verifications from this address; retry in ${refusal.retryAfterSeconds} s`;
  sendJson(res, 429, errorBody(429, message, surface), rateLimitHeaders(refusal));
  return true;
}

/** NUL in the path, a query parameter, or (tRPC) inside the JSON of the `input` parameter. */
function urlContainsNul(raw: string): boolean {
  if (/%00/.test(raw)) return true;
  const url = new URL(raw, 'http://localhost');
  for (const [key, value] of url.searchParams) {
    if (key.includes('\u0000') || value.includes('\u0000')) return true;
    if (key === 'input' && value.includes('\\u0000')) {
      try {
        if (containsNul(JSON.parse(value))) return true;
      } catch {
        // Malformed input JSON is tRPC's to refuse.
      }
    }
  }
  return false;
}

async function acceptJsonBody(req: http.IncomingMessage, surface: 'trpc' | 'rest'): Promise<void> {
  const body = await readJsonBody(req, MAX_BODY_BYTES, { emptyIsUndefined: true });
  if (containsNul(body)) throw new HttpError(400, NUL_REFUSED);
  // Re-serialised: the adapters take a string body as the raw JSON text.
  (req as http.IncomingMessage & { body?: string }).body = body === undefined ? undefined : JSON.stringify(body);
  // No body is no input, whatever the content type: trpc-to-openapi would refuse a POST without one (all in its path).
  if (body === undefined && surface === 'rest') req.headers['content-type'] = 'application/json';
}

export interface ApiHandlers {
  trpc: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  rest: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  /** The MCP server (/mcp) and its OAuth metadata documents (src/mcp/handler.ts, MCP_HANDLER_PATHS). */
  mcp: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  /** The A2A agent card and endpoints (src/a2a/handler.ts, isA2APath). */
  a2a: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  openApiDocument: () => unknown;
  /** x402 pay-per-call in front of the REST query routes (true: served); absent unless X402_ENABLED. */
  x402?: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean>;
}

export function createApiHandlers(
  services: ApiServices,
  options: { baseUrl: string; mcp?: McpHandlerOptions },
): ApiHandlers {
  // The REST adapter hands over a fetch Request, which has no peer address: the Node request behind the response has.
  const contextOf =
    (surface: 'trpc' | 'rest') =>
    ({ req, res }: { req: http.IncomingMessage; res: http.ServerResponse }) =>
      createApiContext(
        services,
        (res.req as http.IncomingMessage | undefined) ?? req,
        (name, value) => {
          if (!res.headersSent) res.setHeader(name, value);
        },
        surface,
      );
  const onError = ({ error, path }: { error: { code: string; cause?: unknown }; path?: string }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR')
      services.logger.error({ err: error.cause ?? error, path }, 'API request failed');
  };
  let document: unknown;
  const trpc = createHTTPHandler({
    router: appRouter,
    createContext: contextOf('trpc'),
    basePath: '/trpc/',
    maxBodySize: MAX_BODY_BYTES,
    onError,
  });
  const rest = createOpenApiHttpHandler({
    router: appRouter,
    createContext: contextOf('rest'),
    maxBodySize: MAX_BODY_BYTES,
    onError,
  });
  return {
    trpc: async (req, res) => {
      if (refusedAsFlood(services, req, res, 'trpc')) return;
      await acceptInput(req, 'trpc');
      trpc(req, res);
    },
    rest: async (req, res) => {
      if (refusedAsFlood(services, req, res, 'rest')) return;
      await acceptInput(req, 'rest');
      await rest(req, res);
    },
    x402: createX402QueryHandler(services),
    // x402 over MCP when it is configured (options.mcp may bring its own, as tests do).
    mcp: createMcpHandler(services, {
      payPerCall: services.x402 && x402McpPayPerCall(services.x402.gate),
      ...options.mcp,
    }),
    a2a: createA2AHandler(services),
    openApiDocument: () =>
      (document ??= describeAnswers(
        generateOpenApiDocument(appRouter, {
          title: 'erc8004-backend API',
          version: '1.0.0',
          description:
            'ERC-8004 events, triggers, deliveries and organizations. Authenticate with `Authorization: Bearer <access token | API key>` or `X-API-Key`. ' +
            'Bodies are JSON (`application/json`, at most 1 MiB); text never contains NUL (U+0000), which is refused with 400.',
          baseUrl: `${options.baseUrl}/api/v1`,
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer' },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          },
        }),
        appRouter,
      )),
  };
}

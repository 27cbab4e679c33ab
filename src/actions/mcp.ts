/**
 * The MCP action's transport: call one tool on an agent's own MCP server (Streamable HTTP) and classify the outcome
 * so the delivery layer knows whether to retry.
 *
 * Every call is a fresh session: `client.connect` performs the initialize handshake (initialize request, then the
 * `notifications/initialized` notification), `callTool` sends `tools/call`, and the client is always closed (a
 * stateful server's session is terminated with a DELETE first, best effort). Every HTTP request of the call carries
 * the same `Idempotency-Key` so a server can recognise a retried delivery, and `Authorization: Bearer …` when a
 * token is given.
 *
 * Classification:
 * - permanent: HTTP 400/401/403/404 (and any other 4xx except 408/425/429), unfollowed redirects, a non-MCP answer
 *   (wrong content type, malformed JSON-RPC), JSON-RPC -32700/-32600/-32601/-32602 (e.g. unknown tool, invalid
 *   arguments), a tool result with `isError: true` (the agent answered and rejected the call), a bad endpoint URL;
 * - transient: network errors, the overall timeout, HTTP 5xx/408/425/429 (with `retryAfterMs` when the server sent
 *   Retry-After), a 404 on a session that was just established (the server lost it), other JSON-RPC errors
 *   (-32603 internal error, -32000 connection closed, -32001 request timeout, …).
 */
import { retryAfterMs, SsrfError } from './safe-http.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

export interface CallMcpToolOptions {
  /** The MCP server's Streamable HTTP endpoint (http or https). */
  endpoint: string;
  toolName: string;
  arguments: Record<string, unknown>;
  /** Sent as `Authorization: Bearer <token>` when given. */
  token?: string;
  /** Sent as `Idempotency-Key` on every HTTP request of the call (initialize, tools/call, …). */
  idempotencyKey: string;
  /** Budget for the whole call: handshake, tool call and close. */
  timeoutMs: number;
  /** Used for every HTTP request (e.g. an SSRF-safe fetch); defaults to the global fetch. */
  fetch?: typeof fetch;
}

export type McpCallResult =
  | {
      ok: true;
      /** The tool result's `content` (for pre-2024-11 servers: its `toolResult`). */
      result: unknown;
      /** The tool result's `structuredContent`, when the tool returned one. */
      structuredContent?: unknown;
      durationMs: number;
    }
  | {
      ok: false;
      /** True when retrying the same call cannot succeed (rejected, misconfigured); false for outages and timeouts. */
      permanent: boolean;
      error: string;
      /** The HTTP status that failed the call, when it was an HTTP error. */
      status?: number;
      /** The JSON-RPC error code, when the server answered with a JSON-RPC error. */
      code?: number;
      /** From the failing response's Retry-After header (seconds or HTTP date). */
      retryAfterMs?: number;
      durationMs: number;
    };

type Failure = Omit<Extract<McpCallResult, { ok: false }>, 'ok' | 'durationMs'>;

const CLIENT_INFO = { name: 'erc8004-backend', version: '0.1.0' };
const MAX_ERROR_CHARS = 500;
/** JSON-RPC errors that say the request itself is wrong: repeating it cannot help. */
const PERMANENT_RPC_CODES = new Set<number>([
  ErrorCode.ParseError,
  ErrorCode.InvalidRequest,
  ErrorCode.MethodNotFound,
  ErrorCode.InvalidParams,
]);

class DeadlineExceeded extends Error {
  constructor(timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms`);
    this.name = 'DeadlineExceeded';
  }
}

export async function callMcpTool(options: CallMcpToolOptions): Promise<McpCallResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const fail = (f: Failure): McpCallResult => ({ ok: false, ...f, durationMs: elapsed() });

  let url: URL;
  try {
    url = new URL(options.endpoint);
  } catch {
    return fail({ permanent: true, error: 'invalid MCP endpoint URL' });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return fail({ permanent: true, error: `unsupported MCP endpoint scheme ${url.protocol}` });

  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new DeadlineExceeded(options.timeoutMs)), options.timeoutMs);
  const remaining = () => Math.max(1, options.timeoutMs - (performance.now() - started));

  // The SDK's StreamableHTTPError keeps only the status code, so the fetch handed to the transport records the last
  // failed POST's status and Retry-After. It also ties every request to the call's deadline.
  const baseFetch = options.fetch ?? globalThis.fetch;
  let lastFailedPost: { status: number; retryAfterMs?: number } | undefined;
  const recordingFetch = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
    const response = await baseFetch(input, { ...init, signal });
    if (response.status >= 400 && (init?.method ?? 'GET').toUpperCase() === 'POST') {
      lastFailedPost = {
        status: response.status,
        retryAfterMs: retryAfterMs({ 'retry-after': response.headers.get('retry-after') ?? undefined }),
      };
    }
    return response;
  };

  const headers: Record<string, string> = { 'Idempotency-Key': options.idempotencyKey };
  if (options.token !== undefined) headers['Authorization'] = `Bearer ${options.token}`;
  const transport = new StreamableHTTPClientTransport(url, {
    // requestInit.headers are merged into every request the transport makes (POST, the optional GET stream, DELETE).
    requestInit: { headers },
    fetch: recordingFetch,
    // A broken response stream is not retried within the call: the delivery layer retries the whole call.
    reconnectionOptions: {
      maxRetries: 0,
      initialReconnectionDelay: 1_000,
      maxReconnectionDelay: 1_000,
      reconnectionDelayGrowFactor: 1,
    },
  });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  // Errors of the optional background GET stream land here; the call's own errors reject the awaited promises.
  client.onerror = () => {};

  let phase: 'connect' | 'call' = 'connect';
  try {
    await client.connect(transport, { signal: deadline.signal, timeout: remaining() });
    phase = 'call';
    const result = await client.callTool({ name: options.toolName, arguments: options.arguments }, undefined, {
      signal: deadline.signal,
      timeout: remaining(),
    });
    if ('toolResult' in result) return { ok: true, result: result.toolResult, durationMs: elapsed() };
    if (result.isError === true) {
      return fail({
        permanent: true,
        error: truncate(`tool ${options.toolName} returned an error: ${contentText(result.content) || '(no text)'}`),
      });
    }
    const ok: McpCallResult = { ok: true, result: result.content, durationMs: elapsed() };
    if (result.structuredContent !== undefined) ok.structuredContent = result.structuredContent;
    return ok;
  } catch (error) {
    return fail(classify(error, { deadline: deadline.signal, timeoutMs: options.timeoutMs, phase, lastFailedPost }));
  } finally {
    clearTimeout(timer);
    if (transport.sessionId !== undefined && !deadline.signal.aborted) {
      // Stateful servers keep the session otherwise; 405 (not supported) is fine. Bounded by the deadline.
      const cleanup = new AbortController();
      const cleanupTimer = setTimeout(() => cleanup.abort(), Math.min(2_000, options.timeoutMs));
      deadline.signal.addEventListener('abort', () => cleanup.abort(), { once: true });
      try {
        await Promise.race([transport.terminateSession(), abortPromise(cleanup.signal)]);
      } catch {
        // best effort
      } finally {
        clearTimeout(cleanupTimer);
      }
    }
    await client.close().catch(() => {});
  }
}

function abortPromise(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) =>
    signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
  );
}

function classify(
  error: unknown,
  ctx: {
    deadline: AbortSignal;
    timeoutMs: number;
    phase: 'connect' | 'call';
    lastFailedPost: { status: number; retryAfterMs?: number } | undefined;
  },
): Failure {
  if (ctx.deadline.aborted || error instanceof DeadlineExceeded)
    return { permanent: false, error: `timed out after ${ctx.timeoutMs} ms` };
  if (error instanceof UnauthorizedError)
    return { permanent: true, status: 401, error: truncate(error.message || 'unauthorized') };
  if (error instanceof StreamableHTTPError) {
    const status = error.code;
    if (status === undefined || status < 100)
      return { permanent: true, error: truncate(`not an MCP server answer: ${error.message}`) };
    const failure: Failure = {
      permanent: isPermanentStatus(status),
      status,
      error: truncate(`HTTP ${status} from MCP server (${ctx.phase}): ${error.message}`),
    };
    // A 404 on an established session means the server forgot it (restart, eviction): a fresh attempt can work.
    if (status === 404 && ctx.phase === 'call') failure.permanent = false;
    if (ctx.lastFailedPost?.status === status && ctx.lastFailedPost.retryAfterMs !== undefined)
      failure.retryAfterMs = ctx.lastFailedPost.retryAfterMs;
    return failure;
  }
  if (error instanceof McpError) {
    if (error.code === ErrorCode.RequestTimeout)
      return { permanent: false, code: error.code, error: `timed out after ${ctx.timeoutMs} ms` };
    return { permanent: PERMANENT_RPC_CODES.has(error.code), code: error.code, error: truncate(error.message) };
  }
  // The SSRF guard refused the endpoint (the transport wraps what our fetch threw): no retry can make it allowed.
  const refusal = ssrfRefusalIn(error);
  if (refusal) return { permanent: true, error: truncate(refusal.message) };
  if (error instanceof Error) {
    // A zod error here means the server's JSON-RPC did not match the protocol; an unsupported protocol version
    // is reported as a plain Error by Client.connect. Neither is fixed by retrying.
    if (
      error.name === 'ZodError' ||
      /protocol version is not supported|invalid initialize result/i.test(error.message)
    ) {
      return { permanent: true, error: truncate(`not an MCP server answer: ${error.message}`) };
    }
    const cause = (error as { cause?: unknown }).cause;
    const detail = cause instanceof Error && cause.message ? `${error.message}: ${cause.message}` : error.message;
    return { permanent: false, error: truncate(`network error (${ctx.phase}): ${detail}`) };
  }
  return { permanent: false, error: truncate(`MCP call failed: ${String(error)}`) };
}

function ssrfRefusalIn(error: unknown): SsrfError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof SsrfError) return e;
  }
  return undefined;
}

/** 4xx are the caller's problem (bad request, no access, no such endpoint), except the ones that invite a retry. */
export function isPermanentStatus(status: number): boolean {
  if (status === 408 || status === 425 || status === 429) return false;
  if (status >= 500) return false;
  return true; // 3xx not followed (cross-origin redirect), 4xx
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unparsable. */
function contentText(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return content
    .map((item: unknown) =>
      item && typeof item === 'object' && (item as { type?: unknown }).type === 'text'
        ? String((item as { text?: unknown }).text ?? '')
        : '',
    )
    .filter((t) => t.length > 0)
    .join('\n');
}

function truncate(text: string): string {
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text;
}

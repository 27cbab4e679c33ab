/**
 * x402 on the REST query endpoints: GET /api/v1/agents/{chainId}/{agentId}/<tool path> without credentials is paid
 * per call (src/payments/x402/gate.ts) and answered by the query service with the x402 payer, in the same shape as
 * the credits path ({ answer, billing }). Requests with credentials, and every other path, go to the REST router.
 */
import type http from 'node:http';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { x402RequestId, type X402Route } from '../payments/x402/gate.js';
import { toolInput, type QueryService } from '../queries/service.js';
import { QUERY_TOOL_NAMES, QUERY_TOOL_PATHS, type QueryToolName } from '../queries/tool.js';
import { HttpError } from './http.js';
import type { ApiServices } from './trpc/context.js';
import { toTRPCError } from './trpc/errors.js';

const QUERY_PATH = /^\/api\/v1\/agents\/([^/]+)\/([^/]+)\/([a-z]+)$/;
const TOOL_BY_PATH = new Map<string, QueryToolName>(QUERY_TOOL_NAMES.map((name) => [QUERY_TOOL_PATHS[name], name]));

/** Query parameters as the REST router reads them: a repeated key is a list. */
function queryParams(url: URL): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const values = url.searchParams.getAll(key);
    params[key] = values.length > 1 ? values : values[0];
  }
  return params;
}

/** The paid query a request asks for; undefined when it is not one the service offers. */
export function x402QueryRoute(queries: () => QueryService) {
  return (method: string, url: URL): X402Route | undefined => {
    const match = method === 'GET' ? QUERY_PATH.exec(url.pathname) : null;
    const tool = match && TOOL_BY_PATH.get(match[3]!);
    if (
      !match ||
      !tool ||
      !queries()
        .listTools()
        .some((t) => t.name === tool)
    )
      return undefined;
    const input = {
      ...queryParams(url),
      chainId: decodeURIComponent(match[1]!),
      agentId: decodeURIComponent(match[2]!),
    };
    // Asking to pay for a call that cannot run would be a trap: bad parameters are refused before any payment.
    const parsed = toolInput(queries().tool(tool)).safeParse(input);
    const invalid = /%00/.test(url.pathname + url.search)
      ? 'text must not contain NUL (U+0000)'
      : parsed.success
        ? undefined
        : parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    return { tool, input, invalid };
  };
}

/** Serves a paid query request when it is an x402 one (true), else leaves it to the REST router (false). */
export function createX402QueryHandler(
  services: ApiServices,
): ((req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean>) | undefined {
  const gate = services.x402?.gate;
  if (!gate) return undefined;
  const origin = new URL(services.publicUrl).origin;
  return (req, res, url) =>
    // The resource paid for is named by its public URL, whatever proxy the request came through.
    gate.serve(req, res, new URL(`${url.pathname}${url.search}`, origin), async (route, payer) => {
      try {
        return await services.queries.call({
          tool: route.tool,
          input: route.input,
          payer,
          requestId: x402RequestId(payer),
          surface: 'x402',
        });
      } catch (err) {
        const trpcError = toTRPCError(err);
        const status = getHTTPStatusCodeFromError(trpcError);
        if (status >= 500) throw err;
        throw new HttpError(status, trpcError.message, undefined, undefined, {
          message: trpcError.message,
          code: trpcError.code,
        });
      }
    });
}

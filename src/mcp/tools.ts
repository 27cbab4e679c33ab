/**
 * One MCP tool per query tool the query service offers (src/queries/catalog.ts): its parameters are the common ones
 * plus its own, its output the answer envelope with its data; the price is in the description (what clients show
 * people) and in `_meta`.
 * A call is paid by the caller's organization through the query service (or per call with x402, ./pay-per-call.ts);
 * what the service refuses comes back as a tool error (`isError: true`) with a stable code in `_meta`, so that an
 * agent can read why and what to do.
 */
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { ZodError, type z } from 'zod';
import { isBillingError } from '../billing/errors.js';
import { CURRENCY, getAccount } from '../billing/ledger.js';
import type { Db } from '../db/pool.js';
import type { Logger } from '../logger.js';
import { canonicalJson } from '../queries/canonical-json.js';
import { isQueryError } from '../queries/errors.js';
import { toolInput, type QueryPayer, type QueryService } from '../queries/service.js';
import { answerEnvelope, type ProgressReporter, type QueryTool } from '../queries/tool.js';
import type { McpCaller } from './auth.js';
import {
  X402_PAYMENT_META,
  X402_PAYMENT_RESPONSE_META,
  type McpPayPerCall,
  type PaidToolCall,
  type PaymentRefusal,
} from './pay-per-call.js';

/** Reverse-DNS `_meta` keys of ours (the `mcp` and `modelcontextprotocol` prefixes are reserved). */
export const PRICING_META_KEY = 'org.erc8004-backend/pricing';
export const BILLING_META_KEY = 'org.erc8004-backend/billing';
/**
 * A call's idempotency key, in the request's `params._meta` (the REST API's Idempotency-Key header, per call: an SDK
 * client sets headers for all its calls at once): a retried call with the same key is charged once.
 */
export const IDEMPOTENCY_META_KEY = 'org.erc8004-backend/idempotencyKey';

export const MCP_SERVER_INFO = { name: 'erc8004-backend', version: '1.0.0' };

export interface McpToolDeps {
  queries: QueryService;
  /** For the balance named in an insufficient-credits error. */
  pool: Db;
  /** The MCP endpoint's public URL (x402 resource URLs). */
  endpointUrl: string;
  payPerCall?: McpPayPerCall;
}

/** A query tool as MCP lists it; built once per process, registered on each request's server. */
interface ToolDefinition {
  tool: QueryTool;
  price: string;
  config: {
    title: string;
    description: string;
    inputSchema: z.ZodObject;
    outputSchema: z.ZodObject;
    annotations: ToolAnnotations;
    _meta: Record<string, unknown>;
  };
}

export function defineMcpTools(queries: QueryService): ToolDefinition[] {
  return queries.describeTools().map(({ name, title, description, tier, price, cacheTtlSeconds }) => {
    const tool = queries.tool(name);
    return {
      tool,
      price,
      config: {
        title,
        description: `${description} Price: ${price} ${CURRENCY} per call (tier ${tier}); answers are as of a block and cached for ${cacheTtlSeconds} s (fresh: true skips the cache, at the same price).`,
        inputSchema: toolInput(tool),
        outputSchema: answerEnvelope.extend({ data: tool.data }),
        annotations: { title, readOnlyHint: true, idempotentHint: true, openWorldHint: false },
        _meta: { [PRICING_META_KEY]: { tier, price, currency: CURRENCY, cacheTtlSeconds } },
      },
    };
  });
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The server for one request: stateless, so it lives as long as the request and knows its caller. */
export function createMcpServer(
  definitions: ToolDefinition[],
  deps: McpToolDeps,
  caller: McpCaller,
  log: Logger,
): McpServer {
  const server = new McpServer(MCP_SERVER_INFO, { capabilities: { tools: {} } });
  for (const definition of definitions) {
    server.registerTool(definition.tool.name, definition.config, (args, extra) =>
      callTool(definition, deps, caller, args, extra, log),
    );
  }
  return server;
}

async function callTool(
  { tool, price }: ToolDefinition,
  deps: McpToolDeps,
  caller: McpCaller,
  input: unknown,
  extra: Extra,
  parentLog: Logger,
): Promise<CallToolResult> {
  const idempotencyKey = extra._meta?.[IDEMPOTENCY_META_KEY];
  // The service refuses a key that is not a request id (invalid_params), as it does for the header.
  const requestId = idempotencyKey === undefined ? randomUUID() : String(idempotencyKey);
  const log = parentLog.child({ tool: tool.name, requestId });
  const progress = progressForwarder(extra, log);
  const run = (payer: QueryPayer) =>
    deps.queries.call({ tool: tool.name, input, payer, requestId, surface: 'mcp', progress, signal: extra.signal });
  try {
    if (caller.kind === 'anonymous') {
      // Only let in when pay-per-call is enabled (./auth.ts).
      const call: PaidToolCall = { tool, price, resourceUrl: `${deps.endpointUrl}#${tool.name}`, requestId, log };
      return await payPerCall(deps.payPerCall!, call, extra, run);
    }
    const { answer, billing } = await run({
      kind: 'organization',
      organizationId: caller.organizationId,
      caller: caller.caller,
    });
    log.debug({ charged: billing.charged, cache: billing.cache }, 'query tool answered');
    return answered(answer, {
      [BILLING_META_KEY]: { requestId, ...billing, currency: CURRENCY },
    });
  } catch (err) {
    return await toolError(err, { price, caller, deps, log });
  }
}

function answered(answer: object, meta: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: 'text', text: canonicalJson(answer) }],
    structuredContent: answer as Record<string, unknown>,
    _meta: meta,
  };
}

/** The x402 flow over MCP (see ./pay-per-call.ts): ask for a payment, verify it, answer, settle. */
async function payPerCall(
  gate: McpPayPerCall,
  call: PaidToolCall,
  extra: Extra,
  run: (payer: QueryPayer) => Promise<{ answer: object }>,
): Promise<CallToolResult> {
  const payment = extra._meta?.[X402_PAYMENT_META];
  if (payment === undefined) {
    return paymentRefused({ kind: 'payment_required', paymentRequired: await gate.paymentRequired(call) });
  }
  const verification = await gate.verify(call, payment);
  if (!verification.ok) return paymentRefused(verification.refusal);
  let answer: object;
  try {
    ({ answer } = await run(verification.payer));
  } catch (err) {
    await verification.release();
    throw err;
  }
  const settlement = await verification.settle();
  if (!settlement.success) return paymentRefused(settlement.refusal);
  call.log.info({ payer: verification.payer.payer }, 'query tool answered, paid per call');
  return answered(answer, { [X402_PAYMENT_RESPONSE_META]: settlement.response });
}

/**
 * The x402 MCP transport's "payment required": the terms as the JSON text of the first content block. Not as
 * `structuredContent`, which the transport also allows: the SDK's client checks structured content against the tool's
 * output schema even in an error, and would throw instead of letting the caller pay. Or a failure with its code.
 */
function paymentRefused(refusal: PaymentRefusal): CallToolResult {
  const responseMeta = refusal.response ? { [X402_PAYMENT_RESPONSE_META]: refusal.response } : {};
  if (refusal.kind === 'payment_required') {
    return {
      isError: true,
      content: [{ type: 'text', text: JSON.stringify(refusal.paymentRequired) }],
      _meta: responseMeta,
    };
  }
  return {
    isError: true,
    content: [{ type: 'text', text: refusal.message }],
    _meta: { code: refusal.code, ...responseMeta },
  };
}

/** Forwards the tool's progress as notifications/progress when the client asked for them (a progressToken). */
function progressForwarder(extra: Extra, log: Logger): ProgressReporter | undefined {
  const progressToken = extra._meta?.progressToken;
  if (progressToken === undefined) return undefined;
  return ({ done, total, message }) => {
    extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken, progress: done, total, ...(message === undefined ? {} : { message }) },
      })
      .catch((err: unknown) => log.debug({ err }, 'progress notification not sent'));
  };
}

/** A refusal as a tool result an agent can act on; anything unexpected is logged and answered without detail. */
async function toolError(
  err: unknown,
  ctx: { price: string; caller: McpCaller; deps: McpToolDeps; log: Logger },
): Promise<CallToolResult> {
  const result = (text: string, meta: Record<string, unknown>): CallToolResult => ({
    isError: true,
    content: [{ type: 'text', text }],
    _meta: meta,
  });
  if (isBillingError(err, 'insufficient_credits') && ctx.caller.kind === 'organization') {
    const { available } = await getAccount(ctx.deps.pool, ctx.caller.organizationId);
    ctx.log.info({ balance: available, price: ctx.price }, 'query tool refused: insufficient credits');
    return result(err.message, {
      code: 'INSUFFICIENT_CREDITS',
      balance: available,
      price: ctx.price,
      currency: CURRENCY,
    });
  }
  if (isBillingError(err)) return result(err.message, { code: err.code.toUpperCase() });
  if (isQueryError(err)) return result(err.message, { code: err.code.toUpperCase() });
  if (err instanceof ZodError) {
    const issues = err.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
    return result(`invalid arguments: ${issues}`, { code: 'INVALID_PARAMS' });
  }
  ctx.log.error({ err }, 'query tool failed');
  return result('internal error', { code: 'INTERNAL_ERROR' });
}

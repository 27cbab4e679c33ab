/**
 * What every paid query procedure shares: GET /api/v1/agents/{chainId}/{agentId}/<path> and `queries.<tool>` over
 * tRPC; the caller's organization pays (payingProcedure) and the answer is the query service's, unchanged
 * (src/queries/service.ts). Each tool's procedure is a file of its own; its path is QUERY_TOOL_PATHS'.
 */
import { z } from 'zod';
import type { ApiContext } from '../../trpc/context.js';
import type { ApiMeta } from '../../trpc/trpc.js';
import type { QueryPayer } from '../../../queries/service.js';
import { answerEnvelope, QUERY_TOOL_PATHS, TIER_DEFAULTS, type QueryTool } from '../../../queries/tool.js';

export const queryBilling = z.object({
  price: z.string().describe('the tool price, USDC'),
  charged: z.string().describe('what this call cost: the price, or 0 for an included call or a retried request'),
  balance: z.string().nullable().describe('the organization credit balance after the call'),
  included: z.boolean().describe('the call was one of the plan monthly included calls'),
  cache: z.enum(['hit', 'miss', 'bypass']),
});

export function queryMeta(tool: QueryTool): ApiMeta {
  const { price, cacheTtlSeconds } = TIER_DEFAULTS[tool.tier];
  return {
    openapi: {
      method: 'GET',
      path: `/agents/{chainId}/{agentId}/${QUERY_TOOL_PATHS[tool.name]}`,
      tags: ['Queries'],
      summary: tool.title,
      description:
        `${tool.description} Tier ${tool.tier}: ${price} USDC by default (GET /api/v1/queries/tools lists the prices ` +
        `in force); answers are cached for ${cacheTtlSeconds} s (fresh=true skips the cache). Send Idempotency-Key ` +
        `to make a retry free. Without credentials, pay per call with x402.`,
      protect: true,
    },
  };
}

export function queryOutput<D extends z.ZodType>(tool: QueryTool<z.ZodObject, D>) {
  return z.object({ answer: answerEnvelope.extend({ data: tool.data }), billing: queryBilling });
}

type PayingContext = ApiContext & { payer: QueryPayer };

export async function answerQuery<D extends z.ZodType>(
  ctx: PayingContext,
  tool: QueryTool<z.ZodObject, D>,
  input: Record<string, unknown>,
) {
  const { answer, billing } = await ctx.queries.call({
    tool: tool.name,
    input,
    payer: ctx.payer,
    requestId: ctx.idempotencyKey,
    surface: ctx.surface,
  });
  return { answer: answer as typeof answer & { data: z.output<D> }, billing };
}

/**
 * The one way a query is answered, whatever the surface (tRPC, REST, MCP, x402, A2A): validate, look in the cache,
 * charge the payer, compute as of a block, keep the answer, meter the call. A call the payer cannot pay is refused
 * before anything is computed; a call that fails on our side is refunded.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { Db } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import type { Logger } from '../logger.js';
import { isBillingError } from '../billing/errors.js';
import type { Plan } from '../billing/plans.js';
import { planLimits } from '../billing/plans.js';
import { resolveAsOf, type BlockHashLookup } from './as-of.js';
import { AnswerCache, cacheKey, type CacheQuestion } from './cache.js';
import { QUERY_TOOLS } from './catalog.js';
import { QueryError, isQueryError } from './errors.js';
import {
  chargeCall,
  completeUsage,
  isRequestId,
  recordRefusal,
  refundCall,
  type Charge,
  type MeteredCall,
  type QueryPayer,
  type QuerySurface,
} from './metering.js';
import { DEFAULT_TIER_PRICES, type TierPrices } from './prices.js';
import {
  commonQueryInput,
  QUERY_TOOL_PATHS,
  SEMANTICS_VERSION,
  TIER_DEFAULTS,
  type ProgressReporter,
  type QueryAnswer,
  type QueryTool,
} from './tool.js';

export type { QueryPayer, QuerySurface } from './metering.js';

export interface QueryCall {
  tool: string;
  /** The common parameters (chainId, agentId, asOfBlock, fresh) and the tool's own, unvalidated. */
  input: unknown;
  payer: QueryPayer;
  /** Makes the charge idempotent: a retry with the same id is answered without a second charge. Default: random. */
  requestId?: string;
  surface: QuerySurface;
  progress?: ProgressReporter;
  signal?: AbortSignal;
}

export interface QueryBilling {
  /** The tool's price (USDC). */
  price: string;
  /** What this call cost the payer: the price, or 0 for an included call or a retried request. */
  charged: string;
  /** The organization's credit balance after the call; null for x402 payers. */
  balance: string | null;
  included: boolean;
  cache: 'hit' | 'miss' | 'bypass';
}

export interface QueryOutcome {
  answer: QueryAnswer;
  billing: QueryBilling;
}

export interface QueryServiceDeps {
  /** The owner pool: charges, usage and cache rows, and the tools' reads. */
  pool: Db;
  logger: Logger;
  prices?: TierPrices;
  /** The plan of an organization (its included calls per month). */
  planOf: (organizationId: string) => Promise<Plan>;
  /** The hash of a block the indexer no longer remembers, from the chain's RPC. */
  lookupBlockHash?: BlockHashLookup;
  /** The tools offered; default: all of ours (src/queries/catalog.ts). */
  tools?: readonly QueryTool[];
}

/** The schema of a tool's whole input: the common parameters and its own. */
export function toolInput<P extends z.ZodObject>(tool: QueryTool<P>) {
  return commonQueryInput.extend(tool.params.shape as P['shape']);
}

export class QueryService {
  private readonly prices: TierPrices;
  private readonly log: Logger;
  private readonly tools: ReadonlyMap<string, QueryTool>;
  private readonly answers = new AnswerCache();

  constructor(private readonly deps: QueryServiceDeps) {
    this.prices = deps.prices ?? DEFAULT_TIER_PRICES;
    this.log = deps.logger.child({ component: 'queries' });
    this.tools = new Map((deps.tools ?? QUERY_TOOLS).map((t) => [t.name, t]));
  }

  /** The tools offered, in the catalog's order. */
  listTools(): QueryTool[] {
    return [...this.tools.values()];
  }

  tool(name: string): QueryTool {
    const tool = this.tools.get(name);
    if (!tool) throw new QueryError('unknown_tool', `no query tool named ${JSON.stringify(name)}`);
    return tool;
  }

  /** The tools with their prices in force and REST paths, as the surfaces list them. */
  describeTools() {
    return this.listTools().map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description,
      tier: t.tier,
      price: this.prices[t.tier],
      cacheTtlSeconds: TIER_DEFAULTS[t.tier].cacheTtlSeconds,
      path: QUERY_TOOL_PATHS[t.name],
    }));
  }

  /** The price of one call of a tool (USDC, decimal string). */
  priceOf(toolName: string): string {
    return this.prices[this.tool(toolName).tier];
  }

  /** The organization's plan's included query calls per month (0: none). */
  async includedCallsPerMonth(organizationId: string): Promise<number> {
    return planLimits(await this.deps.planOf(organizationId)).includedQueryCallsPerMonth;
  }

  async call(request: QueryCall): Promise<QueryOutcome> {
    const started = performance.now();
    const tool = this.tool(request.tool);
    const requestId = request.requestId ?? randomUUID();
    if (!isRequestId(requestId)) {
      throw new QueryError('invalid_params', 'a request id is 1 to 100 printable ASCII characters without spaces');
    }
    const input = toolInput(tool).parse(request.input);
    const { chainId, agentId, asOfBlock, fresh, ...params } = input as z.output<typeof commonQueryInput> &
      Record<string, unknown>;
    const question: CacheQuestion = { tool, chainId, agentId, params, asOfBlock };
    const metered: MeteredCall = {
      payer: request.payer,
      requestId,
      tool,
      price: this.prices[tool.tier],
      chainId,
      agentId,
      params,
      surface: request.surface,
      includedPerMonth:
        request.payer.kind === 'organization' ? await this.includedCallsPerMonth(request.payer.organizationId) : 0,
    };
    const log = this.log.child({ tool: tool.name, requestId, surface: request.surface });

    const key = cacheKey(question);
    const cached = fresh ? undefined : await this.answers.lookup(this.deps.pool, key);
    let asOf;
    try {
      // Refusals come before any work: an unknown chain or block, then credits.
      asOf = cached ? undefined : await resolveAsOf(this.deps.pool, chainId, asOfBlock, this.deps.lookupBlockHash);
    } catch (err) {
      if (isQueryError(err)) await recordRefusal(this.deps.pool, metered, err.message);
      throw err;
    }
    let charge;
    try {
      charge = await chargeCall(
        this.deps.pool,
        metered,
        cached && { asOfBlock: cached.asOfBlock, latencyMs: performance.now() - started },
      );
    } catch (err) {
      if (isBillingError(err)) await recordRefusal(this.deps.pool, metered, err.message);
      throw err;
    }
    if (cached) return { answer: cached, billing: this.billingOf(metered, charge, 'hit') };

    let answer: QueryAnswer;
    try {
      const data = await tool.run(
        { db: this.deps.pool, asOf: asOf!, agentId, progress: request.progress, signal: request.signal },
        params as never,
      );
      answer = {
        tool: tool.name,
        chainId,
        agentId,
        asOfBlock: asOf!.asOfBlock,
        asOfBlockHash: asOf!.asOfBlockHash,
        semanticsVersion: SEMANTICS_VERSION,
        params,
        data,
      };
      const completion = { outcome: 'answered' as const, cached: false, asOfBlock: answer.asOfBlock };
      // One commit for both: the answer kept and the call's row completed. It need not wait for the disk: a crash
      // can lose only a cache row and the completion of a row whose charge committed durably before.
      await withTransaction(
        this.deps.pool,
        async (client) => {
          await this.answers.store(client, key, question, answer);
          await completeUsage(client, charge.usageId, { ...completion, latencyMs: performance.now() - started });
        },
        { durable: false },
      );
    } catch (err) {
      log.error({ err }, 'query failed; the charge is returned');
      await refundCall(this.deps.pool, metered, charge);
      await completeUsage(this.deps.pool, charge.usageId, {
        outcome: 'failed',
        cached: false,
        latencyMs: performance.now() - started,
        error: (err as Error).message,
      });
      throw err;
    }
    return { answer, billing: this.billingOf(metered, charge, fresh ? 'bypass' : 'miss') };
  }

  private billingOf(call: MeteredCall, charge: Charge, cache: QueryBilling['cache']): QueryBilling {
    return { price: call.price, charged: charge.charged, balance: charge.balance, included: charge.included, cache };
  }
}

/**
 * What a query tool is. Every tool answers one question about one agent on one chain "as of" a block: the answer
 * depends only on the canonical events at or below that block, so the same question as of the same block gives the same
 * bytes (src/queries/canonical-json.ts), may be cached for its tier's TTL, and is charged by its tier's price.
 *
 * A tool is a plain object: its input schema (the tool's own parameters; `chainId`, `agentId`, `asOfBlock` and `fresh`
 * are common to all and handled by the query service), its output schema (the `data` of the answer) and `run`, which
 * reads the database and computes. Tools never charge, cache or log: src/queries/service.ts does, once for all.
 */
import { z } from 'zod';
import type { Queryable } from '../db/transaction.js';
import type { AsOf } from './as-of.js';

/** Bumped whenever any tool's way of computing changes: it is part of every answer and of every cache key. */
export const SEMANTICS_VERSION = '2026-12-07.1';

export const QUERY_TOOL_NAMES = [
  'getAgentProfile',
  'getFeedbacks',
  'getReputationSummary',
  'getValidationHistory',
  'getTrend',
  'getClientAnalysis',
  'compareToBaseline',
  'getReputationReport',
] as const;
export type QueryToolName = (typeof QUERY_TOOL_NAMES)[number];

/** Each tool's REST path under /api/v1/agents/{chainId}/{agentId}/ (the x402 gate prices requests by it). */
export const QUERY_TOOL_PATHS: Record<QueryToolName, string> = {
  getAgentProfile: 'profile',
  getFeedbacks: 'feedbacks',
  getReputationSummary: 'summary',
  getValidationHistory: 'validations',
  getTrend: 'trend',
  getClientAnalysis: 'clients',
  compareToBaseline: 'baseline',
  getReputationReport: 'report',
};

export type Tier = 0 | 1 | 2 | 3;

/** Default price per call, USDC (decimal strings), and cache lifetime, per tier. Prices are configurable. */
export const TIER_DEFAULTS: Record<Tier, { price: string; cacheTtlSeconds: number }> = {
  0: { price: '0.001', cacheTtlSeconds: 5 * 60 },
  1: { price: '0.01', cacheTtlSeconds: 60 * 60 },
  2: { price: '0.05', cacheTtlSeconds: 6 * 60 * 60 },
  3: { price: '0.2', cacheTtlSeconds: 24 * 60 * 60 },
};

/** The parameters every tool takes, besides its own. */
export const commonQueryInput = z.object({
  chainId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  agentId: z.string().regex(/^(0|[1-9]\d{0,77})$/, 'must be a whole agent id (decimal, no leading zeros)'),
  /** The block the answer is as of; default: the chain's indexed (confirmed) head. Must not be above it. */
  asOfBlock: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Skip the cache and compute anew (charged at full price like any call). */
  fresh: z
    // A query string says "true"/"false"; JSON callers send a boolean.
    .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
    .optional()
    .default(false),
});
export type CommonQueryInput = z.output<typeof commonQueryInput>;

/** Reports how far a long computation is (tier 3); surfaces forward it (MCP progress notifications, A2A status). */
export type ProgressReporter = (progress: { done: number; total: number; message?: string }) => void;

export interface QueryContext {
  /** Read-only access; tools run their SELECTs here. */
  db: Queryable;
  asOf: AsOf;
  /** The agent the question is about (decimal string). */
  agentId: string;
  progress?: ProgressReporter;
  signal?: AbortSignal;
}

export interface QueryTool<Params extends z.ZodObject = z.ZodObject, Data extends z.ZodType = z.ZodType> {
  name: QueryToolName;
  tier: Tier;
  title: string;
  /** One or two sentences; the surfaces append the price. */
  description: string;
  /** The tool's own parameters (not the common ones). Query-string friendly: coerce numbers, no nested objects. */
  params: Params;
  /** The answer's `data`. Exact decimals are strings; no floats. */
  data: Data;
  run(ctx: QueryContext, params: z.output<Params>): Promise<z.output<Data>>;
}

/** Identity helper that keeps a tool's parameter and data types. */
export function defineQueryTool<Params extends z.ZodObject, Data extends z.ZodType>(
  tool: QueryTool<Params, Data>,
): QueryTool<Params, Data> {
  return tool;
}

/** Every answer's envelope: what was asked, as of which block, by which semantics; `data` is the tool's. */
export const answerEnvelope = z.object({
  tool: z.enum(QUERY_TOOL_NAMES),
  chainId: z.number(),
  agentId: z.string(),
  asOfBlock: z.number(),
  asOfBlockHash: z.string(),
  semanticsVersion: z.string(),
  params: z.record(z.string(), z.unknown()),
});
export type QueryAnswer<D = unknown> = z.output<typeof answerEnvelope> & { data: D };

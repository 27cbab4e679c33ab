/** getTrend (tier 2): an agent's feedback over time, in contiguous UTC buckets. Semantics: src/queries/trend.ts. */
import { z } from 'zod';
import { asOfBlockTime } from '../block-time.js';
import { formatWad } from '../exact-decimal.js';
import { toFeedbackPoint } from '../feedback-point.js';
import { feedbackAsOf, type AbiVersion } from '../feedback-set.js';
import { abiVersionParam, feedbackScopeParams, scopeFilter } from '../feedback-params.js';
import { defineQueryTool, type QueryContext } from '../tool.js';
import { computeTrend, GRANULARITIES, type Granularity, type Trend, type TrendWindow } from '../trend.js';

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const decimal = z.string().describe('exact decimal');

export const trendData = z.object({
  granularity: z.enum(GRANULARITIES),
  /** The window, ISO 8601 UTC, [from, to). */
  from: z.string(),
  to: z.string(),
  buckets: z.array(
    z.object({
      start: z.string(),
      end: z.string(),
      count: z.number().int(),
      /** Truncated to 18 decimals like the contract's average; null for an empty bucket. */
      mean: decimal.nullable(),
      uniqueClients: z.number().int(),
      newClients: z.number().int(),
      cumulativeCount: z.number().int(),
      cumulativeMean: decimal.nullable(),
      partial: z.boolean(),
    }),
  ),
});
export type TrendData = z.output<typeof trendData>;

export function trendAnswer(trend: Trend): TrendData {
  return {
    granularity: trend.granularity,
    from: iso(trend.from),
    to: iso(trend.to),
    buckets: trend.buckets.map((b) => ({
      start: iso(b.start),
      end: iso(b.end),
      count: b.count,
      mean: b.meanWad === null ? null : formatWad(b.meanWad),
      uniqueClients: b.uniqueClients,
      newClients: b.newClients,
      cumulativeCount: b.cumulativeCount,
      cumulativeMean: b.cumulativeMeanWad === null ? null : formatWad(b.cumulativeMeanWad),
      partial: b.partial,
    })),
  };
}

/** The trend of the agent's feedback (of one tag1, when given) as of the context's block. */
export async function computeAgentTrend(
  ctx: Pick<QueryContext, 'db' | 'asOf' | 'agentId'>,
  granularity: Granularity,
  window: TrendWindow,
  scope: { tag1?: string; abiVersion: AbiVersion },
  asOfTime?: number,
): Promise<Trend> {
  const [rows, time] = await Promise.all([
    feedbackAsOf(ctx.db, ctx.asOf, ctx.agentId, { tag1: scope.tag1, abiVersions: [scope.abiVersion] }),
    asOfTime ?? asOfBlockTime(ctx.db, ctx.asOf),
  ]);
  return computeTrend(rows.map(toFeedbackPoint), granularity, time, window);
}

export const getTrend = defineQueryTool({
  name: 'getTrend',
  tier: 2,
  title: 'Reputation trend',
  description:
    'Feedback per UTC day, ISO week or month (at most 365 buckets, empty ones included): count, exact mean, unique and ' +
    'new clients, cumulative count and mean. Revoked feedback is left out of every bucket.',
  params: z.object({
    granularity: z.enum(GRANULARITIES).default('month').describe('UTC day, ISO week (from Monday) or month.'),
    tag1: feedbackScopeParams.tag1,
    from: feedbackScopeParams.from,
    to: feedbackScopeParams.to,
    abiVersion: abiVersionParam,
  }),
  data: trendData,
  async run(ctx, params) {
    const { from, to, tag1 } = scopeFilter(params);
    const window: TrendWindow = { from: from && from.getTime() / 1000, to: to && to.getTime() / 1000 };
    return trendAnswer(
      await computeAgentTrend(ctx, params.granularity, window, { tag1, abiVersion: params.abiVersion }),
    );
  },
});

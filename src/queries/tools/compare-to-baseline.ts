/**
 * compareToBaseline (tier 2): where an agent stands among the other agents of its chain that have at least
 * `minFeedback` counted feedback in the same scope (tag1, window), as of the same block. Semantics:
 * src/queries/baseline.ts; population figures: src/queries/population.ts.
 */
import { z } from 'zod';
import {
  BASELINE_METRICS,
  compareWithPopulation,
  higherIsBetter,
  type Baseline,
  type BaselineMetric,
  type MetricSample,
} from '../baseline.js';
import { formatTrimmed, formatWad, meanWad, WAD } from '../exact-decimal.js';
import type { FeedbackFilter } from '../feedback-set.js';
import { agentAggregates, type AgentAggregate } from '../population.js';
import { RATIO_DIGITS, truncatedDivision } from '../ratio.js';
import { abiVersionParam, feedbackScopeParams, scopeFilter } from '../feedback-params.js';
import { defineQueryTool, type QueryContext } from '../tool.js';

export const DEFAULT_MIN_FEEDBACK = 5;

/** The metric of one agent's aggregate, in 18-decimal fixed point. */
export function metricValue(metric: BaselineMetric, a: AgentAggregate): bigint {
  switch (metric) {
    case 'mean':
      return meanWad(a.wadSum, a.count);
    case 'count':
      return BigInt(a.count) * WAD;
    case 'uniqueClients':
      return BigInt(a.clients) * WAD;
    case 'hhi':
      return truncatedDivision(a.sumOfSquaredClientCounts * WAD, BigInt(a.count) ** 2n);
  }
}

const decimal = z.string().describe('exact decimal, up to 18 decimals');

export const baselineData = z.object({
  metric: z.enum(BASELINE_METRICS),
  higherIsBetter: z.boolean(),
  minFeedback: z.number().int(),
  agent: z.object({
    /** Null when the agent has no counted feedback in scope. */
    value: decimal.nullable(),
    feedbackCount: z.number().int(),
    /** Has at least minFeedback (it would be in the population of the others' comparisons). */
    eligible: z.boolean(),
  }),
  population: z.object({
    /** Other agents with at least minFeedback counted feedback in scope. */
    size: z.number().int(),
    mean: decimal.nullable(),
    p25: decimal.nullable(),
    median: decimal.nullable(),
    p75: decimal.nullable(),
    medianFeedbackCount: decimal.nullable(),
  }),
  /** 100·(#worse + ½#equal)/N, `RATIO_DIGITS` decimals; null without a population or a value. */
  percentileRank: z.string().describe(`exact, ${RATIO_DIGITS} decimals, truncated`).nullable(),
  /** For the mean: (C·m + n·x̄)/(C + n), C the population's median feedback count, m its mean. */
  shrunkValue: decimal.nullable(),
});
export type BaselineData = z.output<typeof baselineData>;

export interface BaselineScope {
  metric: BaselineMetric;
  minFeedback: number;
  filter: Pick<FeedbackFilter, 'tag1' | 'from' | 'to' | 'abiVersions'>;
}

/** Compares the context's agent with the chain's other agents as of the context's block. */
export async function computeBaseline(
  ctx: Pick<QueryContext, 'db' | 'asOf' | 'agentId'>,
  scope: BaselineScope,
): Promise<BaselineData> {
  const aggregates = await agentAggregates(ctx.db, ctx.asOf, scope.filter);
  const sample = (a: AgentAggregate): MetricSample => ({ value: metricValue(scope.metric, a), sampleSize: a.count });
  const own = aggregates.find((a) => a.agentId === ctx.agentId);
  const population = aggregates.filter((a) => a.agentId !== ctx.agentId && a.count >= scope.minFeedback).map(sample);
  const baseline: Baseline = compareWithPopulation(scope.metric, own && sample(own), population);
  const wad = (v: bigint | null) => (v === null ? null : formatWad(v));
  return {
    metric: scope.metric,
    higherIsBetter: higherIsBetter(scope.metric),
    minFeedback: scope.minFeedback,
    agent: {
      value: own ? formatWad(metricValue(scope.metric, own)) : null,
      feedbackCount: own?.count ?? 0,
      eligible: (own?.count ?? 0) >= scope.minFeedback,
    },
    population: {
      size: baseline.populationSize,
      mean: wad(baseline.populationMean),
      p25: wad(baseline.p25),
      median: wad(baseline.median),
      p75: wad(baseline.p75),
      medianFeedbackCount:
        baseline.medianSampleSizeTimesTwo === null ? null : formatTrimmed(baseline.medianSampleSizeTimesTwo * 5n, 1),
    },
    percentileRank: baseline.percentileRank,
    shrunkValue: wad(baseline.shrunkValue),
  };
}

export const compareToBaseline = defineQueryTool({
  name: 'compareToBaseline',
  tier: 2,
  title: 'Compare to baseline',
  description:
    'Mid-rank percentile, quartiles and a shrunk mean of one metric (mean, count, uniqueClients, or hhi where lower ' +
    'is better) against the other agents on the chain with at least minFeedback feedback in the same scope.',
  params: z.object({
    metric: z.enum(BASELINE_METRICS).default('mean'),
    tag1: feedbackScopeParams.tag1,
    from: feedbackScopeParams.from,
    to: feedbackScopeParams.to,
    abiVersion: abiVersionParam,
    minFeedback: z.coerce
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(DEFAULT_MIN_FEEDBACK)
      .describe('Feedback (counted, in scope) an agent needs to be in the population.'),
  }),
  data: baselineData,
  async run(ctx, params) {
    const { tag1, from, to } = scopeFilter(params);
    return computeBaseline(ctx, {
      metric: params.metric,
      minFeedback: params.minFeedback,
      filter: { tag1, from, to, abiVersions: [params.abiVersion] },
    });
  },
});

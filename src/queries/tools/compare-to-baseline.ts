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
import { agentAggregates, agentValidationAggregates, type AgentAggregate } from '../population.js';
import { RATIO_DIGITS, truncatedDivision } from '../ratio.js';
import { abiVersionParam, feedbackScopeParams, scopeFilter } from '../feedback-params.js';
import { defineQueryTool, type QueryContext } from '../tool.js';

export const DEFAULT_MIN_FEEDBACK = 5;

/** A feedback metric of one agent's aggregate, in 18-decimal fixed point. */
export function metricValue(metric: Exclude<BaselineMetric, 'validationAvg'>, a: AgentAggregate): bigint {
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
    value: decimal.nullable().describe('Null when the agent has nothing to measure in scope.'),
    sampleSize: z.number().int().describe('Counted feedback in scope (responded validations for validationAvg).'),
    eligible: z.boolean().describe('Has at least minFeedback: it is in the population of the others’ comparisons.'),
  }),
  population: z.object({
    size: z.number().int().describe('Other agents with a sample of at least minFeedback.'),
    mean: decimal.nullable(),
    p25: decimal.nullable(),
    median: decimal.nullable(),
    p75: decimal.nullable(),
    medianSampleSize: decimal.nullable(),
  }),
  percentileRank: z
    .string()
    .nullable()
    .describe(`100·(#worse + ½#equal)/N, exact, ${RATIO_DIGITS} decimals truncated; null without population or value.`),
  shrunkValue: decimal
    .nullable()
    .describe('Means only: (C·m + n·x̄)/(C + n), C the population’s median sample size, m its mean.'),
});
export type BaselineData = z.output<typeof baselineData>;

export interface BaselineScope {
  metric: BaselineMetric;
  minFeedback: number;
  filter: Pick<FeedbackFilter, 'tag1' | 'from' | 'to' | 'abiVersions'>;
}

/** Each agent's value of the metric and its sample size, by agent id. */
async function agentSamples(
  ctx: Pick<QueryContext, 'db' | 'asOf'>,
  scope: BaselineScope,
): Promise<Map<string, MetricSample>> {
  const { metric } = scope;
  if (metric === 'validationAvg') {
    const validations = await agentValidationAggregates(ctx.db, ctx.asOf);
    return new Map(
      validations.map((v) => [
        v.agentId,
        { value: truncatedDivision(v.responseSum * WAD, BigInt(v.responded)), sampleSize: v.responded },
      ]),
    );
  }
  const aggregates = await agentAggregates(ctx.db, ctx.asOf, scope.filter);
  return new Map(aggregates.map((a) => [a.agentId, { value: metricValue(metric, a), sampleSize: a.count }]));
}

/** Compares the context's agent with the chain's other agents as of the context's block. */
export async function computeBaseline(
  ctx: Pick<QueryContext, 'db' | 'asOf' | 'agentId'>,
  scope: BaselineScope,
): Promise<BaselineData> {
  const samples = await agentSamples(ctx, scope);
  const own = samples.get(ctx.agentId);
  const population = [...samples]
    .filter(([agentId, s]) => agentId !== ctx.agentId && s.sampleSize >= scope.minFeedback)
    .map(([, s]) => s);
  const baseline: Baseline = compareWithPopulation(scope.metric, own, population);
  const wad = (v: bigint | null) => (v === null ? null : formatWad(v));
  return {
    metric: scope.metric,
    higherIsBetter: higherIsBetter(scope.metric),
    minFeedback: scope.minFeedback,
    agent: {
      value: own ? formatWad(own.value) : null,
      sampleSize: own?.sampleSize ?? 0,
      eligible: (own?.sampleSize ?? 0) >= scope.minFeedback,
    },
    population: {
      size: baseline.populationSize,
      mean: wad(baseline.populationMean),
      p25: wad(baseline.p25),
      median: wad(baseline.median),
      p75: wad(baseline.p75),
      medianSampleSize:
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
    'Mid-rank percentile, quartiles and a shrunk mean of one metric (mean, count, uniqueClients, hhi where lower is ' +
    'better, or validationAvg: the mean latest validation response) against the other agents on the chain with a ' +
    'sample of at least minFeedback in the same scope.',
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
      .describe(
        'Sample an agent needs to be in the population: counted feedback in scope, or responded validations for ' +
          'validationAvg (which tag1, from, to and abiVersion do not narrow).',
      ),
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

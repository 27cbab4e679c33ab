/**
 * Where one agent stands among the other agents of its chain. Every metric value is an 18-decimal fixed-point integer
 * (a mean is its truncated WAD; a count is count · 10^18), so ranks, quartiles and the shrunk mean are exact integer
 * arithmetic, truncated toward zero at 18 decimals where a division remains.
 */
import { RATIO_DIGITS, ratioString, truncatedDivision } from './ratio.js';

export const BASELINE_METRICS = ['mean', 'count', 'uniqueClients', 'hhi', 'validationAvg'] as const;
export type BaselineMetric = (typeof BASELINE_METRICS)[number];

/** For HHI less is better (feedback spread over more clients); for the others more is better. */
export function higherIsBetter(metric: BaselineMetric): boolean {
  return metric !== 'hhi';
}

/** Means are pulled toward the population's by their sample size; counts and HHI are not samples of a value. */
export function isShrinkable(metric: BaselineMetric): boolean {
  return metric === 'mean' || metric === 'validationAvg';
}

/** One agent's value of a metric (18-decimal fixed point) and the sample it rests on (feedback, or validations). */
export interface MetricSample {
  value: bigint;
  sampleSize: number;
}

/**
 * Mid-rank percentile: 100 · (#worse + ½ #equal) / N, with RATIO_DIGITS digits; "worse" is below, or above when
 * lower is better. Null for an empty population.
 */
export function percentileRank(value: bigint, population: readonly bigint[], higherBetter: boolean): string | null {
  if (population.length === 0) return null;
  let worse = 0n;
  let equal = 0n;
  for (const v of population) {
    if (v === value) equal++;
    else if (higherBetter ? v < value : v > value) worse++;
  }
  return ratioString(100n * (2n * worse + equal), 2n * BigInt(population.length), RATIO_DIGITS);
}

/**
 * The p-quantile of sorted values with linear interpolation between closest ranks (Postgres's percentile_cont), p a
 * fraction numerator/denominator; truncated toward zero. Undefined for no values.
 */
export function quantile(sorted: readonly bigint[], numerator: bigint, denominator: bigint): bigint | undefined {
  if (sorted.length === 0) return undefined;
  const position = BigInt(sorted.length - 1) * numerator; // rank · denominator
  const lower = position / denominator;
  const remainder = position % denominator;
  const below = sorted[Number(lower)]!;
  if (remainder === 0n) return below;
  const above = sorted[Number(lower) + 1]!;
  return truncatedDivision(below * denominator + (above - below) * remainder, denominator);
}

export interface Baseline {
  /** Agents in the population (the others with at least the minimum sample). */
  populationSize: number;
  percentileRank: string | null;
  p25: bigint | null;
  median: bigint | null;
  p75: bigint | null;
  populationMean: bigint | null;
  /** The population's median sample size: C of the shrunk mean. Doubled, so that it stays whole. */
  medianSampleSizeTimesTwo: bigint | null;
  /** (C·m + n·x̄)/(C + n): the agent's value pulled toward the population mean m by the median sample size C. */
  shrunkValue: bigint | null;
}

/**
 * Compares `agent` (undefined when it has no value for the metric) with `population` (the other agents, already
 * filtered to those with enough samples).
 */
export function compareWithPopulation(
  metric: BaselineMetric,
  agent: MetricSample | undefined,
  population: readonly MetricSample[],
): Baseline {
  const values = population.map((p) => p.value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const sizes = population.map((p) => BigInt(p.sampleSize)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const n = BigInt(values.length);
  const populationMean =
    n > 0n
      ? truncatedDivision(
          values.reduce((s, v) => s + v, 0n),
          n,
        )
      : null;
  const medianSampleSizeTimesTwo =
    n > 0n
      ? (quantile(
          sizes.map((s) => 2n * s),
          1n,
          2n,
        ) ?? null)
      : null;
  let shrunkValue: bigint | null = null;
  if (isShrinkable(metric) && populationMean !== null && medianSampleSizeTimesTwo !== null) {
    const sampleTimesTwo = 2n * BigInt(agent?.sampleSize ?? 0);
    const weight = medianSampleSizeTimesTwo + sampleTimesTwo;
    shrunkValue =
      weight === 0n
        ? populationMean
        : truncatedDivision(medianSampleSizeTimesTwo * populationMean + sampleTimesTwo * (agent?.value ?? 0n), weight);
  }
  return {
    populationSize: values.length,
    percentileRank: agent ? percentileRank(agent.value, values, higherIsBetter(metric)) : null,
    p25: quantile(values, 1n, 4n) ?? null,
    median: quantile(values, 1n, 2n) ?? null,
    p75: quantile(values, 3n, 4n) ?? null,
    populationMean,
    medianSampleSizeTimesTwo,
    shrunkValue,
  };
}

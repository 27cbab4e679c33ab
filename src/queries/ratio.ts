/**
 * Ratios of whole counts (shares, HHI, percentile ranks) rendered exactly as fixed-point decimal strings, and the
 * 18-decimal fixed point every metric value is compared in. Computed from integers only, never through a float, so the
 * same counts always give the same string.
 */
import { formatScaled } from '../triggers/decimal.js';

/** Fractional digits of every ratio in an answer (shares, HHI, effective clients, percentile ranks): truncated. */
export const RATIO_DIGITS = 6;

/** 10^18: feedback values are compared as WAD (value · 10^(18 − valueDecimals)), like the ReputationRegistry does. */
export const WAD = 10n ** 18n;

/** numerator / denominator truncated toward zero (the contract's integer division); denominator must be positive. */
export function truncatedDivision(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new RangeError('the denominator of a ratio must be positive');
  return numerator / denominator;
}

/** numerator / denominator as a decimal string with `digits` fractional digits, truncated toward zero. */
export function ratioString(numerator: bigint, denominator: bigint, digits: number = RATIO_DIGITS): string {
  return formatScaled({ int: truncatedDivision(numerator * 10n ** BigInt(digits), denominator), decimals: digits });
}

/** numerator / denominator in 18-decimal fixed point (truncated), the scale metric values are ranked in. */
export function toWad(numerator: bigint, denominator: bigint = 1n): bigint {
  return truncatedDivision(numerator * WAD, denominator);
}

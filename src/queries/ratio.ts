/**
 * Ratios of whole counts (shares, HHI, percentile ranks) rendered exactly as fixed-point decimal strings. Computed from
 * integers only, never through a float, so the same counts always give the same string.
 */
import { formatScaled } from '../triggers/decimal.js';

/** Fractional digits of every ratio in an answer (shares, HHI, effective clients, percentile ranks): truncated. */
export const RATIO_DIGITS = 6;

/** numerator / denominator truncated toward zero (the contract's integer division); denominator must be positive. */
export function truncatedDivision(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new RangeError('the denominator of a ratio must be positive');
  return numerator / denominator;
}

/** numerator / denominator as a decimal string with `digits` fractional digits, truncated toward zero. */
export function ratioString(numerator: bigint, denominator: bigint, digits: number = RATIO_DIGITS): string {
  return formatScaled({ int: truncatedDivision(numerator * 10n ** BigInt(digits), denominator), decimals: digits });
}

/**
 * Exact decimal arithmetic for feedback values. A feedback `value` is an int128 with `valueDecimals` (0–18) decimals;
 * every figure we compute is held as a WAD — a BigInt with 18 implied decimals (value·10^(18−valueDecimals)), the unit
 * ReputationRegistry.getSummary averages in — and travels as a decimal string. No float ever touches a value.
 */
import { formatScaled } from '../triggers/decimal.js';

export const WAD_DECIMALS = 18;
/** 10^18: one unit, as a WAD. */
export const WAD = 10n ** 18n;

/** value·10^(18−decimals): the value as an integer count of 10^−18. */
export function toWad(value: bigint | string, valueDecimals: number): bigint {
  if (!Number.isInteger(valueDecimals) || valueDecimals < 0 || valueDecimals > WAD_DECIMALS) {
    throw new RangeError(`valueDecimals must be a whole number from 0 to 18, not ${valueDecimals}`);
  }
  return BigInt(value) * 10n ** BigInt(WAD_DECIMALS - valueDecimals);
}

/**
 * value / 10^decimals as a plain decimal string without trailing zeros: no exponent, no point when whole, "-" only
 * when negative ("0", "-1.5", "0.000000000000000001").
 */
export function formatTrimmed(scaled: bigint, decimals: number): string {
  const text = formatScaled({ int: scaled, decimals });
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

/** A WAD as a decimal string (up to 18 decimals, trailing zeros trimmed). */
export function formatWad(wad: bigint): string {
  return formatTrimmed(wad, WAD_DECIMALS);
}

/** A feedback value as a decimal string: value / 10^valueDecimals, exactly. */
export function formatValue(value: bigint | string, valueDecimals: number): string {
  return formatTrimmed(BigInt(value), valueDecimals);
}

/** Σ wads / n, truncated toward zero — Solidity's signed division, so the same figure as the contract's `avgWad`. */
export function meanWad(sum: bigint, count: number | bigint): bigint {
  const n = BigInt(count);
  if (n <= 0n) throw new RangeError('the mean of nothing is undefined');
  return sum / n; // BigInt division truncates toward zero, like Solidity's
}

/** ⌊√n⌋ for a non-negative BigInt (Newton's method; exact). */
export function integerSqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('no square root of a negative number');
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n)))); // a start near the root; Newton corrects any float error
  if (x === 0n) x = 1n;
  for (;;) {
    const next = (x + n / x) >> 1n;
    if (next === x || next === x + 1n) break;
    x = next;
  }
  while (x * x > n) x -= 1n;
  while ((x + 1n) * (x + 1n) <= n) x += 1n;
  return x;
}

/**
 * Population standard deviation of WADs, as a WAD: ⌊√(nΣw² − (Σw)²) / n⌋, which is the true σ (in units of 10^−18)
 * truncated to 18 decimals — exact except for that last truncation (error < 10^−18). 0 for a single value.
 */
export function stddevPopWad(wads: readonly bigint[]): bigint {
  const n = BigInt(wads.length);
  if (n === 0n) throw new RangeError('the standard deviation of nothing is undefined');
  let sum = 0n;
  let sumOfSquares = 0n;
  for (const w of wads) {
    sum += w;
    sumOfSquares += w * w;
  }
  return integerSqrt(n * sumOfSquares - sum * sum) / n;
}

/** The smaller and the larger of some BigInts. */
export function minMax(values: readonly bigint[]): { min: bigint; max: bigint } {
  if (values.length === 0) throw new RangeError('no minimum of nothing');
  let min = values[0]!;
  let max = min;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/** Truncates a BigInt to int128 the way Solidity's explicit `int128(int256)` conversion does (two's complement wrap). */
export function toInt128(value: bigint): bigint {
  return BigInt.asIntN(128, value);
}

/**
 * Credit amounts: USDC with 8 decimals, DECIMAL(20, 8) in Postgres. Amounts are decimal strings at every edge and
 * bigint units (10^-8 USDC) in between; never JS numbers, which cannot hold them exactly.
 */
import { z } from 'zod';
import { formatScaled, parseDecimal } from '../triggers/decimal.js';
import { BillingError } from './errors.js';

export const CREDIT_DECIMALS = 8;
/** The largest value DECIMAL(20, 8) holds, in units: twelve integer digits and eight decimals, all nines. */
export const MAX_UNITS = 10n ** 20n - 1n;

// No sign, no exponent, no spaces, no leading zeros, no dangling point: one spelling per value up to trailing zeros.
const AMOUNT_PATTERN = /^(?:0|[1-9]\d{0,11})(?:\.\d{1,8})?$/;

/** True when `text` is an amount `parseAmount` accepts (zero included only when `allowZero`). */
export function isAmount(text: unknown, options: { allowZero?: boolean } = {}): text is string {
  return typeof text === 'string' && AMOUNT_PATTERN.test(text) && (options.allowZero || toUnits(text) > 0n);
}

/**
 * An amount from outside ("12.5", "0.00000001") in units. Refused with `invalid_amount`: anything but such a string,
 * more than 8 decimals, more than 12 integer digits, and zero unless `allowZero` (a capture of nothing).
 */
export function parseAmount(text: unknown, options: { allowZero?: boolean } = {}): bigint {
  if (typeof text !== 'string' || !AMOUNT_PATTERN.test(text)) {
    const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, 40)) : typeof text;
    throw new BillingError(
      'invalid_amount',
      `an amount is a decimal string with at most 12 integer digits and ${CREDIT_DECIMALS} decimals, such as "1.25" (got ${shown})`,
    );
  }
  const units = toUnits(text);
  if (units === 0n && !options.allowZero) throw new BillingError('invalid_amount', 'the amount must be above zero');
  return units;
}

/** A value Postgres returned (numeric output, possibly signed) in units; it always fits, being DECIMAL(20, 8). */
export function toUnits(text: string): bigint {
  const scaled = parseDecimal(text);
  if (!scaled || scaled.decimals > CREDIT_DECIMALS) throw new Error(`not a credit amount: ${text}`);
  return scaled.int * 10n ** BigInt(CREDIT_DECIMALS - scaled.decimals);
}

/** Units as the canonical string, always with 8 decimals ("12.50000000"), as Postgres renders DECIMAL(20, 8). */
export function formatAmount(units: bigint): string {
  return formatScaled({ int: units, decimals: CREDIT_DECIMALS });
}

export const minUnits = (a: bigint, b: bigint) => (a < b ? a : b);

/** The zod schema of an amount in API input (the same rule as parseAmount). */
export const amountInput = z
  .string()
  .max(21)
  .refine((text) => isAmount(text), {
    message: `a positive decimal string with at most 12 integer digits and ${CREDIT_DECIMALS} decimals, such as "1.25"`,
  });

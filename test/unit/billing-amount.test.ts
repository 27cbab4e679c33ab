import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { amountInput, formatAmount, isAmount, MAX_UNITS, parseAmount, toUnits } from '../../src/billing/amount.js';
import { isBillingError } from '../../src/billing/errors.js';

const units = fc.bigInt({ min: 1n, max: MAX_UNITS });
/** An amount as a caller may spell it: canonical, or with the trailing zeros of its decimals cut. */
const spelled = units.chain((u) => {
  const canonical = formatAmount(u);
  const trimmed = canonical.replace(/0+$/, '').replace(/\.$/, '');
  return fc.constantFrom({ u, text: canonical }, { u, text: trimmed });
});

const refusedAsAmount = (text: unknown, options?: { allowZero?: boolean }) => {
  try {
    parseAmount(text, options);
    return false;
  } catch (err) {
    return isBillingError(err, 'invalid_amount');
  }
};

describe('parseAmount', () => {
  it.each([
    ['1', 100_000_000n],
    ['0.00000001', 1n],
    ['12.5', 1_250_000_000n],
    ['12.50000000', 1_250_000_000n],
    ['999999999999.99999999', MAX_UNITS],
  ])('%s is %s units', (text, expected) => {
    expect(parseAmount(text)).toBe(expected);
    expect(isAmount(text)).toBe(true);
  });

  it.each([
    '0',
    '0.00000000',
    '-1',
    '+1',
    '1.',
    '.5',
    '01',
    ' 1',
    '1 ',
    '1e3',
    '0x10',
    '1,5',
    '0.000000001',
    '1000000000000',
    'NaN',
    'Infinity',
    '',
  ])('refuses %j with invalid_amount', (text) => {
    expect(refusedAsAmount(text)).toBe(true);
    expect(isAmount(text)).toBe(false);
    expect(amountInput.safeParse(text).success).toBe(false);
  });

  it('refuses numbers and other non-strings: a float never becomes an amount', () => {
    for (const value of [1, 0.1, 1.5, 10n, null, undefined, {}, ['1']]) expect(refusedAsAmount(value)).toBe(true);
  });

  it('accepts zero only when asked to (a capture of nothing)', () => {
    expect(parseAmount('0', { allowZero: true })).toBe(0n);
    expect(parseAmount('0.0', { allowZero: true })).toBe(0n);
    expect(refusedAsAmount('-0', { allowZero: true })).toBe(true);
  });

  it('round-trips every amount in range through its string, exactly', () => {
    fc.assert(
      fc.property(spelled, ({ u, text }) => {
        expect(parseAmount(text)).toBe(u);
        expect(formatAmount(parseAmount(text))).toBe(formatAmount(u));
        expect(amountInput.safeParse(text).success).toBe(true);
      }),
    );
  });

  it('refuses any amount spelled with a ninth decimal or a thirteenth integer digit', () => {
    fc.assert(
      fc.property(units, fc.integer({ min: 1, max: 9 }), (u, digit) => {
        expect(refusedAsAmount(`${formatAmount(u)}${digit}`)).toBe(true);
        expect(refusedAsAmount(`${digit}${formatAmount(MAX_UNITS)}`)).toBe(true);
      }),
    );
  });

  it('agrees with an independent integer rendering (no float anywhere)', () => {
    fc.assert(
      fc.property(units, (u) => {
        const whole = u / 100_000_000n;
        const fraction = (u % 100_000_000n).toString().padStart(8, '0');
        expect(formatAmount(u)).toBe(`${whole}.${fraction}`);
      }),
    );
  });
});

describe('toUnits (values Postgres returns)', () => {
  it('reads signed numeric output', () => {
    expect(toUnits('-0.73000000')).toBe(-73_000_000n);
    expect(toUnits('0.00000000')).toBe(0n);
    expect(formatAmount(-73_000_000n)).toBe('-0.73000000');
  });

  it('throws on a value with more than 8 decimals rather than rounding it', () => {
    expect(() => toUnits('0.000000001')).toThrow(/not a credit amount/);
  });
});

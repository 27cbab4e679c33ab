import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatTrimmed,
  formatValue,
  formatWad,
  integerSqrt,
  meanWad,
  minMax,
  stddevPopWad,
  toInt128,
  toWad,
} from '../../src/queries/exact-decimal.js';
import { contractGetSummary, type ContractFeedback } from '../../src/queries/onchain-summary.js';
import { compareScaled, parseDecimal } from '../../src/triggers/decimal.js';

const INT128_MIN = -(2n ** 127n);
const INT128_MAX = 2n ** 127n - 1n;
const int128 = fc.bigInt({ min: INT128_MIN, max: INT128_MAX });
const decimals = fc.integer({ min: 0, max: 18 });
const E18 = 10n ** 18n;

describe('toWad and formatting', () => {
  it.each([
    ['95', 0, 95n * E18, '95'],
    ['-1', 18, -1n, '-0.000000000000000001'],
    ['-12345', 2, -12345n * 10n ** 16n, '-123.45'],
    ['1500', 3, 15n * 10n ** 17n, '1.5'],
    ['0', 7, 0n, '0'],
  ])('%s with %i decimals', (value, dec, wad, text) => {
    expect(toWad(value, dec)).toBe(wad);
    expect(formatWad(wad)).toBe(text);
    expect(formatValue(value, dec)).toBe(text);
  });

  it('refuses decimals outside 0..18', () => {
    expect(() => toWad('1', 19)).toThrow(RangeError);
    expect(() => toWad('1', -1)).toThrow(RangeError);
  });

  it('formats any int128 with any decimals exactly, without trailing zeros', () => {
    fc.assert(
      fc.property(int128, decimals, (value, dec) => {
        const text = formatTrimmed(value, dec);
        expect(text).toMatch(/^-?(0|[1-9]\d*)(\.\d*[1-9])?$/);
        // Read back, it is the same number: value / 10^dec.
        expect(compareScaled(parseDecimal(text)!, { int: value, decimals: dec })).toBe(0);
        // The WAD of the value is the same number too.
        expect(formatWad(toWad(value, dec))).toBe(text);
      }),
    );
  });
});

describe('meanWad', () => {
  it('truncates toward zero like Solidity', () => {
    expect(meanWad(7n, 2)).toBe(3n);
    expect(meanWad(-7n, 2)).toBe(-3n);
    expect(meanWad(-1n, 3)).toBe(0n);
  });

  it('is the quotient truncated toward zero', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 60n), max: 10n ** 60n }), fc.integer({ min: 1, max: 10_000 }), (s, n) => {
        const q = meanWad(s, n);
        const rest = s - q * BigInt(n);
        // |rest| < n, and the remainder has the sign of the dividend (or is 0).
        expect(rest < BigInt(n) && rest > -BigInt(n)).toBe(true);
        expect(rest === 0n || rest < 0n === s < 0n).toBe(true);
      }),
    );
  });

  it('refuses an empty mean', () => {
    expect(() => meanWad(0n, 0)).toThrow(RangeError);
  });
});

describe('integerSqrt and stddevPopWad', () => {
  it('integerSqrt is the floor of the root', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 300n }), (n) => {
        const r = integerSqrt(n);
        expect(r * r <= n && (r + 1n) * (r + 1n) > n).toBe(true);
      }),
    );
  });

  it('population stddev of 1, 2, 3, 4 is √1.25 truncated to 18 decimals', () => {
    expect(formatWad(stddevPopWad([1n, 2n, 3n, 4n].map((v) => v * E18)))).toBe('1.118033988749894848');
    expect(stddevPopWad([5n * E18])).toBe(0n);
    expect(stddevPopWad([-2n * E18, 2n * E18])).toBe(2n * E18);
  });

  it('is ⌊σ⌋ in units of 10^-18 for any values', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(int128, decimals), { minLength: 1, maxLength: 30 }), (values) => {
        const wads = values.map(([v, d]) => toWad(v, d));
        const n = BigInt(wads.length);
        const mean = wads.reduce((a, b) => a + b, 0n);
        // n²σ² = Σ(n·w − Σw)² / n, computed another way than the implementation.
        const nSquaredVariance = wads.reduce((acc, w) => acc + (n * w - mean) ** 2n, 0n) / n;
        const s = stddevPopWad(wads);
        expect((s * n) ** 2n <= nSquaredVariance).toBe(true);
        expect(((s + 1n) * n) ** 2n > nSquaredVariance).toBe(true);
      }),
    );
  });
});

describe('minMax and toInt128', () => {
  it('finds the extremes', () => {
    expect(minMax([3n, -5n, 9n, 0n])).toEqual({ min: -5n, max: 9n });
    expect(() => minMax([])).toThrow(RangeError);
  });

  it('wraps like an explicit Solidity int128 conversion', () => {
    expect(toInt128(INT128_MAX + 1n)).toBe(INT128_MIN);
    expect(toInt128(-5n)).toBe(-5n);
  });
});

describe('contractGetSummary', () => {
  const fb = (client: string, value: string, valueDecimals: number, extra: Partial<ContractFeedback> = {}) => ({
    client,
    value,
    valueDecimals,
    tag1: 'a',
    tag2: 'x',
    revoked: false,
    ...extra,
  });

  it('averages in WAD, truncates, and rescales to the mode decimals (ties → the smaller)', () => {
    // 1.5 (1 dp) and 2 (0 dp): one each, tie → 0 decimals; avg 1.75 → 1.
    expect(contractGetSummary([fb('0xa', '15', 1), fb('0xb', '2', 0)], ['0xa', '0xb'], '', '')).toEqual({
      count: 2,
      summaryValue: 1n,
      summaryValueDecimals: 0,
    });
    // -1.25 (2 dp) twice and 3 (0 dp): mode 2; avg (-2.5 + 3)/3 = 0.1666… → 16 (0.16).
    const rows = [fb('0xa', '-125', 2), fb('0xa', '-125', 2), fb('0xb', '3', 0)];
    expect(contractGetSummary(rows, ['0xa', '0xb'], '', '')).toEqual({
      count: 3,
      summaryValue: 16n,
      summaryValueDecimals: 2,
    });
    // Negative averages truncate toward zero: (-1 + -2)/2 = -1.5 → -1.
    expect(contractGetSummary([fb('0xa', '-1', 0), fb('0xa', '-2', 0)], ['0xa'], '', '').summaryValue).toBe(-1n);
  });

  it('skips revoked feedback, other clients and other tags; counts a client listed twice twice', () => {
    const rows = [fb('0xa', '10', 0), fb('0xa', '20', 0, { revoked: true }), fb('0xb', '30', 0, { tag1: 'b' })];
    expect(contractGetSummary(rows, ['0xa'], '', '')).toMatchObject({ count: 1, summaryValue: 10n });
    expect(contractGetSummary(rows, ['0xa', '0xb'], 'b', '')).toMatchObject({ count: 1, summaryValue: 30n });
    expect(contractGetSummary(rows, ['0xa', '0xa'], '', 'x')).toMatchObject({ count: 2, summaryValue: 10n });
    expect(contractGetSummary(rows, ['0xa'], 'a', 'y')).toEqual({
      count: 0,
      summaryValue: 0n,
      summaryValueDecimals: 0,
    });
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareScaled, formatScaled, parseDecimal, toNumber, type Scaled } from '../../src/triggers/decimal.js';

const INT128_MIN = -(2n ** 127n);
const INT128_MAX = 2n ** 127n - 1n;

/** Sign of a/10^da − b/10^db, by cross-multiplying (independent of the implementation's common-scale approach). */
function referenceCompare(a: Scaled, b: Scaled): -1 | 0 | 1 {
  const left = a.int * 10n ** BigInt(b.decimals);
  const right = b.int * 10n ** BigInt(a.decimals);
  return left < right ? -1 : left > right ? 1 : 0;
}

const int128 = fc.bigInt({ min: INT128_MIN, max: INT128_MAX });
/** An on-chain value: int128 with 0..18 decimals. */
const onChainValue = fc.record({ int: int128, decimals: fc.integer({ min: 0, max: 18 }) });
/** Any threshold parseDecimal can produce: up to 78 integer digits and up to 36 decimals. */
const anyThreshold = fc.integer({ min: 0, max: 36 }).chain((decimals) =>
  fc.record({
    int: fc.bigInt({ min: -(10n ** BigInt(78 + decimals)) + 1n, max: 10n ** BigInt(78 + decimals) - 1n }),
    decimals: fc.constant(decimals),
  }),
);

describe('parseDecimal', () => {
  it.each([
    ['60', 60n, 0],
    ['-1.25', -125n, 2],
    ['0.000000000000000001', 1n, 18],
    ['0', 0n, 0],
    ['-0', 0n, 0],
    ['007.50', 750n, 2],
    ['  42  ', 42n, 0],
    ['\t-3.5\n', -35n, 1],
    ['1.000000000000000000000000000000000001', 10n ** 36n + 1n, 36],
    ['9'.repeat(78), 10n ** 78n - 1n, 0],
  ])('accepts %j', (text, int, decimals) => {
    expect(parseDecimal(text)).toEqual({ int, decimals });
  });

  it.each([
    '',
    ' ',
    '+1',
    '1.',
    '.5',
    '-.5',
    '1e3',
    '1E-3',
    '0x10',
    '1,5',
    '1 000',
    '--1',
    '- 1',
    '1.2.3',
    'NaN',
    'Infinity',
    'abc',
    '١٢', // non-ASCII digits
    '9'.repeat(79), // 79 integer digits
    `1.${'0'.repeat(37)}`, // 37 decimals
  ])('rejects %j', (text) => {
    expect(parseDecimal(text)).toBeUndefined();
  });
});

describe('compareScaled', () => {
  it('orders simple examples', () => {
    const p = (t: string) => parseDecimal(t)!;
    expect(compareScaled(p('1.5'), p('1.50'))).toBe(0);
    expect(compareScaled(p('1.5'), p('1.49999'))).toBe(1);
    expect(compareScaled(p('-1.5'), p('-1.49999'))).toBe(-1);
    expect(compareScaled(p('0'), p('-0.000'))).toBe(0);
    expect(compareScaled({ int: 60n, decimals: 0 }, { int: 6000n, decimals: 2 })).toBe(0);
  });

  it('equals the exact rational comparison: int128 values with 0..18 decimals vs arbitrary thresholds', () => {
    fc.assert(
      fc.property(onChainValue, anyThreshold, (a, b) => {
        expect(compareScaled(a, b)).toBe(referenceCompare(a, b));
        expect(compareScaled(b, a)).toBe(referenceCompare(b, a));
      }),
      { numRuns: 2000 },
    );
  });

  it('equals the exact rational comparison for thresholds next to the value (ties and one unit away)', () => {
    // Thresholds derived from the value: same rational at a finer scale, ± a unit of the finer scale.
    const near = fc
      .tuple(onChainValue, fc.integer({ min: 0, max: 18 }), fc.integer({ min: -2, max: 2 }))
      .map(([a, extra, delta]) => ({
        a,
        b: { int: a.int * 10n ** BigInt(extra) + BigInt(delta), decimals: a.decimals + extra },
        delta,
      }));
    fc.assert(
      fc.property(near, ({ a, b, delta }) => {
        const expected = referenceCompare(a, b);
        expect(expected).toBe(delta === 0 ? 0 : delta > 0 ? -1 : 1);
        expect(compareScaled(a, b)).toBe(expected);
        expect(compareScaled(b, a)).toBe(-expected || 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('is exact at the int128 extremes with 18 decimals', () => {
    const max = { int: INT128_MAX, decimals: 18 };
    const min = { int: INT128_MIN, decimals: 18 };
    expect(compareScaled(max, parseDecimal('170141183460469231731.687303715884105727')!)).toBe(0);
    expect(compareScaled(max, parseDecimal('170141183460469231731.687303715884105728')!)).toBe(-1);
    expect(compareScaled(max, parseDecimal('170141183460469231731.687303715884105726')!)).toBe(1);
    expect(compareScaled(max, parseDecimal('170141183460469231731.6873037158841057270000000000')!)).toBe(0);
    expect(compareScaled(max, parseDecimal('170141183460469231731.6873037158841057270000000001')!)).toBe(-1);
    expect(compareScaled(min, parseDecimal('-170141183460469231731.687303715884105728')!)).toBe(0);
    expect(compareScaled(min, parseDecimal('-170141183460469231731.687303715884105727')!)).toBe(-1);
    expect(compareScaled(min, parseDecimal('-170141183460469231731.687303715884105729')!)).toBe(1);
    expect(compareScaled(min, max)).toBe(-1);
  });
});

describe('formatScaled', () => {
  it.each([
    [-12345n, 2, '-123.45'],
    [12345n, 0, '12345'],
    [5n, 3, '0.005'],
    [-5n, 3, '-0.005'],
    [0n, 2, '0.00'],
    [0n, 0, '0'],
    [100n, 2, '1.00'],
    [INT128_MAX, 18, '170141183460469231731.687303715884105727'],
    [INT128_MIN, 18, '-170141183460469231731.687303715884105728'],
    [INT128_MIN, 0, '-170141183460469231731687303715884105728'],
  ])('formats %s with %i decimals as %j', (int, decimals, text) => {
    expect(formatScaled({ int, decimals })).toBe(text);
  });

  it('round-trips through parseDecimal (int128, 0..36 decimals)', () => {
    fc.assert(
      fc.property(int128, fc.integer({ min: 0, max: 36 }), (int, decimals) => {
        const text = formatScaled({ int, decimals });
        expect(parseDecimal(text)).toEqual({ int, decimals });
      }),
      { numRuns: 2000 },
    );
  });

  it('renders parsed text back to the same number', () => {
    const decimalText = fc
      .tuple(
        fc.boolean(),
        fc.stringMatching(/^\d{1,40}$/),
        fc.option(fc.stringMatching(/^\d{1,36}$/), { nil: undefined }),
      )
      .map(([neg, whole, frac]) => `${neg ? '-' : ''}${whole}${frac === undefined ? '' : `.${frac}`}`);
    fc.assert(
      fc.property(decimalText, (text) => {
        const parsed = parseDecimal(text)!;
        expect(parsed).toBeDefined();
        const again = parseDecimal(formatScaled(parsed))!;
        expect(again).toEqual(parsed);
        expect(compareScaled(again, parsed)).toBe(0);
      }),
    );
  });
});

describe('toNumber', () => {
  it('converts to the nearest float', () => {
    expect(toNumber({ int: -125n, decimals: 2 })).toBe(-1.25);
    expect(toNumber({ int: 1n, decimals: 18 })).toBe(1e-18);
    expect(toNumber({ int: 60n, decimals: 0 })).toBe(60);
    expect(toNumber({ int: INT128_MAX, decimals: 18 })).toBeCloseTo(2 ** 127 / 1e18, 0);
  });
});

/** Exact decimal arithmetic on scaled integers (value / 10^decimals), for comparing on-chain values without floats. */

export interface Scaled {
  int: bigint;
  decimals: number;
}

/** '60', '-1.25', '0.000000000000000001' → scaled integer; undefined when not a plain decimal. */
export function parseDecimal(text: string): Scaled | undefined {
  const m = /^\s*(-?)(\d{1,78})(?:\.(\d{1,36}))?\s*$/.exec(text);
  if (!m) return undefined;
  const fraction = m[3] ?? '';
  return { int: BigInt(`${m[1]}${m[2]}${fraction}`), decimals: fraction.length };
}

/** Sign of a − b, exactly. */
export function compareScaled(a: Scaled, b: Scaled): -1 | 0 | 1 {
  const d = Math.max(a.decimals, b.decimals);
  const x = a.int * 10n ** BigInt(d - a.decimals);
  const y = b.int * 10n ** BigInt(d - b.decimals);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Renders value / 10^decimals exactly ('-12345', 2 → '-123.45'). */
export function formatScaled({ int, decimals }: Scaled): string {
  const negative = int < 0n;
  const digits = (negative ? -int : int).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = decimals > 0 ? `.${digits.slice(digits.length - decimals)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** value / 10^decimals as a float (for averages, where exactness is not defined anyway). */
export function toNumber({ int, decimals }: Scaled): number {
  return Number(formatScaled({ int, decimals }));
}

/** What every benchmark script shares besides its stack (harness.ts): timing, percentiles, formatting, settings, waits. */

export const now = () => performance.now();

/** A correctness failure (lost or duplicated work): the benchmark exits non-zero. Slowness never does. */
export class BenchError extends Error {}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export const ascending = (values: Iterable<number>) =>
  [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);

/** A duration in milliseconds, with sensible precision. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (Math.abs(value) >= 10_000) return `${(value / 1000).toFixed(1)} s`;
  if (Math.abs(value) >= 1_000) return `${(value / 1000).toFixed(2)} s`;
  if (Math.abs(value) >= 100) return `${Math.round(value)} ms`;
  if (Math.abs(value) >= 10) return `${value.toFixed(1)} ms`;
  return `${value.toFixed(2)} ms`;
}

export const int = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a');
export const ratio = (value: number) =>
  !Number.isFinite(value) ? 'n/a' : value >= 10 ? `${int(value)}x` : `${value.toFixed(1)}x`;

/** An integer setting from the environment (unset or empty: the fallback); anything else out of range fails fast. */
export function intEnv(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new Error(`${name} must be an integer ${range}, got ${raw}`);
  }
  return value;
}

/** A progress line on stderr (the figures go to stdout). */
export function progress(message: string): void {
  process.stderr.write(`  · ${message}\n`);
}

/** Pads to a column's width (left-aligned), or right-aligned with lpad. */
export const pad = (text: string, width: number) =>
  text.length >= width ? text : text + ' '.repeat(width - text.length);
export const lpad = (text: string, width: number) =>
  text.length >= width ? text : ' '.repeat(width - text.length) + text;

/** A target's line ends with this. */
export const verdict = (met: boolean) => (met ? 'met' : 'NOT met');

export function p50p99(values: Iterable<number>): string {
  const sorted = ascending(values);
  return `p50 ${ms(percentile(sorted, 50))}  p99 ${ms(percentile(sorted, 99))}`;
}

/** Polls `condition` every `everyMs` until it holds; a BenchError after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 20,
): Promise<void> {
  const deadline = now() + timeoutMs;
  while (!(await condition())) {
    if (now() > deadline) throw new BenchError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** One JSON-RPC call (anvil); a BenchError when it fails. */
export async function rpc<T>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { result?: T; error?: { message?: string } };
  if (body.error) throw new BenchError(`${method} failed: ${body.error.message ?? JSON.stringify(body.error)}`);
  return body.result as T;
}

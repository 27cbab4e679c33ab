/**
 * The HTTP load generator of the API benchmark (test/bench/api.ts), run in its own process so that its CPU is accounted
 * for on its own. Not a benchmark by itself: the benchmark spawns it with `node --import tsx`.
 *
 * Each run: closed loop (the legitimate clients) — `concurrency` workers, each with its own keep-alive connection
 * (node:http Agent, maxSockets = concurrency), issue GET requests back to back — or, with `ratePerSecond`, open loop
 * (an attacker) — requests start on a fixed schedule whether or not earlier ones were answered, over at most
 * `concurrency` keep-alive connections. Either for `warmupMs` (discarded) and then `durationMs` (measured). Latency is
 * request start (open loop: its scheduled start) → end of the response body. When `batchLimit` is set, at most that many requests are issued between
 * two resets: the workers then drain, the clock is paused, the parent is asked to reset (it clears the rate-limit
 * counters) and the next batch starts; the pauses are not part of the measured time.
 *
 * IPC: receives { type: 'run', … } (LoadRun); sends { type: 'measuring', id } when the measured part starts,
 * { type: 'reset', id, batch } at a batch boundary (answer { type: 'reset-done', id }) and finally
 * { type: 'result', … } (LoadResult) or { type: 'error', id, message }. Exits when the parent goes away.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';

export interface LoadRun {
  type: 'run';
  id: number;
  url: string;
  headers: Record<string, string>;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** Requests per batch between two resets (0: no batches). */
  batchLimit: number;
  /** Each request carries a fresh, well-formed but made-up API key in X-API-Key (the bogus-key flood). */
  bogusApiKeys?: boolean;
  /** Open loop: this many requests per second on a fixed schedule (no batches); unset: closed loop. */
  ratePerSecond?: number;
}

export interface LoadResult {
  type: 'result';
  id: number;
  /** Requests started (and completed) within the measured time. */
  requests: number;
  measuredMs: number;
  /** Resets (batch boundaries) within warm-up and measurement. */
  resets: number;
  statuses: Record<string, number>;
  errors: number;
  firstError: string | undefined;
  latency: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  bytesPerResponse: number;
  /** CPU of this process during the measured time, µs. */
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Most requests in flight at once (open loop: more than `concurrency` means requests waited for a connection). */
  maxInFlight: number;
}

export type LoadMessage =
  | { type: 'measuring'; id: number }
  | { type: 'reset'; id: number; batch: number }
  | LoadResult
  | { type: 'error'; id: number; message: string };

export type LoadCommand = LoadRun | { type: 'reset-done'; id: number };

const send = (message: LoadMessage) => {
  if (process.connected) process.send?.(message);
};

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

let resetWaiter: (() => void) | undefined;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function run(spec: LoadRun): Promise<LoadResult> {
  if (spec.ratePerSecond !== undefined && spec.batchLimit > 0) throw new Error('an open-loop run has no batches');
  const target = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency, maxFreeSockets: spec.concurrency });
  const headers = () =>
    spec.bogusApiKeys
      ? { ...spec.headers, 'x-api-key': `sk_live_${randomBytes(4).toString('hex')}_${randomBytes(16).toString('hex')}` }
      : spec.headers;
  const request = () =>
    new Promise<{ status: number; bytes: number }>((resolve, reject) => {
      const req = http.get(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: `${target.pathname}${target.search}`,
          headers: headers(),
        },
        (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error('request timed out after 30 s')));
    });

  // Running clock: excludes the pauses for resets.
  let activeMs = 0;
  let segmentStart = performance.now();
  let paused = false;
  const elapsed = () => activeMs + (paused ? 0 : performance.now() - segmentStart);

  let measuring = false;
  let measureStart = 0;
  let stop = false;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  let measuredMs = 0;

  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let firstError: string | undefined;
  let bytes = 0;

  let issuedInBatch = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let batch = 0;
  let resets = 0;
  let drained: (() => void) | undefined;
  let gate: Promise<void> | undefined;

  const updatePhase = () => {
    const t = elapsed();
    if (!measuring && t >= spec.warmupMs) {
      measuring = true;
      measureStart = t;
      cpuAtStart = process.cpuUsage();
      send({ type: 'measuring', id: spec.id });
    }
    if (measuring && !stop && t - measureStart >= spec.durationMs) {
      stop = true;
      measuredMs = t - measureStart;
      cpu = process.cpuUsage(cpuAtStart);
    }
  };

  const resetBarrier = (): Promise<void> =>
    (gate ??= (async () => {
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      activeMs += performance.now() - segmentStart;
      paused = true;
      batch++;
      resets++;
      await new Promise<void>((resolve) => {
        resetWaiter = resolve;
        send({ type: 'reset', id: spec.id, batch });
      });
      issuedInBatch = 0;
      paused = false;
      segmentStart = performance.now();
      gate = undefined;
    })());

  /** One request, timed from `scheduledAt` (open loop: when it was due, so that a queued request counts its wait). */
  const issue = async (scheduledAt = performance.now()) => {
    issuedInBatch++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const counted = measuring;
    let status = 'error';
    try {
      const res = await request();
      status = String(res.status);
      if (counted) bytes += res.bytes;
    } catch (err) {
      if (counted) errors++;
      firstError ??= err instanceof Error ? err.message : String(err);
    }
    const took = performance.now() - scheduledAt;
    inFlight--;
    if (inFlight === 0 && drained) {
      const resolve = drained;
      drained = undefined;
      resolve();
    }
    if (counted) {
      latencies.push(took);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };

  const worker = async () => {
    for (;;) {
      if (spec.batchLimit > 0 && issuedInBatch >= spec.batchLimit) {
        await resetBarrier();
        continue;
      }
      updatePhase();
      if (stop) return;
      await issue();
    }
  };

  /** Starts every request that is due, then sleeps until the next one is; waits for the last answers at the end. */
  const openLoop = async (ratePerSecond: number) => {
    const intervalMs = 1000 / ratePerSecond;
    const started = new Set<Promise<void>>();
    let due = performance.now();
    for (;;) {
      updatePhase();
      if (stop) break;
      for (const t = performance.now(); due <= t; due += intervalMs) {
        const request = issue(due);
        started.add(request);
        void request.finally(() => started.delete(request));
      }
      await sleep(due - performance.now());
    }
    await Promise.all(started);
  };

  try {
    if (spec.ratePerSecond !== undefined) await openLoop(spec.ratePerSecond);
    else await Promise.all(Array.from({ length: spec.concurrency }, worker));
  } finally {
    agent.destroy();
  }
  cpu ??= process.cpuUsage(cpuAtStart);
  const sorted = Float64Array.from(latencies).sort();
  const total = latencies.reduce((a, b) => a + b, 0);
  return {
    type: 'result',
    id: spec.id,
    requests: latencies.length,
    measuredMs,
    resets,
    statuses,
    errors,
    firstError,
    latency: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      p999: percentile(sorted, 99.9),
      max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
      mean: latencies.length > 0 ? total / latencies.length : Number.NaN,
    },
    bytesPerResponse: latencies.length > 0 ? bytes / latencies.length : 0,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    maxInFlight,
  };
}

process.on('message', (message: LoadCommand) => {
  if (message.type === 'reset-done') {
    const resolve = resetWaiter;
    resetWaiter = undefined;
    resolve?.();
    return;
  }
  if (message.type === 'run') {
    run(message).then(send, (err: unknown) =>
      send({ type: 'error', id: message.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  }
});
process.once('disconnect', () => process.exit(0));

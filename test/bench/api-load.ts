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
 * Slices (closed loop, `slices`): the measured time is cut into that many slices of equal planned length. Before each one
 * (the first right after the warm-up) the workers drain, the clock is paused and the parent is asked to set the slice
 * up (it switches the conditions it compares, and resets the rate-limit counters: a slice starts a new batch). When a
 * slice's time is up, the parent is asked whether it may end, and the slice goes on until it says so (it winds its
 * condition down first). Each slice's length and raw latencies come back in the result, so that the parent can pool
 * them per condition.
 *
 * Gate (open loop, `gated`): the attacker is switched on and off by the parent. The run starts closed and issues
 * nothing; while open, requests start on the schedule (which restarts at each opening); closing waits until the
 * requests in flight are answered. The measured time is the time open; each open period's length and requests come
 * back in the result. `warmupMs` and `durationMs` are unused: the run ends when the parent says stop.
 *
 * IPC: receives { type: 'run', … } (LoadRun); sends { type: 'measuring', id } when the measured part starts,
 * { type: 'reset', id, batch } at a batch boundary and { type: 'slice', id, slice } before a slice (answer both with
 * { type: 'resume', id }), { type: 'slice-end', id, slice } when a slice's time is up (answer { type: 'end', id }); for a gated run, receives { type: 'gate', id, open } (answered { type: 'gated', id, open }
 * once done) and { type: 'stop', id }; finally sends { type: 'result', … } (LoadResult) or { type: 'error', id,
 * message }. Exits when the parent goes away.
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
  /** Closed loop: the measured time in this many equal slices, each set up by the parent first (0 or unset: none). */
  slices?: number;
  /** Open loop: switched on and off by the parent (gate commands) until it says stop. */
  gated?: boolean;
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
  /** A sliced run: each slice's measured time and the latencies of the requests started in it, in order. */
  slices?: { durationMs: number; latencies: number[] }[];
  /** A gated run: each open period's length and the requests started in it. */
  openPeriods?: { durationMs: number; requests: number }[];
}

export type LoadMessage =
  | { type: 'measuring'; id: number }
  | { type: 'reset'; id: number; batch: number }
  | { type: 'slice'; id: number; slice: number }
  | { type: 'slice-end'; id: number; slice: number }
  | { type: 'gated'; id: number; open: boolean }
  | LoadResult
  | { type: 'error'; id: number; message: string };

export type GateCommand = { type: 'gate'; id: number; open: boolean } | { type: 'stop'; id: number };

export type LoadCommand = LoadRun | { type: 'resume'; id: number } | { type: 'end'; id: number } | GateCommand;

const send = (message: LoadMessage) => {
  if (process.connected) process.send?.(message);
};

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

let resumeWaiter: (() => void) | undefined;
let endWaiter: (() => void) | undefined;

/** Gate commands not yet taken by the gated run, and its wake-up when one arrives. */
const gateCommands: GateCommand[] = [];
let gateWake: (() => void) | undefined;
const gateCommandArrived = () => new Promise<void>((resolve) => (gateWake = resolve));

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function run(spec: LoadRun): Promise<LoadResult> {
  const openLoop = spec.ratePerSecond !== undefined;
  const sliceCount = spec.slices ?? 0;
  if (openLoop && spec.batchLimit > 0) throw new Error('an open-loop run has no batches');
  if (openLoop && sliceCount > 0) throw new Error('an open-loop run has no slices (gate it instead)');
  if (!openLoop && spec.gated) throw new Error('only an open-loop run is gated');
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

  // Running clock: excludes the pauses for resets and slice set-ups.
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

  const sliceMs = sliceCount > 0 ? spec.durationMs / sliceCount : 0;
  /** The slice being measured; -1 during the warm-up. */
  let slice = -1;
  let sliceStart = 0;
  const slices: { durationMs: number; latencies: number[] }[] = [];

  let issuedInBatch = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let batch = 0;
  let resets = 0;
  let drained: (() => void) | undefined;
  let gate: Promise<void> | undefined;

  const startMeasuring = (t: number) => {
    measuring = true;
    measureStart = t;
    cpuAtStart = process.cpuUsage();
    send({ type: 'measuring', id: spec.id });
  };
  const stopMeasuring = (t: number) => {
    stop = true;
    measuredMs = t - measureStart;
    cpu = process.cpuUsage(cpuAtStart);
  };

  /** Warm-up, measurement and its end of a run without slices. */
  const updatePhase = () => {
    const t = elapsed();
    if (!measuring && t >= spec.warmupMs) startMeasuring(t);
    if (measuring && !stop && t - measureStart >= spec.durationMs) stopMeasuring(t);
  };

  /**
   * Drains the workers, pauses the clock and sends the message made by `pause` (called once paused); the next batch
   * (and `then`) starts when the parent answers. One at a time: every worker that gets here meanwhile waits for the same
   * one.
   */
  const barrier = (pause: () => LoadMessage, then?: () => void): Promise<void> =>
    (gate ??= (async () => {
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      activeMs += performance.now() - segmentStart;
      paused = true;
      const message = pause();
      await new Promise<void>((resolve) => {
        resumeWaiter = resolve;
        send(message);
      });
      issuedInBatch = 0;
      paused = false;
      segmentStart = performance.now();
      then?.();
      gate = undefined;
    })());

  const resetBarrier = () =>
    barrier(() => {
      batch++;
      resets++;
      return { type: 'reset', id: spec.id, batch };
    });

  /**
   * The parent's leave to end the slice under way: asked once its time is up, and until it comes the slice goes on
   * (the parent first winds its condition down, e.g. waits for the flood's last answers, so that none of it is left for
   * a pause or the next slice).
   */
  let endAsked = false;
  let endAllowed = false;
  const mayEndSlice = () => {
    if (!endAsked) {
      endAsked = true;
      endWaiter = () => (endAllowed = true);
      send({ type: 'slice-end', id: spec.id, slice });
    }
    return endAllowed;
  };

  /** What a worker of a sliced run does next: go on, wait for the next slice to be set up, or stop. */
  const sliceStep = (): 'go' | 'next' | 'stop' => {
    if (stop) return 'stop';
    if (slice < 0) return elapsed() >= spec.warmupMs ? 'next' : 'go';
    if (elapsed() - sliceStart < sliceMs || !mayEndSlice()) return 'go';
    if (slice < sliceCount - 1) return 'next';
    const t = elapsed();
    slices[slice]!.durationMs = t - sliceStart;
    stopMeasuring(t);
    return 'stop';
  };

  const sliceBarrier = () =>
    barrier(
      () => {
        // The slice that ends ends with its drain.
        if (slice >= 0) slices[slice]!.durationMs = elapsed() - sliceStart;
        return { type: 'slice', id: spec.id, slice: slice + 1 };
      },
      () => {
        slice++;
        sliceStart = elapsed();
        endAsked = false;
        endAllowed = false;
        slices.push({ durationMs: 0, latencies: [] });
        if (slice === 0) startMeasuring(sliceStart);
      },
    );

  /** One request, timed from `scheduledAt` (open loop: when it was due, so that a queued request counts its wait). */
  const issue = async (scheduledAt = performance.now()) => {
    issuedInBatch++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const counted = measuring;
    const inSlice = slices[slice];
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
      inSlice?.latencies.push(took);
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };

  const worker = async () => {
    for (;;) {
      if (spec.batchLimit > 0 && issuedInBatch >= spec.batchLimit) {
        await resetBarrier();
        continue;
      }
      if (sliceCount > 0) {
        const step = sliceStep();
        if (step === 'stop') return;
        if (step === 'next') {
          await sliceBarrier();
          continue;
        }
      } else {
        updatePhase();
        if (stop) return;
      }
      await issue();
    }
  };

  const started = new Set<Promise<void>>();
  /** Starts every request due by now on the schedule that began at `due`; returns the next due time. */
  const issueDue = (due: number, intervalMs: number) => {
    for (const t = performance.now(); due <= t; due += intervalMs) {
      const request = issue(due);
      started.add(request);
      void request.finally(() => started.delete(request));
    }
    return due;
  };

  /** Starts every request that is due, then sleeps until the next one is; waits for the last answers at the end. */
  const timedOpenLoop = async (ratePerSecond: number) => {
    const intervalMs = 1000 / ratePerSecond;
    let due = performance.now();
    for (;;) {
      updatePhase();
      if (stop) break;
      due = issueDue(due, intervalMs);
      await sleep(due - performance.now());
    }
    await Promise.all(started);
  };

  /** The open loop while the parent keeps the gate open, until it says stop. */
  const openPeriods: { durationMs: number; requests: number }[] = [];
  const gatedOpenLoop = async (ratePerSecond: number) => {
    const intervalMs = 1000 / ratePerSecond;
    let used = { user: 0, system: 0 };
    for (;;) {
      while (gateCommands.length === 0) await gateCommandArrived();
      const command = gateCommands.shift()!;
      if (command.type === 'stop') break;
      if (!command.open) {
        send({ type: 'gated', id: spec.id, open: false });
        continue;
      }
      const openedAt = performance.now();
      const cpuAtOpen = process.cpuUsage();
      const requestsBefore = latencies.length + started.size;
      measuring = true;
      send({ type: 'gated', id: spec.id, open: true });
      let due = openedAt;
      while (gateCommands.length === 0) {
        due = issueDue(due, intervalMs);
        await Promise.race([sleep(due - performance.now()), gateCommandArrived()]);
      }
      // What fell due while the gate was still open (the command may be read late, after a stall of this process).
      issueDue(due, intervalMs);
      const closedAt = performance.now();
      measuring = false;
      await Promise.all(started);
      const { user, system } = process.cpuUsage(cpuAtOpen);
      used = { user: used.user + user, system: used.system + system };
      openPeriods.push({ durationMs: closedAt - openedAt, requests: latencies.length - requestsBefore });
      measuredMs += closedAt - openedAt;
      // The command that closed it (or stop) is answered by the next turn.
    }
    await Promise.all(started);
    cpu = used;
  };

  try {
    if (spec.ratePerSecond === undefined) await Promise.all(Array.from({ length: spec.concurrency }, worker));
    else if (spec.gated) await gatedOpenLoop(spec.ratePerSecond);
    else await timedOpenLoop(spec.ratePerSecond);
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
    ...(sliceCount > 0 ? { slices } : {}),
    ...(spec.gated ? { openPeriods } : {}),
  };
}

process.on('message', (message: LoadCommand) => {
  if (message.type === 'resume') {
    const resolve = resumeWaiter;
    resumeWaiter = undefined;
    resolve?.();
    return;
  }
  if (message.type === 'end') {
    const allow = endWaiter;
    endWaiter = undefined;
    allow?.();
    return;
  }
  if (message.type === 'gate' || message.type === 'stop') {
    gateCommands.push(message);
    const wake = gateWake;
    gateWake = undefined;
    wake?.();
    return;
  }
  if (message.type === 'run') {
    run(message).then(send, (err: unknown) =>
      send({ type: 'error', id: message.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    );
  }
});
process.once('disconnect', () => process.exit(0));

/**
 * Trigger benchmark: `npm run bench:triggers`.
 *
 * Starts its own embedded Postgres (temp folder, free port, migrated) and Temporal dev server (in memory, headless, free
 * port), runs the Temporal worker in a child process (test/bench/triggers-worker.ts, so that its RSS can be read from
 * /proc) and, in this process, the production relay (Relay + TriggerDispatcher, default options) and TriggerService.
 *
 * For N active triggers (default 1,000 then 10,000; the second scenario adds triggers to the first), trigger i fires on
 * every event of agent i (agent_id_equals i AND score_threshold value >= 0), so every event records exactly one match:
 * evaluated by the relay, since such a trigger fires per event; with BENCH_STATEFUL=1 the second condition is a rate
 * window instead, and every event signals exactly one trigger workflow that evaluates it. Events are appended through the production write path
 * (appendEvents → withIngestTransaction → insertEvents), one small transaction every BENCH_TICK_MS, agents drawn
 * uniformly at random. It measures, in the same run:
 *  - floor: the pure evaluator in process (compileDefinition once, then evaluate per event), events/s;
 *  - the bare-signal floor (issue 15): N (the first trigger count) cached workflows that only count their signals,
 *    fed by the production Relay minus candidates and evaluation (test/bench/triggers-floor.ts), on a ladder: the
 *    highest sustained signal rate (the ceiling) and, at half of it, committed → handled p50 / p99. With BENCH_STATEFUL=1
 *    the steady phase runs at half the ceiling, and the stateful path is reported as a fraction of the ceiling;
 *  - the relay's candidates: per batch from the in-memory index (barrier NOTIFY + lookup), and per event (lookup
 *    alone), with at least 10,000 triggers in the index (triggers of another registry fill it up when N is smaller);
 *  - creation rate of the triggers (TriggerService.create: rows + workflow start), bounded concurrency;
 *  - worker RSS with every trigger workflow started and idle (and how many the workflow cache holds);
 *  - committed → evaluated latency at a steady rate: trigger_matches.matched_at − events.created_at, both from the
 *    database clock (the ingest transaction's start → the start of the statement recording the match), with a
 *    breakdown per stage from timestamps taken in this process and from a sample of the workflows' Temporal histories;
 *  - the highest sustained rate: a ladder of 10 s steps, stopping at the first step whose backlog grows;
 *  - CPU per process (worker, Temporal server, Postgres, this process, everything else) from /proc.
 *
 * Every loop is bounded in count and time, and the run keeps to BENCH_TIME_BUDGET_SECONDS (about 7.5 minutes): when the
 * pipeline is too slow, waits stop early and the figures say so (how many workflows had started, how many events were
 * still being evaluated — their latency then counts as a lower bound, printed with ≥).
 *
 * It prints figures, the targets and whether they were met; it never fails on speed. It exits non-zero only when
 * something is wrong: events or workflow starts that stop progressing for 30 s (lost or stuck), a crash.
 *
 * Knobs (environment): BENCH_TRIGGER_COUNTS (1000,10000), BENCH_STEADY_RATE (200), BENCH_STEADY_SECONDS (20),
 * BENCH_LADDER (25,50,100,200,400,800,1600 events/s), BENCH_STEP_SECONDS (10), BENCH_LADDER_ALL (0: the ladder runs for the
 * first N only; 1: for every N, time permitting), BENCH_CREATE_CONCURRENCY (32), BENCH_SETTLE_SECONDS (10),
 * BENCH_TICK_MS (10), BENCH_MAX_CACHED_WORKFLOWS (1000), BENCH_TIME_BUDGET_SECONDS (450), BENCH_LOG_LEVEL (error),
 * BENCH_STATEFUL (0: triggers that fire per event, evaluated by the relay; 1: stateful triggers, evaluated by their
 * workflows), BENCH_FLOOR (1; 0 skips the bare-signal floor).
 */
import type { temporal } from '@temporalio/proto';
import {
  now,
  BenchError,
  sleep,
  percentile,
  ascending,
  ms,
  int,
  ratio,
  intEnv,
  progress,
  p50p99,
  verdict,
} from './common.js';
import { CLK_TCK, treeTicks, rssBytes, machineTicks } from './proc.js';
import {
  BENCH_DIR,
  benchFolder,
  benchRun,
  connectBenchTemporal,
  runInBackground,
  spawnWorkerProcess,
  startBenchPostgres,
  startBenchTemporal,
} from './harness.js';
import { randomInt, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { createPool } from '../../src/db/pool.js';
import { Relay, type RelayItem } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { compileDefinition } from '../../src/triggers/definition.js';
import { evaluate, initialState, type TriggerEvent } from '../../src/triggers/engine.js';
import { triggerWorkflowId } from '../../src/triggers/search-attributes.js';
import { TriggerService } from '../../src/triggers/service.js';
import type { TriggerWrite } from '../../src/triggers/store.js';
import type { EventsBatch } from '../../workflows/trigger.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import type { WorkerStats } from './triggers-worker.js';
import { floorLatencies, floorRelay, floorWorkflowId } from './triggers-floor.js';

// ------------------------------------------------------------------------------------------------ settings

function listEnv(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1))
    throw new Error(`${name} must be a comma-separated list of positive integers, got ${raw}`);
  return values;
}

const COUNTS = [...new Set(listEnv('BENCH_TRIGGER_COUNTS', [1_000, 10_000]))].sort((a, b) => a - b);
const STEADY_RATE = intEnv('BENCH_STEADY_RATE', 200, 1);
const STEADY_SECONDS = intEnv('BENCH_STEADY_SECONDS', 20, 1);
const LADDER = [...new Set(listEnv('BENCH_LADDER', [25, 50, 100, 200, 400, 800, 1_600]))].sort((a, b) => a - b);
const STEP_SECONDS = intEnv('BENCH_STEP_SECONDS', 10, 3);
const LADDER_ALL = process.env.BENCH_LADDER_ALL === '1';
const CREATE_CONCURRENCY = intEnv('BENCH_CREATE_CONCURRENCY', 32, 1);
const SETTLE_SECONDS = intEnv('BENCH_SETTLE_SECONDS', 10, 0);
const TICK_MS = intEnv('BENCH_TICK_MS', 10, 1);
const MAX_CACHED_WORKFLOWS = intEnv('BENCH_MAX_CACHED_WORKFLOWS', 1_000, 0);
const TIME_BUDGET_MS = intEnv('BENCH_TIME_BUDGET_SECONDS', 450, 60) * 1_000;
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'error';
/**
 * 0 (default): triggers fire per event (agent AND score >= 0), so the relay evaluates them in process. 1: the second
 * condition is a rate window (>= 1 event in 7 d: it fires on every event too) and makes them stateful, so every event
 * takes the Temporal path (signal → workflow task → local activities).
 */
const STATEFUL = process.env.BENCH_STATEFUL === '1';
/** 0 skips the floor (signal-counting workflows fed by the relay): then no ratio is reported. */
const FLOOR = process.env.BENCH_FLOOR !== '0';

const TARGET_RATE = 200;
const TARGET_TRIGGERS = 1_000;
const TARGET_P50_MS = 15;
const TARGET_P99_MS = 100;
const TARGET_IDLE_TRIGGERS = 10_000;
const TARGET_RSS_MIB = 1_024;
/** Issue 15: the stateful path against the floor measured in the same run. */
const TARGET_FLOOR_FRACTION = 0.7;
const TARGET_STATEFUL_RATE = 200;
const TARGET_P50_FLOOR_MULTIPLE = 2;
const TARGET_HALF_CEILING_P99_MS = 250;
const TARGET_CANDIDATES_P99_MS = 2;
const TARGET_INDEXED_TRIGGERS = 10_000;

const CHAIN_ID = 31337;
const BASE_TIMESTAMP = 1_767_225_600;
/** A wait for the pipeline gives up (events lost or stuck: an error) when nothing moved for this long. */
const STALL_MS = 30_000;
/** A wait for the pipeline that still makes progress stops after this long at most (slow, not lost: figures say so). */
const DRAIN_CAP_MS = 180_000;
/** Creating triggers stops after this long at most (the figures then say how many exist); see createCap in main(). */
const CREATE_TIMEOUT_MS = 300_000;
const FLOOR_MAX_EVENTS = 1_000_000;
const FLOOR_MAX_MS = 3_000;
const SAMPLE_MS = 500;

const logger = pino({ level: LOG_LEVEL }, pino.destination(2));
/** Wall clock in ms with sub-ms resolution: comparable with the database's now() on the same host. */
const wall = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------------------------------------ helpers

const mib = (bytes: number) => `${int(bytes / 1024 / 1024)} MiB`;
const mean = (values: readonly number[]) =>
  values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;

/**
 * Latency percentiles of a phase. Events not evaluated when the benchmark stopped waiting count with their age then, a
 * lower bound of their latency; every percentile is then a lower bound too, printed with ≥.
 */
function latencyStats(phase: { latency: number[]; pending: number[] }) {
  const all = ascending([...phase.latency, ...phase.pending]);
  const bound = phase.pending.length > 0 ? '≥ ' : '';
  const at = (p: number) => `${bound}${ms(percentile(all, p))}`;
  return { all, bound, at, p50: percentile(all, 50), p99: percentile(all, 99) };
}

const latencyText = (phase: { latency: number[]; pending: number[] }) => {
  const l = latencyStats(phase);
  return `p50 ${l.at(50)}  p99 ${l.at(99)}`;
};

const stepText = (st: StepResult) =>
  `${int(st.rate)} events/s: achieved ${int(st.achieved)}, backlog at end ${int(st.backlogEnd)}, growth ${int(st.slope)}/s, ` +
  `drained in ${ms(st.drainMs)}, p50 ${ms(st.p50)}  p99 ${ms(st.p99)} → ${st.sustained ? 'sustained' : 'lag grows'}`;

// ------------------------------------------------------------------------------------------------ /proc

/** Busy CPU ticks of the whole machine, every core (steal counts as busy: the cores were not ours). */
const systemBusyTicks = () => {
  const t = machineTicks();
  return t.busy + t.steal;
};

interface CpuSample {
  at: number;
  /** The whole machine. */
  system: number;
  bench: number;
  worker: number;
  temporal: number;
  postgres: number;
}

/** Percent of one core used by each process over a window. */
function cpuPercent(a: CpuSample, b: CpuSample) {
  const seconds = (b.at - a.at) / 1000;
  const pct = (ticks: number) => (100 * ticks) / CLK_TCK / seconds;
  const bench = (100 * (b.bench - a.bench)) / 1e6 / seconds;
  const worker = pct(b.worker - a.worker);
  const temporal = pct(b.temporal - a.temporal);
  const postgres = pct(b.postgres - a.postgres);
  // Everything else running on the machine meanwhile (other people's work skews every figure).
  const others = Math.max(0, pct(b.system - a.system) - bench - worker - temporal - postgres);
  return { bench, worker, temporal, postgres, others };
}

function formatCpu(c: ReturnType<typeof cpuPercent>): string {
  const f = (v: number) => (Number.isFinite(v) ? `${Math.round(v)}%` : 'n/a');
  return `worker ${f(c.worker)}, Temporal server ${f(c.temporal)}, Postgres ${f(c.postgres)}, bench (producer + relay) ${f(c.bench)}; other processes ${f(c.others)}`;
}

// ------------------------------------------------------------------------------------------------ Temporal histories

/** Per-stage durations read from workflow histories (the Temporal server's clock). */
interface HistoryBreakdown {
  workflows: number;
  /** Signal recorded → the workflow task that handles it started. */
  signalToTask: number[];
  /** Workflow task scheduled → started (waiting for a worker poll). */
  taskQueue: number[];
  /** Workflow task started → completed (the worker running the activation, and the round trip). */
  taskRun: number[];
  /** Workflow tasks per signal. */
  tasks: number;
  /** Workflow tasks that timed out (a sticky queue not polled within 10 s: schedule-to-start) or failed. */
  taskTimeouts: number;
  taskFailures: number;
  signals: number;
  activities: Map<string, { queue: number[]; run: number[] }>;
}

const newBreakdown = (): HistoryBreakdown => ({
  workflows: 0,
  signalToTask: [],
  taskQueue: [],
  taskRun: [],
  tasks: 0,
  taskTimeouts: 0,
  taskFailures: 0,
  signals: 0,
  activities: new Map(),
});

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const eventMs = (e: HistoryEvent) => Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

/** Adds the stages of every event at or after `fromMs` (wall clock, ms) to the breakdown. */
function analyseHistory(events: HistoryEvent[], fromMs: number, into: HistoryBreakdown) {
  into.workflows++;
  let taskScheduled: number | undefined;
  let taskStarted: number | undefined;
  let signalAt: number | undefined;
  const scheduled = new Map<string, { name: string; at: number }>();
  const started = new Map<string, number>();
  for (const e of events) {
    const at = eventMs(e);
    if (at < fromMs) continue;
    if (e.workflowExecutionSignaledEventAttributes) {
      into.signals++;
      signalAt ??= at;
    } else if (e.workflowTaskScheduledEventAttributes) {
      taskScheduled = at;
    } else if (e.workflowTaskStartedEventAttributes) {
      into.tasks++;
      if (taskScheduled !== undefined) into.taskQueue.push(at - taskScheduled);
      if (signalAt !== undefined) into.signalToTask.push(at - signalAt);
      signalAt = undefined;
      taskStarted = at;
    } else if (e.workflowTaskTimedOutEventAttributes) {
      into.taskTimeouts++;
    } else if (e.workflowTaskFailedEventAttributes) {
      into.taskFailures++;
    } else if (e.workflowTaskCompletedEventAttributes) {
      if (taskStarted !== undefined) into.taskRun.push(at - taskStarted);
      taskStarted = undefined;
    } else if (e.activityTaskScheduledEventAttributes) {
      scheduled.set(String(e.eventId), {
        name: String(e.activityTaskScheduledEventAttributes.activityType?.name ?? '?'),
        at,
      });
    } else if (e.activityTaskStartedEventAttributes) {
      const id = String(e.activityTaskStartedEventAttributes.scheduledEventId);
      const s = scheduled.get(id);
      if (!s) continue;
      started.set(id, at);
      const entry = into.activities.get(s.name) ?? { queue: [], run: [] };
      into.activities.set(s.name, entry);
      entry.queue.push(at - s.at);
    } else if (e.activityTaskCompletedEventAttributes) {
      const id = String(e.activityTaskCompletedEventAttributes.scheduledEventId);
      const s = scheduled.get(id);
      const t = started.get(id);
      if (s && t !== undefined) into.activities.get(s.name)?.run.push(at - t);
    }
  }
}

// ------------------------------------------------------------------------------------------------ the run

const { onCleanup, run } = benchRun(30_000);

/** Per-event timestamps taken in this process (wall clock, ms). */
interface Stamp {
  dispatchAt?: number;
  signalStart?: number;
  signalEnd?: number;
}

interface PhaseLatency {
  sent: number;
  evaluated: number;
  latency: number[];
  /** Events still not evaluated when the benchmark stopped waiting: their age then (a lower bound of their latency). */
  pending: number[];
  /** How long the benchmark waited after the last event was committed, and whether it stopped while work was still progressing. */
  waitedMs: number;
  capped: boolean;
  ingest: number[];
  relay: number[];
  route: number[];
  signal: number[];
  worker: number[];
}

interface ProduceResult {
  sent: number;
  ms: number;
  txnMs: number[];
  /** The producer could not keep the pace (rate not reached). */
  behind: boolean;
}

interface StepResult {
  rate: number;
  achieved: number;
  evaluatedPerSecond: number;
  backlogEnd: number;
  slope: number;
  drainMs: number;
  p50: number;
  p99: number;
  sustained: boolean;
  stoppedEarly: boolean;
}

interface ScenarioResult {
  n: number;
  createdNow: number;
  createMs: number;
  createLatency: number[];
  startLatency: number[];
  loadedAfterMs: number;
  /** Workflows that had loaded their definition when the idle measurement began. */
  loaded: number;
  idle: {
    rss: number;
    temporalRss: number;
    stats: WorkerStats;
    running: number | undefined;
    cpu: ReturnType<typeof cpuPercent>;
    settleS: number;
  };
  history: { events: number; timersFired: number; ageS: number } | undefined;
  steady:
    | {
        rate: number;
        seconds: number;
        phase: PhaseLatency;
        produce: ProduceResult;
        cpu: ReturnType<typeof cpuPercent>;
        dispatch: DispatchStats;
        recordMs: number[];
        rssAfter: number;
        history: HistoryBreakdown;
      }
    | undefined;
  ladder: StepResult[] | undefined;
  ladderSkipped?: string;
}

interface DispatchStats {
  batches: number;
  batchSizes: number[];
  dispatchMs: number[];
  candidatesMs: number[];
  readBatchMs: number[];
  signalMs: number[];
}

async function main(): Promise<void> {
  const started = now();
  const loadAtStart = os.loadavg()[0]!;
  // How busy the machine is before anything of ours runs (1 s).
  const busyBefore = await (async () => {
    const t0 = now();
    const b0 = systemBusyTicks();
    await sleep(1_000);
    return (100 * (systemBusyTicks() - b0)) / CLK_TCK / ((now() - t0) / 1000);
  })();
  const remaining = () => TIME_BUDGET_MS - (now() - started);
  process.stderr.write('trigger benchmark: setting up\n');

  // ---- Postgres (migrated) and the Temporal dev server, in parallel.
  const root = await benchFolder('erc8004-bench-triggers-', onCleanup);
  const [{ databaseUrl, postmasterPid, version: pgVersion }, temporal] = await Promise.all([
    startBenchPostgres(root, 'bench_triggers', logger, onCleanup),
    startBenchTemporal(logger, onCleanup),
  ]);
  const { server: temporalServer, pid: temporalPid, version: temporalVersion } = temporal;

  const pool = createPool(databaseUrl, logger, { max: CREATE_CONCURRENCY + 8, applicationName: 'bench-triggers' });
  onCleanup('bench pool', () => pool.end());
  progress(`Postgres ${pgVersion} and Temporal ${temporalVersion} up (${ms(now() - started)})`);

  // ---- The worker, in its own process.
  const taskQueue = `bench-triggers-${randomUUID()}`;
  const workerProcess = spawnWorkerProcess<WorkerStats>(
    path.join(BENCH_DIR, 'triggers-worker.ts'),
    {
      BENCH_TEMPORAL_ADDRESS: temporalServer.address,
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_TASK_QUEUE: taskQueue,
      BENCH_MAX_CACHED_WORKFLOWS: String(MAX_CACHED_WORKFLOWS),
      BENCH_LOG_LEVEL: LOG_LEVEL,
      ...(FLOOR ? { BENCH_FLOOR_TASK_QUEUE: `${taskQueue}-floor`, BENCH_FLOOR_CACHE: String(COUNTS[0]) } : {}),
    },
    onCleanup,
  );
  const checkWorker = workerProcess.check;
  const workerStats = workerProcess.stats;
  await workerProcess.ready(180_000);
  const workerPid = workerProcess.pid;
  const rssAtStart = rssBytes(workerPid);
  progress(`worker process polling, RSS ${mib(rssAtStart)} (${ms(now() - started)})`);

  const cpuSample = (): CpuSample => {
    const bench = process.cpuUsage();
    return {
      at: now(),
      system: systemBusyTicks(),
      bench: bench.user + bench.system,
      worker: treeTicks(workerPid),
      temporal: treeTicks(temporalPid),
      postgres: treeTicks(postmasterPid),
    };
  };
  const runCpuStart = cpuSample();

  // ---- Floor: the pure evaluator in this process, same definition shape as the benchmark's triggers.
  const floorInput = {
    id: 'floor',
    organizationId: 'floor',
    name: 'floor',
    chainId: CHAIN_ID,
    registry: 'reputation' as const,
    enabled: true,
    settings: { cooldown_seconds: 0, hysteresis: false, start_block: null },
    conditions: [
      { key: '1', condition_type: 'agent_id_equals' as const, field: 'agent_id', operator: '=', value: '7' },
      { key: '2', condition_type: 'score_threshold' as const, field: 'value', operator: '>=', value: '0' },
    ],
  };
  let compileCount = 0;
  const compileStart = now();
  while (now() - compileStart < 500 && compileCount < 100_000) {
    compileDefinition(floorInput);
    compileCount++;
  }
  const compileUs = ((now() - compileStart) * 1000) / compileCount;
  const floorDef = compileDefinition(floorInput);
  const floorEvents: TriggerEvent[] = Array.from({ length: 1_000 }, (_, i) => ({
    ingest_seq: String(i + 1),
    id: `${CHAIN_ID}-${i}-0`,
    chain_id: CHAIN_ID,
    block_number: i,
    log_index: 0,
    timestamp: BASE_TIMESTAMP + i,
    registry: 'reputation',
    event_type: 'NewFeedback',
    agent_id: '7',
    value: String(i % 100),
    value_decimals: 0,
    tag1: 'quality',
    tag2: '',
    tag: null,
    validator_address: null,
    file_uri: 'ipfs://feedback',
    response: null,
    request_hash: null,
  }));
  const floorState = initialState();
  let floorCount = 0;
  let floorFired = 0;
  const floorStart = now();
  while (floorCount < FLOOR_MAX_EVENTS && (floorCount % 10_000 !== 0 || now() - floorStart < FLOOR_MAX_MS)) {
    const event = floorEvents[floorCount % floorEvents.length]!;
    // Block time moves forward as on a chain (a step back would count as inside the cooldown window).
    event.timestamp = BASE_TIMESTAMP + floorCount;
    if (evaluate(floorDef, floorState, event).fired) floorFired++;
    floorCount++;
  }
  const floorMs = now() - floorStart;
  if (floorFired !== floorCount)
    throw new BenchError(`the floor definition fired on ${floorFired} of ${floorCount} events; expected all`);
  const floorRate = floorCount / (floorMs / 1000);
  const floorUs = (floorMs * 1000) / floorCount;
  progress(
    `floor: evaluate ${int(floorRate)} events/s (${floorUs.toFixed(2)} µs/event), compileDefinition ${compileUs.toFixed(1)} µs`,
  );

  // ---- Temporal client (instrumented), TriggerService, relay with the production dispatcher.
  const client = await connectBenchTemporal(temporalServer.address, onCleanup);
  const stamps = new Map<string, Stamp>();
  const stamp = (seq: string) => {
    let s = stamps.get(seq);
    if (!s) stamps.set(seq, (s = {}));
    return s;
  };
  let dispatch: DispatchStats = {
    batches: 0,
    batchSizes: [],
    dispatchMs: [],
    candidatesMs: [],
    readBatchMs: [],
    signalMs: [],
  };
  const startMs: number[] = [];
  {
    const wf = client.workflow as unknown as Record<
      'signalWithStart' | 'start',
      (...args: unknown[]) => Promise<unknown>
    >;
    const signalWithStart = wf.signalWithStart.bind(client.workflow);
    wf.signalWithStart = async (...args: unknown[]) => {
      const items = (args[1] as { signalArgs?: [EventsBatch] }).signalArgs?.[0]?.items ?? [];
      const t0 = wall();
      const result = await signalWithStart(...args);
      const t1 = wall();
      dispatch.signalMs.push(t1 - t0);
      for (const item of items) {
        if (item.kind !== 'event') continue;
        const s = stamp(item.event.ingest_seq);
        s.signalStart = t0;
        s.signalEnd = t1;
      }
      return result;
    };
    const start = wf.start.bind(client.workflow);
    wf.start = async (...args: unknown[]) => {
      const t0 = now();
      const result = await start(...args);
      startMs.push(now() - t0);
      return result;
    };
  }

  const relayPool = createPool(databaseUrl, logger, { max: 10, applicationName: 'bench-relay' });
  onCleanup('relay pool', () => relayPool.end());
  {
    const original = relayPool.query.bind(relayPool) as (...args: unknown[]) => unknown;
    (relayPool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : '';
      const sink = text.includes('WITH ev AS')
        ? 'candidatesMs'
        : text.includes('FROM events e WHERE e.ingest_seq > $1')
          ? 'readBatchMs'
          : undefined;
      const t0 = now();
      const result = original(...args);
      if (!sink || !(result instanceof Promise)) return result;
      return result.then((value: unknown) => {
        dispatch[sink].push(now() - t0);
        return value;
      });
    };
  }
  class TimedDispatcher extends TriggerDispatcher {
    override async dispatch(batch: readonly RelayItem[]): Promise<void> {
      const t0 = wall();
      for (const item of batch) stamp(item.seq).dispatchAt ??= t0;
      dispatch.batches++;
      dispatch.batchSizes.push(batch.length);
      await super.dispatch(batch);
      dispatch.dispatchMs.push(wall() - t0);
    }
  }
  const dispatcher = new TimedDispatcher({ pool: relayPool, temporal: client, taskQueue, logger, databaseUrl });
  onCleanup('dispatcher', () => dispatcher.close());
  {
    // The in-memory candidates (barrier NOTIFY + lookup) are timed like the query they replace.
    const index = dispatcher.index!;
    const candidates = index.candidates.bind(index);
    index.candidates = async (routes) => {
      const t0 = now();
      const found = await candidates(routes);
      if (found) dispatch.candidatesMs.push(now() - t0);
      return found;
    };
  }
  const relay = new Relay({ pool: relayPool, databaseUrl, dispatcher, logger });
  // Started after the floor (which has its own relay and cursor).
  let checkRelay = () => {};
  const checkRunning = () => {
    checkWorker();
    checkRelay();
  };

  const service = new TriggerService({ pool, temporal: client, taskQueue, logger });
  const userId = await insertUser(pool);
  // Enterprise: the bench's triggers and deliveries stay within the plan's quotas (src/billing/plans.ts).
  const organizationId = await insertOrganization(pool, userId, { plan: 'enterprise' });
  const triggerWrite = (agent: number): TriggerWrite => ({
    organizationId,
    userId,
    name: `bench agent ${agent}`,
    chainId: CHAIN_ID,
    registry: 'reputation',
    conditions: [
      { condition_type: 'agent_id_equals', field: 'agent_id', operator: '=', value: String(agent) },
      STATEFUL
        ? { condition_type: 'rate_limit', operator: '>=', value: '1', config: { time_window: '7d' } }
        : { condition_type: 'score_threshold', field: 'value', operator: '>=', value: '0' },
    ],
  });
  const triggerIds: string[] = [];
  const createdAt: number[] = [];

  // ---- Event producer: the production write path, one transaction per tick.
  const commitAt = new Map<number, number>();
  let nextBlock = 1;
  const produce = async (
    rate: number,
    seconds: number,
    agents: number,
    live?: { committed: number },
    stop?: () => boolean,
  ): Promise<ProduceResult> => {
    const total = Math.round(rate * seconds);
    const begin = now();
    const hardStop = begin + seconds * 1000 + 15_000;
    const txnMs: number[] = [];
    let sent = 0;
    let behind = false;
    for (let tick = 1; sent < total; tick++) {
      if (stop?.()) break;
      if (now() > hardStop) {
        behind = true;
        break;
      }
      const due = Math.min(total, Math.floor((rate * (now() - begin)) / 1000));
      const count = Math.min(due - sent, 2_000);
      if (count > 0) {
        const block = nextBlock++;
        const records = Array.from({ length: count }, (_, i) =>
          feedbackRecord({
            chain_id: CHAIN_ID,
            block_number: block,
            log_index: i,
            timestamp: BASE_TIMESTAMP + block,
            agent_id: String(randomInt(agents)),
            value: '95',
            value_decimals: 0,
          }),
        );
        const t0 = now();
        const wrote = await appendEvents(pool, records);
        if (wrote !== count) throw new BenchError(`appendEvents wrote ${wrote} of ${count} events`);
        commitAt.set(block, wall());
        txnMs.push(now() - t0);
        sent += count;
        if (live) live.committed = sent;
        if (tick % 100 === 0) checkRunning();
      }
      await sleep(begin + tick * TICK_MS - now());
    }
    const elapsed = now() - begin;
    if (sent < total && !stop?.()) behind = true;
    return { sent, ms: elapsed, txnMs, behind: behind || sent / (elapsed / 1000) < rate * 0.95 };
  };
  const maxSeq = async () =>
    (await pool.query<{ s: string }>('SELECT coalesce(max(ingest_seq), 0)::text AS s FROM events')).rows[0]!.s;
  const matchedBetween = async (after: string, upTo: string) =>
    Number(
      (
        await pool.query<{ n: string }>(
          'SELECT count(*) AS n FROM trigger_matches WHERE event_seq > $1 AND event_seq <= $2',
          [after, upTo],
        )
      ).rows[0]!.n,
    );
  /**
   * Waits until count() reaches target. Nothing moving for STALL_MS is an error (work lost or stuck); still moving after
   * capMs means slow: the caller reports what it has.
   */
  const waitProgress = async (what: string, count: () => Promise<number>, target: number, capMs: number) => {
    const t0 = now();
    let value = await count();
    let last = value;
    let lastChange = now();
    while (value < target) {
      checkRunning();
      if (now() - lastChange > STALL_MS) {
        throw new BenchError(
          `${what}: ${int(value)} of ${int(target)} after ${ms(now() - t0)}, and nothing moved for ${ms(STALL_MS)} (lost or stuck)`,
        );
      }
      if (now() - t0 > capMs) return { value, ms: now() - t0, capped: true };
      await sleep(100);
      value = await count();
      if (value !== last) {
        last = value;
        lastChange = now();
      }
    }
    return { value, ms: now() - t0, capped: false };
  };
  /** How long a drain may take: what the time budget leaves (keeping `reserveMs`), within [15 s, DRAIN_CAP_MS]. */
  const drainCap = (reserveMs = 30_000) => Math.min(DRAIN_CAP_MS, Math.max(15_000, remaining() - reserveMs));
  const waitEvaluated = (after: string, upTo: string, expected: number, capMs: number) =>
    waitProgress('events evaluated (match recorded)', () => matchedBetween(after, upTo), expected, capMs);
  const phaseLatency = async (
    after: string,
    upTo: string,
    sent: number,
    waited: { ms: number; capped: boolean },
  ): Promise<PhaseLatency> => {
    const { rows } = await pool.query<{
      seq: string;
      block: number;
      created: number;
      matched: number | null;
      db_now: number;
    }>(
      `SELECT e.ingest_seq::text AS seq, e.block_number::int AS block,
         extract(epoch FROM e.created_at)::float8 * 1000 AS created, extract(epoch FROM clock_timestamp())::float8 * 1000 AS db_now,
         (SELECT extract(epoch FROM min(m.matched_at))::float8 * 1000 FROM trigger_matches m WHERE m.event_seq = e.ingest_seq) AS matched
       FROM events e WHERE e.ingest_seq > $1 AND e.ingest_seq <= $2`,
      [after, upTo],
    );
    const result: PhaseLatency = {
      sent,
      evaluated: 0,
      latency: [],
      pending: [],
      waitedMs: waited.ms,
      capped: waited.capped,
      ingest: [],
      relay: [],
      route: [],
      signal: [],
      worker: [],
    };
    for (const row of rows) {
      if (row.matched === null) {
        result.pending.push(row.db_now - row.created);
        continue;
      }
      result.evaluated++;
      result.latency.push(row.matched - row.created);
      const committed = commitAt.get(row.block);
      const s = stamps.get(row.seq);
      if (committed !== undefined) result.ingest.push(committed - row.created);
      if (committed !== undefined && s?.dispatchAt !== undefined) result.relay.push(s.dispatchAt - committed);
      if (s?.dispatchAt !== undefined && s.signalStart !== undefined) result.route.push(s.signalStart - s.dispatchAt);
      if (s?.signalStart !== undefined && s.signalEnd !== undefined) result.signal.push(s.signalEnd - s.signalStart);
      if (s?.signalEnd !== undefined) result.worker.push(row.matched - s.signalEnd);
    }
    if (rows.length !== sent)
      throw new BenchError(`${sent} events were appended but the database holds ${rows.length} in the phase's range`);
    return result;
  };
  const resetPhase = async () => {
    stamps.clear();
    dispatch = { batches: 0, batchSizes: [], dispatchMs: [], candidatesMs: [], readBatchMs: [], signalMs: [] };
    await workerStats(true);
  };

  /** How a ladder step counts the events handled after a position, and reads their latencies. */
  interface StepProbe {
    evaluated(after: string): Promise<number>;
    latencies(
      before: string,
      after: string,
      sent: number,
      waited: { ms: number; capped: boolean },
    ): Promise<{ latency: number[]; pending: number[] }>;
  }
  /**
   * One ladder step at `rate`: produce for STEP_SECONDS while sampling the backlog, wait for the rest, judge whether
   * the rate was sustained (the producer kept the pace, the backlog did not grow, little was left at the end).
   */
  const ladderStep = async (rate: number, agents: number, probe: StepProbe): Promise<StepResult> => {
    const before = await maxSeq();
    const live = { committed: 0 };
    const samples: { t: number; backlog: number }[] = [];
    const stepStart = now();
    let sampling = true;
    let stoppedEarly = false;
    const sampler = (async () => {
      while (sampling) {
        await sleep(SAMPLE_MS);
        if (!sampling) break;
        const committed = live.committed;
        const evaluated = await probe.evaluated(before);
        samples.push({ t: (now() - stepStart) / 1000, backlog: committed - evaluated });
      }
    })();
    // Stop a step early once the backlog is clearly out of hand (more than 3 s of events waiting).
    const produced = await produce(rate, STEP_SECONDS, agents, live, () => {
      const last = samples[samples.length - 1];
      stoppedEarly = !!last && last.t >= 3 && last.backlog > rate * 3;
      return stoppedEarly;
    });
    sampling = false;
    await sampler;
    const after = await maxSeq();
    const evaluatedAtEnd = await probe.evaluated(before);
    const backlogEnd = produced.sent - evaluatedAtEnd;
    const waited = await waitProgress('events evaluated', () => probe.evaluated(before), produced.sent, 60_000);
    const phase = await probe.latencies(before, after, produced.sent, waited);
    // Growth of the backlog: least-squares slope (events/s) over the samples after a 2 s warm-up.
    const fit = samples.filter((s) => s.t >= 2);
    let slope = 0;
    if (fit.length >= 3) {
      const mt = mean(fit.map((s) => s.t));
      const mb = mean(fit.map((s) => s.backlog));
      const num = fit.reduce((sum, s) => sum + (s.t - mt) * (s.backlog - mb), 0);
      const den = fit.reduce((sum, s) => sum + (s.t - mt) ** 2, 0);
      slope = den > 0 ? num / den : 0;
    }
    const sorted = ascending([...phase.latency, ...phase.pending]);
    return {
      rate,
      achieved: produced.sent / (produced.ms / 1000),
      evaluatedPerSecond: evaluatedAtEnd / (produced.ms / 1000),
      backlogEnd,
      slope,
      drainMs: waited.ms,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      sustained:
        !waited.capped &&
        !stoppedEarly &&
        !produced.behind &&
        slope <= Math.max(rate * 0.05, 5) &&
        backlogEnd <= Math.max(rate, 50),
      stoppedEarly,
    };
  };

  /** Reads the histories of up to 40 trigger workflows that fired in (after, upTo]: where their time went. */
  const sampleHistories = async (after: string, upTo: string, fromMs: number): Promise<HistoryBreakdown> => {
    const breakdown = newBreakdown();
    const { rows } = await pool.query<{ trigger_id: string }>(
      'SELECT DISTINCT trigger_id::text FROM trigger_matches WHERE event_seq > $1 AND event_seq <= $2 LIMIT 40',
      [after, upTo],
    );
    const queue = [...rows];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let row = queue.shift(); row; row = queue.shift()) {
          try {
            const history = await client.workflow.getHandle(triggerWorkflowId(row.trigger_id)).fetchHistory();
            analyseHistory((history.events ?? []) as HistoryEvent[], fromMs, breakdown);
          } catch (err) {
            progress(
              `history of trigger ${row.trigger_id} unavailable: ${err instanceof Error ? err.message : String(err)}`,
            );
          }
        }
      }),
    );
    return breakdown;
  };

  // ---- Floor: N workflows that only count their signals, fed by the relay machinery minus evaluation.
  interface FloorResult {
    n: number;
    ladder: StepResult[];
    ceiling: number | undefined;
    half: StepResult | undefined;
  }
  let floorResult: FloorResult | undefined;
  if (FLOOR) {
    const n = COUNTS[0]!;
    const floorQueue = `${taskQueue}-floor`;
    progress(`floor: starting ${int(n)} signal-counting workflows`);
    let nextAgent = 0;
    await Promise.all(
      Array.from({ length: CREATE_CONCURRENCY }, async () => {
        for (let agent = nextAgent++; agent < n; agent = nextAgent++)
          await client.workflow.start('signalCounterWorkflow', {
            workflowId: floorWorkflowId(String(agent)),
            taskQueue: floorQueue,
          });
      }),
    );
    await waitProgress('floor workflows started', async () => (await workerStats()).floorStarted, n, 180_000);
    const relayOfFloor = floorRelay({ pool: relayPool, databaseUrl, client, taskQueue: floorQueue, logger });
    await relayOfFloor.cursor();
    await relayPool.query('UPDATE relay_cursors SET position = $2 WHERE name = $1', [
      relayOfFloor.name,
      await maxSeq(),
    ]);
    const floorController = new AbortController();
    const checkFloorRelay = runInBackground(
      'floor relay',
      (signal) => relayOfFloor.run(signal),
      onCleanup,
      floorController,
    );
    let handledBase = 0;
    const floorStep = async (rate: number) => {
      checkFloorRelay();
      handledBase = (await workerStats(true)).floorHandled;
      return ladderStep(rate, n, {
        evaluated: async () => (await workerStats()).floorHandled - handledBase,
        latencies: async (before, after) => {
          const { latency, missing } = await floorLatencies(
            pool,
            before,
            after,
            (await workerStats(true)).floorSamples,
          );
          // Events not handled (none when the wait ended in time) have no latency: counted as pending at 0.
          return { latency, pending: Array.from({ length: missing }, () => 0) };
        },
      });
    };
    const ladder: StepResult[] = [];
    for (const rate of LADDER) {
      const step = await floorStep(rate);
      ladder.push(step);
      progress(`floor ladder ${stepText(step)}`);
      if (!step.sustained) break;
    }
    const ceiling = ladder.filter((st) => st.sustained).pop()?.rate;
    let half: StepResult | undefined;
    if (ceiling) {
      half = await floorStep(Math.max(1, Math.round(ceiling / 2)));
      progress(`floor at half the ceiling: ${stepText(half)}`);
    }
    floorResult = { n, ladder, ceiling, half };
    floorController.abort();
    await workerProcess.request({ type: 'floor-stop' }, 'floor-stopped', 60_000);
  }
  // The stateful path is measured at half the floor's ceiling (issue 15's latency target), else at BENCH_STEADY_RATE.
  const steadyRate = STATEFUL && floorResult?.ceiling ? Math.max(1, Math.round(floorResult.ceiling / 2)) : STEADY_RATE;

  // Enough triggers in the candidate index to measure it at the target size: triggers of another registry (they never
  // match the benchmark's events, and have no workflow), added before the relay loads the index.
  const indexFiller = Math.max(0, TARGET_INDEXED_TRIGGERS - COUNTS[COUNTS.length - 1]!);
  if (indexFiller > 0)
    await pool.query(
      `INSERT INTO triggers (user_id, organization_id, name, chain_id, registry, enabled, is_stateful, settings, start_seq, prefilter_agent_ids)
       SELECT $1, $2, 'index filler ' || g, $3, 'validation', true, false, '{}', 0, ARRAY[g::numeric]
       FROM generate_series(1, $4) g`,
      [userId, organizationId, CHAIN_ID, indexFiller],
    );
  // The trigger relay starts at the end of the log (the floor's events are not the triggers' business).
  await relay.cursor();
  await relayPool.query('UPDATE relay_cursors SET position = $2 WHERE name = $1', [relay.name, await maxSeq()]);
  checkRelay = runInBackground('relay', (signal) => relay.run(signal), onCleanup);
  /** Per-event lookups in the index (no barrier), µs: measured once the first scenario's triggers exist. */
  let lookupUs: number[] = [];

  // ---- Scenarios.
  const results: ScenarioResult[] = [];
  for (const [index, n] of COUNTS.entries()) {
    checkRunning();
    // Creation: add triggers up to n (agents 0..n-1), bounded concurrency.
    const from = triggerIds.length;
    const createLatency: number[] = [];
    startMs.length = 0;
    const createStart = now();
    // Creation gets what the budget leaves after the rest of this scenario, but at least 150 s.
    const createCap = Math.min(CREATE_TIMEOUT_MS, Math.max(150_000, remaining() - 150_000));
    let next = from;
    let createError: unknown;
    await Promise.all(
      Array.from({ length: CREATE_CONCURRENCY }, async () => {
        for (;;) {
          const agent = next++;
          if (agent >= n || createError || now() - createStart > createCap) return;
          const t0 = now();
          try {
            triggerIds[agent] = await service.create(triggerWrite(agent));
            createdAt[agent] = wall();
          } catch (err) {
            createError ??= err;
            return;
          }
          createLatency.push(now() - t0);
          const done = from + createLatency.length;
          if (done % 1_000 === 0)
            progress(`created ${int(done)} triggers (${int(createLatency.length / ((now() - createStart) / 1000))}/s)`);
        }
      }),
    );
    if (createError) throw createError;
    const createMs = now() - createStart;
    const total = triggerIds.filter(Boolean).length;
    if (total < n)
      progress(`creation stopped after ${ms(createCap)} (time budget): ${int(total)} of ${int(n)} triggers exist`);
    // Every workflow has loaded its definition (an activity per workflow start), or the time budget says stop waiting.
    const loadReserve = (SETTLE_SECONDS + 3 * STEADY_SECONDS + 60) * 1000;
    const loads = await waitProgress(
      'trigger workflows started by the worker (definition loaded)',
      async () => (await workerStats()).definitionLoads,
      total,
      Math.max(30_000, remaining() - loadReserve),
    );
    const loadedAfterMs = now() - createStart;
    progress(
      `N=${int(total)}: created ${int(total - from)} in ${ms(createMs)}; ` +
        (loads.capped
          ? `only ${int(loads.value)} workflows had loaded their definition after ${ms(loadedAfterMs)} (time budget)`
          : `all workflows loaded after ${ms(loadedAfterMs)}`) +
        `; settling ${SETTLE_SECONDS} s`,
    );

    // Idle: nothing to evaluate; memory after settling.
    const idleCpu0 = cpuSample();
    await sleep(SETTLE_SECONDS * 1000);
    const idleCpu = cpuPercent(idleCpu0, cpuSample());
    const stats = await workerStats();
    let runningCount: number | undefined;
    try {
      runningCount = (await client.workflow.count(`TaskQueue = "${taskQueue}" AND ExecutionStatus = "Running"`)).count;
    } catch (err) {
      progress(`workflow count failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    const idle = {
      rss: rssBytes(workerPid),
      temporalRss: rssBytes(temporalPid),
      stats,
      running: runningCount,
      cpu: idleCpu,
      settleS: SETTLE_SECONDS,
    };
    progress(
      `N=${int(total)} idle: worker RSS ${mib(idle.rss)}, ${int(stats.cachedWorkflows)} cached workflows, ${runningCount ?? '?'} running; CPU ${formatCpu(idleCpu)}`,
    );
    // What an idle trigger workflow does: the oldest one's history.
    let history: ScenarioResult['history'];
    try {
      // The first trigger created for this scenario: no event has been sent to it yet.
      const h = await client.workflow.getHandle(triggerWorkflowId(triggerIds[from]!)).fetchHistory();
      const events = h.events ?? [];
      history = {
        events: events.length,
        timersFired: events.filter((e) => e.timerFiredEventAttributes).length,
        ageS: (wall() - createdAt[from]!) / 1000,
      };
    } catch (err) {
      progress(`history fetch failed: ${err instanceof Error ? err.message : String(err)}`);
    }

    const result: ScenarioResult = {
      n: total,
      createdNow: total - from,
      createMs,
      createLatency,
      startLatency: [...startMs],
      loadedAfterMs,
      loaded: Math.min(total, loads.value),
      idle,
      history,
      steady: undefined,
      ladder: undefined,
    };
    results.push(result);

    // Steady rate: latency.
    {
      await resetPhase();
      const before = await maxSeq();
      const cpu0 = cpuSample();
      const phaseStartWall = wall();
      // Later scenarios shorten the run when the time budget is short.
      const seconds =
        index === 0 || remaining() > (STEADY_SECONDS * 4 + 60) * 1000
          ? STEADY_SECONDS
          : Math.max(5, Math.floor(STEADY_SECONDS / 2));
      progress(`N=${int(total)}: ${steadyRate} events/s for ${seconds} s`);
      const produced = await produce(steadyRate, seconds, total);
      const cpu = cpuPercent(cpu0, cpuSample());
      const after = await maxSeq();
      const laterReserve = COUNTS.slice(index + 1).length > 0 ? 150_000 : 20_000;
      const waited = await waitEvaluated(before, after, produced.sent, drainCap(laterReserve));
      const phase = await phaseLatency(before, after, produced.sent, waited);
      const recordStats = await workerStats(true);
      const historyBreakdown = await sampleHistories(before, after, phaseStartWall);
      result.steady = {
        rate: steadyRate,
        seconds,
        phase,
        produce: produced,
        cpu,
        dispatch,
        recordMs: recordStats.recordMatchesMs,
        rssAfter: rssBytes(workerPid),
        history: historyBreakdown,
      };
      progress(
        `N=${int(total)} steady: ${latencyText(phase)}, ` +
          (phase.pending.length > 0
            ? `${int(phase.evaluated)} of ${int(phase.sent)} evaluated when the wait stopped (still progressing)`
            : `all ${int(phase.evaluated)} evaluated`),
      );
    }

    // The index's per-event lookup (no barrier), with this scenario's triggers and the filler in it.
    if (lookupUs.length === 0 && dispatcher.index && dispatcher.index.size > 0) {
      const last = await maxSeq();
      for (let i = 0; i < 20_000; i++) {
        const route = {
          seq: last,
          chain: CHAIN_ID,
          registry: 'reputation',
          type: 'NewFeedback',
          agent: String(randomInt(total)),
        };
        const t0 = now();
        dispatcher.index.lookup([route]);
        lookupUs.push((now() - t0) * 1000);
      }
      lookupUs = ascending(lookupUs);
    }

    // Highest sustained rate.
    const ladderWanted = index === 0 || LADDER_ALL;
    if (!ladderWanted) {
      result.ladderSkipped = `skipped for N=${int(total)} (set BENCH_LADDER_ALL=1 to run it; the 2-core run stays under ~8 minutes without it)`;
      continue;
    }
    // Time for later scenarios, from this one's pace (creation until every workflow had loaded its definition).
    const perTriggerMs = result.loadedAfterMs / Math.max(1, result.createdNow);
    const laterScenarioBudget = COUNTS.slice(index + 1).reduce(
      (sum, later) => sum + (later - total) * perTriggerMs + (SETTLE_SECONDS + 2 * STEADY_SECONDS + 60) * 1000,
      0,
    );
    // The ladder gets at least a minute and a half, whatever the estimate says.
    const ladderDeadline = now() + Math.max(90_000, Math.min(240_000, remaining() - laterScenarioBudget));
    const steps: StepResult[] = [];
    result.ladder = steps;
    for (const rate of LADDER) {
      const stepBudget = (STEP_SECONDS + 15) * 1000;
      if (now() + stepBudget > ladderDeadline) {
        result.ladderSkipped = `stopped before ${int(rate)} events/s: time budget (BENCH_TIME_BUDGET_SECONDS)`;
        break;
      }
      checkRunning();
      await resetPhase();
      const step = await ladderStep(rate, total, {
        evaluated: (after) => matchedBetween(after, '9223372036854775807'),
        latencies: async (before, after, sent, waited) => {
          const phase = await phaseLatency(before, after, sent, waited);
          return { latency: phase.latency, pending: phase.pending };
        },
      });
      steps.push(step);
      progress(`ladder ${stepText(step)}`);
      if (!step.sustained) break;
    }
  }

  // ---- Report.
  const cores = os.availableParallelism();
  const line = (label: string, text: string) => console.log(`${label.padEnd(40)}${text}`);
  console.log('');
  console.log(
    `trigger benchmark (Temporal dev server ${temporalVersion} in memory, Postgres ${pgVersion} embedded, ${cores} core${cores === 1 ? '' : 's'}, node ${process.versions.node}; ` +
      `worker in its own process, maxCachedWorkflows ${int(MAX_CACHED_WORKFLOWS)}; relay + TriggerDispatcher with production defaults)`,
  );
  const loadAtEnd = os.loadavg()[0]!;
  const runCpu = cpuPercent(runCpuStart, cpuSample());
  const busy = busyBefore > 25 || runCpu.others > 25;
  console.log(
    `machine: ${Math.round(busyBefore)}% of one core busy in the second before the run; other processes used ${Math.round(runCpu.others)}% of one core on average during it; ` +
      `load average (1 min) ${loadAtStart.toFixed(2)} before, ${loadAtEnd.toFixed(2)} at the end (with its own processes)` +
      (busy ? '   — the machine was shared: figures are pessimistic, run again when it is idle' : ''),
  );
  console.log(
    (STATEFUL
      ? 'workload (BENCH_STATEFUL=1): trigger i = agent_id_equals i AND rate_limit >= 1 event in 7 d (stateful; fires on every event of agent i), so each event ' +
        'signals exactly one trigger workflow, which evaluates it and records one match'
      : 'workload: trigger i = agent_id_equals i AND score_threshold value >= 0 (fires on every event of agent i, depends on the event alone), so the relay ' +
        'evaluates each event itself and records one match; no workflow is signalled (BENCH_STATEFUL=1 measures the workflow path)') +
      `; NewFeedback events appended through appendEvents, one transaction every ${TICK_MS} ms, agents uniformly at random`,
  );
  console.log(
    'latency = trigger_matches.matched_at − events.created_at, both the database clock: from the start of the ingest transaction to the start ' +
      'of the statement recording the match (so it includes the ingest commit and the recordMatches activity being scheduled and started)',
  );
  line(
    'floor: pure evaluator in process:',
    `${int(floorRate)} events/s (${floorUs.toFixed(2)} µs/event, evaluate() over ${int(floorCount)} events; compileDefinition ${compileUs.toFixed(1)} µs once)`,
  );
  if (floorResult) {
    const f = floorResult;
    console.log('');
    console.log(
      `floor: ${int(f.n)} cached workflows that only count their signals (test/bench/floor-workflow.ts), fed by the production Relay ` +
        '(ingest order, grouped per workflow, signalWithStart 16 at a time, cursor after acceptance) minus candidates and evaluation; ' +
        'latency = events.created_at → the signal handled in the worker',
    );
    for (const st of f.ladder) console.log(`    ${stepText(st)}`);
    console.log(
      `    → bare-signal ceiling: ${f.ceiling ? `${int(f.ceiling)} events/s` : `below ${int(LADDER[0]!)} events/s`}` +
        (f.ladder.every((st) => st.sustained)
          ? ' (the ladder ended without the lag growing: the ceiling is at least this)'
          : '') +
        (f.half ? `; at half of it (${int(f.half.rate)} events/s): p50 ${ms(f.half.p50)}  p99 ${ms(f.half.p99)}` : ''),
    );
  }
  for (const r of results) {
    console.log('');
    console.log(`N = ${int(r.n)} active triggers`);
    const createRate = r.createdNow / (r.createMs / 1000);
    line(
      '  creation:',
      `${int(r.createdNow)} triggers in ${ms(r.createMs)} = ${int(createRate)}/s (${CREATE_CONCURRENCY} in flight; TriggerService.create ${p50p99(r.createLatency)}, ` +
        `of which workflow.start ${p50p99(r.startLatency)}); ` +
        (r.loaded >= r.n
          ? `every workflow had loaded its definition after ${ms(r.loadedAfterMs)} (${int(r.createdNow / (r.loadedAfterMs / 1000))} workflow starts/s)`
          : `only ${int(r.loaded)} of ${int(r.n)} workflows had loaded their definition after ${ms(r.loadedAfterMs)}, when the time budget stopped the wait`),
    );
    const idleTarget =
      r.n >= TARGET_IDLE_TRIGGERS
        ? `   target ≤ ${int(TARGET_RSS_MIB)} MiB with ${int(TARGET_IDLE_TRIGGERS)}: ${verdict(r.idle.rss <= TARGET_RSS_MIB * 1024 * 1024)}`
        : '';
    const perCached = (r.idle.rss - rssAtStart) / Math.max(1, r.idle.stats.cachedWorkflows);
    line(
      `  idle (${r.idle.settleS} s later):`,
      `worker RSS ${mib(r.idle.rss)} with ${int(r.idle.stats.cachedWorkflows)} workflows cached, ${r.idle.running === undefined ? '?' : int(r.idle.running)} running` +
        `${idleTarget}\n${''.padEnd(40)}(${mib(rssAtStart)} before any workflow: ≈ ${(perCached / 1024 / 1024).toFixed(2)} MiB per cached workflow; ` +
        `main-thread V8 heap ${mib(r.idle.stats.memory.heapUsed)} used; Temporal server RSS ${mib(r.idle.temporalRss)})`,
    );
    line('  CPU while idle (% of one core):', formatCpu(r.idle.cpu));
    if (r.history) {
      line(
        '  first workflow of this batch (no events):',
        `${int(r.history.ageS)} s old: ${int(r.history.events)} history events, of which ${int(r.history.timersFired)} timer firings`,
      );
    }
    if (r.steady) {
      const s = r.steady;
      const l = latencyStats(s.phase);
      const { p50, p99 } = l;
      const targeted = r.n === TARGET_TRIGGERS && s.rate === TARGET_RATE;
      const achieved = s.produce.sent / (s.produce.ms / 1000);
      console.log(
        `  steady ${int(s.rate)} events/s for ${s.seconds} s (achieved ${int(achieved)}/s${s.produce.behind ? ', the producer fell behind' : ''}): ` +
          `${int(s.phase.evaluated)} of ${int(s.phase.sent)} events evaluated` +
          (s.phase.pending.length > 0
            ? ` — WARNING: ${int(s.phase.pending.length)} were still waiting when the benchmark stopped waiting ${ms(s.phase.waitedMs)} after the last commit ` +
              '(evaluation was still progressing: slow, not lost; percentiles count them at their age then, so they are lower bounds)'
            : ` (the last ${ms(s.phase.waitedMs)} after the last commit)`),
      );
      console.log(
        `    committed → evaluated: p50 ${l.at(50)}  p90 ${l.at(90)}  p99 ${l.at(99)}  max ${l.at(100)}` +
          `   (p50 = ${ratio(p50 / (floorUs / 1000))} the pure evaluation)` +
          (targeted
            ? `   target p50 ≤ ${TARGET_P50_MS} ms: ${verdict(p50 <= TARGET_P50_MS)}, p99 ≤ ${TARGET_P99_MS} ms: ${verdict(p99 <= TARGET_P99_MS)}`
            : ''),
      );
      console.log(
        `    by stage (p50 / p99): ingest txn start → commit ${ms(percentile(ascending(s.phase.ingest), 50))} / ${ms(percentile(ascending(s.phase.ingest), 99))} · ` +
          `commit → relay dispatch ${ms(percentile(ascending(s.phase.relay), 50))} / ${ms(percentile(ascending(s.phase.relay), 99))} · ` +
          `dispatch → signal sent ${ms(percentile(ascending(s.phase.route), 50))} / ${ms(percentile(ascending(s.phase.route), 99))} · ` +
          `signalWithStart ${ms(percentile(ascending(s.phase.signal), 50))} / ${ms(percentile(ascending(s.phase.signal), 99))} · ` +
          `signal accepted → match recorded ${ms(percentile(ascending(s.phase.worker), 50))} / ${ms(percentile(ascending(s.phase.worker), 99))}`,
      );
      const d = s.dispatch;
      console.log(
        `    relay: ${int(d.batches)} batches (items p50 ${int(percentile(ascending(d.batchSizes), 50))}, max ${int(Math.max(0, ...d.batchSizes))}), ` +
          `dispatch ${p50p99(d.dispatchMs)}; readBatch ${p50p99(d.readBatchMs)}; candidates query ${p50p99(d.candidatesMs)}; ` +
          `${int(d.signalMs.length)} signals; recordMatches statement in the worker ${p50p99(s.recordMs)}; ingest transaction ${p50p99(s.produce.txnMs)}`,
      );
      const h = s.history;
      if (h.workflows > 0) {
        const activities = [...h.activities]
          .map(
            ([name, a]) =>
              `${name} waits ${ms(percentile(ascending(a.queue), 50))} / ${ms(percentile(ascending(a.queue), 99))}, runs ${ms(percentile(ascending(a.run), 50))} / ${ms(percentile(ascending(a.run), 99))}`,
          )
          .join(' · ');
        console.log(
          `    Temporal histories of ${h.workflows} of these workflows (server clock, p50 / p99): signal → workflow task started ${ms(percentile(ascending(h.signalToTask), 50))} / ${ms(percentile(ascending(h.signalToTask), 99))} · ` +
            `workflow task waits ${ms(percentile(ascending(h.taskQueue), 50))} / ${ms(percentile(ascending(h.taskQueue), 99))}, runs ${ms(percentile(ascending(h.taskRun), 50))} / ${ms(percentile(ascending(h.taskRun), 99))} · ` +
            `${(h.tasks / Math.max(1, h.signals)).toFixed(1)} workflow tasks per signal (${int(h.taskTimeouts)} timed out, ${int(h.taskFailures)} failed) · activity ${activities || 'none'}`,
        );
      }
      line('    CPU meanwhile (% of one core):', `${formatCpu(s.cpu)}; worker RSS after ${mib(s.rssAfter)}`);
    }
    if (r.ladder && r.ladder.length > 0) {
      console.log(
        `  highest sustained rate (${STEP_SECONDS} s steps; sustained = producer kept the pace, backlog growth ≤ 5% of the rate, backlog at the end ≤ 1 s of events):`,
      );
      console.log(
        '    offered/s  achieved/s  evaluated/s  backlog@end  growth/s   drain      p50        p99        verdict',
      );
      for (const st of r.ladder) {
        console.log(
          `    ${int(st.rate).padStart(9)}  ${int(st.achieved).padStart(10)}  ${int(st.evaluatedPerSecond).padStart(11)}  ${int(st.backlogEnd).padStart(11)}  ` +
            `${int(st.slope).padStart(8)}   ${ms(st.drainMs).padEnd(9)}  ${ms(st.p50).padEnd(9)}  ${ms(st.p99).padEnd(9)}  ` +
            `${st.sustained ? 'sustained' : st.stoppedEarly ? 'lag grows (step cut short: > 3 s of backlog)' : 'lag grows'}`,
        );
      }
      // The ladder stops at the first step whose lag grows: the highest sustained is the step before it.
      const firstFail = r.ladder.find((st) => !st.sustained);
      const highest = r.ladder.filter((st) => st.sustained).pop();
      console.log(
        `    → highest sustained: ${highest ? `${int(highest.rate)} events/s (${((highest.rate / floorRate) * 100).toPrecision(2)}% of the pure evaluator's floor)` : `below ${int(LADDER[0]!)} events/s`}` +
          (firstFail
            ? `; at ${int(firstFail.rate)} events/s the backlog grew`
            : `; the ladder ended at ${int(LADDER[LADDER.length - 1]!)} events/s without the lag growing`),
      );
    }
    if (r.ladderSkipped) console.log(`  highest sustained rate: ${r.ladderSkipped}`);
  }

  // Summary against the targets.
  console.log('');
  console.log('summary');
  for (const r of results) {
    const s = r.steady;
    const l = s ? latencyStats(s.phase) : undefined;
    const highest = r.ladder?.filter((st) => st.sustained).pop();
    console.log(
      `  N=${int(r.n).padEnd(7)} ${s && l ? `${int(s.rate)} events/s: p50 ${l.at(50).padEnd(9)} p99 ${l.at(99).padEnd(9)}` : ''}` +
        `  sustained ${r.ladder ? (highest ? `≥ ${int(highest.rate)} events/s` : `< ${int(LADDER[0]!)} events/s`) : 'not measured'}` +
        `  idle worker RSS ${mib(r.idle.rss)}  create ${int(r.createdNow / (r.createMs / 1000))}/s`,
    );
  }
  // Issue 15: the stateful path as a fraction of the floor, the relay's candidates, measured in this run.
  const first = results[0];
  const statefulHighest = first?.ladder?.filter((st) => st.sustained).pop()?.rate;
  if (STATEFUL && floorResult?.ceiling && first) {
    const ceiling = floorResult.ceiling;
    const fraction = (statefulHighest ?? 0) / ceiling;
    const capped = first.ladder?.every((st) => st.sustained) ?? false;
    console.log(
      `  stateful path, ${int(first.n)} stateful triggers: sustained ${statefulHighest ? `${int(statefulHighest)}` : `< ${int(LADDER[0]!)}`} events/s = ` +
        `${(fraction * 100).toFixed(0)}% of the bare-signal ceiling (${int(ceiling)} events/s)${capped ? ' (the ladder ended: at least this)' : ''}` +
        `   target ≥ ${TARGET_FLOOR_FRACTION * 100}%: ${verdict(fraction >= TARGET_FLOOR_FRACTION)}`,
    );
    const allows = ceiling * TARGET_FLOOR_FRACTION >= TARGET_STATEFUL_RATE;
    console.log(
      `  target ≥ ${TARGET_STATEFUL_RATE} events/s where the ceiling allows it: ` +
        (allows
          ? verdict((statefulHighest ?? 0) >= TARGET_STATEFUL_RATE)
          : `not applicable (${TARGET_FLOOR_FRACTION * 100}% of the ceiling is ${int(ceiling * TARGET_FLOOR_FRACTION)} events/s)`),
    );
    const half = floorResult.half;
    const steady = first.steady;
    if (half && steady) {
      const l = latencyStats(steady.phase);
      console.log(
        `  at half the ceiling (${int(steady.rate)} events/s): committed → evaluated p50 ${l.at(50)} = ${(l.p50 / half.p50).toFixed(1)}× the bare signal's p50 ` +
          `(${ms(half.p50)})   target ≤ ${TARGET_P50_FLOOR_MULTIPLE}×: ${verdict(l.p50 <= TARGET_P50_FLOOR_MULTIPLE * half.p50)}; ` +
          `p99 ${l.at(99)}   target ≤ ${TARGET_HALF_CEILING_P99_MS} ms: ${verdict(l.p99 <= TARGET_HALF_CEILING_P99_MS)}`,
      );
    }
  } else if (STATEFUL)
    console.log('  stateful path against the floor: not measured (BENCH_FLOOR=0, or the floor sustained no step)');
  const indexed = dispatcher.index?.size ?? 0;
  const candidates = ascending(results.flatMap((r) => (r.steady ? r.steady.dispatch.candidatesMs : [])));
  if (candidates.length > 0) {
    const p99 = percentile(candidates, 99);
    console.log(
      `  relay candidates with ${int(indexed)} triggers in the in-memory index: per batch (barrier NOTIFY + lookup, shared by the batch's events) ` +
        `p50 ${ms(percentile(candidates, 50))}  p99 ${ms(p99)} over ${int(candidates.length)} batches (${int(dispatcher.indexedBatches)} from the index, ` +
        `${int(dispatcher.queriedBatches)} queried); per event, lookup alone p50 ${percentile(lookupUs, 50).toFixed(1)} µs  p99 ${percentile(lookupUs, 99).toFixed(1)} µs` +
        `   target ≤ ${TARGET_CANDIDATES_P99_MS} ms p99 at ${int(TARGET_INDEXED_TRIGGERS)} triggers: ` +
        (indexed >= TARGET_INDEXED_TRIGGERS
          ? verdict(p99 <= TARGET_CANDIDATES_P99_MS)
          : `not measured (${int(indexed)} indexed)`),
    );
  }
  const target1k = results.find((r) => r.n === TARGET_TRIGGERS)?.steady;
  if (target1k && target1k.rate === TARGET_RATE) {
    const l = latencyStats(target1k.phase);
    console.log(
      `  target: committed → evaluated p50 ≤ ${TARGET_P50_MS} ms and p99 ≤ ${TARGET_P99_MS} ms at ${TARGET_RATE} events/s with ${int(TARGET_TRIGGERS)} triggers: ` +
        `${verdict(l.p50 <= TARGET_P50_MS && l.p99 <= TARGET_P99_MS)} (p50 ${l.at(50)}, p99 ${l.at(99)})`,
    );
  } else
    console.log(
      `  target at ${TARGET_RATE} events/s with ${int(TARGET_TRIGGERS)} triggers: not measured (BENCH_TRIGGER_COUNTS / BENCH_STEADY_RATE changed)`,
    );
  const idle10k = results.find((r) => r.n >= TARGET_IDLE_TRIGGERS);
  if (idle10k) {
    console.log(
      `  target: ${int(TARGET_IDLE_TRIGGERS)} idle trigger workflows in ≤ ${int(TARGET_RSS_MIB)} MiB worker RSS: ${verdict(idle10k.idle.rss <= TARGET_RSS_MIB * 1024 * 1024)} ` +
        `(${mib(idle10k.idle.rss)} with ${int(idle10k.n)} running${idle10k.loaded < idle10k.n ? `, of which only ${int(idle10k.loaded)} had been started by the worker` : ''}; ` +
        `the cache held ${int(idle10k.idle.stats.cachedWorkflows)})`,
    );
  } else
    console.log(
      `  target with ${int(TARGET_IDLE_TRIGGERS)} idle trigger workflows: not measured (only ${int(triggerIds.filter(Boolean).length)} were created)`,
    );
  console.log(`(benchmark figures only: nothing here fails on speed; total run ${ms(now() - started)})`);
}

await run(main);

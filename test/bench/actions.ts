/**
 * Actions benchmark: `npm run bench:actions`. Block mined on anvil → signed webhook received by a local receiver.
 *
 * Starts its own embedded Postgres (temp folder, free port, migrated), Temporal dev server (in memory, headless, free
 * port) and anvil (BenchReputationEmitter deployed, automine off), runs the production Temporal worker in a child
 * process (test/bench/actions-worker.ts, so that its CPU is accounted for on its own) and, in this process, the
 * production live indexer (ChainIndexer woken by a WebSocket head subscription, 0 confirmations), relay (Relay +
 * TriggerDispatcher, default options), TriggerService and a node:http webhook receiver.
 *
 * The path: the indexer commits a block's events (NOTIFY new_event); the relay evaluates the triggers that fire per
 * event itself (all of this benchmark's), and records the firings and creates their deliveries in one transaction,
 * claimed for the relay process's direct sender (src/deliveries/direct.ts), which makes the first attempts right after
 * that commit — as `npm start` runs it (BENCH_DIRECT=0: without it, the deliveries go with a NOTIFY to the pumps of the
 * delivery dispatcher workflows, which claim them in batches). Temporal keeps the pumps alive (they take over what a
 * direct sender leaves) and runs retries in per-delivery workflows, which only deliveries handed off after a failed
 * first attempt, an open breaker or a slow destination get. It measures, in the same run:
 *  - floor: a bare loopback HTTP POST round trip (node fetch with keep-alive, and a fresh connection per request as
 *    safeRequest makes), a bare NOTIFY round trip (pg_notify → LISTEN client) on the same Postgres, and a bare Temporal
 *    round trip on the same server and worker (healthWorkflow: one workflow, one activity), one at a time and 50 at
 *    once, with where its time goes and its CPU cost per workflow;
 *  - latency: N triggers (default 1,000), trigger i = agent_id_equals agent i with one `rest` action posting to the
 *    receiver; events (one NewFeedback per transaction) are mined on anvil at a steady rate, one block every
 *    BENCH_BLOCK_MS, agents in turn, so every event fires exactly one trigger and produces exactly one webhook.
 *    Latency = webhook received (receiver, end of body) − block available (evm_mine returned or its WebSocket head
 *    arrived, whichever first), and per stage from the bench's clocks and the rows' timestamps (events.created_at,
 *    trigger_matches.matched_at, deliveries.created_at and delivered_at);
 *  - sustained deliveries/s: a burst of BENCH_BURST events appended straight into Postgres (appendEvents, the
 *    production write path), one per trigger in turn; webhooks received per second (every webhook, including any
 *    backlog the latency phase left), time until all arrived, and the CPU each process spent per webhook.
 *
 * Correctness: every event must produce exactly one webhook (distinct webhook-id); otherwise an ERROR line and a
 * non-zero exit. It prints figures, the targets and whether they were met; it never fails on speed.
 *
 * The per-event target (issue 15): p50 ≤ 30× the floor (a fresh-connection HTTP POST plus a NOTIFY round trip, their
 * p50s, measured in this run) and p99 ≤ 150 ms, at 200 events/s with 1,000 triggers.
 *
 * Knobs (environment): BENCH_DIRECT (1), BENCH_TRIGGERS (1000), BENCH_RATE (200 events/s), BENCH_SECONDS (15), BENCH_BLOCK_MS (50),
 * BENCH_BURST (5000), BENCH_BURST_TIMEOUT_SECONDS (150), BENCH_CREATE_CONCURRENCY (32), BENCH_MAX_CACHED_WORKFLOWS
 * (unset: startWorker's default), BENCH_POOL_MAX (10: DATABASE_POOL_MAX's default), BENCH_DISPATCHERS (delivery dispatcher
 * workflows: DELIVERY_DISPATCHERS's default),
 * BENCH_TEMPORAL_DYNAMIC_CONFIG (unset: the project's dev server as is; else comma-separated KEY=VALUE passed as
 * --dynamic-config-value instead of the project's, e.g. system.enableActivityEagerExecution=false), BENCH_TIME_BUDGET_SECONDS (330),
 * BENCH_LOG_LEVEL (error).
 */
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
  waitFor,
  rpc,
  verdict,
} from './common.js';
import { CLK_TCK, treeTicks } from './proc.js';
import {
  BENCH_DIR,
  benchFolder,
  benchRun,
  connectBenchTemporal,
  deployBenchEmitter,
  runInBackground,
  spawnWorkerProcess,
  startBenchAnvil,
  startBenchPostgres,
  startBenchReceiver,
  startBenchTemporal,
} from './harness.js';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../src/temporal/dev-server.js';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { encodeFunctionData, toHex, type Address, type Hex } from 'viem';
import { parseChains, type ChainConfig } from '../../src/chain/config.js';
import { createPool } from '../../src/db/pool.js';
import { ChainIndexer } from '../../src/indexer/chain-indexer.js';
import { createHeadSubscriptionClient } from '../../src/indexer/rpc.js';
import { Relay, type RelayItem } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { DEFAULT_DELIVERY_DISPATCHERS } from '../../src/deliveries/dispatchers.js';
import { createDirectSender } from '../../src/deliveries/direct.js';
import { parseAllowList } from '../../src/actions/safe-http.js';
import { SecretBox } from '../../src/secrets.js';
import { testActionSettings } from '../helpers/actions.js';
import { TriggerService } from '../../src/triggers/service.js';
import type { TriggerWrite } from '../../src/triggers/store.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import type { ActionsWorkerSettings, ActionsWorkerStats } from './actions-worker.js';

// ------------------------------------------------------------------------------------------------ settings

const TRIGGERS = intEnv('BENCH_TRIGGERS', 1_000, 1);
const RATE = intEnv('BENCH_RATE', 200, 1);
const SECONDS = intEnv('BENCH_SECONDS', 15, 1);
const BLOCK_MS = intEnv('BENCH_BLOCK_MS', 50, 5);
const BURST = intEnv('BENCH_BURST', 5_000, 0);
const BURST_TIMEOUT_MS = intEnv('BENCH_BURST_TIMEOUT_SECONDS', 150, 10) * 1_000;
const CREATE_CONCURRENCY = intEnv('BENCH_CREATE_CONCURRENCY', 32, 1);
const MAX_CACHED_WORKFLOWS = process.env.BENCH_MAX_CACHED_WORKFLOWS
  ? String(intEnv('BENCH_MAX_CACHED_WORKFLOWS', 1_000, 0))
  : undefined;
const POOL_MAX = intEnv('BENCH_POOL_MAX', 10, 1);
const DISPATCHERS = intEnv('BENCH_DISPATCHERS', DEFAULT_DELIVERY_DISPATCHERS, 1);
const DYNAMIC_CONFIG = (process.env.BENCH_TEMPORAL_DYNAMIC_CONFIG ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const TIME_BUDGET_MS = intEnv('BENCH_TIME_BUDGET_SECONDS', 330, 60) * 1_000;
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'error';
/** First attempts by the relay process's direct sender (as npm start runs it); 0: by the dispatchers' pumps only. */
const DIRECT = intEnv('BENCH_DIRECT', 1, 0) > 0;

const TARGET_RATE = 200;
const TARGET_TRIGGERS = 1_000;
/** The p50 target, as a multiple of the floor: a fresh-connection HTTP POST plus a NOTIFY round trip (their p50s). */
const TARGET_P50_FLOOR_RATIO = 30;
const TARGET_P99_MS = 150;
const TARGET_DELIVERIES_PER_SECOND = 500;

/** Agent ids of the triggers: AGENT_BASE … AGENT_BASE + TRIGGERS − 1. */
const AGENT_BASE = 1;
/** Block numbers of the burst's synthetic events (far above anything anvil mines here). */
const BURST_BLOCK_BASE = 50_000_000;
const FLOOR_SAMPLES = 200;
const FLOOR_WARMUP = 20;
const HEALTH_SAMPLES = 30;
const HEALTH_PARALLEL = 400;
const HEALTH_PARALLEL_IN_FLIGHT = 50;
const HEALTH_PARALLEL_MAX_MS = 30_000;
/** Every wait for the pipeline is bounded by this. */
const DRAIN_TIMEOUT_MS = 90_000;
const CREATE_TIMEOUT_MS = 180_000;
/** A wait for webhooks gives up early when nothing moved in the pipeline for this long. */
const STALL_MS = 30_000;
const LOAD_TIMEOUT_MS = 180_000;
/** At most this many transactions go into one block. */
const MAX_TX_PER_BLOCK = 400;
const TX_GAS = '0x30d40';

const logger = pino({ level: LOG_LEVEL }, pino.destination(2));

// ------------------------------------------------------------------------------------------------ helpers

const mib = (bytes: number) => `${int(bytes / 1024 / 1024)} MiB`;
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** A JSON-RPC batch; throws if any call failed. */
async function rpcBatch(url: string, calls: { method: string; params: unknown[] }[]): Promise<unknown[]> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(calls.map((c, id) => ({ jsonrpc: '2.0', id, ...c }))),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await res.json()) as { id: number; result?: unknown; error?: { message?: string } }[];
  if (!Array.isArray(body)) throw new BenchError(`JSON-RPC batch answered ${JSON.stringify(body).slice(0, 200)}`);
  const failed = body.find((r) => r.error);
  if (failed)
    throw new BenchError(
      `${calls[failed.id]?.method ?? '?'} failed: ${failed.error?.message ?? JSON.stringify(failed.error)}`,
    );
  return body.sort((a, b) => a.id - b.id).map((r) => r.result);
}

// ------------------------------------------------------------------------------------------------ /proc

interface CpuSample {
  at: number;
  bench: number;
  worker: number;
  temporal: number;
  postgres: number;
  anvil: number;
}

type CpuPercent = Record<Exclude<keyof CpuSample, 'at'>, number>;

function cpuPercent(a: CpuSample, b: CpuSample): CpuPercent {
  const seconds = (b.at - a.at) / 1000;
  const pct = (ticks: number) => (100 * ticks) / CLK_TCK / seconds;
  return {
    bench: (100 * (b.bench - a.bench)) / 1e6 / seconds,
    worker: pct(b.worker - a.worker),
    temporal: pct(b.temporal - a.temporal),
    postgres: pct(b.postgres - a.postgres),
    anvil: pct(b.anvil - a.anvil),
  };
}

/** CPU time per item (webhook, workflow) of each process over a window, from the percentages of one core. */
function cpuPerItem(c: CpuPercent, windowMs: number, items: number, what: string): string {
  const per = (pct: number) => ms(((pct / 100) * windowMs) / Math.max(1, items));
  return `CPU per ${what}: Temporal server ${per(c.temporal)}, worker ${per(c.worker)}, Postgres ${per(c.postgres)}, bench ${per(c.bench)}`;
}

function formatCpu(c: CpuPercent): string {
  const f = (v: number) => (Number.isFinite(v) ? `${Math.round(v)}%` : 'n/a');
  const total = c.bench + c.worker + c.temporal + c.postgres + c.anvil;
  return (
    `worker ${f(c.worker)}, Temporal server ${f(c.temporal)}, Postgres ${f(c.postgres)}, anvil ${f(c.anvil)}, ` +
    `bench (indexer + relay + receiver + producer) ${f(c.bench)}; total ${f(total)} of ${os.availableParallelism() * 100}%`
  );
}

// ------------------------------------------------------------------------------------------------ Temporal histories

// History events are protobuf messages; only a few fields are read here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type HistoryEvent = Record<string, any>;

/** Server clock (ms since the epoch) of a history event. */
const eventMs = (e: HistoryEvent) => Number(String(e.eventTime?.seconds ?? 0)) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;

interface ActivityTimes {
  scheduled: number;
  started: number;
  completed: number;
}

/** Scheduled / started / completed times (server clock) of the first activity of `name` scheduled at or after index `from`. */
function activityAfter(
  events: HistoryEvent[],
  name: string,
  from: number,
): (ActivityTimes & { index: number }) | undefined {
  for (let i = from; i < events.length; i++) {
    const e = events[i]!;
    const attrs = e.activityTaskScheduledEventAttributes;
    if (!attrs || attrs.activityType?.name !== name) continue;
    const id = String(e.eventId);
    let started = Number.NaN;
    let completed = Number.NaN;
    for (let j = i + 1; j < events.length; j++) {
      const f = events[j]!;
      if (f.activityTaskStartedEventAttributes && String(f.activityTaskStartedEventAttributes.scheduledEventId) === id)
        started = eventMs(f);
      if (
        f.activityTaskCompletedEventAttributes &&
        String(f.activityTaskCompletedEventAttributes.scheduledEventId) === id
      ) {
        completed = eventMs(f);
        break;
      }
    }
    return { scheduled: eventMs(e), started, completed, index: i };
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------ the run

const { onCleanup, run } = benchRun(30_000);

interface Receipt {
  id: string;
  seq: string;
  block: number;
  /** When the first copy of this webhook-id arrived (performance.now()). */
  at: number;
  copies: number;
}

interface Stamp {
  dispatchAt?: number;
}

interface StageRow {
  seq: string;
  block: number;
  created: number;
  matched: number | null;
  delivery_created: number | null;
  delivered: number | null;
  status: string | null;
  /** The first attempt did not settle it: it continued in its own delivery workflow. */
  handed_off: boolean | null;
  /** Claimed for the relay's direct sender when created (else left to a pump). */
  direct: boolean | null;
  attempts: number | null;
}

async function main(): Promise<void> {
  const started = now();
  const loadAtStart = os.loadavg()[0]!;
  const remaining = () => TIME_BUDGET_MS - (now() - started);
  process.stderr.write('actions benchmark: setting up\n');

  // ---- Postgres (migrated), the Temporal dev server and anvil, in parallel.
  const root = await benchFolder('erc8004-bench-actions-', onCleanup);
  const [{ databaseUrl, postmasterPid, version: pgVersion }, temporal, chainSetup] = await Promise.all([
    startBenchPostgres(root, 'bench_actions', logger, onCleanup),
    startBenchTemporal(logger, onCleanup, DYNAMIC_CONFIG.length > 0 ? { dynamicConfig: DYNAMIC_CONFIG } : {}),
    (async () => {
      const chain = await startBenchAnvil(onCleanup);
      return { ...chain, ...(await deployBenchEmitter(chain, chain.deployed.deployer)) };
    })(),
  ]);
  const { anvil, registries, emitter, abi: emitterAbi, firstBlock, version: anvilVersion } = chainSetup;
  const { server: temporalServer, pid: temporalPid, version: temporalVersion } = temporal;
  const anvilPid = anvil.pid;
  const pool = createPool(databaseUrl, logger, { max: CREATE_CONCURRENCY + 8, applicationName: 'bench-actions' });
  onCleanup('bench pool', () => pool.end());
  progress(`Postgres ${pgVersion}, Temporal ${temporalVersion}, anvil ${anvilVersion} up (${ms(now() - started)})`);

  // ---- The worker, in its own process (bundling the workflows takes a while: start it now).
  const taskQueue = `bench-actions-${randomUUID()}`;
  // One sealing key for the worker and this process's direct sender (webhook secrets are sealed with it).
  const appKey = randomBytes(32);
  const workerProcess = spawnWorkerProcess<ActionsWorkerStats, { settings: ActionsWorkerSettings }>(
    path.join(BENCH_DIR, 'actions-worker.ts'),
    {
      BENCH_TEMPORAL_ADDRESS: temporalServer.address,
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_TASK_QUEUE: taskQueue,
      BENCH_APP_KEY: appKey.toString('hex'),
      BENCH_POOL_MAX: String(POOL_MAX),
      ...(MAX_CACHED_WORKFLOWS ? { BENCH_MAX_CACHED_WORKFLOWS: MAX_CACHED_WORKFLOWS } : {}),
      BENCH_LOG_LEVEL: LOG_LEVEL,
    },
    onCleanup,
  );
  const checkWorker = workerProcess.check;
  const workerStats = workerProcess.stats;
  const workerPid = workerProcess.pid;
  const cpuSample = (): CpuSample => {
    const bench = process.cpuUsage();
    return {
      at: now(),
      bench: bench.user + bench.system,
      worker: treeTicks(workerPid),
      temporal: treeTicks(temporalPid),
      postgres: treeTicks(postmasterPid),
      anvil: treeTicks(anvilPid),
    };
  };

  // ---- The webhook receiver (also the floor's HTTP server).
  const receipts = new Map<string, Receipt>();
  const bySeq = new Map<string, string[]>();
  const arrivals: number[] = [];
  let unparsable = 0;
  let repeated = 0;
  const receiver = await startBenchReceiver(
    'webhook receiver',
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const at = now();
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
        if (req.url?.startsWith('/floor')) return;
        const id = String(req.headers['webhook-id'] ?? '');
        const known = receipts.get(id);
        if (known) {
          known.copies++;
          repeated++;
          return;
        }
        let seq: string;
        let block: number;
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            event?: { ingest_seq?: unknown; block_number?: unknown };
          };
          seq = String(body.event?.ingest_seq);
          block = Number(body.event?.block_number);
          if (!id || seq === 'undefined' || !Number.isFinite(block))
            throw new Error('no webhook-id, event.ingest_seq or event.block_number');
        } catch {
          unparsable++;
          return;
        }
        receipts.set(id, { id, seq, block, at, copies: 1 });
        const ids = bySeq.get(seq);
        if (ids) ids.push(id);
        else bySeq.set(seq, [id]);
        arrivals.push(at);
      });
    },
    { keepAliveTimeoutMs: 5_000 },
    onCleanup,
  );
  const receiverPort = Number(new URL(receiver.url).port);
  const webhookUrl = `${receiver.url}/hooks/erc8004`;

  // ---- Floor: loopback HTTP POST (keep-alive fetch; a fresh connection per request, as safeRequest does) and NOTIFY.
  const floorBody = JSON.stringify({ type: 'erc8004.trigger.fired', kind: 'match', padding: 'x'.repeat(1_400) });
  const floorUrl = `${receiver.url}/floor`;
  const postKeepAlive = async () => {
    const res = await fetch(floorUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: floorBody,
    });
    await res.arrayBuffer();
  };
  const postFresh = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: receiverPort,
          path: '/floor',
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(floorBody) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(floorBody);
    });
  const measureFloor = async (fn: () => Promise<void>) => {
    const samples: number[] = [];
    for (let i = 0; i < FLOOR_WARMUP + FLOOR_SAMPLES; i++) {
      const t = now();
      await fn();
      if (i >= FLOOR_WARMUP) samples.push(now() - t);
    }
    return ascending(samples);
  };
  const httpKeepAlive = await measureFloor(postKeepAlive);
  const httpFresh = await measureFloor(postFresh);

  const listener = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-actions-listener' });
  await listener.connect();
  onCleanup('listener', () => listener.end());
  const firstNotify = new Map<number, number>();
  let pingWaiter: { payload: string; resolve: (t: number) => void } | undefined;
  listener.on('notification', (msg) => {
    const at = now();
    if (msg.channel === 'bench_ping') {
      if (pingWaiter && msg.payload === pingWaiter.payload) pingWaiter.resolve(at);
      return;
    }
    if (msg.channel !== 'new_event' || !msg.payload || msg.payload.startsWith('retracted:')) return;
    const block = Number(msg.payload.split('-')[1]);
    if (!firstNotify.has(block)) firstNotify.set(block, at);
  });
  await listener.query('LISTEN new_event');
  await listener.query('LISTEN bench_ping');
  const notifyRtt: number[] = [];
  for (let i = 0; i < FLOOR_WARMUP + FLOOR_SAMPLES; i++) {
    const payload = `ping-${i}`;
    const received = new Promise<number>((resolve) => (pingWaiter = { payload, resolve }));
    const sent = now();
    await pool.query('SELECT pg_notify($1, $2)', ['bench_ping', payload]);
    const at = await Promise.race([received, sleep(5_000).then(() => Number.NaN)]);
    if (Number.isNaN(at)) throw new BenchError('a NOTIFY did not reach the listener within 5 s');
    if (i >= FLOOR_WARMUP) notifyRtt.push(at - sent);
  }
  pingWaiter = undefined;
  const notifySorted = ascending(notifyRtt);
  progress(
    `floor: HTTP POST keep-alive p50 ${ms(percentile(httpKeepAlive, 50))}, fresh connection p50 ${ms(percentile(httpFresh, 50))}, ` +
      `NOTIFY p50 ${ms(percentile(notifySorted, 50))}`,
  );

  /** Offset of the host's real-time clock (Postgres, Temporal) over performance.now(): local = realtime − offset. */
  const clockOffset = async () => {
    let best = { rtt: Infinity, offset: 0 };
    for (let i = 0; i < 7; i++) {
      const t0 = now();
      const { rows } = await pool.query<{ t: number }>(
        'SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS t',
      );
      const t1 = now();
      if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: rows[0]!.t - (t0 + t1) / 2 };
    }
    return best.offset;
  };

  // ---- Wait for the worker.
  const { settings: workerSettings } = await workerProcess.ready(180_000);
  progress(`worker process polling (${ms(now() - started)})`);

  // ---- Temporal client, TriggerService, triggers.
  const client = await connectBenchTemporal(temporalServer.address, onCleanup);
  const stamps = new Map<string, Stamp>();
  const stamp = (seq: string) => {
    let s = stamps.get(seq);
    if (!s) stamps.set(seq, (s = {}));
    return s;
  };
  // ---- Floor: a bare Temporal round trip on the same server and worker — healthWorkflow (workflows/health.ts): start,
  // a workflow task, one activity (SELECT), a workflow task, completion; one at a time, then many at once.
  const healthRuns: { id: string; t0: number; started: number; done: number }[] = [];
  const healthOnce = async () => {
    const id = `bench-health-${randomUUID()}`;
    const t0 = now();
    const handle = await client.workflow.start('healthWorkflow', {
      taskQueue,
      workflowId: id,
      workflowExecutionTimeout: '60 seconds',
    });
    const started = now();
    await handle.result();
    const done = now();
    healthRuns.push({ id, t0, started, done });
    return done - t0;
  };
  for (let i = 0; i < 5; i++) await healthOnce();
  healthRuns.length = 0;
  const healthSerial: number[] = [];
  for (let i = 0; i < HEALTH_SAMPLES; i++) healthSerial.push(await healthOnce());
  const healthLatency = ascending(healthSerial);
  // Where a bare round trip's time goes, from the histories of the one-at-a-time runs (host clock).
  const healthSegments = new Map<string, number[]>();
  {
    const offsetNow = await clockOffset();
    for (const run of healthRuns.slice(0, HEALTH_SAMPLES)) {
      const events = ((await client.workflow.getHandle(run.id).fetchHistory()).events ?? []) as HistoryEvent[];
      const at = (pred: (e: HistoryEvent) => boolean, nth = 0) => {
        const e = events.filter(pred)[nth];
        return e ? eventMs(e) - offsetNow : Number.NaN;
      };
      const w0 = at((e) => !!e.workflowExecutionStartedEventAttributes);
      const t1s = at((e) => !!e.workflowTaskStartedEventAttributes, 0);
      const t1c = at((e) => !!e.workflowTaskCompletedEventAttributes, 0);
      const a = activityAfter(events, 'checkDatabase', 0);
      const t2c = at((e) => !!e.workflowTaskCompletedEventAttributes, 1);
      const w1 = at((e) => !!e.workflowExecutionCompletedEventAttributes);
      const add = (label: string, v: number) => {
        const list = healthSegments.get(label) ?? [];
        healthSegments.set(label, list);
        list.push(v);
      };
      add('start RPC → started event', w0 - run.t0);
      add('start RPC returned', run.started - run.t0);
      add('first workflow task queued', t1s - w0);
      add('first workflow task run (new workflow)', t1c - t1s);
      add('activity queued', a ? a.started - a.scheduled : Number.NaN);
      add('activity run (SHOW server_version)', a ? a.completed - a.started : Number.NaN);
      add('second workflow task (queue + run)', a ? t2c - (a.completed - offsetNow) : Number.NaN);
      add('completed → result() returned', run.done - w1);
    }
  }
  const healthCpuStart = cpuSample();
  const healthParallel = await (async () => {
    const deadline = now() + HEALTH_PARALLEL_MAX_MS;
    const t0 = now();
    let next = 0;
    let done = 0;
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: HEALTH_PARALLEL_IN_FLIGHT }, async () => {
        while (next < HEALTH_PARALLEL && now() < deadline) {
          next++;
          latencies.push(await healthOnce());
          done++;
        }
      }),
    );
    return { done, ms: now() - t0, latency: ascending(latencies) };
  })();
  const healthCpu = cpuPercent(healthCpuStart, cpuSample());
  progress(
    `floor: healthWorkflow round trip p50 ${ms(percentile(healthLatency, 50))}; ${healthParallel.done} with ${HEALTH_PARALLEL_IN_FLIGHT} in flight: ` +
      `${int(healthParallel.done / (healthParallel.ms / 1000))}/s`,
  );

  const service = new TriggerService({ pool, temporal: client, taskQueue, logger });
  const userId = await insertUser(pool);
  // Enterprise: the bench's triggers and deliveries stay within the plan's quotas (src/billing/plans.ts).
  const organizationId = await insertOrganization(pool, userId, { plan: 'enterprise' });
  const triggerWrite = (agent: number): TriggerWrite => ({
    organizationId,
    userId,
    name: `bench agent ${agent}`,
    chainId: anvil.chainId,
    registry: 'reputation',
    conditions: [{ condition_type: 'agent_id_equals', field: 'agent_id', operator: '=', value: String(agent) }],
    actions: [{ action_type: 'rest', config: { url: webhookUrl } }],
  });
  const createStarted = now();
  const createLatency: number[] = [];
  {
    let next = 0;
    const deadline = createStarted + CREATE_TIMEOUT_MS;
    await Promise.all(
      Array.from({ length: Math.min(CREATE_CONCURRENCY, TRIGGERS) }, async () => {
        while (next < TRIGGERS) {
          if (now() > deadline)
            throw new BenchError(
              `creating ${TRIGGERS} triggers took longer than ${CREATE_TIMEOUT_MS / 1000} s (${next} started)`,
            );
          const i = next++;
          const t = now();
          await service.create(triggerWrite(AGENT_BASE + i));
          createLatency.push(now() - t);
        }
      }),
    );
  }
  const createMs = now() - createStarted;
  progress(`${int(TRIGGERS)} triggers created in ${ms(createMs)} (${int(TRIGGERS / (createMs / 1000))}/s)`);
  await waitFor(
    'every trigger workflow to load its definition',
    async () => (await workerStats()).definitionLoads >= TRIGGERS,
    LOAD_TIMEOUT_MS,
    250,
  );
  const loadedAfter = now() - createStarted;
  progress(`every trigger workflow loaded its definition after ${ms(loadedAfter)}`);

  // ---- The relay (production dispatcher, instrumented) and the live indexer on a WebSocket head subscription.
  const relayPool = createPool(databaseUrl, logger, { max: 10, applicationName: 'bench-relay' });
  onCleanup('relay pool', () => relayPool.end());
  class TimedDispatcher extends TriggerDispatcher {
    override async dispatch(batch: readonly RelayItem[]): Promise<void> {
      const t0 = now();
      for (const item of batch) stamp(item.seq).dispatchAt ??= t0;
      await super.dispatch(batch);
    }
  }
  const direct = DIRECT
    ? createDirectSender({
        ...testActionSettings({ allow: parseAllowList('127.0.0.1'), secrets: new SecretBox(appKey) }),
        pool: relayPool,
        temporal: client,
        taskQueue,
        logger,
      })
    : undefined;
  if (direct) onCleanup('direct sender', () => direct.close());
  const dispatcher = new TimedDispatcher({
    pool: relayPool,
    temporal: client,
    taskQueue,
    logger,
    dispatch: { dispatchers: DISPATCHERS },
    direct,
  });
  const relay = new Relay({ pool: relayPool, databaseUrl, dispatcher, logger });
  const checkRelay = runInBackground('relay', (signal) => relay.run(signal), onCleanup);

  const [chain] = parseChains([
    {
      chainId: anvil.chainId,
      name: 'bench',
      rpcUrl: anvil.rpcUrl,
      wsUrl: anvil.wsUrl,
      confirmations: 0,
      deployments: [{ registry: 'reputation', address: emitter, abiVersion: 'v1.0', firstBlock }],
    },
  ]) as [ChainConfig];
  const indexerPool = createPool(databaseUrl, logger, { max: 10, applicationName: 'bench-indexer' });
  onCleanup('indexer pool', () => indexerPool.end());
  const indexerController = new AbortController();
  const indexer = new ChainIndexer({ chain, pool: indexerPool, logger, signal: indexerController.signal });
  const tickMs: number[] = [];
  let ticking = false;
  let wakesDuringTick = 0;
  /** A head arrived during the last pass: the next pass is its follow-up (run() starts it at once). */
  let wokeDuringTick = false;
  let lastTickEnd = 0;
  /** Time from the end of a pass that a head interrupted to the start of its follow-up pass. */
  const followUpGapMs: number[] = [];
  {
    const originalTick = indexer.tick.bind(indexer);
    indexer.tick = async (...args) => {
      const t = now();
      if (wokeDuringTick) followUpGapMs.push(t - lastTickEnd);
      wokeDuringTick = false;
      ticking = true;
      try {
        return await originalTick(...args);
      } finally {
        ticking = false;
        lastTickEnd = now();
        tickMs.push(lastTickEnd - t);
      }
    };
  }
  const headClient = createHeadSubscriptionClient(chain);
  if (!headClient) throw new BenchError('no WebSocket URL for the head subscription');
  onCleanup('head subscription socket', async () => {
    const socket = await (
      headClient.transport as unknown as { getRpcClient(): Promise<{ close(): void }> }
    ).getRpcClient();
    socket.close();
  });
  const headSeen = new Map<number, number>();
  // As src/services.ts headSubscription does, plus a timestamp per head.
  const wake = (notify: (head?: number) => void) =>
    headClient.watchBlockNumber({
      emitOnBegin: false,
      onBlockNumber: (blockNumber) => {
        if (!headSeen.has(Number(blockNumber))) headSeen.set(Number(blockNumber), now());
        if (ticking) {
          wakesDuringTick++;
          wokeDuringTick = true;
        }
        notify(Number(blockNumber));
      },
      onError: (err) => logger.warn({ err }, 'head subscription error; polling continues'),
    });
  const checkIndexer = runInBackground('live indexer', () => indexer.run({ wake }), onCleanup, indexerController);
  const checkRunning = () => {
    checkWorker();
    checkRelay();
    checkIndexer();
  };

  // ---- Producer: one NewFeedback per transaction, agents in turn, a block every BLOCK_MS (automine off).
  await rpc(anvil.rpcUrl, 'evm_setAutomine', [false]);
  const accounts = registries.accounts;
  const nonces = new Map<Address, number>();
  for (const account of accounts)
    nonces.set(account, Number(await rpc<Hex>(anvil.rpcUrl, 'eth_getTransactionCount', [account, 'pending'])));
  let head = Number(await rpc<Hex>(anvil.rpcUrl, 'eth_blockNumber'));
  let agentCursor = 0;
  let txCounter = 0;
  let feedbackIndex = 1n;
  const minedAt = new Map<number, number>();
  const sendMs: number[] = [];
  const mineMs: number[] = [];
  const mineBlock = async (count: number) => {
    const calls = Array.from({ length: count }, (_, j) => {
      const from = accounts[txCounter++ % accounts.length]!;
      const nonce = nonces.get(from)!;
      nonces.set(from, nonce + 1);
      const agent = BigInt(AGENT_BASE + (agentCursor++ % TRIGGERS));
      const data = encodeFunctionData({
        abi: emitterAbi,
        functionName: 'emitFeedbackBatch',
        args: [agent, 1n, 50n + BigInt(j % 40), feedbackIndex++],
      });
      return { method: 'eth_sendTransaction', params: [{ from, to: emitter, data, gas: TX_GAS, nonce: toHex(nonce) }] };
    });
    const t0 = now();
    await rpcBatch(anvil.rpcUrl, calls);
    const t1 = now();
    await rpc(anvil.rpcUrl, 'evm_mine');
    const t2 = now();
    head++;
    minedAt.set(head, t2);
    sendMs.push(t1 - t0);
    mineMs.push(t2 - t1);
  };
  const produce = async (rate: number, seconds: number) => {
    const total = Math.round(rate * seconds);
    const begin = now();
    const hardStop = begin + seconds * 1000 + 10_000;
    let sent = 0;
    let blocks = 0;
    for (let tick = 1; sent < total; tick++) {
      if (now() > hardStop) break;
      const due = Math.min(total, Math.floor((rate * (now() - begin)) / 1000));
      const count = Math.min(due - sent, MAX_TX_PER_BLOCK);
      if (count > 0) {
        await mineBlock(count);
        sent += count;
        blocks++;
        if (blocks % 20 === 0) checkRunning();
      }
      await sleep(begin + tick * BLOCK_MS - now());
    }
    const elapsed = now() - begin;
    return { sent, blocks, ms: elapsed, behind: sent < total || sent / (elapsed / 1000) < rate * 0.95 };
  };
  /** Block available: evm_mine returned, or its head arrived on the WebSocket, whichever was first. */
  const available = (block: number) => {
    const mined = minedAt.get(block);
    const seen = headSeen.get(block);
    return mined === undefined ? (seen ?? Number.NaN) : Math.min(mined, seen ?? mined);
  };
  const maxSeq = async () =>
    (await pool.query<{ s: string }>('SELECT coalesce(max(ingest_seq), 0)::text AS s FROM events')).rows[0]!.s;
  const seqsBetween = async (after: string, upTo: string) =>
    (
      await pool.query<{ s: string }>(
        'SELECT ingest_seq::text AS s FROM events WHERE ingest_seq > $1 AND ingest_seq <= $2 ORDER BY ingest_seq',
        [after, upTo],
      )
    ).rows.map((r) => r.s);
  /** Waits until `count` events after `after` are stored; returns the highest seq. */
  const waitStored = async (after: string, count: number, what: string) => {
    await waitFor(
      `${count} ${what} events to be stored`,
      async () => {
        checkRunning();
        const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM events WHERE ingest_seq > $1', [
          after,
        ]);
        return Number(rows[0]!.n) >= count;
      },
      30_000,
      50,
    );
    return maxSeq();
  };
  /** Waits until every seq has a webhook (bounded); returns the seqs still missing. */
  /** How far the whole pipeline got (relay cursor, matches, deliveries, delivered, attempts, webhooks): changes while it moves. */
  const pipelineProgress = async () =>
    `${receipts.size}/` +
    (
      await pool.query<{ p: string }>(
        `SELECT concat_ws('/', (SELECT position FROM relay_cursors WHERE name = 'triggers'), (SELECT count(*) FROM trigger_matches),
           (SELECT count(*) FROM deliveries), (SELECT count(*) FROM deliveries WHERE status = 'delivered'), (SELECT count(*) FROM action_results)) AS p`,
      )
    ).rows[0]!.p;
  /**
   * Waits until every seq has a webhook, at most timeoutMs; gives up early when nothing moved anywhere in the pipeline
   * (webhooks, relay cursor, matches, deliveries, attempts — earlier backlogs count: they go first) for stallMs.
   */
  const waitWebhooks = async (seqs: readonly string[], timeoutMs: number, stallMs = Infinity) => {
    const deadline = now() + timeoutMs;
    let missing = seqs.filter((s) => !bySeq.has(s));
    let lastProgress = now();
    let lastState = `${missing.length}`;
    let lastQuery = 0;
    while (missing.length > 0 && now() < deadline && now() - lastProgress < stallMs) {
      checkRunning();
      await sleep(25);
      missing = missing.filter((s) => !bySeq.has(s));
      if (now() - lastQuery >= 1_000 || `${missing.length}` !== lastState.split('|')[0]) {
        lastQuery = now();
        const state = `${missing.length}|${await pipelineProgress()}`;
        if (state !== lastState) {
          lastState = state;
          lastProgress = now();
        }
      }
    }
    return { missing, stalled: missing.length > 0 && now() - lastProgress >= stallMs };
  };
  /**
   * Every event must have produced exactly one webhook (distinct webhook-id). Events still without one when the wait
   * ended while webhooks were still arriving are a warning (too slow to tell within the time budget), not an error.
   */
  const checkExactlyOne = (seqs: readonly string[], phase: string, stillArriving: boolean) => {
    const missing = seqs.filter((s) => !bySeq.has(s));
    const duplicated = seqs.filter((s) => (bySeq.get(s)?.length ?? 0) > 1);
    const errors: string[] = [];
    const warnings: string[] = [];
    if (missing.length > 0) {
      const text = `${phase}: ${missing.length} of ${seqs.length} events produced no webhook (first: seq ${missing.slice(0, 5).join(', ')})`;
      if (stillArriving)
        warnings.push(
          `${text} by the end of the bounded wait, while webhooks were still arriving: too slow to verify, not counted as lost`,
        );
      else errors.push(`${text}, and nothing moved in the pipeline for ${STALL_MS / 1000} s`);
    }
    if (duplicated.length > 0) {
      errors.push(
        `${phase}: ${duplicated.length} events produced more than one webhook (seq ${duplicated[0]}: ${bySeq.get(duplicated[0]!)!.join(', ')})`,
      );
    }
    return { errors, warnings };
  };
  const errors: string[] = [];
  const warnings: string[] = [];
  /** Where the events of a range got to, for an ERROR line. */
  const diagnose = async (phase: string, after: string, upTo: string, seqs: readonly string[]) => {
    const q = async (sql: string) =>
      (await pool.query<{ k: string | null; n: string }>(sql, [after, upTo])).rows
        .map((r) => `${r.k ?? 'null'} ${r.n}`)
        .join(', ');
    const cursor =
      (await pool.query<{ position: string }>(`SELECT position::text FROM relay_cursors WHERE name = 'triggers'`))
        .rows[0]?.position ?? '?';
    const dispatched = seqs.filter((s) => stamps.get(s)?.dispatchAt !== undefined).length;
    const received = seqs.filter((s) => bySeq.has(s)).length;
    return (
      `${phase}: ${seqs.length} events (seq ${after} < s ≤ ${upTo}); relay cursor ${cursor}, dispatched ${dispatched}; ` +
      `matches ${await q('SELECT kind AS k, count(*)::text AS n FROM trigger_matches WHERE event_seq > $1 AND event_seq <= $2 GROUP BY kind')}; ` +
      `deliveries ${await q('SELECT status AS k, count(*)::text AS n FROM deliveries WHERE event_seq > $1 AND event_seq <= $2 GROUP BY status')}; ` +
      `attempts ${await q(`SELECT status || coalesce(': ' || left(min(error_message), 200), '') AS k, count(*)::text AS n FROM action_results WHERE event_seq > $1 AND event_seq <= $2 GROUP BY status`)}; ` +
      `webhooks received ${received}`
    );
  };

  // ---- Warm-up (not measured): every path has run once, the webhook secret exists.
  {
    const after = await maxSeq();
    const warm = await produce(Math.min(RATE, 40), 1);
    const upTo = await waitStored(after, warm.sent, 'warm-up');
    const { missing } = await waitWebhooks(await seqsBetween(after, upTo), 90_000, STALL_MS);
    if (missing.length > 0)
      throw new BenchError(`warm-up: ${missing.length} of ${warm.sent} events produced no webhook within 90 s`);
    progress(`warm-up: ${warm.sent} events → ${warm.sent} webhooks`);
  }

  // ---- Latency at a steady rate.
  await sleep(500);
  await workerStats(true);
  stamps.clear();
  const latencyAfter = await maxSeq();
  const ticksBefore = tickMs.length;
  const wakesBefore = wakesDuringTick;
  const followUpsBefore = followUpGapMs.length;
  const evaluatedBefore = dispatcher.evaluatedInRelay;
  const signalsBefore = dispatcher.signalsSent;
  const cpuBefore = cpuSample();
  const latencyStart = now();
  progress(`latency: ${RATE} events/s for ${SECONDS} s, a block every ${BLOCK_MS} ms`);
  const produced = await produce(RATE, SECONDS);
  const latencyUpTo = await waitStored(latencyAfter, produced.sent, 'produced');
  const latencySeqs = await seqsBetween(latencyAfter, latencyUpTo);
  if (latencySeqs.length !== produced.sent)
    errors.push(`latency: ${produced.sent} events were mined but the database holds ${latencySeqs.length}`);
  const latencyWait = await waitWebhooks(
    latencySeqs,
    Math.max(20_000, Math.min(DRAIN_TIMEOUT_MS, remaining() - 120_000)),
    STALL_MS,
  );
  const latencyEnd = now();
  const cpuLatency = cpuPercent(cpuBefore, cpuSample());
  await sleep(300); // late duplicates, if any
  const latencyProblems = checkExactlyOne(latencySeqs, 'latency', !latencyWait.stalled);
  errors.push(...latencyProblems.errors);
  warnings.push(...latencyProblems.warnings);
  if (latencyProblems.errors.length > 0 || latencyProblems.warnings.length > 0) {
    (latencyProblems.errors.length > 0 ? errors : warnings).push(
      await diagnose('latency', latencyAfter, latencyUpTo, latencySeqs),
    );
  }
  const latencyWorker = await workerStats(true);
  const latencyTicks = tickMs.slice(ticksBefore);
  const latencyWakesDuringPass = wakesDuringTick - wakesBefore;
  const latencyFollowUps = ascending(followUpGapMs.slice(followUpsBefore));
  const latencyEvaluated = dispatcher.evaluatedInRelay - evaluatedBefore;
  const latencySignals = dispatcher.signalsSent - signalsBefore;
  const chainHead = Number(await rpc<Hex>(anvil.rpcUrl, 'eth_blockNumber'));
  if (chainHead !== head)
    errors.push(`the bench counted ${head} blocks but anvil is at ${chainHead}: block timestamps are off`);
  progress(
    `latency: ${int(latencySeqs.length - latencyWait.missing.length)} of ${int(latencySeqs.length)} webhooks after ${ms(latencyEnd - latencyStart)}`,
  );

  // Per-webhook timings.
  const offset = await clockOffset();
  const toLocal = (realtimeMs: number) => realtimeMs - offset;
  const stageRows = async (after: string, upTo: string) =>
    (
      await pool.query<StageRow>(
        `SELECT e.ingest_seq::text AS seq, e.block_number::int AS block,
           extract(epoch FROM e.created_at)::float8 * 1000 AS created,
           extract(epoch FROM m.matched_at)::float8 * 1000 AS matched,
           extract(epoch FROM d.created_at)::float8 * 1000 AS delivery_created,
           extract(epoch FROM d.delivered_at)::float8 * 1000 AS delivered,
           d.status, d.attempts, d.workflow_id LIKE 'delivery/%' AS handed_off, d.claim LIKE 'direct:%' AS direct
         FROM events e
         LEFT JOIN trigger_matches m ON m.event_seq = e.ingest_seq
         LEFT JOIN deliveries d ON d.event_seq = e.ingest_seq
         WHERE e.ingest_seq > $1 AND e.ingest_seq <= $2`,
        [after, upTo],
      )
    ).rows;
  const latencyRows = await stageRows(latencyAfter, latencyUpTo);
  const rowBySeq = new Map(latencyRows.map((r) => [r.seq, r]));
  interface Webhook {
    seq: string;
    receipt: Receipt;
    row: StageRow | undefined;
    latency: number;
  }
  const webhooks: Webhook[] = [];
  for (const seq of latencySeqs) {
    const ids = bySeq.get(seq);
    if (!ids || ids.length === 0) continue;
    const receipt = receipts.get(ids[0]!)!;
    webhooks.push({ seq, receipt, row: rowBySeq.get(seq), latency: receipt.at - available(receipt.block) });
  }
  // Events still without a webhook when the bounded wait ended count as slower than every delivered one.
  const latencies = [...ascending(webhooks.map((w) => w.latency)), ...latencyWait.missing.map(() => Infinity)];
  const latencyWindow = latencyEnd - latencyStart;
  const lat = (v: number) => (Number.isFinite(v) ? ms(v) : `> ${ms(latencyWindow)}`);
  const stage = {
    indexer: [] as number[],
    ingestTxn: [] as number[],
    relay: [] as number[],
    toMatch: [] as number[],
    toDeliveryRow: [] as number[],
    toWebhook: [] as number[],
    afterWebhook: [] as number[],
    headLag: [] as number[],
  };
  for (const w of webhooks) {
    const block = w.receipt.block;
    const avail = available(block);
    const committed = firstNotify.get(block);
    const s = stamps.get(w.seq);
    const seen = headSeen.get(block);
    const mined = minedAt.get(block);
    if (seen !== undefined && mined !== undefined) stage.headLag.push(seen - mined);
    if (committed !== undefined) stage.indexer.push(committed - avail);
    if (w.row) stage.ingestTxn.push(toLocal(w.row.created) - avail);
    if (committed !== undefined && s?.dispatchAt !== undefined) stage.relay.push(s.dispatchAt - committed);
    if (s?.dispatchAt !== undefined && w.row?.matched != null)
      stage.toMatch.push(toLocal(w.row.matched) - s.dispatchAt);
    if (w.row?.matched != null && w.row.delivery_created != null)
      stage.toDeliveryRow.push(w.row.delivery_created - w.row.matched);
    if (w.row?.delivery_created != null) stage.toWebhook.push(w.receipt.at - toLocal(w.row.delivery_created));
    if (w.row?.delivered != null) stage.afterWebhook.push(toLocal(w.row.delivered) - w.receipt.at);
  }
  const notDelivered = latencyRows.filter((r) => r.status !== null && r.status !== 'delivered').length;
  const retried = latencyRows.filter((r) => (r.attempts ?? 0) > 1).length;
  const handedOff = latencyRows.filter((r) => r.handed_off).length;
  const directFirst = latencyRows.filter((r) => r.direct).length;

  // ---- Sustained deliveries/s: a burst appended straight into Postgres.
  interface BurstResult {
    events: number;
    appendMs: number;
    transactions: number;
    timeoutMs: number;
    firstCommit: number;
    lastCommit: number;
    received: number[];
    missing: number;
    stalled: boolean;
    rows: StageRow[];
    cpu: CpuPercent;
    t0: number;
    windowMs: number;
    backlogAtStart: number;
    worker: ActionsWorkerStats;
    offset: number;
    duplicates: number;
  }
  let burst: BurstResult | undefined;
  let burstSkipped: string | undefined;
  const burstTimeout = Math.min(BURST_TIMEOUT_MS, remaining() - 45_000);
  if (BURST === 0) burstSkipped = 'BENCH_BURST=0';
  else if (burstTimeout < 20_000) burstSkipped = `not enough of the time budget left (${ms(remaining())})`;
  else {
    // Let the latency phase's last deliveries finish first.
    await sleep(1_000);
    await workerStats(true);
    const after = await maxSeq();
    const backlogAtStart = latencySeqs.filter((seq) => !bySeq.has(seq)).length;
    const cpuStart = cpuSample();
    const perTxn = 500;
    // Block time must not step back: an earlier timestamp than an agent's last firing counts as inside its cooldown.
    const burstTimestamp = Math.floor(Date.now() / 1000) + 60;
    const t0 = now();
    let firstCommit = Number.NaN;
    let transactions = 0;
    for (let done = 0; done < BURST; done += perTxn) {
      const count = Math.min(perTxn, BURST - done);
      const block = BURST_BLOCK_BASE + transactions;
      const records = Array.from({ length: count }, (_, i) =>
        feedbackRecord({
          chain_id: anvil.chainId,
          block_number: block,
          log_index: i,
          timestamp: burstTimestamp,
          agent_id: String(AGENT_BASE + ((done + i) % TRIGGERS)),
          value: '95',
          value_decimals: 0,
        }),
      );
      const wrote = await appendEvents(pool, records);
      if (wrote !== count) throw new BenchError(`appendEvents wrote ${wrote} of ${count} burst events`);
      if (transactions === 0) firstCommit = now();
      transactions++;
    }
    const lastCommit = now();
    const upTo = await maxSeq();
    const seqs = await seqsBetween(after, upTo);
    if (seqs.length !== BURST) errors.push(`burst: ${BURST} events were appended but ${seqs.length} are in range`);
    progress(
      `burst: ${int(BURST)} events appended in ${ms(lastCommit - t0)}; waiting up to ${ms(burstTimeout)} for the webhooks`,
    );
    const wait = await waitWebhooks(seqs, burstTimeout, STALL_MS);
    const cpu = cpuPercent(cpuStart, cpuSample());
    const windowMs = now() - t0;
    await sleep(300);
    const received = ascending(seqs.flatMap((s) => (bySeq.get(s) ?? []).slice(0, 1).map((id) => receipts.get(id)!.at)));
    const duplicates = seqs.filter((s) => (bySeq.get(s)?.length ?? 0) > 1).length;
    const burstProblems = checkExactlyOne(seqs, 'burst', !wait.stalled);
    errors.push(...burstProblems.errors);
    warnings.push(...burstProblems.warnings);
    if (burstProblems.errors.length > 0 || burstProblems.warnings.length > 0) {
      (burstProblems.errors.length > 0 ? errors : warnings).push(await diagnose('burst', after, upTo, seqs));
    }
    burst = {
      events: seqs.length,
      appendMs: lastCommit - t0,
      transactions,
      timeoutMs: burstTimeout,
      firstCommit,
      lastCommit,
      received,
      missing: wait.missing.length,
      stalled: wait.stalled,
      rows: await stageRows(after, upTo),
      cpu,
      t0,
      windowMs,
      backlogAtStart,
      worker: await workerStats(true),
      offset: await clockOffset(),
      duplicates,
    };
    progress(
      `burst: ${int(received.length)} of ${int(seqs.length)} webhooks after ${ms((received[received.length - 1] ?? now()) - firstCommit)}`,
    );
  }

  // ---- Report.
  const cores = os.availableParallelism();
  const line = (label: string, text: string) => console.log(`${label.padEnd(44)}${text}`);
  const loadAtEnd = os.loadavg()[0]!;
  console.log('');
  console.log(
    `actions benchmark (Temporal ${temporalVersion} dev server, Postgres ${pgVersion} embedded, anvil ${anvilVersion}, ${cores} core${cores === 1 ? '' : 's'}, node ${process.versions.node})`,
  );
  console.log(
    `load average (1 min): ${loadAtStart.toFixed(2)} before the run, ${loadAtEnd.toFixed(2)} at its end (with its own processes)` +
      (loadAtStart > cores / 2
        ? '   — the machine was busy before the run: figures are pessimistic, run again when it is idle'
        : ''),
  );
  const ws = workerSettings;
  console.log(
    `worker (child process, production startWorker): maxCachedWorkflows ${ws.maxCachedWorkflows}${MAX_CACHED_WORKFLOWS ? ' (BENCH_MAX_CACHED_WORKFLOWS)' : ' (startWorker default)'}, ` +
      `workflow task slots ${ws.workflowTaskSlots}, activity slots ${ws.activityTaskSlots}, local activity slots ${ws.localActivitySlots}, ` +
      `pollers ${ws.workflowTaskPollers} workflow / ${ws.activityTaskPollers} activity, eager activity reservations per workflow task ${ws.maxEagerActivityReservationsPerWorkflowTask}, ` +
      `reuseV8Context ${ws.reuseV8Context}; Postgres pool max ${ws.poolMax}`,
  );
  console.log(
    `Temporal server dynamic config: ${DYNAMIC_CONFIG.length > 0 ? `${DYNAMIC_CONFIG.join(', ')} (BENCH_TEMPORAL_DYNAMIC_CONFIG)` : `the project's (src/temporal/dev-server.ts): ${DEV_SERVER_DYNAMIC_CONFIG.join(', ')}; 1 history shard`}; ` +
      `relay: Relay + TriggerDispatcher defaults, ${DISPATCHERS} delivery dispatcher workflow(s)${DISPATCHERS === DEFAULT_DELIVERY_DISPATCHERS ? ' (default)' : ' (BENCH_DISPATCHERS)'}; indexer: WebSocket heads, 0 confirmations, poll interval ${chain.pollIntervalMs} ms`,
  );
  line(
    'floor: loopback HTTP POST round trip:',
    `keep-alive fetch ${p50p99(httpKeepAlive)}; fresh connection per request (as safeRequest) ${p50p99(httpFresh)}   (${FLOOR_SAMPLES} samples each, ${int(floorBody.length)} B body)`,
  );
  line('floor: NOTIFY round trip (pg_notify → LISTEN):', `${p50p99(notifySorted)}`);
  line(
    'floor: Temporal round trip (healthWorkflow):',
    `one at a time ${p50p99(healthLatency)} (start → workflow task → 1 activity → workflow task → result); ` +
      `${int(healthParallel.done)} with ${HEALTH_PARALLEL_IN_FLIGHT} in flight: ${int(healthParallel.done / (healthParallel.ms / 1000))} workflows/s, ${p50p99(healthParallel.latency)}`,
  );
  console.log(
    `  ${HEALTH_PARALLEL_IN_FLIGHT} in flight: ${cpuPerItem(healthCpu, healthParallel.ms, healthParallel.done, 'workflow')}`,
  );
  console.log(
    `  one at a time, p50 by step: ${[...healthSegments].map(([label, v]) => `${label} ${ms(percentile(ascending(v), 50))}`).join(' · ')}`,
  );
  line(
    'triggers:',
    `${int(TRIGGERS)} created in ${ms(createMs)} = ${int(TRIGGERS / (createMs / 1000))}/s (${CREATE_CONCURRENCY} in flight; TriggerService.create ${p50p99(createLatency)}); ` +
      `every workflow had loaded its definition after ${ms(loadedAfter)}; each = agent_id_equals its agent + one rest action to the receiver`,
  );

  console.log('');
  const achieved = produced.sent / (produced.ms / 1000);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  const atTarget = TRIGGERS === TARGET_TRIGGERS && RATE === TARGET_RATE;
  console.log(
    `latency, block mined → webhook received: ${int(produced.sent)} events at ${int(RATE)}/s for ${SECONDS} s (achieved ${int(achieved)}/s${produced.behind ? ', the producer fell behind' : ''}) ` +
      `in ${int(produced.blocks)} blocks (one every ${BLOCK_MS} ms, ~${int(produced.sent / Math.max(1, produced.blocks))} events each); ` +
      `${int(webhooks.length)} of ${int(latencySeqs.length)} events produced their webhook`,
  );
  const floorP50 = percentile(httpFresh, 50) + percentile(notifySorted, 50);
  const floorRatio = p50 / floorP50;
  const p50Met = floorRatio <= TARGET_P50_FLOOR_RATIO;
  const p99Met = p99 <= TARGET_P99_MS;
  const targetText =
    `target p50 ≤ ${TARGET_P50_FLOOR_RATIO}× the floor (≤ ${ms(TARGET_P50_FLOOR_RATIO * floorP50)}): ${verdict(p50Met)}, ` +
    `p99 ≤ ${TARGET_P99_MS} ms: ${verdict(p99Met)}`;
  console.log(
    `  p50 ${lat(p50)}  p90 ${lat(percentile(latencies, 90))}  p99 ${lat(p99)}  max ${lat(latencies[latencies.length - 1] ?? Number.NaN)}   ` +
      `(p50 = ${ratio(floorRatio)} the floor: fresh-connection HTTP POST p50 ${ms(percentile(httpFresh, 50))} + NOTIFY round trip p50 ${ms(percentile(notifySorted, 50))} = ${ms(floorP50)})` +
      (atTarget ? `   ${targetText}` : '   (not at the target settings)'),
  );
  const st = (values: number[]) =>
    `${ms(percentile(ascending(values), 50))} / ${ms(percentile(ascending(values), 99))}`;
  console.log(
    `  by stage, every webhook (p50 / p99; the relay made ${int(latencyEvaluated)} trigger evaluations itself and sent ${int(latencySignals)} signals to trigger workflows):`,
  );
  const stageLine = (label: string, text: string) => line(`    ${label}`.padEnd(68), text);
  stageLine('block available → ingest txn started', st(stage.ingestTxn));
  stageLine(
    'block available → rows committed (NOTIFY)',
    `${st(stage.indexer)}   (WebSocket head after evm_mine returned: ${st(stage.headLag)})`,
  );
  stageLine('committed → relay dispatch', st(stage.relay));
  stageLine('dispatch → match recorded (matched_at)', st(stage.toMatch));
  stageLine('match recorded → delivery row (created_at; one transaction: 0)', st(stage.toDeliveryRow));
  stageLine('delivery row → webhook received (commit, first attempt)', st(stage.toWebhook));
  stageLine('(after: webhook received → delivered_at)', st(stage.afterWebhook));
  console.log(
    `  first attempts: ${int(directFirst)} of ${int(latencyRows.length)} by the relay's direct sender (1 commit between evaluation and attempt: firing + delivery + claim), ` +
      `${int(latencyRows.length - directFirst)} by the pumps (commit + NOTIFY + pump claim)${DIRECT ? '' : ' (BENCH_DIRECT=0)'}`,
  );
  console.log(
    `  indexer: ${int(latencyTicks.length)} passes, ${p50p99(latencyTicks)}; ${latencyWakesDuringPass} head wake-up(s) arrived during a pass, ` +
      `${int(latencyFollowUps.length)} follow-up pass(es) started ${p50p99(latencyFollowUps)} after the pass ended; ` +
      `producer: eth_sendTransaction batch ${p50p99(sendMs)}, evm_mine ${p50p99(mineMs)}`,
  );
  const reportStatements = (w: ActionsWorkerStats, webhookCount: number) => {
    const entries = Object.entries(w.statements).sort((a, b) => sum(b[1]) - sum(a[1]));
    const total = sum(entries.map(([, v]) => v.length));
    console.log(
      `  worker SQL: ${int(total)} statements = ${(total / Math.max(1, webhookCount)).toFixed(1)} per webhook; ` +
        `queries waiting for a pooled connection: mean ${(w.poolWaiting.sum / Math.max(1, w.poolWaiting.samples)).toFixed(1)}, max ${w.poolWaiting.max}, ` +
        `${int((100 * w.poolWaiting.nonZero) / Math.max(1, w.poolWaiting.samples))}% of 20 ms samples; per kind (count, p50 / p99 incl. pool wait):`,
    );
    console.log(
      `    ${entries.map(([kind, v]) => `${kind} ${int(v.length)}× ${ms(percentile(ascending(v), 50))} / ${ms(percentile(ascending(v), 99))}`).join(' · ')}`,
    );
  };
  reportStatements(latencyWorker, webhooks.length);
  line('  CPU meanwhile (% of one core):', formatCpu(cpuLatency));
  console.log(
    `  ${cpuPerItem(cpuLatency, latencyWindow, webhooks.length, 'webhook received (the window also worked on webhooks still in flight at its end)')}`,
  );
  console.log(
    `  deliveries: ${notDelivered} not (yet) marked delivered, ${retried} needed more than one attempt, ${handedOff} handed off to a delivery workflow; ` +
      `${repeated} webhook-id(s) received more than once (retries), ` +
      `${unparsable} unparsable request(s); worker cache ${int(latencyWorker.cachedWorkflows)} workflows, RSS ${mib(latencyWorker.memory.rss)}`,
  );

  /** Webhooks received per second while the burst ran: every webhook (a backlog left by the latency phase included). */
  const sustainedOf = (b: BurstResult) => {
    const end = b.received.length === b.events ? b.received[b.received.length - 1]! : b.t0 + b.windowMs;
    const all = arrivals.filter((t) => t >= b.firstCommit && t <= end).length;
    return { end, all, rate: all / ((end - b.firstCommit) / 1000) };
  };
  if (burst) {
    console.log('');
    const b = burst;
    const first = b.received[0] ?? Number.NaN;
    const last = b.received[b.received.length - 1] ?? Number.NaN;
    const lo = b.received[Math.floor(b.received.length * 0.1)] ?? Number.NaN;
    const hi = b.received[Math.floor(b.received.length * 0.9)] ?? Number.NaN;
    const steady = (Math.floor(b.received.length * 0.9) - Math.floor(b.received.length * 0.1)) / ((hi - lo) / 1000);
    const sustained = sustainedOf(b);
    const perSecond = new Map<number, number>();
    for (const t of arrivals) {
      if (t < b.firstCommit || t > sustained.end) continue;
      const second = Math.floor((t - b.firstCommit) / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
    const peak = Math.max(0, ...perSecond.values());
    const local = (x: number | null) => (x === null ? Number.NaN : x - b.offset);
    const matched = ascending(b.rows.map((r) => local(r.matched)));
    const created = ascending(b.rows.map((r) => local(r.delivery_created)));
    const since = (t: number) => ms(t - b.firstCommit);
    console.log(
      `sustained deliveries: a burst of ${int(b.events)} events (appendEvents, ${b.transactions} transactions in ${ms(b.appendMs)}), one per trigger in turn → ${int(b.received.length)} webhooks` +
        (b.missing > 0 ? ` (${int(b.missing)} still missing when the ${ms(b.timeoutMs)} cap ended the wait)` : '') +
        (b.backlogAtStart > 0
          ? `; ${int(b.backlogAtStart)} webhooks of the latency phase were still in flight when it started`
          : ''),
    );
    console.log(
      `  every webhook received from the first commit to ${b.received.length === b.events ? 'the last burst webhook' : 'the end of the wait'}: ${int(sustained.all)} in ${ms(sustained.end - b.firstCommit)} = ` +
        `${int(sustained.rate)}/s (best second ${int(peak)})   target ≥ ${int(TARGET_DELIVERIES_PER_SECOND)}/s: ${verdict(sustained.rate >= TARGET_DELIVERIES_PER_SECOND)}`,
    );
    console.log(
      `  the burst's own webhooks: first ${since(first)}, last ${since(last)} after the first commit; steady (10th → 90th percentile arrival) ${int(steady)}/s; ` +
        `its matches: ${int(matched.length)}, the last ${since(matched[matched.length - 1] ?? Number.NaN)}; its delivery rows: ${int(created.length)}, the last ${since(created[created.length - 1] ?? Number.NaN)}`,
    );
    const buckets = [...perSecond.entries()].sort((a, c) => a[0] - c[0]).map(([sec, n]) => `${sec}s:${n}`);
    console.log(
      `  webhooks per second since the first commit: ${buckets.slice(0, 40).join(' ')}${buckets.length > 40 ? ' …' : ''}`,
    );
    reportStatements(b.worker, sustained.all);
    line('  CPU meanwhile (% of one core):', formatCpu(b.cpu));
    console.log(`  ${cpuPerItem(b.cpu, b.windowMs, sustained.all, 'webhook received')}`);
  } else console.log(`\nsustained deliveries: not measured (${burstSkipped})`);

  // Summary.
  console.log('');
  console.log('summary');
  console.log(
    `  block mined → webhook received at ${int(RATE)} events/s with ${int(TRIGGERS)} triggers: p50 ${lat(p50)} = ${ratio(floorRatio)} the floor, p99 ${lat(p99)}` +
      (atTarget
        ? ` — ${targetText}`
        : ` — target (${TARGET_RATE}/s, ${int(TARGET_TRIGGERS)} triggers): not measured at these settings`),
  );
  console.log(
    `  floor: fresh-connection HTTP POST p50 ${ms(percentile(httpFresh, 50))} + NOTIFY round trip p50 ${ms(percentile(notifySorted, 50))} = ${ms(floorP50)} ` +
      `(keep-alive HTTP POST p50 ${ms(percentile(httpKeepAlive, 50))}); first attempts by the direct sender: ${int(directFirst)} of ${int(latencyRows.length)}`,
  );
  console.log(
    `  floor: Temporal healthWorkflow round trip p50 ${ms(percentile(healthLatency, 50))}, ${int(healthParallel.done / (healthParallel.ms / 1000))} workflows/s with ${HEALTH_PARALLEL_IN_FLIGHT} in flight ` +
      `(a delivery's first attempt costs no workflow: Temporal only keeps the ${DISPATCHERS} delivery pumps alive and runs the retries of those handed off)`,
  );
  if (burst) {
    const sustained = sustainedOf(burst);
    console.log(
      `  sustained: ${int(sustained.rate)} deliveries/s (${int(burst.received.length)} of the burst's ${int(burst.events)} delivered in ${ms(sustained.end - burst.firstCommit)}) — ` +
        `target ≥ ${int(TARGET_DELIVERIES_PER_SECOND)}/s: ${verdict(sustained.rate >= TARGET_DELIVERIES_PER_SECOND)}`,
    );
  }
  console.log(`(benchmark figures only: nothing here fails on speed; total run ${ms(now() - started)})`);
  for (const w of warnings) console.log(`WARNING: ${w}`);
  if (errors.length > 0) {
    for (const e of errors) console.error(`ERROR: ${e}`);
    throw new BenchError(`${errors.length} correctness problem(s), see above`);
  }
}

await run(main);

/**
 * Ingestion benchmark: `npm run bench:ingest`.
 *
 * Starts its own embedded Postgres (temp folder, free port) and anvil, fills the chain with ≥ 20,000 ERC-8004 v1.0
 * NewFeedback events (src/chain/contracts/BenchReputationEmitter.sol), then measures, in the same run:
 *  - floor A: a bare eth_getLogs over the whole range (raw JSON-RPC, and through viem as the indexer calls it);
 *  - backfill throughput: runBackfill over that range into a fresh database (events/s, and × the bare getLogs time),
 *    plus a breakdown of one pass into getLogs / decode / insert+commit on another fresh database;
 *  - live latency: a ChainIndexer woken by a WebSocket head subscription (0 confirmations), blocks mined one at a time
 *    at a steady pace; per block, the time from "block available" (evm_mine returned) to the first NOTIFY of its rows
 *    (the events trigger notifies at commit);
 *  - floor B: a bare NOTIFY round trip and a bare eth_blockNumber, measured in the same run.
 *
 * It prints figures, the targets and whether they were met; it never fails on speed. It exits non-zero only when
 * something is wrong (events missing in the database, a timeout, a crash).
 *
 * Knobs (environment): BENCH_EVENTS (25000), BENCH_EVENTS_PER_TX (500), BENCH_GAP_BLOCKS (3, empty blocks between
 * event blocks), BENCH_LIVE_BLOCKS (200), BENCH_LIVE_EVENTS (5 per block), BENCH_LIVE_INTERVAL_MS (30),
 * BENCH_LOG_LEVEL (silent).
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
  rpc,
  waitFor as waitForCondition,
  verdict,
} from './common.js';
import { benchFolder, benchRun, deployBenchEmitter, startBenchAnvil, startBenchPostgres } from './harness.js';
import os from 'node:os';
import pg from 'pg';
import pino from 'pino';
import {
  createPublicClient,
  decodeEventLog,
  encodeFunctionData,
  http,
  type Address,
  type EIP1193RequestFn,
  type Hex,
  type PublicClient,
  type Transport,
} from 'viem';
import { parseChains, type ChainConfig } from '../../src/chain/config.js';
import { ensureDatabase } from '../../src/db/embedded.js';
import { createPool } from '../../src/db/pool.js';
import { runBackfill } from '../../src/indexer/backfill.js';
import { ChainIndexer, ChainReader } from '../../src/indexer/chain-indexer.js';
import { createHeadSubscriptionClient, getLogs } from '../../src/indexer/rpc.js';
import { insertEvents, withIngestTransaction } from '../../src/indexer/store.js';

// ------------------------------------------------------------------------------------------------ settings

const EVENTS = intEnv('BENCH_EVENTS', 25_000, 1);
const EVENTS_PER_TX = intEnv('BENCH_EVENTS_PER_TX', 500, 1);
const GAP_BLOCKS = intEnv('BENCH_GAP_BLOCKS', 3, 0);
const LIVE_BLOCKS = intEnv('BENCH_LIVE_BLOCKS', 200, 1);
const LIVE_EVENTS = intEnv('BENCH_LIVE_EVENTS', 5, 1);
const LIVE_INTERVAL_MS = intEnv('BENCH_LIVE_INTERVAL_MS', 30, 1);
const WARMUP_BLOCKS = 5;
const FLOOR_SAMPLES = 200;
/** No wait in this benchmark lasts longer than this. */
const WAIT_TIMEOUT_MS = 60_000;
/** The live indexer's poll interval: long, so that what is measured is the WebSocket wake-up path. */
const POLL_INTERVAL_MS = 1_000;

const TARGET_EVENTS_PER_SECOND = 5_000;
const TARGET_LIVE_P50_MS = 20;

const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'silent' });

// ------------------------------------------------------------------------------------------------ helpers

/** The shared waitFor with this benchmark's pace: latency is measured while waiting, so it polls every 2 ms. */
const waitFor = (what: string, condition: () => boolean | Promise<boolean>) =>
  waitForCondition(what, condition, WAIT_TIMEOUT_MS, 2);

interface RpcCounter {
  calls: Map<string, number>;
  /** Time spent waiting for responses (calls are sequential within a pass, so this sums). */
  ms: number;
}

/** An http transport like the indexer's (no viem retries) that counts requests per JSON-RPC method and their time. */
function countingHttp(url: string, counter: RpcCounter): Transport {
  const base = http(url, { retryCount: 0, timeout: 30_000 });
  return ((params: Parameters<Transport>[0]) => {
    const transport = base(params);
    const request = (async (args: { method: string }, options?: unknown) => {
      counter.calls.set(args.method, (counter.calls.get(args.method) ?? 0) + 1);
      const started = now();
      try {
        return await (transport.request as (a: unknown, o?: unknown) => Promise<unknown>)(args, options);
      } finally {
        counter.ms += now() - started;
      }
    }) as unknown as EIP1193RequestFn;
    return { ...transport, request };
  }) as Transport;
}

/** Counts the SQL statements (round trips) and commits of every connection the pool opens, and their time. */
function countStatements(pool: pg.Pool) {
  const counter = { statements: 0, commits: 0, ms: 0, commitMs: 0 };
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      counter.statements++;
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
      const commit = !!text && /^\s*COMMIT\b/i.test(text);
      if (commit) counter.commits++;
      const started = now();
      const result = original(...args);
      if (result instanceof Promise) {
        return result.finally(() => {
          const elapsed = now() - started;
          counter.ms += elapsed;
          if (commit) counter.commitMs += elapsed;
        });
      }
      return result;
    };
  });
  return counter;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = now();
  const value = await fn();
  return { value, ms: now() - started };
}

// ------------------------------------------------------------------------------------------------ the run

const { onCleanup, run } = benchRun(15_000);

async function main(): Promise<void> {
  const started = now();
  const loadAtStart = os.loadavg()[0]!;
  process.stderr.write('ingestion benchmark: setting up\n');

  // ---- Postgres: a migrated template, cloned into one database per phase.
  const root = await benchFolder('erc8004-bench-', onCleanup);
  const { db, version: pgVersion } = await startBenchPostgres(root, 'bench_template', logger, onCleanup);
  for (const name of ['bench_ingest', 'bench_profile']) await ensureDatabase(db.adminUrl, name, 'bench_template');
  progress(`Postgres ${pgVersion} up (${ms(now() - started)})`);

  // ---- anvil with room for big batches; our registries and the emitter.
  const chainSetup = await startBenchAnvil(onCleanup, { extraArgs: ['--gas-limit', '1000000000'] });
  const { anvil, registries, version: anvilVersion } = chainSetup;
  const [owner, ...clients] = registries.accounts;
  if (!owner || clients.length < 5) throw new BenchError('anvil has fewer than 6 unlocked accounts');
  const registered = await registries.register(owner, 'https://agent.example/agent.json');
  const agentId = registered.logs
    .map((log) => {
      try {
        return decodeEventLog({ abi: registries.artifacts.IdentityRegistry.abi, topics: log.topics, data: log.data });
      } catch {
        return undefined;
      }
    })
    .map((decoded) =>
      decoded?.eventName === 'Registered' ? (decoded.args as unknown as { agentId: bigint }).agentId : undefined,
    )
    .find((id) => id !== undefined);
  if (agentId === undefined) throw new BenchError('register() emitted no Registered event');

  const { emitter, abi: emitterAbi, firstBlock } = await deployBenchEmitter(chainSetup, owner);

  // ---- ≥ 20,000 events, EVENTS_PER_TX per block, with empty blocks in between.
  const nextIndex = new Map<Address, bigint>();
  const emitBatch = async (client: Address, count: number) => {
    const first = nextIndex.get(client) ?? 1n;
    nextIndex.set(client, first + BigInt(count));
    return registries.send(client, emitter, emitterAbi, 'emitFeedbackBatch', [
      agentId,
      BigInt(count),
      40n + BigInt(count % 7),
      first,
    ]);
  };
  const fillStarted = now();
  let emitted = 0;
  let eventBlocks = 0;
  for (let tx = 0; emitted < EVENTS; tx++) {
    const count = Math.min(EVENTS_PER_TX, EVENTS - emitted);
    const receipt = await emitBatch(clients[tx % 5]!, count);
    if (receipt.logs.length !== count) throw new BenchError(`a batch of ${count} emitted ${receipt.logs.length} logs`);
    emitted += count;
    eventBlocks++;
    if (GAP_BLOCKS > 0 && emitted < EVENTS) await rpc(anvil.rpcUrl, 'anvil_mine', [`0x${GAP_BLOCKS.toString(16)}`]);
  }
  const lastBlock = Number(await rpc<Hex>(anvil.rpcUrl, 'eth_blockNumber'));
  const range = { from: firstBlock, to: lastBlock };
  progress(
    `anvil ${anvilVersion}: ${int(emitted)} events in ${eventBlocks} blocks of ${int(lastBlock - firstBlock + 1)} (${ms(now() - fillStarted)})`,
  );

  const [chain] = parseChains([
    {
      chainId: anvil.chainId,
      name: 'bench',
      rpcUrl: anvil.rpcUrl,
      wsUrl: anvil.wsUrl,
      confirmations: 0,
      pollIntervalMs: POLL_INTERVAL_MS,
      maxBlockRange: 10_000,
      deployments: [{ registry: 'reputation', address: emitter, abiVersion: 'v1.0', firstBlock }],
    },
  ]) as [ChainConfig];

  // ---- Floor A: a bare eth_getLogs over the range, best of 3 (raw JSON-RPC, then through viem).
  const getLogsParams = [
    {
      address: [emitter.toLowerCase()],
      fromBlock: `0x${range.from.toString(16)}`,
      toBlock: `0x${range.to.toString(16)}`,
    },
  ];
  let rawBest = Infinity;
  for (let i = 0; i < 3; i++) {
    const { value, ms: elapsed } = await timed(() => rpc<unknown[]>(anvil.rpcUrl, 'eth_getLogs', getLogsParams));
    if (value.length !== emitted)
      throw new BenchError(`eth_getLogs returned ${value.length} logs, expected ${emitted}`);
    rawBest = Math.min(rawBest, elapsed);
  }
  // viem refuses response bodies over 10 MB by default (the indexer's client keeps that default and shrinks its range
  // instead); for a floor over the whole range, lift the limit.
  const viemClient = createPublicClient({
    transport: http(anvil.rpcUrl, { retryCount: 0, timeout: 30_000, maxResponseBodySize: false }),
  });
  let viemBest = Infinity;
  let logsHaveTimestamps = false;
  for (let i = 0; i < 3; i++) {
    const { value, ms: elapsed } = await timed(() =>
      getLogs(viemClient as PublicClient, [emitter.toLowerCase() as Hex], range.from, range.to),
    );
    if (value.length !== emitted)
      throw new BenchError(`viem getLogs returned ${value.length} logs, expected ${emitted}`);
    logsHaveTimestamps = value.every((log) => log.blockTimestamp !== undefined && log.blockTimestamp !== null);
    viemBest = Math.min(viemBest, elapsed);
  }
  progress(`bare eth_getLogs: ${ms(rawBest)} raw, ${ms(viemBest)} via viem`);

  // ---- Backfill into a fresh database.
  const ingestPool = createPool(db.urlFor('bench_ingest'), logger, { max: 10, applicationName: 'bench-backfill' });
  onCleanup('backfill pool', () => ingestPool.end());
  const backfill = await timed(() => runBackfill({ chain, pool: ingestPool, logger, from: range.from, to: range.to }));
  const stored = Number(
    (
      await ingestPool.query<{ n: string }>(
        'SELECT count(*) AS n FROM events WHERE chain_id = $1 AND contract_address = $2',
        [chain.chainId, emitter.toLowerCase()],
      )
    ).rows[0]!.n,
  );
  if (backfill.value.eventsWritten !== emitted || stored !== emitted) {
    throw new BenchError(
      `backfill wrote ${backfill.value.eventsWritten} events and the database holds ${stored}; ${emitted} were emitted`,
    );
  }
  const backfillRate = emitted / (backfill.ms / 1000);
  progress(`backfill: ${ms(backfill.ms)} (${int(backfillRate)} events/s)`);

  // ---- Where a backfill's time goes: one pass of getLogs → decode → insert + commit, into another fresh database.
  const profilePool = createPool(db.urlFor('bench_profile'), logger, { max: 4, applicationName: 'bench-profile' });
  onCleanup('profile pool', () => profilePool.end());
  const profileRpc: RpcCounter = { calls: new Map(), ms: 0 };
  const reader = new ChainReader({
    chain,
    pool: profilePool,
    logger,
    client: createPublicClient({ transport: countingHttp(anvil.rpcUrl, profileRpc) }) as PublicClient,
  });
  const readPhase = await timed(() => reader.readLogs(range.from, range.to));
  const getLogsCalls = profileRpc.calls.get('eth_getLogs') ?? 0;
  const refusedRanges = reader.stats.rpcErrors;
  const decodePhase = await timed(() => reader.decode(readPhase.value));
  const blockCalls = profileRpc.calls.get('eth_getBlockByNumber') ?? 0;
  const insertPhase = await timed(() =>
    withIngestTransaction(profilePool, (client) => insertEvents(client, decodePhase.value)),
  );
  if (insertPhase.value.inserted !== emitted)
    throw new BenchError(`profile insert wrote ${insertPhase.value.inserted} rows, expected ${emitted}`);
  progress(`breakdown: getLogs ${ms(readPhase.ms)}, decode ${ms(decodePhase.ms)}, insert+commit ${ms(insertPhase.ms)}`);

  // ---- Floor B: a bare NOTIFY round trip and a bare eth_blockNumber.
  const listener = new pg.Client({ connectionString: db.urlFor('bench_ingest'), application_name: 'bench-listener' });
  await listener.connect();
  onCleanup('listener', () => listener.end());
  const firstNotify = new Map<number, number>();
  const notifiedEvents = new Map<number, number>();
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
    notifiedEvents.set(block, (notifiedEvents.get(block) ?? 0) + 1);
  });
  await listener.query('LISTEN new_event');
  await listener.query('LISTEN bench_ping');
  const notifyRtt: number[] = [];
  for (let i = 0; i < FLOOR_SAMPLES; i++) {
    const payload = `ping-${i}`;
    const received = new Promise<number>((resolve) => (pingWaiter = { payload, resolve }));
    const sent = now();
    await ingestPool.query('SELECT pg_notify($1, $2)', ['bench_ping', payload]);
    const at = await Promise.race([received, sleep(5_000).then(() => Number.NaN)]);
    if (Number.isNaN(at)) throw new BenchError('a NOTIFY did not reach the listener within 5 s');
    notifyRtt.push(at - sent);
  }
  pingWaiter = undefined;
  const blockNumberRtt: number[] = [];
  for (let i = 0; i < FLOOR_SAMPLES; i++) {
    const t = now();
    await viemClient.getBlockNumber({ cacheTime: 0 });
    blockNumberRtt.push(now() - t);
  }
  const notifyP50 = percentile(ascending(notifyRtt), 50);
  const blockNumberP50 = percentile(ascending(blockNumberRtt), 50);

  // ---- Live: a ChainIndexer on the backfilled database, woken by a WebSocket head subscription.
  const livePool = createPool(db.urlFor('bench_ingest'), logger, { max: 10, applicationName: 'bench-live' });
  onCleanup('live pool', () => livePool.end());
  const sql = countStatements(livePool);
  const liveRpc: RpcCounter = { calls: new Map(), ms: 0 };
  const controller = new AbortController();
  const indexer = new ChainIndexer({
    chain,
    pool: livePool,
    logger,
    signal: controller.signal,
    client: createPublicClient({ transport: countingHttp(anvil.rpcUrl, liveRpc) }) as PublicClient,
  });
  // Instrument tick(): duration, RPCs and SQL statements per pass, and wake-ups that arrive while a pass runs.
  interface TickRecord {
    start: number;
    end: number;
    rpcMs: number;
    sqlMs: number;
    commitMs: number;
    wrote: number;
  }
  const ticks: TickRecord[] = [];
  let ticking = false;
  let wakesDuringTick = 0;
  const originalTick = indexer.tick.bind(indexer);
  indexer.tick = async () => {
    const record = {
      start: now(),
      rpcMs: liveRpc.ms,
      sqlMs: sql.ms,
      commitMs: sql.commitMs,
      wrote: indexer.stats.eventsWritten,
    };
    ticking = true;
    try {
      return await originalTick();
    } finally {
      ticking = false;
      ticks.push({
        start: record.start,
        end: now(),
        rpcMs: liveRpc.ms - record.rpcMs,
        sqlMs: sql.ms - record.sqlMs,
        commitMs: sql.commitMs - record.commitMs,
        wrote: indexer.stats.eventsWritten - record.wrote,
      });
    }
  };
  // As src/services.ts headSubscription does, plus a timestamp per head.
  const headClient = createHeadSubscriptionClient(chain);
  if (!headClient) throw new BenchError('no WebSocket URL for the head subscription');
  onCleanup('head subscription socket', async () => {
    const socket = await (
      headClient.transport as unknown as { getRpcClient(): Promise<{ close(): void }> }
    ).getRpcClient();
    socket.close();
  });
  const headSeen = new Map<number, number>();
  const wake = (notify: () => void) =>
    headClient.watchBlockNumber({
      emitOnBegin: false,
      onBlockNumber: (blockNumber) => {
        headSeen.set(Number(blockNumber), now());
        if (ticking) wakesDuringTick++;
        notify();
      },
      onError: (err) => logger.warn({ err }, 'head subscription error; polling continues'),
    });
  let runError: unknown;
  const run = indexer.run({ wake }).catch((err: unknown) => (runError = err));
  onCleanup('live indexer', async () => {
    controller.abort();
    await run;
  });
  await waitFor('the live indexer to catch up with the backfill', () => {
    if (runError) throw runError;
    return (indexer.stats.checkpoint ?? -1) >= lastBlock;
  });

  // Blocks are mined on demand from here on: a transaction goes to the mempool, then evm_mine.
  await rpc(anvil.rpcUrl, 'evm_setAutomine', [false]);
  const mineOne = async (client: Address) => {
    const first = nextIndex.get(client) ?? 1n;
    nextIndex.set(client, first + BigInt(LIVE_EVENTS));
    const data = encodeFunctionData({
      abi: emitterAbi,
      functionName: 'emitFeedbackBatch',
      args: [agentId, BigInt(LIVE_EVENTS), 7n, first],
    });
    await rpc<Hex>(anvil.rpcUrl, 'eth_sendTransaction', [{ from: client, to: emitter, data, gas: '0x989680' }]);
    const before = now();
    await rpc(anvil.rpcUrl, 'evm_mine');
    const available = now();
    return { before, available };
  };
  let head = lastBlock;
  // Warm-up (not measured): the subscription is live and every path has run once.
  for (let i = 0; i < WARMUP_BLOCKS; i++) {
    await mineOne(clients[i % 5]!);
    head++;
    const block = head;
    await waitFor(`warm-up block ${block} to be indexed`, () => firstNotify.has(block) && headSeen.has(block));
  }
  const ticksBefore = ticks.length;
  const wakesBefore = wakesDuringTick;
  const rpcBefore = new Map(liveRpc.calls);
  const sqlBefore = { ...sql };

  const available = new Map<number, number>();
  const mineCall: number[] = [];
  const seriesStart = now();
  const firstLive = head + 1;
  for (let i = 0; i < LIVE_BLOCKS; i++) {
    await sleep(seriesStart + i * LIVE_INTERVAL_MS - now());
    const t = await mineOne(clients[i % 5]!);
    head++;
    available.set(head, t.available);
    mineCall.push(t.available - t.before);
  }
  const lastLive = head;
  await waitFor(`rows of blocks ${firstLive}–${lastLive} to be committed`, () => {
    if (runError) throw runError;
    for (let b = firstLive; b <= lastLive; b++) if (!firstNotify.has(b)) return false;
    return true;
  });
  await sleep(50); // let the last notifications of the last block arrive
  const seriesTicks = ticks.slice(ticksBefore);
  const wakesDropped = wakesDuringTick - wakesBefore;
  controller.abort();
  await run;
  if (runError) throw runError;

  // Correctness: every live block's events are in the database.
  const liveStored = Number(
    (
      await ingestPool.query<{ n: string }>(
        'SELECT count(*) AS n FROM events WHERE chain_id = $1 AND block_number BETWEEN $2 AND $3',
        [chain.chainId, firstLive, lastLive],
      )
    ).rows[0]!.n,
  );
  if (liveStored !== LIVE_BLOCKS * LIVE_EVENTS) {
    throw new BenchError(
      `live indexer stored ${liveStored} events for blocks ${firstLive}–${lastLive}; ${LIVE_BLOCKS * LIVE_EVENTS} were emitted`,
    );
  }

  const latencies: number[] = [];
  const headLag: number[] = [];
  for (let b = firstLive; b <= lastLive; b++) {
    const mined = available.get(b)!;
    const seen = headSeen.get(b);
    // Available = the first moment this process could know of the block: evm_mine returned, or its head arrived.
    latencies.push(firstNotify.get(b)! - Math.min(mined, seen ?? mined));
    if (seen !== undefined) headLag.push(seen - mined);
  }
  const lat = ascending(latencies);
  const p50 = percentile(lat, 50);
  const writingTicks = seriesTicks.filter((t) => t.wrote > 0);
  const tickMs = ascending(writingTicks.map((t) => t.end - t.start));
  const perTick = (n: number) => (seriesTicks.length > 0 ? n / seriesTicks.length : 0);
  const mean = (values: number[]) =>
    values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN;
  const passRpcMs = mean(writingTicks.map((t) => t.rpcMs));
  const passSqlMs = mean(writingTicks.map((t) => t.sqlMs));
  const passCommitMs = mean(writingTicks.map((t) => t.commitMs));
  const passMs = mean(writingTicks.map((t) => t.end - t.start));
  const rpcPerTick = [...liveRpc.calls]
    .map(([method, count]) => [method, count - (rpcBefore.get(method) ?? 0)] as const)
    .filter(([, count]) => count > 0)
    .map(([method, count]) => `${method} ${perTick(count).toFixed(1)}`)
    .join(', ');

  // ---- Report.
  const cores = os.availableParallelism();
  const line = (label: string, text: string) => console.log(`${label.padEnd(38)}${text}`);
  console.log('');
  console.log(
    `ingestion benchmark (anvil ${anvilVersion}, Postgres ${pgVersion} embedded, ${cores} core${cores === 1 ? '' : 's'}, node ${process.versions.node})`,
  );
  const loadAtEnd = os.loadavg()[0]!;
  // The end figure includes this benchmark's own anvil, Postgres and node; the start figure is other work.
  console.log(
    `load average (1 min): ${loadAtStart.toFixed(2)} before the run, ${loadAtEnd.toFixed(2)} at its end (with its own processes)` +
      (loadAtStart > cores / 2
        ? '   — the machine was busy before the run: figures are pessimistic, run again when it is idle'
        : ''),
  );
  console.log(
    `events: ${int(emitted)} NewFeedback in ${eventBlocks} blocks (${int(EVENTS_PER_TX)} per block, ${int(range.to - range.from + 1)} blocks in range)`,
  );
  line(
    'bare eth_getLogs over the range:',
    `${ms(rawBest).padEnd(9)}(${int(emitted / (rawBest / 1000))} logs/s; raw JSON-RPC, best of 3)`,
  );
  line(
    '  same through viem (as the indexer):',
    `${ms(viemBest).padEnd(9)}(${int(emitted / (viemBest / 1000))} logs/s)`,
  );
  line(
    'backfill into Postgres:',
    `${ms(backfill.ms).padEnd(9)}${int(backfillRate)} events/s   (${ratio(backfill.ms / rawBest)} the bare getLogs time)   ` +
      `target ≥ ${int(TARGET_EVENTS_PER_SECOND)} events/s: ${verdict(backfillRate >= TARGET_EVENTS_PER_SECOND)}`,
  );
  line(
    '  one pass, by phase:',
    `getLogs ${ms(readPhase.ms)} (${getLogsCalls} call${getLogsCalls === 1 ? '' : 's'}) · decode ${ms(decodePhase.ms)}` +
      `${blockCalls > 0 ? ` (${blockCalls} eth_getBlockByNumber)` : ''} · insert+commit ${ms(insertPhase.ms)}` +
      `${refusedRanges > 0 ? `   [${refusedRanges} of the getLogs calls refused as too large; range shrank to ${reader.range.size} blocks]` : ''}` +
      `   [logs ${logsHaveTimestamps ? 'carry' : 'lack'} blockTimestamp]`,
  );
  console.log(
    `live, block available → rows committed (WebSocket heads, 0 confirmations, ${LIVE_BLOCKS} blocks every ${LIVE_INTERVAL_MS} ms, ${LIVE_EVENTS} events each;` +
      ' available = evm_mine returned or its head arrived, whichever was first):',
  );
  console.log(
    `  p50 ${ms(p50)}  p90 ${ms(percentile(lat, 90))}  p99 ${ms(percentile(lat, 99))}  max ${ms(lat[lat.length - 1]!)}` +
      `   (${ratio(p50 / notifyP50)} a NOTIFY round trip, ${ratio(p50 / blockNumberP50)} an eth_blockNumber)   ` +
      `target p50 ≤ ${TARGET_LIVE_P50_MS} ms: ${verdict(p50 <= TARGET_LIVE_P50_MS)}`,
  );
  console.log(
    `  of which: WebSocket head p50 ${ms(percentile(ascending(headLag), 50))} after evm_mine returned; pass (tick) p50 ${ms(percentile(tickMs, 50))}` +
      ` p99 ${ms(percentile(tickMs, 99))}; ${seriesTicks.length} passes for ${LIVE_BLOCKS} blocks`,
  );
  console.log(
    `  per pass: ${rpcPerTick || 'no RPC'}; ${perTick(sql.statements - sqlBefore.statements).toFixed(1)} SQL statements, ` +
      `${perTick(sql.commits - sqlBefore.commits).toFixed(1)} commits; ${wakesDropped} head wake-up(s) arrived during a pass (run() drops those)`,
  );
  console.log(
    `  mean pass ${ms(passMs)} = RPC ${ms(passRpcMs)} + SQL ${ms(passSqlMs)} (of which commits ${ms(passCommitMs)}) + other ${ms(passMs - passRpcMs - passSqlMs)}`,
  );
  console.log(
    `floor: NOTIFY round trip p50 ${ms(notifyP50)}, eth_blockNumber p50 ${ms(blockNumberP50)}, evm_mine call p50 ${ms(percentile(ascending(mineCall), 50))}` +
      ` (${FLOOR_SAMPLES} samples each)`,
  );
  console.log(`(benchmark figures only: nothing here fails on speed; total run ${ms(now() - started)})`);
}

await run(main);

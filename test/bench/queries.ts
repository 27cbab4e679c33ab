/**
 * Queries benchmark: `npm run bench:queries` (issue 13, "Benchmarks"). Latency of every paid query tool over HTTP
 * through the production API server, cached and uncached (fresh=true), next to floors measured in the same run.
 *
 * Stack (test/bench/harness.ts): embedded Postgres (migrated), a Temporal dev server (TriggerService and /health need
 * one), the production API in this process (startBenchApi: createApiServices + startApiServer). One enterprise
 * organization pays with credits (BILLING_PLANS gives the plan no included calls, so every call goes through the
 * ledger, and a rate limit no benchmark reaches: the limiter's upsert still runs on every request); it calls with an
 * API key (X-API-Key).
 *
 * Data, seeded in bulk (INSERT … SELECT generate_series, as the indexer would have written it): BENCH_AGENTS (1,000)
 * agents Registered with a data: registration file and an agentWallet; BENCH_FEEDBACK (100,000) v1.0 feedback events
 * over them (about 8 clients per agent drawn from a shared population, tags, values with 0, 1, 2 or 18 decimals and
 * negative ones), 5 % revoked, 10 % answered; 5 validation requests per agent, 80 % answered (some twice); one event
 * every 25 blocks over a year; the checkpoint (the default as-of block) and indexed_blocks.
 *
 * Scenarios, measured in rounds (every scenario gets a slice of BENCH_SLICE_MS per round, in the same order each round,
 * so machine noise hits all alike), serial requests over one keep-alive connection from a client process
 * (test/bench/queries-client.ts):
 *  - GET /health (the HTTP floor: it reads Postgres and asks Temporal);
 *  - per tool that GET /api/v1/queries/tools lists (tools added later are measured without a change here): cached
 *    (the answer is in query_cache) and uncached (fresh=true), over BENCH_ROTATION agents in turn;
 *  - per tool, the bare query floor in this process: tool.run() on a pool of its own, as of the same block (the
 *    tool's SQL and its computation, without validation, cache, charge, metering, auth or HTTP);
 *  - SELECT 1 on that pool (a Postgres round trip).
 * Then, once, each tool uncached as of blocks asked for the first time (BENCH_COLD_SAMPLES each): tools that keep
 * chain-wide figures per as-of block in process (src/queries/population.ts) compute them anew, as the first call
 * after every new block does in production.
 * The rounds are repeated BENCH_REPEATS times; each figure shown is the worst repetition's, and a target counts only if
 * it holds in every repetition. Every API statement is counted per scenario (a wrapper around the API pool's query),
 * so the report shows the SQL round trips of a call and where its time goes.
 *
 * Targets (issue 13): a cached call within 3x of GET /health (p50 and p99); getReputationSummary uncached p99 ≤ 20 ms;
 * getReputationReport uncached p99 ≤ 250 ms (when the tool exists). The x402 round trip (x402RoundTrip: the official
 * client, our EIP-3009 token on anvil, the in-process facilitator) is measured in the rounds too, its client in this
 * process; the issue gives it no target.
 *
 * Correctness: every answer must be 200 from the asked tool, from the cache when cached and computed when fresh;
 * otherwise an ERROR line and a non-zero exit. Nothing fails on speed.
 *
 * Knobs (environment): BENCH_SECONDS (50, measured per repetition), BENCH_REPEATS (3), BENCH_SLICE_MS (40),
 * BENCH_AGENTS (1000), BENCH_FEEDBACK (100000), BENCH_ROTATION (50 agents), BENCH_COLD_SAMPLES (3), BENCH_X402 (1; 0: no anvil, no x402), BENCH_POOL_MAX (10), BENCH_LOG_LEVEL (error).
 */
import {
  now,
  BenchError,
  percentile,
  ascending,
  ms,
  int,
  ratio,
  intEnv,
  progress,
  pad,
  lpad,
  verdict,
} from './common.js';
import {
  BENCH_DIR,
  benchFolder,
  benchOrganization,
  benchRun,
  instrumentPools,
  perRequestKinds,
  spawnBenchChild,
  sqlDelta,
  sqlPrefix,
  startBenchApi,
  startBenchPostgres,
  startBenchTemporal,
  type OnCleanup,
  type SqlTallies,
} from './harness.js';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { decodePaymentResponseHeader } from '@x402/core/http';
import { getAddress, type Hex } from 'viem';
import pino from 'pino';
import { credit } from '../../src/billing/ledger.js';
import { configurePlans } from '../../src/billing/plans.js';
import { createPool } from '../../src/db/pool.js';
import { resolveAsOf, type AsOf } from '../../src/queries/as-of.js';
import { QUERY_TOOLS } from '../../src/queries/catalog.js';
import type { QueryTool } from '../../src/queries/tool.js';
import type { ClientMessage, SliceCommand, SliceResult } from './queries-client.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { fundedPayer, payingFetch, x402Env } from '../helpers/x402.js';

// ------------------------------------------------------------------------------------------------ settings

const SECONDS = intEnv('BENCH_SECONDS', 50, 1, 600);
const REPEATS = intEnv('BENCH_REPEATS', 3, 1, 20);
const SLICE_MS = intEnv('BENCH_SLICE_MS', 40, 1, 5_000);
const AGENTS = intEnv('BENCH_AGENTS', 1_000, 10, 1_000_000);
const FEEDBACK = intEnv('BENCH_FEEDBACK', 100_000, 100, 10_000_000);
const ROTATION = intEnv('BENCH_ROTATION', 50, 1, 10_000);
const POOL_MAX = intEnv('BENCH_POOL_MAX', 10, 1, 190);
const COLD_SAMPLES = intEnv('BENCH_COLD_SAMPLES', 3, 0, 100);
const X402 = intEnv('BENCH_X402', 1, 0, 1) === 1;
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'error';

const TARGET_CACHED_FACTOR = 3;
const TARGET_SUMMARY_P99_MS = 20;
const TARGET_REPORT_P99_MS = 250;
/** Requests per slice at least, so a slow tool still gets samples every round. */
const MIN_PER_SLICE = 2;

const CHAIN_ID = 31337;
const logger = pino({ level: LOG_LEVEL }, pino.destination(2));
const { onCleanup, run } = benchRun(30_000);

// ------------------------------------------------------------------------------------------------ the chain, in bulk

const CONTRACTS = {
  identity: `0x${'1'.repeat(40)}`,
  reputation: `0x${'2'.repeat(40)}`,
  validation: `0x${'3'.repeat(40)}`,
} as const;
const GENESIS_TIME = 1_767_225_600; // 2026-01-01T00:00:00Z; block n is 12·n s later
const FIRST_BLOCK = 1_000;
/** One event every BLOCK_STEP blocks (12 s each): 100,000 feedback events span about a year. */
const BLOCK_STEP = 25;
const CLIENTS = 5_000;
const VALIDATORS = 20;
const REQUESTS_PER_AGENT = 5;
/** The checkpoint is this many blocks above the last event. */
const HEAD_MARGIN = 10;

/** SQL: a 0x address from an integer expression. */
const addressOf = (n: string) => `'0x' || lpad(to_hex((${n})::bigint), 40, '0')`;
/** SQL: a bytes32 from an integer expression (the fill keeps different kinds of hashes apart). */
const bytes32Of = (n: string, fill = '0') => `'0x' || lpad(to_hex((${n})::bigint), 64, '${fill}')`;
/** SQL: a pseudo-random integer in [0, modulo) from an integer expression (deterministic). */
const hashMod = (n: string, modulo: number) => `((hashint8((${n})::bigint) % ${modulo} + ${modulo}) % ${modulo})::int`;
/** SQL: the block of the n-th event. */
const blockOf = (n: string) => `(${FIRST_BLOCK} + (${n}) * ${BLOCK_STEP})`;

/**
 * Appends `source`'s rows (a SELECT with an ordinal `n` — the event's place in chain order — and `columns`' values)
 * as canonical events of `registry`, each in its own block.
 */
async function appendBulk(
  db: pg.Pool,
  registry: keyof typeof CONTRACTS,
  eventType: string,
  columns: string[],
  source: string,
  params: unknown[] = [],
): Promise<number> {
  const { rowCount } = await db.query(
    `INSERT INTO events (id, chain_id, block_number, block_hash, transaction_hash, log_index, contract_address, registry,
       event_type, abi_version, "timestamp", block_time, source, ${columns.join(', ')})
     SELECT ${CHAIN_ID} || '-' || p.block || '-0', ${CHAIN_ID}, p.block, ${bytes32Of('p.block')}, ${bytes32Of('s.n', 'a')},
       0, '${CONTRACTS[registry]}', '${registry}', '${eventType}', 'v1.0', p.ts, to_timestamp(p.ts), 'indexer',
       ${columns.map((c) => `s.${c}`).join(', ')}
     FROM (${source}) s
     CROSS JOIN LATERAL (SELECT ${blockOf('s.n')} AS block, ${GENESIS_TIME} + 12 * ${blockOf('s.n')} AS ts) p`,
    params,
  );
  return rowCount ?? 0;
}

/** The data: URI registration file of agent `a` (SQL). */
const registrationFileOf = (a: string) =>
  `'data:application/json,' || replace(json_build_object(
     'type', 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1', 'name', 'bench agent ' || ${a},
     'description', 'an agent of the queries benchmark', 'x402Support', ${a} % 2 = 0, 'active', true,
     'services', json_build_array(json_build_object('name', 'MCP', 'endpoint', 'https://agent' || ${a} || '.example/mcp',
       'version', '2025-06-18')))::text, ' ', '%20')`;

/** Seeds the chain; returns the checkpoint block and the event count. */
async function seedChain(db: pg.Pool): Promise<{ head: number; events: number }> {
  // Nobody listens for new events here: one NOTIFY per row would only slow the seed down.
  await db.query('ALTER TABLE events DISABLE TRIGGER events_notify_trigger');
  let n = 0; // the next event's ordinal
  let events = 0;
  const owner = (a: string) => addressOf(`65536 + ${a}`);

  events += await appendBulk(
    db,
    'identity',
    'Registered',
    ['agent_id', 'owner', 'token_uri'],
    `SELECT $1::bigint + a AS n, a AS agent_id, ${owner('a')} AS owner, ${registrationFileOf('a')} AS token_uri
     FROM generate_series(0, $2::bigint - 1) a`,
    [n, AGENTS],
  );
  n += AGENTS;
  events += await appendBulk(
    db,
    'identity',
    'MetadataSet',
    ['agent_id', 'metadata_key', 'metadata_value'],
    `SELECT $1::bigint + a AS n, a AS agent_id, 'agentWallet' AS metadata_key, ${owner('a')} AS metadata_value
     FROM generate_series(0, $2::bigint - 1) a`,
    [n, AGENTS],
  );
  n += AGENTS;

  // Feedback i: agent by hash (about FEEDBACK/AGENTS each), one of 8 clients of that agent (clients are shared
  // across agents), four kinds of measure with their decimals, tag2 a period; feedbackIndex per (agent, client).
  events += await appendBulk(
    db,
    'reputation',
    'NewFeedback',
    [
      'agent_id',
      'client_address',
      'feedback_index',
      'value',
      'value_decimals',
      'tag1',
      'tag2',
      'endpoint',
      'file_uri',
      'file_hash',
    ],
    `SELECT n, agent_id, ${addressOf('4096 + client')} AS client_address,
            row_number() OVER (PARTITION BY agent_id, client ORDER BY n) AS feedback_index,
            value, value_decimals, tag1, tag2, 'https://agent' || agent_id || '.example/mcp' AS endpoint,
            'ipfs://feedback-' || n AS file_uri, ${bytes32Of('n', 'f')} AS file_hash
     FROM (
       SELECT $1::bigint + i AS n, agent_id, (agent_id * 13 + ${hashMod('i * 7 + 1', 8)}) % ${CLIENTS} AS client,
              CASE kind WHEN 0 THEN ${hashMod('i * 3 + 2', 101)}::numeric
                        WHEN 1 THEN 9000 + ${hashMod('i * 5 + 3', 1001)}::numeric
                        WHEN 2 THEN ${hashMod('i * 11 + 4', 4001)}::numeric - 1000
                        ELSE ${hashMod('i * 13 + 5', 1000)}::numeric * 1000000000000000 + ${hashMod('i', 999983)} END AS value,
              (ARRAY[0, 2, 1, 18])[kind + 1] AS value_decimals,
              (ARRAY['starred', 'uptime', 'responseTime', 'successRate'])[kind + 1] AS tag1,
              (ARRAY['', 'day', 'week'])[${hashMod('i * 17 + 6', 3)} + 1] AS tag2
       FROM (SELECT i, ${hashMod('i', AGENTS)} AS agent_id, ${hashMod('i * 19 + 7', 4)} AS kind
             FROM generate_series(0, $2::bigint - 1) i) f
     ) g`,
    [n, FEEDBACK],
  );
  n += FEEDBACK;

  // 5 % of the feedback revoked, 10 % answered by the agent's owner, later in the chain.
  const laterEvents = async (eventType: string, share: number, salt: number, extra: Record<string, string>) => {
    const count = await appendBulk(
      db,
      'reputation',
      eventType,
      ['agent_id', 'client_address', 'feedback_index', ...Object.keys(extra)],
      `SELECT $1::bigint + row_number() OVER (ORDER BY block_number) - 1 AS n, agent_id, client_address, feedback_index
              ${Object.entries(extra)
                .map(([column, sql]) => `, ${sql} AS ${column}`)
                .join('')}
       FROM events WHERE chain_id = ${CHAIN_ID} AND event_type = 'NewFeedback' AND ${hashMod(`block_number + ${salt}`, share)} = 0`,
      [n],
    );
    n += count;
    return count;
  };
  const revoked = await laterEvents('FeedbackRevoked', 20, 1, {});
  const answered = await laterEvents('ResponseAppended', 10, 2, {
    responder: owner('agent_id'),
    response_uri: `'ipfs://response-' || block_number`,
    response_hash: bytes32Of('block_number', 'e'),
  });
  events += revoked + answered;

  // Validation requests r = k·AGENTS + a (k < 5), to one of 20 validators; 80 % answered, one in 7 of those twice.
  const requests = AGENTS * REQUESTS_PER_AGENT;
  const requestColumns = `r % $3 AS agent_id, ${addressOf(`256 + r % ${VALIDATORS}`)} AS validator_address,
                          ${bytes32Of('r + 1', 'c')} AS request_hash`;
  events += await appendBulk(
    db,
    'validation',
    'ValidationRequest',
    ['agent_id', 'validator_address', 'request_hash', 'request_uri'],
    `SELECT $1::bigint + r AS n, ${requestColumns}, 'ipfs://request-' || r AS request_uri
     FROM generate_series(0, $2::bigint - 1) r`,
    [n, requests, AGENTS],
  );
  n += requests;
  for (const round of [0, 1]) {
    const count = await appendBulk(
      db,
      'validation',
      'ValidationResponse',
      ['agent_id', 'validator_address', 'request_hash', 'response', 'response_uri', 'response_hash', 'tag'],
      `SELECT $1::bigint + row_number() OVER (ORDER BY r) - 1 AS n, ${requestColumns},
              ${hashMod(`r * 23 + ${round}`, 101)} AS response, 'ipfs://response-' || r AS response_uri,
              ${bytes32Of('r + 1', 'd')} AS response_hash, (ARRAY['zk', 'tee'])[(r % 2)::int + 1] AS tag
       FROM generate_series(0, $2::bigint - 1) r
       WHERE ${hashMod('r', 5)} <> 0 ${round === 1 ? `AND ${hashMod('r * 3', 7)} = 0` : ''}`,
      [n, requests, AGENTS],
    );
    n += count;
    events += count;
  }

  // The indexer's checkpoint and the blocks it wrote (those with events, and the head).
  const head = FIRST_BLOCK + n * BLOCK_STEP + HEAD_MARGIN;
  await db.query(
    `INSERT INTO indexed_blocks (chain_id, block_number, block_hash)
     SELECT DISTINCT chain_id, block_number, block_hash FROM events WHERE chain_id = $1
     UNION SELECT $1, $2::bigint, ${bytes32Of('$2::bigint')}`,
    [CHAIN_ID, head],
  );
  await db.query(
    `INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, $2, ${bytes32Of('$2::bigint')})`,
    [CHAIN_ID, head],
  );
  await db.query('ALTER TABLE events ENABLE TRIGGER events_notify_trigger');
  await db.query('ANALYZE');
  return { head, events };
}

// ------------------------------------------------------------------------------------------------ the client process

interface Client {
  slice(command: Omit<SliceCommand, 'type' | 'id'>): Promise<SliceResult>;
}

function startClient(onCleanup: OnCleanup): Client {
  const { child, exitReason } = spawnBenchChild(
    'query client',
    path.join(BENCH_DIR, 'queries-client.ts'),
    5_000,
    onCleanup,
  );
  let nextId = 1;
  return {
    slice: (command) =>
      new Promise<SliceResult>((resolve, reject) => {
        const id = nextId++;
        const onMessage = (message: ClientMessage) => {
          if (message.id !== id) return;
          done();
          if (message.type === 'slice-result') resolve(message);
          else reject(new BenchError(`query client failed: ${message.message}`));
        };
        const onExit = () => {
          done();
          reject(new BenchError(exitReason() ?? 'the query client exited'));
        };
        const done = () => {
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send({ type: 'slice', id, ...command } satisfies SliceCommand);
      }),
  };
}

// ------------------------------------------------------------------------------------------------ scenarios

interface Scenario {
  key: string;
  label: string;
  /** One slice: its latencies (and, for HTTP, the API's SQL meanwhile). */
  slice(): Promise<number[]>;
  /** The API statements per request, summed over the scenario's slices (HTTP scenarios only). */
  sql?: SqlTallies;
}

interface Repetition {
  /** Per scenario key: its latencies, ascending. */
  latencies: Map<string, number[]>;
}

const p = (sorted: number[] | undefined, q: number) => (sorted ? percentile(sorted, q) : Number.NaN);

/** Statements of the query path, named; the rest by their first words. */
const SQL_KINDS: [string, (sql: string) => boolean][] = [
  ['rate limit: counter upsert', (s) => s.includes('INSERT INTO rate_limit_counters')],
  ['query: cache lookup', (s) => s.includes('FROM query_cache WHERE cache_key')],
  ['query: cache store', (s) => s.startsWith('INSERT INTO query_cache')],
  ['query: as-of checkpoint', (s) => s.includes('FROM checkpoints WHERE chain_id')],
  ['metering: usage row insert', (s) => s.startsWith('INSERT INTO usage_logs')],
  ['metering: usage row update', (s) => s.startsWith('UPDATE usage_logs')],
  ['tool: feedback as of', (s) => s.includes('WITH numbered AS')],
  ['tool: validations as of', (s) => s.includes('WITH requests AS')],
  ['charge: debit, usage row and ledger entry (one statement)', (s) => s.startsWith('WITH charged AS')],
  ['charge: included call and usage row (one statement)', (s) => s.startsWith('WITH claimed AS')],
  ['answer kept: transaction BEGIN (no disk wait)', (s) => s.startsWith('BEGIN; SET LOCAL synchronous_commit')],
  ['transaction BEGIN', (s) => s === 'BEGIN'],
  ['transaction COMMIT', (s) => s === 'COMMIT'],
  ['ledger savepoint', (s) => /^(SAVEPOINT|RELEASE SAVEPOINT)/.test(s)],
];
const classifySql = (sql: string) => {
  const text = sql.trim();
  return SQL_KINDS.find(([, test]) => test(text))?.[0] ?? sqlPrefix(text, 70);
};

// ------------------------------------------------------------------------------------------------ x402

/**
 * The x402 round trip as a caller without credentials makes it with the official client (@x402/fetch): GET → 402 with
 * PAYMENT-REQUIRED → sign an EIP-3009 authorization of our test token → GET with PAYMENT-SIGNATURE → verified, claimed,
 * answered and settled on anvil by the in-process facilitator → 200 with PAYMENT-RESPONSE. Timed in this process (the
 * client signs here), over `urls` in turn; a wrong answer is pushed to `errors`.
 */
function x402RoundTrip(
  chain: TestChain,
  payerKey: Hex,
  urls: string[],
  tool: string,
  errors: string[],
): (i: number) => Promise<void> {
  const pay = payingFetch(chain, payerKey);
  let wrong = 0;
  return async (i) => {
    const res = await pay(urls[i % urls.length]!);
    const body = (await res.json()) as { answer?: { tool?: string } };
    const receipt = res.headers.get('payment-response');
    const success = receipt ? decodePaymentResponseHeader(receipt).success : false;
    if ((res.status !== 200 || body.answer?.tool !== tool || !success) && wrong++ < 3) {
      errors.push(
        `x402 round trip: HTTP ${res.status}, receipt ${receipt ? 'present' : 'missing'}: ${JSON.stringify(body).slice(0, 300)}`,
      );
    }
  };
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const started = now();
  const loadAtStart = os.loadavg();
  process.stderr.write('Queries benchmark: setting up\n');
  const errors: string[] = [];

  const root = await benchFolder('erc8004-bench-queries-', onCleanup);
  // anvil with our EIP-3009 token, for x402: the payments settle there.
  const [{ databaseUrl, version: pgVersion }, { server: temporalServer }, chain] = await Promise.all([
    startBenchPostgres(root, 'bench_queries', logger, onCleanup),
    startBenchTemporal(logger, onCleanup),
    X402
      ? startTestChain({ paymentToken: true }).then((c) => (onCleanup('anvil', () => c.stop()), c))
      : Promise.resolve(undefined),
  ]);
  const payTo = getAddress(`0x${'5'.repeat(40)}`);
  const admin = createPool(databaseUrl, logger, { max: 4, applicationName: 'bench-queries-admin' });
  onCleanup('admin pool', () => admin.end());

  // ---- The API: every call charged to credits (no included calls), a rate limit the benchmark never reaches.
  const api = await startBenchApi(
    {
      databaseUrl,
      temporalAddress: temporalServer.address,
      logger,
      poolMax: POOL_MAX,
      applicationName: 'bench-queries',
      env: {
        BILLING_PLANS: JSON.stringify({
          enterprise: { requestsPerHour: 1_000_000_000, includedQueryCallsPerMonth: 0 },
        }),
        ...(chain ? x402Env(chain, payTo) : {}),
      },
    },
    onCleanup,
  );
  configurePlans(api.config.billing.plans);
  const pgSettings = new Map(
    (
      await admin.query<{ name: string; setting: string }>(
        `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')`,
      )
    ).rows.map((r) => [r.name, r.setting]),
  );
  progress(`Postgres ${pgVersion}, Temporal and the API up (${ms(now() - started)})`);

  // ---- Seed.
  const seedStarted = now();
  const { organizationId, key } = await benchOrganization(admin, 'enterprise');
  await credit(admin, { organizationId, kind: 'grant', key: 'bench-queries', amount: '1000000' });
  const { head, events } = await seedChain(admin);
  progress(`seeded ${int(events)} events (head block ${int(head)}) in ${ms(now() - seedStarted)}`);

  // ---- The tools the API lists, and the catalog's for the bare floor.
  const restBase = `${api.url}/api/v1`;
  const headers = { 'x-api-key': key.key };
  const listed = (await (await fetch(`${restBase}/queries/tools`)).json()) as {
    tools: { name: string; path: string; tier: number; price: string }[];
  };
  const tools = listed.tools.map((t) => {
    const tool = QUERY_TOOLS.find((q) => q.name === t.name);
    if (!tool) throw new BenchError(`the API lists ${t.name}, which the catalog does not have`);
    return { ...t, tool: tool as QueryTool };
  });
  progress(`tools: ${tools.map((t) => t.name).join(', ')}`);

  const agents = Array.from({ length: ROTATION }, (_, i) => String(Math.floor((i * AGENTS) / ROTATION)));
  const urlsOf = (toolPath: string, fresh: boolean) =>
    agents.map((a) => `${restBase}/agents/${CHAIN_ID}/${a}/${toolPath}${fresh ? '?fresh=true' : ''}`);

  // ---- Sanity and warm-up: every tool answers each rotation agent (this fills the cache), checked against the
  // catalog's output schema, and the as-of block is the checkpoint.
  const warmStarted = now();
  for (const t of tools) {
    for (const url of urlsOf(t.path, false)) {
      const res = await fetch(url, { headers });
      const body = (await res.json()) as { answer?: { tool?: string; asOfBlock?: number; data?: unknown } };
      if (res.status !== 200) throw new BenchError(`${url}: HTTP ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      if (body.answer?.tool !== t.name || body.answer.asOfBlock !== head)
        throw new BenchError(`${url}: unexpected answer ${JSON.stringify(body).slice(0, 300)}`);
      const parsed = t.tool.data.safeParse(body.answer.data);
      if (!parsed.success)
        throw new BenchError(`${url}: data does not match ${t.name}'s schema: ${parsed.error.message}`);
    }
  }
  const summaryOfFirst = (await (await fetch(urlsOf('summary', false)[0]!, { headers })).json()) as {
    answer: { data: { count: number; revokedCount: number; byTag1: unknown[] } };
  };
  progress(
    `every tool answers (warm-up ${ms(now() - warmStarted)}); agent ${agents[0]}'s summary: ${summaryOfFirst.answer.data.count} feedback counted, ` +
      `${summaryOfFirst.answer.data.revokedCount} revoked, ${summaryOfFirst.answer.data.byTag1.length} tag1s`,
  );

  // ---- Floors: tool.run() and SELECT 1 on a pool of their own, as of the checkpoint.
  const floorPool = createPool(databaseUrl, logger, { max: 2, applicationName: 'bench-queries-floor' });
  onCleanup('floor pool', () => floorPool.end());
  const asOf: AsOf = await resolveAsOf(floorPool, CHAIN_ID, undefined);

  // ---- Scenarios.
  const client = startClient(onCleanup);
  const sqlCounter = instrumentPools(
    // The API pool's transactions (the charge) run on clients it hands out.
    { queries: [api.pool], clients: [api.pool, api.services.tenantPool] },
    classifySql,
  );
  const scenarios: Scenario[] = [];
  const offsets = new Map<string, number>();
  const httpScenario = (
    key: string,
    label: string,
    urls: string[],
    expect: SliceCommand['expect'],
    sendHeaders: Record<string, string>,
  ) => {
    const scenario: Scenario = {
      key,
      label,
      sql: new Map(),
      async slice() {
        const before = sqlCounter.snapshot();
        const offset = offsets.get(key) ?? 0;
        const result = await client.slice({
          urls,
          offset,
          headers: sendHeaders,
          durationMs: SLICE_MS,
          minRequests: MIN_PER_SLICE,
          expect,
        });
        offsets.set(key, offset + result.latencies.length);
        for (const [kind, t] of sqlDelta(before, sqlCounter.snapshot())) {
          const sum = scenario.sql!.get(kind) ?? { count: 0, totalMs: 0 };
          scenario.sql!.set(kind, { count: sum.count + t.count, totalMs: sum.totalMs + t.totalMs });
        }
        requests.set(key, (requests.get(key) ?? 0) + result.latencies.length);
        if (result.wrong > 0) errors.push(`${label}: ${result.wrong} wrong answer(s): ${result.problems.join(' | ')}`);
        return result.latencies;
      },
    };
    scenarios.push(scenario);
  };
  const inProcessScenario = (key: string, label: string, call: (i: number) => Promise<unknown>) => {
    let i = 0;
    scenarios.push({
      key,
      label,
      async slice() {
        const latencies: number[] = [];
        const sliceStart = now();
        while (latencies.length < MIN_PER_SLICE || now() - sliceStart < SLICE_MS) {
          const t0 = now();
          await call(i++);
          latencies.push(now() - t0);
        }
        return latencies;
      },
    });
  };
  const requests = new Map<string, number>();

  httpScenario('health', 'GET /health', [`${api.url}/health`], { kind: 'health' }, {});
  for (const t of tools) {
    httpScenario(
      `${t.name}:cached`,
      `${t.name} cached`,
      urlsOf(t.path, false),
      { kind: 'query', tool: t.name, cache: 'hit' },
      headers,
    );
    httpScenario(
      `${t.name}:uncached`,
      `${t.name} uncached`,
      urlsOf(t.path, true),
      { kind: 'query', tool: t.name, cache: 'bypass' },
      headers,
    );
    const params = t.tool.params.parse({});
    inProcessScenario(`${t.name}:floor`, `${t.name} bare tool.run()`, (i) =>
      t.tool.run({ db: floorPool, asOf, agentId: agents[i % agents.length]! }, params as never),
    );
  }
  inProcessScenario('select1', 'SELECT 1 (Postgres round trip)', () => floorPool.query('SELECT 1'));
  if (chain) {
    // A payer with plenty of the token and no ether (x402 is gasless for the payer); summary: tier 1, 0.01 USDC.
    const payer = await fundedPayer(chain, 10n ** 15n);
    inProcessScenario(
      'x402',
      'x402 round trip, summary (402→paid)',
      x402RoundTrip(chain, payer.key, urlsOf('summary', false), 'getReputationSummary', errors),
    );
  }

  // ---- Measure: rounds of slices, BENCH_SECONDS per repetition.
  const repetitions: Repetition[] = [];
  for (let r = 1; r <= REPEATS; r++) {
    const latencies = new Map<string, number[]>(scenarios.map((s) => [s.key, []]));
    const repStart = now();
    let rounds = 0;
    while (now() - repStart < SECONDS * 1000) {
      for (const s of scenarios) latencies.get(s.key)!.push(...(await s.slice()));
      rounds++;
    }
    repetitions.push({ latencies: new Map([...latencies].map(([k, v]) => [k, ascending(v)])) });
    const of = (key: string) => repetitions.at(-1)!.latencies.get(key);
    progress(
      `repetition ${r}/${REPEATS}: ${rounds} rounds in ${ms(now() - repStart)}; /health p99 ${ms(p(of('health'), 99))}, ` +
        `summary uncached p99 ${ms(p(of('getReputationSummary:uncached'), 99))}`,
    );
    if (errors.length > 0) break;
  }

  // ---- Uncached as of a block asked for the first time: what the first call after a new block costs. Some tools keep
  // chain-wide figures per as-of block in this process (src/queries/population.ts); the rounds above ask as of one
  // block, so they find them computed.
  const coldBlocks = (
    await admin.query<{ block: string }>(
      `SELECT block_number::text AS block FROM indexed_blocks WHERE chain_id = $1 AND block_number < $2
       ORDER BY block_number DESC LIMIT $3`,
      [CHAIN_ID, head, tools.length * COLD_SAMPLES],
    )
  ).rows.map((r) => r.block);
  const cold = new Map<string, number[]>();
  for (const [i, t] of tools.entries()) {
    const latencies: number[] = [];
    for (const block of coldBlocks.slice(i * COLD_SAMPLES, (i + 1) * COLD_SAMPLES)) {
      const result = await client.slice({
        urls: [`${restBase}/agents/${CHAIN_ID}/${agents[0]}/${t.path}?fresh=true&asOfBlock=${block}`],
        offset: 0,
        headers,
        durationMs: 0,
        minRequests: 1,
        expect: { kind: 'query', tool: t.name, cache: 'bypass' },
      });
      if (result.wrong > 0) errors.push(`${t.name} as of a new block: ${result.problems.join(' | ')}`);
      latencies.push(...result.latencies);
    }
    cold.set(t.name, ascending(latencies));
  }

  // ------------------------------------------------------------------------------------------------ report
  const worst = (key: string, q: number) => Math.max(...repetitions.map((rep) => p(rep.latencies.get(key), q)));
  const perRep = (key: string, q: number) => repetitions.map((rep) => ms(p(rep.latencies.get(key), q))).join(' / ');
  const samples = (key: string) => Math.min(...repetitions.map((rep) => rep.latencies.get(key)?.length ?? 0));
  const line = '-'.repeat(132);
  console.log('');
  console.log(
    `Queries benchmark: serial requests over one keep-alive connection (client process), scenarios interleaved in rounds ` +
      `(${SLICE_MS} ms slices, ≥ ${MIN_PER_SLICE} requests), ${SECONDS} s per repetition × ${repetitions.length}; figures are the worst repetition's`,
  );
  console.log(
    `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, Postgres ${pgVersion} ` +
      `(fsync ${pgSettings.get('fsync')}, synchronous_commit ${pgSettings.get('synchronous_commit')}); load average at start ` +
      `${loadAtStart.map((v) => v.toFixed(1)).join(' ')}; API pool max ${POOL_MAX}`,
  );
  console.log(
    `data: ${int(events)} events on chain ${CHAIN_ID} — ${int(AGENTS)} agents, ${int(FEEDBACK)} feedback (5 % revoked, 10 % answered), ` +
      `${int(AGENTS * REQUESTS_PER_AGENT)} validation requests; as of block ${int(head)}; ${ROTATION} agents queried in turn`,
  );
  console.log('');
  console.log(line);
  console.log(
    `${pad('scenario', 36)}${lpad('samples', 8)}${lpad('p50', 10)}${lpad('p99', 10)}   ${pad('p99 per repetition', 30)}${lpad('SQL/call', 9)}${lpad('SQL ms/call', 12)}${lpad('vs /health', 12)}`,
  );
  console.log(line);
  const healthP50 = worst('health', 50);
  const healthP99 = worst('health', 99);
  for (const s of scenarios) {
    const n = requests.get(s.key) ?? 0;
    const sql = s.sql ? perRequestKinds(s.sql) : [];
    const statements = sql.reduce((a, [, t]) => a + t.count, 0);
    const sqlMs = sql.reduce((a, [, t]) => a + t.totalMs, 0);
    console.log(
      `${pad(s.label, 36)}${lpad(int(samples(s.key)), 8)}${lpad(ms(worst(s.key, 50)), 10)}${lpad(ms(worst(s.key, 99)), 10)}   ` +
        `${pad(perRep(s.key, 99), 30)}${lpad(s.sql && n ? (statements / n).toFixed(1) : '', 9)}${lpad(s.sql && n ? ms(sqlMs / n) : '', 12)}` +
        `${lpad(s.key.endsWith(':cached') ? `${ratio(worst(s.key, 50) / healthP50)} ${ratio(worst(s.key, 99) / healthP99)}` : '', 12)}`,
    );
  }
  console.log(line);
  console.log(
    'latency: request start → end of body, client side. SQL/call: API statements per request (wall time incl. the wait for a ' +
      'pooled connection); vs /health: this p50 ÷ /health p50, this p99 ÷ /health p99.',
  );

  console.log('');
  console.log(
    'Service overhead (uncached call p50 − bare tool.run() p50: auth, rate limit, cache, charge, metering, HTTP):',
  );
  for (const t of tools) {
    const call = worst(`${t.name}:uncached`, 50);
    const floor = worst(`${t.name}:floor`, 50);
    console.log(
      `  ${pad(t.name, 24)} uncached ${lpad(ms(call), 9)}   bare ${lpad(ms(floor), 9)}   overhead ${lpad(ms(call - floor), 9)}` +
        `   cached ${lpad(ms(worst(`${t.name}:cached`, 50)), 9)}`,
    );
  }

  console.log('');
  console.log(
    `Uncached as of a block asked for the first time (${COLD_SAMPLES} calls per tool, each as of another block below the head; ` +
      'chain-wide figures some tools keep per block in process are computed anew):',
  );
  for (const t of tools) {
    const sorted = cold.get(t.name) ?? [];
    console.log(
      `  ${pad(t.name, 24)} p50 ${lpad(ms(percentile(sorted, 50)), 9)}   max ${lpad(ms(sorted.at(-1) ?? Number.NaN), 9)}` +
        `   (same block as the rounds: p50 ${ms(worst(`${t.name}:uncached`, 50))})`,
    );
  }

  console.log('');
  console.log('SQL round trips of a call (per request, over all repetitions; mean ms each):');
  const sqlOf = (key: string) => scenarios.find((s) => s.key === key)?.sql;
  for (const key of ['health', 'getReputationSummary:cached', 'getReputationSummary:uncached']) {
    const sql = sqlOf(key);
    const n = requests.get(key) ?? 0;
    if (!sql || n === 0) continue;
    console.log(`  ${scenarios.find((s) => s.key === key)!.label}:`);
    for (const [kind, t] of perRequestKinds(sql).sort((a, b) => b[1].totalMs - a[1].totalMs))
      console.log(`    ${pad(kind, 80)}${lpad((t.count / n).toFixed(2), 6)}/req ${lpad(ms(t.totalMs / t.count), 10)}`);
  }

  // ---- Targets.
  console.log('');
  console.log('Targets (each must hold in every repetition):');
  const everyRep = (test: (rep: Repetition) => boolean) => repetitions.every(test);
  const ofRep = (rep: Repetition, key: string, q: number) => p(rep.latencies.get(key), q);
  for (const t of tools) {
    const key = `${t.name}:cached`;
    const ratios = repetitions.map(
      (rep) =>
        [ofRep(rep, key, 50) / ofRep(rep, 'health', 50), ofRep(rep, key, 99) / ofRep(rep, 'health', 99)] as const,
    );
    const met = ratios.every(([a, b]) => a <= TARGET_CACHED_FACTOR && b <= TARGET_CACHED_FACTOR);
    console.log(
      `  ${pad(`${t.name} cached ≤ ${TARGET_CACHED_FACTOR}x GET /health (p50, p99):`, 58)}` +
        `${ratios.map(([a, b]) => `${a.toFixed(1)}x ${b.toFixed(1)}x`).join(' / ')} → ${verdict(met)}`,
    );
  }
  const fixedTarget = (toolName: string, limitMs: number) => {
    const key = `${toolName}:uncached`;
    if (!tools.some((t) => t.name === toolName)) {
      console.log(
        `  ${pad(`${toolName} uncached p99 ≤ ${limitMs} ms:`, 58)}not measured: the API does not list ${toolName}`,
      );
      return;
    }
    const met = everyRep((rep) => ofRep(rep, key, 99) <= limitMs);
    console.log(`  ${pad(`${toolName} uncached p99 ≤ ${limitMs} ms:`, 58)}${perRep(key, 99)} → ${verdict(met)}`);
  };
  fixedTarget('getReputationSummary', TARGET_SUMMARY_P99_MS);
  fixedTarget('getReputationReport', TARGET_REPORT_P99_MS);
  console.log(
    `  ${pad('(info) x402 round trip (402 → sign → paid 200):', 58)}` +
      (chain ? `p50 ${perRep('x402', 50)}, p99 ${perRep('x402', 99)} (no target)` : 'not measured (BENCH_X402=0)'),
  );
  console.log(`(benchmark figures only: nothing here fails on speed; total run ${ms(now() - started)})`);
  if (errors.length > 0) {
    for (const e of errors) console.error(`ERROR: ${e}`);
    throw new BenchError(`${errors.length} correctness problem(s), see above`);
  }
}

await run(main);

/**
 * bench:billing — how fast the credits ledger charges (src/billing/ledger.ts `debit`): debits per second and latency
 * on one hot account (every charge waits for the same row lock) and spread over many accounts, each beside a baseline
 * measured in the same run on the same database: a trivial single-row UPDATE round trip with the same contention.
 *
 * Starts its own embedded Postgres (temp folder, free port, migrated) and removes it at the end. Checks afterwards
 * that every account's ledger sums to its balance and that no key was charged twice (a failure exits non-zero);
 * speed never fails it.
 *
 *   BENCH_BILLING_SECONDS      measured seconds per scenario (default 5)
 *   BENCH_BILLING_CONCURRENCY  callers in flight, one connection each (default 16)
 *   BENCH_BILLING_ACCOUNTS     accounts of the spread scenario (default 1000)
 *   BENCH_LOG_LEVEL            (default error)
 */
import pino from 'pino';
import type pg from 'pg';
import { debit, credit } from '../../src/billing/ledger.js';
import { createPool } from '../../src/db/pool.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';
import { ascending, BenchError, int, intEnv, ms, now, percentile, progress, ratio } from './common.js';
import { benchFolder, benchRun, startBenchPostgres } from './harness.js';

const SECONDS = intEnv('BENCH_BILLING_SECONDS', 5, 1, 600);
const CONCURRENCY = intEnv('BENCH_BILLING_CONCURRENCY', 16, 1, 200);
const ACCOUNTS = intEnv('BENCH_BILLING_ACCOUNTS', 1_000, 2, 100_000);
/** Calls before this are not counted: connections open, plans cache. */
const WARMUP_MS = 500;
/** Enough that no scenario runs out: a refused debit would measure something else. */
const FUNDING = '1000000';
const CHARGE = '0.00012345';

const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'error' }, pino.destination(2));
const { onCleanup, run } = benchRun();

interface Figures {
  calls: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** `CONCURRENCY` callers run `call(worker, i)` back to back for SECONDS (after the warm-up); latencies in ms. */
async function measure(call: (worker: number, i: number) => Promise<unknown>): Promise<Figures> {
  const latencies: number[] = [];
  const start = now();
  const countFrom = start + WARMUP_MS;
  const end = countFrom + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      for (let i = 0; now() < end; i++) {
        const t0 = now();
        await call(worker, i);
        if (t0 >= countFrom) latencies.push(now() - t0);
      }
    }),
  );
  const sorted = ascending(latencies);
  const elapsed = (now() - countFrom) / 1000;
  return {
    calls: sorted.length,
    perSecond: sorted.length / elapsed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
  };
}

async function fundAccounts(pool: pg.Pool, count: number): Promise<string[]> {
  const owner = await insertUser(pool);
  const organizations: string[] = [];
  for (let next = 0; next < count;) {
    const batch = Array.from({ length: Math.min(CONCURRENCY, count - next) }, async () => {
      const org = await insertOrganization(pool, owner);
      await credit(pool, { organizationId: org, key: 'bench-funding', kind: 'grant', amount: FUNDING });
      return org;
    });
    next += batch.length;
    organizations.push(...(await Promise.all(batch)));
  }
  return organizations;
}

/** Every account's ledger sums to its balance and each key was charged once. */
async function checkLedger(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ broken: number; duplicates: number }>(
    `SELECT
       (SELECT count(*)::int FROM credits c WHERE c.balance <>
          (SELECT coalesce(sum(amount), 0) FROM credit_transactions t WHERE t.organization_id = c.organization_id)) AS broken,
       (SELECT count(*)::int FROM (SELECT 1 FROM credit_transactions WHERE idempotency_key IS NOT NULL
          GROUP BY organization_id, idempotency_key HAVING count(*) > 1) d) AS duplicates`,
  );
  const { broken, duplicates } = rows[0]!;
  if (broken > 0 || duplicates > 0) {
    throw new BenchError(
      `ledger broken: ${broken} accounts differ from their ledger, ${duplicates} keys charged twice`,
    );
  }
}

async function main(): Promise<void> {
  const root = await benchFolder('erc8004-bench-billing-', onCleanup);
  const { databaseUrl } = await startBenchPostgres(root, 'bench_billing', logger, onCleanup);
  const pool = createPool(databaseUrl, logger, { max: CONCURRENCY + 2, applicationName: 'bench-billing' });
  onCleanup('pool', () => pool.end());

  progress(`funding ${int(ACCOUNTS)} accounts`);
  const [hot, ...others] = await fundAccounts(pool, ACCOUNTS);
  const spread = [hot!, ...others];
  await pool.query(
    `CREATE TABLE bench_baseline (id INT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0);
     INSERT INTO bench_baseline (id) SELECT generate_series(0, ${ACCOUNTS - 1});`,
  );
  const baselineUpdate = (id: number) => pool.query('UPDATE bench_baseline SET n = n + 1 WHERE id = $1', [id]);
  const pick = (worker: number, i: number) => (worker * 7919 + i * 104_729) % ACCOUNTS;

  progress(`one hot account: baseline, then debits (${SECONDS} s each, ${CONCURRENCY} callers)`);
  const hotBaseline = await measure(() => baselineUpdate(0));
  const hotDebits = await measure((worker, i) =>
    debit(pool, { organizationId: hot!, key: `hot-${worker}-${i}`, amount: CHARGE }),
  );
  progress(`${int(ACCOUNTS)} accounts: baseline, then debits`);
  const spreadBaseline = await measure((worker, i) => baselineUpdate(pick(worker, i)));
  const spreadDebits = await measure((worker, i) =>
    debit(pool, { organizationId: spread[pick(worker, i)]!, key: `spread-${worker}-${i}`, amount: CHARGE }),
  );
  await checkLedger(pool);

  const row = (label: string, f: Figures, base?: Figures) =>
    console.log(
      `${label.padEnd(34)}${int(f.perSecond).padStart(9)}/s  p50 ${ms(f.p50).padStart(9)}  p99 ${ms(f.p99).padStart(9)}` +
        (base ? `   ${ratio(base.perSecond / f.perSecond)} slower, p99 ${ratio(f.p99 / base.p99)}` : ''),
    );
  console.log('');
  console.log(`bench:billing — ${SECONDS} s per scenario, ${CONCURRENCY} callers, charge ${CHARGE} USDC`);
  row('baseline UPDATE, one row', hotBaseline);
  row('debit, one hot account', hotDebits, hotBaseline);
  row(`baseline UPDATE, ${int(ACCOUNTS)} rows`, spreadBaseline);
  row(`debit, ${int(ACCOUNTS)} accounts`, spreadDebits, spreadBaseline);
  console.log('(ledger checked: every account sums to its balance, no key charged twice; speed never fails the run)');
}

await run(main);

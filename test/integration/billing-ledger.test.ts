/**
 * The credits ledger (src/billing/ledger.ts) on a real Postgres: exact under concurrency, idempotent by key, holds,
 * debt after a reversed payment, paged reads, and tenant isolation through the app role.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAmount, toUnits } from '../../src/billing/amount.js';
import { isBillingError, type BillingErrorCode } from '../../src/billing/errors.js';
import {
  capture,
  credit,
  debit,
  getAccount,
  listEntries,
  releaseExpiredHolds,
  releaseHold,
  reserve,
  reverseCredit,
  usage,
  type LedgerEntry,
  type Movement,
} from '../../src/billing/ledger.js';
import { createMaintenanceActivities } from '../../activities/maintenance.js';
import { createPool } from '../../src/db/pool.js';
import { createTenantPool, TenantDb } from '../../src/db/tenant.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';

let db: TestDatabase;
/** Enough connections for real contention on one row. */
let pool: pg.Pool;
let tenantPool: pg.Pool;
let owner: string;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, testLogger, { max: 20, applicationName: 'billing-ledger-test' });
  tenantPool = createTenantPool(db.url, testLogger, { max: 4 });
  owner = await insertUser(db.pool);
});
afterAll(async () => {
  await tenantPool?.end();
  await pool?.end();
  await db?.drop();
});

const newOrganization = () => insertOrganization(db.pool, owner);

/** The BillingError code a call failed with (or 'ok'); any other failure fails the test. */
async function outcome<T>(call: Promise<T>): Promise<T | BillingErrorCode> {
  try {
    return await call;
  } catch (err) {
    if (isBillingError(err)) return err.code;
    throw err;
  }
}

/** Checks every invariant of the account against its rows, and returns its figures. */
async function expectConsistent(organizationId: string) {
  const { rows } = await db.pool.query(
    `SELECT c.balance::text, c.held::text, c.owed::text,
       (SELECT coalesce(sum(amount), 0)::text FROM credit_transactions t WHERE t.organization_id = c.organization_id) AS ledger,
       (SELECT coalesce(sum(owed_delta), 0)::text FROM credit_transactions t WHERE t.organization_id = c.organization_id) AS ledger_owed,
       (SELECT coalesce(sum(amount), 0)::text FROM credit_holds h WHERE h.organization_id = c.organization_id AND status = 'held') AS holds,
       (SELECT count(*)::int FROM credit_transactions t WHERE t.organization_id = c.organization_id AND balance_after < 0) AS negative
     FROM credits c WHERE c.organization_id = $1`,
    [organizationId],
  );
  const r = rows[0];
  expect(toUnits(r.ledger), 'sum(ledger) = balance').toBe(toUnits(r.balance));
  expect(toUnits(r.ledger_owed), 'sum(owed changes) = owed').toBe(toUnits(r.owed));
  expect(toUnits(r.holds), 'sum(active holds) = held').toBe(toUnits(r.held));
  expect(toUnits(r.balance) >= toUnits(r.held) && toUnits(r.held) >= 0n).toBe(true);
  expect(r.negative).toBe(0);
  return { balance: r.balance as string, held: r.held as string, owed: r.owed as string };
}

async function funded(amount: string): Promise<string> {
  const org = await newOrganization();
  await credit(pool, { organizationId: org, key: `fund-${org}`, kind: 'grant', amount });
  return org;
}

describe('debits under concurrency', () => {
  it('hundreds of concurrent debits and retries: never negative, each key once, exactly what fits', async () => {
    const org = await funded('100');
    const keys = Array.from({ length: 180 }, (_, i) => `call-${i}`);
    // 180 first attempts and 60 retries of some of the same keys, interleaved and all in flight at once.
    const attempts = [...keys, ...keys.filter((_, i) => i % 3 === 0)].map((key, i) => ({ key, i }));
    attempts.sort((a, b) => ((a.i * 7919) % 241) - ((b.i * 7919) % 241));
    const results = await Promise.all(
      attempts.map(async ({ key }) => ({
        key,
        result: await outcome(debit(pool, { organizationId: org, key, amount: '0.73' })),
      })),
    );

    const applied = new Map<string, LedgerEntry>();
    for (const { key, result } of results) {
      if (typeof result === 'string') {
        expect(result).toBe('insufficient_credits');
        continue;
      }
      const first = applied.get(key);
      if (first) expect(result.entry, `every answer for ${key} is the original`).toEqual(first);
      else applied.set(key, result.entry);
    }
    // ⌊100 / 0.73⌋ = 136 charges, no more, no fewer.
    expect(applied.size).toBe(136);
    const fresh = results.filter((r) => typeof r.result !== 'string' && !r.result.replayed);
    expect(fresh).toHaveLength(136);
    const figures = await expectConsistent(org);
    expect(figures.balance).toBe('0.72000000');
    // Every charge saw the one before it: balances after are 100 − 0.73·k for k = 1..136.
    const afters = [...applied.values()].map((e) => toUnits(e.balanceAfter)).sort((a, b) => (a < b ? 1 : -1));
    expect(afters).toEqual(Array.from({ length: 136 }, (_, k) => 10_000_000_000n - 73_000_000n * BigInt(k + 1)));
    const { rows } = await db.pool.query(
      `SELECT idempotency_key, count(*)::int AS n FROM credit_transactions WHERE organization_id = $1 AND type = 'usage' GROUP BY 1 HAVING count(*) > 1`,
      [org],
    );
    expect(rows).toEqual([]);

    // Retries later, in any order, get the original answer and move nothing.
    for (const [key, entry] of applied) {
      const again = (await debit(pool, { organizationId: org, key, amount: '0.73' })) as Movement;
      expect(again).toEqual({ entry, replayed: true });
    }
    expect((await expectConsistent(org)).balance).toBe('0.72000000');
  });

  it('credits, reversals, holds and debits racing on one account keep every invariant', async () => {
    const org = await funded('20');
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 120; i++) {
      const key = `mix-${i % 100}`; // 20 of them retried while the first is in flight
      calls.push(outcome(debit(pool, { organizationId: org, key, amount: '0.3' })));
      if (i % 10 === 0)
        calls.push(outcome(credit(pool, { organizationId: org, key: `top-${i}`, kind: 'purchase', amount: '1' })));
      if (i % 24 === 0) calls.push(outcome(reverseCredit(pool, { organizationId: org, key: `rev-${i}`, amount: '4' })));
      if (i % 6 === 0) {
        calls.push(
          outcome(
            reserve(pool, { organizationId: org, key: `job-${i}`, amount: '0.5' }).then((r) =>
              i % 12 === 0
                ? capture(pool, { organizationId: org, holdId: r.hold.id, amount: '0.2' })
                : releaseHold(pool, { organizationId: org, holdId: r.hold.id }),
            ),
          ),
        );
      }
    }
    const results = await Promise.all(calls);
    const refusals = results.filter((r) => typeof r === 'string');
    expect(
      new Set(refusals).size <= 2 && refusals.every((r) => r === 'insufficient_credits' || r === 'account_owes'),
    ).toBe(true);
    const figures = await expectConsistent(org);
    expect(figures.held).toBe('0.00000000');
  });

  it('refuses a key reused with another amount or operation, and moves nothing', async () => {
    const org = await funded('10');
    const first = await debit(pool, { organizationId: org, key: 'k1', amount: '1.5' });
    expect(first.replayed).toBe(false);
    expect(await outcome(debit(pool, { organizationId: org, key: 'k1', amount: '1.50000001' }))).toBe(
      'idempotency_conflict',
    );
    expect(await outcome(credit(pool, { organizationId: org, key: 'k1', kind: 'grant', amount: '1.5' }))).toBe(
      'idempotency_conflict',
    );
    expect(await outcome(reverseCredit(pool, { organizationId: org, key: 'k1', amount: '1.5' }))).toBe(
      'idempotency_conflict',
    );
    // The same amount spelled differently is the same request.
    expect(await debit(pool, { organizationId: org, key: 'k1', amount: '1.50000000' })).toEqual({
      entry: first.entry,
      replayed: true,
    });
    expect((await expectConsistent(org)).balance).toBe('8.50000000');
  });

  it('refuses malformed input with a clear domain error before touching the database', async () => {
    const org = await funded('1');
    for (const amount of ['-1', '0', '1e2', '0.000000001', '1.', ' 1', '1000000000000']) {
      expect(await outcome(debit(pool, { organizationId: org, key: 'x', amount }))).toBe('invalid_amount');
    }
    expect(await outcome(debit(pool, { organizationId: org, key: 'x', amount: 1 as unknown as string }))).toBe(
      'invalid_amount',
    );
    for (const key of ['', 'has space', 'x'.repeat(201), 'tab\t']) {
      expect(await outcome(debit(pool, { organizationId: org, key, amount: '0.1' }))).toBe('invalid_input');
    }
    expect(await outcome(credit(pool, { organizationId: org, key: 'c', kind: 'usage' as 'grant', amount: '1' }))).toBe(
      'invalid_input',
    );
    expect((await expectConsistent(org)).balance).toBe('1.00000000');
  });

  it('an account with no credits refuses a debit', async () => {
    const org = await newOrganization();
    expect(await outcome(debit(pool, { organizationId: org, key: 'x', amount: '0.01' }))).toBe('insufficient_credits');
    expect(await getAccount(pool, org)).toEqual({
      currency: 'USDC',
      balance: '0.00000000',
      held: '0.00000000',
      available: '0.00000000',
      owed: '0.00000000',
    });
  });

  it('books a payment reference once, whatever the key', async () => {
    const org = await newOrganization();
    await credit(pool, { organizationId: org, key: 'p1', kind: 'purchase', amount: '5', reference: 'pi_1' });
    expect(
      await outcome(credit(pool, { organizationId: org, key: 'p2', kind: 'purchase', amount: '5', reference: 'pi_1' })),
    ).toBe('duplicate_reference');
    expect((await expectConsistent(org)).balance).toBe('5.00000000');
  });
});

describe('holds', () => {
  it('reserves racing debits take exactly what fits; captures clamp; releases and the sweeper give back', async () => {
    const org = await funded('30');
    const reserves = Array.from({ length: 50 }, (_, i) =>
      outcome(reserve(pool, { organizationId: org, key: `task-${i}`, amount: '1' })),
    );
    const debits = Array.from({ length: 20 }, (_, i) =>
      outcome(debit(pool, { organizationId: org, key: `call-${i}`, amount: '1' })),
    );
    const [held, charged] = await Promise.all([Promise.all(reserves), Promise.all(debits)]);
    const holds = held.filter((r) => typeof r !== 'string');
    const paid = charged.filter((r) => typeof r !== 'string');
    expect([...held, ...charged].filter((r) => typeof r === 'string').every((r) => r === 'insufficient_credits')).toBe(
      true,
    );
    expect(holds.length + paid.length).toBe(30);
    let figures = await expectConsistent(org);
    expect(toUnits(figures.held)).toBe(BigInt(holds.length) * 100_000_000n);
    expect((await getAccount(pool, org)).available).toBe('0.00000000');
    // Everything left is held: a debit of the smallest amount is refused.
    expect(await outcome(debit(pool, { organizationId: org, key: 'tiny', amount: '0.00000001' }))).toBe(
      'insufficient_credits',
    );
    expect(holds.length).toBeGreaterThanOrEqual(5);
    const [over, under, zero, released, expiring] = holds.map((h) => h.hold);

    // A retried reserve answers with its hold; another amount under its key is refused.
    const again = await reserve(pool, { organizationId: org, key: over!.key, amount: '1.0' });
    expect(again).toEqual({ hold: over, replayed: true });
    expect(await outcome(reserve(pool, { organizationId: org, key: over!.key, amount: '2' }))).toBe(
      'idempotency_conflict',
    );

    // Captures: over the hold is clamped to it, under takes what was asked, zero takes nothing; the rest goes back.
    const overCapture = await capture(pool, { organizationId: org, holdId: over!.id, amount: '5' });
    expect(overCapture.entry).toMatchObject({ kind: 'capture', amount: '-1.00000000', holdId: over!.id });
    expect(overCapture.hold).toMatchObject({
      status: 'captured',
      captured: '1.00000000',
      captureRequested: '5.00000000',
    });
    const underCapture = await capture(pool, { organizationId: org, holdId: under!.id, amount: '0.25' });
    expect(underCapture.entry).toMatchObject({ amount: '-0.25000000' });
    const zeroCapture = await capture(pool, { organizationId: org, holdId: zero!.id, amount: '0' });
    expect(zeroCapture.entry).toBeNull();
    expect(zeroCapture.hold.captured).toBe('0.00000000');
    expect((await expectConsistent(org)).held).toBe(formatAmount(BigInt(holds.length - 3) * 100_000_000n));
    expect(await getAccount(pool, org)).toMatchObject({ available: '1.75000000' });

    // A re-capture is a no-op answered with the original; another amount is refused.
    const before = await expectConsistent(org);
    expect(await capture(pool, { organizationId: org, holdId: under!.id, amount: '0.25' })).toEqual({
      ...underCapture,
      replayed: true,
    });
    expect(await outcome(capture(pool, { organizationId: org, holdId: under!.id, amount: '0.5' }))).toBe(
      'idempotency_conflict',
    );
    expect(await expectConsistent(org)).toEqual(before);

    // Release: the whole hold back, once; a released hold cannot be captured, a captured one not released.
    const release = await releaseHold(pool, { organizationId: org, holdId: released!.id });
    expect(release).toMatchObject({ replayed: false, hold: { status: 'released' } });
    expect(await releaseHold(pool, { organizationId: org, holdId: released!.id })).toEqual({
      hold: release.hold,
      replayed: true,
    });
    expect(await outcome(capture(pool, { organizationId: org, holdId: released!.id, amount: '1' }))).toBe(
      'hold_not_active',
    );
    expect(await outcome(releaseHold(pool, { organizationId: org, holdId: over!.id }))).toBe('hold_not_active');
    expect(await outcome(capture(pool, { organizationId: org, holdId: randomUUID(), amount: '1' }))).toBe(
      'hold_not_found',
    );
    expect(await outcome(capture(pool, { organizationId: org, holdId: 'not-a-uuid', amount: '1' }))).toBe(
      'hold_not_found',
    );
    expect(await getAccount(pool, org)).toMatchObject({ available: '2.75000000' });

    // The sweeper frees a hold past its expiry, and only that one.
    await db.pool.query(`UPDATE credit_holds SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      expiring!.id,
    ]);
    expect(await releaseExpiredHolds(pool)).toBe(1);
    expect(await releaseExpiredHolds(pool)).toBe(0);
    expect(await outcome(capture(pool, { organizationId: org, holdId: expiring!.id, amount: '1' }))).toBe(
      'hold_not_active',
    );
    expect(await getAccount(pool, org)).toMatchObject({ available: '3.75000000' });

    // Release what is left: nothing held, the ledger still equals the balance.
    for (const { hold } of holds.slice(5)) await releaseHold(pool, { organizationId: org, holdId: hold.id });
    figures = await expectConsistent(org);
    expect(figures.held).toBe('0.00000000');
    expect(toUnits(figures.balance)).toBe(30n * 100_000_000n - BigInt(paid.length) * 100_000_000n - 125_000_000n);
  });

  it('the maintenance run releases expired holds', async () => {
    const org = await funded('3');
    const { hold } = await reserve(pool, { organizationId: org, key: 'late', amount: '2', ttlSeconds: 60 });
    const maintenance = createMaintenanceActivities({ pool, logger: testLogger });
    expect((await maintenance.applyRetention()).expiredHoldsReleased).toBe(0);
    await db.pool.query(`UPDATE credit_holds SET expires_at = now() WHERE id = $1`, [hold.id]);
    expect((await maintenance.applyRetention()).expiredHoldsReleased).toBe(1);
    expect(await getAccount(pool, org)).toMatchObject({ held: '0.00000000', available: '3.00000000' });
    await expectConsistent(org);
  });

  it('concurrent captures and releases of one hold settle it once', async () => {
    const org = await funded('10');
    const { hold } = await reserve(pool, { organizationId: org, key: 'job', amount: '4' });
    const results = await Promise.all([
      ...Array.from({ length: 10 }, () =>
        outcome(capture(pool, { organizationId: org, holdId: hold.id, amount: '3' })),
      ),
      ...Array.from({ length: 5 }, () => outcome(releaseHold(pool, { organizationId: org, holdId: hold.id }))),
    ]);
    const fresh = results.filter((r) => typeof r !== 'string' && !r.replayed);
    expect(fresh).toHaveLength(1);
    const figures = await expectConsistent(org);
    expect(figures.held).toBe('0.00000000');
    expect(['7.00000000', '10.00000000']).toContain(figures.balance);
  });
});

describe('debt after a reversed payment', () => {
  it('clamps the reversal to the available credits, records the rest as owed and refuses paid calls until settled', async () => {
    const org = await newOrganization();
    await credit(pool, { organizationId: org, key: 'buy', kind: 'purchase', amount: '10', reference: 'cs_1' });
    await debit(pool, { organizationId: org, key: 'spend', amount: '6' });
    const { hold } = await reserve(pool, { organizationId: org, key: 'running', amount: '1' });

    // 10 reversed, 3 available (1 is held for work under way): 3 taken, 7 owed.
    const reversal = await reverseCredit(pool, { organizationId: org, key: 'refund:re_1', amount: '10' });
    expect(reversal.entry).toMatchObject({
      kind: 'reversal',
      amount: '-10.00000000',
      balanceChange: '-3.00000000',
      owedChange: '7.00000000',
      balanceAfter: '1.00000000',
    });
    expect(await getAccount(pool, org)).toMatchObject({
      balance: '1.00000000',
      held: '1.00000000',
      owed: '7.00000000',
    });
    expect(await reverseCredit(pool, { organizationId: org, key: 'refund:re_1', amount: '10' })).toEqual({
      entry: reversal.entry,
      replayed: true,
    });

    expect(await outcome(debit(pool, { organizationId: org, key: 'call', amount: '0.01' }))).toBe('account_owes');
    expect(await outcome(reserve(pool, { organizationId: org, key: 'task', amount: '0.01' }))).toBe('account_owes');
    // Work already under way is still charged.
    await capture(pool, { organizationId: org, holdId: hold.id, amount: '0.5' });

    // A credit settles the debt first.
    const partly = await credit(pool, { organizationId: org, key: 'buy2', kind: 'purchase', amount: '5' });
    expect(partly.entry).toMatchObject({
      amount: '5.00000000',
      balanceChange: '0.00000000',
      owedChange: '-5.00000000',
    });
    expect(await outcome(debit(pool, { organizationId: org, key: 'call', amount: '0.01' }))).toBe('account_owes');
    const settled = await credit(pool, { organizationId: org, key: 'grant', kind: 'grant', amount: '3' });
    expect(settled.entry).toMatchObject({ balanceChange: '1.00000000', owedChange: '-2.00000000' });
    expect(await getAccount(pool, org)).toMatchObject({ balance: '1.50000000', owed: '0.00000000' });
    expect((await debit(pool, { organizationId: org, key: 'call', amount: '0.01' })).replayed).toBe(false);
    await expectConsistent(org);
  });

  it('a reversal on an account that never had credits is all owed', async () => {
    const org = await newOrganization();
    const { entry } = await reverseCredit(pool, { organizationId: org, key: 'dispute:dp_1', amount: '2' });
    expect(entry).toMatchObject({ balanceChange: '0.00000000', owedChange: '2.00000000', balanceAfter: '0.00000000' });
    expect((await expectConsistent(org)).owed).toBe('2.00000000');
  });
});

describe('reads', () => {
  let org: string;
  beforeAll(async () => {
    org = await funded('50');
    for (let i = 0; i < 23; i++) await debit(pool, { organizationId: org, key: `d${i}`, amount: '0.5' });
    const { hold } = await reserve(pool, { organizationId: org, key: 'h', amount: '2' });
    await capture(pool, { organizationId: org, holdId: hold.id, amount: '1.25' });
    await credit(pool, { organizationId: org, key: 'bonus', kind: 'bonus', amount: '1' });
  });

  it('pages the ledger newest first with a keyset cursor, every entry once', async () => {
    const seen: LedgerEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await listEntries(pool, org, { limit: 7, cursor });
      expect(page.entries.length).toBeLessThanOrEqual(7);
      seen.push(...page.entries);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(26);
    expect(new Set(seen.map((e) => e.id)).size).toBe(26);
    const seqs = seen.map((e) => BigInt(e.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => (a < b ? 1 : -1)));
    expect(seen[0]).toMatchObject({ kind: 'bonus', amount: '1.00000000' });
    expect(seen.at(-1)).toMatchObject({ kind: 'grant', amount: '50.00000000' });
    expect(formatAmount(seen.reduce((sum, e) => sum + toUnits(e.balanceChange), 0n))).toBe(
      (await getAccount(pool, org)).balance,
    );
  });

  it('filters by kind and time, and refuses a malformed query', async () => {
    const captures = await listEntries(pool, org, { kinds: ['capture'] });
    expect(captures.entries.map((e) => e.amount)).toEqual(['-1.25000000']);
    expect((await listEntries(pool, org, { kinds: ['usage', 'grant'], limit: 200 })).entries).toHaveLength(24);
    expect((await listEntries(pool, org, { from: new Date(Date.now() + 60_000) })).entries).toEqual([]);
    expect((await listEntries(pool, org, { to: new Date(Date.now() - 86_400_000) })).entries).toEqual([]);
    expect(await outcome(listEntries(pool, org, { limit: 0 }))).toBe('invalid_input');
    expect(await outcome(listEntries(pool, org, { cursor: 'abc' }))).toBe('invalid_input');
    expect(await outcome(listEntries(pool, org, { kinds: ['gift' as 'grant'] }))).toBe('invalid_input');
  });

  it('sums charges per day and per month', async () => {
    const today = new Date().toISOString().slice(0, 10);
    // 23 × 0.5 + the 1.25 captured.
    expect(await usage(pool, org, { period: 'day' })).toEqual([
      { periodStart: today, spent: '12.75000000', charges: 24 },
    ]);
    expect(await usage(pool, org, { period: 'month' })).toEqual([
      { periodStart: `${today.slice(0, 7)}-01`, spent: '12.75000000', charges: 24 },
    ]);
    expect(await usage(pool, org, { period: 'day', to: new Date(Date.now() - 86_400_000) })).toEqual([]);
    expect(await outcome(usage(pool, org, { period: 'week' as 'day' }))).toBe('invalid_input');
  });
});

describe('tenant isolation (row security through the app role)', () => {
  it('another organization can neither read nor move the account, its ledger or its holds', async () => {
    const orgA = await funded('5');
    const { hold } = await reserve(pool, { organizationId: orgA, key: 'a-task', amount: '1' });
    const orgB = await funded('1');
    const asA = new TenantDb(tenantPool, orgA);
    const asB = new TenantDb(tenantPool, orgB);

    // Through A's own tenant handle everything works, writes included.
    expect((await debit(asA, { organizationId: orgA, key: 'a-call', amount: '1' })).replayed).toBe(false);
    expect(await getAccount(asA, orgA)).toMatchObject({ balance: '4.00000000', held: '1.00000000' });
    expect((await listEntries(asA, orgA)).entries).toHaveLength(2);

    // Through B's, A's rows do not exist, even when asked for by A's id.
    expect(await getAccount(asB, orgA)).toMatchObject({ balance: '0.00000000', held: '0.00000000' });
    expect((await listEntries(asB, orgA)).entries).toEqual([]);
    expect(await usage(asB, orgA, { period: 'month' })).toEqual([]);
    expect(await outcome(debit(asB, { organizationId: orgA, key: 'b-steals', amount: '1' }))).toBe(
      'insufficient_credits',
    );
    expect(await outcome(capture(asB, { organizationId: orgA, holdId: hold.id, amount: '1' }))).toBe('hold_not_found');
    expect(await outcome(releaseHold(asB, { organizationId: orgA, holdId: hold.id }))).toBe('hold_not_found');
    expect((await asB.query('SELECT id FROM credit_holds')).rows).toEqual([]);
    expect((await asB.query('SELECT organization_id FROM credit_transactions')).rows).toEqual([
      { organization_id: orgB },
    ]);
    // A credit for A through B's handle cannot write A's rows.
    await expect(
      credit(asB, { organizationId: orgA, key: 'b-gift', kind: 'grant', amount: '1' }),
    ).rejects.toMatchObject({ code: '42501' });

    expect(await expectConsistent(orgA)).toEqual({ balance: '4.00000000', held: '1.00000000', owed: '0.00000000' });
    expect((await expectConsistent(orgB)).balance).toBe('1.00000000');
  });
});

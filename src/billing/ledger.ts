/**
 * The credits ledger: one account per organization in USDC with 8 decimals (`credits`), every movement a row of
 * `credit_transactions` written in the same transaction as the balance it changes, holds for long work (./holds.ts).
 *
 * Invariants, under any concurrency: balance >= held >= 0 (the charge is a guarded UPDATE, the database checks the
 * rest); sum(ledger amounts) = balance; sum(ledger owed changes) = owed; sum(active holds) = held.
 *
 * Every operation is idempotent by a key per organization: a retry returns the original entry (`replayed: true`) and
 * moves nothing; the same key with another operation or amount is refused (`idempotency_conflict`). A refusal
 * (insufficient credits, debt) is not recorded: a retry after a top-up is a new attempt.
 *
 * Functions take any `Db`: the owner pool (webhooks, workers, operators) or an organization's `TenantDb` (API), whose
 * row security then applies as well. They throw `BillingError` for anything the caller can fix or be told.
 */
import type pg from 'pg';
import type { Db } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import { formatAmount, minUnits, parseAmount, toUnits } from './amount.js';
import { BillingError } from './errors.js';
import { listActiveHolds, type Hold } from './holds.js';
import {
  CREDIT_KINDS,
  CURRENCY,
  ENTRY_KINDS,
  findEntry,
  insertEntry,
  lockAccount,
  parseKey,
  readAccount,
  refusal,
  selectEntries,
  chargeWithRecord,
  type ChargedRecord,
  type AccountRow,
  type CreditKind,
  type EntryKind,
  type LedgerEntry,
  type Movement,
} from './store.js';

export { CREDIT_KINDS, CURRENCY, ENTRY_KINDS };
export type { ChargedRecord, CreditKind, EntryKind, LedgerEntry, Movement };
export { capture, listActiveHolds, releaseExpiredHolds, releaseHold, reserve } from './holds.js';
export type { CaptureOutcome, Hold, HoldOutcome, HoldStatus } from './holds.js';

export interface Account {
  currency: typeof CURRENCY;
  balance: string;
  /** Reserved by active holds. */
  held: string;
  /** balance − held: what a charge or a new hold may take. */
  available: string;
  /** Owed after a reversed payment; paid calls are refused while it is above zero. */
  owed: string;
}

/** What every movement carries. `amount` is a decimal string (see parseAmount); `key` its idempotency key. */
interface MovementRequest {
  organizationId: string;
  key: string;
  amount: string;
  description?: string;
  /** An outside reference, such as a payment id (a purchase or refund reference is booked only once). */
  reference?: string;
}

export interface CreditRequest extends MovementRequest {
  kind: CreditKind;
}

/** Adds credits; a debt the account owes is settled first (the entry shows how much in `owedChange`). */
export async function credit(db: Db, request: CreditRequest): Promise<Movement> {
  if (!(CREDIT_KINDS as readonly string[]).includes(request.kind)) {
    throw new BillingError('invalid_input', `a credit is one of ${CREDIT_KINDS.join(', ')}`);
  }
  return adjustAccount(db, request, request.kind, 1n, (account, amount) => {
    const settled = minUnits(account.owed, amount);
    return { balanceChange: amount - settled, owedChange: -settled };
  });
}

/**
 * Charges a paid call: the balance and its ledger row in one transaction, refused (`insufficient_credits`) when the
 * available credits do not cover it and (`account_owes`) while the account owes. The hot path: a guarded UPDATE that
 * waits for the row lock and re-checks the guard on the newest row, then the keyed insert; two statements in one
 * transaction, never one CTE (the UPDATE would apply even when the insert finds the key taken).
 */
export async function debit(db: Db, request: MovementRequest): Promise<Movement> {
  const { organizationId, key, amount } = parseMovement(request);
  return keyedMovement(db, key, { organizationId, kind: 'usage', amount: -amount }, (client) =>
    charge(client, request, organizationId, key, amount),
  );
}

/**
 * Charges a paid call together with the row it pays for (a usage row), in one statement: see chargeWithRecord. The
 * ledger key is `keyPrefix` + the row's id. Undefined when the charge is refused and nothing was written: the caller
 * tells a retry of its own request from a refusal, which `chargeRefusal` explains.
 */
export async function debitWithRecord(
  db: Db,
  request: { organizationId: string; amount: string; keyPrefix: string; description?: string },
  record: ChargedRecord,
): Promise<{ recordId: string; movement: Movement } | undefined> {
  // The key will be the prefix and the record's id (a UUID): refuse a prefix that cannot make a valid key.
  parseKey(`${request.keyPrefix}00000000-0000-0000-0000-000000000000`);
  const charged = await chargeWithRecord(
    db,
    {
      organizationId: request.organizationId,
      amount: parseAmount(request.amount),
      keyPrefix: request.keyPrefix,
      description: request.description ?? null,
    },
    record,
  );
  return charged && { recordId: charged.recordId, movement: { entry: charged.entry, replayed: false } };
}

/** Why a charge of `amount` is refused on the account as it is now (insufficient credits, or a debt). */
export async function chargeRefusal(db: Db, organizationId: string, amount: string): Promise<BillingError> {
  return refusal(await readAccount(db, organizationId), parseAmount(amount));
}

async function charge(
  client: pg.PoolClient,
  request: MovementRequest,
  organizationId: string,
  key: string,
  amount: bigint,
): Promise<Movement> {
  const charged = await client.query<{ balance: string }>(
    `UPDATE credits SET balance = balance - $3
     WHERE organization_id = $1 AND currency = $2 AND owed = 0 AND balance - held >= $3 RETURNING balance::text`,
    [organizationId, CURRENCY, formatAmount(amount)],
  );
  if (charged.rowCount === 0) {
    // A retry of a charge that emptied the account lands here too: the original answers it.
    const original = await findEntry(client, organizationId, key);
    if (original) return replayOf(original);
    throw refusal(await lockAccount(client, organizationId), amount);
  }
  return fresh(
    await insertEntry(client, {
      ...describe(request),
      organizationId,
      kind: 'usage',
      key,
      balanceChange: -amount,
      balanceAfter: charged.rows[0]!.balance,
    }),
  );
}

/**
 * Takes back credits of a reversed payment (refund, dispute). What the available credits cover leaves the balance;
 * the rest, already spent, is recorded as owed, and paid calls are refused until a credit settles it.
 */
export async function reverseCredit(db: Db, request: MovementRequest): Promise<Movement> {
  return adjustAccount(db, request, 'reversal', -1n, (account, amount) => {
    // Credits reserved by holds stay: the work they pay for is under way.
    const taken = minUnits(amount, account.balance - account.held);
    return { balanceChange: -taken, owedChange: amount - taken };
  });
}

/** The account's figures; an organization that never had credits has an empty one. */
export async function getAccount(db: Db, organizationId: string): Promise<Account> {
  const { rows } = await db.query<{ balance: string; held: string; owed: string; available: string }>(
    `SELECT balance::text, held::text, owed::text, (balance - held)::text AS available
     FROM credits WHERE organization_id = $1 AND currency = $2`,
    [organizationId, CURRENCY],
  );
  const zero = formatAmount(0n);
  const row = rows[0] ?? { balance: zero, held: zero, owed: zero, available: zero };
  return { currency: CURRENCY, ...row };
}

/** The account's figures and the holds that make up `held` (the billing API's balance view). */
export async function getAccountWithHolds(db: Db, organizationId: string): Promise<Account & { holds: Hold[] }> {
  const [account, holds] = await Promise.all([getAccount(db, organizationId), listActiveHolds(db, organizationId)]);
  return { ...account, holds };
}

export const MAX_PAGE_SIZE = 200;

export interface EntriesQuery {
  kinds?: readonly EntryKind[];
  /** Entries created at or after. */
  from?: Date;
  /** Entries created before. */
  to?: Date;
  /** 1 to MAX_PAGE_SIZE; 50 when absent. */
  limit?: number;
  /** The previous page's `nextCursor`. */
  cursor?: string;
}

export interface EntriesPage {
  entries: LedgerEntry[];
  /** Absent on the last page. */
  nextCursor?: string;
}

/** The ledger, newest first, in keyset pages (stable while entries are added). */
export async function listEntries(db: Db, organizationId: string, query: EntriesQuery = {}): Promise<EntriesPage> {
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new BillingError('invalid_input', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  const unknownKind = query.kinds?.find((k) => !(ENTRY_KINDS as readonly string[]).includes(k));
  if (unknownKind !== undefined) {
    throw new BillingError('invalid_input', `unknown entry kind ${JSON.stringify(unknownKind)}`);
  }
  if (query.cursor !== undefined && !/^[1-9]\d{0,18}$/.test(query.cursor)) {
    throw new BillingError('invalid_input', 'cursor is not one this listing returned');
  }
  const rows = await selectEntries(db, organizationId, { ...query, beforeSeq: query.cursor, limit: limit + 1 });
  const entries = rows.slice(0, limit);
  return rows.length > limit ? { entries, nextCursor: entries[entries.length - 1]!.seq } : { entries };
}

export type UsagePeriod = 'day' | 'month';

export interface UsageQuery {
  period: UsagePeriod;
  /** Inclusive; 30 days (day) or a year (month) before `to` when absent. */
  from?: Date;
  /** Exclusive; now when absent. */
  to?: Date;
}

export interface UsageRow {
  /** The period's first day (UTC), YYYY-MM-DD. */
  periodStart: string;
  /** Charged in the period (paid calls and captured holds), a positive decimal string. */
  spent: string;
  charges: number;
}

/** Charges summed per UTC day or month; periods without charges are left out. */
export async function usage(db: Db, organizationId: string, query: UsageQuery): Promise<UsageRow[]> {
  if (query.period !== 'day' && query.period !== 'month') {
    throw new BillingError('invalid_input', 'period is day or month');
  }
  const to = query.to ?? new Date();
  const from = query.from ?? new Date(to.getTime() - (query.period === 'day' ? 30 : 365) * 86_400_000);
  const { rows } = await db.query<{ period_start: string; spent: string; charges: number }>(
    `SELECT to_char(date_trunc($3, created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS period_start,
            (-sum(amount))::text AS spent, count(*)::int AS charges
     FROM credit_transactions
     WHERE organization_id = $1 AND currency = $2 AND type IN ('usage', 'capture') AND created_at >= $4 AND created_at < $5
     GROUP BY 1 ORDER BY 1`,
    [organizationId, CURRENCY, query.period, from, to],
  );
  return rows.map((r) => ({ periodStart: r.period_start, spent: r.spent, charges: r.charges }));
}

function parseMovement(request: MovementRequest) {
  return { organizationId: request.organizationId, key: parseKey(request.key), amount: parseAmount(request.amount) };
}

const describe = (request: MovementRequest) => ({
  description: request.description ?? null,
  reference: request.reference ?? null,
});

/**
 * A credit or a reversal: under the account's lock (opening the account if need be) the key is checked again, then
 * balance and owed move as `change` says and the entry is written. `sign` says whether the operation adds or takes.
 */
async function adjustAccount(
  db: Db,
  request: MovementRequest,
  kind: EntryKind,
  sign: 1n | -1n,
  change: (account: AccountRow, amount: bigint) => { balanceChange: bigint; owedChange: bigint },
): Promise<Movement> {
  const { organizationId, key, amount } = parseMovement(request);
  return keyedMovement(db, key, { organizationId, kind, amount: sign * amount }, async (client) => {
    const account = (await lockAccount(client, organizationId, { create: true }))!;
    const original = await findEntry(client, organizationId, key);
    if (original) return replayOf(original);
    const { balanceChange, owedChange } = change(account, amount);
    const balance = account.balance + balanceChange;
    await client.query(`UPDATE credits SET balance = $3, owed = $4 WHERE organization_id = $1 AND currency = $2`, [
      organizationId,
      CURRENCY,
      formatAmount(balance),
      formatAmount(account.owed + owedChange),
    ]);
    return fresh(
      await insertEntry(client, {
        ...describe(request),
        organizationId,
        kind,
        key,
        balanceChange,
        owedChange,
        balanceAfter: balance,
      }),
    );
  });
}

/** A key taken by a transaction that committed while ours ran: ours rolls back, the original answers. */
class KeyTaken extends Error {}

const replayOf = (entry: LedgerEntry): Movement => ({ entry, replayed: true });

/** A fresh entry; none when its key was taken meanwhile (the transaction then rolls back). */
function fresh(entry: LedgerEntry | undefined): Movement {
  if (!entry) throw new KeyTaken();
  return { entry, replayed: false };
}

/**
 * Runs `apply` in a transaction and checks that a replayed entry (found under the lock, or taken at insert time by a
 * concurrent transaction with the same key) was the same operation and amount. The original is read after our
 * transaction ended, never with a pool query while its client is held (that deadlocks an exhausted pool).
 */
async function keyedMovement(
  db: Db,
  key: string,
  expected: { organizationId: string; kind: EntryKind; amount: bigint },
  apply: (client: pg.PoolClient) => Promise<Movement>,
): Promise<Movement> {
  let outcome: Movement;
  try {
    outcome = await withTransaction(db, apply);
  } catch (err) {
    if (!(err instanceof KeyTaken)) throw err;
    const original = await findEntry(db, expected.organizationId, key);
    if (!original) throw new Error(`the ledger entry of key ${key} vanished`, { cause: err });
    outcome = replayOf(original);
  }
  const { entry } = outcome;
  if (outcome.replayed && (entry.kind !== expected.kind || toUnits(entry.amount) !== expected.amount)) {
    throw new BillingError(
      'idempotency_conflict',
      `the key ${JSON.stringify(key)} was already used for a ${entry.kind} of ${entry.amount} ${CURRENCY}`,
    );
  }
  return outcome;
}

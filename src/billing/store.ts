/**
 * The SQL the ledger operations share (src/billing/ledger.ts, src/billing/holds.ts): the account row, ledger rows and
 * the refusals. Amounts cross into SQL as canonical strings and come back as numeric text; arithmetic in between is
 * on bigint units.
 */
import type pg from 'pg';
import type { Queryable } from '../db/transaction.js';
import { formatAmount, toUnits } from './amount.js';
import { BillingError } from './errors.js';

/** The one currency of the ledger for now; accounts and rows carry it so that others can follow. */
export const CURRENCY = 'USDC';

/** Something to query: a pool, an organization-scoped TenantDb, or the client of the current transaction. */

export const CREDIT_KINDS = ['purchase', 'grant', 'bonus', 'refund'] as const;
/** What adds credits: a purchase, a grant (operator, plan-included credits), a bonus, a refund of a charge. */
export type CreditKind = (typeof CREDIT_KINDS)[number];
/** usage: a paid call; capture: a hold's charge; reversal: a payment taken back (refund or dispute). */
export const ENTRY_KINDS = [...CREDIT_KINDS, 'usage', 'capture', 'reversal'] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

export interface LedgerEntry {
  id: string;
  /** Position in the ledger (increasing): the paging cursor. */
  seq: string;
  kind: EntryKind;
  /** The operation's value, signed: what was credited (+), charged or reversed (−). */
  amount: string;
  /** How the balance moved; less than `amount` when part of it settled or recorded a debt (`owedChange`). */
  balanceChange: string;
  owedChange: string;
  balanceAfter: string;
  /** The operation's idempotency key; null for a capture (keyed by its hold). */
  key: string | null;
  holdId: string | null;
  description: string | null;
  /** An outside reference, such as a payment id. */
  reference: string | null;
  createdAt: Date;
}

export interface Movement {
  entry: LedgerEntry;
  /** True when the key had been applied before: this call moved nothing and returns the original entry. */
  replayed: boolean;
}

// Printable ASCII without spaces (payment ids, task ids, UUIDs), as long as the column allows.
const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

export function parseKey(key: unknown): string {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) {
    throw new BillingError('invalid_input', 'an idempotency key is 1 to 200 printable ASCII characters without spaces');
  }
  return key;
}

export interface AccountRow {
  balance: bigint;
  held: bigint;
  owed: bigint;
}

/**
 * Locks the organization's account row until the transaction ends; every operation but the debit (a guarded UPDATE,
 * which takes the same lock) starts here, so operations on one account run one at a time and always take the account
 * before a hold. `create` opens an empty account when there is none; without it a missing account is undefined.
 */
export async function lockAccount(
  client: pg.PoolClient,
  organizationId: string,
  options: { create?: boolean } = {},
): Promise<AccountRow | undefined> {
  if (options.create) {
    await client.query(
      `INSERT INTO credits (organization_id, currency) VALUES ($1, $2) ON CONFLICT (organization_id, currency) DO NOTHING`,
      [organizationId, CURRENCY],
    );
  }
  return selectAccount(client, organizationId, 'FOR UPDATE');
}

async function selectAccount(
  db: Queryable,
  organizationId: string,
  lock: 'FOR UPDATE' | '',
): Promise<AccountRow | undefined> {
  const { rows } = await db.query<{ balance: string; held: string; owed: string }>(
    `SELECT balance::text, held::text, owed::text FROM credits WHERE organization_id = $1 AND currency = $2 ${lock}`,
    [organizationId, CURRENCY],
  );
  const row = rows[0];
  return row && { balance: toUnits(row.balance), held: toUnits(row.held), owed: toUnits(row.owed) };
}

/** Why a charge or reservation of `amount` is refused on this account (undefined: it has never held credits). */
export function refusal(account: AccountRow | undefined, amount: bigint): BillingError {
  const { balance, held, owed } = account ?? { balance: 0n, held: 0n, owed: 0n };
  if (owed > 0n) {
    return new BillingError(
      'account_owes',
      `the account owes ${formatAmount(owed)} ${CURRENCY} from a reversed payment; paid calls are refused until it is settled`,
    );
  }
  return new BillingError(
    'insufficient_credits',
    `${formatAmount(amount)} ${CURRENCY} needed, ${formatAmount(balance - held)} available (balance ${formatAmount(balance)}, held ${formatAmount(held)})`,
  );
}

const ENTRY_COLUMNS = `id, seq, type AS kind, (amount - owed_delta)::text AS amount, amount::text AS balance_change,
  owed_delta::text AS owed_change, balance_after::text AS balance_after, idempotency_key, hold_id, description,
  reference_id, created_at`;

interface EntryRow {
  id: string;
  seq: string;
  kind: EntryKind;
  amount: string;
  balance_change: string;
  owed_change: string;
  balance_after: string;
  idempotency_key: string | null;
  hold_id: string | null;
  description: string | null;
  reference_id: string | null;
  created_at: Date;
}

const entryOf = (row: EntryRow): LedgerEntry => ({
  id: row.id,
  seq: row.seq,
  kind: row.kind,
  amount: row.amount,
  balanceChange: row.balance_change,
  owedChange: row.owed_change,
  balanceAfter: row.balance_after,
  key: row.idempotency_key,
  holdId: row.hold_id,
  description: row.description,
  reference: row.reference_id,
  createdAt: row.created_at,
});

export async function findEntry(db: Queryable, organizationId: string, key: string): Promise<LedgerEntry | undefined> {
  const { rows } = await db.query<EntryRow>(
    `SELECT ${ENTRY_COLUMNS} FROM credit_transactions WHERE organization_id = $1 AND idempotency_key = $2`,
    [organizationId, key],
  );
  return rows[0] && entryOf(rows[0]);
}

export async function findCaptureEntry(db: Queryable, holdId: string): Promise<LedgerEntry | undefined> {
  const { rows } = await db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM credit_transactions WHERE hold_id = $1`, [
    holdId,
  ]);
  return rows[0] && entryOf(rows[0]);
}

export interface EntryFilter {
  kinds?: readonly EntryKind[];
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  /** Only entries before this seq (the previous page's cursor). */
  beforeSeq?: string;
  limit: number;
}

/** The organization's entries, newest first. */
export async function selectEntries(db: Queryable, organizationId: string, f: EntryFilter): Promise<LedgerEntry[]> {
  const { rows } = await db.query<EntryRow>(
    `SELECT ${ENTRY_COLUMNS} FROM credit_transactions
     WHERE organization_id = $1 AND currency = $2 AND ($3::text[] IS NULL OR type = ANY($3))
       AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
       AND ($6::bigint IS NULL OR seq < $6)
     ORDER BY seq DESC LIMIT $7`,
    [organizationId, CURRENCY, f.kinds ?? null, f.from ?? null, f.to ?? null, f.beforeSeq ?? null, f.limit],
  );
  return rows.map(entryOf);
}

/**
 * A row of the caller's that a charge pays for: `insert` is an INSERT … SELECT … FROM charged RETURNING id over
 * `params` ($1…$n), so the row is written only when the charge applied. It must raise on a duplicate (no ON CONFLICT):
 * the raise undoes the charge with the statement. `name` (one per insert text) prepares the statement once per
 * connection: it is on the hot path of every paid call.
 */
export interface ChargedRecord {
  name: string;
  insert: string;
  params: unknown[];
}

/**
 * The guarded charge of a paid call, the caller's record and the ledger entry keyed `keyPrefix` + the record's id, in
 * one statement: one round trip, atomic without a transaction of ours. The key is new by construction (the record's
 * id), so it needs no conflict handling. Undefined when the guard refused the charge: nothing was written.
 */
export async function chargeWithRecord(
  db: Queryable,
  charge: { organizationId: string; amount: bigint; keyPrefix: string; description: string | null },
  record: ChargedRecord,
): Promise<{ recordId: string; entry: LedgerEntry } | undefined> {
  const n = record.params.length;
  const [org, currency, amount, keyPrefix, description] = [1, 2, 3, 4, 5].map((i) => `$${n + i}`);
  const { rows } = await db.query<EntryRow & { record_id: string }>({
    name: `ledger-charge-with-${record.name}`,
    text: `WITH charged AS (
       UPDATE credits SET balance = balance - ${amount}::numeric
       WHERE organization_id = ${org} AND currency = ${currency} AND owed = 0 AND balance - held >= ${amount}::numeric
       RETURNING balance),
     record AS (${record.insert}),
     entry AS (
       INSERT INTO credit_transactions (organization_id, currency, type, amount, owed_delta, balance_after,
         idempotency_key, description)
       SELECT ${org}, ${currency}, 'usage', -${amount}::numeric, 0, charged.balance, ${keyPrefix}::text || record.id,
         ${description}
       FROM charged, record
       RETURNING ${ENTRY_COLUMNS})
     SELECT record.id AS record_id, entry.* FROM record, entry`,
    values: [
      ...record.params,
      charge.organizationId,
      CURRENCY,
      formatAmount(charge.amount),
      charge.keyPrefix,
      charge.description,
    ],
  });
  const row = rows[0];
  return row && { recordId: row.record_id, entry: entryOf(row) };
}

/** The account's figures without a lock (to explain a refusal); undefined when it never held credits. */
export function readAccount(db: Queryable, organizationId: string): Promise<AccountRow | undefined> {
  return selectAccount(db, organizationId, '');
}

/** A ledger row to write; amounts in units, signed. */
export interface NewEntry {
  organizationId: string;
  kind: EntryKind;
  balanceChange: bigint;
  owedChange?: bigint;
  balanceAfter: bigint | string;
  key: string | null;
  holdId?: string;
  description?: string | null;
  reference?: string | null;
}

/**
 * Appends a ledger row in the caller's transaction. Undefined when its key is already taken (by a transaction that
 * committed first): the caller rolls back and answers with the original.
 */
export async function insertEntry(client: pg.PoolClient, e: NewEntry): Promise<LedgerEntry | undefined> {
  try {
    const { rows } = await client.query<EntryRow>(
      `INSERT INTO credit_transactions
         (organization_id, currency, type, amount, owed_delta, balance_after, idempotency_key, hold_id, description, reference_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING ${ENTRY_COLUMNS}`,
      [
        e.organizationId,
        CURRENCY,
        e.kind,
        formatAmount(e.balanceChange),
        formatAmount(e.owedChange ?? 0n),
        typeof e.balanceAfter === 'string' ? e.balanceAfter : formatAmount(e.balanceAfter),
        e.key,
        e.holdId ?? null,
        e.description ?? null,
        e.reference ?? null,
      ],
    );
    return rows[0] && entryOf(rows[0]);
  } catch (err) {
    // The seed's guard: a purchase or refund reference (a payment id) is booked once, whatever the key.
    if ((err as { code?: string; constraint?: string }).constraint === 'idx_credit_tx_reference') {
      throw new BillingError('duplicate_reference', `the ${e.kind} ${e.reference} is already booked`);
    }
    throw err;
  }
}

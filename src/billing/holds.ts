/**
 * Holds for long work (an A2A task, a report): reserve an estimate from the available credits, then capture the
 * actual cost (at most the hold; the rest goes back) or release it. A hold nobody settles is released when it expires,
 * by `releaseExpiredHolds` (the maintenance schedule); until then it may still be captured.
 *
 * A hold is keyed by its idempotency key (reserve) and then by its id (capture, release: the first settlement wins,
 * its retries answer the same). Every operation locks the account first and the hold second, so they never deadlock.
 */
import type pg from 'pg';
import type { Db } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import { formatAmount, minUnits, parseAmount, toUnits } from './amount.js';
import { BillingError } from './errors.js';
import { CURRENCY, findCaptureEntry, insertEntry, lockAccount, parseKey, refusal, type LedgerEntry } from './store.js';

export type HoldStatus = 'held' | 'captured' | 'released' | 'expired';

export interface Hold {
  id: string;
  key: string;
  amount: string;
  status: HoldStatus;
  /** What the capture charged (at most `amount`); null until captured. */
  captured: string | null;
  /** What the capture asked for. */
  captureRequested: string | null;
  description: string | null;
  expiresAt: Date;
  /** When it was captured, released or expired. */
  settledAt: Date | null;
  createdAt: Date;
}

export interface HoldOutcome {
  hold: Hold;
  /** True when this call changed nothing: a retry answered with the hold as the first call left it. */
  replayed: boolean;
}

export interface CaptureOutcome extends HoldOutcome {
  /** The capture's ledger entry; null when it charged nothing. */
  entry: LedgerEntry | null;
}

export const DEFAULT_HOLD_SECONDS = 15 * 60;
export const MAX_HOLD_SECONDS = 7 * 86_400;

const HOLD_COLUMNS = `id, idempotency_key, amount::text AS amount, status, captured::text AS captured,
  capture_requested::text AS capture_requested, description, expires_at, settled_at, created_at`;

interface HoldRow {
  id: string;
  idempotency_key: string;
  amount: string;
  status: HoldStatus;
  captured: string | null;
  capture_requested: string | null;
  description: string | null;
  expires_at: Date;
  settled_at: Date | null;
  created_at: Date;
}

const holdOf = (row: HoldRow): Hold => ({
  id: row.id,
  key: row.idempotency_key,
  amount: row.amount,
  status: row.status,
  captured: row.captured,
  captureRequested: row.capture_requested,
  description: row.description,
  expiresAt: row.expires_at,
  settledAt: row.settled_at,
  createdAt: row.created_at,
});

export interface ReserveRequest {
  organizationId: string;
  key: string;
  amount: string;
  /** How long the hold lasts unless settled; DEFAULT_HOLD_SECONDS when absent, at most MAX_HOLD_SECONDS. */
  ttlSeconds?: number;
  description?: string;
}

/** Reserves `amount` of the available credits; refused like a debit when they do not cover it or the account owes. */
export async function reserve(db: Db, request: ReserveRequest): Promise<HoldOutcome> {
  const key = parseKey(request.key);
  const amount = parseAmount(request.amount);
  const ttl = request.ttlSeconds ?? DEFAULT_HOLD_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_HOLD_SECONDS) {
    throw new BillingError('invalid_input', `ttlSeconds must be an integer from 1 to ${MAX_HOLD_SECONDS}`);
  }
  const { organizationId } = request;
  return withTransaction(db, async (client) => {
    const account = await lockAccount(client, organizationId);
    // Holds belong to an account: without one there is neither an earlier hold nor anything to reserve.
    if (!account) throw refusal(account, amount);
    const { rows } = await client.query<HoldRow>(
      `SELECT ${HOLD_COLUMNS} FROM credit_holds WHERE organization_id = $1 AND idempotency_key = $2`,
      [organizationId, key],
    );
    if (rows[0]) {
      const hold = holdOf(rows[0]);
      if (toUnits(hold.amount) !== amount) {
        throw new BillingError(
          'idempotency_conflict',
          `the key ${JSON.stringify(key)} was already used for a hold of ${hold.amount} ${CURRENCY}`,
        );
      }
      return { hold, replayed: true };
    }
    if (account.owed > 0n || account.balance - account.held < amount) throw refusal(account, amount);
    const inserted = await client.query<HoldRow>(
      `INSERT INTO credit_holds (organization_id, currency, idempotency_key, amount, description, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING ${HOLD_COLUMNS}`,
      [organizationId, CURRENCY, key, formatAmount(amount), request.description ?? null, ttl],
    );
    await client.query(`UPDATE credits SET held = held + $3 WHERE organization_id = $1 AND currency = $2`, [
      organizationId,
      CURRENCY,
      formatAmount(amount),
    ]);
    return { hold: holdOf(inserted.rows[0]!), replayed: false };
  });
}

export interface CaptureRequest {
  organizationId: string;
  holdId: string;
  /** The actual cost; more than the hold is clamped to it, zero releases it all. */
  amount: string;
}

/** Charges the actual cost from the hold and gives back the rest, in one transaction with its ledger entry. */
export async function capture(db: Db, request: CaptureRequest): Promise<CaptureOutcome> {
  const requested = parseAmount(request.amount, { allowZero: true });
  const { organizationId } = request;
  return withTransaction(db, async (client) => {
    const hold = await lockHold(client, organizationId, request.holdId);
    const amount = toUnits(hold.amount);
    if (hold.status === 'captured') {
      if (toUnits(hold.captureRequested!) !== requested) {
        throw new BillingError(
          'idempotency_conflict',
          `the hold was already captured for ${hold.captureRequested} ${CURRENCY}, not ${formatAmount(requested)}`,
        );
      }
      return { hold, entry: (await findCaptureEntry(client, hold.id)) ?? null, replayed: true };
    }
    if (hold.status !== 'held') throw notActive(hold);
    const charged = minUnits(requested, amount);
    const { rows } = await client.query<{ balance: string }>(
      `UPDATE credits SET held = held - $3, balance = balance - $4 WHERE organization_id = $1 AND currency = $2
       RETURNING balance::text`,
      [organizationId, CURRENCY, hold.amount, formatAmount(charged)],
    );
    const entry =
      charged === 0n
        ? null
        : ((await insertEntry(client, {
            organizationId,
            kind: 'capture',
            key: null,
            holdId: hold.id,
            balanceChange: -charged,
            balanceAfter: rows[0]!.balance,
            description: hold.description,
          })) ?? null);
    const settled = await client.query<HoldRow>(
      `UPDATE credit_holds SET status = 'captured', captured = $2, capture_requested = $3, settled_at = now()
       WHERE id = $1 RETURNING ${HOLD_COLUMNS}`,
      [hold.id, formatAmount(charged), formatAmount(requested)],
    );
    return { hold: holdOf(settled.rows[0]!), entry, replayed: false };
  });
}

export interface ReleaseRequest {
  organizationId: string;
  holdId: string;
}

/** Gives the whole hold back; a hold already released or expired is left as it is. */
export async function releaseHold(db: Db, request: ReleaseRequest): Promise<HoldOutcome> {
  const { organizationId } = request;
  return withTransaction(db, async (client) => {
    const hold = await lockHold(client, organizationId, request.holdId);
    if (hold.status === 'released' || hold.status === 'expired') return { hold, replayed: true };
    if (hold.status !== 'held') throw notActive(hold);
    await client.query(`UPDATE credits SET held = held - $3 WHERE organization_id = $1 AND currency = $2`, [
      organizationId,
      CURRENCY,
      hold.amount,
    ]);
    const { rows } = await client.query<HoldRow>(
      `UPDATE credit_holds SET status = 'released', settled_at = now() WHERE id = $1 RETURNING ${HOLD_COLUMNS}`,
      [hold.id],
    );
    return { hold: holdOf(rows[0]!), replayed: false };
  });
}

/** The organization's holds that still reserve credits, newest first. */
export async function listActiveHolds(db: Db, organizationId: string): Promise<Hold[]> {
  const { rows } = await db.query<HoldRow>(
    `SELECT ${HOLD_COLUMNS} FROM credit_holds
     WHERE organization_id = $1 AND currency = $2 AND status = 'held' ORDER BY created_at DESC`,
    [organizationId, CURRENCY],
  );
  return rows.map(holdOf);
}

/**
 * Releases every hold past its expiry, one account per transaction (account lock first, as everywhere). Run
 * periodically by the maintenance schedule with the owner pool; returns how many holds it released.
 */
export async function releaseExpiredHolds(db: Db, { batchSize = 100 }: { batchSize?: number } = {}): Promise<number> {
  let released = 0;
  for (;;) {
    const { rows: accounts } = await db.query<{ organization_id: string }>(
      `SELECT DISTINCT organization_id FROM credit_holds WHERE status = 'held' AND expires_at <= now() LIMIT $1`,
      [batchSize],
    );
    let releasedNow = 0;
    for (const { organization_id: organizationId } of accounts) {
      releasedNow += await withTransaction(db, async (client) => {
        await lockAccount(client, organizationId);
        const { rows } = await client.query<{ n: number }>(
          `WITH expired AS (
             UPDATE credit_holds SET status = 'expired', settled_at = now()
             WHERE organization_id = $1 AND currency = $2 AND status = 'held' AND expires_at <= now()
             RETURNING amount)
           UPDATE credits SET held = held - (SELECT coalesce(sum(amount), 0) FROM expired)
           WHERE organization_id = $1 AND currency = $2
           RETURNING (SELECT count(*)::int FROM expired) AS n`,
          [organizationId, CURRENCY],
        );
        return rows[0]?.n ?? 0;
      });
    }
    released += releasedNow;
    // A short batch was the last; a batch that released nothing (all settled meanwhile) ends the pass too.
    if (accounts.length < batchSize || releasedNow === 0) return released;
  }
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The organization's hold, locked after its account; `hold_not_found` for anything else. */
async function lockHold(client: pg.PoolClient, organizationId: string, holdId: string): Promise<Hold> {
  const notFound = new BillingError('hold_not_found', `no hold ${JSON.stringify(String(holdId).slice(0, 40))}`);
  if (typeof holdId !== 'string' || !UUID_PATTERN.test(holdId)) throw notFound;
  if (!(await lockAccount(client, organizationId))) throw notFound;
  const { rows } = await client.query<HoldRow>(
    `SELECT ${HOLD_COLUMNS} FROM credit_holds WHERE id = $1 AND organization_id = $2 FOR UPDATE`,
    [holdId, organizationId],
  );
  if (!rows[0]) throw notFound;
  return holdOf(rows[0]);
}

const notActive = (hold: Hold) =>
  new BillingError(
    'hold_not_active',
    `the hold was ${hold.status} at ${hold.settledAt?.toISOString() ?? 'some point'}`,
  );

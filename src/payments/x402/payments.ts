/**
 * x402 payments (table x402_payments, migration 0024): each EIP-3009 authorization we accept is claimed here before
 * the query it pays for runs. The claim key is the token's own uniqueness rule — (network, asset, payer, nonce) — so
 * the INSERT … ON CONFLICT DO NOTHING is what lets one signature sent N times at once run the query once and settle
 * once. Addresses and hashes are stored lowercase.
 */
import type * as s from 'zapatos/schema';
import type { Queryable } from '../../db/transaction.js';
import type { Row } from '../../db/rows.js';

export type X402PaymentStatus = 'claimed' | 'pending' | 'settled' | 'failed';

export interface X402Claim {
  network: string;
  asset: string;
  payer: string;
  nonce: string;
  payTo: string;
  /** Smallest units of the asset. */
  amount: bigint;
  /** The authorization's validBefore, unix seconds. */
  validBefore: bigint;
  /** sha256 (hex) of the signature. */
  signatureHash: string;
  tool: string;
  requestId: string;
}

export type X402PaymentRow = Row<
  s.x402_payments.Selectable,
  | 'id'
  | 'network'
  | 'asset'
  | 'payer'
  | 'nonce'
  | 'amount'
  | 'valid_before'
  | 'signature_hash'
  | 'tool'
  | 'request_id'
  | 'status'
  | 'transaction_hash'
  | 'error'
  | 'claimed_at'
  | 'settled_at'
  | 'delivered_at'
>;

const COLUMNS = `id, network, asset, payer, nonce, amount, valid_before, signature_hash, tool, request_id, status,
  transaction_hash, error, claimed_at, settled_at, delivered_at`;

type ClaimKey = Pick<X402Claim, 'network' | 'asset' | 'payer' | 'nonce'>;
const keyParams = (key: ClaimKey) => [
  key.network,
  key.asset.toLowerCase(),
  key.payer.toLowerCase(),
  key.nonce.toLowerCase(),
];

/** The payment holding this authorization, if any. */
export async function findPaymentByKey(db: Queryable, key: ClaimKey): Promise<X402PaymentRow | undefined> {
  const { rows } = await db.query<X402PaymentRow>(
    `SELECT ${COLUMNS} FROM x402_payments WHERE network = $1 AND asset = $2 AND payer = $3 AND nonce = $4`,
    keyParams(key),
  );
  return rows[0];
}

/** The claim's id, or the payment that already holds this authorization. */
export async function claimPayment(
  db: Queryable,
  claim: X402Claim,
): Promise<{ claimed: true; id: string } | { claimed: false; existing: X402PaymentRow }> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO x402_payments
       (network, asset, payer, nonce, pay_to, amount, valid_before, tool, request_id, signature_hash, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'claimed')
     ON CONFLICT ON CONSTRAINT x402_payments_claim_key DO NOTHING
     RETURNING id`,
    [
      claim.network,
      claim.asset.toLowerCase(),
      claim.payer.toLowerCase(),
      claim.nonce.toLowerCase(),
      claim.payTo.toLowerCase(),
      claim.amount.toString(),
      claim.validBefore.toString(),
      claim.tool,
      claim.requestId,
      claim.signatureHash,
    ],
  );
  if (rows[0]) return { claimed: true, id: rows[0].id };
  const existing = await findPaymentByKey(db, claim);
  // Deleted between the two statements (a claim released after its query failed): the caller may simply retry.
  if (!existing) return claimPayment(db, claim);
  return { claimed: false, existing };
}

/**
 * Gives a claim up before anything was sent to the chain (the query failed, or was refused): the same signature may
 * be presented again. Only a claim still 'claimed' is released.
 */
export async function releaseClaim(db: Queryable, id: string): Promise<void> {
  await db.query(`DELETE FROM x402_payments WHERE id = $1 AND status = 'claimed'`, [id]);
}

/** Records the outcome of a settlement or of its reconciliation. A settled payment never changes again. */
export async function recordSettlement(
  db: Queryable,
  id: string,
  outcome:
    /** `delivered`: the answer goes out with this settlement (not after a 202 pending). */
    | { status: 'settled'; transactionHash: string | undefined; delivered?: boolean }
    | { status: 'pending'; transactionHash: string; error?: string }
    | { status: 'failed'; transactionHash?: string; error: string },
): Promise<void> {
  await db.query(
    `UPDATE x402_payments
        SET status = $2,
            transaction_hash = COALESCE($3, transaction_hash),
            error = $4,
            settled_at = CASE WHEN $2 = 'settled' THEN now() END,
            delivered_at = CASE WHEN $5 THEN now() END,
            updated_at = now()
      WHERE id = $1 AND status <> 'settled'`,
    [
      id,
      outcome.status,
      outcome.transactionHash?.toLowerCase() || null,
      'error' in outcome ? outcome.error : null,
      outcome.status === 'settled' && outcome.delivered === true,
    ],
  );
}

/**
 * Takes the right to release the answer of a settled payment that has none yet (it was answered 202 pending): true
 * for exactly one caller. `giveBackDelivery` undoes it when that answer could not be computed.
 */
export async function takeDelivery(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE x402_payments SET delivered_at = now(), updated_at = now()
      WHERE id = $1 AND status = 'settled' AND delivered_at IS NULL`,
    [id],
  );
  return rowCount === 1;
}

export async function giveBackDelivery(db: Queryable, id: string): Promise<void> {
  await db.query(`UPDATE x402_payments SET delivered_at = NULL, updated_at = now() WHERE id = $1`, [id]);
}

/** One payment by id. */
export async function findPayment(db: Queryable, id: string): Promise<X402PaymentRow | undefined> {
  const { rows } = await db.query<X402PaymentRow>(`SELECT ${COLUMNS} FROM x402_payments WHERE id = $1`, [id]);
  return rows[0];
}

/**
 * Payments the chain has still to decide: every pending one, and claims older than `staleAfterMs` (their process
 * settled or died without recording an outcome).
 */
export async function unresolvedPayments(db: Queryable, staleAfterMs: number, limit = 100): Promise<X402PaymentRow[]> {
  const { rows } = await db.query<X402PaymentRow>(
    `SELECT ${COLUMNS} FROM x402_payments
      WHERE status = 'pending' OR (status = 'claimed' AND claimed_at < now() - make_interval(secs => $1::float8 / 1000))
      ORDER BY claimed_at
      LIMIT $2`,
    [staleAfterMs, limit],
  );
  return rows;
}

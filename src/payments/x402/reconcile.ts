/**
 * Decides the x402 payments the request that claimed them left undecided: a settlement answered 202 pending (its
 * receipt did not come in time), or a claim whose process lost the network or died mid-settlement. The chain is the
 * judge: the transaction's receipt when there is one, else the token's `authorizationState` once the authorization
 * has expired (unused then, it can never be used). Nothing here sends a transaction, so nothing is paid twice.
 * Runs in every API process on a timer (startX402Reconciler, from src/api/services.ts); each pass is idempotent.
 */
import type { Hex, PublicClient } from 'viem';
import type { Queryable } from '../../db/transaction.js';
import type { Logger } from '../../logger.js';
import { recordSettlement, unresolvedPayments, type X402PaymentRow } from './payments.js';

const AUTHORIZATION_STATE_ABI = [
  {
    type: 'function',
    name: 'authorizationState',
    stateMutability: 'view',
    inputs: [
      { name: 'authorizer', type: 'address' },
      { name: 'nonce', type: 'bytes32' },
    ],
    outputs: [{ type: 'bool' }],
  },
] as const;

export interface ReconcileDeps {
  pool: Queryable;
  network: PublicClient;
  logger: Logger;
  /** Claims older than this are looked at (younger ones may still be settling in their request). */
  staleAfterMs: number;
}

export interface ReconcileResult {
  settled: number;
  failed: number;
  /** Still undecided (receipt not found yet, authorization still valid, or the network did not answer). */
  open: number;
}

async function decide(
  payment: X402PaymentRow,
  network: PublicClient,
): Promise<{ status: 'settled' | 'failed'; error?: string } | undefined> {
  if (payment.transaction_hash) {
    const receipt = await network
      .getTransactionReceipt({ hash: payment.transaction_hash as Hex })
      .catch((err: unknown) => {
        if ((err as Error).name === 'TransactionReceiptNotFoundError') return undefined;
        throw err;
      });
    if (receipt?.status === 'success') return { status: 'settled' };
    // Reverted: the authorization may still have been used by another transaction (a duplicate broadcast).
  }
  const used = await network.readContract({
    address: payment.asset as Hex,
    abi: AUTHORIZATION_STATE_ABI,
    functionName: 'authorizationState',
    args: [payment.payer as Hex, payment.nonce as Hex],
  });
  if (used) return { status: 'settled' };
  const block = await network.getBlock({ blockTag: 'latest' });
  if (block.timestamp >= BigInt(payment.valid_before)) {
    return { status: 'failed', error: 'authorization expired without being settled' };
  }
  return undefined;
}

/** Asks the chain about one payment and records what it says: undefined when it cannot tell yet. */
export async function reconcilePayment(
  pool: Queryable,
  network: PublicClient,
  payment: X402PaymentRow,
): Promise<'settled' | 'failed' | undefined> {
  const outcome = await decide(payment, network);
  if (!outcome) return undefined;
  if (outcome.status === 'settled') {
    await recordSettlement(pool, payment.id, {
      status: 'settled',
      transactionHash: payment.transaction_hash ?? undefined,
    });
  } else {
    await recordSettlement(pool, payment.id, { status: 'failed', error: outcome.error ?? 'failed' });
  }
  return outcome.status;
}

/** One pass over the undecided payments. */
export async function reconcileX402Payments(deps: ReconcileDeps): Promise<ReconcileResult> {
  const log = deps.logger.child({ component: 'x402-reconciler' });
  const result: ReconcileResult = { settled: 0, failed: 0, open: 0 };
  for (const payment of await unresolvedPayments(deps.pool, deps.staleAfterMs)) {
    let status;
    try {
      status = await reconcilePayment(deps.pool, deps.network, payment);
    } catch (err) {
      log.warn({ err, paymentId: payment.id }, 'x402 payment not reconciled: network error');
    }
    if (!status) {
      result.open += 1;
      continue;
    }
    result[status] += 1;
    log.info({ paymentId: payment.id, status }, 'x402 payment reconciled');
  }
  return result;
}

/** Reconciles every `intervalMs` until stopped. */
export function startX402Reconciler(deps: ReconcileDeps & { intervalMs: number }): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() =>
      reconcileX402Payments(deps).catch((err: unknown) => deps.logger.warn({ err }, 'x402 reconciliation pass failed')),
    );
  }, deps.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

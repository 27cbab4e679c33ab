/**
 * Who pays for a call, and the record of it. Every call is a row of usage_logs; the row of a request is written in
 * the same transaction as its charge, under a key of the payer and the request id, so a retried request is charged
 * once and logged once. An organization pays from its plan's included calls while the month has some, else from its
 * credits (ledger key `query:<usage row id>`); an x402 payer has paid on chain before the call runs. A call that
 * failed on our side is refunded and gives up its request key: a retry is a new call, charged anew.
 */
import type { Db } from '../db/pool.js';
import { withTransaction, type Queryable } from '../db/transaction.js';
import { credit, debitInTransaction } from '../billing/ledger.js';
import type { QueryTool } from './tool.js';

export type QuerySurface = 'trpc' | 'rest' | 'mcp' | 'x402' | 'a2a';

export type QueryPayer =
  /** `caller` names who asked inside the organization: `user:<id>`, `apiKey:<id>`, `oauth:<client id>`. */
  | { kind: 'organization'; organizationId: string; caller: string }
  /** Paid on chain for this one call (src/payments/x402): `paymentId` is the payment's record. */
  | { kind: 'x402'; payer: string; paymentId: string }
  /**
   * An organization's long task (A2A) that reserved the price in a credit hold and captures it itself once the answer
   * is in: the call is metered here but not debited.
   */
  | { kind: 'hold'; organizationId: string; caller: string; holdId: string };

export interface MeteredCall {
  payer: QueryPayer;
  requestId: string;
  tool: QueryTool;
  /** USDC, decimal string. */
  price: string;
  chainId: number;
  agentId: string;
  params: Record<string, unknown>;
  surface: QuerySurface;
  /** The organization's plan's included calls per month (0: none). */
  includedPerMonth: number;
}

export interface Charge {
  usageId: string;
  /** What the payer paid for this call (USDC): the price, or 0 for an included call or a replay. */
  charged: string;
  included: boolean;
  /** The request was charged before: nothing moved now. */
  replayed: boolean;
  /** The organization's credit balance after the charge; null for x402 payers. */
  balance: string | null;
}

const REQUEST_ID = /^[\x21-\x7e]{1,100}$/;

export function isRequestId(value: string): boolean {
  return REQUEST_ID.test(value);
}

function requestKey(call: MeteredCall): string {
  const who = call.payer.kind === 'x402' ? call.payer.payer.toLowerCase() : call.payer.organizationId;
  return `${who}:${call.requestId}`;
}

/** The ledger key of a usage row: a row is charged at most once, and a retried request finds its row. */
const ledgerKey = (usageId: string) => `query:${usageId}`;

/**
 * What every usage row records of a call, in this column order: organization_id, payer_address, payment_reference,
 * caller, surface, tool, tier, arguments, chain_id, agent_id, price.
 */
function usageColumns(call: MeteredCall): unknown[] {
  const payer = call.payer;
  return [
    payer.kind === 'x402' ? null : payer.organizationId,
    payer.kind === 'x402' ? payer.payer.toLowerCase() : null,
    payer.kind === 'x402' ? payer.paymentId : payer.kind === 'hold' ? `hold:${payer.holdId}` : null,
    payer.kind === 'x402' ? null : payer.caller,
    call.surface,
    call.tool.name,
    call.tool.tier,
    JSON.stringify(call.params),
    call.chainId,
    call.agentId,
    call.price,
  ];
}

/** A call answered from the cache is complete when it is charged: its usage row is written complete, once. */
export interface AnsweredFromCache {
  asOfBlock: number;
  latencyMs: number;
}

/**
 * Charges the call and writes its usage row, in one transaction. Throws the ledger's BillingError when the credits do
 * not cover it (nothing written: the caller records the refusal). The row is written at cost = price, what a paid or
 * x402 call costs, so that it is written once on their path (a round trip fewer per call); an included call zeroes it.
 */
export async function chargeCall(pool: Db, call: MeteredCall, answered?: AnsweredFromCache): Promise<Charge> {
  return withTransaction(pool, async (client) => {
    const payer = call.payer;
    const inserted = await client.query<{ id: string }>(
      `INSERT INTO usage_logs (request_key, organization_id, payer_address, payment_reference, caller, surface, tool,
         tier, arguments, chain_id, agent_id, price, cost, cached, as_of_block, response_time_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15)
       ON CONFLICT (request_key) WHERE request_key IS NOT NULL DO NOTHING RETURNING id`,
      [
        requestKey(call),
        ...usageColumns(call),
        answered !== undefined,
        answered?.asOfBlock ?? null,
        answered ? Math.round(answered.latencyMs) : null,
      ],
    );
    const usageId = inserted.rows[0]?.id;
    if (!usageId) return replayOf(client, call);
    // Paid elsewhere: on chain (x402), or by the capture of the task's hold.
    if (payer.kind !== 'organization') {
      return { usageId, charged: call.price, included: false, replayed: false, balance: null };
    }
    if (await claimIncludedCall(client, payer.organizationId, call.includedPerMonth)) {
      await client.query('UPDATE usage_logs SET included = true, cost = 0 WHERE id = $1', [usageId]);
      return { usageId, charged: '0', included: true, replayed: false, balance: await balanceOf(client, payer) };
    }
    // The key is this new row's: no other transaction can hold it, so the debit needs no savepoint of its own.
    const movement = await debitInTransaction(client, {
      organizationId: payer.organizationId,
      key: ledgerKey(usageId),
      amount: call.price,
      description: `${call.tool.name} (tier ${call.tool.tier})`,
    });
    return { usageId, charged: call.price, included: false, replayed: false, balance: movement.entry.balanceAfter };
  });
}

async function replayOf(client: Queryable, call: MeteredCall): Promise<Charge> {
  const { rows } = await client.query<{ id: string; included: boolean }>(
    'SELECT id, included FROM usage_logs WHERE request_key = $1',
    [requestKey(call)],
  );
  const row = rows[0]!;
  return {
    usageId: row.id,
    charged: '0',
    included: row.included,
    replayed: true,
    balance: await balanceOf(client, call.payer),
  };
}

async function balanceOf(client: Queryable, payer: QueryPayer): Promise<string | null> {
  if (payer.kind === 'x402') return null;
  const { rows } = await client.query<{ balance: string }>(
    `SELECT balance::text AS balance FROM credits WHERE organization_id = $1 AND currency = 'USDC'`,
    [payer.organizationId],
  );
  return rows[0]?.balance ?? '0';
}

/** Takes one of the month's included calls; false when the plan has none or the month's are used up. */
async function claimIncludedCall(client: Queryable, organizationId: string, perMonth: number): Promise<boolean> {
  if (perMonth <= 0) return false;
  const { rowCount } = await client.query(
    `INSERT INTO query_allowances AS a (organization_id, period_start, used)
     VALUES ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1)
     ON CONFLICT (organization_id, period_start) DO UPDATE SET used = a.used + 1 WHERE a.used < $2
     RETURNING used`,
    [organizationId, perMonth],
  );
  return rowCount === 1;
}

export interface CallResult {
  outcome: 'answered' | 'failed';
  cached: boolean;
  latencyMs: number;
  asOfBlock?: number;
  error?: string;
}

/** Completes the call's usage row once it is answered (or failed). */
export async function completeUsage(db: Queryable, usageId: string, result: CallResult): Promise<void> {
  await db.query(
    `UPDATE usage_logs SET outcome = $2, cached = $3, response_time_ms = $4, as_of_block = $5, error = $6,
       request_key = CASE WHEN $2 = 'failed' THEN NULL ELSE request_key END
     WHERE id = $1`,
    [
      usageId,
      result.outcome,
      result.cached,
      Math.round(result.latencyMs),
      result.asOfBlock ?? null,
      result.error?.slice(0, 1000) ?? null,
    ],
  );
}

/**
 * Gives back what a call that failed on our side was charged (an included call returns to the month's allowance).
 * Keyed by the request, so a retry of the refund moves nothing.
 */
export async function refundCall(pool: Db, call: MeteredCall, charge: Charge): Promise<void> {
  if (call.payer.kind !== 'organization' || charge.replayed) return;
  const organizationId = call.payer.organizationId;
  if (charge.included) {
    await pool.query(
      `UPDATE query_allowances SET used = used - 1
       WHERE organization_id = $1 AND period_start = date_trunc('month', now() AT TIME ZONE 'UTC')::date AND used > 0`,
      [organizationId],
    );
    return;
  }
  await credit(pool, {
    organizationId,
    kind: 'refund',
    key: `${ledgerKey(charge.usageId)}:refund`,
    amount: charge.charged,
    description: `${call.tool.name} failed; charge returned`,
  });
  await pool.query('UPDATE usage_logs SET cost = 0 WHERE id = $1', [charge.usageId]);
}

/** A call refused before it ran (credits, an unknown chain or block): logged without a request key, charged nothing. */
export async function recordRefusal(db: Queryable, call: MeteredCall, error: string): Promise<void> {
  await db.query(
    `INSERT INTO usage_logs (organization_id, payer_address, payment_reference, caller, surface, tool, tier, arguments,
       chain_id, agent_id, price, cost, outcome, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 'refused', $12)`,
    [...usageColumns(call), error.slice(0, 1000)],
  );
}

/**
 * Who pays for a call, and the record of it. Every call is a row of usage_logs; the row of a request is written in
 * the same transaction as its charge, under a key of the payer and the request id, so a retried request is charged
 * once and logged once. An organization pays from its plan's included calls while the month has some, else from its
 * credits (ledger key `query:<usage row id>`); an x402 payer has paid on chain before the call runs. A call that
 * failed on our side is refunded and gives up its request key: a retry is a new call, charged anew.
 */
import type { Db } from '../db/pool.js';
import type { Queryable } from '../db/transaction.js';
import { chargeRefusal, credit, debitWithRecord } from '../billing/ledger.js';
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
  | { kind: 'hold'; organizationId: string; caller: string; holdId: string }
  /** An organization's long task (A2A) that took one of the month's included calls before it ran: metered at no cost. */
  | { kind: 'included'; organizationId: string; caller: string };

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
const LEDGER_KEY_PREFIX = 'query:';
const ledgerKey = (usageId: string) => `${LEDGER_KEY_PREFIX}${usageId}`;

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

/** The duplicate of a request key: the request was charged before (or is being charged by a concurrent retry). */
const isDuplicateRequest = (err: unknown) =>
  (err as { code?: string; constraint?: string }).code === '23505' &&
  (err as { constraint?: string }).constraint === 'idx_usage_logs_request';

/**
 * The INSERT of a call's usage row, as SELECT … FROM `source` (a CTE whose row gates it) or VALUES when no source is
 * given. Written at cost = price, or 0 for an included call. Without ON CONFLICT: a taken request key raises.
 */
function usageInsert(call: MeteredCall, answered: AnsweredFromCache | undefined, included: boolean, source?: string) {
  const params = [
    requestKey(call),
    ...usageColumns(call),
    included ? '0' : call.price,
    included,
    answered !== undefined,
    answered?.asOfBlock ?? null,
    answered ? Math.round(answered.latencyMs) : null,
  ];
  const values = params.map((_, i) => `$${i + 1}`).join(', ');
  const insert = `INSERT INTO usage_logs (request_key, organization_id, payer_address, payment_reference, caller, surface,
      tool, tier, arguments, chain_id, agent_id, price, cost, included, cached, as_of_block, response_time_ms)
    ${source ? `SELECT ${values} FROM ${source}` : `VALUES (${values})`} RETURNING id`;
  // Named per text (prepared once per connection): every call runs one of these.
  return { name: `usage-row-from-${source ?? 'values'}`, insert, params };
}

/**
 * Charges the call and writes its usage row, in one statement per way of paying (no transaction of ours): an x402
 * payer has paid already, an A2A task pays by capturing its hold; an organization pays with one of the month's included calls while there are some, else
 * with credits (the ledger's debitWithRecord: the charge, the row and the ledger entry together). A retried request
 * finds its row and is charged nothing. Throws the ledger's BillingError when the credits do not cover the call
 * (nothing written: the caller records the refusal).
 */
export async function chargeCall(pool: Db, call: MeteredCall, answered?: AnsweredFromCache): Promise<Charge> {
  const payer = call.payer;
  try {
    // Paid elsewhere: on chain (x402), by the capture of the task's hold, or with the included call the task took.
    if (payer.kind !== 'organization') {
      const included = payer.kind === 'included';
      const { name, insert, params } = usageInsert(call, answered, included);
      const { rows } = await pool.query<{ id: string }>({ name, text: insert, values: params });
      const charged = included ? '0' : call.price;
      return { usageId: rows[0]!.id, charged, included, replayed: false, balance: null };
    }
    if (call.includedPerMonth > 0) {
      const included = await claimIncludedCall(pool, call, answered);
      if (included) return included;
    }
    const charged = await debitWithRecord(
      pool,
      {
        organizationId: payer.organizationId,
        amount: call.price,
        keyPrefix: LEDGER_KEY_PREFIX,
        description: `${call.tool.name} (tier ${call.tool.tier})`,
      },
      usageInsert(call, answered, false, 'charged'),
    );
    if (charged) {
      const balance = charged.movement.entry.balanceAfter;
      return { usageId: charged.recordId, charged: call.price, included: false, replayed: false, balance };
    }
    // Refused, unless the request was charged before (a retry after the credits ran out).
    const replay = await replayOf(pool, call);
    if (replay) return replay;
    throw await chargeRefusal(pool, payer.organizationId, call.price);
  } catch (err) {
    if (!isDuplicateRequest(err)) throw err;
    const replay = await replayOf(pool, call);
    if (!replay) throw new Error(`the usage row of request ${requestKey(call)} vanished`, { cause: err });
    return replay;
  }
}

async function replayOf(db: Queryable, call: MeteredCall): Promise<Charge | undefined> {
  const { rows } = await db.query<{ id: string; included: boolean; balance: string | null }>(
    `SELECT u.id, u.included, c.balance::text AS balance
     FROM usage_logs u LEFT JOIN credits c ON c.organization_id = u.organization_id AND c.currency = 'USDC'
     WHERE u.request_key = $1`,
    [requestKey(call)],
  );
  const row = rows[0];
  if (!row) return undefined;
  const balance = call.payer.kind === 'x402' ? null : (row.balance ?? '0');
  return { usageId: row.id, charged: '0', included: row.included, replayed: true, balance };
}

/** The calendar month (UTC) included calls are counted in. */
const CURRENT_PERIOD = "date_trunc('month', now() AT TIME ZONE 'UTC')::date";

/** Counts one more included call of the month for `organization`, unless `perMonth` are used: no row then. */
const takeAllowanceSql = (organization: string, perMonth: string) =>
  `INSERT INTO query_allowances AS a (organization_id, period_start, used) VALUES (${organization}, ${CURRENT_PERIOD}, 1)
   ON CONFLICT (organization_id, period_start) DO UPDATE SET used = a.used + 1 WHERE a.used < ${perMonth}`;

/**
 * Takes one of the month's included calls and writes the call's row with it, in one statement; undefined when the
 * plan's calls of the month are used up.
 */
async function claimIncludedCall(
  db: Queryable,
  call: MeteredCall,
  answered: AnsweredFromCache | undefined,
): Promise<Charge | undefined> {
  const organizationId = (call.payer as { organizationId: string }).organizationId;
  const { name, insert, params } = usageInsert(call, answered, true, 'claimed');
  const n = params.length;
  const { rows } = await db.query<{ id: string; balance: string | null }>({
    name: `included-call-with-${name}`,
    text: `WITH claimed AS (
${takeAllowanceSql(`$${n + 1}`, `$${n + 2}`)} RETURNING used),
     usage AS (${insert})
     SELECT usage.id, (SELECT balance::text FROM credits WHERE organization_id = $${n + 1} AND currency = 'USDC') AS balance
     FROM usage`,
    values: [...params, organizationId, call.includedPerMonth],
  });
  const row = rows[0];
  return row && { usageId: row.id, charged: '0', included: true, replayed: false, balance: row.balance ?? '0' };
}

/**
 * Takes one of the month's included calls for a call metered later (an A2A task, which pays before it runs); false
 * when the plan's calls of the month are used up. The caller makes it once per task (in its own transaction).
 */
export async function takeIncludedCall(
  db: Queryable,
  organizationId: string,
  includedPerMonth: number,
): Promise<boolean> {
  if (includedPerMonth <= 0) return false;
  const { rowCount } = await db.query(takeAllowanceSql('$1', '$2'), [organizationId, includedPerMonth]);
  return rowCount === 1;
}

/** Gives an included call back to the month's allowance (a call that failed on our side). */
export async function returnIncludedCall(db: Queryable, organizationId: string): Promise<void> {
  await db.query(
    `UPDATE query_allowances SET used = used - 1
     WHERE organization_id = $1 AND period_start = ${CURRENT_PERIOD} AND used > 0`,
    [organizationId],
  );
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
  await db.query({
    name: 'usage-row-complete',
    text: `UPDATE usage_logs SET outcome = $2, cached = $3, response_time_ms = $4, as_of_block = $5, error = $6,
       request_key = CASE WHEN $2 = 'failed' THEN NULL ELSE request_key END
     WHERE id = $1`,
    values: [
      usageId,
      result.outcome,
      result.cached,
      Math.round(result.latencyMs),
      result.asOfBlock ?? null,
      result.error?.slice(0, 1000) ?? null,
    ],
  });
}

/**
 * Gives back what a call that failed on our side was charged (an included call returns to the month's allowance).
 * Keyed by the request, so a retry of the refund moves nothing.
 */
export async function refundCall(pool: Db, call: MeteredCall, charge: Charge): Promise<void> {
  if (call.payer.kind !== 'organization' || charge.replayed) return;
  const organizationId = call.payer.organizationId;
  if (charge.included) {
    await returnIncludedCall(pool, organizationId);
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

/**
 * The feedback of an agent as of a block: the one home every query tool reads feedback from.
 *
 * One row per NewFeedback — keyed (registry, client, feedbackIndex) — in `canonical_events` at or below the block (a
 * reorg-retracted event never counts). `revoked` is a canonical FeedbackRevoked for it at or below the block,
 * `responses` the count of canonical ResponseAppended for it at or below the block: the answer as of an older block is
 * the registry's state at that block, whatever happened later.
 *
 * The key carries the registry (contract address) because a chain may host several reputation registries (a v1.0 one
 * and an older v0.4 one) whose feedback indexes are counted separately. v0.4 NewFeedback events carry no
 * feedbackIndex: the v0.4 registry counts them 1-based per (agent, client) in chain order, so the index is their rank
 * among the canonical v0.4 feedback of that client — which is what its FeedbackRevoked/ResponseAppended refer to.
 * v0.4 `score` (0–100) is stored as value = score with 0 decimals, so every row has a value and decimals.
 */
import type { Queryable } from '../db/transaction.js';
import type { AsOf } from './as-of.js';
import { toWad } from './exact-decimal.js';

export type AbiVersion = 'v1.0' | 'v0.4';

export interface FeedbackFilter {
  /** Only feedback from these clients (addresses, any case). Undefined: every client. */
  clients?: readonly string[];
  /** Exact tag match ('' matches only an empty tag). Undefined: any tag. */
  tag1?: string;
  tag2?: string;
  /** Block time window [from, to), UTC. */
  from?: Date;
  to?: Date;
  /** Block range, both ends included (the as-of block caps it anyway). */
  fromBlock?: number;
  toBlock?: number;
  /** Only feedback of registries with these ABI versions. Undefined: all. */
  abiVersions?: readonly AbiVersion[];
}

/** Where a row is in chain order: the cursor of paged reads. */
export interface FeedbackPosition {
  blockNumber: number;
  logIndex: number;
}

export interface FeedbackPage {
  order: 'asc' | 'desc';
  /** Rows strictly after this position in `order`. */
  after?: FeedbackPosition;
  limit: number;
}

export interface FeedbackRow {
  /** The reputation registry's address (lower-case). */
  registry: string;
  abiVersion: AbiVersion;
  client: string;
  /** 1-based per (registry, agent, client); decimal string (uint64). */
  feedbackIndex: string;
  /** The exact int128 value (decimal string) and its decimals: the feedback is value / 10^valueDecimals. */
  value: string;
  valueDecimals: number;
  /** value·10^(18−valueDecimals). */
  wad: bigint;
  tag1: string;
  tag2: string;
  endpoint: string | null;
  fileUri: string | null;
  fileHash: string | null;
  blockNumber: number;
  logIndex: number;
  /** ISO 8601, UTC. */
  blockTime: string;
  transactionHash: string;
  revoked: boolean;
  /** The block of the revocation, when revoked. */
  revokedAtBlock: number | null;
  responses: number;
}

interface FeedbackSqlRow {
  registry: string;
  abi_version: AbiVersion;
  client: string;
  feedback_index: string;
  value: string;
  value_decimals: number;
  tag1: string | null;
  tag2: string | null;
  endpoint: string | null;
  file_uri: string | null;
  file_hash: string | null;
  block_number: string;
  log_index: number;
  block_time: Date;
  transaction_hash: string;
  revoked_at_block: string | null;
  responses: number;
}

/**
 * The feedback set as SQL: the feedback, revocations and responses at or below a block ($1 chain, $2 block) of one
 * agent ($3), or with `allAgents` of every agent of the chain (for population figures; each row names its
 * `agent_id`). `columns` adds to the select list (", <expression> AS name"); conditions on `f`
 * (feedbackFilterConditions) may follow as a WHERE clause.
 */
export function feedbackAsOfSql({ allAgents = false, columns = '' }: { allAgents?: boolean; columns?: string } = {}) {
  const scope = `e.chain_id = $1 AND e.block_number <= $2${allAgents ? '' : ' AND e.agent_id = $3::numeric'}`;
  return `
  WITH numbered AS (
    SELECT e.agent_id, e.contract_address, e.abi_version, e.client_address,
           COALESCE(e.feedback_index, row_number() OVER (
             PARTITION BY e.agent_id, e.contract_address, e.client_address, e.feedback_index IS NULL
             ORDER BY e.block_number, e.log_index)) AS feedback_index,
           e.value, e.value_decimals, e.tag1, e.tag2, e.endpoint, e.file_uri, e.file_hash,
           e.block_number, e.log_index, e.block_time, e.transaction_hash
    FROM canonical_events e
    WHERE ${scope} AND e.event_type = 'NewFeedback'
  ), feedback AS (
    -- one row per key, should a key ever appear twice (the first in chain order is the registry's)
    SELECT DISTINCT ON (agent_id, contract_address, client_address, feedback_index) *
    FROM numbered
    ORDER BY agent_id, contract_address, client_address, feedback_index, block_number, log_index
  ), revocations AS (
    SELECT e.agent_id, e.contract_address, e.client_address, e.feedback_index, min(e.block_number) AS block_number
    FROM canonical_events e
    WHERE ${scope} AND e.event_type = 'FeedbackRevoked'
    GROUP BY e.agent_id, e.contract_address, e.client_address, e.feedback_index
  ), responses AS (
    SELECT e.agent_id, e.contract_address, e.client_address, e.feedback_index, count(*)::int AS n
    FROM canonical_events e
    WHERE ${scope} AND e.event_type = 'ResponseAppended'
    GROUP BY e.agent_id, e.contract_address, e.client_address, e.feedback_index
  )
  SELECT f.agent_id::text AS agent_id, f.contract_address AS registry, f.abi_version, f.client_address AS client,
         f.feedback_index::text AS feedback_index, f.value::text AS value, f.value_decimals, f.tag1, f.tag2,
         f.endpoint, f.file_uri, f.file_hash, f.block_number::text AS block_number, f.log_index, f.block_time,
         f.transaction_hash, r.block_number::text AS revoked_at_block, COALESCE(p.n, 0) AS responses${columns}
  FROM feedback f
  LEFT JOIN revocations r USING (agent_id, contract_address, client_address, feedback_index)
  LEFT JOIN responses p USING (agent_id, contract_address, client_address, feedback_index)`;
}

/** The WHERE conditions of a filter over feedbackAsOfSql's `f`; `bind` adds a parameter and gives its placeholder. */
export function feedbackFilterConditions(filter: FeedbackFilter, bind: (value: unknown) => string): string[] {
  const where: string[] = [];
  if (filter.clients) where.push(`f.client_address = ANY(${bind(filter.clients.map((c) => c.toLowerCase()))}::text[])`);
  if (filter.tag1 !== undefined) where.push(`COALESCE(f.tag1, '') = ${bind(filter.tag1)}`);
  if (filter.tag2 !== undefined) where.push(`COALESCE(f.tag2, '') = ${bind(filter.tag2)}`);
  if (filter.from) where.push(`f.block_time >= ${bind(filter.from)}`);
  if (filter.to) where.push(`f.block_time < ${bind(filter.to)}`);
  if (filter.fromBlock !== undefined) where.push(`f.block_number >= ${bind(filter.fromBlock)}`);
  if (filter.toBlock !== undefined) where.push(`f.block_number <= ${bind(filter.toBlock)}`);
  if (filter.abiVersions) where.push(`f.abi_version = ANY(${bind(filter.abiVersions)}::text[])`);
  return where;
}

/**
 * The agent's feedback as of `asOf`, filtered; in chain order (block, log index), or reversed with `page.order`.
 * Without `page`, every matching row.
 */
export async function feedbackAsOf(
  db: Queryable,
  asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>,
  agentId: string,
  filter: FeedbackFilter = {},
  page?: FeedbackPage,
): Promise<FeedbackRow[]> {
  return (await selectFeedback(db, asOf, agentId, filter, {}, page)).map(({ inScope: _, ...row }) => row);
}

/**
 * Every row of `filter`, each marked whether it also matches `scope` — one read for a tool that needs both a set and
 * a narrower part of it (the summary: the registry's view of all feedback, and the asked window).
 */
export function feedbackInScope(
  db: Queryable,
  asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>,
  agentId: string,
  filter: FeedbackFilter,
  scope: FeedbackFilter,
): Promise<(FeedbackRow & { inScope: boolean })[]> {
  return selectFeedback(db, asOf, agentId, filter, scope);
}

async function selectFeedback(
  db: Queryable,
  asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>,
  agentId: string,
  filter: FeedbackFilter,
  scope: FeedbackFilter,
  page?: FeedbackPage,
): Promise<(FeedbackRow & { inScope: boolean })[]> {
  const params: unknown[] = [asOf.chainId, asOf.asOfBlock, agentId];
  const bind = (value: unknown) => `$${params.push(value)}`;
  const where = feedbackFilterConditions(filter, bind);
  const inScope = feedbackFilterConditions(scope, bind);
  const direction = page?.order === 'desc' ? 'DESC' : 'ASC';
  if (page?.after) {
    const comparison = direction === 'DESC' ? '<' : '>';
    where.push(
      `(f.block_number, f.log_index) ${comparison} (${bind(page.after.blockNumber)}::bigint, ${bind(page.after.logIndex)}::int)`,
    );
  }
  const sql = `${feedbackAsOfSql({ columns: `, ${inScope.length ? inScope.join(' AND ') : 'true'} AS in_scope` })}
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY f.block_number ${direction}, f.log_index ${direction}, f.contract_address ${direction}
    ${page ? `LIMIT ${bind(page.limit)}` : ''}`;
  const { rows } = await db.query<FeedbackSqlRow & { in_scope: boolean }>(sql, params);
  return rows.map((r) => ({ ...toFeedbackRow(r), inScope: r.in_scope }));
}

function toFeedbackRow(r: FeedbackSqlRow): FeedbackRow {
  return {
    registry: r.registry,
    abiVersion: r.abi_version,
    client: r.client,
    feedbackIndex: r.feedback_index,
    value: r.value,
    valueDecimals: r.value_decimals,
    wad: toWad(r.value, r.value_decimals),
    tag1: r.tag1 ?? '',
    tag2: r.tag2 ?? '',
    endpoint: r.endpoint,
    fileUri: r.file_uri,
    fileHash: r.file_hash,
    blockNumber: Number(r.block_number),
    logIndex: r.log_index,
    blockTime: r.block_time.toISOString(),
    transactionHash: r.transaction_hash,
    revoked: r.revoked_at_block !== null,
    revokedAtBlock: r.revoked_at_block === null ? null : Number(r.revoked_at_block),
    responses: r.responses,
  };
}

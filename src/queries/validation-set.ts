/**
 * The validations of an agent as of a block: one row per canonical ValidationRequest (registry, requestHash) at or
 * below the block, with its latest canonical ValidationResponse at or below the block — responses may repeat and the
 * registry keeps only the last — and how many there were. Reorg-retracted events never count.
 */
import type { Queryable } from '../db/transaction.js';
import type { AsOf } from './as-of.js';

export interface ValidationFilter {
  /** Only requests addressed to these validators (any case). */
  validators?: readonly string[];
  /** Only requests whose latest response carries exactly this tag (so responded ones only). */
  tag?: string;
}

export interface ValidationRow {
  /** The validation registry (contract address). */
  registry: string;
  requestHash: string;
  validator: string;
  requestUri: string | null;
  requestBlock: number;
  requestLogIndex: number;
  /** ISO 8601, UTC. */
  requestTime: string;
  requestTransactionHash: string;
  status: 'pending' | 'responded';
  responseCount: number;
  /** The latest response (0–100), its URI, hash, tag, block and time; null while pending. */
  response: number | null;
  responseUri: string | null;
  responseHash: string | null;
  tag: string | null;
  responseBlock: number | null;
  responseTime: string | null;
  /** Seconds from the request's block to its first response's block; null while pending. */
  firstResponseLatencySeconds: number | null;
}

interface ValidationSqlRow {
  registry: string;
  request_hash: string;
  validator: string;
  request_uri: string | null;
  request_block: string;
  request_log_index: number;
  request_time: Date;
  request_tx: string;
  response_count: number;
  response: number | null;
  response_uri: string | null;
  response_hash: string | null;
  tag: string | null;
  response_block: string | null;
  response_time: Date | null;
  first_response_time: Date | null;
}

/**
 * The validation set as SQL: requests at or below a block ($1 chain, $2 block) of one agent ($3), or with `allAgents`
 * of every agent of the chain (each row names its `agent_id`), with their latest responses. A request hash is unique
 * per registry, so (registry, request hash) keys a request chain-wide.
 */
export function validationsAsOfSql({ allAgents = false }: { allAgents?: boolean } = {}): string {
  const scope = `chain_id = $1 AND block_number <= $2${allAgents ? '' : ' AND agent_id = $3::numeric'}`;
  return `
  WITH requests AS (
    SELECT DISTINCT ON (contract_address, request_hash)
           agent_id, contract_address, request_hash, validator_address, request_uri, block_number, log_index,
           block_time, transaction_hash
    FROM canonical_events
    WHERE ${scope} AND event_type = 'ValidationRequest'
    ORDER BY contract_address, request_hash, block_number, log_index
  ), responses AS (
    SELECT contract_address, request_hash, response, response_uri, response_hash, tag, block_number, log_index,
           block_time
    FROM canonical_events
    WHERE ${scope} AND event_type = 'ValidationResponse'
  ), latest AS (
    SELECT DISTINCT ON (contract_address, request_hash) *
    FROM responses
    ORDER BY contract_address, request_hash, block_number DESC, log_index DESC
  ), counts AS (
    SELECT contract_address, request_hash, count(*)::int AS n, min(block_time) AS first_time
    FROM responses GROUP BY contract_address, request_hash
  )
  SELECT q.agent_id::text AS agent_id, q.contract_address AS registry, q.request_hash, q.validator_address AS validator, q.request_uri,
         q.block_number::text AS request_block, q.log_index AS request_log_index, q.block_time AS request_time,
         q.transaction_hash AS request_tx, COALESCE(c.n, 0) AS response_count, l.response, l.response_uri,
         l.response_hash, l.tag, l.block_number::text AS response_block, l.block_time AS response_time,
         c.first_time AS first_response_time
  FROM requests q
  LEFT JOIN latest l USING (contract_address, request_hash)
  LEFT JOIN counts c USING (contract_address, request_hash)`;
}

const VALIDATIONS_OF_AGENT_AS_OF = validationsAsOfSql();

/** The agent's validation requests as of `asOf`, in chain order of the requests. */
export async function validationsAsOf(
  db: Queryable,
  asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>,
  agentId: string,
  filter: ValidationFilter = {},
): Promise<ValidationRow[]> {
  const params: unknown[] = [asOf.chainId, asOf.asOfBlock, agentId];
  const where: string[] = [];
  const bind = (value: unknown) => `$${params.push(value)}`;
  if (filter.validators) {
    where.push(`q.validator_address = ANY(${bind(filter.validators.map((v) => v.toLowerCase()))}::text[])`);
  }
  if (filter.tag !== undefined) where.push(`l.tag = ${bind(filter.tag)}`);
  const { rows } = await db.query<ValidationSqlRow>(
    `${VALIDATIONS_OF_AGENT_AS_OF} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY q.block_number, q.log_index, q.contract_address, q.request_hash`,
    params,
  );
  return rows.map((r) => ({
    registry: r.registry,
    requestHash: r.request_hash,
    validator: r.validator,
    requestUri: r.request_uri,
    requestBlock: Number(r.request_block),
    requestLogIndex: r.request_log_index,
    requestTime: r.request_time.toISOString(),
    requestTransactionHash: r.request_tx,
    status: r.response_count > 0 ? 'responded' : 'pending',
    responseCount: r.response_count,
    response: r.response,
    responseUri: r.response_uri,
    responseHash: r.response_hash,
    tag: r.tag,
    responseBlock: r.response_block === null ? null : Number(r.response_block),
    responseTime: r.response_time?.toISOString() ?? null,
    firstResponseLatencySeconds:
      r.first_response_time === null
        ? null
        : Math.round((r.first_response_time.getTime() - r.request_time.getTime()) / 1000),
  }));
}

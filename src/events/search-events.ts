/** Browsing the indexed registry events (canonical chain only), newest first, a page at a time. */
import type { Queryable } from '../db/transaction.js';
import { EVENT_COLUMNS } from '../indexer/decode.js';

/**
 * The event-specific columns (EVENT_COLUMNS from `owner` on), the ABI version and the contract: returned under
 * `fields` when set. NUMERIC ones (feedback_index, value) come back as exact text.
 */
const FIELDS = [...EVENT_COLUMNS.slice(EVENT_COLUMNS.indexOf('owner')), 'abi_version', 'contract_address'] as const;
type Field = (typeof FIELDS)[number];

export interface EventSearch {
  chainId?: number;
  registry?: string;
  eventType?: string;
  agentId?: string;
  clientAddress?: string;
  validatorAddress?: string;
  fromBlock?: number;
  toBlock?: number;
  /** Block time bounds, ISO 8601. */
  from?: string;
  to?: string;
  /** The nextCursor of the previous page. */
  cursor?: string;
  limit: number;
}

export interface SearchedEvent {
  id: string;
  seq: string;
  chainId: number;
  blockNumber: number;
  blockHash: string;
  transactionHash: string;
  logIndex: number;
  registry: string;
  eventType: string;
  agentId: string | null;
  timestamp: number;
  blockTime: string;
  fields: Partial<Record<Field, string | number>>;
  source: 'indexer' | 'ingest' | null;
  pushedBy: string | null;
}

type EventRow = {
  seq: string;
  id: string;
  chain_id: number;
  block_number: number;
  block_hash: string;
  transaction_hash: string;
  log_index: number;
  registry: string;
  event_type: string;
  agent_id: string | null;
  ts: number;
  block_time: Date;
  source: 'indexer' | 'ingest' | null;
  pushed_by: string | null;
} & Record<Field, string | number | null>;

export async function searchEvents(
  db: Queryable,
  search: EventSearch,
): Promise<{ items: SearchedEvent[]; nextCursor: string | null }> {
  const { rows } = await db.query<EventRow>(
    `SELECT ingest_seq::text AS seq, id, chain_id::float8 AS chain_id, block_number::float8 AS block_number, block_hash, transaction_hash, log_index,
       registry, event_type, agent_id::text AS agent_id, "timestamp"::float8 AS ts, block_time, source, pushed_by,
       ${FIELDS.map((f) => (f === 'feedback_index' || f === 'value' ? `${f}::text AS ${f}` : f)).join(', ')}
     FROM canonical_events
     WHERE ($1::int8 IS NULL OR chain_id = $1) AND ($2::text IS NULL OR registry = $2) AND ($3::text IS NULL OR event_type = $3)
       AND ($4::numeric IS NULL OR agent_id = $4) AND ($5::text IS NULL OR client_address = $5) AND ($6::text IS NULL OR validator_address = $6)
       AND ($7::int8 IS NULL OR block_number >= $7) AND ($8::int8 IS NULL OR block_number <= $8)
       AND ($9::timestamptz IS NULL OR block_time >= $9) AND ($10::timestamptz IS NULL OR block_time <= $10)
       AND ($11::int8 IS NULL OR ingest_seq < $11)
     ORDER BY ingest_seq DESC LIMIT $12`,
    [
      search.chainId ?? null,
      search.registry ?? null,
      search.eventType ?? null,
      search.agentId ?? null,
      search.clientAddress ?? null,
      search.validatorAddress ?? null,
      search.fromBlock ?? null,
      search.toBlock ?? null,
      search.from ?? null,
      search.to ?? null,
      search.cursor ?? null,
      // One more than a page: whether there is a next page.
      search.limit + 1,
    ],
  );
  const items = rows.slice(0, search.limit).map((r): SearchedEvent => ({
    id: r.id,
    seq: r.seq,
    chainId: r.chain_id,
    blockNumber: r.block_number,
    blockHash: r.block_hash,
    transactionHash: r.transaction_hash,
    logIndex: r.log_index,
    registry: r.registry,
    eventType: r.event_type,
    agentId: r.agent_id,
    timestamp: r.ts,
    blockTime: r.block_time.toISOString(),
    fields: Object.fromEntries(FIELDS.filter((f) => r[f] !== null).map((f) => [f, r[f]])),
    source: r.source,
    pushedBy: r.pushed_by,
  }));
  return { items, nextCursor: rows.length > search.limit ? items[items.length - 1]!.seq : null };
}

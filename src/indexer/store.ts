/**
 * The one write path into the event log, shared by the live indexer, backfills and the ingestion endpoint.
 *
 * Every transaction that draws ingest_seq numbers (event inserts, retractions) first takes INGEST_LOCK, held until
 * commit: numbers therefore become visible in increasing order, and the relay's "everything after my cursor" read
 * never skips a row that commits later with a smaller number.
 */
import type pg from 'pg';
import { EVENT_COLUMNS, type EventRecord } from './decode.js';
import { segmentRange, type BlockRange, type OccupiedRange, type Segment } from './ranges.js';
import type { Row } from '../db/rows.js';
import type * as s from 'zapatos/schema';
import { withTransaction } from '../db/transaction.js';

/** Advisory lock key serialising writers of ingest_seq ("8004" in ASCII). */
export const INGEST_LOCK = 0x38303034;

export interface Checkpoint {
  chainId: number;
  blockNumber: number;
  blockHash: string;
}

/** A transaction that may append to the event log (see INGEST_LOCK). */
export function withIngestTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [INGEST_LOCK]);
    return fn(client);
  });
}

const COLUMN_TYPES: Record<(typeof EVENT_COLUMNS)[number], string> = {
  id: 'text',
  chain_id: 'int8',
  block_number: 'int8',
  block_hash: 'text',
  transaction_hash: 'text',
  log_index: 'int4',
  contract_address: 'text',
  registry: 'text',
  event_type: 'text',
  abi_version: 'text',
  agent_id: 'numeric',
  timestamp: 'int8',
  owner: 'text',
  from_address: 'text',
  token_uri: 'text',
  metadata_key: 'text',
  metadata_value: 'text',
  updated_by: 'text',
  client_address: 'text',
  feedback_index: 'numeric',
  value: 'numeric',
  value_decimals: 'int2',
  tag1: 'text',
  tag2: 'text',
  endpoint: 'text',
  file_uri: 'text',
  file_hash: 'text',
  responder: 'text',
  validator_address: 'text',
  request_hash: 'text',
  request_uri: 'text',
  response: 'int2',
  response_uri: 'text',
  response_hash: 'text',
  tag: 'text',
};

/** Who wrote an event: the chain as our indexer (or a backfill) read it, or a push through the ingestion endpoint. */
export type EventProvenance = { source: 'indexer' } | { source: 'ingest'; pushedBy: string | null };
export const FROM_CHAIN: EventProvenance = { source: 'indexer' };

const INCOMING = `unnest(${EVENT_COLUMNS.map((c, i) => `$${i + 1}::${COLUMN_TYPES[c]}[]`).join(', ')})
    AS u(${EVENT_COLUMNS.map((c) => `"${c}"`).join(', ')})`;
const PROVENANCE_PARAMS = `$${EVENT_COLUMNS.length + 1}::text, $${EVENT_COLUMNS.length + 2}::text`;

/**
 * Stored live events at the incoming row `u`'s log: same position (block number, log index) or same key (block hash,
 * log index). Two branches rather than an OR, so that each is one index probe (an OR made Postgres compare every
 * incoming row with every candidate of the same log index).
 */
const liveAtLog = (where = '') => `
    SELECT e.* FROM events e WHERE ${where} e.chain_id = u.chain_id AND e.block_number = u.block_number AND e.log_index = u.log_index
      AND NOT EXISTS (SELECT 1 FROM event_retractions r WHERE r.event_seq = e.ingest_seq)
    UNION ALL
    SELECT e.* FROM events e WHERE ${where} e.chain_id = u.chain_id AND e.block_hash = u.block_hash AND e.log_index = u.log_index
      AND e.block_number <> u.block_number AND NOT EXISTS (SELECT 1 FROM event_retractions r WHERE r.event_seq = e.ingest_seq)`;
/** Its content differs from the incoming row (the id follows from the position). */
const CONTENT = EVENT_COLUMNS.filter((c) => c !== 'id' && c !== 'chain_id');
const DIFFERENT_CONTENT = `(${CONTENT.map((c) => `e."${c}"`).join(', ')}) IS DISTINCT FROM (${CONTENT.map((c) => `u."${c}"`).join(', ')})`;

// incarnation = how many copies of the same (chain, block hash, log index) were retracted: an event already stored
// and live conflicts (idempotent no-op); one whose every copy was retracted (its block came back) is appended anew.
// A pushed row is also skipped when a live event already holds its log (a conflict if the content differs).
const insertSql = (pushed: boolean) => `
  INSERT INTO events (${EVENT_COLUMNS.map((c) => `"${c}"`).join(', ')}, block_time, incarnation, source, pushed_by)
  SELECT u.*, to_timestamp(u."timestamp"),
    (SELECT count(*) FROM events e JOIN event_retractions r ON r.event_seq = e.ingest_seq
     WHERE e.chain_id = u.chain_id AND e.block_hash = u.block_hash AND e.log_index = u.log_index),
    ${PROVENANCE_PARAMS}
  FROM ${INCOMING}
  ${pushed ? `WHERE NOT EXISTS (${liveAtLog()})` : ''}
  ORDER BY u.block_number, u.log_index
  ON CONFLICT ON CONSTRAINT events_block_log_key DO NOTHING`;
const INSERT_FROM_CHAIN_SQL = insertSql(false);
const INSERT_PUSHED_SQL = insertSql(true);

// The chain wins: live pushed rows at the logs the indexer read, with other content, are retracted as superseded
// before the chain's rows go in (so they get the next incarnation of their key, and the relay sees retraction first).
const SUPERSEDE_PUSHED_SQL = `
  INSERT INTO event_retractions (event_seq, event_id, chain_id, block_number, block_hash, reason)
  SELECT DISTINCT ON (e.ingest_seq) e.ingest_seq, e.id, e.chain_id, e.block_number, e.block_hash, 'superseded'
  FROM ${INCOMING}
  CROSS JOIN LATERAL (${liveAtLog("e.source = 'ingest' AND")}) e
  WHERE ${DIFFERENT_CONTENT}
  ORDER BY e.ingest_seq
  RETURNING event_seq::text, event_id, block_hash`;

// Whether any live pushed row sits at the logs being written: only the keys are sent (usually the answer is no, and
// the full comparison above, which sends every column again, is skipped).
const PUSHED_AT_LOGS_SQL = `
  SELECT EXISTS (
    SELECT 1 FROM unnest($1::int8[], $2::int8[], $3::text[], $4::int4[]) AS u(chain_id, block_number, block_hash, log_index)
    WHERE EXISTS (${liveAtLog("e.source = 'ingest' AND")})) AS found`;

// Pushed rows whose log a live event holds with other content: refused (counted), never written.
const PUSHED_CONFLICTS_SQL = `
  SELECT count(DISTINCT (u.block_hash, u.log_index, u.block_number))::int AS n FROM ${INCOMING}
  CROSS JOIN LATERAL (${liveAtLog()}) e
  WHERE ${DIFFERENT_CONTENT}`;

export interface SupersededEvent {
  eventSeq: string;
  eventId: string;
  blockHash: string;
}

export interface InsertOutcome {
  /** Rows appended. */
  inserted: number;
  /** Pushed rows the chain's rows replaced (retracted with reason 'superseded'). */
  superseded: SupersededEvent[];
  /** Pushed rows refused because a live event holds their log with other content. */
  conflicts: number;
}

/**
 * Appends events (one statement, any number of rows), skipping rows already stored and live (same chain, block hash,
 * log index), and records their provenance. Rows from the chain supersede pushed rows that disagree with them; pushed
 * rows never replace anything. Must run inside withIngestTransaction.
 */
export async function insertEvents(
  client: pg.PoolClient,
  rows: readonly EventRecord[],
  provenance: EventProvenance = FROM_CHAIN,
): Promise<InsertOutcome> {
  if (rows.length === 0) return { inserted: 0, superseded: [], conflicts: 0 };
  const columns = EVENT_COLUMNS.map((c) => rows.map((r) => r[c]));
  if (provenance.source === 'ingest') {
    const conflicts = (await client.query<{ n: number }>(PUSHED_CONFLICTS_SQL, columns)).rows[0]!.n;
    const result = await client.query(INSERT_PUSHED_SQL, [...columns, 'ingest', provenance.pushedBy]);
    return { inserted: result.rowCount ?? 0, superseded: [], conflicts };
  }
  const keys = (['chain_id', 'block_number', 'block_hash', 'log_index'] as const).map((c) => rows.map((r) => r[c]));
  const pushed = (await client.query<{ found: boolean }>(PUSHED_AT_LOGS_SQL, keys)).rows[0]!.found;
  const superseded = pushed
    ? (
        await client.query<
          Row<s.event_retractions.Selectable, 'event_seq' | 'event_id' | 'block_hash', { event_seq: string }>
        >(SUPERSEDE_PUSHED_SQL, columns)
      ).rows
    : [];
  const result = await client.query(INSERT_FROM_CHAIN_SQL, [...columns, 'indexer', null]);
  return {
    inserted: result.rowCount ?? 0,
    superseded: superseded.map((r) => ({ eventSeq: r.event_seq, eventId: r.event_id, blockHash: r.block_hash })),
    conflicts: 0,
  };
}

// ---------------------------------------------------------------------------------------------- checkpoints

export async function loadCheckpoint(db: pg.Pool | pg.PoolClient, chainId: number): Promise<Checkpoint | undefined> {
  const { rows } = await db.query<Pick<s.checkpoints.Selectable, 'last_block_number' | 'last_block_hash'>>(
    'SELECT last_block_number, last_block_hash FROM checkpoints WHERE chain_id = $1',
    [chainId],
  );
  const row = rows[0];
  return row ? { chainId, blockNumber: Number(row.last_block_number), blockHash: row.last_block_hash } : undefined;
}

/**
 * Moves the checkpoint and records the hashes of the blocks written (for reorg checks), in one statement: it is on
 * every event's path.
 */
export async function saveCheckpoint(
  client: pg.PoolClient,
  checkpoint: Checkpoint,
  blocks: readonly { number: number; hash: string }[] = [],
): Promise<void> {
  await client.query(
    `WITH hashes AS (
       INSERT INTO indexed_blocks (chain_id, block_number, block_hash)
       SELECT $1, n, h FROM unnest($4::int8[], $5::text[]) AS u(n, h)
       ON CONFLICT (chain_id, block_number) DO UPDATE SET block_hash = EXCLUDED.block_hash)
     INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, $2, $3)
     ON CONFLICT (chain_id) DO UPDATE SET last_block_number = EXCLUDED.last_block_number, last_block_hash = EXCLUDED.last_block_hash`,
    [
      checkpoint.chainId,
      checkpoint.blockNumber,
      checkpoint.blockHash.toLowerCase(),
      blocks.map((b) => b.number),
      blocks.map((b) => b.hash.toLowerCase()),
    ],
  );
}

/** Records the chain head the indexer saw (for lag); creates no checkpoint. */
export async function recordHead(pool: pg.Pool, chainId: number, head: number): Promise<void> {
  await pool.query('UPDATE checkpoints SET head_block_number = $2, head_seen_at = now() WHERE chain_id = $1', [
    chainId,
    head,
  ]);
}

// ---------------------------------------------------------------------------------------------- block hashes

/** Stored hashes at or below `atOrBelow`, newest first. */
export async function storedBlockHashes(pool: pg.Pool, chainId: number, atOrBelow: number, limit: number) {
  const { rows } = await pool.query<Pick<s.indexed_blocks.Selectable, 'block_number' | 'block_hash'>>(
    `SELECT block_number, block_hash FROM indexed_blocks WHERE chain_id = $1 AND block_number <= $2
     ORDER BY block_number DESC LIMIT $3`,
    [chainId, atOrBelow, limit],
  );
  return rows.map((r) => ({ number: Number(r.block_number), hash: r.block_hash }));
}

export async function pruneBlockHashes(client: pg.PoolClient, chainId: number, below: number) {
  await client.query('DELETE FROM indexed_blocks WHERE chain_id = $1 AND block_number < $2', [chainId, below]);
}

// ---------------------------------------------------------------------------------------------- range claims

function rangeLockKey(chainId: number): string {
  return `ingest-ranges:${chainId}`;
}

/**
 * Looks at [from, to] under the chain's range lock and claims its free parts (and any of `owner`'s own earlier
 * claims) for `owner` with a lease. Expired claims of dead processes are dropped first.
 */
export async function claimRange(
  pool: pg.Pool,
  chainId: number,
  request: BlockRange,
  owner: string,
  leaseMs: number,
): Promise<Segment[]> {
  return withTransaction(pool, async (client) => {
    // A claim's commit does not wait for the disk (it is on every live pass's path): a Postgres crash that loses it
    // also ends every session that could act on it, and each claimer claims again after reconnecting.
    await client.query(
      `SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), set_config('synchronous_commit', 'off', true)`,
      [rangeLockKey(chainId)],
    );
    // Expired claims go, and are not counted (the read does not see the delete of its own statement).
    const { rows } = await client.query<
      Row<s.ingest_ranges.Selectable, 'from_block' | 'to_block' | 'state' | 'owner', { state: 'done' | 'claimed' }>
    >(
      `WITH expired AS (DELETE FROM ingest_ranges WHERE chain_id = $1 AND state = 'claimed' AND lease_expires_at < now())
       SELECT from_block, to_block, state, owner FROM ingest_ranges
       WHERE chain_id = $1 AND to_block >= $2 AND from_block <= $3 AND NOT (state = 'claimed' AND lease_expires_at < now())
       ORDER BY from_block`,
      [chainId, request.from, request.to],
    );
    const occupied: OccupiedRange[] = rows.map((r) => ({
      from: Number(r.from_block),
      to: Number(r.to_block),
      state: r.state,
      owner: r.owner,
    }));
    const segments = segmentRange(request, occupied, owner);
    const toClaim = segments.filter((s) => s.status === 'free' || s.status === 'mine');
    if (toClaim.length > 0) {
      // The owner's earlier claims over the request are replaced by the new ones, in one statement.
      await client.query(
        `WITH replaced AS (
           DELETE FROM ingest_ranges WHERE chain_id = $1 AND state = 'claimed' AND owner = $2 AND to_block >= $6 AND from_block <= $7)
         INSERT INTO ingest_ranges (chain_id, from_block, to_block, state, owner, lease_expires_at)
         SELECT $1, f, t, 'claimed', $2, now() + make_interval(secs => $3::float8 / 1000)
         FROM unnest($4::int8[], $5::int8[]) AS u(f, t)`,
        [chainId, owner, leaseMs, toClaim.map((s) => s.from), toClaim.map((s) => s.to), request.from, request.to],
      );
    }
    return segments.map((s) => (s.status === 'free' ? { ...s, status: 'mine' as const } : s));
  });
}

/**
 * Turns `owner`'s claim on [from, to] into a done range, merged with done neighbours. Runs in the transaction that
 * wrote the range's events, so "done" and the events commit together.
 */
export async function completeRange(
  client: pg.PoolClient,
  chainId: number,
  range: BlockRange,
  owner: string,
): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [rangeLockKey(chainId)]);
  // One statement: the claim goes, done ranges that touch or overlap this one are absorbed, and the union goes in
  // (least/greatest ignore the NULLs of an empty aggregate).
  await client.query(
    `WITH released AS (
       DELETE FROM ingest_ranges WHERE chain_id = $1 AND state = 'claimed' AND owner = $4 AND from_block >= $2 AND to_block <= $3),
     absorbed AS (
       DELETE FROM ingest_ranges WHERE chain_id = $1 AND state = 'done' AND to_block >= $2 - 1 AND from_block <= $3 + 1
       RETURNING from_block, to_block)
     INSERT INTO ingest_ranges (chain_id, from_block, to_block, state, owner)
     SELECT $1, least($2::int8, min(from_block)), greatest($3::int8, max(to_block)), 'done', $4 FROM absorbed`,
    [chainId, range.from, range.to, owner],
  );
}

/** Gives up `owner`'s claims (graceful stop), so others need not wait for the lease to expire. */
export async function releaseClaims(pool: pg.Pool, chainId: number, owner: string): Promise<void> {
  await pool.query(`DELETE FROM ingest_ranges WHERE chain_id = $1 AND state = 'claimed' AND owner = $2`, [
    chainId,
    owner,
  ]);
}

// ---------------------------------------------------------------------------------------------- reorgs

/**
 * After a reorg whose common ancestor is `ancestor`: appends a retraction for every canonical event above it, forgets
 * block hashes and written ranges above it, and moves the checkpoint back (or removes it when nothing below remains).
 * Returns the number of retracted events.
 */
export async function retractAbove(
  pool: pg.Pool,
  chainId: number,
  ancestor: { number: number; hash: string } | undefined,
): Promise<number> {
  return withIngestTransaction(pool, async (client) => {
    const above = ancestor?.number ?? -1;
    const { rowCount } = await client.query(
      `INSERT INTO event_retractions (event_seq, event_id, chain_id, block_number, block_hash, reason)
       SELECT e.ingest_seq, e.id, e.chain_id, e.block_number, e.block_hash, 'reorg'
       FROM events e
       WHERE e.chain_id = $1 AND e.block_number > $2
         AND NOT EXISTS (SELECT 1 FROM event_retractions r WHERE r.event_seq = e.ingest_seq)
       ORDER BY e.block_number, e.log_index`,
      [chainId, above],
    );
    await client.query('DELETE FROM indexed_blocks WHERE chain_id = $1 AND block_number > $2', [chainId, above]);
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [rangeLockKey(chainId)]);
    await client.query('DELETE FROM ingest_ranges WHERE chain_id = $1 AND from_block > $2', [chainId, above]);
    await client.query('UPDATE ingest_ranges SET to_block = $2 WHERE chain_id = $1 AND to_block > $2', [
      chainId,
      above,
    ]);
    if (ancestor) await saveCheckpoint(client, { chainId, blockNumber: ancestor.number, blockHash: ancestor.hash });
    else await client.query('DELETE FROM checkpoints WHERE chain_id = $1', [chainId]);
    return rowCount ?? 0;
  });
}

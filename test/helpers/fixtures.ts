import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { EVENT_COLUMNS, type EventRecord } from '../../src/indexer/decode.js';
import { insertEvents, withIngestTransaction } from '../../src/indexer/store.js';

const hex = (bytes: number) => `0x${randomBytes(bytes).toString('hex')}`;

export async function insertUser(pool: pg.Pool, overrides: Record<string, unknown> = {}): Promise<string> {
  const tag = randomBytes(4).toString('hex');
  const row = { username: `user_${tag}`, email: `${tag}@example.test`, password_hash: '$argon2id$fake', ...overrides };
  const cols = Object.keys(row);
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO users (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`,
    Object.values(row),
  );
  return rows[0]!.id;
}

export async function insertOrganization(
  pool: pg.Pool,
  ownerId: string,
  overrides: Record<string, unknown> = {},
): Promise<string> {
  const row = { name: 'Acme', slug: `acme-${randomBytes(4).toString('hex')}`, owner_id: ownerId, ...overrides };
  const cols = Object.keys(row);
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO organizations (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`,
    Object.values(row),
  );
  return rows[0]!.id;
}

export interface EventRow {
  [column: string]: unknown;
}

/** A valid NewFeedback row; override any column. Keeps id, block_time and position consistent. */
export function feedbackEvent(overrides: EventRow = {}): EventRow {
  const chain_id = (overrides.chain_id as number | undefined) ?? 31337;
  const block_number = (overrides.block_number as number | undefined) ?? 100;
  const log_index = (overrides.log_index as number | undefined) ?? 0;
  const timestamp = (overrides.timestamp as number | undefined) ?? 1_767_225_600;
  return {
    id: `${chain_id}-${block_number}-${log_index}`,
    chain_id,
    block_number,
    block_hash: hex(32),
    transaction_hash: hex(32),
    log_index,
    contract_address: hex(20),
    registry: 'reputation',
    event_type: 'NewFeedback',
    agent_id: '0',
    timestamp,
    block_time: new Date(timestamp * 1000).toISOString(),
    client_address: hex(20),
    feedback_index: '1',
    value: '95',
    value_decimals: 0,
    tag1: 'quality',
    tag2: '',
    endpoint: 'https://agent.example/mcp',
    file_uri: 'ipfs://feedback',
    file_hash: hex(32),
    ...overrides,
  };
}

/** Inserts one row as the indexer would (every event records its source); override `source` to test provenance. */
export async function insertEvent(
  pool: pg.Pool | pg.PoolClient,
  overrides: EventRow,
): Promise<{ ingest_seq: string; id: string }> {
  const row = { source: 'indexer', ...overrides };
  const cols = Object.keys(row);
  const { rows } = await pool.query<{ ingest_seq: string; id: string }>(
    `INSERT INTO events (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ingest_seq, id`,
    Object.values(row),
  );
  return rows[0]!;
}

/** A NewFeedback EventRecord for the store's write path (src/indexer/store.ts). */
export function feedbackRecord(overrides: Partial<EventRecord> = {}): EventRecord {
  const row = feedbackEvent(overrides as EventRow);
  delete row.block_time;
  const nulls = Object.fromEntries(EVENT_COLUMNS.map((c) => [c, null]));
  return { ...nulls, abi_version: 'v1.0', ...row } as unknown as EventRecord;
}

/** Appends records through the production write path; returns how many were new. */
export async function appendEvents(pool: pg.Pool, records: EventRecord[]): Promise<number> {
  return (await withIngestTransaction(pool, (client) => insertEvents(client, records))).inserted;
}

/**
 * A chain indexed up to a confirmed `head`: two feedbacks to `agentId` (90 from client 0xc1…, 80 from 0xc2…) at blocks
 * 100 and 101 — what the query surfaces' tests ask about.
 */
export async function indexTwoFeedbacks(
  pool: pg.Pool,
  chain: { chainId: number; agentId: string; head: number; headHash: string },
): Promise<void> {
  const feedback = (block_number: number, value: string, client: string) =>
    feedbackRecord({
      chain_id: chain.chainId,
      agent_id: chain.agentId,
      block_number,
      log_index: 0,
      value,
      client_address: `0x${client.repeat(20)}`,
    });
  await appendEvents(pool, [feedback(100, '90', 'c1'), feedback(101, '80', 'c2')]);
  await pool.query('INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, $2, $3)', [
    chain.chainId,
    chain.head,
    chain.headHash,
  ]);
}

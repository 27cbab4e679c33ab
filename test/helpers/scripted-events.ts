/**
 * A scripted event log for query tests: writes registry events of one chain straight into `events` (as the indexer
 * would), with a fixed hash per block, fixed registry addresses and one block every 12 s — so a test states the chain
 * it wants in a few lines and computes the expected answers itself.
 */
import type pg from 'pg';
import { insertEvent, type EventRow } from './fixtures.js';

export const REGISTRIES = {
  identity: `0x${'1'.repeat(40)}`,
  reputation: `0x${'2'.repeat(40)}`,
  validation: `0x${'3'.repeat(40)}`,
  legacyReputation: `0x${'4'.repeat(40)}`,
} as const;

/** The unix time of block 0; block n is 12·n seconds later. */
export const GENESIS_TIME = 1_767_225_600; // 2026-01-01T00:00:00Z

export const blockHash = (block: number, fork = 0) =>
  `0x${fork.toString(16).padStart(8, '0')}${block.toString(16).padStart(56, '0')}`;
export const blockTime = (block: number) => GENESIS_TIME + 12 * block;
export const address = (n: number) => `0x${n.toString(16).padStart(40, '0')}`;
export const bytes32 = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;

type Registry = keyof typeof REGISTRIES;

export class ScriptedChain {
  private logIndex = new Map<number, number>();

  constructor(
    readonly pool: pg.Pool,
    readonly chainId: number,
  ) {}

  /** Appends one event at `block` (next log index of that block); returns its ingest_seq. */
  async event(registry: Registry, block: number, columns: EventRow, options: { fork?: number } = {}): Promise<string> {
    const logIndex = this.logIndex.get(block) ?? 0;
    this.logIndex.set(block, logIndex + 1);
    const timestamp = blockTime(block);
    const row = await insertEvent(this.pool, {
      id: `${this.chainId}-${block}-${logIndex}`,
      chain_id: this.chainId,
      block_number: block,
      block_hash: blockHash(block, options.fork),
      transaction_hash: bytes32(block * 1000 + logIndex),
      log_index: logIndex,
      contract_address: REGISTRIES[registry],
      registry: registry === 'legacyReputation' ? 'reputation' : registry,
      abi_version: registry === 'legacyReputation' ? 'v0.4' : 'v1.0',
      timestamp,
      block_time: new Date(timestamp * 1000).toISOString(),
      ...columns,
    });
    return row.ingest_seq;
  }

  /** Marks an event as removed by a reorg. */
  async retract(ingestSeq: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO event_retractions (event_seq, event_id, chain_id, block_number, block_hash)
       SELECT ingest_seq, id, chain_id, block_number, block_hash FROM events WHERE ingest_seq = $1`,
      [ingestSeq],
    );
  }

  /** The indexer's checkpoint (the default as-of block) and the hashes of the blocks up to it. */
  async checkpoint(block: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO indexed_blocks (chain_id, block_number, block_hash)
       SELECT $1, n, '0x' || lpad('', 8, '0') || lpad(to_hex(n), 56, '0') FROM generate_series(0, $2::bigint) n
       ON CONFLICT DO NOTHING`,
      [this.chainId, block],
    );
    await this.pool.query(
      `INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, $2, $3)
       ON CONFLICT (chain_id) DO UPDATE SET last_block_number = $2, last_block_hash = $3`,
      [this.chainId, block, blockHash(block)],
    );
  }

  feedback(
    block: number,
    f: {
      agentId: string;
      client: string;
      index: number;
      value: string;
      decimals: number;
      tag1?: string;
      tag2?: string;
      endpoint?: string;
    },
  ): Promise<string> {
    return this.event('reputation', block, {
      event_type: 'NewFeedback',
      agent_id: f.agentId,
      client_address: f.client,
      feedback_index: String(f.index),
      value: f.value,
      value_decimals: f.decimals,
      tag1: f.tag1 ?? '',
      tag2: f.tag2 ?? '',
      endpoint: f.endpoint ?? '',
      file_uri: `ipfs://feedback-${block}`,
      file_hash: bytes32(block),
    });
  }

  /** v0.4 feedback: a score, no feedback index (the registry counts them per client). */
  legacyFeedback(block: number, f: { agentId: string; client: string; score: number; tag1?: string }) {
    return this.event('legacyReputation', block, {
      event_type: 'NewFeedback',
      agent_id: f.agentId,
      client_address: f.client,
      value: String(f.score),
      value_decimals: 0,
      tag1: f.tag1 ?? '',
      tag2: '',
      file_uri: '',
      file_hash: bytes32(0),
    });
  }

  revoke(block: number, f: { agentId: string; client: string; index: number }, registry: Registry = 'reputation') {
    return this.event(registry, block, {
      event_type: 'FeedbackRevoked',
      agent_id: f.agentId,
      client_address: f.client,
      feedback_index: String(f.index),
    });
  }

  respond(block: number, f: { agentId: string; client: string; index: number; responder: string }) {
    return this.event('reputation', block, {
      event_type: 'ResponseAppended',
      agent_id: f.agentId,
      client_address: f.client,
      feedback_index: String(f.index),
      responder: f.responder,
      response_uri: 'ipfs://response',
      response_hash: bytes32(7),
    });
  }
}

import type pg from 'pg';
import type * as s from 'zapatos/schema';
import { registeredCounters } from '../counters.js';

export interface ChainLag {
  chainId: number;
  checkpoint: number;
  head: number | null;
  lagBlocks: number | null;
  headSeenSecondsAgo: number | null;
}

/** Per-chain indexer progress from the checkpoints the indexers keep (works from any process). */
export async function indexerLag(pool: pg.Pool): Promise<ChainLag[]> {
  const { rows } = await pool.query<
    Pick<s.checkpoints.Selectable, 'chain_id' | 'last_block_number' | 'head_block_number'> & { seen_ago: number | null }
  >(
    `SELECT chain_id, last_block_number, head_block_number, extract(epoch FROM now() - head_seen_at)::float8 AS seen_ago
     FROM checkpoints ORDER BY chain_id`,
  );
  return rows.map((r) => ({
    chainId: Number(r.chain_id),
    checkpoint: Number(r.last_block_number),
    head: r.head_block_number === null ? null : Number(r.head_block_number),
    lagBlocks: r.head_block_number === null ? null : Number(r.head_block_number) - Number(r.last_block_number),
    headSeenSecondsAgo: r.seen_ago === null ? null : Math.round(r.seen_ago * 10) / 10,
  }));
}

/** Relay cursors and how far each is behind the newest ingest_seq. */
export async function relayLag(pool: pg.Pool) {
  const { rows } = await pool.query<Pick<s.relay_cursors.Selectable, 'name' | 'position'> & { newest: string }>(
    `SELECT c.name, c.position::text,
       greatest((SELECT coalesce(max(ingest_seq), 0) FROM events), (SELECT coalesce(max(ingest_seq), 0) FROM event_retractions))::text AS newest
     FROM relay_cursors c ORDER BY c.name`,
  );
  return rows.map((r) => ({ name: r.name, position: Number(r.position), lag: Number(r.newest) - Number(r.position) }));
}

/**
 * Pushed events the chain superseded, per chain: the indexer read their logs with other content. Counted from the
 * append-only retractions, so the figure is the same from every process and survives restarts.
 */
export async function ingestConflicts(pool: pg.Pool): Promise<{ chainId: number; superseded: number }[]> {
  const { rows } = await pool.query<Pick<s.event_retractions.Selectable, 'chain_id'> & { n: string }>(
    `SELECT chain_id::text, count(*)::text AS n FROM event_retractions WHERE reason = 'superseded' GROUP BY chain_id ORDER BY chain_id`,
  );
  return rows.map((r) => ({ chainId: Number(r.chain_id), superseded: Number(r.n) }));
}

/** Prometheus text exposition of ingestion and relay progress. */
export async function renderMetrics(pool: pg.Pool): Promise<string> {
  const [chains, relays, conflicts] = await Promise.all([indexerLag(pool), relayLag(pool), ingestConflicts(pool)]);
  const lines: string[] = [];
  const metric = (
    name: string,
    help: string,
    samples: [Record<string, string | number>, number | null][],
    type: 'gauge' | 'counter' = 'gauge',
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      if (value === null) continue;
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${String(v).replace(/["\\\n]/g, '_')}"`)
        .join(',');
      lines.push(`${name}{${l}} ${value}`);
    }
  };
  metric(
    'erc8004_indexer_checkpoint_block',
    'Last block fully written by the live indexer.',
    chains.map((c) => [{ chain_id: c.chainId }, c.checkpoint]),
  );
  metric(
    'erc8004_indexer_head_block',
    'Chain head the indexer last saw.',
    chains.map((c) => [{ chain_id: c.chainId }, c.head]),
  );
  metric(
    'erc8004_indexer_lag_blocks',
    'Head minus checkpoint (includes the confirmation depth).',
    chains.map((c) => [{ chain_id: c.chainId }, c.lagBlocks]),
  );
  metric(
    'erc8004_indexer_head_age_seconds',
    'Seconds since the indexer last saw the head.',
    chains.map((c) => [{ chain_id: c.chainId }, c.headSeenSecondsAgo]),
  );
  metric(
    'erc8004_relay_cursor',
    'Last ingest_seq dispatched by the relay.',
    relays.map((r) => [{ cursor: r.name }, r.position]),
  );
  metric(
    'erc8004_relay_lag_items',
    'Events and retractions not yet dispatched.',
    relays.map((r) => [{ cursor: r.name }, r.lag]),
  );
  metric(
    'erc8004_ingest_conflicts_total',
    'Pushed (ingested) events whose log the indexer read with other content: retracted as superseded, the chain won.',
    conflicts.map((c) => [{ chain_id: c.chainId }, c.superseded]),
    'counter',
  );
  for (const c of registeredCounters()) lines.push(...c.render());
  return `${lines.join('\n')}\n`;
}

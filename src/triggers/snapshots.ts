/**
 * trigger_state: the snapshot a trigger workflow writes when it fires and now and then (src/triggers/runner.ts), and
 * what a run that starts without a carry restores from it — the snapshot plus the items the relay sent after its
 * position, read back from the event log with the relay's own filters.
 */
import type pg from 'pg';
import type { Queryable } from '../db/transaction.js';
import type { TriggerItem } from './drain.js';
import { TRIGGER_EVENT_COLUMNS, type TriggerEventRow } from './event-row.js';
import type { TriggerItemsQuery, TriggerSnapshot } from './runner.js';
import { loadTriggerInput } from './store.js';

/** Writes the trigger's snapshot; a deleted trigger's is skipped. A snapshot never replaces a later one. */
export async function saveTriggerSnapshot(db: Queryable, triggerId: string, snapshot: TriggerSnapshot): Promise<void> {
  await db.query(
    `INSERT INTO trigger_state (trigger_id, state_data, last_updated)
     SELECT id, $2, now() FROM triggers WHERE id = $1
     ON CONFLICT (trigger_id) DO UPDATE SET state_data = EXCLUDED.state_data, last_updated = now()
       WHERE coalesce((trigger_state.state_data->>'position')::numeric, 0) <= (EXCLUDED.state_data->>'position')::numeric`,
    [triggerId, JSON.stringify(snapshot)],
  );
}

/** The latest snapshot; null when there is none, or it is one from before snapshots kept their position. */
export async function loadTriggerSnapshot(db: Queryable, triggerId: string): Promise<TriggerSnapshot | null> {
  const { rows } = await db.query<{ state_data: unknown }>(
    'SELECT state_data FROM trigger_state WHERE trigger_id = $1',
    [triggerId],
  );
  const data = rows[0]?.state_data as Partial<TriggerSnapshot> | undefined;
  return data?.version === 2 ? (data as TriggerSnapshot) : null;
}

/** The trigger as stored and its latest snapshot (what a run without a carry starts from); null when deleted. */
export async function loadTriggerStart(pool: pg.Pool, triggerId: string) {
  const [trigger, snapshot] = await Promise.all([
    loadTriggerInput(pool, triggerId),
    loadTriggerSnapshot(pool, triggerId),
  ]);
  return trigger && { trigger, snapshot };
}

type ItemRow = TriggerEventRow & {
  item_kind: 'event' | 'retraction';
  seq: string;
  event_seq: string | null;
  retracted_chain_id: number | null;
};

/**
 * The events and retractions after `afterSeq` the relay sends this trigger (src/relay/trigger-dispatcher.ts: registry,
 * chain, static prefilters), in ingest order — retracted events included, each followed by its retraction, as the relay
 * sends them.
 */
export async function loadTriggerItems(db: Queryable, q: TriggerItemsQuery): Promise<TriggerItem[]> {
  const { rows } = await db.query<ItemRow>(
    `WITH matching AS (
       SELECT e.* FROM events e
       WHERE e.registry = $1 AND ($2::int8 IS NULL OR e.chain_id = $2)
         AND ($3::text[] IS NULL OR e.event_type = ANY ($3)) AND ($4::numeric[] IS NULL OR e.agent_id = ANY ($4))
     )
     SELECT * FROM (
       (SELECT 'event' AS item_kind, ingest_seq::text AS seq, NULL::text AS event_seq, NULL::float8 AS retracted_chain_id,
          ${TRIGGER_EVENT_COLUMNS}
        FROM matching WHERE ingest_seq > $5 ORDER BY ingest_seq LIMIT $6)
       UNION ALL
       (SELECT 'retraction', r.ingest_seq::text, r.event_seq::text, r.chain_id::float8,
          e.ingest_seq::text, e.id, e.chain_id::float8, e.block_number::float8, e.log_index, e."timestamp"::float8,
          e.registry, e.event_type, e.agent_id::text, e.value::text, e.value_decimals, e.tag1, e.tag2, e.tag,
          e.validator_address, e.file_uri, e.response, e.request_hash, e.abi_version
        FROM event_retractions r JOIN matching e ON e.ingest_seq = r.event_seq
        WHERE r.ingest_seq > $5 ORDER BY r.ingest_seq LIMIT $6)
     ) items ORDER BY seq::int8 LIMIT $6`,
    [q.registry, q.chainId, q.eventTypes, q.agentIds, q.afterSeq, q.limit],
  );
  return rows.map(({ item_kind, seq, event_seq, retracted_chain_id, ...event }): TriggerItem =>
    item_kind === 'event'
      ? { kind: 'event', event }
      : {
          kind: 'retraction',
          seq,
          eventSeq: event_seq!,
          chainId: retracted_chain_id!,
          agentId: event.agent_id,
          eventType: event.event_type,
          requestHash: event.request_hash,
        },
  );
}

/**
 * Database work of the trigger workflows: loading a definition, recording matches, snapshotting state, and reading the
 * canonical events an agent's state is recomputed from after a retraction. Every write is idempotent (activities run
 * at least once).
 */
import type pg from 'pg';
import type { Logger } from '../src/logger.js';
import type { TriggerEvent, TriggerState } from '../src/triggers/engine.js';
import { loadTriggerInput, type StoredTrigger } from '../src/triggers/store.js';
import { TRIGGER_EVENT_COLUMNS, type TriggerEventRow } from '../src/triggers/event-row.js';
import { recordMatches } from '../src/deliveries/firings.js';
import type { MatchRecord } from '../src/deliveries/types.js';
import type {
  CanonicalEventsQuery,
  TriggerHistoryQuery,
  TriggerItemsQuery,
  TriggerSnapshot,
  TriggerStart,
} from '../src/triggers/runner.js';
import type { TriggerItem } from '../src/triggers/drain.js';
import { loadTriggerItems, loadTriggerStart, saveTriggerSnapshot } from '../src/triggers/snapshots.js';

export function createTriggerActivities({ pool, logger }: { pool: pg.Pool; logger: Logger }) {
  const log = logger.child({ component: 'trigger-activities' });
  return {
    /** The trigger as stored, or null when it was deleted. */
    async loadTriggerDefinition(triggerId: string): Promise<StoredTrigger | null> {
      return loadTriggerInput(pool, triggerId);
    },

    async recordMatches(triggerId: string, matches: MatchRecord[]): Promise<number> {
      const recorded = await recordMatches(pool, triggerId, matches);
      if (matches.length > 0)
        log.debug({ triggerId, matches: matches.length, new: recorded }, 'recorded trigger matches');
      return recorded;
    },

    /** Snapshot of the workflow's state (the workflow holds the live copy). A deleted trigger's snapshot is skipped. */
    async saveTriggerState(triggerId: string, state: TriggerState): Promise<void> {
      await pool.query(
        `INSERT INTO trigger_state (trigger_id, state_data, last_updated)
         SELECT id, $2, now() FROM triggers WHERE id = $1
         ON CONFLICT (trigger_id) DO UPDATE SET state_data = EXCLUDED.state_data, last_updated = now()`,
        [triggerId, JSON.stringify(state)],
      );
    },

    /** The trigger as stored and its latest snapshot, or null when it was deleted. */
    loadTriggerStart(triggerId: string): Promise<TriggerStart | null> {
      return loadTriggerStart(pool, triggerId);
    },

    /** A page of the items the relay sends the trigger, after a snapshot's position. */
    loadTriggerItems(q: TriggerItemsQuery): Promise<TriggerItem[]> {
      return loadTriggerItems(pool, q);
    },

    /** Snapshot with its position (run as a local activity, beside a firing's or on its own now and then). */
    saveTriggerSnapshot(triggerId: string, snapshot: TriggerSnapshot): Promise<void> {
      return saveTriggerSnapshot(pool, triggerId, snapshot);
    },

    async deleteTriggerState(triggerId: string): Promise<void> {
      await pool.query('DELETE FROM trigger_state WHERE trigger_id = $1', [triggerId]);
    },

    /** History for a trigger with a start block: canonical events from that block up to its creation, a page at a time. */
    async loadTriggerHistory(q: TriggerHistoryQuery): Promise<TriggerEvent[]> {
      const { rows } = await pool.query<TriggerEventRow>(
        `SELECT ${TRIGGER_EVENT_COLUMNS} FROM canonical_events
         WHERE ($1::int8 IS NULL OR chain_id = $1) AND registry = $2 AND block_number >= $3 AND ingest_seq > $4 AND ingest_seq <= $5
         ORDER BY ingest_seq LIMIT $6`,
        [q.chainId, q.registry, q.startBlock, q.afterSeq, q.upToSeq, q.limit],
      );
      return rows;
    },

    /** Canonical events of one agent the trigger has seen, in ingest order (for recomputing after a retraction). */
    async loadCanonicalEvents(q: CanonicalEventsQuery): Promise<TriggerEvent[]> {
      const { rows } = await pool.query<TriggerEventRow>(
        `SELECT ${TRIGGER_EVENT_COLUMNS} FROM canonical_events
         WHERE chain_id = $1 AND registry = $2 AND agent_id IS NOT DISTINCT FROM $3::numeric AND ingest_seq <= $5
           AND (ingest_seq > $4 OR block_number >= $6::int8)
         ORDER BY ingest_seq LIMIT 100000`,
        [q.chainId, q.registry, q.agentId, q.afterSeq, q.upToSeq, q.startBlock ?? null],
      );
      return rows;
    },
  };
}

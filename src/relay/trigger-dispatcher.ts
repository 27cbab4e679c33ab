/**
 * Delivers relay batches to the trigger workflows: one indexed query finds the candidate triggers of the whole batch
 * (enabled, organization active, chain, registry, static prefilters, created before the event), events are grouped per
 * trigger, and each group goes out with signalWithStart — in order, chunked well below Temporal's payload limits, a
 * bounded number of triggers at a time. dispatch() resolves only when every signal was accepted.
 *
 * Triggers whose firing depends on the event alone (`firesPerEvent`: no stateful condition, cooldown, hysteresis or
 * history) hold no state, so their workflow has nothing to keep: the dispatcher evaluates their events itself with the
 * same pure evaluator, records the firings and creates their deliveries directly — idempotent on (trigger, event,
 * kind), so a batch dispatched again after a crash changes nothing. It saves a signal and a workflow task per event,
 * which is most of what an event costs on the Temporal path. Their workflows stay for config updates and deletion,
 * and for the Temporal UI: every few seconds (SHOW_FIRINGS_EVERY_MS), the triggers that fired here meanwhile get one
 * `relayFirings` signal each with their recorded count and latest firing, which their workflow upserts as search
 * attributes (LastFiredAt, FiringCount) — a signal per trigger per interval, not per event.
 *
 * With a databaseUrl the candidates come from an in-memory index kept current by NOTIFY (src/relay/candidate-index.ts),
 * the query below being the fallback while the index cannot vouch for being current.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type pg from 'pg';
import type * as s from 'zapatos/schema';
import type { Logger } from '../logger.js';
import type { Row } from '../db/rows.js';
import { forEachConcurrently } from '../concurrency.js';
import { compileDefinition, type TriggerDefinition } from '../triggers/definition.js';
import { evaluate, firesPerEvent, initialState, type TriggerEvent } from '../triggers/engine.js';
import type { DispatchSettings } from '../deliveries/dispatchers.js';
import type { DirectSender } from '../deliveries/direct.js';
import { recordFiringsAndStartDeliveries } from '../deliveries/firings.js';
import type { MatchRecord } from '../deliveries/types.js';
import { loadTriggerInput } from '../triggers/store.js';
import { triggerSearchAttributes, triggerWorkflowId } from '../triggers/search-attributes.js';
import { SHOW_FIRINGS_EVERY_MS } from '../triggers/runner.js';
import { triggerWorkflowSummary } from '../triggers/workflow-summary.js';
import { eventsSignal, relayFiringsSignal, triggerWorkflow, type TriggerItem } from '../../workflows/trigger.js';
import { CandidateIndex, type Candidate, type EventRoute } from './candidate-index.js';
import type { Dispatcher, RelayItem } from './relay.js';

export interface TriggerDispatcherOptions {
  pool: pg.Pool;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  /** Triggers signalled at once. */
  concurrency?: number;
  /** Items per signal; also capped by MAX_SIGNAL_BYTES. */
  maxItemsPerSignal?: number;
  /** Delivery dispatcher workflows per task queue (a mismatch with the worker only spreads a trigger over more of them). */
  dispatch?: DispatchSettings;
  /** Enables the in-memory candidate index (its LISTEN connection); without it every batch queries its candidates. */
  databaseUrl?: string;
  /** How often the relay's firings are shown in the Temporal UI (default SHOW_FIRINGS_EVERY_MS). */
  showFiringsEveryMs?: number;
  /** Makes the first attempts of the deliveries created here at once, in this process (else the pumps do). */
  direct?: DirectSender;
}

/** Temporal warns at 256 KB per payload and fails at 2 MB: stay far below. */
export const MAX_SIGNAL_BYTES = 128 * 1024;

const CANDIDATES_SQL = `
  WITH ev AS (
    SELECT * FROM unnest($1::int4[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::numeric[])
      AS e(item, seq, chain_id, registry, event_type, agent_id)
  ),
  pairs AS (
    -- Triggers for given agents: found through the GIN index on their agent prefilter, per event.
    SELECT t.id, ev.item FROM ev
    JOIN triggers t ON t.enabled AND t.prefilter_agent_ids @> ARRAY[ev.agent_id] AND t.registry = ev.registry
    UNION ALL
    -- Triggers for any agent.
    SELECT t.id, ev.item FROM ev
    JOIN triggers t ON t.enabled AND t.prefilter_agent_ids IS NULL AND t.registry = ev.registry
  )
  SELECT t.id::text AS trigger_id, t.organization_id::text AS organization_id, t.name, t.chain_id::float8 AS chain_id,
         t.registry, t.updated_at::text AS version, array_agg(ev.item ORDER BY ev.item) AS items
  FROM pairs p
  JOIN ev ON ev.item = p.item
  JOIN triggers t ON t.id = p.id AND (t.chain_id IS NULL OR t.chain_id = ev.chain_id) AND ev.seq > t.start_seq
    AND (t.prefilter_event_types IS NULL OR ev.event_type = ANY (t.prefilter_event_types))
  JOIN organizations o ON o.id = t.organization_id AND o.is_active
  GROUP BY t.id`;

export function toTriggerEvent(e: TriggerEvent): TriggerEvent {
  return {
    ingest_seq: e.ingest_seq,
    id: e.id,
    chain_id: e.chain_id,
    block_number: e.block_number,
    log_index: e.log_index,
    timestamp: e.timestamp,
    registry: e.registry,
    event_type: e.event_type,
    agent_id: e.agent_id,
    value: e.value,
    value_decimals: e.value_decimals,
    tag1: e.tag1,
    tag2: e.tag2,
    tag: e.tag,
    validator_address: e.validator_address,
    file_uri: e.file_uri,
    response: e.response,
    request_hash: e.request_hash,
    abi_version: e.abi_version,
  };
}

function toTriggerItem(item: RelayItem): TriggerItem {
  if (item.kind === 'event') return { kind: 'event', event: toTriggerEvent(item.event) };
  return {
    kind: 'retraction',
    seq: item.seq,
    eventSeq: item.eventSeq,
    chainId: item.chainId,
    agentId: item.agentId,
    eventType: item.eventType,
    requestHash: item.requestHash,
  };
}

/** Splits items into signals of at most `maxItems` items and MAX_SIGNAL_BYTES bytes, keeping their order. */
export function chunkItems(items: TriggerItem[], maxItems: number): TriggerItem[][] {
  const chunks: TriggerItem[][] = [];
  let current: TriggerItem[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = JSON.stringify(item).length;
    if (current.length > 0 && (current.length >= maxItems || bytes + size > MAX_SIGNAL_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** A row of CANDIDATES_SQL: a trigger and the batch items it is a candidate for (what the index answers too). */
type CandidateRow = Row<
  s.triggers.Selectable,
  'organization_id' | 'name' | 'chain_id' | 'registry',
  { chain_id: number | null }
> &
  Candidate;

/** Compiled definitions the relay evaluates itself are kept per process; more than this and the map starts over. */
const MAX_CACHED_DEFINITIONS = 50_000;

export class TriggerDispatcher implements Dispatcher {
  private readonly log: Logger;
  /** Per trigger and version: its definition when the relay evaluates it, null when its workflow does. */
  private readonly definitions = new Map<string, { version: string; def: TriggerDefinition | null }>();
  /** Signals sent since start (metrics, benchmarks). */
  signalsSent = 0;
  /** Events evaluated here rather than signalled, since start. */
  evaluatedInRelay = 0;
  /** Batches whose candidates came from the in-memory index, and from the query (metrics, benchmarks). */
  indexedBatches = 0;
  queriedBatches = 0;
  readonly index: CandidateIndex | undefined;
  /** Triggers that fired here since their firings were last shown in the Temporal UI. */
  private readonly unshown = new Set<string>();
  private showTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: TriggerDispatcherOptions) {
    this.log = options.logger.child({ component: 'trigger-dispatcher' });
    if (options.databaseUrl)
      this.index = new CandidateIndex({ pool: options.pool, databaseUrl: options.databaseUrl, logger: options.logger });
  }

  /** Stops the candidate index's LISTEN connection and shows the firings not shown yet. */
  async close(): Promise<void> {
    clearTimeout(this.showTimer);
    this.showTimer = undefined;
    await this.showFirings();
    await this.index?.close();
  }

  async dispatch(batch: readonly RelayItem[]): Promise<void> {
    if (batch.length === 0) return;
    const route = batch.map((i): EventRoute =>
      i.kind === 'event'
        ? {
            seq: i.seq,
            chain: i.event.chain_id,
            registry: i.event.registry,
            type: i.event.event_type,
            agent: i.event.agent_id,
          }
        : { seq: i.eventSeq, chain: i.chainId, registry: i.registry, type: i.eventType, agent: i.agentId },
    );
    const rows = await this.candidates(route);
    if (rows.length === 0) return;
    /** Firings of the triggers evaluated here, recorded and delivered together: a few statements per batch. */
    const firings: { triggerId: string; match: MatchRecord }[] = [];
    await forEachConcurrently(rows, this.options.concurrency ?? 16, async (row) => {
      const def = await this.relayDefinition(row);
      if (def) firings.push(...this.evaluateHere(row, def, batch));
      else await this.signal(row, batch);
    });
    if (firings.length > 0) {
      const { pool, temporal, taskQueue, dispatch, direct } = this.options;
      await recordFiringsAndStartDeliveries({ pool, temporal, taskQueue, logger: this.log, dispatch, direct }, firings);
      for (const f of firings) this.unshown.add(f.triggerId);
      this.showTimer ??= setTimeout(() => {
        this.showTimer = undefined;
        void this.showFirings();
      }, this.options.showFiringsEveryMs ?? SHOW_FIRINGS_EVERY_MS).unref();
    }
    this.log.debug({ items: batch.length, triggers: rows.length }, 'dispatched to triggers');
  }

  /** From the in-memory index when it can vouch for being current, else from the query. */
  private async candidates(route: EventRoute[]): Promise<CandidateRow[]> {
    const indexed = await this.index?.candidates(route);
    if (indexed) {
      this.indexedBatches++;
      return indexed;
    }
    this.queriedBatches++;
    const { rows } = await this.options.pool.query<CandidateRow>(CANDIDATES_SQL, [
      route.map((_, i) => i),
      route.map((r) => r.seq),
      route.map((r) => r.chain),
      route.map((r) => r.registry),
      route.map((r) => r.type),
      route.map((r) => r.agent),
    ]);
    return rows;
  }

  /**
   * Signals the triggers that fired here their recorded count and latest firing (their workflows upsert LastFiredAt
   * and FiringCount). Best effort: the UI only; a trigger whose workflow is gone is skipped, a failure is logged.
   */
  private async showFirings(): Promise<void> {
    const triggerIds = [...this.unshown];
    this.unshown.clear();
    if (triggerIds.length === 0) return;
    try {
      const { rows } = await this.options.pool.query<{ trigger_id: string; count: number; last_ms: number }>(
        `SELECT trigger_id::text AS trigger_id, count(*)::int AS count, extract(epoch FROM max(matched_at))::float8 * 1000 AS last_ms
         FROM trigger_matches WHERE trigger_id = ANY ($1::uuid[]) GROUP BY trigger_id`,
        [triggerIds],
      );
      await forEachConcurrently(rows, this.options.concurrency ?? 16, async (row) => {
        try {
          await this.options.temporal.workflow
            .getHandle(triggerWorkflowId(row.trigger_id))
            .signal(relayFiringsSignal, { count: row.count, lastFiredAt: Math.round(row.last_ms) });
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      });
    } catch (err) {
      this.log.warn({ err, triggers: triggerIds.length }, 'could not show relay firings in the Temporal UI');
    }
  }

  /** The trigger's definition when the relay evaluates it (fires per event), else undefined. */
  private async relayDefinition(row: CandidateRow): Promise<TriggerDefinition | undefined> {
    const cached = this.definitions.get(row.trigger_id);
    if (cached && cached.version === row.version) return cached.def ?? undefined;
    const stored = await loadTriggerInput(this.options.pool, row.trigger_id);
    let def: TriggerDefinition | null = null;
    if (stored) {
      try {
        const compiled = compileDefinition(stored.input);
        if (firesPerEvent(compiled)) def = compiled;
      } catch (err) {
        // Saved definitions are validated; should one not compile, its workflow is where the error shows.
        this.log.warn(
          { err, triggerId: row.trigger_id },
          'stored trigger definition does not compile; leaving it to its workflow',
        );
      }
    }
    if (this.definitions.size >= MAX_CACHED_DEFINITIONS) this.definitions.clear();
    this.definitions.set(row.trigger_id, { version: row.version, def });
    return def ?? undefined;
  }

  private evaluateHere(
    row: CandidateRow,
    def: TriggerDefinition,
    batch: readonly RelayItem[],
  ): { triggerId: string; match: MatchRecord }[] {
    const matches: { triggerId: string; match: MatchRecord }[] = [];
    for (const i of row.items) {
      const item = batch[i]!;
      // A retraction changes nothing for a trigger without state; firings already made stand (as in the workflow).
      if (item.kind !== 'event') continue;
      const e = toTriggerEvent(item.event);
      this.evaluatedInRelay++;
      const result = evaluate(def, initialState(), e);
      if (result.fired) {
        matches.push({
          triggerId: row.trigger_id,
          match: {
            eventSeq: e.ingest_seq,
            eventId: e.id,
            agentKey: result.agentKey,
            kind: 'match',
            timestamp: e.timestamp,
            evaluation: result.values,
          },
        });
      }
    }
    return matches;
  }

  private async signal(row: CandidateRow, batch: readonly RelayItem[]): Promise<void> {
    const chunks = chunkItems(
      row.items.map((i) => toTriggerItem(batch[i]!)),
      this.options.maxItemsPerSignal ?? 200,
    );
    for (const items of chunks) {
      await this.options.temporal.workflow.signalWithStart(triggerWorkflow, {
        workflowId: triggerWorkflowId(row.trigger_id),
        taskQueue: this.options.taskQueue,
        args: [{ triggerId: row.trigger_id }],
        signal: eventsSignal,
        signalArgs: [{ items }],
        typedSearchAttributes: triggerSearchAttributes({
          organizationId: row.organization_id,
          name: row.name,
          chainId: row.chain_id,
          registry: row.registry as 'identity',
          enabled: true,
        }),
        memo: { name: row.name, registry: row.registry, chainId: row.chain_id },
        // Only when this signal starts the workflow (its own start set the full summary): what the row tells.
        ...triggerWorkflowSummary({ name: row.name, registry: row.registry, chainId: row.chain_id }),
      });
      this.signalsSent++;
    }
  }
}

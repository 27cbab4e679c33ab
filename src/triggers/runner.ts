/**
 * What a trigger workflow does, without Temporal: the relay's queued items, the events already seen, the per-agent
 * state, the definition and its updates, the firings to record, and what a run hands over at continue-as-new.
 * workflows/trigger.ts wires Temporal's signals, update, query, timers and continue-as-new to it; everything it needs
 * from Temporal (activities, patched(), the clock) comes in as `TriggerRunnerDeps`, so unit tests drive it with fakes.
 *
 * Workflow code: deterministic, no I/O of its own, no Node built-ins (a workflow-safe module, see eslint.config.js).
 */
import {
  compileDefinition,
  staticPrefilters,
  type TriggerDefinition,
  type TriggerDefinitionInput,
} from './definition.js';
import {
  expireAbsences,
  firesPerEvent,
  initialState,
  nextDeadline,
  pruneState,
  type EvaluateOptions,
  type TriggerEvent,
  type TriggerState,
} from './engine.js';
import { drainItems, type TriggerItem } from './drain.js';
import { SeenEvents, type SeenEventsSnapshot } from './seen-events.js';
import type { MatchRecord } from '../deliveries/types.js';

/** The patch ids the trigger workflow branches on (workflows/trigger.ts lists which histories pin each). */
export type TriggerPatch =
  | 'restore-from-snapshot'
  | 'snapshot-with-firings'
  | 'firing-search-attributes'
  | 'history-before-live-events'
  | 'abi-version-series'
  | 'refold-agent-before-its-next-event'
  | 'idle-without-timer'
  | 'record-and-deliver'
  | 'local-record'
  | 'start-deliveries';

export interface CanonicalEventsQuery {
  triggerId: string;
  chainId: number;
  agentId: string | null;
  registry: string;
  /** Exclusive lower bound (the trigger's start), inclusive upper bound (what the workflow has seen). */
  afterSeq: string;
  upToSeq: string;
  /**
   * The trigger's `settings.start_block`: its history (events from that block ingested before the trigger's start)
   * is part of what it has seen, so a re-fold includes it.
   */
  startBlock?: number;
}

/** A page of a trigger's history: canonical events from its start block up to its creation. */
export interface TriggerHistoryQuery {
  chainId: number | null;
  registry: string;
  startBlock: number;
  afterSeq: string;
  upToSeq: string;
  limit: number;
}

/**
 * A page of what the relay sent (or would have sent) the trigger after a position: its events and retractions in ingest
 * order, filtered like the relay's candidates (registry, chain, static prefilters, after the trigger's start).
 */
export interface TriggerItemsQuery {
  registry: string;
  chainId: number | null;
  eventTypes: string[] | null;
  agentIds: string[] | null;
  /** Exclusive lower bound: the snapshot's position (or the trigger's start). */
  afterSeq: string;
  limit: number;
}

/**
 * What trigger_state holds: the state and the seen events after every item up to `position` (an ingest_seq of the
 * relay's order), and the firing count. A run that starts without a carry restores it and folds the items after it.
 */
export interface TriggerSnapshot {
  version: 2;
  state: TriggerState;
  seen: SeenEventsSnapshot;
  position: string;
  fired: number;
}

/** The trigger as stored, its latest snapshot (null when none, or one from before positions were kept). */
export interface TriggerStart {
  trigger: StoredTriggerStart;
  snapshot: TriggerSnapshot | null;
}

/** What a firing changes in the Temporal UI (search attributes LastFiredAt and FiringCount). */
export interface FiringAttributes {
  lastFiredAt: Date;
  firingCount: number;
}

type FiredRef = Pick<MatchRecord, 'eventSeq' | 'kind'>;

/** Recording firings and starting their deliveries; the workflow has a remote and a local flavour of each. */
export interface FiringRecorders {
  recordMatches(triggerId: string, matches: MatchRecord[]): Promise<unknown>;
  startDeliveries(triggerId: string, fired: FiredRef[]): Promise<unknown>;
}

export interface TriggerRunnerDeps {
  /** Temporal's patched(): true in new code paths; in a replay, whether the history recorded the marker. */
  patched(patchId: TriggerPatch): boolean;
  /** The workflow clock, Unix milliseconds. */
  now(): number;
  activities: FiringRecorders & {
    loadCanonicalEvents(q: CanonicalEventsQuery): Promise<TriggerEvent[]>;
    loadTriggerHistory(q: TriggerHistoryQuery): Promise<TriggerEvent[]>;
    saveTriggerState(triggerId: string, state: TriggerState): Promise<unknown>;
    loadTriggerDefinition(triggerId: string): Promise<StoredTriggerStart | null>;
    loadTriggerStart(triggerId: string): Promise<TriggerStart | null>;
    loadTriggerItems(q: TriggerItemsQuery): Promise<TriggerItem[]>;
    saveTriggerSnapshot(triggerId: string, snapshot: TriggerSnapshot): Promise<unknown>;
  };
  localActivities: FiringRecorders & {
    recordAndDeliver(triggerId: string, matches: MatchRecord[]): Promise<unknown>;
    saveTriggerSnapshot(triggerId: string, snapshot: TriggerSnapshot): Promise<unknown>;
  };
  /** Shows the firings in the Temporal UI (upsertSearchAttributes in the workflow). */
  showFirings(attributes: FiringAttributes): void;
}

/** What one run hands the next at continue-as-new. */
export interface TriggerCarry {
  input: TriggerDefinitionInput;
  startSeq: string;
  state: TriggerState;
  seen: SeenEventsSnapshot;
  queue: TriggerItem[];
  fired: number;
  /** The start block the first run read history from: re-folds include that history (absent in older runs). */
  historyStartBlock?: number;
  /** The relay position of the last item evaluated (absent in older runs). */
  position?: string;
}

export interface TriggerRunnerOptions {
  triggerId: string;
  /** Signals after which the run should continue as new. */
  continueAsNewAfterSignals: number;
  /** Snapshot the state into trigger_state at most this often. */
  snapshotEveryMs: number;
  carried?: TriggerCarry;
  /** Started by the trigger's creation (workflows/trigger.ts: TriggerWorkflowInput.created). */
  created?: boolean;
}

/** The trigger as stored (what the loadTriggerDefinition activity returns, when the trigger exists). */
export interface StoredTriggerStart {
  input: TriggerDefinitionInput;
  startSeq: string;
  startBlock: number | null;
}

export type ConfigChange =
  { kind: 'edit'; input: TriggerDefinitionInput } | { kind: 'enable'; enabled: boolean } | { kind: 'delete' };

export interface TriggerView {
  triggerId: string;
  /** null while the workflow is still loading its definition. */
  definition: TriggerDefinitionInput | null;
  state: TriggerState;
  seen: SeenEventsSnapshot;
  signalsThisRun: number;
  fired: number;
}

const HISTORY_PAGE = 1_000;
/** Items per page when a restored run catches up after its snapshot (each page is one activity result). */
export const CATCH_UP_PAGE = 250;
/** A changed state is snapshotted after this many events even within the snapshot interval. */
export const SNAPSHOT_EVERY_EVENTS = 1_000;
/** The Temporal UI's firing attributes are upserted at most this often (a burst of firings is one update). */
export const SHOW_FIRINGS_EVERY_MS = 5_000;

const maxSeq = (a: string, b: string) => (BigInt(a) >= BigInt(b) ? a : b);

export class TriggerRunner {
  readonly triggerId: string;
  private readonly deps: TriggerRunnerDeps;
  private readonly signalCap: number;
  private readonly snapshotEveryMs: number;
  private readonly created: boolean;
  private readonly queue: TriggerItem[];
  private readonly state: TriggerState;
  private seen: SeenEvents;
  private input: TriggerDefinitionInput | undefined;
  private def: TriggerDefinition | undefined;
  private startSeq: string;
  private fired: number;
  /** Set by load() when the trigger has a start block: its history is still to be read. */
  private pendingHistory: { startBlock: number } | undefined;
  private historyStartBlock: number | undefined;
  private signals = 0;
  private isDeleted = false;
  private dirty = false;
  private lastSnapshot: number;
  /** Events evaluated since the last snapshot. */
  private eventsSinceSnapshot = 0;
  /** The relay position (ingest_seq) of the last item drained: a snapshot covers everything up to it. */
  private position: string;
  /** Firings not yet shown in the Temporal UI, and when it was last updated. */
  private unshownFiring: number | undefined;
  private lastShown: number | undefined;

  constructor(options: TriggerRunnerOptions, deps: TriggerRunnerDeps) {
    const { carried } = options;
    this.triggerId = options.triggerId;
    this.deps = deps;
    this.signalCap = options.continueAsNewAfterSignals;
    this.snapshotEveryMs = options.snapshotEveryMs;
    this.created = options.created ?? false;
    this.queue = [...(carried?.queue ?? [])];
    this.input = carried?.input;
    this.def = this.input && compileDefinition(this.input);
    this.startSeq = carried?.startSeq ?? '0';
    this.state = carried?.state ?? initialState();
    this.seen = carried ? SeenEvents.restore(carried.seen) : new SeenEvents();
    this.fired = carried?.fired ?? 0;
    this.historyStartBlock = carried?.historyStartBlock;
    // A carry from before positions were kept: its seen events tell how far it got.
    this.position = carried?.position ?? this.seen.highWaterMarks().reduce(maxSeq, this.startSeq);
    this.lastSnapshot = deps.now();
  }

  /** Whether the definition is known (carried, or loaded); until then updates wait. */
  get loaded(): boolean {
    return this.def !== undefined;
  }

  get deleted(): boolean {
    return this.isDeleted;
  }

  /** A batch from the relay (one signal). */
  receive(items: readonly TriggerItem[]): void {
    this.signals++;
    this.queue.push(...items);
  }

  view(): TriggerView {
    return {
      triggerId: this.triggerId,
      definition: this.input ?? null,
      state: this.state,
      seen: this.seen.snapshot(),
      signalsThisRun: this.signals,
      fired: this.fired,
    };
  }

  /** The first run's definition, as stored. */
  load(stored: StoredTriggerStart): void {
    this.input = stored.input;
    this.def = compileDefinition(this.input);
    this.startSeq = stored.startSeq;
    this.position = maxSeq(this.position, stored.startSeq);
    if (stored.startBlock !== null) {
      this.pendingHistory = { startBlock: stored.startBlock };
      this.historyStartBlock = stored.startBlock;
    }
  }

  /**
   * Starts a run that has no carry (a new trigger, or one whose workflow was terminated, reset or lost): loads the
   * definition and, when a snapshot exists, the state it holds, then folds what the relay sent after the snapshot (the
   * events a terminated run had accepted but not evaluated, or had evaluated without saving) — so the run goes on
   * exactly where an uninterrupted one would. A trigger just created has no snapshot and nothing to catch up on: the
   * relay sends it every event after its start. False when the trigger no longer exists.
   */
  async start(): Promise<boolean> {
    if (!this.deps.patched('restore-from-snapshot')) {
      // Runs from before: the state started empty (the snapshot was written, never read).
      const stored = await this.deps.activities.loadTriggerDefinition(this.triggerId);
      if (!stored) return false;
      this.load(stored);
      await this.readHistory();
      return true;
    }
    const start = await this.deps.activities.loadTriggerStart(this.triggerId);
    if (!start) return false;
    this.load(start.trigger);
    // A trigger the relay evaluates itself holds no state here: there is nothing to restore or catch up on.
    if (firesPerEvent(this.current())) return true;
    if (start.snapshot) this.restore(start.snapshot);
    await this.readHistory();
    if (start.snapshot || !this.created) await this.catchUp();
    this.showFirings();
    return true;
  }

  /** Takes a snapshot's state; its history (if any) is part of it already. */
  private restore(snapshot: TriggerSnapshot): void {
    this.state.agents = snapshot.state.agents;
    this.state.pending = snapshot.state.pending;
    this.seen = SeenEvents.restore(snapshot.seen);
    this.fired = snapshot.fired;
    this.position = maxSeq(this.position, snapshot.position);
    this.pendingHistory = undefined;
  }

  /**
   * Folds the items after the position, a page at a time, before the live items that arrived meanwhile (those are
   * after or among them: the seen events drop the repeats). Firings are recorded again, idempotently.
   */
  private async catchUp(): Promise<void> {
    const def = this.current();
    const { eventTypes, agentIds } = staticPrefilters(def);
    for (;;) {
      const page = await this.deps.activities.loadTriggerItems({
        registry: def.registry,
        chainId: def.chainId,
        eventTypes,
        agentIds,
        afterSeq: this.position,
        limit: CATCH_UP_PAGE,
      });
      if (page.length === 0) return;
      const live = this.queue.splice(0);
      this.queue.push(...page);
      await this.record(await this.drain());
      this.queue.unshift(...live);
      if (page.length < CATCH_UP_PAGE) return;
    }
  }

  /** Throws when the change must be rejected before it is recorded (a definition for another trigger, or invalid). */
  validateChange(change: ConfigChange): void {
    if (change.kind !== 'edit') return;
    if (change.input.id !== this.triggerId)
      throw new Error(`definition is for trigger ${change.input.id}, not ${this.triggerId}`);
    compileDefinition(change.input); // throws DefinitionError
  }

  /**
   * Applies an accepted change (the definition is loaded). Returns the new definition, for the workflow's search
   * attributes and memo; undefined for a delete.
   */
  applyChange(change: ConfigChange): TriggerDefinition | undefined {
    if (change.kind === 'delete') {
      this.isDeleted = true;
      return undefined;
    }
    this.input = change.kind === 'enable' ? { ...this.input!, enabled: change.enabled } : change.input;
    const def = (this.def = compileDefinition(this.input));
    // Conditions whose parameters changed (or that were removed) restart; the others keep their state.
    pruneState(def, this.state);
    this.dirty = true;
    return def;
  }

  /** A trigger with a start block first reads its history (events ingested before it existed), a page at a time. */
  async readHistory(): Promise<void> {
    if (!this.pendingHistory) return;
    const { startBlock } = this.pendingHistory;
    let after = '0';
    for (;;) {
      const page = await this.deps.activities.loadTriggerHistory({
        chainId: this.current().chainId,
        registry: this.current().registry,
        startBlock,
        afterSeq: after,
        upToSeq: this.startSeq,
        limit: HISTORY_PAGE,
      });
      if (page.length === 0) break;
      const history = page.map((event): TriggerItem => ({ kind: 'event', event }));
      if (this.deps.patched('history-before-live-events')) {
        // Live events (all after the history) wait until the whole history is read: drained with a page, they would
        // come before the later pages and raise the seen-events mark past them (dropping them as seen).
        const live = this.queue.splice(0);
        this.queue.push(...history);
        await this.record(await this.drain());
        this.queue.unshift(...live);
      } else {
        this.queue.unshift(...history);
        await this.record(await this.drain());
      }
      after = page[page.length - 1]!.ingest_seq;
    }
  }

  /**
   * How long the workflow may sleep before it must wake for an absence deadline or a snapshot; undefined when it
   * sleeps until a signal or an update. An idle trigger sleeps without a timer: a timer would wake every cached-out
   * workflow once a snapshot interval, forever. (Histories from before this rule always armed one.)
   */
  sleepTimeoutMs(): number | undefined {
    const deadline = nextDeadline(this.state);
    let untilDeadline = deadline === undefined ? undefined : Math.max(0, deadline * 1_000 - this.deps.now());
    // Firings waiting to be shown wake the run when the UI may be updated again.
    if (this.unshownFiring !== undefined) {
      const untilShow =
        this.lastShown === undefined ? 0 : Math.max(0, this.lastShown + SHOW_FIRINGS_EVERY_MS - this.deps.now());
      untilDeadline = untilDeadline === undefined ? untilShow : Math.min(untilDeadline, untilShow);
    }
    if (!this.deps.patched('idle-without-timer') || this.dirty || untilDeadline !== undefined)
      return untilDeadline === undefined ? this.snapshotEveryMs : Math.min(untilDeadline, this.snapshotEveryMs);
    return undefined;
  }

  /** Whether there is something to do before the sleep's timeout (continue-as-new suggestions aside). */
  hasWork(): boolean {
    return this.queue.length > 0 || this.isDeleted || this.signalCapReached();
  }

  /** Whether the run should continue as new: its signal cap, or Temporal's suggestion (history size). */
  continueAsNewDue(suggested: boolean): boolean {
    return this.signalCapReached() || suggested;
  }

  /** One wake-up: evaluates the queue and expired absences, records the firings, snapshots the state when due. */
  async step(): Promise<void> {
    const matches = await this.drain();
    if (this.current().enabled) {
      for (const absent of expireAbsences(this.state, Math.floor(this.deps.now() / 1_000))) {
        this.fired++;
        this.dirty = true;
        matches.push({
          eventSeq: absent.event.ingest_seq,
          eventId: absent.event.id,
          agentKey: absent.agentKey,
          kind: 'absence',
          timestamp: absent.event.timestamp,
          evaluation: { requestHash: absent.requestHash, deadline: absent.deadline },
        });
      }
    }
    await this.record(matches);
    this.showFirings();

    const due =
      this.dirty &&
      (this.deps.now() - this.lastSnapshot >= this.snapshotEveryMs ||
        this.eventsSinceSnapshot >= SNAPSHOT_EVERY_EVENTS);
    // patched() is asked before any await: an extra microtask here would reorder this run's commands against an
    // update handler's in the histories from before (their upsert came after saveTriggerState).
    if (due && this.deps.patched('snapshot-with-firings')) {
      await this.saveSnapshot();
      return;
    }
    if (this.dirty && this.deps.now() - this.lastSnapshot >= this.snapshotEveryMs) {
      // Histories from before snapshots carried a position.
      await this.deps.activities.saveTriggerState(this.triggerId, this.state);
      this.lastSnapshot = this.deps.now();
      this.dirty = false;
    }
  }

  /**
   * Relay-evaluated firings of this trigger (the relay evaluates triggers that fire per event itself and tells their
   * workflow the count now and then): shown in the Temporal UI like the workflow's own.
   */
  relayFirings(count: number, lastFiredAtMs: number): void {
    if (!this.deps.patched('firing-search-attributes')) return;
    this.fired = Math.max(this.fired, count);
    this.deps.showFirings({ lastFiredAt: new Date(lastFiredAtMs), firingCount: this.fired });
  }

  /** Saves the state and returns what the next run starts from (the queue moves with it). */
  async handOver(): Promise<TriggerCarry> {
    if (this.deps.patched('snapshot-with-firings')) await this.saveSnapshot();
    else await this.deps.activities.saveTriggerState(this.triggerId, this.state);
    return {
      input: this.input!,
      startSeq: this.startSeq,
      state: this.state,
      seen: this.seen.snapshot(),
      queue: this.queue.splice(0),
      fired: this.fired,
      historyStartBlock: this.historyStartBlock,
      position: this.position,
    };
  }

  /** The snapshot of everything up to the position. */
  private snapshot(): TriggerSnapshot {
    return {
      version: 2,
      state: this.state,
      seen: this.seen.snapshot(),
      position: this.position,
      fired: this.fired,
    };
  }

  /** Writes the snapshot in a local activity (patched 'snapshot-with-firings'). */
  private async saveSnapshot(): Promise<void> {
    await this.deps.localActivities.saveTriggerSnapshot(this.triggerId, this.snapshot());
    this.snapshotSaved();
  }

  private snapshotSaved(): void {
    this.lastSnapshot = this.deps.now();
    this.eventsSinceSnapshot = 0;
    this.dirty = false;
  }

  /** Upserts the firing attributes, at most once every SHOW_FIRINGS_EVERY_MS (sleepTimeoutMs wakes for the rest). */
  private showFirings(): void {
    if (this.unshownFiring === undefined) return;
    const now = this.deps.now();
    if (this.lastShown !== undefined && now - this.lastShown < SHOW_FIRINGS_EVERY_MS) return;
    this.deps.showFirings({ lastFiredAt: new Date(this.unshownFiring), firingCount: this.fired });
    this.lastShown = now;
    this.unshownFiring = undefined;
  }

  private signalCapReached(): boolean {
    return this.signals >= this.signalCap;
  }

  private current(): TriggerDefinition {
    return this.def!;
  }

  /** v0.4 feedback stays out of v1.0 series (engine rule 6); histories recorded before that rule keep counting it. */
  private engineOptions(): EvaluateOptions {
    return { countEveryAbiVersion: !this.deps.patched('abi-version-series') };
  }

  /** Evaluates the queued items in order; returns the firings to record. */
  private async drain(): Promise<MatchRecord[]> {
    const def = this.current();
    const items = this.queue.splice(0);
    for (const item of items) {
      this.position = maxSeq(this.position, item.kind === 'event' ? item.event.ingest_seq : item.seq);
      if (item.kind === 'event') this.eventsSinceSnapshot++;
    }
    const { firings, changed } = await drainItems(
      {
        def,
        state: this.state,
        seen: this.seen,
        options: this.engineOptions(),
        loadCanonicalEvents: ({ chainId, agentId, upToSeq }) =>
          this.deps.activities.loadCanonicalEvents({
            triggerId: this.triggerId,
            chainId,
            agentId,
            registry: def.registry,
            afterSeq: this.startSeq,
            upToSeq,
            startBlock: this.historyStartBlock,
          }),
        // Histories from before re-folded an agent touched by a retraction only after the drain.
        refoldBeforeNextEvent: () => this.deps.patched('refold-agent-before-its-next-event'),
      },
      items,
    );
    if (changed) this.dirty = true;
    this.fired += firings.length;
    return firings.map(({ event: e, evaluation }) => ({
      eventSeq: e.ingest_seq,
      eventId: e.id,
      agentKey: evaluation.agentKey,
      kind: 'match',
      timestamp: e.timestamp,
      evaluation: evaluation.values,
    }));
  }

  private async record(matches: MatchRecord[]): Promise<void> {
    if (matches.length === 0) return;
    const { activities, localActivities: local } = this.deps;
    if (this.deps.patched('firing-search-attributes')) this.unshownFiring = this.deps.now();
    // One local activity records the firings and creates their deliveries (one marker, one activation less per firing).
    if (this.deps.patched('record-and-deliver')) {
      // The snapshot goes with every firing, in a local activity beside it (the same activation): a restored run
      // folds only what came after the last firing.
      if (this.deps.patched('snapshot-with-firings')) {
        const snapshot = this.snapshot();
        await Promise.all([
          local.recordAndDeliver(this.triggerId, matches),
          local.saveTriggerSnapshot(this.triggerId, snapshot),
        ]);
        this.snapshotSaved();
        return;
      }
      await local.recordAndDeliver(this.triggerId, matches);
      return;
    }
    const fired = matches.map((m): FiredRef => ({ eventSeq: m.eventSeq, kind: m.kind }));
    // Histories from before: two local activities (fixture trigger-workflow-v3-two-local-activities.json).
    if (this.deps.patched('local-record')) {
      await local.recordMatches(this.triggerId, matches);
      await local.startDeliveries(this.triggerId, fired);
      return;
    }
    // Older histories (test/fixtures/histories): regular activities, and before actions existed, matches only.
    await activities.recordMatches(this.triggerId, matches);
    if (this.deps.patched('start-deliveries')) await activities.startDeliveries(this.triggerId, fired);
  }
}

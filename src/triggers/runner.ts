/**
 * What a trigger workflow does, without Temporal: the relay's queued items, the events already seen, the per-agent
 * state, the definition and its updates, the firings to record, and what a run hands over at continue-as-new.
 * workflows/trigger.ts wires Temporal's signals, update, query, timers and continue-as-new to it; everything it needs
 * from Temporal (activities, patched(), the clock) comes in as `TriggerRunnerDeps`, so unit tests drive it with fakes.
 *
 * Workflow code: deterministic, no I/O of its own, no Node built-ins (a workflow-safe module, see eslint.config.js).
 */
import { compileDefinition, type TriggerDefinition, type TriggerDefinitionInput } from './definition.js';
import {
  expireAbsences,
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
  };
  localActivities: FiringRecorders & {
    recordAndDeliver(triggerId: string, matches: MatchRecord[]): Promise<unknown>;
  };
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
}

export interface TriggerRunnerOptions {
  triggerId: string;
  /** Signals after which the run should continue as new. */
  continueAsNewAfterSignals: number;
  /** Snapshot the state into trigger_state at most this often. */
  snapshotEveryMs: number;
  carried?: TriggerCarry;
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

export class TriggerRunner {
  readonly triggerId: string;
  private readonly deps: TriggerRunnerDeps;
  private readonly signalCap: number;
  private readonly snapshotEveryMs: number;
  private readonly queue: TriggerItem[];
  private readonly state: TriggerState;
  private readonly seen: SeenEvents;
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

  constructor(options: TriggerRunnerOptions, deps: TriggerRunnerDeps) {
    const { carried } = options;
    this.triggerId = options.triggerId;
    this.deps = deps;
    this.signalCap = options.continueAsNewAfterSignals;
    this.snapshotEveryMs = options.snapshotEveryMs;
    this.queue = [...(carried?.queue ?? [])];
    this.input = carried?.input;
    this.def = this.input && compileDefinition(this.input);
    this.startSeq = carried?.startSeq ?? '0';
    this.state = carried?.state ?? initialState();
    this.seen = carried ? SeenEvents.restore(carried.seen) : new SeenEvents();
    this.fired = carried?.fired ?? 0;
    this.historyStartBlock = carried?.historyStartBlock;
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
    if (stored.startBlock !== null) {
      this.pendingHistory = { startBlock: stored.startBlock };
      this.historyStartBlock = stored.startBlock;
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
    const untilDeadline = deadline === undefined ? undefined : Math.max(0, deadline * 1_000 - this.deps.now());
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

    if (this.dirty && this.deps.now() - this.lastSnapshot >= this.snapshotEveryMs) {
      await this.deps.activities.saveTriggerState(this.triggerId, this.state);
      this.lastSnapshot = this.deps.now();
      this.dirty = false;
    }
  }

  /** Saves the state and returns what the next run starts from (the queue moves with it). */
  async handOver(): Promise<TriggerCarry> {
    await this.deps.activities.saveTriggerState(this.triggerId, this.state);
    return {
      input: this.input!,
      startSeq: this.startSeq,
      state: this.state,
      seen: this.seen.snapshot(),
      queue: this.queue.splice(0),
      fired: this.fired,
      historyStartBlock: this.historyStartBlock,
    };
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
      this.queue.splice(0),
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
    // One local activity records the firings and creates their deliveries (one marker, one activation less per firing).
    if (this.deps.patched('record-and-deliver')) {
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

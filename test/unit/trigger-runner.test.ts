/**
 * The trigger workflow's logic, driven without Temporal: fake activities record what the runner asks for, patched()
 * answers come from a table, and the clock is a number the test moves.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileDefinition, DefinitionError, type TriggerDefinitionInput } from '../../src/triggers/definition.js';
import { evaluate, initialState, type TriggerEvent, type TriggerState } from '../../src/triggers/engine.js';
import type { TriggerItem } from '../../src/triggers/drain.js';
import type { MatchRecord } from '../../src/deliveries/types.js';
import {
  CATCH_UP_PAGE,
  SHOW_FIRINGS_EVERY_MS,
  SNAPSHOT_EVERY_EVENTS,
  TriggerRunner,
  type CanonicalEventsQuery,
  type FiringAttributes,
  type TriggerItemsQuery,
  type TriggerSnapshot,
  type TriggerCarry,
  type TriggerHistoryQuery,
  type TriggerPatch,
  type TriggerRunnerOptions,
} from '../../src/triggers/runner.js';
import { T0, triggerEvent } from '../helpers/trigger-events.js';

const TRIGGER_ID = 'trg';
const SNAPSHOT_EVERY_MS = 60_000;

/** Agent 7's feedback, 5 s of block time per ingest seq. */
const feedback = (seq: number, p: Partial<TriggerEvent> = {}) =>
  triggerEvent(seq, { agent_id: '7', timestamp: T0 + seq * 5, ...p });

const events = (...seqs: number[]): TriggerItem[] => seqs.map((s) => ({ kind: 'event', event: feedback(s) }));

const retraction = (event: TriggerEvent, seq: number): TriggerItem => ({
  kind: 'retraction',
  seq: String(seq),
  eventSeq: event.ingest_seq,
  chainId: event.chain_id,
  agentId: event.agent_id,
  eventType: event.event_type,
  requestHash: event.request_hash,
});

/** Fires when an agent has three or more feedbacks within a minute (at every such event: no hysteresis). */
const RATE: TriggerDefinitionInput = {
  id: TRIGGER_ID,
  organizationId: 'org',
  name: 'three a minute',
  chainId: 1,
  registry: 'reputation',
  conditions: [
    { key: 'r', condition_type: 'rate_limit', operator: '>=', value: '3', config: { time_window: '60s' } },
    { key: 'e', condition_type: 'ema_threshold', operator: '<', value: '1000', config: { alpha: 0.5 } },
  ],
};

type Call = { activity: string; local: boolean; triggerId: string; arg: unknown };

/** Temporal as the runner sees it: activities over an in-memory event log, patched() from a table, a settable clock. */
class FakeTemporal {
  now = T0 * 1_000;
  /** Absent ids answer true (a run on the current code). */
  patches: Partial<Record<TriggerPatch, boolean>> = {};
  readonly asked: TriggerPatch[] = [];
  readonly calls: Call[] = [];
  readonly canonicalQueries: CanonicalEventsQuery[] = [];
  readonly historyQueries: TriggerHistoryQuery[] = [];
  /** Runs while the n-th history page is read (signals are handled while an activity runs). */
  whileReadingHistoryPage?: (n: number) => void;
  /** The canonical events the loaders read (the indexer is ahead of the workflow). */
  canonical: TriggerEvent[] = [];
  /** The definition the start loaders read (null: deleted) and the latest snapshot saved. */
  stored: TriggerDefinitionInput | null = RATE;
  snapshot: TriggerSnapshot | null = null;
  /** What the relay sent the trigger, in order (loadTriggerItems reads it back after a position). */
  log: TriggerItem[] = [];
  readonly itemQueries: TriggerItemsQuery[] = [];
  /** What the workflow showed in the Temporal UI, with the clock then. */
  readonly shown: { at: number; lastFiredAt: number; firingCount: number }[] = [];

  private recorder(local: boolean) {
    const record = (activity: string) => async (triggerId: string, arg: unknown) => {
      this.calls.push({ activity, local, triggerId, arg: structuredClone(arg) });
    };
    return {
      recordMatches: record('recordMatches'),
      startDeliveries: record('startDeliveries'),
      recordAndDeliver: record('recordAndDeliver'),
      saveTriggerSnapshot: async (triggerId: string, snapshot: TriggerSnapshot) => {
        this.calls.push({ activity: 'saveTriggerSnapshot', local, triggerId, arg: structuredClone(snapshot) });
        this.snapshot = structuredClone(snapshot);
      },
    };
  }

  deps() {
    return {
      patched: (id: TriggerPatch) => {
        this.asked.push(id);
        return this.patches[id] ?? true;
      },
      now: () => this.now,
      activities: {
        ...this.recorder(false),
        loadCanonicalEvents: async (q: CanonicalEventsQuery) => {
          this.canonicalQueries.push(q);
          return this.canonical
            .filter(
              (e) =>
                e.chain_id === q.chainId &&
                e.agent_id === q.agentId &&
                BigInt(e.ingest_seq) <= BigInt(q.upToSeq) &&
                (BigInt(e.ingest_seq) > BigInt(q.afterSeq) ||
                  (q.startBlock !== undefined && e.block_number >= q.startBlock)),
            )
            .map((e) => ({ ...e }));
        },
        loadTriggerHistory: async (q: TriggerHistoryQuery) => {
          this.historyQueries.push(q);
          this.whileReadingHistoryPage?.(this.historyQueries.length);
          return this.canonical
            .filter(
              (e) =>
                e.block_number >= q.startBlock &&
                BigInt(e.ingest_seq) > BigInt(q.afterSeq) &&
                BigInt(e.ingest_seq) <= BigInt(q.upToSeq),
            )
            .slice(0, q.limit);
        },
        saveTriggerState: async (triggerId: string, state: TriggerState) => {
          this.calls.push({ activity: 'saveTriggerState', local: false, triggerId, arg: structuredClone(state) });
        },
        loadTriggerDefinition: async (triggerId: string) => {
          this.calls.push({ activity: 'loadTriggerDefinition', local: false, triggerId, arg: undefined });
          return this.stored && { input: this.stored, startSeq: '0', startBlock: null };
        },
        loadTriggerStart: async (triggerId: string) => {
          this.calls.push({ activity: 'loadTriggerStart', local: false, triggerId, arg: undefined });
          return (
            this.stored && {
              trigger: { input: this.stored, startSeq: '0', startBlock: null },
              snapshot: structuredClone(this.snapshot),
            }
          );
        },
        loadTriggerItems: async (q: TriggerItemsQuery) => {
          this.itemQueries.push(q);
          const seqOf = (i: TriggerItem) => BigInt(i.kind === 'event' ? i.event.ingest_seq : i.seq);
          return structuredClone(this.log.filter((i) => seqOf(i) > BigInt(q.afterSeq)).slice(0, q.limit));
        },
      },
      localActivities: this.recorder(true),
      showFirings: (f: FiringAttributes) =>
        this.shown.push({ at: this.now, lastFiredAt: f.lastFiredAt.getTime(), firingCount: f.firingCount }),
    };
  }

  /** Every firing recorded so far, in order (whichever activity recorded it). */
  recorded(): MatchRecord[] {
    return this.calls.flatMap((c) =>
      c.activity === 'recordAndDeliver' || c.activity === 'recordMatches' ? (c.arg as MatchRecord[]) : [],
    );
  }
}

function runner(
  temporal: FakeTemporal,
  options: Partial<TriggerRunnerOptions> = {},
  input: TriggerDefinitionInput | null = RATE,
): TriggerRunner {
  const r = new TriggerRunner(
    { triggerId: TRIGGER_ID, continueAsNewAfterSignals: 100, snapshotEveryMs: SNAPSHOT_EVERY_MS, ...options },
    temporal.deps(),
  );
  if (input && !r.loaded) r.load({ input, startSeq: '0', startBlock: null });
  return r;
}

const seqs = (matches: MatchRecord[]) => matches.map((m) => m.eventSeq);

describe('a batch of events', () => {
  it('is evaluated in order; its firings are recorded in one local activity and counted', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    r.receive(events(1, 2, 3, 4));
    expect(r.hasWork()).toBe(true);
    await r.step();
    expect(r.hasWork()).toBe(false);
    expect(temporal.calls.filter((c) => c.activity !== 'saveTriggerSnapshot')).toEqual([
      { activity: 'recordAndDeliver', local: true, triggerId: TRIGGER_ID, arg: expect.any(Array) },
    ]);
    const [third, fourth] = temporal.recorded();
    expect(third).toEqual({
      eventSeq: '3',
      eventId: 'evt-3',
      agentKey: '1:7',
      kind: 'match',
      timestamp: T0 + 15,
      evaluation: expect.objectContaining({ r: { result: true, metric: 3 } }),
    });
    expect(fourth?.eventSeq).toBe('4');
    expect(r.view()).toMatchObject({ triggerId: TRIGGER_ID, definition: RATE, signalsThisRun: 1, fired: 2 });
  });

  it('drops events it has already seen, in a repeated or an overlapping batch', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    r.receive(events(1, 2, 3));
    r.receive(events(1, 2, 3));
    await r.step();
    r.receive(events(2, 3, 4));
    await r.step();
    expect(seqs(temporal.recorded())).toEqual(['3', '4']);
    expect(r.view().state.agents['1:7']?.conditions.r).toMatchObject({ times: [T0 + 5, T0 + 10, T0 + 15, T0 + 20] });
    expect(r.view().signalsThisRun).toBe(3);
    expect(r.view().fired).toBe(2);
  });

  it('records nothing when nothing fired, and asks no recording patch', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    r.receive(events(1, 2));
    await r.step();
    expect(temporal.calls).toEqual([]);
    expect(temporal.asked).not.toContain('record-and-deliver');
  });
});

describe('recording firings, per patch (the histories from before replay the old ladder)', () => {
  const cases: { patches: Partial<Record<TriggerPatch, boolean>>; calls: string[]; asked: TriggerPatch[] }[] = [
    {
      patches: {},
      calls: ['local recordAndDeliver', 'local saveTriggerSnapshot'],
      asked: ['record-and-deliver'],
    },
    {
      patches: { 'snapshot-with-firings': false },
      calls: ['local recordAndDeliver'],
      asked: ['record-and-deliver'],
    },
    {
      patches: { 'record-and-deliver': false },
      calls: ['local recordMatches', 'local startDeliveries'],
      asked: ['record-and-deliver', 'local-record'],
    },
    {
      patches: { 'record-and-deliver': false, 'local-record': false },
      calls: ['remote recordMatches', 'remote startDeliveries'],
      asked: ['record-and-deliver', 'local-record', 'start-deliveries'],
    },
    {
      patches: { 'record-and-deliver': false, 'local-record': false, 'start-deliveries': false },
      calls: ['remote recordMatches'],
      asked: ['record-and-deliver', 'local-record', 'start-deliveries'],
    },
  ];
  it.each(cases)('$patches: $calls', async ({ patches, calls, asked }) => {
    const temporal = new FakeTemporal();
    temporal.patches = patches;
    const r = runner(temporal);
    r.receive(events(1, 2, 3));
    await r.step();
    expect(temporal.calls.map((c) => `${c.local ? 'local' : 'remote'} ${c.activity}`)).toEqual(calls);
    const recordingAsks = new Set<TriggerPatch>(['record-and-deliver', 'local-record', 'start-deliveries']);
    expect(temporal.asked.filter((id) => recordingAsks.has(id))).toEqual(asked);
    expect(seqs(temporal.recorded())).toEqual(['3']);
    const startDeliveries = temporal.calls.find((c) => c.activity === 'startDeliveries');
    if (startDeliveries) expect(startDeliveries.arg).toEqual([{ eventSeq: '3', kind: 'match' }]);
  });
});

describe('a retraction', () => {
  // Feedbacks 1 and 2 were seen; a reorg orphans 2 and brings 4 and 5, drained together with the retraction.
  const orphan = feedback(2);
  const setUp = async (refoldBeforeNextEvent: boolean) => {
    const temporal = new FakeTemporal();
    temporal.patches = { 'refold-agent-before-its-next-event': refoldBeforeNextEvent };
    temporal.canonical = [feedback(1), feedback(4), feedback(5)];
    const r = runner(temporal);
    r.receive(events(1, 2));
    await r.step();
    r.receive([retraction(orphan, 3), ...events(4, 5)]);
    await r.step();
    return { temporal, r };
  };

  it("re-folds its agent from the canonical events before the agent's next event", async () => {
    const { temporal, r } = await setUp(true);
    // 1, 4, 5 are three in a minute: only 5 fires; 4 must not count the orphan.
    expect(seqs(temporal.recorded())).toEqual(['5']);
    expect(temporal.canonicalQueries).toEqual([
      {
        triggerId: TRIGGER_ID,
        chainId: 1,
        agentId: '7',
        registry: 'reputation',
        afterSeq: '0',
        upToSeq: '2',
        startBlock: undefined,
      },
    ]);
    expect(r.view().state.agents['1:7']?.conditions.r).toMatchObject({ times: [T0 + 5, T0 + 20, T0 + 25] });
  });

  it('in a history from before the patch, re-folds only at the end of the drain (4 counted the orphan)', async () => {
    const { temporal, r } = await setUp(false);
    expect(seqs(temporal.recorded())).toEqual(['4', '5']);
    expect(temporal.canonicalQueries.map((q) => q.upToSeq)).toEqual(['5']);
    expect(r.view().state.agents['1:7']?.conditions.r).toMatchObject({ times: [T0 + 5, T0 + 20, T0 + 25] });
  });

  it('of an event never seen is ignored', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    r.receive([retraction(feedback(9), 10)]);
    await r.step();
    expect(temporal.canonicalQueries).toEqual([]);
    expect(r.view().state).toEqual(initialState());
  });
});

describe('ABI versions', () => {
  const legacy = (seq: number) => ({ kind: 'event', event: feedback(seq, { abi_version: 'v0.4' }) }) as TriggerItem;
  it('v0.4 feedback stays out of a v1.0 series; a history from before the patch counts it', async () => {
    for (const [patched, fired] of [
      [true, []],
      [false, ['3']],
    ] as const) {
      const temporal = new FakeTemporal();
      temporal.patches = { 'abi-version-series': patched };
      const r = runner(temporal);
      r.receive([...events(1), legacy(2), ...events(3)]);
      await r.step();
      expect(seqs(temporal.recorded())).toEqual(fired);
    }
  });
});

describe('a definition update', () => {
  it('is validated before it is accepted: same trigger, a valid definition', () => {
    const r = runner(new FakeTemporal());
    expect(() => r.validateChange({ kind: 'edit', input: { ...RATE, id: 'other' } })).toThrow(/not trg/);
    const invalid = { ...RATE, conditions: [{ ...RATE.conditions[0]!, config: {} }] }; // a rate without a window
    expect(() => r.validateChange({ kind: 'edit', input: invalid })).toThrow(DefinitionError);
    expect(() => r.validateChange({ kind: 'edit', input: RATE })).not.toThrow();
    expect(() => r.validateChange({ kind: 'enable', enabled: false })).not.toThrow();
    expect(() => r.validateChange({ kind: 'delete' })).not.toThrow();
  });

  it('restarts only the conditions whose parameters changed, and returns the new definition', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    r.receive(events(1, 2));
    await r.step();
    const edited = {
      ...RATE,
      name: 'four a minute',
      conditions: [{ ...RATE.conditions[0]!, value: '4' }, RATE.conditions[1]!],
    };
    const def = r.applyChange({ kind: 'edit', input: edited });
    expect(def).toEqual(compileDefinition(edited));
    expect(r.view().definition).toEqual(edited);
    const agent = r.view().state.agents['1:7']!;
    expect(agent.conditions.r).toBeUndefined();
    expect(agent.conditions.e).toMatchObject({ kind: 'ema', count: 2 });
    // The rate restarted: 3 and 4 make two, 5 three, 6 four (fires).
    r.receive(events(3, 4, 5, 6));
    await r.step();
    expect(seqs(temporal.recorded())).toEqual(['6']);
  });

  it('disabled, events are taken as seen but not evaluated; enabled again, they are', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    expect(r.applyChange({ kind: 'enable', enabled: false })?.enabled).toBe(false);
    expect(r.view().definition).toEqual({ ...RATE, enabled: false });
    r.receive(events(1, 2, 3));
    await r.step();
    expect(temporal.recorded()).toEqual([]);
    expect(r.view().seen.chains['1']?.hwm).toBe('3');
    r.applyChange({ kind: 'enable', enabled: true });
    r.receive(events(3, 4, 5, 6));
    await r.step();
    expect(seqs(temporal.recorded())).toEqual(['6']);
  });

  it('delete marks the run deleted (it wakes) and returns no definition', () => {
    const r = runner(new FakeTemporal());
    expect(r.hasWork()).toBe(false);
    expect(r.applyChange({ kind: 'delete' })).toBeUndefined();
    expect(r.deleted).toBe(true);
    expect(r.hasWork()).toBe(true);
  });
});

describe('loading', () => {
  it('is not loaded until the stored definition arrives; the query shows no definition meanwhile', () => {
    const r = runner(new FakeTemporal(), {}, null);
    expect(r.loaded).toBe(false);
    expect(r.view().definition).toBeNull();
    r.load({ input: RATE, startSeq: '0', startBlock: null });
    expect(r.loaded).toBe(true);
  });

  it("reads a start block's history a page at a time, and re-folds include that history", async () => {
    const temporal = new FakeTemporal();
    // 1,500 feedbacks ingested before the trigger (start seq 1500), 1,201 of them from block 1300 on, 100 s apart.
    temporal.canonical = Array.from({ length: 1_500 }, (_, i) => feedback(i + 1, { timestamp: T0 + (i + 1) * 100 }));
    const r = runner(temporal, {}, null);
    r.load({ input: RATE, startSeq: '1500', startBlock: 1_300 });
    await r.readHistory();
    expect(temporal.historyQueries.map((q) => [q.afterSeq, q.upToSeq, q.startBlock, q.limit])).toEqual([
      ['0', '1500', 1_300, 1_000],
      ['1299', '1500', 1_300, 1_000],
      ['1500', '1500', 1_300, 1_000],
    ]);
    expect(r.view().seen.chains['1']?.hwm).toBe('1500');
    expect(r.view().state.agents['1:7']?.conditions.e).toMatchObject({ count: 1_201 });

    // A reorg orphans the last feedback: the agent is re-folded from its history (block 1300 on), not from scratch.
    temporal.canonical.pop();
    r.receive([retraction(feedback(1_500), 1_501)]);
    await r.step();
    expect(temporal.canonicalQueries).toEqual([expect.objectContaining({ afterSeq: '1500', startBlock: 1_300 })]);
    expect(r.view().state.agents['1:7']?.conditions.e).toMatchObject({ count: 1_200 });
    expect((await r.handOver()).historyStartBlock).toBe(1_300);
  });

  it('evaluates a history that fits a page before the events that arrived live meanwhile', async () => {
    const temporal = new FakeTemporal();
    temporal.canonical = [feedback(1), feedback(2)];
    const r = runner(temporal, {}, null);
    r.load({ input: RATE, startSeq: '2', startBlock: 0 });
    r.receive(events(3));
    await r.readHistory();
    await r.step();
    expect(seqs(temporal.recorded())).toEqual(['3']);
  });

  it('evaluates a history of several pages before the live events that arrived meanwhile, losing none of it', async () => {
    const temporal = new FakeTemporal();
    // 2,500 feedbacks before the trigger (three pages), one every 100 s; three live ones arrive while it reads.
    temporal.canonical = Array.from({ length: 2_500 }, (_, i) => feedback(i + 1, { timestamp: T0 + (i + 1) * 100 }));
    const live = [2_501, 2_502, 2_503].map((seq): TriggerItem => ({
      kind: 'event',
      event: feedback(seq, { timestamp: T0 + 2_500 * 100 + (seq - 2_500) }),
    }));
    const r = runner(temporal, {}, null);
    r.load({ input: RATE, startSeq: '2500', startBlock: 0 });
    r.receive(live.slice(0, 1));
    temporal.whileReadingHistoryPage = (n) => n === 2 && r.receive(live.slice(1));
    await r.readHistory();
    await r.step();
    // Every feedback counted once, in chain order: the live ones fire (with the history's last, three within a
    // minute) after the history.
    expect(r.view().state.agents['1:7']?.conditions.e).toMatchObject({ count: 2_503 });
    expect(seqs(temporal.recorded())).toEqual(['2502', '2503']);
    expect(r.view().seen.chains['1']?.hwm).toBe('2503');
  });

  it('in a run from before the patch, drains each history page together with the live events (as it did)', async () => {
    const temporal = new FakeTemporal();
    temporal.patches['history-before-live-events'] = false;
    temporal.canonical = Array.from({ length: 2_500 }, (_, i) => feedback(i + 1, { timestamp: T0 + (i + 1) * 100 }));
    const r = runner(temporal, {}, null);
    r.load({ input: RATE, startSeq: '2500', startBlock: 0 });
    r.receive([{ kind: 'event', event: feedback(2_501, { timestamp: T0 + 250_001 }) }]);
    await r.readHistory();
    // The live event raised the high-water mark after the first page: most of the later pages counted as seen.
    expect((r.view().state.agents['1:7']?.conditions.e as { count: number } | undefined)?.count).toBeLessThan(2_501);
  });

  it('reads no history without a start block', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    await r.readHistory();
    expect(temporal.historyQueries).toEqual([]);
  });
});

describe('absences', () => {
  const V = '0x' + 'aa'.repeat(20);
  const ABSENCE: TriggerDefinitionInput = {
    id: TRIGGER_ID,
    organizationId: 'org',
    name: 'unanswered',
    chainId: 1,
    registry: 'validation',
    conditions: [
      { key: 'v', condition_type: 'validator_whitelist', value: V },
      { key: 'a', condition_type: 'absence', config: { within: '1h' } },
    ],
  };
  const request = feedback(1, {
    registry: 'validation',
    event_type: 'ValidationRequest',
    value: null,
    value_decimals: null,
    validator_address: V,
    request_hash: '0xh1',
    timestamp: T0,
  });

  it('fire once the clock passes their deadline, counted with the matches; the sleep wakes for the deadline', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal, { snapshotEveryMs: 10 * 3_600_000 }, ABSENCE);
    r.receive([{ kind: 'event', event: request }]);
    await r.step();
    expect(temporal.recorded()).toEqual([]);
    expect(r.sleepTimeoutMs()).toBe(3_600_000);
    temporal.now += 3_600_000;
    expect(r.sleepTimeoutMs()).toBe(0);
    await r.step();
    expect(temporal.recorded()).toEqual([
      {
        eventSeq: '1',
        eventId: 'evt-1',
        agentKey: '1:7',
        kind: 'absence',
        timestamp: T0,
        evaluation: { requestHash: '0xh1', deadline: T0 + 3_600 },
      },
    ]);
    expect(r.view().fired).toBe(1);
    expect(r.view().state.pending).toEqual({});
  });

  it('do not fire while the trigger is disabled', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal, {}, ABSENCE);
    r.receive([{ kind: 'event', event: request }]);
    await r.step();
    r.applyChange({ kind: 'enable', enabled: false });
    temporal.now += 7_200_000;
    await r.step();
    expect(temporal.recorded()).toEqual([]);
  });
});

describe('sleeping and snapshots', () => {
  it('an idle run sleeps without a timer; a history from before the patch always armed one', () => {
    const temporal = new FakeTemporal();
    expect(runner(temporal).sleepTimeoutMs()).toBeUndefined();
    temporal.patches = { 'idle-without-timer': false };
    expect(runner(temporal).sleepTimeoutMs()).toBe(SNAPSHOT_EVERY_MS);
  });

  it('a changed state is snapshotted at most once an interval, then the run sleeps without a timer again', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    r.receive(events(1));
    await r.step();
    expect(temporal.calls).toEqual([]);
    expect(r.sleepTimeoutMs()).toBe(SNAPSHOT_EVERY_MS);
    temporal.now += SNAPSHOT_EVERY_MS;
    await r.step();
    expect(temporal.calls).toEqual([
      {
        activity: 'saveTriggerSnapshot',
        local: true,
        triggerId: TRIGGER_ID,
        arg: { version: 2, state: r.view().state, seen: r.view().seen, position: '1', fired: 0 },
      },
    ]);
    expect(r.sleepTimeoutMs()).toBeUndefined();
    await r.step();
    expect(temporal.calls).toHaveLength(1);
  });

  it(`a changed state is snapshotted after ${SNAPSHOT_EVERY_EVENTS} events within the interval too`, async () => {
    const temporal = new FakeTemporal();
    // Feedback once a minute: the rate condition never fires.
    const r = runner(temporal);
    const slow = (seq: number): TriggerItem => ({ kind: 'event', event: feedback(seq, { timestamp: T0 + seq * 60 }) });
    r.receive(Array.from({ length: SNAPSHOT_EVERY_EVENTS - 1 }, (_, i) => slow(i + 1)));
    await r.step();
    expect(temporal.calls).toEqual([]);
    r.receive([slow(SNAPSHOT_EVERY_EVENTS)]);
    await r.step();
    expect(temporal.calls.map((c) => c.activity)).toEqual(['saveTriggerSnapshot']);
    expect(temporal.snapshot?.position).toBe(String(SNAPSHOT_EVERY_EVENTS));
  });

  it('in a history from before positions were kept, the state is saved remotely once an interval', async () => {
    const temporal = new FakeTemporal();
    temporal.patches = { 'snapshot-with-firings': false };
    const r = runner(temporal);
    r.receive(events(1));
    await r.step();
    expect(temporal.calls).toEqual([]);
    expect(r.sleepTimeoutMs()).toBe(SNAPSHOT_EVERY_MS);
    temporal.now += SNAPSHOT_EVERY_MS;
    await r.step();
    expect(temporal.calls).toEqual([
      { activity: 'saveTriggerState', local: false, triggerId: TRIGGER_ID, arg: r.view().state },
    ]);
    expect(r.sleepTimeoutMs()).toBeUndefined();
    await r.step();
    expect(temporal.calls).toHaveLength(1);
  });
});

describe('continue-as-new', () => {
  it('is due after the signal cap or when Temporal suggests it', () => {
    const r = runner(new FakeTemporal(), { continueAsNewAfterSignals: 2 });
    r.receive([]);
    expect(r.continueAsNewDue(false)).toBe(false);
    expect(r.continueAsNewDue(true)).toBe(true);
    r.receive([]);
    expect(r.hasWork()).toBe(true);
    expect(r.continueAsNewDue(false)).toBe(true);
  });

  it('hands over the state (saved first), the seen events, the unevaluated queue and the count', async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    r.receive(events(1, 2, 3));
    await r.step();
    r.receive(events(4));
    const carry = await r.handOver();
    expect(temporal.calls.at(-1)).toMatchObject({ activity: 'saveTriggerSnapshot', arg: { state: carry.state } });
    expect(carry).toMatchObject({ input: RATE, startSeq: '0', fired: 1, queue: events(4), position: '3' });
    expect(r.hasWork()).toBe(false);

    // Through JSON, as Temporal carries it: the next run goes on where this one stopped.
    const next = runner(temporal, { carried: JSON.parse(JSON.stringify(carry)) as TriggerCarry }, null);
    expect(next.loaded).toBe(true);
    expect(next.view()).toEqual({ ...r.view(), signalsThisRun: 0 });
    next.receive(events(3, 5));
    await next.step();
    expect(seqs(temporal.recorded())).toEqual(['3', '4', '5']);
    expect(next.view().fired).toBe(3);
  });
});

/** Feedback of two agents at random gaps, and where a run is cut (the cut's other fields vary by property). */
const series = <Cut>(cut: (length: number) => fc.Arbitrary<Cut>, maxCuts: number) =>
  fc
    .array(fc.record({ agent: fc.constantFrom('1', '2'), gap: fc.integer({ min: 0, max: 40 }) }), {
      minLength: 1,
      maxLength: 25,
    })
    .chain((steps) => fc.tuple(fc.constant(steps), fc.array(cut(steps.length), { maxLength: maxCuts })));

/** The events of a series, and what one fold over them fires and ends with. */
function foldSeries(steps: { agent: string; gap: number }[]) {
  let time = T0;
  const log = steps.map(({ agent, gap }, i) => feedback(i + 1, { agent_id: agent, timestamp: (time += gap) }));
  const reference = initialState();
  const def = compileDefinition(RATE);
  const expected = log.filter((e) => evaluate(def, reference, e).fired).map((e) => e.ingest_seq);
  return { log, reference, expected };
}

/** The batches between the cut points, each with its cut (if one falls there). */
function* batchesOf<Cut extends { cut: number }>(log: TriggerEvent[], cuts: Cut[]) {
  const points = [...new Set([0, ...cuts.map((c) => c.cut), log.length])].sort((a, b) => a - b);
  for (let i = 1; i < points.length; i++) {
    const batch = log.slice(points[i - 1], points[i]).map((event): TriggerItem => ({ kind: 'event', event }));
    yield { batch, cut: cuts.find((c) => c.cut === points[i]) };
  }
}

describe('property: whatever the batching, repeats and continue-as-new points', () => {
  it('a trigger fires and ends exactly like one fold over the events', async () => {
    const scenario = series(
      (length) =>
        fc.record({
          cut: fc.integer({ min: 0, max: length }),
          repeat: fc.boolean(),
          /** Hand over to a new run after receiving this batch: before evaluating it, or after. */
          handOver: fc.constantFrom('no', 'before step', 'after step'),
        }),
      8,
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ([steps, cuts]) => {
        const { log, reference, expected } = foldSeries(steps);
        const temporal = new FakeTemporal();
        let r = runner(temporal);
        for (const { batch, cut } of batchesOf(log, cuts)) {
          r.receive(batch);
          if (cut?.repeat) r.receive(batch);
          if (cut?.handOver !== 'before step') await r.step();
          if (cut && cut.handOver !== 'no') {
            const carried = JSON.parse(JSON.stringify(await r.handOver())) as TriggerCarry;
            r = runner(temporal, { carried }, null);
          }
        }
        await r.step();
        expect(seqs(temporal.recorded())).toEqual(expected);
        expect(r.view().fired).toBe(expected.length);
        expect(r.view().state).toEqual(reference);
      }),
      { numRuns: 300 },
    );
  });
});

describe('a run that starts without a carry (new, terminated, reset)', () => {
  const fresh = (temporal: FakeTemporal) =>
    new TriggerRunner(
      { triggerId: TRIGGER_ID, continueAsNewAfterSignals: 100, snapshotEveryMs: SNAPSHOT_EVERY_MS },
      temporal.deps(),
    );

  it('restores the latest snapshot and folds what the relay sent after it, before the live events', async () => {
    const temporal = new FakeTemporal();
    const first = runner(temporal);
    temporal.log = events(1, 2, 3, 4, 5);
    first.receive(temporal.log.slice(0, 3));
    await first.step(); // fires on 3: recorded with a snapshot at position 3
    first.receive(temporal.log.slice(3));
    // Terminated here: 4 and 5 were accepted by the run but never evaluated.
    const second = fresh(temporal);
    second.receive(events(5, 6)); // the relay's next signal started the new run
    expect(await second.start()).toBe(true);
    expect(temporal.itemQueries).toEqual([
      { registry: 'reputation', chainId: 1, eventTypes: null, agentIds: null, afterSeq: '3', limit: CATCH_UP_PAGE },
    ]);
    await second.step();
    expect(seqs(temporal.recorded())).toEqual(['3', '4', '5', '6']);
    expect(second.view().fired).toBe(4);
    expect(second.view().state.agents['1:7']?.conditions.r).toMatchObject({
      times: [1, 2, 3, 4, 5, 6].map((s) => T0 + s * 5),
    });
  });

  it('without a snapshot, folds everything after the start; a deleted trigger does not start', async () => {
    const temporal = new FakeTemporal();
    temporal.log = events(1, 2, 3);
    const r = fresh(temporal);
    expect(await r.start()).toBe(true);
    expect(seqs(temporal.recorded())).toEqual(['3']);
    temporal.stored = null;
    expect(await fresh(temporal).start()).toBe(false);
  });

  it('started by its creation, without a snapshot, reads no items (the relay sends it everything after its start)', async () => {
    const temporal = new FakeTemporal();
    temporal.log = events(1, 2, 3);
    const r = new TriggerRunner(
      { triggerId: TRIGGER_ID, continueAsNewAfterSignals: 100, snapshotEveryMs: SNAPSHOT_EVERY_MS, created: true },
      temporal.deps(),
    );
    expect(await r.start()).toBe(true);
    expect(temporal.itemQueries).toEqual([]);
    expect(temporal.recorded()).toEqual([]);
  });

  it(`reads the items a page (${CATCH_UP_PAGE}) at a time until a short page`, async () => {
    const temporal = new FakeTemporal();
    temporal.log = Array.from({ length: CATCH_UP_PAGE + 10 }, (_, i): TriggerItem => ({
      kind: 'event',
      event: feedback(i + 1, { timestamp: T0 + (i + 1) * 60 }),
    }));
    const r = fresh(temporal);
    await r.start();
    expect(temporal.itemQueries.map((q) => q.afterSeq)).toEqual(['0', String(CATCH_UP_PAGE)]);
    expect(r.view().seen.chains['1']?.hwm).toBe(String(CATCH_UP_PAGE + 10));
  });

  it('a trigger the relay evaluates itself restores nothing and reads no items', async () => {
    const temporal = new FakeTemporal();
    temporal.stored = {
      ...RATE,
      conditions: [{ key: 'a', condition_type: 'agent_id_equals', operator: '=', value: '7' }],
    };
    temporal.log = events(1);
    await fresh(temporal).start();
    expect(temporal.itemQueries).toEqual([]);
  });

  it('in a history from before the patch, loads the definition only and starts from an empty state', async () => {
    const temporal = new FakeTemporal();
    temporal.patches = { 'restore-from-snapshot': false };
    temporal.log = events(1, 2, 3);
    const r = fresh(temporal);
    expect(await r.start()).toBe(true);
    expect(temporal.calls.map((c) => c.activity)).toEqual(['loadTriggerDefinition']);
    expect(r.view().state).toEqual(initialState());
  });

  it('property: terminated anywhere, the restarted runs fire exactly where one uninterrupted fold does', async () => {
    const scenario = series(
      (length) =>
        fc.record({
          cut: fc.integer({ min: 0, max: length }),
          /** Terminate after receiving this batch: before evaluating it, or after. */
          terminate: fc.constantFrom('no', 'before step', 'after step'),
        }),
      6,
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ([steps, cuts]) => {
        const { log, reference, expected } = foldSeries(steps);
        const temporal = new FakeTemporal();
        let r = runner(temporal);
        for (const { batch, cut } of batchesOf(log, cuts)) {
          temporal.log.push(...batch);
          r.receive(batch);
          if (cut?.terminate !== 'before step') await r.step();
          if (cut && cut.terminate !== 'no') {
            r = fresh(temporal);
            await r.start();
          }
        }
        await r.step();
        // A firing recorded again after a restart is the same row (recording is idempotent).
        expect([...new Set(seqs(temporal.recorded()))]).toEqual(expected);
        expect(r.view().fired).toBe(expected.length);
        expect(r.view().state).toEqual(reference);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the Temporal UI', () => {
  it(`shows a firing at once, then at most once every ${SHOW_FIRINGS_EVERY_MS} ms (the sleep wakes for the rest)`, async () => {
    const temporal = new FakeTemporal();
    const r = runner(temporal);
    r.receive(events(1, 2, 3));
    await r.step();
    expect(temporal.shown).toEqual([{ at: temporal.now, lastFiredAt: temporal.now, firingCount: 1 }]);
    temporal.now += 1_000;
    r.receive(events(4));
    await r.step();
    expect(temporal.shown).toHaveLength(1);
    expect(r.sleepTimeoutMs()).toBe(SHOW_FIRINGS_EVERY_MS - 1_000);
    const firedAt = temporal.now;
    temporal.now += SHOW_FIRINGS_EVERY_MS;
    await r.step();
    expect(temporal.shown.at(-1)).toEqual({ at: temporal.now, lastFiredAt: firedAt, firingCount: 2 });
    expect(r.sleepTimeoutMs()).toBeUndefined();
  });

  it("shows the relay's count of the firings it evaluated itself; a history from before the patch shows nothing", () => {
    const temporal = new FakeTemporal();
    runner(temporal).relayFirings(12, T0 * 1_000);
    expect(temporal.shown).toEqual([{ at: temporal.now, lastFiredAt: T0 * 1_000, firingCount: 12 }]);
    temporal.patches = { 'firing-search-attributes': false };
    runner(temporal).relayFirings(13, T0 * 1_000);
    expect(temporal.shown).toHaveLength(1);
  });
});

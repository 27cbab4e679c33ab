/**
 * One long-lived workflow per trigger (id `trigger/{triggerId}`). It holds the trigger's evaluation state per agent,
 * receives batches of events from the relay by signal, drops what it has already seen, evaluates with the pure engine,
 * and records every firing. Config changes arrive as an Update (validated before they are accepted); delete completes
 * the workflow. It continues as new well before Temporal's 10,000-signal cap, carrying its state.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createTriggerActivities, MatchRecord } from '../activities/triggers.js';
import type { createDeliveryActivities } from '../activities/deliveries.js';
import { compileDefinition, type TriggerDefinition, type TriggerDefinitionInput } from '../src/triggers/definition.js';
import {
  expireAbsences,
  initialState,
  nextDeadline,
  pruneState,
  type EvaluateOptions,
  type TriggerState,
} from '../src/triggers/engine.js';
import { drainItems, type TriggerItem } from '../src/triggers/drain.js';
import { SeenEvents, type SeenEventsSnapshot } from '../src/triggers/seen-events.js';
import { triggerSearchAttributes } from '../src/triggers/search-attributes.js';

type TriggerActivities = ReturnType<typeof createTriggerActivities> &
  Pick<ReturnType<typeof createDeliveryActivities>, 'startDeliveries' | 'recordAndDeliver'>;
const activities = proxyActivities<TriggerActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * Recording a firing and starting its deliveries run as local activities: in the worker that holds the workflow, with no
 * round trip through the server's task queues (the trigger benchmark measured seconds of queueing per firing otherwise).
 */
const local = proxyLocalActivities<TriggerActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

// ---------------------------------------------------------------------------------------------------- messages

export type { TriggerItem };

export interface EventsBatch {
  items: TriggerItem[];
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

export const eventsSignal = defineSignal<[EventsBatch]>('events');
export const stateQuery = defineQuery<TriggerView>('state');
export const configUpdate = defineUpdate<{ ok: true }, [ConfigChange]>('config');

export interface TriggerWorkflowInput {
  triggerId: string;
  /** Signals after which the workflow continues as new (default 2,000; Temporal's hard cap is 10,000). */
  continueAsNewAfterSignals?: number;
  /** Snapshot the state into trigger_state at most this often. */
  snapshotEveryMs?: number;
  carried?: {
    input: TriggerDefinitionInput;
    startSeq: string;
    state: TriggerState;
    seen: SeenEventsSnapshot;
    queue: TriggerItem[];
    fired: number;
    /** The start block the first run read history from: re-folds include that history (absent in older runs). */
    historyStartBlock?: number;
  };
}

// ---------------------------------------------------------------------------------------------------- workflow

export async function triggerWorkflow(args: TriggerWorkflowInput): Promise<void> {
  const { triggerId } = args;
  const signalCap = args.continueAsNewAfterSignals ?? 2_000;
  const snapshotEveryMs = args.snapshotEveryMs ?? 60_000;

  // Handlers first: signals, queries and updates can arrive while the definition is still loading.
  const queue: TriggerItem[] = [...(args.carried?.queue ?? [])];
  let input: TriggerDefinitionInput | undefined = args.carried?.input;
  let def: TriggerDefinition | undefined = input && compileDefinition(input);
  let startSeq = args.carried?.startSeq ?? '0';
  const state: TriggerState = args.carried?.state ?? initialState();
  const seen = args.carried ? SeenEvents.restore(args.carried.seen) : new SeenEvents();
  let fired = args.carried?.fired ?? 0;
  let history: { startBlock: number } | undefined;
  let historyStartBlock = args.carried?.historyStartBlock;
  let deleted = false;
  let signals = 0;
  let dirty = false;
  let lastSnapshot = Date.now();

  setHandler(eventsSignal, (batch) => {
    signals++;
    queue.push(...batch.items);
  });
  setHandler(stateQuery, () => ({
    triggerId,
    definition: input ?? null,
    state,
    seen: seen.snapshot(),
    signalsThisRun: signals,
    fired,
  }));
  setHandler(
    configUpdate,
    async (change) => {
      await condition(() => def !== undefined);
      if (change.kind === 'delete') deleted = true;
      else if (change.kind === 'enable') input = { ...input!, enabled: change.enabled };
      else input = change.input;
      if (change.kind !== 'delete') {
        def = compileDefinition(input!);
        // Conditions whose parameters changed (or that were removed) restart; the others keep their state.
        pruneState(def, state);
        dirty = true;
        upsertSearchAttributes(triggerSearchAttributes(def));
        upsertMemo({ name: def.name, registry: def.registry, chainId: def.chainId });
      }
      return { ok: true as const };
    },
    {
      validator: (change) => {
        if (change.kind === 'edit') {
          if (change.input.id !== triggerId)
            throw new Error(`definition is for trigger ${change.input.id}, not ${triggerId}`);
          compileDefinition(change.input); // throws DefinitionError, which rejects the update before it is recorded
        }
      },
    },
  );

  if (!def) {
    const stored = await activities.loadTriggerDefinition(triggerId);
    if (!stored) {
      log.info('trigger does not exist (deleted); completing');
      return;
    }
    input = stored.input;
    def = compileDefinition(input);
    startSeq = stored.startSeq;
    if (stored.startBlock !== null) {
      history = { startBlock: stored.startBlock };
      historyStartBlock = stored.startBlock;
    }
  }

  // v0.4 feedback stays out of v1.0 series (engine rule 6); histories recorded before that rule keep counting it.
  const engineOptions = (): EvaluateOptions => ({ countEveryAbiVersion: !patched('abi-version-series') });

  /** Evaluates queued items in order; returns the firings to record. */
  const processQueue = async (): Promise<MatchRecord[]> => {
    const def = current();
    const { firings, changed } = await drainItems(
      {
        def,
        state,
        seen,
        options: engineOptions(),
        loadCanonicalEvents: ({ chainId, agentId, upToSeq }) =>
          activities.loadCanonicalEvents({
            triggerId,
            chainId,
            agentId,
            registry: def.registry,
            afterSeq: startSeq,
            upToSeq,
            startBlock: historyStartBlock,
          }),
        // Histories from before re-folded an agent touched by a retraction only after the drain.
        refoldBeforeNextEvent: () => patched('refold-agent-before-its-next-event'),
      },
      queue.splice(0),
    );
    if (changed) dirty = true;
    fired += firings.length;
    return firings.map(({ event: e, evaluation }) => ({
      eventSeq: e.ingest_seq,
      eventId: e.id,
      agentKey: evaluation.agentKey,
      kind: 'match',
      timestamp: e.timestamp,
      evaluation: evaluation.values,
    }));
  };

  function current(): TriggerDefinition {
    return def!;
  }

  const record = async (matches: MatchRecord[]) => {
    if (matches.length === 0) return;
    // One local activity records the firings and creates their deliveries (one marker, one activation less per firing).
    if (patched('record-and-deliver')) {
      await local.recordAndDeliver(triggerId, matches);
      return;
    }
    const fired = matches.map((m) => ({ eventSeq: m.eventSeq, kind: m.kind }));
    // Histories from before: two local activities (test/fixtures/histories/trigger-workflow-v3-two-local-activities.json).
    if (patched('local-record')) {
      await local.recordMatches(triggerId, matches);
      await local.startDeliveries(triggerId, fired);
      return;
    }
    // Older histories (test/fixtures/histories): regular activities, and before actions existed, matches only.
    await activities.recordMatches(triggerId, matches);
    if (patched('start-deliveries')) await activities.startDeliveries(triggerId, fired);
  };

  // A trigger with a start block first reads its history (events ingested before it existed).
  if (history) {
    let after = '0';
    for (;;) {
      const page = await activities.loadTriggerHistory({
        chainId: current().chainId,
        registry: current().registry,
        startBlock: history.startBlock,
        afterSeq: after,
        upToSeq: startSeq,
        limit: 1_000,
      });
      if (page.length === 0) break;
      queue.unshift(...page.map((event): TriggerItem => ({ kind: 'event', event })));
      await record(await processQueue());
      after = page[page.length - 1]!.ingest_seq;
    }
  }

  for (;;) {
    const deadline = nextDeadline(state);
    const timeout = deadline === undefined ? undefined : Math.max(0, deadline * 1_000 - Date.now());
    const snapshotDue = () => dirty && Date.now() - lastSnapshot >= snapshotEveryMs;
    const woken = () => queue.length > 0 || deleted || signals >= signalCap || workflowInfo().continueAsNewSuggested;
    // An idle trigger sleeps without a timer: a timer would wake every cached-out workflow once a snapshot interval,
    // forever. A timer is armed only when there is a snapshot to write or an absence deadline to watch.
    // (Histories from before this change always armed one; see test/fixtures/histories.)
    if (!patched('idle-without-timer') || dirty || timeout !== undefined) {
      await condition(woken, timeout === undefined ? snapshotEveryMs : Math.min(timeout, snapshotEveryMs));
    } else {
      await condition(woken);
    }

    if (deleted) {
      await condition(allHandlersFinished);
      await activities.deleteTriggerState(triggerId);
      log.info('trigger deleted; workflow completes');
      return;
    }

    const matches = await processQueue();
    if (current().enabled) {
      for (const absent of expireAbsences(state, Math.floor(Date.now() / 1_000))) {
        fired++;
        dirty = true;
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
    await record(matches);

    if (snapshotDue()) {
      await activities.saveTriggerState(triggerId, state);
      lastSnapshot = Date.now();
      dirty = false;
    }

    if (signals >= signalCap || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      if (deleted) continue;
      await activities.saveTriggerState(triggerId, state);
      await continueAsNew<typeof triggerWorkflow>({
        ...args,
        carried: {
          input: input!,
          startSeq,
          state,
          seen: seen.snapshot(),
          queue: queue.splice(0),
          fired,
          historyStartBlock,
        },
      });
    }
  }
}

/**
 * One long-lived workflow per trigger (id `trigger/{triggerId}`). It holds the trigger's evaluation state per agent,
 * receives batches of events from the relay by signal, drops what it has already seen, evaluates with the pure engine,
 * and records every firing. Config changes arrive as an Update (validated before they are accepted); delete completes
 * the workflow. It continues as new well before Temporal's 10,000-signal cap, carrying its state.
 *
 * The logic lives in TriggerRunner (src/triggers/runner.ts), a plain class unit tests drive without a worker; this file
 * wires Temporal's signals, update, query, timers, continue-as-new and activities to it.
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
import type { createTriggerActivities } from '../activities/triggers.js';
import type { createDeliveryActivities } from '../activities/deliveries.js';
import type { TriggerItem } from '../src/triggers/drain.js';
import { firingSearchAttributes, triggerSearchAttributes } from '../src/triggers/search-attributes.js';
import { TriggerRunner, type ConfigChange, type TriggerCarry, type TriggerView } from '../src/triggers/runner.js';

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

export type { TriggerItem, ConfigChange, TriggerView };

export interface EventsBatch {
  items: TriggerItem[];
}

export const eventsSignal = defineSignal<[EventsBatch]>('events');

/** The relay's firings of a trigger it evaluates itself (now and then, not per event): shown in the Temporal UI. */
export interface RelayFirings {
  /** The trigger's recorded firings in all. */
  count: number;
  /** The latest one, Unix milliseconds. */
  lastFiredAt: number;
}
export const relayFiringsSignal = defineSignal<[RelayFirings]>('relayFirings');
export const stateQuery = defineQuery<TriggerView>('state');
export const configUpdate = defineUpdate<{ ok: true }, [ConfigChange]>('config');

export interface TriggerWorkflowInput {
  triggerId: string;
  /** Signals after which the workflow continues as new (default 2,000; Temporal's hard cap is 10,000). */
  continueAsNewAfterSignals?: number;
  /** Snapshot the state into trigger_state at most this often. */
  snapshotEveryMs?: number;
  carried?: TriggerCarry;
  /**
   * Started by the trigger's creation: without a snapshot there is nothing to catch up on (the relay sends every event
   * after the trigger's start). Any other start without a carry folds the events after the snapshot, or after the start.
   */
  created?: boolean;
}

// ---------------------------------------------------------------------------------------------------- patches

/*
 * Patches: every patched() id the trigger workflow branches on (all asked in src/triggers/runner.ts), the recorded
 * histories that pin each branch, and when it can move to deprecatePatch. A history without the marker replays the old
 * branch; a run keeps the branch it started with until it continues as new (the new run takes the new branch), so
 * "a run from before <commit>" is one started on code older than that commit.
 *
 * Histories (test/fixtures/histories): v1 = trigger-workflow-v1-before-deliveries.json (no markers),
 * v2 = trigger-workflow-v2-remote-activities.json, v3 = trigger-workflow-v3-two-local-activities.json,
 * v4 = trigger-workflow-v4-record-and-deliver.json, v5 = trigger-workflow.json (restored from snapshots, firings shown);
 * fresh = the history test/integration/trigger-replay.test.ts records on the current code.
 *
 * deprecatePatch(id) once no open run started before the commit that added it (for ¹, before 95ad779) and the
 * fixtures in the last column are retired (deleted: no open run can replay like them any more). Dates are 2026.
 *
 * patch id                           | added in      | old branch       | new branch        | retired fixtures
 * -----------------------------------|---------------|------------------|-------------------|-----------------------
 * idle-without-timer                 | 4c4ed77 11-26 | v1               | v2–v5, fresh      | v1
 * start-deliveries ¹                 | fb122e9 11-26 | v1               | v2                | v1, v2
 * local-record ²                     | 95ad779 11-26 | v1, v2           | v3                | v1, v2
 * record-and-deliver                 | 04524f3 11-26 | v1, v2, v3       | v4, v5, fresh     | v1, v2, v3
 * refold-agent-before-its-next-event | d86f0c9 12-07 | none ³           | none ³            | —
 * abi-version-series                 | 596d6a5 12-07 | v1, v2, v3, v4 ⁴ | v5, fresh         | v1–v4 (or re-recorded)
 * history-before-live-events         | 70e545e 12-07 | none ⁵           | none ⁵            | —
 * restore-from-snapshot              | 3670b09 12-08 | v1–v4 ⁶          | v5, fresh         | v1–v4
 * snapshot-with-firings              | 3670b09 12-08 | v1–v4            | v5, fresh         | v1–v4
 * firing-search-attributes           | 3670b09 12-08 | v1–v4            | v5, fresh         | v1–v4
 *
 * ¹ asked only when record-and-deliver and local-record are false: the remote-activity rung goes as one with them.
 * ² asked only when record-and-deliver is false.
 * ³ asked only when a drain holds a retraction and a later event of the same agent; no history does (the fixtures'
 *   retractions arrive alone). test/integration/trigger-reorg.test.ts exercises the new branch live.
 * ⁴ asked at every wake-up; the fixtures' events carry no abi_version, so both branches evaluate them alike.
 * ⁵ asked only when a start block's history page is read; no fixture has a start block.
 *   test/integration/guarantees-triggers.test.ts (settings.start_block) exercises the new branch live.
 *
 * ⁶ asked when a run starts without a carry: the old branch loads the definition only (state starts empty, the snapshot
 *   is never read); the new one restores the snapshot and folds the items after its position.
 *
 * After deprecatePatch is deployed and no run from before that deploy is open, the call goes away.
 */

// ---------------------------------------------------------------------------------------------------- workflow

export async function triggerWorkflow(args: TriggerWorkflowInput): Promise<void> {
  const { triggerId } = args;
  const runner = new TriggerRunner(
    {
      triggerId,
      continueAsNewAfterSignals: args.continueAsNewAfterSignals ?? 2_000,
      snapshotEveryMs: args.snapshotEveryMs ?? 60_000,
      carried: args.carried,
      created: args.created,
    },
    {
      patched,
      now: () => Date.now(),
      activities,
      localActivities: local,
      showFirings: (firings) => upsertSearchAttributes(firingSearchAttributes(firings)),
    },
  );

  // Handlers first: signals, queries and updates can arrive while the definition is still loading.
  setHandler(eventsSignal, (batch) => runner.receive(batch.items));
  setHandler(relayFiringsSignal, (firings) => runner.relayFirings(firings.count, firings.lastFiredAt));
  setHandler(stateQuery, () => runner.view());
  setHandler(
    configUpdate,
    async (change) => {
      await condition(() => runner.loaded);
      const def = runner.applyChange(change);
      if (def) {
        upsertSearchAttributes(triggerSearchAttributes(def));
        upsertMemo({ name: def.name, registry: def.registry, chainId: def.chainId });
      }
      return { ok: true as const };
    },
    // Throwing here rejects the update before it is recorded.
    { validator: (change) => runner.validateChange(change) },
  );

  if (!runner.loaded && !(await runner.start())) {
    log.info('trigger does not exist (deleted); completing');
    return;
  }

  for (;;) {
    const timeout = runner.sleepTimeoutMs();
    const woken = () => runner.hasWork() || workflowInfo().continueAsNewSuggested;
    if (timeout === undefined) await condition(woken);
    else await condition(woken, timeout);

    if (runner.deleted) {
      await condition(allHandlersFinished);
      await activities.deleteTriggerState(triggerId);
      log.info('trigger deleted; workflow completes');
      return;
    }

    await runner.step();

    if (runner.continueAsNewDue(workflowInfo().continueAsNewSuggested)) {
      await condition(allHandlersFinished);
      if (runner.deleted) continue;
      await continueAsNew<typeof triggerWorkflow>({ ...args, carried: await runner.handOver() });
    }
  }
}

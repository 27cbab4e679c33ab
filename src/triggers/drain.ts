/**
 * Folding the relay's items (events and retractions) into a trigger's state: what the trigger workflow does with each
 * batch it drains. Pure apart from the loader it is given (an activity in the workflow), so it runs in the workflow
 * sandbox and in property tests alike.
 *
 * The state is the fold over the canonical events. A retraction makes its agent stale; a stale agent is re-folded from
 * the canonical events before its next event is evaluated (and at the end of the drain), so an event never counts an
 * orphaned one — a reorg's replacements may arrive in the same drain as its retractions.
 */
import {
  agentKeyOf,
  evaluate,
  trackAbsence,
  type EvaluateOptions,
  type Evaluation,
  type TriggerEvent,
  type TriggerState,
} from './engine.js';
import type { TriggerDefinition } from './definition.js';
import type { SeenEvents } from './seen-events.js';

export type TriggerItem =
  | { kind: 'event'; event: TriggerEvent }
  | {
      kind: 'retraction';
      seq: string;
      eventSeq: string;
      chainId: number;
      agentId: string | null;
      eventType: string;
      requestHash: string | null;
    };

export interface AgentRef {
  chainId: number;
  agentId: string | null;
}

export interface DrainContext {
  def: TriggerDefinition;
  state: TriggerState;
  seen: SeenEvents;
  /** Passed to every evaluation (re-folds included). */
  options?: EvaluateOptions;
  /** The agent's canonical events up to `upToSeq` (inclusive), in ingest order. */
  loadCanonicalEvents(agent: AgentRef & { upToSeq: string }): Promise<TriggerEvent[]>;
  /**
   * Whether a stale agent is re-folded before its next event. False only when replaying histories recorded before
   * (they re-folded at the end of the drain only).
   */
  refoldBeforeNextEvent(): boolean;
}

export interface Firing {
  event: TriggerEvent;
  evaluation: Evaluation;
}

export interface DrainResult {
  firings: Firing[];
  /** Whether the state changed (it needs a snapshot). */
  changed: boolean;
}

/** Evaluates the items in order, updating `ctx.state` and `ctx.seen` in place; returns the firings. */
export async function drainItems(ctx: DrainContext, items: readonly TriggerItem[]): Promise<DrainResult> {
  const { def, state, seen } = ctx;
  const firings: Firing[] = [];
  const stale = new Map<string, AgentRef>();
  let changed = false;

  /** Rebuilds the agent from its canonical events seen so far; `skipSeq` is the event about to be evaluated. */
  const refold = async (agentKey: string, skipSeq?: string) => {
    const agent = stale.get(agentKey)!;
    stale.delete(agentKey);
    delete state.agents[agentKey];
    const events = await ctx.loadCanonicalEvents({ ...agent, upToSeq: seen.highWaterMark(agent.chainId) });
    for (const e of events) if (def.enabled && e.ingest_seq !== skipSeq) evaluate(def, state, e, ctx.options);
    changed = true;
  };

  for (const item of items) {
    if (item.kind === 'retraction') {
      if (!seen.has(item.chainId, item.eventSeq)) continue;
      stale.set(agentKeyOf({ chain_id: item.chainId, agent_id: item.agentId }), {
        chainId: item.chainId,
        agentId: item.agentId,
      });
      if (item.requestHash) delete state.pending[`${item.chainId}:${item.requestHash}`];
      continue;
    }
    const e = item.event;
    if (seen.has(e.chain_id, e.ingest_seq)) continue;
    const agentKey = agentKeyOf(e);
    if (stale.has(agentKey) && ctx.refoldBeforeNextEvent()) await refold(agentKey, e.ingest_seq);
    seen.add(e.chain_id, e.ingest_seq);
    changed = true;
    if (!def.enabled) continue;
    if (def.conditions.some((c) => c.params.kind === 'absence')) {
      trackAbsence(def, state, e);
      continue;
    }
    const evaluation = evaluate(def, state, e, ctx.options);
    if (evaluation.fired) firings.push({ event: e, evaluation });
  }
  for (const agentKey of [...stale.keys()]) await refold(agentKey);
  return { firings, changed };
}

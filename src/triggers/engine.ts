/**
 * The trigger evaluator: pure, deterministic, no I/O and no clock. The trigger workflow, the backtest and the
 * "test this trigger" API all run this code, so they agree by construction.
 *
 * Rules (documented in README, "Trigger semantics"):
 *  1. An event is *eligible* when it passes every group made only of stateless conditions (the gate).
 *  2. Every stateful condition (EMA, rate) of the event's agent updates on every eligible event — all of them, whatever
 *     their order or grouping — so state never depends on how conditions are arranged.
 *  3. The trigger *matches* when the whole formula (AND of groups, OR within a group, negations) holds after the update.
 *  4. It *fires* on a match unless the agent is in cooldown (block time since its last firing) or, with hysteresis, the
 *     formula was already true for that agent at its previous event of the kind the trigger is about (it fires on the
 *     rising edge only). "Of the kind" means passing the required event-type and agent-id conditions; such an event that
 *     is not eligible makes the formula false and so re-arms the trigger. A match held back by cooldown still counts as
 *     true for hysteresis (the alert is suppressed, not postponed).
 *  5. State lives per agent (chain id + agent id), and per condition key: agents and conditions never share state.
 *  6. ABI versions: a stateful condition counts only events of its ABI versions (`config.abi_versions`, default v1.0:
 *     a v0.4 `score` 0–100 never joins a v1.0 value series). An eligible event outside a condition's versions leaves
 *     that condition's state alone and reads its current value; an event outside every stateful condition's versions
 *     is not part of the trigger's series at all (not eligible: no update, no match, no hysteresis re-arm). Events
 *     without a recorded version count as v1.0. Stateless conditions see every event as it is.
 * Threshold conditions with a `rearm_value` latch: once true, they stay true until the metric crosses the re-arm value.
 */
import { compareScaled, toNumber, type Scaled } from './decimal.js';
import {
  conditionFingerprint,
  DEFAULT_SERIES_ABI_VERSIONS,
  isStateful,
  type AbiVersion,
  type Comparison,
  type Condition,
  type TriggerDefinition,
} from './definition.js';

/** The event fields the evaluator reads (a row of `events`, numbers as exact strings). */
export interface TriggerEvent {
  ingest_seq: string;
  id: string;
  chain_id: number;
  block_number: number;
  log_index: number;
  timestamp: number;
  registry: string;
  event_type: string;
  agent_id: string | null;
  value: string | null;
  value_decimals: number | null;
  tag1: string | null;
  tag2: string | null;
  tag: string | null;
  validator_address: string | null;
  file_uri: string | null;
  response: number | null;
  request_hash: string | null;
  /** The registry ABI that emitted the event (events.abi_version); absent (histories from before) means v1.0. */
  abi_version?: string;
}

export interface EvaluateOptions {
  /**
   * Every stateful condition counts every event, whatever its ABI version: the rule before rule 6, kept for trigger
   * workflows whose histories were recorded under it (workflows/trigger.ts passes it until patched).
   */
  countEveryAbiVersion?: boolean;
}

export interface EmaState {
  kind: 'ema';
  fingerprint: string;
  ema: number | null;
  count: number;
  latched: boolean;
}
export interface RateState {
  kind: 'rate';
  fingerprint: string;
  /** Block timestamps of eligible events inside the window (oldest first). */
  times: number[];
  latched: boolean;
}
export type ConditionState = EmaState | RateState;

export interface AgentState {
  conditions: Record<string, ConditionState>;
  /** Formula value at the agent's previous eligible event (hysteresis). */
  wasTrue: boolean;
  lastFiredAt: number | null;
  fired: number;
}

export interface PendingAbsence {
  requestHash: string;
  agentKey: string;
  /** Block time (Unix seconds) after which the absence fires. */
  deadline: number;
  event: TriggerEvent;
}

export interface TriggerState {
  agents: Record<string, AgentState>;
  /** Absence conditions: requests waiting for their response, by request hash. */
  pending: Record<string, PendingAbsence>;
}

export interface Evaluation {
  agentKey: string;
  eligible: boolean;
  matched: boolean;
  fired: boolean;
  /** Why a match did not fire, when it did not. */
  suppressedBy?: 'cooldown' | 'hysteresis';
  /** Per-condition values after the update, for templates and the UI (e.g. the current EMA). */
  values: Record<string, { result: boolean; metric?: number | string | null }>;
}

export function initialState(): TriggerState {
  return { agents: {}, pending: {} };
}

/**
 * Whether a trigger's firing depends on the event alone: no stateful (EMA, rate) or absence condition, no cooldown, no
 * hysteresis, and no history to read first. Such a trigger has no state to hold, so evaluating an event with a fresh
 * state is exactly what its workflow would do; the relay does that in process (src/relay/trigger-dispatcher.ts).
 */
export function firesPerEvent(def: TriggerDefinition): boolean {
  return (
    def.conditions.every((c) => c.params.kind !== 'ema' && c.params.kind !== 'rate' && c.params.kind !== 'absence') &&
    def.settings.cooldown_seconds === 0 &&
    !def.settings.hysteresis &&
    def.settings.start_block === null
  );
}

export function agentKeyOf(event: Pick<TriggerEvent, 'chain_id' | 'agent_id'>): string {
  return `${event.chain_id}:${event.agent_id ?? '-'}`;
}

function compareNumbers(a: number, op: Comparison, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '=':
      return a === b;
    case '!=':
      return a !== b;
  }
}

function compareExact(a: Scaled, op: Comparison, b: Scaled): boolean {
  const sign = compareScaled(a, b);
  return compareNumbers(sign, op, 0);
}

/** A stateless condition on one event. */
function statelessResult(c: Condition, e: TriggerEvent): boolean {
  const p = c.params;
  switch (p.kind) {
    case 'event_type':
      return p.op === '!=' ? !p.types.includes(e.event_type) : p.types.includes(e.event_type);
    case 'agent_id': {
      const has = e.agent_id !== null && p.ids.includes(e.agent_id);
      return p.op === '!=' ? e.agent_id !== null && !has : has;
    }
    case 'tag': {
      const tags = p.field === 'any' ? [e.tag1, e.tag2, e.tag] : [e[p.field]];
      const equal = tags.some((t) => t !== null && t === p.tag);
      return p.op === '=' ? equal : tags.some((t) => t !== null) && !equal;
    }
    case 'validator': {
      if (e.validator_address === null) return false;
      const listed = p.addresses.includes(e.validator_address.toLowerCase());
      return p.op === 'in' ? listed : !listed;
    }
    case 'file_uri':
      return (e.file_uri !== null && e.file_uri !== '') === p.exists;
    case 'score': {
      if (p.field === 'response')
        return e.response !== null && compareExact({ int: BigInt(e.response), decimals: 0 }, p.op, p.threshold);
      if (e.value === null || e.value_decimals === null) return false;
      return compareExact({ int: BigInt(e.value), decimals: e.value_decimals }, p.op, p.threshold);
    }
    default:
      throw new Error(`${c.type} is not stateless`);
  }
}

function emaOf(e: TriggerEvent): number | undefined {
  if (e.value === null || e.value_decimals === null) return undefined;
  return toNumber({ int: BigInt(e.value), decimals: e.value_decimals });
}

/** Whether a stateful condition counts events of this ABI version in its series (rule 6). */
function countsVersion(c: Condition, e: TriggerEvent, options: EvaluateOptions): boolean {
  if (options.countEveryAbiVersion) return true;
  const versions: readonly AbiVersion[] =
    (c.params.kind === 'ema' || c.params.kind === 'rate' ? c.params.abiVersions : undefined) ??
    DEFAULT_SERIES_ABI_VERSIONS;
  return (versions as readonly string[]).includes(e.abi_version ?? 'v1.0');
}

/**
 * Updates a stateful condition with an eligible event (or, when the event is outside its series, only reads it);
 * returns its truth value and metric.
 */
function updateStateful(
  c: Condition,
  agent: AgentState,
  e: TriggerEvent,
  fingerprint: string,
  counts: boolean,
): { result: boolean; metric: number | null } {
  const p = c.params;
  if (!counts) {
    const s = agent.conditions[c.key];
    if (!s || s.fingerprint !== fingerprint) return { result: false, metric: null };
    if (p.kind === 'ema' && s.kind === 'ema') {
      if (s.ema === null) return { result: false, metric: null };
      return { result: p.rearm === undefined ? compareNumbers(s.ema, p.op, p.threshold) : s.latched, metric: s.ema };
    }
    if (p.kind === 'rate' && s.kind === 'rate') {
      const inWindow = s.times.filter((t) => t > e.timestamp - p.windowSeconds && t <= e.timestamp).length;
      return { result: compareNumbers(inWindow, p.op, p.threshold), metric: inWindow };
    }
    return { result: false, metric: null };
  }
  if (p.kind === 'ema') {
    let s = agent.conditions[c.key];
    if (!s || s.kind !== 'ema' || s.fingerprint !== fingerprint)
      s = agent.conditions[c.key] = { kind: 'ema', fingerprint, ema: null, count: 0, latched: false };
    const x = emaOf(e);
    if (x !== undefined) {
      s.ema = s.ema === null ? x : p.alpha * x + (1 - p.alpha) * s.ema;
      s.count++;
    }
    if (s.ema === null) return { result: false, metric: null };
    const now = compareNumbers(s.ema, p.op, p.threshold);
    if (p.rearm === undefined) return { result: now, metric: s.ema };
    // Latch: true once the threshold is crossed, false again only past the re-arm value.
    if (now) s.latched = true;
    else if (s.latched && !compareNumbers(s.ema, p.op.startsWith('<') ? '<' : '>', p.rearm)) s.latched = false;
    return { result: s.latched, metric: s.ema };
  }
  if (p.kind === 'rate') {
    let s = agent.conditions[c.key];
    if (!s || s.kind !== 'rate' || s.fingerprint !== fingerprint)
      s = agent.conditions[c.key] = { kind: 'rate', fingerprint, times: [], latched: false };
    s.times.push(e.timestamp);
    // The window is (t − W, t] in block time.
    const from = e.timestamp - p.windowSeconds;
    while (s.times.length > 0 && s.times[0]! <= from) s.times.shift();
    return { result: compareNumbers(s.times.length, p.op, p.threshold), metric: s.times.length };
  }
  throw new Error(`${c.type} is not stateful`);
}

/** Conditions grouped for the formula: ungrouped conditions are groups of one. Absence is not part of the formula. */
function groupsOf(def: TriggerDefinition): Condition[][] {
  const groups = new Map<string, Condition[]>();
  const solo: Condition[][] = [];
  for (const c of def.conditions) {
    if (c.params.kind === 'absence') continue;
    if (c.group === undefined) solo.push([c]);
    else groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  }
  return [...solo, ...groups.values()];
}

const fingerprints = new WeakMap<Condition, string>();
function fingerprintOf(c: Condition): string {
  let f = fingerprints.get(c);
  if (!f) fingerprints.set(c, (f = conditionFingerprint(c)));
  return f;
}

/** Rule 1: the stateless conditions' values, and whether the event passes every all-stateless group. */
function gate(def: TriggerDefinition, e: TriggerEvent) {
  const values: Evaluation['values'] = {};
  const stateless = new Map<string, boolean>();
  for (const c of def.conditions) {
    if (!isStateful(c) && c.params.kind !== 'absence') {
      const r = statelessResult(c, e);
      stateless.set(c.key, r);
      values[c.key] = { result: c.negate ? !r : r };
    }
  }
  const groups = groupsOf(def);
  const eligible = groups
    .filter((g) => g.every((c) => !isStateful(c)))
    .every((g) => g.some((c) => (c.negate ? !stateless.get(c.key) : stateless.get(c.key))));
  return { groups, stateless, values, eligible };
}

/** Whether the event passes the trigger's required (ungrouped, not negated) event-type and agent-id conditions. */
function routed(def: TriggerDefinition, stateless: Map<string, boolean>): boolean {
  return def.conditions
    .filter((c) => !c.group && !c.negate && (c.params.kind === 'event_type' || c.params.kind === 'agent_id'))
    .every((c) => stateless.get(c.key));
}

/**
 * Evaluates one event against the definition, updating `state` in place. Returns what happened for the event's agent.
 * Absence conditions are handled by `trackAbsence` / `expireAbsences`.
 */
export function evaluate(
  def: TriggerDefinition,
  state: TriggerState,
  e: TriggerEvent,
  options: EvaluateOptions = {},
): Evaluation {
  const agentKey = agentKeyOf(e);
  const { groups, stateless, values, eligible } = gate(def, e);
  // Rule 6: an event that no stateful condition counts is outside the trigger's series (and re-arms nothing).
  const statefulConditions = def.conditions.filter(isStateful);
  const counted = new Set(statefulConditions.filter((c) => countsVersion(c, e, options)).map((c) => c.key));
  if (statefulConditions.length > 0 && counted.size === 0)
    return { agentKey, eligible: false, matched: false, fired: false, values };
  if (!eligible) {
    // An event the trigger is about where the formula is false re-arms hysteresis (rule 4).
    const agent = state.agents[agentKey];
    if (agent?.wasTrue && routed(def, stateless)) agent.wasTrue = false;
    return { agentKey, eligible, matched: false, fired: false, values };
  }

  const agent = (state.agents[agentKey] ??= { conditions: {}, wasTrue: false, lastFiredAt: null, fired: 0 });
  const stateful = new Map<string, boolean>();
  for (const c of statefulConditions) {
    const { result, metric } = updateStateful(c, agent, e, fingerprintOf(c), counted.has(c.key));
    stateful.set(c.key, result);
    values[c.key] = { result: c.negate ? !result : result, metric };
  }
  const truth = (c: Condition) => {
    const r = isStateful(c) ? stateful.get(c.key)! : stateless.get(c.key)!;
    return c.negate ? !r : r;
  };
  const matched = groups.every((g) => g.some(truth));

  let fired = matched;
  let suppressedBy: Evaluation['suppressedBy'];
  if (matched && def.settings.hysteresis && agent.wasTrue) {
    fired = false;
    suppressedBy = 'hysteresis';
  }
  // No cooldown configured means none: events may carry an earlier block time (another chain's clock, a re-fold).
  if (
    fired &&
    def.settings.cooldown_seconds > 0 &&
    agent.lastFiredAt !== null &&
    e.timestamp - agent.lastFiredAt < def.settings.cooldown_seconds
  ) {
    fired = false;
    suppressedBy = 'cooldown';
  }
  agent.wasTrue = matched;
  if (fired) {
    agent.lastFiredAt = e.timestamp;
    agent.fired++;
    for (const c of def.conditions) {
      const s = agent.conditions[c.key];
      if (c.params.kind === 'rate' && c.params.resetOnTrigger && s?.kind === 'rate') s.times = [];
    }
  }
  return { agentKey, eligible, matched, fired, ...(suppressedBy ? { suppressedBy } : {}), values };
}

/**
 * Absence conditions: an eligible ValidationRequest opens a deadline; any ValidationResponse for the same request hash
 * closes it. Returns what changed.
 */
export function trackAbsence(
  def: TriggerDefinition,
  state: TriggerState,
  e: TriggerEvent,
): 'opened' | 'closed' | undefined {
  const absence = def.conditions.find((c) => c.params.kind === 'absence');
  if (!absence || absence.params.kind !== 'absence' || e.request_hash === null) return undefined;
  if (e.event_type === 'ValidationResponse') {
    const key = `${e.chain_id}:${e.request_hash}`;
    if (state.pending[key]) {
      delete state.pending[key];
      return 'closed';
    }
    return undefined;
  }
  if (e.event_type !== 'ValidationRequest') return undefined;
  if (!gate(def, e).eligible) return undefined;
  const key = `${e.chain_id}:${e.request_hash}`;
  state.pending[key] = {
    requestHash: e.request_hash,
    agentKey: agentKeyOf(e),
    deadline: e.timestamp + absence.params.withinSeconds,
    event: e,
  };
  return 'opened';
}

/** Removes and returns the absences whose deadline is at or before `now` (Unix seconds), oldest first. */
export function expireAbsences(state: TriggerState, now: number): PendingAbsence[] {
  const due = Object.entries(state.pending)
    .filter(([, p]) => p.deadline <= now)
    .sort(([, a], [, b]) => a.deadline - b.deadline);
  for (const [key] of due) delete state.pending[key];
  return due.map(([, p]) => p);
}

/** The earliest absence deadline, if any. */
export function nextDeadline(state: TriggerState): number | undefined {
  let min: number | undefined;
  for (const p of Object.values(state.pending)) if (min === undefined || p.deadline < min) min = p.deadline;
  return min;
}

/** Drops the state of conditions that no longer exist or whose parameters changed (their state restarts). */
export function pruneState(def: TriggerDefinition, state: TriggerState): void {
  const live = new Map(def.conditions.filter(isStateful).map((c) => [c.key, fingerprintOf(c)]));
  for (const agent of Object.values(state.agents)) {
    for (const [key, s] of Object.entries(agent.conditions)) {
      if (live.get(key) !== s.fingerprint) delete agent.conditions[key];
    }
  }
  if (!def.conditions.some((c) => c.params.kind === 'absence')) state.pending = {};
}

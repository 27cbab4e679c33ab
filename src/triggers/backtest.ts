/**
 * Backtest: runs a trigger definition over stored canonical events and lists every point where it would have fired,
 * with the agent's state at that point. The same pure evaluator as the workflow; executes no action.
 *
 * Absence conditions use block time: a request's deadline passes when an event at or after it is seen, or at the end
 * of the range (the last event's block time).
 */
import { compileDefinition, type TriggerDefinition, type TriggerDefinitionInput } from './definition.js';
import {
  evaluate,
  expireAbsences,
  initialState,
  trackAbsence,
  type AgentState,
  type Evaluation,
  type TriggerEvent,
} from './engine.js';
import { loadTriggerInput } from './store.js';
import { TRIGGER_EVENT_COLUMNS, type TriggerEventRow } from './event-row.js';
import type { Db } from '../db/pool.js';

export interface BacktestFiring {
  kind: 'match' | 'absence';
  event: TriggerEvent;
  agentKey: string;
  /** Block time of the firing (the event's, or the absence deadline). */
  at: number;
  values?: Evaluation['values'];
  /** The agent's state right after the firing (a copy). */
  agentState?: AgentState;
}

export interface BacktestResult {
  eventsScanned: number;
  eligibleEvents: number;
  firings: BacktestFiring[];
  /** Matches held back by cooldown or hysteresis. */
  suppressed: { cooldown: number; hysteresis: number };
}

/** Pure: folds the evaluator over events (in chain order) and collects the firings. */
export function backtestEvents(def: TriggerDefinition, events: Iterable<TriggerEvent>): BacktestResult {
  const state = initialState();
  const result: BacktestResult = {
    eventsScanned: 0,
    eligibleEvents: 0,
    firings: [],
    suppressed: { cooldown: 0, hysteresis: 0 },
  };
  const absence = def.conditions.some((c) => c.params.kind === 'absence');
  let lastTime = 0;
  const expire = (now: number) => {
    for (const p of expireAbsences(state, now))
      result.firings.push({ kind: 'absence', event: p.event, agentKey: p.agentKey, at: p.deadline });
  };
  for (const e of events) {
    result.eventsScanned++;
    lastTime = Math.max(lastTime, e.timestamp);
    if (absence) {
      expire(e.timestamp - 1); // deadlines strictly before this block passed without this event
      if (trackAbsence(def, state, e) === 'opened') result.eligibleEvents++;
      continue;
    }
    const evaluation = evaluate(def, state, e);
    if (evaluation.eligible) result.eligibleEvents++;
    if (evaluation.suppressedBy) result.suppressed[evaluation.suppressedBy]++;
    if (evaluation.fired) {
      result.firings.push({
        kind: 'match',
        event: e,
        agentKey: evaluation.agentKey,
        at: e.timestamp,
        values: evaluation.values,
        agentState: structuredClone(state.agents[evaluation.agentKey]),
      });
    }
  }
  if (absence) expire(lastTime);
  return result;
}

export interface BacktestRequest {
  /** A stored trigger, or a definition to try. */
  triggerId?: string;
  definition?: Omit<TriggerDefinitionInput, 'id' | 'organizationId'> &
    Partial<Pick<TriggerDefinitionInput, 'id' | 'organizationId'>>;
  chainId: number;
  fromBlock: number;
  toBlock: number;
}

export class BacktestRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BacktestRequestError';
  }
}

/** Loads the definition and the canonical events of the block range (paged) and runs the backtest. */
export async function runBacktest(
  pool: Db,
  request: BacktestRequest,
): Promise<BacktestResult & { definition: TriggerDefinition }> {
  if (
    !Number.isInteger(request.fromBlock) ||
    !Number.isInteger(request.toBlock) ||
    request.fromBlock < 0 ||
    request.toBlock < request.fromBlock
  ) {
    throw new BacktestRequestError(`invalid block range ${request.fromBlock}..${request.toBlock}`);
  }
  let input: TriggerDefinitionInput;
  if (request.triggerId) {
    const stored = await loadTriggerInput(pool, request.triggerId);
    if (!stored) throw new BacktestRequestError(`trigger ${request.triggerId} not found`);
    input = stored.input;
  } else if (request.definition) {
    input = { id: 'backtest', organizationId: 'backtest', ...request.definition };
  } else throw new BacktestRequestError('give a trigger id or a definition');
  const def = compileDefinition(input);
  if (def.chainId !== null && def.chainId !== request.chainId) {
    throw new BacktestRequestError(`the trigger watches chain ${def.chainId}, not ${request.chainId}`);
  }
  async function* pages(): AsyncGenerator<TriggerEvent> {
    let after = { block: request.fromBlock - 1, log: Number.MAX_SAFE_INTEGER };
    for (;;) {
      const { rows } = await pool.query<TriggerEventRow>(
        `SELECT ${TRIGGER_EVENT_COLUMNS} FROM canonical_events
         WHERE chain_id = $1 AND registry = $2 AND block_number <= $3 AND (block_number, log_index) > ($4, $5)
         ORDER BY block_number, log_index LIMIT 5000`,
        [
          request.chainId,
          def.registry,
          request.toBlock,
          after.block,
          after.log === Number.MAX_SAFE_INTEGER ? 2 ** 31 - 1 : after.log,
        ],
      );
      yield* rows;
      if (rows.length < 5000) return;
      const last = rows[rows.length - 1]!;
      after = { block: last.block_number, log: last.log_index };
    }
  }
  const events: TriggerEvent[] = [];
  for await (const e of pages()) events.push(e);
  return { ...backtestEvents(def, events), definition: def };
}

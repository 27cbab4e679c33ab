import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileDefinition,
  COMPARISONS,
  type Comparison,
  type ConditionRow,
  type Registry,
  type TriggerDefinition,
  type TriggerDefinitionInput,
} from '../../src/triggers/definition.js';
import {
  agentKeyOf,
  evaluate,
  expireAbsences,
  firesPerEvent,
  initialState,
  nextDeadline,
  pruneState,
  trackAbsence,
  type Evaluation,
  type TriggerEvent,
  type TriggerState,
} from '../../src/triggers/engine.js';
import { T0, triggerEvent } from '../helpers/trigger-events.js';

let seq = 0;

/** A full TriggerEvent with sensible defaults (see triggerEvent), each with the next ingest seq and a later time. */
function ev(p: Partial<TriggerEvent> = {}): TriggerEvent {
  seq += 1;
  return triggerEvent(seq, p);
}

type SettingsInput = NonNullable<TriggerDefinitionInput['settings']>;

function def(
  conditions: ConditionRow[],
  settings: SettingsInput = {},
  registry: Registry = 'reputation',
): TriggerDefinition {
  return compileDefinition({
    id: 'trg',
    organizationId: 'org',
    name: 'test',
    chainId: null,
    registry,
    settings,
    conditions,
  });
}

function run(d: TriggerDefinition, events: TriggerEvent[], state: TriggerState = initialState()) {
  const evals = events.map((e) => evaluate(d, state, e));
  return { state, evals };
}

function cmp(a: number, op: Comparison, b: number): boolean {
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

const values = (...xs: number[]) => xs.map((x) => ev({ value: String(x) }));
const fired = (evals: Evaluation[]) => evals.map((e) => e.fired);
const op = fc.constantFrom(...COMPARISONS);

describe('agentKeyOf', () => {
  it('keys agents by chain and agent id', () => {
    expect(agentKeyOf({ chain_id: 8453, agent_id: '12' })).toBe('8453:12');
    expect(agentKeyOf({ chain_id: 1, agent_id: null })).toBe('1:-');
  });
});

describe('EMA', () => {
  const valueArb = fc.option(
    fc.record({ int: fc.integer({ min: -100_000, max: 100_000 }), decimals: fc.integer({ min: 0, max: 3 }) }),
    {
      nil: null,
      freq: 6,
    },
  );
  const alphaArb = fc.oneof(
    fc
      .double({ min: 0.001, max: 1, noNaN: true })
      .map((alpha) => ({ config: { alpha } as Record<string, unknown>, alpha })),
    fc
      .integer({ min: 1, max: 60 })
      .map((w) => ({ config: { window_size: w } as Record<string, unknown>, alpha: 2 / (w + 1) })),
  );

  it('equals a reference fold seeded by the first value, and its result is the comparison with the threshold', () => {
    fc.assert(
      fc.property(
        alphaArb,
        op,
        fc.integer({ min: -300, max: 300 }),
        fc.array(valueArb, { maxLength: 40 }),
        ({ config, alpha }, o, threshold, xs) => {
          const d = def([{ key: 'e', condition_type: 'ema_threshold', operator: o, value: String(threshold), config }]);
          const state = initialState();
          let ref: number | null = null;
          let count = 0;
          for (const x of xs) {
            const e = ev(
              x === null
                ? { event_type: 'FeedbackRevoked', value: null, value_decimals: null }
                : { value: String(x.int), value_decimals: x.decimals },
            );
            const result = evaluate(d, state, e);
            if (x !== null) {
              const v = x.int / 10 ** x.decimals;
              ref = ref === null ? v : alpha * v + (1 - alpha) * ref;
              count++;
            }
            expect(result.eligible).toBe(true);
            const got = result.values.e!;
            if (ref === null) {
              expect(got).toEqual({ result: false, metric: null });
              expect(result.matched).toBe(false);
              continue;
            }
            const metric = got.metric as number;
            expect(Math.abs(metric - ref)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(ref)));
            // Where the float rounding could decide, compare with the engine's own metric instead.
            const expected =
              Math.abs(ref - threshold) > 1e-9 * Math.max(1, Math.abs(ref))
                ? cmp(ref, o, threshold)
                : cmp(metric, o, threshold);
            expect(got.result).toBe(expected);
            expect(result.matched).toBe(expected);
            expect(result.fired).toBe(expected);
          }
          const s = state.agents['1:0']?.conditions.e;
          if (xs.length > 0) expect(s).toMatchObject({ kind: 'ema', count });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads value with its decimals', () => {
    const d = def([{ key: 'e', condition_type: 'ema_threshold', operator: '>', value: '100', config: { alpha: 0.5 } }]);
    const { evals } = run(d, [ev({ value: '12345', value_decimals: 2 }), ev({ value: '-2000', value_decimals: 1 })]);
    expect(evals.map((e) => e.values.e)).toEqual([
      { result: true, metric: 123.45 },
      { result: false, metric: 0.5 * -200 + 0.5 * 123.45 },
    ]);
  });

  it('restarts when the condition parameters change (fingerprint)', () => {
    const state = initialState();
    const d1 = def([{ key: 'e', condition_type: 'ema_threshold', operator: '>', value: '0', config: { alpha: 0.5 } }]);
    const d2 = def([{ key: 'e', condition_type: 'ema_threshold', operator: '>', value: '0', config: { alpha: 0.25 } }]);
    run(d1, values(100, 0), state);
    expect(state.agents['1:0']!.conditions.e).toMatchObject({ ema: 50, count: 2 });
    const { evals } = run(d2, values(8), state);
    expect(evals[0]!.values.e!.metric).toBe(8);
    expect(state.agents['1:0']!.conditions.e).toMatchObject({ ema: 8, count: 1 });
  });
});

describe('rate windows', () => {
  const eventArb = fc.record({
    agent: fc.constantFrom('1', '2'),
    eligible: fc.boolean(),
    dt: fc.integer({ min: 0, max: 40 }),
  });

  it('counts the eligible events of the agent in (t − W, t] (reference brute force), with reset_on_trigger', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        op,
        fc.integer({ min: 0, max: 6 }),
        fc.boolean(),
        fc.array(eventArb, { maxLength: 60 }),
        (windowSeconds, o, threshold, reset, specs) => {
          const d = def([
            { key: 'gate', condition_type: 'event_type_equals', value: 'NewFeedback' },
            {
              key: 'r',
              condition_type: 'rate_limit',
              operator: o,
              value: String(threshold),
              config: { time_window: `${windowSeconds}s`, reset_on_trigger: reset },
            },
          ]);
          const state = initialState();
          const seen: { agent: string; t: number }[] = [];
          let t = T0;
          for (const s of specs) {
            t += s.dt;
            const e = ev({
              agent_id: s.agent,
              timestamp: t,
              event_type: s.eligible ? 'NewFeedback' : 'FeedbackRevoked',
            });
            const result = evaluate(d, state, e);
            expect(result.eligible).toBe(s.eligible);
            if (!s.eligible) {
              expect(result.values.r).toBeUndefined();
              expect(result.fired).toBe(false);
              continue;
            }
            seen.push({ agent: s.agent, t });
            const count = seen.filter((x) => x.agent === s.agent && x.t > t - windowSeconds && x.t <= t).length;
            expect(result.values.r).toEqual({ result: cmp(count, o, threshold), metric: count });
            expect(result.fired).toBe(cmp(count, o, threshold));
            if (reset && result.fired) {
              for (let i = seen.length - 1; i >= 0; i--) if (seen[i]!.agent === s.agent) seen.splice(i, 1);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('excludes the event exactly W seconds old', () => {
    const d = def([
      { key: 'r', condition_type: 'rate_limit', operator: '>=', value: '2', config: { time_window: '1m' } },
    ]);
    const { evals } = run(d, [
      ev({ timestamp: 1000 }),
      ev({ timestamp: 1059 }),
      ev({ timestamp: 1060 }),
      ev({ timestamp: 1119 }),
      ev({ timestamp: 1180 }),
    ]);
    expect(evals.map((e) => e.values.r!.metric)).toEqual([1, 2, 2, 2, 1]);
    expect(fired(evals)).toEqual([false, true, true, true, false]);
  });

  it('reset_on_trigger clears the window when the trigger fires, and only then', () => {
    const rows = (reset: boolean): ConditionRow[] => [
      {
        key: 'r',
        condition_type: 'rate_limit',
        operator: '>=',
        value: '3',
        config: { time_window: '1h', reset_on_trigger: reset },
      },
    ];
    const times = [0, 1, 2, 3, 4, 5, 6].map((i) => T0 + i);
    const withReset = run(
      def(rows(true)),
      times.map((timestamp) => ev({ timestamp })),
    ).evals;
    expect(withReset.map((e) => e.values.r!.metric)).toEqual([1, 2, 3, 1, 2, 3, 1]);
    expect(fired(withReset)).toEqual([false, false, true, false, false, true, false]);
    const without = run(
      def(rows(false)),
      times.map((timestamp) => ev({ timestamp })),
    ).evals;
    expect(without.map((e) => e.values.r!.metric)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // A match suppressed by the cooldown does not fire, so it does not reset.
    const cooled = run(
      def(rows(true), { cooldown_seconds: 3600 }),
      times.map((timestamp) => ev({ timestamp })),
    ).evals;
    expect(cooled.map((e) => e.values.r!.metric)).toEqual([1, 2, 3, 1, 2, 3, 4]);
    expect(cooled.map((e) => e.suppressedBy)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      'cooldown',
      'cooldown',
    ]);
  });
});

describe('score_threshold — exact decimals', () => {
  const MAX = (2n ** 127n - 1n).toString();
  const MIN = (-(2n ** 127n)).toString();
  const score = (operator: string, value: string, field = 'value') =>
    def([{ key: 's', condition_type: 'score_threshold', field, operator, value }]);
  const matches = (d: TriggerDefinition, e: Partial<TriggerEvent>) => evaluate(d, initialState(), ev(e)).matched;

  it('compares 2^127−1 with 18 decimals exactly', () => {
    const e = { value: MAX, value_decimals: 18 };
    expect(matches(score('=', '170141183460469231731.687303715884105727'), e)).toBe(true);
    expect(matches(score('>=', '170141183460469231731.687303715884105727'), e)).toBe(true);
    expect(matches(score('!=', '170141183460469231731.687303715884105727'), e)).toBe(false);
    // One unit of the 18th decimal above / below: indistinguishable as floats.
    expect(matches(score('=', '170141183460469231731.687303715884105728'), e)).toBe(false);
    expect(matches(score('<', '170141183460469231731.687303715884105728'), e)).toBe(true);
    expect(matches(score('=', '170141183460469231731.687303715884105726'), e)).toBe(false);
    expect(matches(score('>', '170141183460469231731.687303715884105726'), e)).toBe(true);
    expect(matches(score('<=', '170141183460469231731.687303715884105726'), e)).toBe(false);
    // Finer threshold scale.
    expect(matches(score('<', '170141183460469231731.6873037158841057270000000001'), e)).toBe(true);
    expect(matches(score('=', '170141183460469231731.687303715884105727000000000'), e)).toBe(true);
  });

  it('compares −2^127 with 18 decimals exactly', () => {
    const e = { value: MIN, value_decimals: 18 };
    expect(matches(score('=', '-170141183460469231731.687303715884105728'), e)).toBe(true);
    expect(matches(score('<', '-170141183460469231731.687303715884105727'), e)).toBe(true);
    expect(matches(score('>', '-170141183460469231731.687303715884105729'), e)).toBe(true);
    expect(matches(score('>=', '-170141183460469231731.687303715884105727'), e)).toBe(false);
  });

  it('uses the event decimals and handles missing values and the response field', () => {
    expect(matches(score('=', '1.5'), { value: '15', value_decimals: 1 })).toBe(true);
    expect(matches(score('=', '1.5'), { value: '15', value_decimals: 0 })).toBe(false);
    expect(matches(score('>=', '-100'), { value: null, value_decimals: null })).toBe(false);
    expect(matches(score('<', '50', 'response'), { response: 49 })).toBe(true);
    expect(matches(score('<', '50', 'response'), { response: 50 })).toBe(false);
    expect(matches(score('<', '50', 'response'), { response: null })).toBe(false);
  });
});

/** Shared definition for the isolation / ordering properties: gate, a mixed group, a negation, EMA with re-arm, rate with reset. */
const RICH_ROWS: ConditionRow[] = [
  { key: 'gate', condition_type: 'event_type_equals', operator: 'in', value: 'NewFeedback,ResponseAppended' },
  { key: 'hot', condition_type: 'tag_equals', field: 'tag1', value: 'hot', config: { group: 'g' } },
  { key: 'emaHigh', condition_type: 'ema_threshold', operator: '>', value: '55', config: { alpha: 0.4, group: 'g' } },
  {
    key: 'emaLow',
    condition_type: 'ema_threshold',
    operator: '<',
    value: '30',
    config: { window_size: 3, rearm_value: 45, negate: true },
  },
  {
    key: 'rate',
    condition_type: 'rate_limit',
    operator: '>=',
    value: '2',
    config: { time_window: '30s', reset_on_trigger: true, group: 'h' },
  },
  { key: 'uri', condition_type: 'file_uri_exists', config: { group: 'h' } },
  { key: 'notTag2', condition_type: 'tag_equals', field: 'tag2', value: 'skip', config: { negate: true } },
];

const richEventArb = fc.record({
  who: fc.constantFrom(0, 1),
  type: fc.constantFrom('NewFeedback', 'FeedbackRevoked', 'ResponseAppended'),
  value: fc.option(fc.integer({ min: 0, max: 100 }), { nil: null, freq: 6 }),
  tag1: fc.constantFrom('hot', 'cold', null),
  tag2: fc.constantFrom('skip', null),
  uri: fc.boolean(),
  dt: fc.integer({ min: 0, max: 15 }),
});
const richSettingsArb = fc.record({ cooldown_seconds: fc.integer({ min: 0, max: 40 }), hysteresis: fc.boolean() });
type RichSpec = {
  who: number;
  type: string;
  value: number | null;
  tag1: string | null;
  tag2: string | null;
  uri: boolean;
  dt: number;
};

function richEvents(
  specs: RichSpec[],
  who: (i: number) => Pick<TriggerEvent, 'chain_id' | 'agent_id'>,
): TriggerEvent[] {
  let t = T0;
  return specs.map((s) => {
    t += s.dt;
    return ev({
      ...who(s.who),
      timestamp: t,
      event_type: s.type,
      value: s.value === null ? null : String(s.value),
      value_decimals: s.value === null ? null : 0,
      tag1: s.tag1,
      tag2: s.tag2,
      file_uri: s.uri ? 'ipfs://x' : null,
    });
  });
}

describe('per-agent isolation', () => {
  it.each([
    ['two agents on one chain', (i: number) => ({ chain_id: 1, agent_id: ['1', '2'][i]! })],
    ['the same agent id on two chains', (i: number) => ({ chain_id: [1, 10][i]!, agent_id: '7' })],
  ])('interleaving %s gives each the evaluations and state of its events alone', (_name, who) => {
    fc.assert(
      fc.property(richSettingsArb, fc.array(richEventArb, { maxLength: 50 }), (settings, specs) => {
        const d = def(RICH_ROWS, settings);
        const events = richEvents(specs, who);
        const together = run(d, events);
        for (const i of [0, 1]) {
          const key = agentKeyOf(who(i));
          const indexes = specs.flatMap((s, j) => (s.who === i ? [j] : []));
          const alone = run(
            d,
            indexes.map((j) => events[j]!),
          );
          expect(indexes.map((j) => together.evals[j])).toEqual(alone.evals);
          expect(together.state.agents[key]).toEqual(alone.state.agents[key]);
          for (const e of alone.evals) expect(e.agentKey).toBe(key);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('condition order', () => {
  it('shuffling the condition list gives the same evaluations and state', () => {
    fc.assert(
      fc.property(
        richSettingsArb,
        fc.shuffledSubarray(RICH_ROWS, { minLength: RICH_ROWS.length }),
        fc.array(richEventArb, { maxLength: 50 }),
        (settings, shuffled, specs) => {
          const events = richEvents(specs, (i) => ({ chain_id: 1, agent_id: String(i) }));
          const a = run(def(RICH_ROWS, settings), events);
          const b = run(def(shuffled, settings), events);
          expect(b.evals).toEqual(a.evals);
          expect(b.state).toEqual(a.state);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('hysteresis', () => {
  const ema = (extra: Record<string, unknown> = {}, operator = '>=', value = '50'): ConditionRow[] => [
    { key: 'e', condition_type: 'ema_threshold', operator, value, config: { alpha: 1, ...extra } },
  ];

  it('fires on the rising edge only: true, true, false, true fires at the 1st and 4th', () => {
    const on = run(def(ema(), { hysteresis: true }), values(60, 70, 40, 80)).evals;
    expect(on.map((e) => e.matched)).toEqual([true, true, false, true]);
    expect(fired(on)).toEqual([true, false, false, true]);
    expect(on.map((e) => e.suppressedBy)).toEqual([undefined, 'hysteresis', undefined, undefined]);
    const off = run(def(ema(), { hysteresis: false }), values(60, 70, 40, 80)).evals;
    expect(fired(off)).toEqual([true, true, false, true]);
  });

  it('compares with the previous event the trigger is about, for the same agent (rule 4)', () => {
    const d = def([{ key: 'gate', condition_type: 'event_type_equals', value: 'NewFeedback' }, ...ema()], {
      hysteresis: true,
    });
    const { evals } = run(d, [
      ev({ value: '60' }),
      ev({ event_type: 'FeedbackRevoked', value: '10' }),
      ev({ value: '70' }),
      ev({ agent_id: '9', value: '90' }),
    ]);
    expect(evals.map((e) => e.eligible)).toEqual([true, false, true, true]);
    expect(fired(evals)).toEqual([true, false, false, true]);
    expect(evals[2]!.suppressedBy).toBe('hysteresis');
  });

  it('re-arms a purely stateless formula once it has been false', () => {
    const d = def([{ key: 's', condition_type: 'score_threshold', operator: '>=', value: '50' }], { hysteresis: true });
    expect(fired(run(d, values(60, 40, 80)).evals)).toEqual([true, false, true]);
  });

  it("re-arm latch: op '<' 60, rearm 65 — 59 fires, 62 keeps it latched, 66 re-arms, 58 fires again", () => {
    const d = def(ema({ rearm_value: 65 }, '<', '60'), { hysteresis: true });
    const { evals } = run(d, values(59, 62, 58, 66, 58));
    expect(evals.map((e) => e.values.e!.result)).toEqual([true, true, true, false, true]);
    expect(fired(evals)).toEqual([true, false, false, false, true]);
    // Without the re-arm value, 62 already makes it false, so the next 58 fires.
    const plain = run(def(ema({}, '<', '60'), { hysteresis: true }), values(59, 62, 58, 66, 58)).evals;
    expect(fired(plain)).toEqual([true, false, true, false, true]);
    // Without hysteresis, the latched condition matches (and fires) on every event until re-armed.
    const noHyst = run(def(ema({ rearm_value: 65 }, '<', '60')), values(59, 62, 66, 58)).evals;
    expect(fired(noHyst)).toEqual([true, true, false, true]);
  });

  it("re-arm latch: reaching the re-arm value re-arms; op '>' mirrors", () => {
    const below = run(def(ema({ rearm_value: 65 }, '<', '60'), { hysteresis: true }), values(59, 65, 59)).evals;
    expect(fired(below)).toEqual([true, false, true]);
    const above = run(def(ema({ rearm_value: 35 }, '>', '40'), { hysteresis: true }), values(41, 38, 45, 34, 45)).evals;
    expect(above.map((e) => e.values.e!.result)).toEqual([true, true, true, false, true]);
    expect(fired(above)).toEqual([true, false, false, false, true]);
  });
});

describe('cooldown', () => {
  it('suppresses a second match of the same agent within cooldown_seconds of block time', () => {
    const d = def([{ key: 'gate', condition_type: 'event_type_equals', value: 'NewFeedback' }], {
      cooldown_seconds: 60,
    });
    const { evals, state } = run(d, [
      ev({ agent_id: '1', timestamp: 1000 }),
      ev({ agent_id: '2', timestamp: 1030 }),
      ev({ agent_id: '1', chain_id: 10, timestamp: 1031 }),
      ev({ agent_id: '1', timestamp: 1059 }),
      ev({ agent_id: '1', timestamp: 1060 }),
      ev({ agent_id: '1', timestamp: 1061 }),
      ev({ agent_id: '2', timestamp: 1089 }),
      ev({ agent_id: '2', timestamp: 1090 }),
    ]);
    expect(evals.map((e) => e.matched)).toEqual([true, true, true, true, true, true, true, true]);
    expect(fired(evals)).toEqual([true, true, true, false, true, false, false, true]);
    expect(evals.map((e) => e.suppressedBy)).toEqual([
      undefined,
      undefined,
      undefined,
      'cooldown',
      undefined,
      'cooldown',
      'cooldown',
      undefined,
    ]);
    expect(state.agents['1:1']).toMatchObject({ lastFiredAt: 1060, fired: 2 });
    expect(state.agents['1:2']).toMatchObject({ lastFiredAt: 1090, fired: 2 });
    expect(state.agents['10:1']).toMatchObject({ lastFiredAt: 1031, fired: 1 });
  });

  it('measures the cooldown from the last firing, not the last match', () => {
    const d = def([], { cooldown_seconds: 10 });
    const { evals } = run(
      d,
      [0, 5, 9, 10, 15, 20].map((dt) => ev({ timestamp: T0 + dt })),
    );
    expect(fired(evals)).toEqual([true, false, false, true, false, true]);
  });
});

describe('groups and negation', () => {
  it('(tag1 = a OR tag1 = b) AND NOT agent = 5', () => {
    const d = def([
      { key: 'a', condition_type: 'tag_equals', field: 'tag1', value: 'a', config: { group: 'g' } },
      { key: 'b', condition_type: 'tag_equals', field: 'tag1', value: 'b', config: { group: 'g' } },
      { key: 'not5', condition_type: 'agent_id_equals', value: '5', config: { negate: true } },
    ]);
    fc.assert(
      fc.property(fc.constantFrom('a', 'b', 'c', null), fc.constantFrom('1', '5', '9', null), (tag1, agent_id) => {
        const r = evaluate(d, initialState(), ev({ tag1, agent_id }));
        const expected = (tag1 === 'a' || tag1 === 'b') && agent_id !== '5';
        expect(r.matched).toBe(expected);
        expect(r.eligible).toBe(expected); // all stateless: the gate is the formula
        expect(r.values).toEqual({
          a: { result: tag1 === 'a' },
          b: { result: tag1 === 'b' },
          not5: { result: agent_id !== '5' },
        });
      }),
    );
  });

  it('AND of ORs with negation matches a reference formula', () => {
    const d = def([
      { key: 't1', condition_type: 'tag_equals', field: 'tag1', value: 'x', config: { group: 'g1' } },
      { key: 't2', condition_type: 'tag_equals', field: 'tag2', value: 'y', config: { group: 'g1' } },
      {
        key: 'rev',
        condition_type: 'event_type_equals',
        value: 'FeedbackRevoked',
        config: { group: 'g2', negate: true },
      },
      { key: 'hi', condition_type: 'score_threshold', operator: '>', value: '90', config: { group: 'g2' } },
      { key: 'nouri', condition_type: 'file_uri_exists', config: { negate: true } },
      { key: 'anyTag', condition_type: 'tag_equals', operator: '!=', value: 'spam' },
    ]);
    fc.assert(
      fc.property(
        fc.constantFrom('x', 'spam', null),
        fc.constantFrom('y', 'spam', null),
        fc.constantFrom('NewFeedback', 'FeedbackRevoked'),
        fc.integer({ min: 80, max: 100 }),
        fc.constantFrom('ipfs://f', '', null),
        (tag1, tag2, event_type, value, file_uri) => {
          const r = evaluate(d, initialState(), ev({ tag1, tag2, event_type, value: String(value), file_uri }));
          const tags = [tag1, tag2].filter((t) => t !== null);
          const expected =
            (tag1 === 'x' || tag2 === 'y') &&
            (event_type !== 'FeedbackRevoked' || value > 90) &&
            !(file_uri !== null && file_uri !== '') &&
            tags.length > 0 &&
            !tags.includes('spam');
          expect(r.matched).toBe(expected);
        },
      ),
    );
  });

  it('a group mixing stateless and stateful conditions is not part of the gate', () => {
    const d = def([
      { key: 'hot', condition_type: 'tag_equals', field: 'tag1', value: 'hot', config: { group: 'g' } },
      { key: 'e', condition_type: 'ema_threshold', operator: '>', value: '70', config: { alpha: 1, group: 'g' } },
    ]);
    const { evals, state } = run(d, [
      ev({ tag1: 'cold', value: '100' }),
      ev({ tag1: 'cold', value: '10' }),
      ev({ tag1: 'hot', value: '10' }),
    ]);
    expect(evals.map((e) => e.eligible)).toEqual([true, true, true]);
    expect(evals.map((e) => e.matched)).toEqual([true, false, true]);
    expect(state.agents['1:0']!.conditions.e).toMatchObject({ ema: 10, count: 3 });
  });

  it('negates a stateful condition', () => {
    const d = def([
      { key: 'e', condition_type: 'ema_threshold', operator: '>', value: '70', config: { alpha: 1, negate: true } },
    ]);
    const { evals } = run(d, values(80, 60));
    expect(evals.map((e) => e.matched)).toEqual([false, true]);
    expect(evals.map((e) => e.values.e)).toEqual([
      { result: false, metric: 80 },
      { result: true, metric: 60 },
    ]);
  });
});

describe('eligibility', () => {
  it('ineligible events do not update stateful state', () => {
    const d = def([
      { key: 'gate', condition_type: 'event_type_equals', value: 'NewFeedback' },
      { key: 'e', condition_type: 'ema_threshold', operator: '>', value: '0', config: { alpha: 0.5 } },
      { key: 'r', condition_type: 'rate_limit', operator: '>=', value: '0', config: { time_window: '1h' } },
    ]);
    const state = initialState();
    const first = evaluate(d, state, ev({ event_type: 'FeedbackRevoked', value: '1000' }));
    expect(first).toEqual({
      agentKey: '1:0',
      eligible: false,
      matched: false,
      fired: false,
      values: { gate: { result: false } },
    });
    expect(state.agents).toEqual({});
    run(
      d,
      [
        ev({ value: '100' }),
        ev({ event_type: 'FeedbackRevoked', value: '0' }),
        ev({ event_type: 'ResponseAppended', value: '0' }),
      ],
      state,
    );
    expect(state.agents['1:0']!.conditions.e).toMatchObject({ ema: 100, count: 1 });
    expect(state.agents['1:0']!.conditions.r).toMatchObject({ times: [expect.any(Number)] });
    const { evals } = run(d, values(50), state);
    expect(evals[0]!.values.e!.metric).toBe(75);
    expect(evals[0]!.values.r!.metric).toBe(2);
  });
});

describe('absence', () => {
  const V = '0x' + 'aa'.repeat(20);
  const OTHER = '0x' + 'bb'.repeat(20);
  const d = def(
    [
      { key: 'v', condition_type: 'validator_whitelist', value: V },
      { key: 'a', condition_type: 'absence', config: { within: '1h' } },
    ],
    {},
    'validation',
  );
  const req = (request_hash: string, timestamp: number, p: Partial<TriggerEvent> = {}) =>
    ev({
      registry: 'validation',
      event_type: 'ValidationRequest',
      value: null,
      value_decimals: null,
      validator_address: V.toUpperCase().replace('0X', '0x'),
      request_hash,
      timestamp,
      ...p,
    });
  const resp = (request_hash: string, timestamp: number, p: Partial<TriggerEvent> = {}) =>
    ev({
      registry: 'validation',
      event_type: 'ValidationResponse',
      value: null,
      value_decimals: null,
      validator_address: V,
      response: 100,
      request_hash,
      timestamp,
      ...p,
    });

  it('a request opens a deadline at timestamp + within; a response with the same hash closes it', () => {
    const state = initialState();
    const r = req('0xh1', 1000, { agent_id: '3' });
    expect(trackAbsence(d, state, r)).toBe('opened');
    expect(state.pending).toEqual({ '1:0xh1': { requestHash: '0xh1', agentKey: '1:3', deadline: 4600, event: r } });
    expect(nextDeadline(state)).toBe(4600);
    expect(trackAbsence(d, state, resp('0xother', 1100))).toBeUndefined();
    expect(trackAbsence(d, state, resp('0xh1', 1100, { chain_id: 10 }))).toBeUndefined(); // other chain, other request
    expect(trackAbsence(d, state, resp('0xh1', 1200, { validator_address: OTHER }))).toBe('closed'); // closing ignores the gate
    expect(state.pending).toEqual({});
    expect(nextDeadline(state)).toBeUndefined();
    expect(trackAbsence(d, state, resp('0xh1', 1300))).toBeUndefined();
  });

  it('a request failing the gate does not open; events without a request hash or of other types are ignored', () => {
    const state = initialState();
    expect(trackAbsence(d, state, req('0xh1', 1000, { validator_address: OTHER }))).toBeUndefined();
    expect(trackAbsence(d, state, req('0xh2', 1000, { validator_address: null }))).toBeUndefined();
    expect(
      trackAbsence(
        d,
        state,
        ev({ registry: 'validation', event_type: 'ValidationRequest', validator_address: V, request_hash: null }),
      ),
    ).toBeUndefined();
    expect(
      trackAbsence(d, state, ev({ event_type: 'NewFeedback', validator_address: V, request_hash: '0xh3' })),
    ).toBeUndefined();
    expect(state.pending).toEqual({});
    const noAbsence = def([{ key: 'v', condition_type: 'validator_whitelist', value: V }], {}, 'validation');
    expect(trackAbsence(noAbsence, state, req('0xh4', 1000))).toBeUndefined();
    expect(state.pending).toEqual({});
  });

  it('expireAbsences returns the due ones oldest first and removes them; nextDeadline follows', () => {
    const state = initialState();
    trackAbsence(d, state, req('0xh1', 1000));
    trackAbsence(d, state, req('0xh2', 500));
    trackAbsence(d, state, req('0xh3', 2000));
    trackAbsence(d, state, req('0xh1', 700, { chain_id: 10 }));
    expect(Object.keys(state.pending).sort()).toEqual(['10:0xh1', '1:0xh1', '1:0xh2', '1:0xh3']);
    expect(nextDeadline(state)).toBe(4100);
    expect(expireAbsences(state, 4099)).toEqual([]);
    const due = expireAbsences(state, 4600);
    expect(due.map((p) => [p.requestHash, p.event.chain_id, p.deadline])).toEqual([
      ['0xh2', 1, 4100],
      ['0xh1', 10, 4300],
      ['0xh1', 1, 4600],
    ]);
    expect(Object.keys(state.pending)).toEqual(['1:0xh3']);
    expect(nextDeadline(state)).toBe(5600);
    expect(expireAbsences(state, 4600)).toEqual([]);
    expect(expireAbsences(state, 10_000).map((p) => p.requestHash)).toEqual(['0xh3']);
    expect(nextDeadline(state)).toBeUndefined();
  });

  it('property: expireAbsences(now) returns exactly the deadlines ≤ now, sorted', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 20_000 }),
        (starts, now) => {
          const state = initialState();
          starts.forEach((t, i) => trackAbsence(d, state, req(`0x${i}`, t)));
          const deadlines = starts.map((t) => t + 3600);
          const next = nextDeadline(state);
          expect(next).toBe(deadlines.length ? Math.min(...deadlines) : undefined);
          const due = expireAbsences(state, now).map((p) => p.deadline);
          expect(due).toEqual(deadlines.filter((x) => x <= now).sort((a, b) => a - b));
          expect(
            Object.values(state.pending)
              .map((p) => p.deadline)
              .sort((a, b) => a - b),
          ).toEqual(deadlines.filter((x) => x > now).sort((a, b) => a - b));
        },
      ),
    );
  });
});

describe('pruneState', () => {
  const rows = (alpha1: number): ConditionRow[] => [
    { key: 'e1', condition_type: 'ema_threshold', operator: '>', value: '0', config: { alpha: alpha1 } },
    { key: 'e2', condition_type: 'ema_threshold', operator: '>', value: '0', config: { alpha: 0.2 } },
    { key: 'r', condition_type: 'rate_limit', operator: '>', value: '0', config: { time_window: '1h' } },
  ];

  function seeded() {
    const state = initialState();
    run(def(rows(0.5)), [ev({ value: '10' }), ev({ value: '20' }), ev({ agent_id: '2', value: '30' })], state);
    return state;
  }

  it('changing an EMA alpha resets only that condition', () => {
    const state = seeded();
    const before = structuredClone(state);
    pruneState(def(rows(0.3)), state);
    for (const key of ['1:0', '1:2']) {
      expect(state.agents[key]!.conditions.e1).toBeUndefined();
      expect(state.agents[key]!.conditions.e2).toEqual(before.agents[key]!.conditions.e2);
      expect(state.agents[key]!.conditions.r).toEqual(before.agents[key]!.conditions.r);
      expect({ ...state.agents[key], conditions: {} }).toEqual({ ...before.agents[key], conditions: {} });
    }
  });

  it('keeps state when nothing changed, or only group/negate changed; drops removed conditions', () => {
    const state = seeded();
    const before = structuredClone(state);
    pruneState(def(rows(0.5)), state);
    expect(state).toEqual(before);
    const regrouped = rows(0.5).map((r) =>
      r.key === 'e2' ? { ...r, config: { ...r.config, group: 'g', negate: true } } : r,
    );
    pruneState(def(regrouped), state);
    expect(state).toEqual(before);
    pruneState(def(rows(0.5).filter((r) => r.key !== 'r')), state);
    expect(state.agents['1:0']!.conditions.r).toBeUndefined();
    expect(state.agents['1:0']!.conditions.e1).toEqual(before.agents['1:0']!.conditions.e1);
  });

  it('removing the absence condition clears pending; keeping it keeps them', () => {
    const V = '0x' + 'aa'.repeat(20);
    const withAbsence = def([{ key: 'a', condition_type: 'absence', config: { within: '1h' } }], {}, 'validation');
    const state = initialState();
    trackAbsence(
      withAbsence,
      state,
      ev({
        registry: 'validation',
        event_type: 'ValidationRequest',
        validator_address: V,
        request_hash: '0xh',
        timestamp: 1,
      }),
    );
    pruneState(withAbsence, state);
    expect(Object.keys(state.pending)).toEqual(['1:0xh']);
    pruneState(def([{ key: 'v', condition_type: 'validator_whitelist', value: V }], {}, 'validation'), state);
    expect(state.pending).toEqual({});
  });
});

describe('cooldown 0', () => {
  it('never suppresses, even when an event carries an earlier block time than the last firing', () => {
    const d = compileDefinition({
      id: 't',
      organizationId: 'o',
      name: 'n',
      chainId: null,
      registry: 'reputation',
      conditions: [{ key: 's', condition_type: 'score_threshold', operator: '>=', value: '0' }],
    });
    const state = initialState();
    const at = (timestamp: number) => evaluate(d, state, ev({ timestamp, value: '5' }));
    expect(at(1_000).fired).toBe(true);
    expect(at(900).fired).toBe(true);
  });
});

describe('firesPerEvent (the relay evaluates such triggers with a fresh state per event)', () => {
  const STATELESS_ROWS = RICH_ROWS.filter(
    (r) => r.condition_type !== 'ema_threshold' && r.condition_type !== 'rate_limit',
  );

  it('holds exactly for triggers without stateful or absence conditions, cooldown, hysteresis or start block', () => {
    expect(firesPerEvent(def(STATELESS_ROWS))).toBe(true);
    expect(firesPerEvent(def(STATELESS_ROWS, { cooldown_seconds: 0, hysteresis: false, start_block: null }))).toBe(
      true,
    );
    expect(firesPerEvent(def(STATELESS_ROWS, { cooldown_seconds: 1 }))).toBe(false);
    expect(firesPerEvent(def(STATELESS_ROWS, { hysteresis: true }))).toBe(false);
    expect(firesPerEvent(def(STATELESS_ROWS, { start_block: 0 }))).toBe(false);
    expect(firesPerEvent(def(RICH_ROWS))).toBe(false);
    expect(
      firesPerEvent(
        def([{ key: 'r', condition_type: 'rate_limit', operator: '>=', value: '1', config: { time_window: '1h' } }]),
      ),
    ).toBe(false);
    expect(
      firesPerEvent(
        def(
          [{ key: 'a', condition_type: 'absence', field: 'request_hash', config: { within: '1h' } }],
          {},
          'validation',
        ),
      ),
    ).toBe(false);
  });

  it('a fresh state per event fires exactly where the carried state does', () => {
    fc.assert(
      fc.property(
        fc.subarray(STATELESS_ROWS, { minLength: 1 }),
        fc.array(richEventArb, { maxLength: 40 }),
        (rows, specs) => {
          const d = def(rows);
          expect(firesPerEvent(d)).toBe(true);
          const events = richEvents(specs, (who) => ({ chain_id: 1, agent_id: String(who) }));
          const carried = fired(run(d, events).evals);
          const fresh = events.map((e) => evaluate(d, initialState(), e).fired);
          expect(fresh).toEqual(carried);
        },
      ),
    );
  });
});

describe('ABI versions: legacy v0.4 feedback and v1.0 series', () => {
  const EMA: ConditionRow = {
    key: 'e',
    condition_type: 'ema_threshold',
    operator: '<',
    value: '60',
    config: { alpha: 0.5 },
  };
  const RATE: ConditionRow = {
    key: 'r',
    condition_type: 'rate_limit',
    operator: '>=',
    value: '4',
    config: { time_window: '60s' },
  };
  const legacy = (score: number, p: Partial<TriggerEvent> = {}) =>
    ev({ abi_version: 'v0.4', value: String(score), value_decimals: 0, ...p });
  const current = (value: number, p: Partial<TriggerEvent> = {}) =>
    ev({ abi_version: 'v1.0', value: String(value), value_decimals: 0, ...p });

  it('a v0.4 score in the middle of an agent series enters neither the EMA nor the rate window, and fires nothing', () => {
    const d = def([EMA]);
    const { state, evals } = run(d, [current(90), current(80), legacy(5), current(70)]);
    // EMA over 90, 80, 70 only: 90 → 85 → 77.5; the legacy 5 would have taken it to 41.25 and fired.
    expect(evals.map((e) => e.values.e?.metric ?? null)).toEqual([90, 85, null, 77.5]);
    expect(fired(evals)).toEqual([false, false, false, false]);
    expect(evals[2]).toMatchObject({ eligible: false, matched: false, fired: false });
    expect(state.agents['1:0']!.conditions.e).toMatchObject({ kind: 'ema', ema: 77.5, count: 3 });

    const t = T0 + 10_000;
    const rate = run(def([RATE]), [
      current(1, { timestamp: t }),
      current(1, { timestamp: t + 1 }),
      legacy(1, { timestamp: t + 2 }),
      current(1, { timestamp: t + 3 }),
    ]);
    expect(rate.evals.map((e) => e.values.r?.metric ?? null)).toEqual([1, 2, null, 3]);
    expect(fired(rate.evals)).toEqual([false, false, false, false]);
  });

  it('events without a recorded ABI version count as v1.0', () => {
    const { evals } = run(def([EMA]), [ev({ value: '90' }), ev({ value: '10' })]);
    expect(evals.map((e) => e.values.e?.metric)).toEqual([90, 50]);
    expect(fired(evals)).toEqual([false, true]);
  });

  it('a condition opts in with config.abi_versions; the other stateful conditions keep their value without counting the event', () => {
    const both = def([{ ...EMA, config: { alpha: 0.5, abi_versions: ['v1.0', 'v0.4'] } }]);
    const opted = run(both, [current(90), legacy(5)]);
    expect(opted.evals.map((e) => e.values.e?.metric)).toEqual([90, 47.5]);
    expect(fired(opted.evals)).toEqual([false, true]);

    const legacyOnly = run(def([{ ...EMA, config: { alpha: 0.5, abi_versions: ['v0.4'] } }]), [
      current(10),
      legacy(80),
      legacy(20),
    ]);
    expect(legacyOnly.evals.map((e) => e.values.e?.metric ?? null)).toEqual([null, 80, 50]);

    // Rate opts in, EMA does not: the legacy event counts in the window, and the EMA is read as it stands.
    const t = T0 + 20_000;
    const mixed = def([
      { ...EMA, operator: '>', value: '0' },
      { ...RATE, value: '3', config: { time_window: '60s', abi_versions: ['v0.4', 'v1.0'] } },
    ]);
    const m = run(mixed, [
      current(90, { timestamp: t }),
      current(80, { timestamp: t + 1 }),
      legacy(5, { timestamp: t + 2 }),
    ]);
    expect(m.evals[2]!.values).toMatchObject({ e: { result: true, metric: 85 }, r: { result: true, metric: 3 } });
    expect(fired(m.evals)).toEqual([false, false, true]);
    expect(m.state.agents['1:0']!.conditions.e).toMatchObject({ ema: 85, count: 2 });
  });

  it('countEveryAbiVersion restores the rule of workflows recorded before it (every event in every series)', () => {
    const d = def([EMA]);
    const state = initialState();
    const evals = [current(90), current(80), legacy(5)].map((e) =>
      evaluate(d, state, e, { countEveryAbiVersion: true }),
    );
    expect(evals.map((e) => e.values.e?.metric)).toEqual([90, 85, 45]);
    expect(fired(evals)).toEqual([false, false, true]);
  });

  it('validates abi_versions, and leaves the fingerprint of conditions without it unchanged', () => {
    for (const bad of [[], ['v2'], 'v0.4', ['v0.4', 'v0.4']]) {
      expect(() => def([{ ...EMA, config: { alpha: 0.5, abi_versions: bad } }])).toThrow(
        /conditions\.0\.config\.abi_versions/,
      );
    }
    expect(() =>
      def([
        { key: 's', condition_type: 'score_threshold', operator: '<', value: '1', config: { abi_versions: ['v0.4'] } },
      ]),
    ).toThrow(/conditions\.0\.config\.abi_versions: applies to ema_threshold and rate_limit/);
    // The default spelled out is the default: state recorded before abi_versions existed keeps its fingerprint.
    const plain = def([EMA]).conditions[0]!;
    expect(def([{ ...EMA, config: { alpha: 0.5, abi_versions: ['v1.0'] } }]).conditions[0]!.params).toEqual(
      plain.params,
    );
    expect(JSON.stringify(plain.params)).toBe('{"kind":"ema","alpha":0.5,"op":"<","threshold":60}');
  });

  it('property: with the default rule, a series with v0.4 events interleaved evaluates its v1.0 events exactly as the series without them', () => {
    const specArb = fc.record({
      legacy: fc.boolean(),
      value: fc.integer({ min: 0, max: 100 }),
      dt: fc.integer({ min: 0, max: 30 }),
      agent: fc.constantFrom('0', '1'),
    });
    fc.assert(
      fc.property(
        fc.array(specArb, { maxLength: 40 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 120 }),
        (specs, hysteresis, cooldown) => {
          const d = def(
            [
              EMA,
              { ...RATE, operator: '>=', value: '3' },
              { key: 'g', condition_type: 'event_type_equals', value: 'NewFeedback', config: { group: 'x' } },
            ],
            {
              hysteresis,
              cooldown_seconds: cooldown,
            },
          );
          let t = T0;
          const events = specs.map((s) => {
            t += s.dt;
            return ev({
              abi_version: s.legacy ? 'v0.4' : 'v1.0',
              value: String(s.value),
              timestamp: t,
              agent_id: s.agent,
            });
          });
          const mixed = run(d, events);
          const onlyCurrent = run(
            d,
            events.filter((e) => e.abi_version === 'v1.0'),
          );
          const currentEvals = mixed.evals.filter((_, i) => events[i]!.abi_version === 'v1.0');
          expect(currentEvals).toEqual(onlyCurrent.evals);
          expect(
            mixed.evals.filter((_, i) => events[i]!.abi_version === 'v0.4').every((e) => !e.fired && !e.eligible),
          ).toBe(true);
          expect(mixed.state).toEqual(onlyCurrent.state);
        },
      ),
      { numRuns: 300 },
    );
  });
});

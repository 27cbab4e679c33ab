import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileDefinition,
  type ConditionRow,
  type TriggerDefinition,
  type TriggerDefinitionInput,
} from '../../src/triggers/definition.js';
import { evaluate, initialState, type TriggerEvent } from '../../src/triggers/engine.js';
import { drainItems, type TriggerItem } from '../../src/triggers/drain.js';
import { SeenEvents } from '../../src/triggers/seen-events.js';
import { T0, triggerEvent } from '../helpers/trigger-events.js';

function definition(
  conditions: ConditionRow[],
  settings: NonNullable<TriggerDefinitionInput['settings']>,
): TriggerDefinition {
  return compileDefinition({
    id: 'trg',
    organizationId: 'org',
    name: 'drain',
    chainId: null,
    registry: 'reputation',
    settings,
    conditions,
  });
}

const DEFINITIONS = [
  definition([{ key: 'c', condition_type: 'rate_limit', operator: '>=', value: '3', config: { time_window: '60s' } }], {
    hysteresis: true,
  }),
  definition(
    [
      {
        key: 'c',
        condition_type: 'rate_limit',
        operator: '>=',
        value: '2',
        config: { time_window: '30s', reset_on_trigger: true },
      },
    ],
    {},
  ),
  definition(
    [
      {
        key: 'c',
        condition_type: 'ema_threshold',
        operator: '<',
        value: '40',
        config: { alpha: 0.5, rearm_value: 60 },
      },
    ],
    { cooldown_seconds: 20 },
  ),
];

/** What happens on the chain, in ingest order: a feedback in a new block, or a reorg orphaning the last blocks. */
type Step = { kind: 'feedback'; agent: string; value: number } | { kind: 'reorg'; depth: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('feedback' as const),
      agent: fc.constantFrom('1', '2'),
      value: fc.integer({ min: 0, max: 100 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reorg' as const), depth: fc.integer({ min: 1, max: 4 }) }) },
);

/** The event log the indexer writes for these steps: events and retractions, each with its ingest seq. */
function ingest(steps: Step[]) {
  const log: TriggerItem[] = [];
  const chain: TriggerEvent[] = [];
  let seq = 0;
  for (const s of steps) {
    if (s.kind === 'feedback') {
      const block = chain.length + 1;
      const event = triggerEvent(++seq, {
        id: `1-${block}-0`,
        block_number: block,
        timestamp: T0 + block * 7,
        agent_id: s.agent,
        value: String(s.value),
      });
      chain.push(event);
      log.push({ kind: 'event', event });
    } else {
      for (const orphan of chain.splice(Math.max(0, chain.length - s.depth))) {
        log.push({
          kind: 'retraction',
          seq: String(++seq),
          eventSeq: orphan.ingest_seq,
          chainId: 1,
          agentId: orphan.agent_id,
          eventType: orphan.event_type,
          requestHash: null,
        });
      }
    }
  }
  return { log, canonical: chain };
}

/** The relay's deliveries: the log in order, cut into batches; a batch may come twice (at-least-once delivery). */
const deliveries = (log: TriggerItem[]) =>
  fc
    .array(fc.record({ cut: fc.integer({ min: 0, max: Math.max(0, log.length) }), repeat: fc.boolean() }), {
      maxLength: 8,
    })
    .map((cuts) => {
      const points = [...new Set([0, ...cuts.map((c) => c.cut), log.length])].sort((a, b) => a - b);
      const batches: TriggerItem[][] = [];
      for (let i = 1; i < points.length; i++) {
        const batch = log.slice(points[i - 1], points[i]);
        batches.push(batch);
        if (cuts[i - 1]?.repeat) batches.push(batch);
      }
      return batches;
    });

describe('draining relay items into trigger state', () => {
  it('fires and ends exactly like a fold over the canonical events, whatever the reorgs and the batching', async () => {
    const scenario = fc
      .tuple(fc.constantFrom(...DEFINITIONS.keys()), fc.array(step, { minLength: 1, maxLength: 30 }))
      .chain(([d, steps]) => {
        const { log, canonical } = ingest(steps);
        return fc.tuple(fc.constant(d), fc.constant(log), fc.constant(canonical), deliveries(log));
      });
    await fc.assert(
      fc.asyncProperty(scenario, async ([d, log, canonical, batches]) => {
        const def = DEFINITIONS[d]!;
        // Reference: the canonical events alone, folded in ingest order.
        const expected = initialState();
        const expectedFired = canonical.filter((e) => evaluate(def, expected, e).fired).map((e) => e.ingest_seq);

        // The database holds the whole log (the indexer is ahead of the workflow); the loader reads canonical events.
        const retracted = new Set(log.flatMap((i) => (i.kind === 'retraction' ? [i.eventSeq] : [])));
        const stored = log.flatMap((i) => (i.kind === 'event' && !retracted.has(i.event.ingest_seq) ? [i.event] : []));
        const state = initialState();
        const seen = new SeenEvents();
        const fired = new Set<string>();
        for (const batch of batches) {
          const result = await drainItems(
            {
              def,
              state,
              seen,
              loadCanonicalEvents: async ({ chainId, agentId, upToSeq }) =>
                stored
                  .filter(
                    (e) => e.chain_id === chainId && e.agent_id === agentId && BigInt(e.ingest_seq) <= BigInt(upToSeq),
                  )
                  .map((e) => ({ ...e })),
              refoldBeforeNextEvent: () => true,
            },
            batch,
          );
          for (const f of result.firings) fired.add(f.event.ingest_seq);
        }
        // Firings on events that stayed canonical are exactly the reference's (those on orphans cannot be undone).
        expect(canonical.map((e) => e.ingest_seq).filter((s) => fired.has(s))).toEqual(expectedFired);
        expect(state).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  compileDefinition,
  CONDITION_TYPES,
  DefinitionError,
  parseDuration,
  staticPrefilters,
  type ConditionRow,
  type Registry,
  type TriggerDefinitionInput,
} from '../../src/triggers/definition.js';

const ADDR_A = '0x' + 'Ab'.repeat(20);
const ADDR_B = '0x' + '12'.repeat(20);
const ANY_OP = 'must be one of < <= > >= = !=';
const MEMBERSHIP_OP = "must be '=', '!=' or 'in'";
const AGENT_IDS = 'must be agent ids: whole numbers from 0 to 2^256-1 (comma-separated with in)';
const ADDRESSES = 'must list 0x-prefixed 20-byte addresses (comma-separated or config.addresses)';
const DURATION = "must be a duration like '30s', '5m', '1h' or '7d'";

function input(conditions: ConditionRow[], overrides: Partial<TriggerDefinitionInput> = {}): TriggerDefinitionInput {
  return {
    id: 'trg-1',
    organizationId: 'org-1',
    name: 'my trigger',
    chainId: 1,
    registry: 'reputation',
    conditions,
    ...overrides,
  };
}

function compile(conditions: ConditionRow[], registry: Registry = 'reputation') {
  return compileDefinition(input(conditions, { registry }));
}

/** The issues of the DefinitionError thrown by compileDefinition (fails the test when it does not throw one). */
function issuesOf(def: TriggerDefinitionInput): { path: string; message: string }[] {
  try {
    compileDefinition(def);
  } catch (err) {
    expect(err).toBeInstanceOf(DefinitionError);
    return (err as DefinitionError).issues;
  }
  expect.fail('compileDefinition did not throw');
}

const issuesOfRows = (conditions: ConditionRow[], registry: Registry = 'reputation') =>
  issuesOf(input(conditions, { registry }));

describe('compileDefinition — valid definitions', () => {
  it('fills defaults for a definition without conditions', () => {
    expect(compileDefinition(input([]))).toEqual({
      id: 'trg-1',
      organizationId: 'org-1',
      name: 'my trigger',
      chainId: 1,
      registry: 'reputation',
      enabled: true,
      settings: { cooldown_seconds: 0, hysteresis: false, start_block: null },
      conditions: [],
    });
    expect(compileDefinition(input([], { chainId: null, enabled: false })).chainId).toBeNull();
  });

  it('compiles event_type_equals with =, != and in', () => {
    const d = compile([
      { key: 'a', condition_type: 'event_type_equals', value: 'NewFeedback' },
      { key: 'b', condition_type: 'event_type_equals', operator: '!=', value: ' FeedbackRevoked ' },
      { key: 'c', condition_type: 'event_type_equals', operator: 'in', value: 'NewFeedback, ResponseAppended,' },
    ]);
    expect(d.conditions.map((c) => c.params)).toEqual([
      { kind: 'event_type', op: '=', types: ['NewFeedback'] },
      { kind: 'event_type', op: '!=', types: ['FeedbackRevoked'] },
      { kind: 'event_type', op: 'in', types: ['NewFeedback', 'ResponseAppended'] },
    ]);
    expect(
      compile([{ key: 'a', condition_type: 'event_type_equals', value: 'Registered' }], 'identity').conditions[0]!
        .params,
    ).toEqual({
      kind: 'event_type',
      op: '=',
      types: ['Registered'],
    });
  });

  it('compiles agent_id_equals: 0, a 70-digit id, 2^256-1, lists, and normalizes leading zeros', () => {
    const seventy = '9'.repeat(70);
    const max = (2n ** 256n - 1n).toString();
    const d = compile([
      { key: 'zero', condition_type: 'agent_id_equals', value: '0' },
      { key: 'long', condition_type: 'agent_id_equals', value: seventy },
      { key: 'max', condition_type: 'agent_id_equals', operator: '!=', value: max },
      { key: 'list', condition_type: 'agent_id_equals', operator: 'in', value: '1, 007 ,42' },
    ]);
    expect(d.conditions.map((c) => c.params)).toEqual([
      { kind: 'agent_id', op: '=', ids: ['0'] },
      { kind: 'agent_id', op: '=', ids: [seventy] },
      { kind: 'agent_id', op: '!=', ids: [max] },
      { kind: 'agent_id', op: 'in', ids: ['1', '7', '42'] },
    ]);
  });

  it('compiles tag_equals (field defaults to any)', () => {
    const d = compile([
      { key: 'a', condition_type: 'tag_equals', value: 'uptime' },
      { key: 'b', condition_type: 'tag_equals', field: 'tag2', operator: '!=', value: 'x' },
    ]);
    expect(d.conditions.map((c) => c.params)).toEqual([
      { kind: 'tag', field: 'any', op: '=', tag: 'uptime' },
      { kind: 'tag', field: 'tag2', op: '!=', tag: 'x' },
    ]);
  });

  it('compiles validator_whitelist from the value or config.addresses, lower-cased', () => {
    const d = compile(
      [
        { key: 'a', condition_type: 'validator_whitelist', value: `${ADDR_A}, ${ADDR_B}` },
        { key: 'b', condition_type: 'validator_whitelist', operator: 'not_in', config: { addresses: [ADDR_A] } },
      ],
      'validation',
    );
    expect(d.conditions.map((c) => c.params)).toEqual([
      { kind: 'validator', op: 'in', addresses: [ADDR_A.toLowerCase(), ADDR_B] },
      { kind: 'validator', op: 'not_in', addresses: [ADDR_A.toLowerCase()] },
    ]);
  });

  it('compiles file_uri_exists (default true)', () => {
    const d = compile([
      { key: 'a', condition_type: 'file_uri_exists' },
      { key: 'b', condition_type: 'file_uri_exists', value: 'false' },
    ]);
    expect(d.conditions.map((c) => c.params)).toEqual([
      { kind: 'file_uri', exists: true },
      { kind: 'file_uri', exists: false },
    ]);
  });

  it('compiles score_threshold with an exact decimal threshold', () => {
    const d = compile([
      { key: 'a', condition_type: 'score_threshold', operator: '>=', value: '-1.25' },
      { key: 'b', condition_type: 'score_threshold', field: 'response', operator: '<', value: '50' },
    ]);
    expect(d.conditions.map((c) => c.params)).toEqual([
      { kind: 'score', field: 'value', op: '>=', threshold: { int: -125n, decimals: 2 } },
      { kind: 'score', field: 'response', op: '<', threshold: { int: 50n, decimals: 0 } },
    ]);
  });

  it('compiles ema_threshold from alpha or window_size, with an optional rearm_value', () => {
    const d = compile([
      { key: 'a', condition_type: 'ema_threshold', operator: '<', value: '60', config: { alpha: 0.3 } },
      {
        key: 'b',
        condition_type: 'ema_threshold',
        operator: '>',
        value: '40',
        config: { window_size: 9, rearm_value: 35 },
      },
      { key: 'c', condition_type: 'ema_threshold', operator: '<=', value: '60', config: { alpha: 1, rearm_value: 60 } },
    ]);
    expect(d.conditions.map((c) => c.params)).toEqual([
      { kind: 'ema', alpha: 0.3, op: '<', threshold: 60, rearm: undefined },
      { kind: 'ema', alpha: 0.2, op: '>', threshold: 40, rearm: 35 },
      { kind: 'ema', alpha: 1, op: '<=', threshold: 60, rearm: 60 },
    ]);
  });

  it('compiles rate_limit', () => {
    const d = compile([
      { key: 'a', condition_type: 'rate_limit', operator: '>', value: '3', config: { time_window: '5m' } },
      {
        key: 'b',
        condition_type: 'rate_limit',
        operator: '>=',
        value: '0',
        config: { time_window: '1d', reset_on_trigger: true },
      },
    ]);
    expect(d.conditions.map((c) => c.params)).toEqual([
      { kind: 'rate', windowSeconds: 300, op: '>', threshold: 3, resetOnTrigger: false },
      { kind: 'rate', windowSeconds: 86_400, op: '>=', threshold: 0, resetOnTrigger: true },
    ]);
  });

  it('compiles absence on the validation registry', () => {
    const d = compile([{ key: 'a', condition_type: 'absence', config: { within: '24h' } }], 'validation');
    expect(d.conditions[0]!.params).toEqual({ kind: 'absence', withinSeconds: 86_400 });
  });

  it('keeps row fields, group and negate', () => {
    const d = compileDefinition(
      input(
        [
          { key: 'a', condition_type: 'tag_equals', field: 'tag1', value: 'x', config: { group: 'g', negate: true } },
          { key: 'b', condition_type: 'tag_equals', value: 'y', config: { negate: false } },
        ],
        { settings: { cooldown_seconds: 60, hysteresis: true, start_block: 10 } },
      ),
    );
    expect(d.settings).toEqual({ cooldown_seconds: 60, hysteresis: true, start_block: 10 });
    expect(d.conditions[0]).toMatchObject({
      key: 'a',
      type: 'tag_equals',
      field: 'tag1',
      operator: '=',
      value: 'x',
      group: 'g',
      negate: true,
    });
    expect(d.conditions[1]).toMatchObject({ key: 'b', group: undefined, negate: false });
  });
});

describe('compileDefinition — invalid definitions', () => {
  it('is a DefinitionError whose message lists path: message', () => {
    let error: unknown;
    try {
      compile([{ key: 'a', condition_type: 'score_threshold', operator: 'in', value: '1' }]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DefinitionError);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('DefinitionError');
    expect((error as Error).message).toBe(`invalid trigger definition: conditions.0.operator: ${ANY_OP}`);
  });

  it('rejects ema_threshold outside the reputation registry, and a re-arm value with = or !=', () => {
    expect(
      issuesOfRows(
        [{ key: 'e', condition_type: 'ema_threshold', operator: '<', value: '5', config: { alpha: 0.5 } }],
        'validation',
      ),
    ).toEqual([
      {
        path: 'conditions.0.condition_type',
        message: 'ema_threshold averages feedback values: it applies to the reputation registry',
      },
    ]);
    expect(
      issuesOfRows(
        [
          {
            key: 'e',
            condition_type: 'ema_threshold',
            operator: '=',
            value: '5',
            config: { alpha: 0.5, rearm_value: 6 },
          },
        ],
        'reputation',
      ),
    ).toEqual([{ path: 'conditions.0.config.rearm_value', message: 'needs an ordering operator (<, <=, > or >=)' }]);
  });

  it('rejects an unknown condition_type', () => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'foo' as never }])).toEqual([
      { path: 'conditions.0.condition_type', message: `must be one of ${CONDITION_TYPES.join(', ')}` },
    ]);
  });

  it.each<[string, ConditionRow, string]>([
    [
      'event_type_equals',
      { key: 'k', condition_type: 'event_type_equals', operator: '<', value: 'NewFeedback' },
      MEMBERSHIP_OP,
    ],
    ['agent_id_equals', { key: 'k', condition_type: 'agent_id_equals', operator: '>=', value: '1' }, MEMBERSHIP_OP],
    ['tag_equals', { key: 'k', condition_type: 'tag_equals', operator: 'in', value: 'x' }, "must be '=' or '!='"],
    [
      'validator_whitelist',
      { key: 'k', condition_type: 'validator_whitelist', operator: '!=', value: ADDR_A },
      "must be 'in' or 'not_in'",
    ],
    ['score_threshold', { key: 'k', condition_type: 'score_threshold', operator: 'in', value: '1' }, ANY_OP],
    [
      'ema_threshold',
      { key: 'k', condition_type: 'ema_threshold', operator: '=>', value: '1', config: { alpha: 0.5 } },
      ANY_OP,
    ],
    [
      'rate_limit',
      { key: 'k', condition_type: 'rate_limit', operator: 'between', value: '1', config: { time_window: '1m' } },
      ANY_OP,
    ],
  ])('rejects a bad operator for %s', (_type, row, message) => {
    const filler: ConditionRow = { key: 'f', condition_type: 'file_uri_exists' };
    // ema_threshold averages feedback values, so it exists only on the reputation registry.
    expect(issuesOfRows([filler, row], row.condition_type === 'ema_threshold' ? 'reputation' : 'validation')).toEqual([
      { path: 'conditions.1.operator', message },
    ]);
  });

  it('rejects event types of another registry, and empty lists', () => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'event_type_equals', value: 'Registered' }])).toEqual([
      {
        path: 'conditions.0.value',
        message: 'must name reputation events (NewFeedback, FeedbackRevoked, ResponseAppended); got "Registered"',
      },
    ]);
    expect(
      issuesOfRows([
        { key: 'a', condition_type: 'event_type_equals', operator: 'in', value: 'NewFeedback,ValidationRequest' },
      ]),
    ).toEqual([
      {
        path: 'conditions.0.value',
        message:
          'must name reputation events (NewFeedback, FeedbackRevoked, ResponseAppended); got "NewFeedback,ValidationRequest"',
      },
    ]);
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'event_type_equals', operator: 'in', value: ' , ' }], 'validation'),
    ).toEqual([
      {
        path: 'conditions.0.value',
        message: 'must name validation events (ValidationRequest, ValidationResponse); got " , "',
      },
    ]);
    expect(issuesOfRows([{ key: 'a', condition_type: 'event_type_equals', value: 'newfeedback' }])[0]!.path).toBe(
      'conditions.0.value',
    );
  });

  it.each([['-1'], ['abc'], ['1.5'], [''], ['0x10'], ['1e3'], [(2n ** 256n).toString()], ['1'.repeat(79)]])(
    'rejects agent id %j',
    (value) => {
      expect(issuesOfRows([{ key: 'a', condition_type: 'agent_id_equals', value }])).toEqual([
        { path: 'conditions.0.value', message: AGENT_IDS },
      ]);
    },
  );

  it('rejects an agent id list with one bad id', () => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'agent_id_equals', operator: 'in', value: '1,2,-3' }])).toEqual([
      { path: 'conditions.0.value', message: AGENT_IDS },
    ]);
  });

  it('rejects a wrong tag field', () => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'tag_equals', field: 'tag3', value: 'x' }])).toEqual([
      { path: 'conditions.0.field', message: "must be 'tag1', 'tag2', 'tag' or 'any'" },
    ]);
  });

  it.each<[string, ConditionRow]>([
    ['too short', { key: 'a', condition_type: 'validator_whitelist', value: '0x1234' }],
    ['41 hex digits', { key: 'a', condition_type: 'validator_whitelist', value: '0x' + 'a'.repeat(41) }],
    ['no 0x', { key: 'a', condition_type: 'validator_whitelist', value: 'ab'.repeat(20) }],
    ['non-hex', { key: 'a', condition_type: 'validator_whitelist', value: '0x' + 'zz'.repeat(20) }],
    ['one bad in a list', { key: 'a', condition_type: 'validator_whitelist', value: `${ADDR_A},0xdead` }],
    ['empty', { key: 'a', condition_type: 'validator_whitelist', value: '' }],
    [
      'bad in config.addresses',
      { key: 'a', condition_type: 'validator_whitelist', config: { addresses: [ADDR_A, '0xbad'] } },
    ],
    [
      'empty config.addresses',
      { key: 'a', condition_type: 'validator_whitelist', value: ADDR_A, config: { addresses: [] } },
    ],
  ])('rejects malformed validator addresses (%s)', (_name, row) => {
    expect(issuesOfRows([row], 'validation')).toEqual([{ path: 'conditions.0.value', message: ADDRESSES }]);
  });

  it('rejects a file_uri_exists value other than true/false', () => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'file_uri_exists', value: 'yes' }])).toEqual([
      { path: 'conditions.0.value', message: "must be 'true' or 'false'" },
    ]);
  });

  it.each([['abc'], ['1e3'], [''], ['1.'], ['+5'], ['0x10']])('rejects score value %j', (value) => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'score_threshold', operator: '>', value }])).toEqual([
      {
        path: 'conditions.0.value',
        message: `must be a decimal number such as 60 or -1.25; got ${JSON.stringify(value)}`,
      },
    ]);
  });

  it('rejects a score field other than value/response', () => {
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'score_threshold', field: 'tag1', operator: '>', value: '1' }]),
    ).toEqual([
      { path: 'conditions.0.field', message: "must be 'value' (feedback) or 'response' (validation, 0-100)" },
    ]);
  });

  it('rejects ema without alpha or window_size', () => {
    const message = 'needs alpha (0 < alpha <= 1) or window_size (alpha = 2/(window_size+1))';
    expect(issuesOfRows([{ key: 'a', condition_type: 'ema_threshold', operator: '<', value: '60' }])).toEqual([
      { path: 'conditions.0.config', message },
    ]);
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'ema_threshold', operator: '<', value: '60', config: { group: 'g' } }]),
    ).toEqual([{ path: 'conditions.0.config', message }]);
  });

  it.each([[0], [1.5], [-0.1], ['x'], [null]])('rejects ema alpha %j', (alpha) => {
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'ema_threshold', operator: '<', value: '60', config: { alpha } }]),
    ).toEqual([{ path: 'conditions.0.config.alpha', message: 'must be > 0 and <= 1' }]);
  });

  it.each([[0], [1.5], [-3], [100_001], ['x']])('rejects ema window_size %j', (window_size) => {
    expect(
      issuesOfRows([
        { key: 'a', condition_type: 'ema_threshold', operator: '<', value: '60', config: { window_size } },
      ]),
    ).toEqual([{ path: 'conditions.0.config.window_size', message: 'must be a whole number from 1 to 100000' }]);
  });

  it.each([[''], ['  '], ['abc'], ['Infinity']])('rejects ema value %j', (value) => {
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'ema_threshold', operator: '<', value, config: { alpha: 0.5 } }]),
    ).toEqual([{ path: 'conditions.0.value', message: 'must be a number' }]);
  });

  it('rejects a rearm_value on the wrong side of the threshold', () => {
    expect(
      issuesOfRows([
        {
          key: 'a',
          condition_type: 'ema_threshold',
          operator: '<',
          value: '60',
          config: { alpha: 0.5, rearm_value: 55 },
        },
      ]),
    ).toEqual([
      { path: 'conditions.0.config.rearm_value', message: 'must be on the far side of the threshold (not below 60)' },
    ]);
    expect(
      issuesOfRows([
        {
          key: 'a',
          condition_type: 'ema_threshold',
          operator: '>=',
          value: '40',
          config: { alpha: 0.5, rearm_value: 40.5 },
        },
      ]),
    ).toEqual([
      { path: 'conditions.0.config.rearm_value', message: 'must be on the far side of the threshold (not above 40)' },
    ]);
    expect(
      issuesOfRows([
        {
          key: 'a',
          condition_type: 'ema_threshold',
          operator: '<',
          value: '60',
          config: { alpha: 0.5, rearm_value: 'x' },
        },
      ]),
    ).toEqual([{ path: 'conditions.0.config.rearm_value', message: 'must be a number' }]);
  });

  it.each([['5x'], [''], [5], ['5'], ['0s'], ['1.5h'], [null]])('rejects rate_limit time_window %j', (time_window) => {
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'rate_limit', operator: '>', value: '3', config: { time_window } }]),
    ).toEqual([{ path: 'conditions.0.config.time_window', message: DURATION }]);
  });

  it('rejects a rate_limit without config', () => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'rate_limit', operator: '>', value: '3' }])).toEqual([
      { path: 'conditions.0.config.time_window', message: DURATION },
    ]);
  });

  it.each([['-1'], ['1.5'], ['x']])('rejects rate_limit value %j', (value) => {
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'rate_limit', operator: '>', value, config: { time_window: '1m' } }]),
    ).toEqual([{ path: 'conditions.0.value', message: 'must be a whole number of events' }]);
  });

  it.each([[''], ['  ']])('rejects an empty rate_limit value %j', (value) => {
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'rate_limit', operator: '>', value, config: { time_window: '1m' } }]),
    ).toEqual([{ path: 'conditions.0.value', message: 'must be a whole number of events' }]);
  });

  it.each([['true'], [1], [null]])('rejects reset_on_trigger %j', (reset_on_trigger) => {
    expect(
      issuesOfRows([
        {
          key: 'a',
          condition_type: 'rate_limit',
          operator: '>',
          value: '3',
          config: { time_window: '1m', reset_on_trigger },
        },
      ]),
    ).toEqual([{ path: 'conditions.0.config.reset_on_trigger', message: 'must be true or false' }]);
  });

  it.each<[Registry]>([['reputation'], ['identity']])('rejects absence on the %s registry', (registry) => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'absence', config: { within: '1h' } }], registry)).toEqual([
      {
        path: 'conditions.0.condition_type',
        message: 'absence applies to the validation registry (a ValidationRequest without a ValidationResponse)',
      },
    ]);
  });

  it('rejects an absence without a valid within', () => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'absence', config: { within: 3600 } }], 'validation')).toEqual([
      { path: 'conditions.0.config.within', message: "must be a duration like '30s', '5m', '1h' or '24h'" },
    ]);
  });

  it('rejects two absence conditions', () => {
    expect(
      issuesOfRows(
        [
          { key: 'a', condition_type: 'absence', config: { within: '1h' } },
          { key: 'b', condition_type: 'absence', config: { within: '2h' } },
        ],
        'validation',
      ),
    ).toEqual([{ path: 'conditions', message: 'at most one absence condition' }]);
  });

  it('rejects absence combined with a stateful condition', () => {
    const message = 'an absence condition cannot be combined with stateful conditions';
    expect(
      issuesOfRows(
        [
          { key: 'a', condition_type: 'absence', config: { within: '1h' } },
          { key: 'b', condition_type: 'rate_limit', operator: '>', value: '5', config: { time_window: '1h' } },
        ],
        'validation',
      ),
    ).toEqual([{ path: 'conditions', message }]);
    expect(
      issuesOfRows(
        [
          { key: 'a', condition_type: 'absence', config: { within: '1h' } },
          { key: 'b', condition_type: 'rate_limit', operator: '>', value: '1', config: { time_window: '1h' } },
        ],
        'validation',
      ),
    ).toEqual([{ path: 'conditions', message }]);
  });

  it('rejects a grouped or negated absence', () => {
    const message = 'an absence condition cannot be grouped or negated';
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'absence', config: { within: '1h', group: 'g' } }], 'validation'),
    ).toEqual([{ path: 'conditions', message }]);
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'absence', config: { within: '1h', negate: true } }], 'validation'),
    ).toEqual([{ path: 'conditions', message }]);
  });

  it('rejects duplicate condition keys', () => {
    expect(
      issuesOfRows([
        { key: 'k', condition_type: 'tag_equals', value: 'a' },
        { key: 'j', condition_type: 'tag_equals', value: 'b' },
        { key: 'k', condition_type: 'tag_equals', value: 'c' },
      ]),
    ).toEqual([{ path: 'conditions.2.key', message: 'duplicate condition key k' }]);
  });

  it.each([[5], [''], [true], ['g'.repeat(65)]])('rejects group %j', (group) => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'tag_equals', value: 'x', config: { group } }])).toEqual([
      { path: 'conditions.0.config.group', message: 'must be a non-empty name' },
    ]);
  });

  it.each([['true'], [1], [null]])('rejects negate %j', (negate) => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'tag_equals', value: 'x', config: { negate } }])).toEqual([
      { path: 'conditions.0.config.negate', message: 'must be true or false' },
    ]);
  });

  it('rejects unknown settings keys (strict) and out-of-range settings', () => {
    expect(issuesOf(input([], { settings: { cooldown: 5 } as never }))).toEqual([
      { path: 'settings', message: 'Unrecognized key: "cooldown"' },
    ]);
    expect(issuesOf(input([], { settings: { cooldown_seconds: -1 } })).map((i) => i.path)).toEqual([
      'settings.cooldown_seconds',
    ]);
    expect(issuesOf(input([], { settings: { cooldown_seconds: 1.5 } })).map((i) => i.path)).toEqual([
      'settings.cooldown_seconds',
    ]);
    expect(issuesOf(input([], { settings: { hysteresis: 'yes' as never } })).map((i) => i.path)).toEqual([
      'settings.hysteresis',
    ]);
  });

  it('rejects an empty name, an unknown registry, a bad chain id, too many conditions', () => {
    expect(issuesOf(input([], { name: '' }))).toEqual([{ path: 'name', message: 'must not be empty' }]);
    expect(issuesOf(input([], { registry: 'reputations' as never }))).toEqual([
      { path: 'registry', message: 'must be one of identity, reputation, validation' },
    ]);
    expect(issuesOf(input([], { chainId: 0 })).map((i) => i.path)).toEqual(['chainId']);
    const many = Array.from({ length: 33 }, (_, i): ConditionRow => ({
      key: `k${i}`,
      condition_type: 'file_uri_exists',
    }));
    expect(issuesOf(input(many))).toEqual([{ path: 'conditions', message: 'at most 32 conditions' }]);
    expect(() => compileDefinition(input(many.slice(0, 32)))).not.toThrow();
    expect(issuesOfRows([{ key: '', condition_type: 'file_uri_exists' }]).map((i) => i.path)).toEqual([
      'conditions.0.key',
    ]);
  });

  it('reports every condition problem at once, in order', () => {
    expect(
      issuesOfRows([
        { key: 'a', condition_type: 'ema_threshold', operator: '<', value: '60', config: { alpha: 0 } },
        { key: 'b', condition_type: 'tag_equals', operator: '>', value: 'x' },
        { key: 'c', condition_type: 'score_threshold', operator: '>', value: 'sixty' },
        { key: 'd', condition_type: 'file_uri_exists' },
        { key: 'a', condition_type: 'tag_equals', value: 'x', config: { group: 1, negate: 'no' } },
      ]),
    ).toEqual([
      { path: 'conditions.0.config.alpha', message: 'must be > 0 and <= 1' },
      { path: 'conditions.1.operator', message: "must be '=' or '!='" },
      { path: 'conditions.2.value', message: 'must be a decimal number such as 60 or -1.25; got "sixty"' },
      { path: 'conditions.4.key', message: 'duplicate condition key a' },
      { path: 'conditions.4.config.group', message: 'must be a non-empty name' },
      { path: 'conditions.4.config.negate', message: 'must be true or false' },
    ]);
  });

  it('reports both a bad operator and a bad value of the same condition', () => {
    expect(issuesOfRows([{ key: 'a', condition_type: 'score_threshold', operator: '~', value: 'x' }])).toEqual([
      { path: 'conditions.0.operator', message: ANY_OP },
      { path: 'conditions.0.value', message: 'must be a decimal number such as 60 or -1.25; got "x"' },
    ]);
    expect(
      issuesOfRows([{ key: 'a', condition_type: 'ema_threshold', operator: '~', value: '1', config: { alpha: 2 } }]),
    ).toEqual([
      { path: 'conditions.0.operator', message: ANY_OP },
      { path: 'conditions.0.config.alpha', message: 'must be > 0 and <= 1' },
    ]);
  });

  it('reports every schema problem at once', () => {
    expect(
      issuesOf(input([{ key: 'a', condition_type: 'nope' as never }], { name: '', registry: 'x' as never })),
    ).toEqual([
      { path: 'name', message: 'must not be empty' },
      { path: 'registry', message: 'must be one of identity, reputation, validation' },
      { path: 'conditions.0.condition_type', message: `must be one of ${CONDITION_TYPES.join(', ')}` },
    ]);
  });

  it('reports schema problems together with condition problems', () => {
    expect(
      issuesOf(
        input([{ key: 'a', condition_type: 'ema_threshold', operator: '<', value: '60', config: { alpha: 0 } }], {
          name: '',
        }),
      ),
    ).toEqual([
      { path: 'name', message: 'must not be empty' },
      { path: 'conditions.0.config.alpha', message: 'must be > 0 and <= 1' },
    ]);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30s', 30],
    ['5m', 300],
    ['1h', 3_600],
    ['7d', 604_800],
    ['24h', 86_400],
    [' 5m ', 300],
    ['0s', 0],
    ['999999999s', 999_999_999],
  ])('parses %j as %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each([[''], ['5'], ['m'], ['5x'], ['5M'], ['-5m'], ['1.5h'], ['5 m'], ['1h30m'], ['1000000000s'], ['5ms']])(
    'rejects %j',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe('staticPrefilters', () => {
  it('is unrestricted without conditions', () => {
    expect(staticPrefilters(compile([]))).toEqual({ eventTypes: null, agentIds: null });
  });

  it('intersects ungrouped event_type and agent_id conditions', () => {
    const d = compile([
      { key: 'a', condition_type: 'event_type_equals', operator: 'in', value: 'NewFeedback,FeedbackRevoked' },
      { key: 'b', condition_type: 'event_type_equals', operator: 'in', value: 'FeedbackRevoked,ResponseAppended' },
      { key: 'c', condition_type: 'agent_id_equals', operator: 'in', value: '1,2,3' },
      { key: 'd', condition_type: 'agent_id_equals', value: '0002' },
      { key: 'e', condition_type: 'tag_equals', value: 'x' },
    ]);
    expect(staticPrefilters(d)).toEqual({ eventTypes: ['FeedbackRevoked'], agentIds: ['2'] });
  });

  it('gives an empty list for disjoint requirements', () => {
    const d = compile([
      { key: 'a', condition_type: 'event_type_equals', value: 'NewFeedback' },
      { key: 'b', condition_type: 'event_type_equals', value: 'FeedbackRevoked' },
    ]);
    expect(staticPrefilters(d)).toEqual({ eventTypes: [], agentIds: null });
  });

  it('ignores != conditions, grouped conditions and negated conditions', () => {
    const d = compile([
      { key: 'a', condition_type: 'event_type_equals', operator: '!=', value: 'NewFeedback' },
      { key: 'b', condition_type: 'event_type_equals', value: 'NewFeedback', config: { group: 'g' } },
      { key: 'c', condition_type: 'event_type_equals', value: 'FeedbackRevoked', config: { group: 'g' } },
      { key: 'd', condition_type: 'agent_id_equals', value: '5', config: { negate: true } },
      { key: 'e', condition_type: 'agent_id_equals', operator: '!=', value: '6' },
      { key: 'f', condition_type: 'agent_id_equals', value: '7', config: { group: 'h' } },
    ]);
    expect(staticPrefilters(d)).toEqual({ eventTypes: null, agentIds: null });
  });

  it('keeps ungrouped requirements next to grouped ones', () => {
    const d = compile([
      { key: 'a', condition_type: 'event_type_equals', value: 'NewFeedback' },
      { key: 'b', condition_type: 'agent_id_equals', value: '1', config: { group: 'g' } },
      { key: 'c', condition_type: 'agent_id_equals', value: '2', config: { group: 'g' } },
    ]);
    expect(staticPrefilters(d)).toEqual({ eventTypes: ['NewFeedback'], agentIds: null });
  });

  it('adds ValidationResponse for an absence trigger that restricts event types', () => {
    const d = compile(
      [
        { key: 'a', condition_type: 'event_type_equals', value: 'ValidationRequest' },
        { key: 'b', condition_type: 'absence', config: { within: '1h' } },
      ],
      'validation',
    );
    expect(staticPrefilters(d)).toEqual({ eventTypes: ['ValidationRequest', 'ValidationResponse'], agentIds: null });
    expect(
      staticPrefilters(compile([{ key: 'b', condition_type: 'absence', config: { within: '1h' } }], 'validation')),
    ).toEqual({
      eventTypes: null,
      agentIds: null,
    });
  });
});

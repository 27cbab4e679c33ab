import fc from 'fast-check';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import {
  buildTemplateContext,
  clearTemplateCache,
  defaultWebhookBody,
  escapeHtml,
  escapeMarkdownV2,
  escapingForParseMode,
  knownVariables,
  renderJsonTemplate,
  renderTemplate,
  TEMPLATE_CACHE_SIZE,
  TEMPLATE_EVENT_FIELDS,
  templateCacheSize,
  TemplateError,
  validateJsonTemplate,
  validateTemplate,
  type TemplateContext,
  type TemplateContextInput,
} from '../../src/actions/templates.js';
import { EVENT_COLUMNS } from '../../src/indexer/decode.js';

const INT128_MIN = -(2n ** 127n);
const MDV2_SPECIAL = '_*[]()~`>#+-=|{}.!\\';

/** A NewFeedback row as the relay hands it over (pg types: BIGINT as strings, NUMERIC as strings, block_time a Date). */
function feedbackRow(p: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '84532-1000-3',
    ingest_seq: '9001',
    chain_id: '84532',
    block_number: '1000',
    block_hash: `0x${'ab'.repeat(32)}`,
    transaction_hash: `0x${'cd'.repeat(32)}`,
    log_index: 3,
    contract_address: `0x${'11'.repeat(20)}`,
    registry: 'reputation',
    event_type: 'NewFeedback',
    abi_version: 'v1.0',
    agent_id: '115792089237316195423570985008687907853269984665640564039457584007913129639935',
    timestamp: '1700000000',
    block_time: new Date(1_700_000_000_000),
    client_address: `0x${'22'.repeat(20)}`,
    feedback_index: '18446744073709551615',
    value: '-1234567890123456789012',
    value_decimals: 18,
    tag1: 'uptime',
    tag2: 'p99',
    endpoint: 'https://agent.example/mcp',
    file_uri: 'ipfs://bafy',
    file_hash: `0x${'ef'.repeat(32)}`,
    incarnation: 0,
    created_at: new Date(),
    ...p,
  };
}

function input(p: Partial<TemplateContextInput> = {}): TemplateContextInput {
  return {
    event: feedbackRow(),
    trigger: {
      id: 'a1b2c3d4-0000-4000-8000-000000000001',
      name: 'Low score',
      chain_id: '84532',
      registry: 'reputation',
      organization_id: 'org-1',
    },
    agentKey: '84532:115792089237316195423570985008687907853269984665640564039457584007913129639935',
    values: { '12': { result: true, metric: 42.5 }, '13': { result: false }, '14': { result: true, metric: '-0.25' } },
    firedAt: new Date('2024-05-06T07:08:09.010Z'),
    kind: 'match',
    ...p,
  };
}

const ctx = (p: Partial<TemplateContextInput> = {}): TemplateContext => buildTemplateContext(input(p));
const KEYS = ['12', '13', '14'];
const known = knownVariables(KEYS);
/** The context with one event field replaced (as the relay would build it). */
const withEvent = (p: Record<string, unknown>): TemplateContext => ctx({ event: feedbackRow(p) });

describe('buildTemplateContext', () => {
  it('exposes every event column plus block_time, ingest_seq and value_formatted, and nothing else', () => {
    const c = ctx();
    expect(Object.keys(c.event).sort()).toEqual([...TEMPLATE_EVENT_FIELDS].sort());
    for (const column of EVENT_COLUMNS) expect(c.event).toHaveProperty(column);
    expect(c.event).not.toHaveProperty('incarnation');
    expect(c.event).not.toHaveProperty('created_at');
  });

  it('keeps exact on-chain numbers as strings and small integers as numbers', () => {
    const c = ctx();
    expect(c.event.agent_id).toBe('115792089237316195423570985008687907853269984665640564039457584007913129639935');
    expect(c.event.feedback_index).toBe('18446744073709551615');
    expect(c.event.value).toBe('-1234567890123456789012');
    expect(c.event.ingest_seq).toBe('9001');
    expect(c.event.chain_id).toBe(84532);
    expect(c.event.block_number).toBe(1000);
    expect(c.event.timestamp).toBe(1_700_000_000);
    expect(c.event.value_decimals).toBe(18);
    expect(c.event.block_time).toBe('2023-11-14T22:13:20.000Z');
    expect(c.event.tag).toBeNull();
    expect(ctx({ event: feedbackRow({ ingest_seq: 9001n, agent_id: 7n }) }).event).toMatchObject({
      ingest_seq: '9001',
      agent_id: '7',
    });
  });

  it('formats value exactly: the most negative int128 with 18 decimals, and zero decimals', () => {
    expect(withEvent({ value: INT128_MIN.toString(), value_decimals: 18 }).event.value_formatted).toBe(
      '-170141183460469231731.687303715884105728',
    );
    expect(withEvent({ value: '-5', value_decimals: 18 }).event.value_formatted).toBe('-0.000000000000000005');
    expect(withEvent({ value: '87', value_decimals: 0 }).event.value_formatted).toBe('87');
    expect(withEvent({ value: null, value_decimals: null }).event.value_formatted).toBeNull();
  });

  it('derives block_time from timestamp when the event has none (a TriggerEvent)', () => {
    const c = ctx({
      event: {
        ingest_seq: '1',
        id: '1-2-3',
        chain_id: 1,
        block_number: 2,
        log_index: 3,
        timestamp: 60,
        registry: 'validation',
        event_type: 'ValidationRequest',
        agent_id: '0',
        value: null,
        value_decimals: null,
        request_hash: '0xaa',
      },
    });
    expect(c.event.block_time).toBe('1970-01-01T00:01:00.000Z');
    expect(c.event.owner).toBeNull();
  });

  it('builds trigger, agent, state, fired_at and kind', () => {
    const c = ctx({
      kind: 'absence',
      agentKey: '1:-',
      trigger: { id: 't', name: 'n', chain_id: null, registry: 'validation', organization_id: 'o' },
    });
    expect(c.trigger).toEqual({ id: 't', name: 'n', chain_id: null, registry: 'validation', organization_id: 'o' });
    expect(c.agent).toEqual({ key: '1:-', chain_id: 1, id: null });
    expect(c.state).toEqual({
      '12': { result: true, metric: 42.5 },
      '13': { result: false, metric: null },
      '14': { result: true, metric: '-0.25' },
    });
    expect(c.fired_at).toBe('2024-05-06T07:08:09.010Z');
    expect(c.kind).toBe('absence');
    expect(ctx().agent).toEqual({ key: input().agentKey, chain_id: 84532, id: input().agentKey.split(':')[1] });
  });

  it('fills the stateKeys that values lack (absence firings have no evaluation), so strict rendering works', () => {
    const c = ctx({ kind: 'absence', values: undefined, stateKeys: KEYS });
    expect(c.state).toEqual({
      '12': { result: false, metric: null },
      '13': { result: false, metric: null },
      '14': { result: false, metric: null },
    });
    expect(renderTemplate('{{state.12.result}}/{{state.14.metric}}', c, 'none')).toBe('false/');
    expect(ctx({ stateKeys: ['12', '15'] }).state).toMatchObject({
      '12': { result: true, metric: 42.5 },
      '15': { result: false, metric: null },
    });
    expect(() => renderTemplate('{{state.12.result}}', ctx({ kind: 'absence', values: undefined }), 'none')).toThrow(
      /unknown variable "state\.12\.result"/,
    );
  });

  it('is plain JSON (it is stored with each delivery) and rejects malformed input', () => {
    const c = ctx();
    expect(JSON.parse(JSON.stringify(c))).toEqual(c);
    expect(() => ctx({ agentKey: 'nope' })).toThrow(/agentKey/);
    expect(() => ctx({ firedAt: 'yesterday' })).toThrow(/firedAt/);
    expect(() => withEvent({ chain_id: 'x' })).toThrow(/event\.chain_id/);
    expect(() => withEvent({ tag: { nested: true } })).toThrow(/event\.tag/);
  });
});

describe('knownVariables', () => {
  it('lists every printable path, with bracketed numeric condition keys', () => {
    const { paths } = known;
    for (const f of TEMPLATE_EVENT_FIELDS) expect(paths).toContain(`event.${f}`);
    for (const f of ['id', 'name', 'chain_id', 'registry', 'organization_id']) expect(paths).toContain(`trigger.${f}`);
    for (const f of ['key', 'chain_id', 'id']) expect(paths).toContain(`agent.${f}`);
    for (const k of KEYS) expect(paths).toEqual(expect.arrayContaining([`state.[${k}].result`, `state.[${k}].metric`]));
    expect(paths).toEqual(expect.arrayContaining(['fired_at', 'kind']));
    expect(paths).toHaveLength(TEMPLATE_EVENT_FIELDS.length + 5 + 3 + 2 * KEYS.length + 2);
    // Every listed path is itself a valid template.
    for (const p of paths) expect(validateTemplate(`{{${p}}}`, known)).toEqual([]);
  });
});

describe('renderTemplate', () => {
  it('renders every kind of variable', () => {
    const c = ctx();
    const t = [
      '{{event.event_type}} {{event.agent_id}} {{event.value}} {{event.value_formatted}} {{event.value_decimals}} {{event.block_time}} {{event.ingest_seq}} [{{event.tag}}]',
      '{{trigger.id}} {{trigger.name}} {{trigger.chain_id}} {{trigger.registry}} {{trigger.organization_id}}',
      '{{agent.key}} {{agent.chain_id}} {{agent.id}}',
      '{{state.12.result}} {{state.[12].metric}} {{state.13.metric}} {{state.14.metric}}',
      '{{fired_at}} {{kind}} {{@root.kind}} {{this.kind}}',
    ].join('\n');
    expect(validateTemplate(t, known)).toEqual([]);
    expect(renderTemplate(t, c, 'none')).toBe(
      [
        `NewFeedback ${c.event.agent_id} -1234567890123456789012 -1234.567890123456789012 18 2023-11-14T22:13:20.000Z 9001 []`,
        'a1b2c3d4-0000-4000-8000-000000000001 Low score 84532 reputation org-1',
        `${c.agent.key} 84532 ${c.agent.id}`,
        'true 42.5  -0.25',
        '2024-05-06T07:08:09.010Z match match match',
      ].join('\n'),
    );
  });

  it("MarkdownV2: escapes every special character of a value, never the template's own markup", () => {
    const c = withEvent({ tag1: `a${MDV2_SPECIAL}z` });
    const out = renderTemplate(
      '*Agent* _{{event.tag1}}_ [link](https://x.example/{{event.agent_id}}) `{{event.value_formatted}}` \\!',
      c,
      'markdownv2',
    );
    expect(out).toBe(
      `*Agent* _a${[...MDV2_SPECIAL].map((ch) => `\\${ch}`).join('')}z_ [link](https://x.example/${c.event.agent_id}) \`\\-1234\\.567890123456789012\` \\!`,
    );
  });

  it("HTML: escapes & < > \" ' in values, not the template's tags", () => {
    const c = withEvent({ tag1: `<script>alert("x" & 'y')</script>` });
    expect(renderTemplate('<b>{{event.tag1}}</b> <a href="{{event.endpoint}}">x</a>', c, 'html')).toBe(
      '<b>&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;</b> <a href="https://agent.example/mcp">x</a>',
    );
    // Handlebars' default would also have turned = and ` into entities; Telegram needs only these five.
    expect(renderTemplate('{{event.tag1}}', withEvent({ tag1: 'a=b`c' }), 'html')).toBe('a=b`c');
  });

  it('none leaves values as they are; triple-stash and {{& }} are raw in every mode', () => {
    const c = withEvent({ tag1: '<b>*x*</b> & _y_' });
    expect(renderTemplate('{{event.tag1}}', c, 'none')).toBe('<b>*x*</b> & _y_');
    for (const mode of ['markdownv2', 'html', 'none'] as const) {
      expect(renderTemplate('{{{event.tag1}}}|{{&event.tag1}}', c, mode)).toBe('<b>*x*</b> & _y_|<b>*x*</b> & _y_');
    }
  });

  it('uses one environment per escaping mode, isolated from the global Handlebars', () => {
    clearTemplateCache();
    const c = withEvent({ tag1: '<a_b>' });
    expect(renderTemplate('{{event.tag1}}', c, 'markdownv2')).toBe('<a\\_b\\>');
    expect(renderTemplate('{{event.tag1}}', c, 'html')).toBe('&lt;a_b&gt;');
    expect(renderTemplate('{{event.tag1}}', c, 'none')).toBe('<a_b>');
    expect(Handlebars.compile('{{x}}')({ x: '<a_b>' })).toBe('&lt;a_b&gt;');
    expect(Handlebars.escapeExpression('a_b')).toBe('a_b');
    // Values inside blocks (nested programs) go through the same escaping.
    expect(renderTemplate('{{#each state}}{{#with this}}{{metric}}{{/with}};{{/each}}', c, 'markdownv2')).toBe(
      '42\\.5;;\\-0\\.25;',
    );
  });

  it('#if / #unless / #each / #with over state, with else, else if, block params, @key, @index and ../', () => {
    const c = ctx();
    const t =
      '{{#each state}}{{@key}}:{{#if result}}on{{else}}off{{/if}}{{#unless @last}},{{/unless}}{{/each}}' +
      '|{{#each state as |s key|}}{{#if s.result}}{{key}}={{s.metric}} {{/if}}{{/each}}' +
      '|{{#with event}}{{event_type}} by {{../agent.id}}{{/with}}' +
      '|{{#if (eq kind "absence")}}A{{else if (gt event.value_formatted "-2000")}}B{{else}}C{{/if}}' +
      '|{{#each state}}{{@index}}{{/each}}' +
      '|{{#with state.[13]}}{{#if metric includeZero=true}}m{{else}}no metric{{/if}}{{/with}}';
    expect(validateTemplate(t, known)).toEqual([]);
    expect(renderTemplate(t, c, 'none')).toBe(
      `12:on,13:off,14:on|12=42.5 14=-0.25 |NewFeedback by ${c.agent.id}|B|012|no metric`,
    );
    expect(renderTemplate('{{#each state}}x{{else}}no conditions{{/each}}', ctx({ values: {} }), 'none')).toBe(
      'no conditions',
    );
  });

  it('compares exactly: decimal strings and numbers, without floats', () => {
    const c = withEvent({ value: '100000000000000000001', value_decimals: 18 }); // 100.000000000000000001
    const r = (t: string) => renderTemplate(t, c, 'none');
    expect(
      r(
        '{{gt event.value_formatted 100}} {{gte event.value_formatted "100.000000000000000001"}} {{lt event.value_formatted "100.0000000000000000011"}}',
      ),
    ).toBe('true true true');
    expect(
      r(
        '{{eq event.value_decimals "18"}} {{eq event.agent_id 5}} {{ne kind "match"}} {{eq state.14.metric -0.25}} {{lte state.12.metric 42.5}}',
      ),
    ).toBe('true false false true true');
    expect(
      r('{{gt event.tag 1}} {{lt event.tag1 "z"}} {{and true kind}} {{or false event.tag}} {{not event.tag}}'),
    ).toBe('false false true false true');
  });

  it('strict: a variable missing at render time throws, explained like validation', () => {
    const t = 'score {{state.15.metric}}';
    expect(() => renderTemplate(t, ctx(), 'markdownv2')).toThrow(TemplateError);
    expect(() => renderTemplate(t, ctx(), 'markdownv2')).toThrow(
      /unknown variable "state\.15\.metric" \(did you mean state\.\[1[245]\]\.metric\?\)/,
    );
    expect(() => renderTemplate('{{#if x}}', ctx(), 'none')).toThrow(/syntax error at line 1/);
    expect(() => renderTemplate('{{> partial}}', ctx(), 'none')).toThrow(/partials are not allowed/);
    expect(() => renderTemplate('{{lookup event "tag"}}', ctx(), 'none')).toThrow(/unknown helper "lookup"/);
  });

  it('caches compiled templates per (template, escaping), bounded', () => {
    clearTemplateCache();
    const c = ctx();
    for (let i = 0; i < TEMPLATE_CACHE_SIZE + 50; i++)
      expect(renderTemplate(`${i} {{kind}}`, c, 'none')).toBe(`${i} match`);
    expect(templateCacheSize()).toBe(TEMPLATE_CACHE_SIZE);
    expect(renderTemplate('0 {{kind}}', c, 'html')).toBe('0 match');
  });

  it('maps Telegram parse modes to escaping', () => {
    expect(escapingForParseMode('MarkdownV2')).toBe('markdownv2');
    expect(escapingForParseMode('HTML')).toBe('html');
    expect(escapingForParseMode('plain')).toBe('none');
  });
});

describe('validateTemplate', () => {
  const v = (t: string) => validateTemplate(t, known);

  it('accepts valid templates', () => {
    expect(v('plain text')).toEqual([]);
    expect(v('{{!-- a comment --}}{{#each event}}{{@key}}={{this}} {{/each}}')).toEqual([]);
    expect(v('{{#if (and (gt event.value_formatted 1) (not state.[13].result))}}{{/if}}')).toEqual([]);
  });

  it('reports unknown variables with a did-you-mean and the position', () => {
    expect(v('Value: {{event.valu}}')).toEqual([
      'unknown variable "event.valu" (did you mean event.value?) at line 1, column 10',
    ]);
    expect(v('{{value_formatted}}')).toEqual([
      'unknown variable "value_formatted" (did you mean event.value_formatted?) at line 1, column 3',
    ]);
    expect(v('{{state.99.result}}')[0]).toMatch(
      /^unknown variable "state\.99\.result" \(did you mean state\.\[\d+\]\.result\?\)/,
    );
    expect(v('{{#each state}}\n{{reslt}}{{/each}}')).toEqual([
      'unknown variable "reslt" (did you mean result?) at line 2, column 3',
    ]);
    expect(v('{{#each state as |s|}}{{s.metrc}}{{/each}}')).toEqual([
      'unknown variable "s.metrc" (did you mean s.metric?) at line 1, column 25',
    ]);
    expect(v('{{#with agent}}{{idd}}{{/with}}')).toEqual([
      'unknown variable "idd" (did you mean id?) at line 1, column 18',
    ]);
    expect(v('{{zzzzzz}}')).toEqual(['unknown variable "zzzzzz" at line 1, column 3']);
    expect(v('{{event.value.digits}}')[0]).toMatch(/event\.value is a value/);
    expect(v('{{#if event.nope}}{{/if}}')[0]).toMatch(/unknown variable "event\.nope"/);
    expect(v('{{#each stat}}{{/each}}')[0]).toMatch(/did you mean state\?/);
  });

  it('reports objects printed as values, misplaced @variables and ../ above the root', () => {
    expect(v('{{event}}')[0]).toMatch(/"event" is an object, not a value/);
    expect(v('{{#each state}}{{this}}{{/each}}')[0]).toMatch(
      /"this" is an object, not a value: print one of its fields \(e\.g\. \{\{result\}\}\)/,
    );
    expect(v('{{@index}}')).toEqual(['@index exists only inside {{#each}} at line 1, column 3']);
    expect(v('{{@foo}}')[0]).toMatch(/unknown variable "@foo"/);
    expect(v('{{../kind}}')[0]).toMatch(/goes above the template's root/);
    expect(v('{{#each event.value}}{{/each}}')[0]).toMatch(/needs an object or a list/);
  });

  it('reports syntax errors with line and column', () => {
    expect(v('line one\n  {{#if kind}} never closed')).toEqual([
      'syntax error at line 2, column 28: the template ends inside a block: a {{/…}} is missing',
    ]);
    expect(v('{{#if kind}}x{{/each}}')).toEqual(["syntax error at line 1, column 4: if doesn't match each"]);
    expect(v('{{event.value')[0]).toMatch(/^syntax error at line 1, column \d+: /);
    expect(v('{{#with state.12}}{{/with}}')[0]).toMatch(/write a numeric path segment in brackets/);
    expect(v('a {{/if}}')[0]).toMatch(/closes a block that was never opened/);
  });

  it('rejects helpers that do not exist or are not allowed, partials, decorators and misuse', () => {
    expect(v('{{lookup event "value"}}')[0]).toMatch(
      /^unknown helper "lookup" \(available: if, unless, each, with, eq/,
    );
    expect(v('{{log kind}}')[0]).toMatch(/unknown helper "log"/);
    expect(v('{{#custom kind}}{{/custom}}')[0]).toMatch(/unknown helper "custom"/);
    expect(v('{{upper (eq kind "x")}}')[0]).toMatch(/unknown helper "upper"/);
    expect(v('{{> header}}')).toEqual(['partials are not allowed ({{> header}}) at line 1, column 1']);
    expect(v('{{#> layout}}x{{/layout}}')[0]).toMatch(/partials are not allowed/);
    expect(v('{{#*inline "p"}}x{{/inline}}')[0]).toMatch(/decorators are not allowed/);
    expect(v('{{#event}}x{{/event}}')[0]).toMatch(/not a block helper/);
    expect(v('{{if kind}}')[0]).toMatch(/"if" is a block helper/);
    expect(v('{{#eq kind "match"}}x{{/eq}}')[0]).toMatch(/"eq" is not a block helper/);
    expect(v('{{eq kind}}')).toEqual(['"eq" takes 2 arguments, got 1 at line 1, column 1']);
    expect(v('{{#each state foo=1}}{{/each}}')[0]).toMatch(/"each" takes no named arguments \(foo=\)/);
    expect(v('{{#if kind as |x|}}{{/if}}')[0]).toMatch(/takes no block parameters/);
    expect(v('{{#if (each state)}}{{/if}}')[0]).toMatch(/block helper and cannot be used/);
  });

  it('reports every problem, not just the first', () => {
    expect(v('{{event.valu}} {{lookup a "b"}} {{kind}} {{agnt.id}}')).toHaveLength(4);
  });
});

describe('JSON templates', () => {
  it('renders string leaves, keeps typed values for a lone {{path}}, walks nested arrays', () => {
    const c = ctx();
    const template = {
      text: 'Agent {{agent.id}}: {{event.value_formatted}} ({{kind}})',
      count: '{{state.12.metric}}',
      exact: '{{state.14.metric}}',
      on: '{{state.13.result}}',
      nothing: '{{state.13.metric}}',
      padded: ' {{state.12.metric}}',
      raw: '{{{event.tag1}}}',
      event: '{{event}}',
      literal: 'no templates here: {x}',
      n: 1.5,
      b: false,
      z: null,
      list: ['{{event.chain_id}}', ['{{state.12.result}}', { deep: '{{trigger.name}}' }], []],
      'key with {{kind}}': 'keys are literal',
    };
    expect(validateJsonTemplate(template, known)).toEqual([]);
    const out = renderJsonTemplate(template, c);
    expect(out).toEqual({
      text: `Agent ${c.agent.id}: -1234.567890123456789012 (match)`,
      count: 42.5,
      exact: '-0.25',
      on: false,
      nothing: null,
      padded: ' 42.5',
      raw: 'uptime',
      event: c.event,
      literal: 'no templates here: {x}',
      n: 1.5,
      b: false,
      z: null,
      list: [84532, [true, { deep: 'Low score' }], []],
      'key with {{kind}}': 'keys are literal',
    });
    // Values are not escaped for any markup: JSON.stringify escapes them.
    const quoted = withEvent({ tag1: 'a "quoted" <tag> & \\ _' });
    expect(JSON.parse(JSON.stringify(renderJsonTemplate({ t: 'x {{event.tag1}}' }, quoted)))).toEqual({
      t: 'x a "quoted" <tag> & \\ _',
    });
    expect(renderJsonTemplate('{{kind}}', c)).toBe('match');
    // The output is a copy: changing it leaves the context alone.
    (out as { event: Record<string, unknown> }).event.tag1 = 'changed';
    expect(c.event.tag1).toBe('uptime');
  });

  it('handles __proto__ keys as data', () => {
    const template = JSON.parse('{"__proto__": "{{kind}}", "a": 1}') as unknown;
    const out = renderJsonTemplate(template, ctx()) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(JSON.stringify(out)).toBe('{"__proto__":"match","a":1}');
  });

  it('throws with the leaf path for missing variables, and rejects non-JSON values', () => {
    expect(() => renderJsonTemplate({ a: [{ b: '{{state.99.metric}}' }] }, ctx())).toThrow(
      /^body_template\.a\[0\]\.b: template cannot be rendered: unknown variable "state\.99\.metric"/,
    );
    expect(() => renderJsonTemplate({ f: () => 1 }, ctx())).toThrow(/body_template\.f: not a JSON value \(function\)/);
    expect(() => renderJsonTemplate({ u: undefined }, ctx())).toThrow(/not a JSON value \(undefined\)/);
    expect(() => renderJsonTemplate({ d: new Date() }, ctx())).toThrow(/not a JSON value \(Date\)/);
    expect(() => renderJsonTemplate({ n: Number.NaN }, ctx())).toThrow(/not a JSON value \(NaN\)/);
  });

  it('validateJsonTemplate: every problem with its path', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(
      validateJsonTemplate(
        {
          text: '{{event.valu}}',
          items: [1, ['{{#if kind}}'], { 'odd key': '{{lookup event "b"}}' }],
          fn: () => 1,
          u: undefined,
          big: 1n,
          inline: 'x {{state}}',
          whole: '{{state}}',
          cyclic,
        },
        known,
      ),
    ).toEqual([
      'body_template.text: unknown variable "event.valu" (did you mean event.value?) at line 1, column 3',
      'body_template.items[1][0]: syntax error at line 1, column 13: the template ends inside a block: a {{/…}} is missing',
      'body_template.items[2]["odd key"]: unknown helper "lookup" (available: if, unless, each, with, eq, ne, gt, gte, lt, lte, and, or, not) at line 1, column 1',
      'body_template.fn: not a JSON value (function)',
      'body_template.u: not a JSON value (undefined)',
      'body_template.big: not a JSON value (bigint)',
      'body_template.inline: "state" is an object, not a value: print one of its fields (e.g. {{state.[12].result}}) at line 1, column 5',
      'body_template.cyclic.self: circular reference',
    ]);
    expect(validateJsonTemplate({ q: '{{kind}}' }, known, 'arguments_template')).toEqual([]);
    expect(validateJsonTemplate({ q: '{{knd}}' }, known, 'arguments_template')[0]).toMatch(
      /^arguments_template\.q: unknown variable "knd" \(did you mean kind\?\)/,
    );
    expect(validateJsonTemplate(undefined, known)).toEqual(['body_template: not a JSON value (undefined)']);
  });
});

describe('defaultWebhookBody', () => {
  it('describes the whole firing, as a copy', () => {
    const c = ctx();
    const body = defaultWebhookBody(c);
    expect(body).toEqual({
      type: 'erc8004.trigger.fired',
      kind: 'match',
      fired_at: c.fired_at,
      trigger: c.trigger,
      agent: c.agent,
      event: c.event,
      state: c.state,
    });
    expect(Object.keys(body.event).sort()).toEqual([...TEMPLATE_EVENT_FIELDS].sort());
    expect(JSON.parse(JSON.stringify(body))).toEqual(body);
    body.state['12']!.result = false;
    expect(c.state['12']!.result).toBe(true);
  });
});

describe('escaping properties', () => {
  /** Strings rich in the characters that matter, plus arbitrary code points. */
  const text = fc.oneof(
    fc.string({ unit: fc.constantFrom(...MDV2_SPECIAL, ...'<>&"\'ab \n'), maxLength: 60 }),
    fc.string({ unit: 'grapheme', maxLength: 60 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
  );

  /** Reads MarkdownV2 text back: fails on an unescaped special character or a backslash escaping anything else. */
  function decodeMarkdownV2(out: string): string {
    let decoded = '';
    for (let i = 0; i < out.length; i++) {
      const ch = out[i]!;
      if (ch === '\\') {
        const next = out[i + 1];
        if (next === undefined || !MDV2_SPECIAL.includes(next)) throw new Error(`stray backslash at ${i}`);
        decoded += next;
        i++;
      } else {
        if (MDV2_SPECIAL.includes(ch)) throw new Error(`unescaped ${ch} at ${i}`);
        decoded += ch;
      }
    }
    return decoded;
  }

  it('MarkdownV2: a value comes out with every special character escaped, and decodes back to itself', () => {
    const prefix = '*Tag:* _';
    const suffix = '_ \\.';
    fc.assert(
      fc.property(text, (value) => {
        const out = renderTemplate(`${prefix}{{event.tag1}}${suffix}`, withEvent({ tag1: value }), 'markdownv2');
        expect(out.startsWith(prefix) && out.endsWith(suffix)).toBe(true);
        const escaped = out.slice(prefix.length, out.length - suffix.length);
        expect(escaped).toBe(escapeMarkdownV2(value));
        expect(decodeMarkdownV2(escaped)).toBe(value);
      }),
      { numRuns: 300 },
    );
  });

  it('HTML: a value comes out without markup characters, and decodes back to itself', () => {
    const decode = (s: string) =>
      s.replace(
        /&(lt|gt|quot|#39|amp);/g,
        (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e]!,
      );
    fc.assert(
      fc.property(text, (value) => {
        const out = renderTemplate('<i>{{event.tag1}}</i>', withEvent({ tag1: value }), 'html');
        const escaped = out.slice(3, -4);
        expect(escaped).toBe(escapeHtml(value));
        expect(escaped).not.toMatch(/[<>"']|&(?!(lt|gt|quot|#39|amp);)/);
        expect(decode(escaped)).toBe(value);
      }),
      { numRuns: 300 },
    );
  });
});

/**
 * Action templates (Handlebars): the context a firing exposes, validation of templates against the variables a trigger
 * can actually provide (when the trigger is saved), and rendering for each destination.
 *
 * Rules:
 *  - `{{path}}` is escaped for the destination (Telegram MarkdownV2, HTML, or not at all); `{{{path}}}` is raw. The
 *    template's literal text is never escaped: it is the author's markup.
 *  - Only the block helpers `if`, `unless`, `each`, `with` and the value helpers `eq`, `ne`, `gt`, `gte`, `lt`, `lte`,
 *    `and`, `or`, `not` exist; partials, decorators and every other helper are rejected. Comparisons are exact on
 *    decimal strings (`gt event.value_formatted "-0.5"` does not go through floats).
 *  - Templates compile in strict mode: a variable missing at render time throws (it is also reported when saving).
 *  - Each escaping mode has its own Handlebars environment (`Handlebars.create()`); the global one is never touched.
 *
 * Handlebars detail: compiled templates escape through `container.escapeExpression`, and the container is filled from
 * the runtime's module-level `Utils.escapeExpression` — not from the environment's `escapeExpression` property, so
 * overriding that property changes nothing. Each environment here therefore wraps `env.template` so that the
 * container of every template it builds gets the environment's escape function before the template first runs.
 */
import { escapeMarkdownV2, escapeTelegramHtml } from './telegram.js';
import Handlebars from 'handlebars';
import { EVENT_COLUMNS } from '../indexer/decode.js';
import { compareScaled, formatScaled, parseDecimal, type Scaled } from '../triggers/decimal.js';

// ---------------------------------------------------------------------------------------------------------------------
// Context

/** The event fields a template sees: every `events` column, plus block_time (ISO), ingest_seq and value_formatted. */
export const TEMPLATE_EVENT_FIELDS = [...EVENT_COLUMNS, 'block_time', 'ingest_seq', 'value_formatted'] as const;
export type TemplateEventField = (typeof TEMPLATE_EVENT_FIELDS)[number];

export type TemplateScalar = string | number | boolean | null;

export interface TemplateContext {
  /** Every TEMPLATE_EVENT_FIELDS field (null when the event has none). Exact on-chain numbers are decimal strings. */
  event: Record<string, TemplateScalar>;
  trigger: { id: string; name: string; chain_id: number | null; registry: string; organization_id: string };
  agent: { key: string; chain_id: number; id: string | null };
  /** Per condition key: its result and metric (e.g. the current EMA) after the firing event. */
  state: Record<string, { result: boolean; metric: number | string | null }>;
  /** ISO time of the firing. */
  fired_at: string;
  kind: 'match' | 'absence';
}

export interface TemplateTriggerInput {
  id: string;
  name: string;
  chain_id?: number | string | bigint | null;
  registry: string;
  organization_id: string;
}

export interface TemplateContextInput {
  /** An `events` row (pg or decodeRegistryLog shape) or a TriggerEvent; missing fields become null. */
  event: Record<string, unknown>;
  trigger: TemplateTriggerInput;
  /** `${chain_id}:${agent_id ?? '-'}` (agentKeyOf). */
  agentKey: string;
  /** Evaluation['values']. */
  values?: Record<string, { result: boolean; metric?: number | string | null }>;
  /**
   * The keys the trigger's templates were validated against (knownVariables): any of them missing from `values` is
   * filled with { result: false, metric: null }, so strict rendering does not fail — e.g. for absence firings, which
   * have no evaluation values.
   */
  stateKeys?: readonly string[];
  firedAt: Date | string;
  kind: 'match' | 'absence';
}

/** Exact on-chain numbers: kept as decimal strings (uint256 / int128 / uint64 / bigint). */
const EXACT_FIELDS: ReadonlySet<string> = new Set(['agent_id', 'feedback_index', 'value', 'ingest_seq']);
/** Small integers: JSON numbers. */
const INT_FIELDS: ReadonlySet<string> = new Set([
  'chain_id',
  'block_number',
  'log_index',
  'timestamp',
  'value_decimals',
  'response',
]);

/** Defines an own, enumerable property (safe for keys such as `__proto__`). */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isoTime(value: unknown, what: string): string {
  const date =
    value instanceof Date
      ? value
      : typeof value === 'string' || typeof value === 'number'
        ? new Date(value)
        : undefined;
  if (!date || Number.isNaN(date.getTime())) throw new TypeError(`${what}: not a valid time (${String(value)})`);
  return date.toISOString();
}

function exactString(value: unknown, what: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new TypeError(`${what}: expected an exact integer (string or bigint), got ${typeof value}`);
}

function smallInt(value: unknown, what: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if ((typeof value === 'string' && /^-?\d{1,16}$/.test(value)) || typeof value === 'bigint') {
    const n = Number(value);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new TypeError(
    `${what}: expected an integer, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`,
  );
}

function scalar(value: unknown, what: string): TemplateScalar {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return isoTime(value, what);
  throw new TypeError(`${what}: expected a string, number, boolean or null, got ${typeof value}`);
}

/** value / 10^value_decimals, exactly; null when the event has no value. */
function formatValue(value: string | null, decimals: number | null): string | null {
  if (value === null || decimals === null || !/^-?\d+$/.test(value) || decimals < 0) return null;
  return formatScaled({ int: BigInt(value), decimals });
}

function parseAgentKey(agentKey: string): { chain_id: number; id: string | null } {
  const at = agentKey.indexOf(':');
  const chain = Number(agentKey.slice(0, at));
  const id = agentKey.slice(at + 1);
  if (at <= 0 || !Number.isSafeInteger(chain) || id === '')
    throw new TypeError(`agentKey: expected "<chain_id>:<agent_id or ->", got ${JSON.stringify(agentKey)}`);
  return { chain_id: chain, id: id === '-' ? null : id };
}

/** The context every template of a firing renders against. Plain JSON (it is stored with each delivery). */
export function buildTemplateContext(input: TemplateContextInput): TemplateContext {
  const source = input.event;
  const event: Record<string, TemplateScalar> = {};
  for (const field of TEMPLATE_EVENT_FIELDS) {
    if (field === 'value_formatted' || field === 'block_time') continue;
    const raw = Object.prototype.hasOwnProperty.call(source, field) ? source[field] : undefined;
    const what = `event.${field}`;
    setOwn(
      event,
      field,
      EXACT_FIELDS.has(field)
        ? exactString(raw, what)
        : INT_FIELDS.has(field)
          ? smallInt(raw, what)
          : scalar(raw, what),
    );
  }
  const blockTime = source.block_time ?? (typeof event.timestamp === 'number' ? event.timestamp * 1000 : undefined);
  setOwn(
    event,
    'block_time',
    blockTime === undefined || blockTime === null ? null : isoTime(blockTime, 'event.block_time'),
  );
  setOwn(event, 'value_formatted', formatValue(event.value as string | null, event.value_decimals as number | null));

  const state: TemplateContext['state'] = {};
  for (const [key, v] of Object.entries(input.values ?? {})) {
    const metric = v.metric ?? null;
    setOwn(state, key, {
      result: Boolean(v.result),
      metric: typeof metric === 'number' && !Number.isFinite(metric) ? null : metric,
    });
  }
  for (const key of input.stateKeys ?? []) {
    if (!Object.prototype.hasOwnProperty.call(state, key)) setOwn(state, key, { result: false, metric: null });
  }
  const t = input.trigger;
  return {
    event,
    trigger: {
      id: t.id,
      name: t.name,
      chain_id: smallInt(t.chain_id, 'trigger.chain_id'),
      registry: t.registry,
      organization_id: t.organization_id,
    },
    agent: { key: input.agentKey, ...parseAgentKey(input.agentKey) },
    state,
    fired_at: isoTime(input.firedAt, 'firedAt'),
    kind: input.kind,
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Known variables

/** The shape of a context value, for validation: a printable value, an object with known fields, or unknown. */
export type Shape = { kind: 'value' } | { kind: 'object'; fields: ReadonlyMap<string, Shape> } | { kind: 'any' };

export interface KnownVariables {
  /** Every printable variable, as a Handlebars path (`event.value`, `state.[3].metric`), for documentation and UIs. */
  readonly paths: readonly string[];
  /** The context's shape, which validation walks. */
  readonly root: Shape;
}

const VALUE: Shape = { kind: 'value' };
const ANY: Shape = { kind: 'any' };
const object = (entries: Iterable<readonly [string, Shape]>): Shape => ({ kind: 'object', fields: new Map(entries) });
const values = (names: readonly string[]): Shape => object(names.map((n) => [n, VALUE] as const));

/** A segment as it must be written in a template: bare when Handlebars reads it as a name, `[…]` otherwise. */
function segment(name: string): string {
  const bare =
    /^[^\s!"#%-,./;->@[-^`{-~]+$/.test(name) &&
    !/^-?\d/.test(name) &&
    !['true', 'false', 'null', 'undefined', 'this', 'else', 'as'].includes(name);
  return bare ? name : `[${name}]`;
}
const formatPath = (parts: readonly string[]): string => parts.map(segment).join('.');

/** Every path of a shape (objects and values), as [segments, shape]. */
function* walkShape(shape: Shape, prefix: string[] = []): Generator<[string[], Shape]> {
  if (shape.kind !== 'object') return;
  for (const [name, child] of shape.fields) {
    const path = [...prefix, name];
    yield [path, child];
    yield* walkShape(child, path);
  }
}

/** The variables a trigger with these condition keys provides. */
export function knownVariables(conditionKeys: readonly string[]): KnownVariables {
  const root = object([
    ['event', values(TEMPLATE_EVENT_FIELDS)],
    ['trigger', values(['id', 'name', 'chain_id', 'registry', 'organization_id'])],
    ['agent', values(['key', 'chain_id', 'id'])],
    ['state', object(conditionKeys.map((k) => [k, values(['result', 'metric'])] as const))],
    ['fired_at', VALUE],
    ['kind', VALUE],
  ]);
  const paths = [...walkShape(root)].filter(([, s]) => s.kind === 'value').map(([p]) => formatPath(p));
  return { paths, root };
}

/** What iterating over a shape yields (`#each`): the fields' common shape (all values, or all alike), else unknown. */
function elementShape(shape: Shape): Shape {
  if (shape.kind !== 'object' || shape.fields.size === 0) return ANY;
  const children = [...shape.fields.values()];
  if (children.every((c) => c.kind === 'value')) return VALUE;
  const signature = (c: Shape): string | undefined =>
    c.kind === 'object' && [...c.fields.values()].every((f) => f.kind === 'value')
      ? [...c.fields.keys()].sort().join('\u0000')
      : undefined;
  const first = signature(children[0]!);
  return first !== undefined && children.every((c) => signature(c) === first) ? children[0]! : ANY;
}

// ---------------------------------------------------------------------------------------------------------------------
// Helpers

type HelperKind = 'block' | 'value';
interface HelperSpec {
  kind: HelperKind;
  minArgs: number;
  maxArgs: number;
  hash?: readonly string[];
  blockParams?: number;
}
const HELPERS: Readonly<Record<string, HelperSpec>> = {
  if: { kind: 'block', minArgs: 1, maxArgs: 1, hash: ['includeZero'] },
  unless: { kind: 'block', minArgs: 1, maxArgs: 1, hash: ['includeZero'] },
  each: { kind: 'block', minArgs: 1, maxArgs: 1, blockParams: 2 },
  with: { kind: 'block', minArgs: 1, maxArgs: 1, blockParams: 1 },
  eq: { kind: 'value', minArgs: 2, maxArgs: 2 },
  ne: { kind: 'value', minArgs: 2, maxArgs: 2 },
  gt: { kind: 'value', minArgs: 2, maxArgs: 2 },
  gte: { kind: 'value', minArgs: 2, maxArgs: 2 },
  lt: { kind: 'value', minArgs: 2, maxArgs: 2 },
  lte: { kind: 'value', minArgs: 2, maxArgs: 2 },
  and: { kind: 'value', minArgs: 2, maxArgs: Infinity },
  or: { kind: 'value', minArgs: 2, maxArgs: Infinity },
  not: { kind: 'value', minArgs: 1, maxArgs: 1 },
};
export const TEMPLATE_HELPERS: readonly string[] = Object.keys(HELPERS);
const isHelper = (name: string): boolean => Object.prototype.hasOwnProperty.call(HELPERS, name);

/** Exact decimal of a number, string or bigint; undefined for anything that is not a plain decimal number. */
function toScaled(v: unknown): Scaled | undefined {
  if (typeof v === 'string') return parseDecimal(v);
  if (typeof v === 'bigint') return { int: v, decimals: 0 };
  if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
  // The shortest decimal that round-trips (what String() prints), exactly; exponents included ('1e-7', '1e+21').
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(v));
  if (!m) return undefined;
  const fraction = m[3] ?? '';
  let int = BigInt(`${m[1]}${m[2]}${fraction}`);
  let decimals = fraction.length - Number(m[4] ?? 0);
  if (decimals < 0) {
    int *= 10n ** BigInt(-decimals);
    decimals = 0;
  }
  return { int, decimals };
}

function equals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const x = toScaled(a);
  const y = toScaled(b);
  return x !== undefined && y !== undefined && compareScaled(x, y) === 0;
}

/** Orders two numeric values exactly; undefined (so every comparison is false) when either is not a number. */
function order(a: unknown, b: unknown): -1 | 0 | 1 | undefined {
  const x = toScaled(a);
  const y = toScaled(b);
  return x === undefined || y === undefined ? undefined : compareScaled(x, y);
}

/** Handlebars' truthiness (as #if): false, null, undefined, '', 0, NaN and [] are false. */
const truthy = (v: unknown): boolean => Boolean(v) && !(Array.isArray(v) && v.length === 0);

/** Helpers receive their arguments, then Handlebars' options object. */
const args = (list: unknown[]): unknown[] => list.slice(0, -1);
const HELPER_FUNCTIONS: Record<string, (...list: unknown[]) => boolean> = {
  eq: (...l) => equals(...(args(l) as [unknown, unknown])),
  ne: (...l) => !equals(...(args(l) as [unknown, unknown])),
  gt: (...l) => order(...(args(l) as [unknown, unknown])) === 1,
  gte: (...l) => {
    const o = order(...(args(l) as [unknown, unknown]));
    return o === 1 || o === 0;
  },
  lt: (...l) => order(...(args(l) as [unknown, unknown])) === -1,
  lte: (...l) => {
    const o = order(...(args(l) as [unknown, unknown]));
    return o === -1 || o === 0;
  },
  and: (...l) => args(l).every(truthy),
  or: (...l) => args(l).some(truthy),
  not: (...l) => !truthy(args(l)[0]),
};

// ---------------------------------------------------------------------------------------------------------------------
// Validation

type AST = hbs.AST.Node;
type Program = hbs.AST.Program;
type PathExpression = hbs.AST.PathExpression;
type Expression = hbs.AST.Expression;
type Call = hbs.AST.MustacheStatement | hbs.AST.BlockStatement | hbs.AST.SubExpression;

interface Scope {
  /** Context shapes, outermost (the root) first; `../` steps out of #each / #with only, as in Handlebars. */
  contexts: Shape[];
  /** Block parameters (`as |item key|`), innermost last. */
  blockParams: Map<string, Shape>[];
  /** Inside an #each: @index, @key, @first, @last exist. */
  inEach: boolean;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The closest known path to a misspelt one, if it is close enough to be a plausible typo. */
function suggest(wrong: string, candidates: Iterable<string>): string | undefined {
  let best: { path: string; score: number } | undefined;
  for (const candidate of candidates) {
    // A known field written without its object (`value` for `event.value`) counts as one edit.
    const score = candidate.endsWith(`.${wrong}`) ? 1 : levenshtein(wrong, candidate);
    if (!best || score < best.score || (score === best.score && candidate.length < best.path.length))
      best = { path: candidate, score };
  }
  return best && best.score <= Math.max(2, Math.floor(wrong.length / 3)) ? best.path : undefined;
}

const at = (node: AST): string =>
  node.loc ? ` at line ${node.loc.start.line}, column ${node.loc.start.column + 1}` : '';

/** Handlebars' own rule: `./x`, `this.x` and `this` are scoped (never helpers nor block parameters). */
const scoped = (path: PathExpression): boolean => /^\.|this\b/.test(path.original);
const simple = (path: PathExpression): boolean => path.parts.length === 1 && !scoped(path) && !path.depth && !path.data;

/** Literals in a helper/path position (`{{"name"}}`, `{{12}}`) are looked up as one-segment paths. */
function asPath(node: Expression): PathExpression {
  if (node.type === 'PathExpression') return node as PathExpression;
  const literal = node as Expression & { value?: unknown; original?: unknown };
  const name = String(literal.value ?? literal.original ?? (node.type === 'NullLiteral' ? 'null' : 'undefined'));
  return { type: 'PathExpression', data: false, depth: 0, parts: [name], original: name, loc: node.loc };
}

class Validator {
  readonly issues: string[] = [];
  constructor(
    private readonly known: KnownVariables | undefined,
    /** The sole mustache of a JSON string leaf may print an object (it becomes a JSON value). */
    private readonly objectOutputOk = false,
  ) {}

  private issue(message: string, node: AST): void {
    this.issues.push(`${message}${at(node)}`);
  }

  program(program: Program | undefined, scope: Scope): void {
    for (const statement of program?.body ?? []) this.statement(statement, scope);
  }

  private statement(node: hbs.AST.Statement, scope: Scope): void {
    switch (node.type) {
      case 'ContentStatement':
      case 'CommentStatement':
        return;
      case 'MustacheStatement':
        return this.mustache(node as hbs.AST.MustacheStatement, scope);
      case 'BlockStatement':
        return this.block(node as hbs.AST.BlockStatement, scope);
      case 'PartialStatement':
      case 'PartialBlockStatement':
        return this.issue(
          `partials are not allowed ({{> ${describe((node as hbs.AST.PartialStatement).name)}}})`,
          node,
        );
      case 'Decorator':
      case 'DecoratorBlock':
        return this.issue(`decorators are not allowed ({{* ${describe((node as hbs.AST.Decorator).path)}}})`, node);
      default:
        return this.issue(`unsupported template construct ${node.type}`, node);
    }
  }

  /** Whether a call is a helper call, per Handlebars' classification (block parameters shadow helpers). */
  private helperName(node: Call, scope: Scope): string | undefined {
    const path = asPath(node.path);
    const hasArgs = node.type === 'SubExpression' || node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0;
    const isBlockParam = simple(path) && scope.blockParams.some((f) => f.has(path.parts[0]!));
    if (isBlockParam) return undefined;
    if (hasArgs) return path.original;
    return simple(path) && isHelper(path.parts[0]!) ? path.parts[0] : undefined;
  }

  private mustache(node: hbs.AST.MustacheStatement, scope: Scope): void {
    const helper = this.helperName(node, scope);
    if (helper === undefined) {
      this.path(asPath(node.path), scope, { output: true });
      return;
    }
    const spec = this.call(node, helper, scope);
    if (spec?.kind === 'block')
      this.issue(`"${helper}" is a block helper: write {{#${helper} …}}…{{/${helper}}}`, node);
    for (const p of node.params) this.expression(p, scope);
  }

  private block(node: hbs.AST.BlockStatement, scope: Scope): void {
    const helper = this.helperName(node, scope);
    const name = describe(node.path);
    if (helper === undefined) {
      this.issue(`{{#${name}}} is not a block helper: use {{#if …}}, {{#unless …}}, {{#each …}} or {{#with …}}`, node);
      return;
    }
    const spec = this.call(node, helper, scope);
    if (spec?.kind !== 'block') {
      if (spec) this.issue(`"${helper}" is not a block helper: use it inside one, e.g. {{#if (${helper} …)}}`, node);
      for (const p of node.params) this.expression(p, scope);
      this.program(node.program, scope);
      this.program(node.inverse, scope);
      return;
    }
    const declared = node.program?.blockParams ?? [];
    if (declared.length > (spec.blockParams ?? 0)) {
      this.issue(
        spec.blockParams
          ? `{{#${helper}}} takes at most ${spec.blockParams} block parameter(s)`
          : `{{#${helper}}} takes no block parameters (as |…|)`,
        node,
      );
    }
    let inner = scope;
    const argument = node.params[0];
    if ((helper === 'each' || helper === 'with') && argument) {
      const shape = this.known ? this.expression(argument, scope) : ANY;
      let context = shape;
      if (helper === 'each') {
        if (shape.kind === 'value')
          this.issue(`{{#each}} needs an object or a list, but ${describe(argument)} is a value`, argument);
        context = elementShape(shape);
      }
      const params = new Map<string, Shape>();
      if (declared[0] !== undefined) params.set(declared[0], context);
      if (declared[1] !== undefined) params.set(declared[1], VALUE);
      inner = {
        contexts: [...scope.contexts, context],
        blockParams: [...scope.blockParams, params],
        inEach: scope.inEach || helper === 'each',
      };
    } else {
      for (const p of node.params) this.expression(p, scope);
    }
    this.program(node.program, inner);
    // {{else}} runs against the block's outer context.
    this.program(node.inverse, scope);
  }

  /** Checks a helper call (name, arguments, named arguments); returns its spec when the helper exists. */
  private call(node: Call, helper: string, scope: Scope): HelperSpec | undefined {
    const spec = isHelper(helper) ? HELPERS[helper] : undefined;
    if (!spec) {
      this.issue(`unknown helper "${helper}" (available: ${TEMPLATE_HELPERS.join(', ')})`, node);
      return undefined;
    }
    const n = node.params.length;
    if (n < spec.minArgs || n > spec.maxArgs) {
      const wanted =
        spec.minArgs === spec.maxArgs
          ? `${spec.minArgs}`
          : spec.maxArgs === Infinity
            ? `at least ${spec.minArgs}`
            : `${spec.minArgs} to ${spec.maxArgs}`;
      this.issue(`"${helper}" takes ${wanted} argument${wanted === '1' ? '' : 's'}, got ${n}`, node);
    }
    for (const pair of node.hash?.pairs ?? []) {
      if (!spec.hash?.includes(pair.key)) {
        this.issue(
          spec.hash
            ? `"${helper}" has no option ${pair.key}= (only ${spec.hash.map((h) => `${h}=`).join(', ')})`
            : `"${helper}" takes no named arguments (${pair.key}=)`,
          pair,
        );
      }
      this.expression(pair.value, scope);
    }
    return spec;
  }

  /** Validates an argument; returns its shape. */
  private expression(node: Expression, scope: Scope): Shape {
    if (node.type === 'SubExpression') {
      const sub = node as hbs.AST.SubExpression;
      const helper = asPath(sub.path).original;
      const spec = this.call(sub, helper, scope);
      if (spec?.kind === 'block') this.issue(`"${helper}" is a block helper and cannot be used in ( … )`, node);
      for (const p of sub.params) this.expression(p, scope);
      return VALUE;
    }
    if (node.type === 'PathExpression') return this.path(node as PathExpression, scope, { output: false });
    return VALUE; // literals
  }

  /** Resolves a variable; reports unknown ones (with a did-you-mean) and objects printed as values. */
  private path(path: PathExpression, scope: Scope, { output }: { output: boolean }): Shape {
    if (!this.known) return ANY;
    const root = this.known.root;
    let base: Shape;
    let parts = path.parts;
    let prefix = '';
    if (path.data) {
      const [name, ...rest] = parts;
      if (name === 'root') {
        base = root;
        parts = rest;
        prefix = '@root.';
      } else if (name !== undefined && ['index', 'key', 'first', 'last'].includes(name) && rest.length === 0) {
        if (!scope.inEach) this.issue(`@${name} exists only inside {{#each}}`, path);
        return VALUE;
      } else {
        this.issue(
          `unknown variable "${path.original}" (data variables: @root, and @index, @key, @first, @last inside {{#each}})`,
          path,
        );
        return ANY;
      }
    } else {
      const params =
        !path.depth && !scoped(path) ? scope.blockParams.findLast((f) => f.has(parts[0] ?? '')) : undefined;
      if (params) {
        base = params.get(parts[0]!)!;
        prefix = `${parts[0]}.`;
        parts = parts.slice(1);
      } else {
        const index = scope.contexts.length - 1 - path.depth;
        if (index < 0) {
          this.issue(`"${path.original}" goes above the template's root`, path);
          return ANY;
        }
        base = scope.contexts[index]!;
        prefix = `${'../'.repeat(path.depth)}${scoped(path) && parts.length > 0 ? 'this.' : ''}`;
      }
    }
    let shape = base;
    for (let i = 0; i < parts.length; i++) {
      if (shape.kind === 'any') return ANY;
      const part = parts[i]!;
      const child = shape.kind === 'object' ? shape.fields.get(part) : undefined;
      if (!child) {
        const candidates = [...walkShape(base)].map(([p]) => prefix + formatPath(p));
        const hint = suggest(prefix + parts.join('.'), candidates);
        const parent = formatPath(parts.slice(0, i));
        const why =
          shape.kind === 'value' && i > 0
            ? ` (${prefix}${parent} is a value, it has no fields)`
            : hint
              ? ` (did you mean ${hint}?)`
              : '';
        this.issue(`unknown variable "${path.original}"${why}`, path);
        return ANY;
      }
      shape = child;
    }
    if (output && shape.kind === 'object' && !this.objectOutputOk) {
      const first = [...walkShape(shape)].find(([, s]) => s.kind === 'value');
      const example = first ? ` (e.g. {{${prefix}${formatPath([...parts, ...first[0]])}}})` : '';
      this.issue(`"${path.original || 'this'}" is an object, not a value: print one of its fields${example}`, path);
    }
    return shape;
  }
}

function describe(node: Expression): string {
  if (node.type === 'PathExpression') return (node as PathExpression).original || 'this';
  if (node.type === 'SubExpression') return `(${describe((node as hbs.AST.SubExpression).path)} …)`;
  return String((node as Expression & { original?: unknown }).original ?? node.type);
}

const TOKEN_NAMES: Record<string, string> = {
  EOF: 'end of the template',
  ID: 'name',
  STRING: 'string',
  NUMBER: 'number',
  BOOLEAN: 'true/false',
  UNDEFINED: 'undefined',
  NULL: 'null',
  DATA: '@variable',
  SEP: '"." or "/"',
  OPEN_SEXPR: '"("',
  CLOSE_SEXPR: '")"',
  CLOSE: '"}}"',
  CLOSE_UNESCAPED: '"}}}"',
  CLOSE_RAW_BLOCK: '"}}}}"',
  OPEN_ENDBLOCK: '"{{/"',
  OPEN_BLOCK_PARAMS: '"as |"',
  CLOSE_BLOCK_PARAMS: '"|"',
  EQUALS: '"="',
  INVALID: 'character',
  INVERSE: '"{{else}}"',
  OPEN: '"{{"',
  OPEN_BLOCK: '"{{#"',
  OPEN_UNESCAPED: '"{{{"',
  OPEN_PARTIAL: '"{{>"',
  CONTENT: 'text',
};

/** A Handlebars parse failure as one readable line, with the position of the offending token. */
function syntaxError(err: unknown, template: string): string {
  const e = err as Error & { lineNumber?: number; column?: number };
  const message = String(e?.message ?? err);
  // Block mismatches and the like are Handlebars Exceptions that carry their position.
  if (typeof e.lineNumber === 'number') {
    return `syntax error at line ${e.lineNumber}, column ${(e.column ?? 0) + 1}: ${message.replace(/ - \d+:\d+$/, '')}`;
  }
  // Parser errors: the shared jison lexer still holds the offending token's location (parsing is synchronous).
  const lexer = (
    Handlebars as unknown as { Parser?: { lexer?: { yylloc?: { first_line: number; first_column: number } } } }
  ).Parser?.lexer;
  const loc = lexer?.yylloc;
  const lineMatch = /on line (\d+)/.exec(message);
  const line = loc?.first_line ?? (lineMatch ? Number(lineMatch[1]) : undefined);
  const where = line !== undefined ? ` at line ${line}${loc ? `, column ${loc.first_column + 1}` : ''}` : '';
  const m = /Expecting (.+), got '([^']+)'/.exec(message);
  if (!m) return `syntax error${where}: ${message.split('\n').pop()}`;
  const got = m[2]!;
  const expected = [...new Set(m[1]!.split(', ').map((t) => t.replace(/'/g, '')))];
  let detail: string;
  if (got === 'EOF' && expected.includes('OPEN_ENDBLOCK'))
    detail = 'the template ends inside a block: a {{/…}} is missing';
  else if (got === 'OPEN_ENDBLOCK') detail = 'a {{/…}} closes a block that was never opened';
  else if (got === 'NUMBER' && expected.includes('ID'))
    detail = 'unexpected number: write a numeric path segment in brackets, e.g. state.[12].metric';
  else {
    const gotText =
      got === 'INVALID' && loc && line !== undefined
        ? `${TOKEN_NAMES.INVALID} (${JSON.stringify(template.split('\n')[line - 1]?.slice(loc.first_column, loc.first_column + 1) ?? '')})`
        : (TOKEN_NAMES[got] ?? got);
    const wanted = expected.length <= 6 ? `; expected ${expected.map((t) => TOKEN_NAMES[t] ?? t).join(', ')}` : '';
    detail = `unexpected ${gotText}${wanted}`;
  }
  return `syntax error${where}: ${detail}`;
}

type Parsed = { ast: Program } | { error: string };
function parse(template: string): Parsed {
  try {
    return { ast: Handlebars.parse(template) };
  } catch (err) {
    return { error: syntaxError(err, template) };
  }
}

const ROOT_SCOPE = (known: KnownVariables | undefined): Scope => ({
  contexts: [known?.root ?? ANY],
  blockParams: [],
  inEach: false,
});

function validateAst(ast: Program, known: KnownVariables | undefined, objectOutputOk = false): string[] {
  const validator = new Validator(known, objectOutputOk);
  validator.program(ast, ROOT_SCOPE(known));
  return validator.issues;
}

/**
 * Every problem of a template: syntax errors, unknown variables (with a did-you-mean), unknown or misused helpers,
 * partials and decorators. [] when it is valid.
 */
export function validateTemplate(template: string, known: KnownVariables): string[] {
  if (typeof template !== 'string') return ['must be a string'];
  const parsed = parse(template);
  return 'error' in parsed ? [parsed.error] : validateAst(parsed.ast, known);
}

// ---------------------------------------------------------------------------------------------------------------------
// Rendering

export type Escaping = 'markdownv2' | 'html' | 'none';

/** Telegram MarkdownV2: every special character, and the backslash itself, gets a backslash (valid in any entity). */
// The destination's own escapers (one definition, in the Telegram sender).
export { escapeMarkdownV2, escapeTelegramHtml as escapeHtml };

/** Telegram's parse_mode → the escaping its messages need. */
export function escapingForParseMode(parseMode: 'MarkdownV2' | 'HTML' | 'plain' | undefined): Escaping {
  return parseMode === 'HTML' ? 'html' : parseMode === 'plain' ? 'none' : 'markdownv2';
}

const ESCAPERS: Record<Escaping, (text: string) => string> = {
  markdownv2: escapeMarkdownV2,
  html: escapeTelegramHtml,
  none: (t) => t,
};

/** Handlebars' escapeExpression contract (null/undefined → '', SafeString as is), with the destination's escaping. */
function escapeExpressionFor(escaping: Escaping): (value: unknown) => string {
  const escape = ESCAPERS[escaping];
  return (value) => {
    if (value === null || value === undefined) return '';
    if (typeof value === 'object' && typeof (value as { toHTML?: unknown }).toHTML === 'function')
      return String((value as { toHTML(): unknown }).toHTML());
    return escape(String(value));
  };
}

type HandlebarsEnv = typeof Handlebars;

function createEnvironment(escaping: Escaping): HandlebarsEnv {
  const env = Handlebars.create();
  const escapeExpression = escapeExpressionFor(escaping);
  (env as { escapeExpression: unknown }).escapeExpression = escapeExpression;
  // Compiled code calls container.escapeExpression, which the runtime fills from its module-level Utils — not from
  // the environment. Set it on the container of every template this environment builds, before the template runs.
  const template = env.template.bind(env);
  env.template = ((spec: { main: (container: { escapeExpression: unknown }, ...rest: unknown[]) => unknown }) => {
    const main = spec.main;
    spec.main = function (this: unknown, container, ...rest) {
      container.escapeExpression = escapeExpression;
      return main.call(this, container, ...rest);
    };
    return template(spec as never);
  }) as HandlebarsEnv['template'];
  env.unregisterHelper('lookup');
  env.unregisterHelper('log');
  for (const [name, fn] of Object.entries(HELPER_FUNCTIONS)) env.registerHelper(name, fn);
  return env;
}

const ENVIRONMENTS: Record<Escaping, HandlebarsEnv> = {
  markdownv2: createEnvironment('markdownv2'),
  html: createEnvironment('html'),
  none: createEnvironment('none'),
};

const COMPILE_OPTIONS: CompileOptions = {
  strict: true,
  knownHelpersOnly: true,
  knownHelpers: {
    lookup: false,
    log: false,
    ...Object.fromEntries(Object.keys(HELPER_FUNCTIONS).map((h) => [h, true])),
  },
};

/** A template that cannot be compiled or rendered. `issues` lists the problems (as validateTemplate reports them). */
export class TemplateError extends Error {
  constructor(
    message: string,
    readonly issues: string[] = [message],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TemplateError';
  }
}

interface Compiled {
  ast: Program;
  render: HandlebarsTemplateDelegate;
}

export const TEMPLATE_CACHE_SIZE = 500;
const cache = new Map<string, Compiled>();

function compiled(template: string, escaping: Escaping): Compiled {
  const key = `${escaping}\u0000${template}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const parsed = parse(template);
  if ('error' in parsed) throw new TemplateError(`invalid template: ${parsed.error}`, [parsed.error]);
  // Structure only (helpers, partials, decorators): variables depend on the trigger, and strict mode checks them.
  const issues = validateAst(parsed.ast, undefined);
  if (issues.length > 0) throw new TemplateError(`invalid template: ${issues.join('; ')}`, issues);
  const entry: Compiled = { ast: parsed.ast, render: ENVIRONMENTS[escaping].compile(parsed.ast, COMPILE_OPTIONS) };
  cache.set(key, entry);
  if (cache.size > TEMPLATE_CACHE_SIZE) cache.delete(cache.keys().next().value!);
  return entry;
}

/** Clears the compiled-template cache (tests). */
export function clearTemplateCache(): void {
  cache.clear();
}

/** How many compiled templates the cache holds (at most TEMPLATE_CACHE_SIZE). */
export function templateCacheSize(): number {
  return cache.size;
}

function renderFailure(err: unknown, template: string, context: TemplateContext): TemplateError {
  if (err instanceof TemplateError) return err;
  // Name the problem the way validation does (e.g. a condition key that no longer exists).
  const issues = validateTemplate(template, knownVariables(Object.keys(context.state ?? {})));
  if (issues.length > 0)
    return new TemplateError(`template cannot be rendered: ${issues.join('; ')}`, issues, { cause: err });
  const e = err as Error & { lineNumber?: number; column?: number };
  const where = typeof e.lineNumber === 'number' ? ` at line ${e.lineNumber}, column ${(e.column ?? 0) + 1}` : '';
  const message = `template cannot be rendered${where}: ${String(e?.message ?? err).replace(/ - \d+:\d+$/, '')}`;
  return new TemplateError(message, [message], { cause: err });
}

/**
 * Renders a template for a destination: `{{path}}` values are escaped for it (MarkdownV2, HTML or none), `{{{path}}}`
 * and the literal text are not. Throws TemplateError for invalid templates and missing variables.
 */
export function renderTemplate(template: string, context: TemplateContext, escaping: Escaping): string {
  if (!Object.prototype.hasOwnProperty.call(ESCAPERS, escaping))
    throw new TypeError(`unknown escaping ${String(escaping)}`);
  try {
    return compiled(template, escaping).render(context);
  } catch (err) {
    throw renderFailure(err, template, context);
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// JSON templates (REST bodies, MCP arguments)

function jsonPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Why a value is not JSON, or undefined when it is. */
function notJson(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `not a JSON value (${value})`;
    case 'object':
      return value === null || Array.isArray(value) || isPlainObject(value)
        ? undefined
        : `not a JSON value (${value.constructor?.name ?? 'object'})`;
    default:
      return `not a JSON value (${typeof value})`;
  }
}

/** Walks a JSON template; `leaf` sees every string. Reports non-JSON values and cycles through `problem`. */
function walkJson(
  value: unknown,
  path: string,
  leaf: (text: string, path: string) => unknown,
  problem: (message: string) => void,
  seen: Set<object> = new Set(),
): unknown {
  const bad = notJson(value);
  if (bad) {
    problem(`${path}: ${bad}`);
    return undefined;
  }
  if (typeof value === 'string') return leaf(value, path);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) {
    problem(`${path}: circular reference`);
    return undefined;
  }
  seen.add(value);
  let out: unknown;
  if (Array.isArray(value)) {
    out = value.map((item, i) => walkJson(item, jsonPath(path, i), leaf, problem, seen));
  } else {
    const obj: Record<string, unknown> = {};
    for (const key of Object.keys(value))
      setOwn(obj, key, walkJson((value as Record<string, unknown>)[key], jsonPath(path, key), leaf, problem, seen));
    out = obj;
  }
  seen.delete(value);
  return out;
}

/** The path of a string that is exactly one `{{path}}` / `{{{path}}}` (no helper, no text around it). */
function solePath(ast: Program): PathExpression | undefined {
  if (ast.body.length !== 1) return undefined;
  const node = ast.body[0] as hbs.AST.MustacheStatement;
  if (node.type !== 'MustacheStatement' || node.params.length > 0 || (node.hash?.pairs.length ?? 0) > 0)
    return undefined;
  if (node.path.type !== 'PathExpression') return undefined;
  const path = node.path as PathExpression;
  if (simple(path) && isHelper(path.parts[0]!)) return undefined;
  return path;
}

/** Looks a root-level path up in the context (own properties only); `missing` when a segment does not exist. */
function lookup(context: TemplateContext, path: PathExpression): { value: unknown } | 'missing' | 'unsupported' {
  let parts = path.parts;
  if (path.data) {
    if (parts[0] !== 'root') return 'unsupported';
    parts = parts.slice(1);
  } else if (path.depth > 0) {
    return 'unsupported';
  }
  let value: unknown = context;
  for (const part of parts) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, part))
      return 'missing';
    value = (value as Record<string, unknown>)[part];
  }
  return { value };
}

const cloneJson = (value: unknown): unknown =>
  value !== null && typeof value === 'object' ? JSON.parse(JSON.stringify(value)) : value;

function renderJsonString(text: string, context: TemplateContext): unknown {
  if (!text.includes('{{')) return text;
  const { ast } = compiled(text, 'none');
  const path = solePath(ast);
  if (path) {
    const found = lookup(context, path);
    // A missing variable falls through to renderTemplate, which explains it.
    if (typeof found === 'object' && typeof found.value !== 'string' && found.value !== undefined)
      return cloneJson(found.value);
  }
  return renderTemplate(text, context, 'none');
}

/**
 * Renders a JSON template: every string leaf is a template rendered without escaping (JSON.stringify escapes later);
 * a leaf that is exactly `{{path}}` yields the variable's own JSON value (number, boolean, null, or an object such as
 * `{{event}}`). Object keys are literal. Throws TemplateError (with the leaf's path) or TypeError for non-JSON input.
 */
export function renderJsonTemplate(template: unknown, context: TemplateContext, name = 'body_template'): unknown {
  const problems: string[] = [];
  const out = walkJson(
    template,
    name,
    (text, path) => {
      try {
        return renderJsonString(text, context);
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        throw new TemplateError(
          `${path}: ${err.message}`,
          err.issues.map((i) => `${path}: ${i}`),
          { cause: err },
        );
      }
    },
    (message) => problems.push(message),
  );
  if (problems.length > 0) throw new TypeError(problems.join('; '));
  return out;
}

/** Every problem of a JSON template, each prefixed with its leaf's path (`body_template.text: unknown variable …`). */
export function validateJsonTemplate(template: unknown, known: KnownVariables, name = 'body_template'): string[] {
  const issues: string[] = [];
  walkJson(
    template,
    name,
    (text, path) => {
      if (!text.includes('{{')) return text;
      const parsed = parse(text);
      const found =
        'error' in parsed ? [parsed.error] : validateAst(parsed.ast, known, solePath(parsed.ast) !== undefined);
      for (const issue of found) issues.push(`${path}: ${issue}`);
      return text;
    },
    (message) => issues.push(message),
  );
  return issues;
}

// ---------------------------------------------------------------------------------------------------------------------
// Default webhook body

export interface DefaultWebhookBody {
  type: 'erc8004.trigger.fired';
  kind: TemplateContext['kind'];
  fired_at: string;
  trigger: TemplateContext['trigger'];
  agent: TemplateContext['agent'];
  event: TemplateContext['event'];
  state: TemplateContext['state'];
}

/** The body a REST action sends without a body_template: the whole firing (a copy of the context). */
export function defaultWebhookBody(context: TemplateContext): DefaultWebhookBody {
  const copy = cloneJson(context) as TemplateContext;
  return {
    type: 'erc8004.trigger.fired',
    kind: copy.kind,
    fired_at: copy.fired_at,
    trigger: copy.trigger,
    agent: copy.agent,
    event: copy.event,
    state: copy.state,
  };
}

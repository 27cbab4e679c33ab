/**
 * Trigger definitions: what a trigger watches, its conditions (the seed's trigger_conditions rows) and its settings,
 * validated with a precise message per field. Pure and dependency-free: imported by workflows too, where every module is
 * instantiated once per cached workflow (a schema library there cost memory and CPU for each of them).
 *
 * Logic: conditions in the same `config.group` are OR-ed, groups are AND-ed, and `config.negate` inverts one
 * condition — a conjunction of disjunctions, which can express any boolean formula while each row of
 * trigger_conditions keeps its seed meaning (rows without a group are simply AND-ed).
 */
import { parseDecimal } from './decimal.js';

export const REGISTRIES = ['identity', 'reputation', 'validation'] as const;
export type Registry = (typeof REGISTRIES)[number];

export const EVENT_TYPES_BY_REGISTRY: Record<Registry, readonly string[]> = {
  identity: ['Registered', 'Transfer', 'MetadataSet', 'URIUpdated'],
  reputation: ['NewFeedback', 'FeedbackRevoked', 'ResponseAppended'],
  validation: ['ValidationRequest', 'ValidationResponse'],
};

export const STATELESS_TYPES = [
  'event_type_equals',
  'agent_id_equals',
  'tag_equals',
  'validator_whitelist',
  'file_uri_exists',
  'score_threshold',
] as const;
export const STATEFUL_TYPES = ['ema_threshold', 'rate_limit'] as const;
export const CONDITION_TYPES = [...STATELESS_TYPES, ...STATEFUL_TYPES, 'absence'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const COMPARISONS = ['<', '<=', '>', '>=', '=', '!='] as const;

/** Registry ABI versions an event can come from (events.abi_version, set by the deployment that emitted it). */
export const ABI_VERSIONS = ['v1.0', 'v0.4'] as const;
export type AbiVersion = (typeof ABI_VERSIONS)[number];
/**
 * The series a stateful condition (EMA, rate) counts by default: v1.0 only. A v0.4 `score` (0–100) is another scale and
 * another registry; a condition opts in with `config.abi_versions` (README, "Trigger semantics").
 */
export const DEFAULT_SERIES_ABI_VERSIONS: readonly AbiVersion[] = ['v1.0'];
export type Comparison = (typeof COMPARISONS)[number];

/** '30s', '5m', '1h', '7d' → seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return n * { s: 1, m: 60, h: 3_600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

export interface ConditionRow {
  /** Stable key of the condition (trigger_conditions.id); state is kept per key. */
  key: string;
  condition_type: ConditionType;
  field?: string;
  operator?: string;
  value?: string;
  config?: Record<string, unknown> | null;
}
type CheckedRow = Required<ConditionRow>;

export interface TriggerSettings {
  /** Minimum block time between two firings for the same agent. */
  cooldown_seconds: number;
  /** Fire when the conditions become true, not on every matching event; re-arm once they have been false. */
  hysteresis: boolean;
  /** Also see events ingested before the trigger was created, from this block on. */
  start_block: number | null;
}
const SETTINGS_DEFAULTS: TriggerSettings = { cooldown_seconds: 0, hysteresis: false, start_block: null };

export interface Condition {
  key: string;
  type: ConditionType;
  field: string;
  operator: string;
  value: string;
  group: string | undefined;
  negate: boolean;
  /** Parsed parameters, per type. */
  params: ConditionParams;
}

export type ConditionParams =
  | { kind: 'event_type'; op: '=' | '!=' | 'in'; types: string[] }
  | { kind: 'agent_id'; op: '=' | '!=' | 'in'; ids: string[] }
  | { kind: 'tag'; field: 'tag1' | 'tag2' | 'tag' | 'any'; op: '=' | '!='; tag: string }
  | { kind: 'validator'; op: 'in' | 'not_in'; addresses: string[] }
  | { kind: 'file_uri'; exists: boolean }
  | { kind: 'score'; field: 'value' | 'response'; op: Comparison; threshold: { int: bigint; decimals: number } }
  | {
      kind: 'ema';
      alpha: number;
      op: Comparison;
      threshold: number;
      rearm: number | undefined;
      abiVersions?: AbiVersion[];
    }
  | {
      kind: 'rate';
      windowSeconds: number;
      op: Comparison;
      threshold: number;
      resetOnTrigger: boolean;
      abiVersions?: AbiVersion[];
    }
  | { kind: 'absence'; withinSeconds: number };

export interface TriggerDefinition {
  id: string;
  organizationId: string;
  name: string;
  /** null: every configured chain. */
  chainId: number | null;
  registry: Registry;
  enabled: boolean;
  settings: TriggerSettings;
  conditions: Condition[];
}

export interface TriggerDefinitionInput {
  id: string;
  organizationId: string;
  name: string;
  chainId: number | null;
  registry: Registry;
  enabled?: boolean;
  settings?: Partial<TriggerSettings>;
  conditions: ConditionRow[];
}

type Issue = { path: string; message: string };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isWhole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

function checkText(value: unknown, path: string, max: number, issues: Issue[], fallback?: string): string | undefined {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string') return void issues.push({ path, message: 'must be text' });
  if (value.length > max) return void issues.push({ path, message: `must be at most ${max} characters` });
  return value;
}

/** A condition row's shape (types, lengths, defaults); its meaning is checked by parseParams. */
function checkRow(raw: unknown, path: string, issues: Issue[]): CheckedRow | undefined {
  if (!isObject(raw)) return void issues.push({ path, message: 'must be a condition object' });
  const before = issues.length;
  const key = checkText(raw.key, `${path}.key`, 64, issues);
  if (key === '') issues.push({ path: `${path}.key`, message: 'must not be empty' });
  const type = raw.condition_type;
  if (!(CONDITION_TYPES as readonly unknown[]).includes(type))
    issues.push({ path: `${path}.condition_type`, message: `must be one of ${CONDITION_TYPES.join(', ')}` });
  const field = checkText(raw.field, `${path}.field`, 64, issues, '');
  const operator = checkText(raw.operator, `${path}.operator`, 16, issues, '=');
  const value = checkText(raw.value, `${path}.value`, 16_384, issues, '');
  const config = raw.config === undefined || raw.config === null ? null : isObject(raw.config) ? raw.config : undefined;
  if (config === undefined) issues.push({ path: `${path}.config`, message: 'must be an object or null' });
  if (issues.length > before) return undefined;
  return {
    key: key!,
    condition_type: type as ConditionType,
    field: field!,
    operator: operator!,
    value: value!,
    config: config!,
  };
}

function checkSettings(raw: unknown, issues: Issue[]): TriggerSettings | undefined {
  if (raw === undefined) return { ...SETTINGS_DEFAULTS };
  if (!isObject(raw)) return void issues.push({ path: 'settings', message: 'must be an object' });
  const before = issues.length;
  const unknown = Object.keys(raw).filter((k) => !(k in SETTINGS_DEFAULTS));
  if (unknown.length > 0)
    issues.push({
      path: 'settings',
      message: `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${unknown.map((k) => JSON.stringify(k)).join(', ')}`,
    });
  const settings = { ...SETTINGS_DEFAULTS, ...raw } as TriggerSettings;
  if (
    !isWhole(settings.cooldown_seconds) ||
    settings.cooldown_seconds < 0 ||
    settings.cooldown_seconds > 365 * 86_400
  ) {
    issues.push({ path: 'settings.cooldown_seconds', message: 'must be a whole number of seconds from 0 to 31536000' });
  }
  if (typeof settings.hysteresis !== 'boolean')
    issues.push({ path: 'settings.hysteresis', message: 'must be true or false' });
  if (settings.start_block !== null && (!isWhole(settings.start_block) || settings.start_block < 0)) {
    issues.push({ path: 'settings.start_block', message: 'must be a block number (0 or more) or null' });
  }
  return issues.length > before
    ? undefined
    : {
        cooldown_seconds: settings.cooldown_seconds,
        hysteresis: settings.hysteresis,
        start_block: settings.start_block,
      };
}

export class DefinitionError extends Error {
  constructor(readonly issues: { path: string; message: string }[]) {
    super(`invalid trigger definition: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'DefinitionError';
  }
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function parseParams(
  row: CheckedRow,
  registry: Registry,
  issue: (field: string, message: string) => void,
): ConditionParams | undefined {
  const cfg = row.config ?? {};
  const op = row.operator.trim();
  const comparison = (): Comparison | undefined => {
    if ((COMPARISONS as readonly string[]).includes(op)) return op as Comparison;
    issue('operator', `must be one of ${COMPARISONS.join(' ')}`);
    return undefined;
  };
  // Which ABI versions a stateful condition counts; undefined is the default (kept out of params, so that the
  // fingerprint, and the state, of conditions saved before this option existed stay the same).
  let abiVersions: AbiVersion[] | undefined;
  if (cfg.abi_versions !== undefined) {
    if (row.condition_type !== 'ema_threshold' && row.condition_type !== 'rate_limit')
      return void issue(
        'config.abi_versions',
        'applies to ema_threshold and rate_limit (the series a condition counts)',
      );
    const listed = cfg.abi_versions;
    if (
      !Array.isArray(listed) ||
      listed.length === 0 ||
      listed.some((v) => !(ABI_VERSIONS as readonly unknown[]).includes(v)) ||
      new Set(listed).size !== listed.length
    ) {
      return void issue(
        'config.abi_versions',
        `must list distinct ABI versions among ${ABI_VERSIONS.join(', ')}, e.g. ["v1.0", "v0.4"]`,
      );
    }
    const sorted = ABI_VERSIONS.filter((v) => listed.includes(v));
    abiVersions = sorted.join() === DEFAULT_SERIES_ABI_VERSIONS.join() ? undefined : sorted;
  }
  const series = abiVersions ? { abiVersions } : {};
  switch (row.condition_type) {
    case 'event_type_equals': {
      if (op !== '=' && op !== '!=' && op !== 'in') return void issue('operator', "must be '=', '!=' or 'in'");
      const types = op === 'in' ? list(row.value) : [row.value.trim()];
      const allowed = EVENT_TYPES_BY_REGISTRY[registry];
      const wrong = types.filter((t) => !allowed.includes(t));
      if (types.length === 0 || wrong.length > 0)
        return void issue(
          'value',
          `must name ${registry} events (${allowed.join(', ')}); got ${JSON.stringify(row.value)}`,
        );
      return { kind: 'event_type', op, types };
    }
    case 'agent_id_equals': {
      if (op !== '=' && op !== '!=' && op !== 'in') return void issue('operator', "must be '=', '!=' or 'in'");
      const ids = op === 'in' ? list(row.value) : [row.value.trim()];
      if (ids.length === 0 || ids.some((id) => !/^\d{1,78}$/.test(id) || BigInt(id) >= 2n ** 256n)) {
        return void issue('value', 'must be agent ids: whole numbers from 0 to 2^256-1 (comma-separated with in)');
      }
      return { kind: 'agent_id', op, ids: ids.map((id) => BigInt(id).toString()) };
    }
    case 'tag_equals': {
      const field = row.field || 'any';
      if (!['tag1', 'tag2', 'tag', 'any'].includes(field))
        return void issue('field', "must be 'tag1', 'tag2', 'tag' or 'any'");
      if (op !== '=' && op !== '!=') return void issue('operator', "must be '=' or '!='");
      return { kind: 'tag', field: field as 'tag1' | 'tag2' | 'tag' | 'any', op, tag: row.value };
    }
    case 'validator_whitelist': {
      const raw = Array.isArray(cfg.addresses) ? (cfg.addresses as unknown[]).map(String) : list(row.value);
      if (raw.length === 0 || raw.some((a) => !ADDRESS.test(a)))
        return void issue('value', 'must list 0x-prefixed 20-byte addresses (comma-separated or config.addresses)');
      const o = op === '=' || op === '' ? 'in' : op;
      if (o !== 'in' && o !== 'not_in') return void issue('operator', "must be 'in' or 'not_in'");
      return { kind: 'validator', op: o, addresses: raw.map((a) => a.toLowerCase()) };
    }
    case 'file_uri_exists': {
      const v = row.value.trim() || 'true';
      if (v !== 'true' && v !== 'false') return void issue('value', "must be 'true' or 'false'");
      return { kind: 'file_uri', exists: v === 'true' };
    }
    case 'score_threshold': {
      const field = row.field || 'value';
      if (field !== 'value' && field !== 'response')
        return void issue('field', "must be 'value' (feedback) or 'response' (validation, 0-100)");
      const c = comparison();
      const threshold = parseDecimal(row.value);
      if (!threshold)
        return void issue('value', `must be a decimal number such as 60 or -1.25; got ${JSON.stringify(row.value)}`);
      return c && { kind: 'score', field, op: c, threshold };
    }
    case 'ema_threshold': {
      if (registry !== 'reputation')
        return void issue(
          'condition_type',
          'ema_threshold averages feedback values: it applies to the reputation registry',
        );
      const c = comparison();
      const threshold = Number(row.value);
      if (row.value.trim() === '' || !Number.isFinite(threshold)) return void issue('value', 'must be a number');
      let alpha: number | undefined;
      if (cfg.alpha !== undefined) {
        alpha = Number(cfg.alpha);
        if (!(alpha > 0 && alpha <= 1)) return void issue('config.alpha', 'must be > 0 and <= 1');
      } else if (cfg.window_size !== undefined) {
        const w = Number(cfg.window_size);
        if (!Number.isInteger(w) || w < 1 || w > 100_000)
          return void issue('config.window_size', 'must be a whole number from 1 to 100000');
        alpha = 2 / (w + 1);
      } else return void issue('config', 'needs alpha (0 < alpha <= 1) or window_size (alpha = 2/(window_size+1))');
      let rearm: number | undefined;
      if (cfg.rearm_value !== undefined) {
        rearm = Number(cfg.rearm_value);
        if (!Number.isFinite(rearm)) return void issue('config.rearm_value', 'must be a number');
        if (c === '=' || c === '!=')
          return void issue('config.rearm_value', 'needs an ordering operator (<, <=, > or >=)');
        if (c && ((c.startsWith('<') && rearm < threshold) || (c.startsWith('>') && rearm > threshold))) {
          return void issue(
            'config.rearm_value',
            `must be on the far side of the threshold (not ${c === '<' || c === '<=' ? 'below' : 'above'} ${threshold})`,
          );
        }
      }
      return c && { kind: 'ema', alpha, op: c, threshold, rearm, ...series };
    }
    case 'rate_limit': {
      const c = comparison();
      const threshold = Number(row.value);
      if (!/^\s*\d+\s*$/.test(row.value) || !Number.isSafeInteger(threshold))
        return void issue('value', 'must be a whole number of events');
      const windowSeconds = typeof cfg.time_window === 'string' ? parseDuration(cfg.time_window) : undefined;
      if (!windowSeconds) return void issue('config.time_window', "must be a duration like '30s', '5m', '1h' or '7d'");
      if (cfg.reset_on_trigger !== undefined && typeof cfg.reset_on_trigger !== 'boolean')
        return void issue('config.reset_on_trigger', 'must be true or false');
      return (
        c && { kind: 'rate', windowSeconds, op: c, threshold, resetOnTrigger: cfg.reset_on_trigger === true, ...series }
      );
    }
    case 'absence': {
      if (registry !== 'validation')
        return void issue(
          'condition_type',
          'absence applies to the validation registry (a ValidationRequest without a ValidationResponse)',
        );
      const withinSeconds = typeof cfg.within === 'string' ? parseDuration(cfg.within) : undefined;
      if (!withinSeconds) return void issue('config.within', "must be a duration like '30s', '5m', '1h' or '24h'");
      return { kind: 'absence', withinSeconds };
    }
  }
}

/** Validates and compiles a definition; throws DefinitionError listing every problem with its path. */
export function compileDefinition(input: TriggerDefinitionInput): TriggerDefinition {
  const raw: Record<string, unknown> = isObject(input) ? input : {};
  const issues: Issue[] = [];
  if (!isObject(input)) issues.push({ path: '', message: 'must be a trigger definition object' });
  for (const field of ['id', 'organizationId'] as const) {
    if (typeof raw[field] !== 'string' || raw[field] === '')
      issues.push({ path: field, message: 'must be a non-empty string' });
  }
  if (typeof raw.name !== 'string') issues.push({ path: 'name', message: 'must be text' });
  else if (raw.name.length === 0) issues.push({ path: 'name', message: 'must not be empty' });
  else if (raw.name.length > 200) issues.push({ path: 'name', message: 'must be at most 200 characters' });
  if (raw.chainId !== null && (!isWhole(raw.chainId) || raw.chainId <= 0))
    issues.push({ path: 'chainId', message: 'must be a positive whole number, or null for every chain' });
  const registryOk = (REGISTRIES as readonly unknown[]).includes(raw.registry);
  if (!registryOk) issues.push({ path: 'registry', message: `must be one of ${REGISTRIES.join(', ')}` });
  if (raw.enabled !== undefined && typeof raw.enabled !== 'boolean')
    issues.push({ path: 'enabled', message: 'must be true or false' });
  const settings = checkSettings(raw.settings, issues);
  const rawRows = Array.isArray(raw.conditions) ? raw.conditions : undefined;
  if (!rawRows) issues.push({ path: 'conditions', message: 'must be a list' });
  else if (rawRows.length > 32) issues.push({ path: 'conditions', message: 'at most 32 conditions' });
  const rows = (rawRows ?? []).map((row, index) => checkRow(row, `conditions.${index}`, issues));
  if (issues.length > 0) {
    // Also check the conditions that are well-formed rows, so that one answer lists every problem.
    if (registryOk) {
      rows.forEach(
        (row, index) =>
          row &&
          parseParams(row, raw.registry as Registry, (field, message) =>
            issues.push({ path: `conditions.${index}.${field}`, message }),
          ),
      );
    }
    throw new DefinitionError(issues);
  }
  const d = {
    ...(input as Required<TriggerDefinitionInput>),
    enabled: input.enabled ?? true,
    settings: settings!,
    conditions: rows as CheckedRow[],
  };
  const conditions: Condition[] = [];
  const keys = new Set<string>();
  d.conditions.forEach((row, index) => {
    const issue = (field: string, message: string) => issues.push({ path: `conditions.${index}.${field}`, message });
    if (keys.has(row.key)) issue('key', `duplicate condition key ${row.key}`);
    keys.add(row.key);
    const cfg = row.config ?? {};
    if (cfg.group !== undefined && (typeof cfg.group !== 'string' || cfg.group.length === 0 || cfg.group.length > 64))
      issue('config.group', 'must be a non-empty name');
    if (cfg.negate !== undefined && typeof cfg.negate !== 'boolean') issue('config.negate', 'must be true or false');
    const params = parseParams(row, d.registry, issue);
    if (params) {
      conditions.push({
        key: row.key,
        type: row.condition_type,
        field: row.field,
        operator: row.operator,
        value: row.value,
        group: typeof cfg.group === 'string' ? cfg.group : undefined,
        negate: cfg.negate === true,
        params,
      });
    }
  });
  const absence = conditions.filter((c) => c.params.kind === 'absence');
  if (absence.length > 1) issues.push({ path: 'conditions', message: 'at most one absence condition' });
  if (absence.length === 1 && (absence[0]!.group || absence[0]!.negate))
    issues.push({ path: 'conditions', message: 'an absence condition cannot be grouped or negated' });
  if (absence.length === 1 && conditions.some((c) => c.params.kind === 'ema' || c.params.kind === 'rate')) {
    issues.push({ path: 'conditions', message: 'an absence condition cannot be combined with stateful conditions' });
  }
  if (issues.length > 0) throw new DefinitionError(issues);
  return {
    id: d.id,
    organizationId: d.organizationId,
    name: d.name,
    chainId: d.chainId,
    registry: d.registry,
    enabled: d.enabled,
    settings: d.settings,
    conditions,
  };
}

export function isStateful(c: Condition): boolean {
  return c.params.kind === 'ema' || c.params.kind === 'rate';
}

/** A fingerprint of a condition's parameters: state survives config edits that leave it unchanged. */
export function conditionFingerprint(c: Condition): string {
  return JSON.stringify([c.type, c.field, c.operator, c.value, c.params], (_k, v) =>
    typeof v === 'bigint' ? v.toString() : v,
  );
}

/** Static prefilters the relay can apply in SQL: event types and agent ids that any match requires. */
export function staticPrefilters(def: TriggerDefinition): { eventTypes: string[] | null; agentIds: string[] | null } {
  // Only ungrouped, non-negated conditions are requirements of every match.
  const required = def.conditions.filter((c) => !c.group && !c.negate);
  let eventTypes: string[] | null = null;
  let agentIds: string[] | null = null;
  for (const c of required) {
    if (c.params.kind === 'event_type' && c.params.op !== '!=') eventTypes = intersect(eventTypes, c.params.types);
    if (c.params.kind === 'agent_id' && c.params.op !== '!=') agentIds = intersect(agentIds, c.params.ids);
  }
  // An absence trigger must also hear the responses that cancel its timers.
  if (def.conditions.some((c) => c.params.kind === 'absence') && eventTypes)
    eventTypes = [...new Set([...eventTypes, 'ValidationResponse'])];
  return { eventTypes, agentIds };
}

function intersect(a: string[] | null, b: string[]): string[] {
  return a === null ? [...b] : a.filter((x) => b.includes(x));
}

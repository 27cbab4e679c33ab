/** Reading triggers for the API, always within one organization. Secrets in action configs are never returned. */
import { SecretBox } from '../secrets.js';
import { REDACTED_SECRET } from '../actions/action-secrets.js';
import type { Db } from '../db/pool.js';
import type { Row } from '../db/rows.js';
import type * as s from 'zapatos/schema';

export interface TriggerRecord {
  id: string;
  organizationId: string;
  name: string;
  description: string | null;
  chainId: number | null;
  registry: 'identity' | 'reputation' | 'validation';
  enabled: boolean;
  settings: Record<string, unknown>;
  conditions: {
    id: number;
    condition_type: string;
    field: string;
    operator: string;
    value: string;
    config: Record<string, unknown> | null;
  }[];
  actions: {
    id: number;
    action_type: 'telegram' | 'rest' | 'mcp';
    priority: number;
    config: Record<string, unknown>;
  }[];
  createdAt: string;
  updatedAt: string;
}

/** Replaces sealed secrets with a marker: they can be replaced, never read back. */
export function redactSecrets(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (typeof v === 'string' && SecretBox.isSealed(v)) out[k] = REDACTED_SECRET;
    else if (v && typeof v === 'object' && !Array.isArray(v)) out[k] = redactSecrets(v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

const SELECT = `
  SELECT t.id, t.organization_id, t.name, t.description, t.chain_id::float8 AS chain_id, t.registry, t.enabled, t.settings, t.created_at, t.updated_at,
    coalesce((SELECT json_agg(json_build_object('id', c.id, 'condition_type', c.condition_type, 'field', c.field, 'operator', c.operator,
      'value', c.value, 'config', c.config) ORDER BY c.id) FROM trigger_conditions c WHERE c.trigger_id = t.id), '[]') AS conditions,
    coalesce((SELECT json_agg(json_build_object('id', a.id, 'action_type', a.action_type, 'priority', a.priority, 'config', a.config)
      ORDER BY a.priority, a.id) FROM trigger_actions a WHERE a.trigger_id = t.id), '[]') AS actions
  FROM triggers t`;

// Named statements (read on every API request): prepared once per connection rather than planned each time, which
// cost as much Postgres time as running them.
const GET_SQL = `${SELECT} WHERE t.id = $1 AND t.organization_id = $2`;
const LIST_SQL = `${SELECT} WHERE t.organization_id = $1 AND ($2::boolean IS NULL OR t.enabled = $2)
       AND ($3::uuid IS NULL OR (t.created_at, t.id) < (SELECT created_at, id FROM triggers WHERE id = $3 AND organization_id = $1))
     ORDER BY t.created_at DESC, t.id DESC LIMIT $4`;

/** A row of SELECT: the trigger's columns, its conditions and actions as JSON (so ids are numbers). */
type TriggerRow = Row<
  s.triggers.Selectable,
  | 'id'
  | 'organization_id'
  | 'name'
  | 'description'
  | 'chain_id'
  | 'registry'
  | 'enabled'
  | 'settings'
  | 'created_at'
  | 'updated_at',
  { chain_id: number | null; registry: TriggerRecord['registry']; settings: Record<string, unknown> }
> & {
  conditions: Row<
    s.trigger_conditions.JSONSelectable,
    'id' | 'condition_type' | 'field' | 'operator' | 'value' | 'config',
    { config: Record<string, unknown> | null }
  >[];
  actions: Row<
    s.trigger_actions.JSONSelectable,
    'id' | 'action_type' | 'priority' | 'config',
    { action_type: TriggerRecord['actions'][number]['action_type']; config: Record<string, unknown> }
  >[];
};

function toRecord(r: TriggerRow): TriggerRecord {
  return {
    id: r.id,
    organizationId: r.organization_id,
    name: r.name,
    description: r.description,
    chainId: r.chain_id,
    registry: r.registry,
    enabled: r.enabled,
    settings: r.settings,
    conditions: r.conditions,
    actions: r.actions.map((a) => ({ ...a, config: redactSecrets(a.config) })),
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

export async function getTrigger(
  pool: Db,
  organizationId: string,
  triggerId: string,
): Promise<TriggerRecord | undefined> {
  const { rows } = await pool.query<TriggerRow>({
    name: 'get-trigger',
    text: GET_SQL,
    values: [triggerId, organizationId],
  });
  return rows[0] ? toRecord(rows[0]) : undefined;
}

/** Newest first; `cursor` is the id of the last trigger of the previous page. */
export async function listTriggers(
  pool: Db,
  organizationId: string,
  options: { limit: number; cursor?: string; enabled?: boolean },
) {
  const { rows } = await pool.query<TriggerRow>({
    name: 'list-triggers',
    text: LIST_SQL,
    values: [organizationId, options.enabled ?? null, options.cursor ?? null, options.limit + 1],
  });
  const items = rows.slice(0, options.limit).map(toRecord);
  return { items, nextCursor: rows.length > options.limit ? items[items.length - 1]!.id : null };
}

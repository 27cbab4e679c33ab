/** Triggers in Postgres: the definition rows (triggers, trigger_conditions, trigger_actions) as one unit. */
import type pg from 'pg';
import type * as s from 'zapatos/schema';
import type { Db } from '../db/pool.js';
import type { Row } from '../db/rows.js';
import {
  compileDefinition,
  DefinitionError,
  staticPrefilters,
  type ConditionRow,
  type Registry,
  type TriggerDefinitionInput,
  type TriggerSettings,
} from './definition.js';
import { validateActionConfig, type TelegramConfig } from '../actions/config.js';
import { chatVerificationHint, unverifiedChats } from '../actions/telegram-chats.js';
import { sealActionSecrets } from '../actions/action-secrets.js';
import { ensureWebhookSecrets, type WebhookAction } from '../actions/webhook-secrets.js';
import type { SecretBox } from '../secrets.js';

/**
 * Names a template may use for a condition's state: `state.<id>` (trigger_conditions.id), `state.<condition_type>` (the
 * first condition of that type) and `state.<config.name>` when the condition has a name.
 */
export function templateStateKeys(
  conditions: { id?: number | string; condition_type: string; config?: Record<string, unknown> | null }[],
): string[] {
  const keys = new Set<string>();
  for (const c of conditions) {
    if (c.id !== undefined) keys.add(String(c.id));
    keys.add(c.condition_type);
    if (typeof c.config?.name === 'string' && c.config.name) keys.add(c.config.name);
  }
  return [...keys];
}

/** An action as loadTriggerInput reads it (through json_build_object, hence JSONSelectable). */
export type ActionRow = Row<
  s.trigger_actions.JSONSelectable,
  'id' | 'action_type' | 'priority' | 'config',
  { action_type: 'telegram' | 'rest' | 'mcp'; config: Record<string, unknown> }
>;

/** The trigger row loadTriggerInput reads, with its conditions and actions as JSON. */
type StoredTriggerRow = Row<
  s.triggers.Selectable,
  | 'id'
  | 'organization_id'
  | 'user_id'
  | 'name'
  | 'chain_id'
  | 'registry'
  | 'enabled'
  | 'settings'
  | 'start_seq'
  | 'start_block',
  {
    chain_id: number | null;
    registry: Registry;
    settings: Partial<TriggerSettings>;
    start_seq: string;
    start_block: number | null;
  }
> & {
  conditions: (Row<
    s.trigger_conditions.JSONSelectable,
    'condition_type' | 'field' | 'operator' | 'value' | 'config',
    Omit<ConditionRow, 'key'>
  > &
    Pick<ConditionRow, 'key'>)[];
  actions: ActionRow[];
};

export interface StoredTrigger {
  input: TriggerDefinitionInput & { settings: TriggerSettings };
  /** The relay sends the trigger events with ingest_seq above this (the newest at its creation). */
  startSeq: string;
  /** When set, the workflow first reads the canonical events from this block up to startSeq. */
  startBlock: number | null;
  actions: ActionRow[];
  createdBy: string;
}

export interface TriggerWrite {
  organizationId: string;
  userId: string;
  name: string;
  description?: string | null;
  chainId: number | null;
  registry: Registry;
  enabled?: boolean;
  settings?: Partial<TriggerSettings>;
  conditions: {
    condition_type: string;
    field?: string;
    operator?: string;
    value?: string;
    config?: Record<string, unknown> | null;
  }[];
  actions?: { action_type: 'telegram' | 'rest' | 'mcp'; priority?: number; config: Record<string, unknown> }[];
}

export async function loadTriggerInput(db: Db | pg.PoolClient, triggerId: string): Promise<StoredTrigger | null> {
  const { rows } = await db.query<StoredTriggerRow>(
    `SELECT t.id, t.organization_id, t.user_id, t.name, t.chain_id::float8 AS chain_id, t.registry, t.enabled, t.settings, t.start_seq::text AS start_seq, t.start_block::float8 AS start_block,
       coalesce((SELECT json_agg(json_build_object('key', c.id::text, 'condition_type', c.condition_type, 'field', c.field,
                 'operator', c.operator, 'value', c.value, 'config', c.config) ORDER BY c.id) FROM trigger_conditions c WHERE c.trigger_id = t.id), '[]') AS conditions,
       coalesce((SELECT json_agg(json_build_object('id', a.id, 'action_type', a.action_type, 'priority', a.priority, 'config', a.config)
                 ORDER BY a.priority, a.id) FROM trigger_actions a WHERE a.trigger_id = t.id), '[]') AS actions
     FROM triggers t WHERE t.id = $1`,
    [triggerId],
  );
  const t = rows[0];
  if (!t) return null;
  return {
    input: {
      id: t.id,
      organizationId: t.organization_id,
      name: t.name,
      chainId: t.chain_id,
      registry: t.registry,
      enabled: t.enabled,
      settings: { cooldown_seconds: 0, hysteresis: false, start_block: null, ...t.settings },
      conditions: t.conditions,
    },
    startSeq: t.start_seq,
    startBlock: t.start_block,
    actions: t.actions,
    createdBy: t.user_id,
  };
}

/**
 * Writes a trigger with its conditions and actions in the caller's transaction, replacing them on update. Validates
 * the whole definition first (DefinitionError with per-field paths). Returns the trigger id.
 */
export async function saveTrigger(
  client: pg.PoolClient,
  write: TriggerWrite,
  existingId?: string,
  secrets?: SecretBox,
): Promise<string> {
  const settings = { cooldown_seconds: 0, hysteresis: false, start_block: null, ...write.settings };
  // Validate before touching anything; condition keys are placeholders until the rows exist.
  const draft = compileDefinition({
    id: existingId ?? 'new',
    organizationId: write.organizationId,
    name: write.name,
    chainId: write.chainId,
    registry: write.registry,
    enabled: write.enabled ?? true,
    settings,
    // Unchecked shapes are fine here: compileDefinition parses them with zod and reports every problem.
    conditions: write.conditions.map((c, i) => ({ ...c, key: `new-${i}` })) as TriggerDefinitionInput['conditions'],
  });
  const prefilters = staticPrefilters(draft);
  // Actions are validated with the trigger: shapes, and every template against the variables it can use.
  const stateKeys = templateStateKeys(write.conditions);
  const actionIssues: { path: string; message: string }[] = [];
  /** Telegram actions that would post with the platform's bot: their chats must be verified for the organization. */
  const platformBotChats: { path: string; chatId: string }[] = [];
  const actions = (write.actions ?? []).map((a, i) => {
    const checked = validateActionConfig(a.action_type, a.config, stateKeys, `actions.${i}.config`);
    actionIssues.push(
      ...checked.issues.map((issue) =>
        issue.path === 'action_type' ? { ...issue, path: `actions.${i}.action_type` } : issue,
      ),
    );
    if (!checked.config) return a;
    if (a.action_type === 'telegram' && !(checked.config as TelegramConfig).bot_token) {
      platformBotChats.push({
        path: `actions.${i}.config.chat_id`,
        chatId: (checked.config as TelegramConfig).chat_id,
      });
    }
    try {
      return {
        ...a,
        config: sealActionSecrets(a.action_type, checked.config, secrets, write.organizationId, `actions.${i}.config`),
      };
    } catch (err) {
      if (!(err instanceof DefinitionError)) throw err;
      actionIssues.push(...err.issues);
      return a;
    }
  });
  const unverified = new Set(
    await unverifiedChats(
      client,
      write.organizationId,
      platformBotChats.map((c) => c.chatId),
    ),
  );
  for (const { path, chatId } of platformBotChats) {
    if (unverified.has(chatId)) {
      actionIssues.push({
        path,
        message:
          `chat ${chatId} is not verified for this organization, and without its own bot_token the action would post with ` +
          `the platform's bot: ${chatVerificationHint(write.organizationId)}`,
      });
    }
  }
  if (actionIssues.length > 0) throw new DefinitionError(actionIssues);
  // The columns both statements write, in the order of their placeholders.
  const columns = [
    write.name,
    write.description ?? null,
    write.chainId,
    write.registry,
    write.enabled ?? true,
    draft.conditions.some((c) => c.params.kind === 'ema' || c.params.kind === 'rate' || c.params.kind === 'absence'),
    JSON.stringify(settings),
    settings.start_block,
    prefilters.eventTypes,
    prefilters.agentIds,
  ];
  let id = existingId;
  if (!id) {
    const { rows } = await client.query<Pick<s.triggers.Selectable, 'id'>>(
      `INSERT INTO triggers (user_id, organization_id, name, description, chain_id, registry, enabled, is_stateful, settings, start_seq, start_block,
         prefilter_event_types, prefilter_agent_ids)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
         -- The relay sends the trigger what is ingested from now on; a start block makes the workflow read the history
         -- up to here itself (src/triggers/history in workflows/trigger.ts).
         greatest((SELECT coalesce(max(ingest_seq), 0) FROM events), (SELECT coalesce(max(ingest_seq), 0) FROM event_retractions)),
         $10, $11, $12)
       RETURNING id`,
      [write.userId, write.organizationId, ...columns],
    );
    id = rows[0]!.id;
  } else {
    const { rowCount } = await client.query(
      `UPDATE triggers SET name = $2, description = $3, chain_id = $4, registry = $5, enabled = $6, is_stateful = $7, settings = $8,
         start_block = $9, prefilter_event_types = $10, prefilter_agent_ids = $11
       WHERE id = $1`,
      [id, ...columns],
    );
    if (rowCount === 0) throw new Error(`trigger ${id} does not exist`);
  }
  await replaceConditions(client, id, write.conditions);
  if (write.actions) await replaceActions(client, id, write.organizationId, actions, secrets);
  return id;
}

/**
 * Replaces the trigger's actions. A REST action whose URL did not change keeps its row, and so its signing secret
 * (src/actions/webhook-secrets.ts): receivers need not learn a new secret because the trigger was edited. An action
 * pointed at another URL is another endpoint: a new row, a new secret (a secret never follows an action to a URL
 * of the editor's choosing). New REST actions get their secret here when the application key is at hand.
 */
async function replaceActions(
  client: pg.PoolClient,
  triggerId: string,
  organizationId: string,
  actions: NonNullable<TriggerWrite['actions']>,
  secrets: SecretBox | undefined,
) {
  const { rows } = await client.query<Pick<s.trigger_actions.Selectable, 'id'> & { url: string }>(
    `SELECT id, config->>'url' AS url FROM trigger_actions WHERE trigger_id = $1 AND action_type = 'rest' ORDER BY id`,
    [triggerId],
  );
  const keptByUrl = new Map<string, number[]>();
  for (const r of rows) keptByUrl.set(r.url, [...(keptByUrl.get(r.url) ?? []), r.id]);
  const plan = actions.map((a) => ({
    action: a,
    keepId: a.action_type === 'rest' ? keptByUrl.get(String(a.config.url))?.shift() : undefined,
  }));
  const kept = plan.flatMap((p) => (p.keepId === undefined ? [] : [p.keepId]));
  await client.query('DELETE FROM trigger_actions WHERE trigger_id = $1 AND NOT (id = ANY($2::int[]))', [
    triggerId,
    kept,
  ]);
  const newRest: WebhookAction[] = [];
  for (const { action: a, keepId } of plan) {
    if (keepId !== undefined) {
      await client.query('UPDATE trigger_actions SET priority = $2, config = $3 WHERE id = $1', [
        keepId,
        a.priority ?? 1,
        JSON.stringify(a.config),
      ]);
      continue;
    }
    const { rows: inserted } = await client.query<Pick<s.trigger_actions.Selectable, 'id'>>(
      'INSERT INTO trigger_actions (trigger_id, action_type, priority, config) VALUES ($1, $2, $3, $4) RETURNING id',
      [triggerId, a.action_type, a.priority ?? 1, JSON.stringify(a.config)],
    );
    if (a.action_type === 'rest') newRest.push({ actionId: inserted[0]!.id, organizationId });
  }
  // Without the key (some tests, tools) the secret is made at the first delivery instead.
  if (secrets) await ensureWebhookSecrets(client, secrets, newRest);
}

/**
 * Keeps the rows (and so the keys, and so the state) of conditions that did not change; replaces the others. A
 * condition whose parameters change gets a new key, so only its state restarts.
 */
async function replaceConditions(client: pg.PoolClient, triggerId: string, conditions: TriggerWrite['conditions']) {
  const { rows } = await client.query<
    Pick<s.trigger_conditions.Selectable, 'id' | 'condition_type' | 'field' | 'operator' | 'value' | 'config'>
  >(
    'SELECT id, condition_type, field, operator, value, config FROM trigger_conditions WHERE trigger_id = $1 ORDER BY id',
    [triggerId],
  );
  const signature = (c: {
    condition_type: string;
    field?: string;
    operator?: string;
    value?: string;
    config?: unknown;
  }) => JSON.stringify([c.condition_type, c.field ?? '', c.operator ?? '=', c.value ?? '', c.config ?? null]);
  const existing = new Map<string, number[]>();
  for (const r of rows) existing.set(signature(r), [...(existing.get(signature(r)) ?? []), r.id]);
  const keep = new Set<number>();
  const add: TriggerWrite['conditions'] = [];
  for (const c of conditions) {
    const ids = existing.get(signature(c));
    const id = ids?.shift();
    if (id !== undefined) keep.add(id);
    else add.push(c);
  }
  await client.query('DELETE FROM trigger_conditions WHERE trigger_id = $1 AND NOT (id = ANY($2::int[]))', [
    triggerId,
    [...keep],
  ]);
  for (const c of add) {
    await client.query(
      'INSERT INTO trigger_conditions (trigger_id, condition_type, field, operator, value, config) VALUES ($1, $2, $3, $4, $5, $6)',
      [
        triggerId,
        c.condition_type,
        c.field ?? '',
        c.operator ?? '=',
        c.value ?? '',
        c.config ? JSON.stringify(c.config) : null,
      ],
    );
  }
}

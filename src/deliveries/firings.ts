/**
 * A trigger's firings: recording them (idempotent on trigger, event and kind) and creating one delivery per action —
 * in one transaction — for the delivery dispatchers' pumps, or, when a direct sender runs in this process and has room,
 * claimed for it in that same transaction and attempted at once after the commit (src/deliveries/direct.ts): one
 * commit between an event's evaluation and its first delivery attempt. The trigger workflows do this through local
 * activities; the relay does it directly for the triggers whose firing depends on the event alone
 * (src/relay/trigger-dispatcher.ts).
 */
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type * as s from 'zapatos/schema';
import type { Row } from '../db/rows.js';
import type { Logger } from '../logger.js';
import type { ActionType } from '../actions/config.js';
import { buildTemplateContext } from '../actions/templates.js';
import { deliveryStatuses } from '../billing/quotas.js';
import { withTransaction, type Queryable } from '../db/transaction.js';
import { templateStateKeys } from '../triggers/store.js';
import { DELIVERIES_CREATED_CHANNEL, nextDispatcher, type DispatchSettings } from './dispatchers.js';
import type { DirectSender } from './direct.js';
import { deliveryKey } from './ids.js';
import { DELIVERY_COLUMNS, type DeliveryRow } from './repository.js';
import type { MatchRecord } from './types.js';

export interface FiringDeps {
  pool: pg.Pool;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  dispatch?: DispatchSettings;
  /** Makes the first attempts in this process, right after the commit, while it has room (else the pumps do). */
  direct?: DirectSender;
}

/** Records a trigger's firings; returns how many were new (a replayed batch records nothing twice). */
export function recordMatches(pool: pg.Pool, triggerId: string, matches: readonly MatchRecord[]): Promise<number> {
  return recordFirings(
    pool,
    matches.map((match) => ({ triggerId, match })),
  );
}

/** A firing of a trigger, as recorded. */
export interface TriggerFiring {
  triggerId: string;
  match: MatchRecord;
}

/** Records firings of any number of triggers in one statement; returns how many were new. */
export async function recordFirings(db: Queryable, firings: readonly TriggerFiring[]): Promise<number> {
  if (firings.length === 0) return 0;
  const { rowCount } = await db.query(
    `INSERT INTO trigger_matches (trigger_id, event_seq, event_id, agent_key, kind, block_time, evaluation)
     SELECT r, s, i, a, k, to_timestamp(t), e
     FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::jsonb[]) AS u(r, s, i, a, k, t, e)
     ON CONFLICT (trigger_id, event_seq, kind) DO NOTHING`,
    [
      firings.map((f) => f.triggerId),
      firings.map((f) => f.match.eventSeq),
      firings.map((f) => f.match.eventId),
      firings.map((f) => f.match.agentKey),
      firings.map((f) => f.match.kind),
      firings.map((f) => f.match.timestamp),
      firings.map((f) => JSON.stringify(f.match.evaluation)),
    ],
  );
  return rowCount ?? 0;
}

type ConditionValues = Record<string, { result: boolean; metric?: number | string | null }>;

/** A condition as templates name it (id, type, config.name). */
type ConditionNames = Pick<s.trigger_conditions.JSONSelectable, 'id' | 'condition_type'> & {
  config: Record<string, unknown> | null;
};

/** A firing with its event, its trigger, and the trigger's actions and conditions (startDeliveries' query). */
type FiringRow = Row<
  s.trigger_matches.Selectable,
  'trigger_id' | 'event_seq' | 'event_id' | 'kind' | 'agent_key' | 'evaluation' | 'matched_at',
  {
    kind: 'match' | 'absence';
    /** The match's condition values (an absence's evaluation has none). */
    evaluation: ConditionValues | null;
  }
> &
  Row<s.triggers.Selectable, 'organization_id' | 'name' | 'chain_id' | 'registry', { chain_id: number | null }> & {
    match_id: s.trigger_matches.Selectable['id'];
    /** The event's row (to_jsonb), its exact numbers and block time beside it as text. */
    event: Record<string, unknown>;
    block_time_iso: string;
    value_text: string | null;
    agent_id_text: string | null;
    feedback_index_text: string | null;
    actions: (Pick<s.trigger_actions.JSONSelectable, 'id' | 'priority'> & { action_type: ActionType })[];
    conditions: ConditionNames[];
  };

export interface Firing {
  triggerId: string;
  eventSeq: string;
  kind: 'match' | 'absence';
}

/** A delivery to create: one per (firing, action). */
interface NewDelivery {
  key: string;
  row: FiringRow;
  actionId: number;
  actionType: ActionType;
  context: string;
}

/** The firings with their events, and each trigger's actions (in priority order) and conditions (for template names). */
async function firingRows(db: Queryable, fired: readonly Firing[]): Promise<FiringRow[]> {
  const { rows } = await db.query<FiringRow>(
    `SELECT m.id AS match_id, m.trigger_id::text AS trigger_id, m.event_seq::text AS event_seq, m.event_id, m.kind, m.agent_key, m.evaluation, m.matched_at,
       t.organization_id, t.name, t.chain_id::float8 AS chain_id, t.registry,
       to_jsonb(e) - 'created_at' AS event, to_char(e.block_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS block_time_iso,
       e.value::text AS value_text, e.agent_id::text AS agent_id_text, e.feedback_index::text AS feedback_index_text,
       coalesce((SELECT json_agg(json_build_object('id', a.id, 'action_type', a.action_type, 'priority', a.priority) ORDER BY a.priority, a.id)
                 FROM trigger_actions a WHERE a.trigger_id = t.id), '[]') AS actions,
       coalesce((SELECT json_agg(json_build_object('id', c.id, 'condition_type', c.condition_type, 'config', c.config) ORDER BY c.id)
                 FROM trigger_conditions c WHERE c.trigger_id = t.id), '[]') AS conditions
     FROM trigger_matches m JOIN triggers t ON t.id = m.trigger_id JOIN events e ON e.ingest_seq = m.event_seq
     WHERE (m.trigger_id, m.event_seq, m.kind) IN (SELECT * FROM unnest($1::uuid[], $2::int8[], $3::text[]))
     ORDER BY m.event_seq`,
    [fired.map((f) => f.triggerId), fired.map((f) => f.eventSeq), fired.map((f) => f.kind)],
  );
  return rows;
}

/** One delivery per (firing, action), each with its template context. */
function newDeliveries(rows: readonly FiringRow[]): NewDelivery[] {
  const deliveries: NewDelivery[] = [];
  for (const m of rows) {
    const { actions, conditions } = m;
    if (actions.length === 0) continue;
    /** Condition values under every name a template may use (id, type, config.name). */
    const withAliases = (values: ConditionValues | null) => {
      if (!values) return undefined;
      const out = { ...values };
      for (const c of conditions) {
        const v = values[String(c.id)];
        if (!v) continue;
        out[c.condition_type] ??= v;
        if (typeof c.config?.name === 'string') out[c.config.name] ??= v;
      }
      return out;
    };
    // Exact numbers stay strings: to_jsonb would have turned NUMERIC into JSON numbers.
    const event = {
      ...m.event,
      value: m.value_text,
      agent_id: m.agent_id_text,
      feedback_index: m.feedback_index_text,
      block_time: m.block_time_iso,
      ingest_seq: m.event_seq,
    };
    const context = JSON.stringify(
      buildTemplateContext({
        event,
        trigger: {
          id: m.trigger_id,
          name: m.name,
          chain_id: m.chain_id,
          registry: m.registry,
          organization_id: m.organization_id,
        },
        agentKey: m.agent_key,
        values: m.kind === 'match' ? withAliases(m.evaluation) : undefined,
        // Absence firings have no condition values: templates still see every state name (result false, metric null).
        stateKeys: templateStateKeys(conditions),
        firedAt: m.matched_at,
        kind: m.kind,
      }),
    );
    for (const action of actions) {
      deliveries.push({
        key: deliveryKey(m.trigger_id, m.event_seq, m.kind, action.id),
        row: m,
        actionId: action.id,
        actionType: action.action_type,
        context,
      });
    }
  }
  return deliveries;
}

/**
 * Inserts new deliveries (existing ones are left as they are). A pending delivery either carries `claim` — a direct
 * sender's, for its lease: the pumps leave it alone unless the lease expires — or is left to its dispatcher's pump,
 * which a NOTIFY (sent when the insert commits) wakes.
 */
const INSERT_DELIVERIES = `INSERT INTO deliveries (idempotency_key, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, status,
    workflow_id, claim, claim_expires_at)
  SELECT u.*, $11, CASE WHEN u.status = 'pending' THEN $12::text END,
    CASE WHEN u.status = 'pending' AND $12::text IS NOT NULL THEN now() + make_interval(secs => $13::float8 / 1000) END
  FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::int4[], $5::text[], $6::int8[], $7::int8[], $8::text[], $9::jsonb[], $10::text[])
    AS u(key, organization, trigger, action, action_type, match, event_seq, event_id, context, status)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING *`;
const INSERT_AND_NOTIFY = `WITH created AS (${INSERT_DELIVERIES})
  SELECT pg_notify('${DELIVERIES_CREATED_CHANNEL}', $11) WHERE EXISTS (SELECT FROM created WHERE status = 'pending')`;
/** The claimed deliveries come back as the direct sender attempts them: whole firings, actions in priority order. */
const INSERT_CLAIMED = `WITH created AS (${INSERT_DELIVERIES})
  SELECT ${DELIVERY_COLUMNS} FROM created d LEFT JOIN trigger_actions a ON a.id = d.action_id
  WHERE d.status = 'pending' ORDER BY d.match_id, a.priority, a.id`;

/** Creates the deliveries of `fired` inside the caller's transaction; returns them with the rows claimed for `direct`. */
async function createDeliveries(
  client: pg.PoolClient,
  deps: FiringDeps,
  fired: readonly Firing[],
  workflowId: string,
): Promise<{ planned: number; exceeded: number; claimed: DeliveryRow[] }> {
  const deliveries = newDeliveries(await firingRows(client, fired));
  if (deliveries.length === 0) return { planned: 0, exceeded: 0, claimed: [] };
  // Beyond the organization's deliveries per month, a firing's deliveries are recorded but not attempted.
  const statuses = await deliveryStatuses(
    client,
    deliveries.map((d) => ({ key: d.key, organizationId: d.row.organization_id })),
  );
  const direct = deps.direct?.accepts(deliveries.length) ? deps.direct : undefined;
  const { rows } = await client.query<DeliveryRow>(direct ? INSERT_CLAIMED : INSERT_AND_NOTIFY, [
    deliveries.map((d) => d.key),
    deliveries.map((d) => d.row.organization_id),
    deliveries.map((d) => d.row.trigger_id),
    deliveries.map((d) => d.actionId),
    deliveries.map((d) => d.actionType),
    deliveries.map((d) => d.row.match_id),
    deliveries.map((d) => d.row.event_seq),
    deliveries.map((d) => d.row.event_id),
    deliveries.map((d) => d.context),
    statuses,
    workflowId,
    direct?.claim ?? null,
    direct?.claimLeaseMs ?? null,
  ]);
  return {
    planned: deliveries.length,
    exceeded: statuses.filter((status) => status === 'quota_exceeded').length,
    claimed: direct ? rows : [],
  };
}

/**
 * Runs `record` (recording firings, or nothing) and creates the firings' deliveries in the same transaction; after the
 * commit, hands the deliveries claimed for the direct sender to it. Returns the deliveries it meant to create.
 */
async function withDeliveries(
  deps: FiringDeps,
  fired: readonly Firing[],
  record: (client: pg.PoolClient) => Promise<unknown>,
): Promise<number> {
  const { pool, logger: log } = deps;
  // Before the transaction: the first call for a dispatcher makes sure its workflow runs (a Temporal round trip).
  const workflowId = await nextDispatcher(deps);
  const { planned, exceeded, claimed } = await withTransaction(pool, async (client) => {
    await record(client);
    return createDeliveries(client, deps, fired, workflowId);
  });
  if (claimed.length > 0) deps.direct!.send(claimed);
  if (exceeded > 0) log.warn({ deliveries: exceeded }, 'deliveries beyond the plan quota: recorded, not attempted');
  if (planned > 0)
    log.debug({ deliveries: planned, dispatcher: workflowId, direct: claimed.length }, 'deliveries created');
  return planned;
}

/**
 * Creates one delivery per (firing, action) of firings already recorded — for any number of triggers — assigned to one
 * delivery dispatcher (actions in priority order, lower first): claimed for the direct sender when there is one with
 * room, else for the dispatcher's pump, which a NOTIFY wakes. Idempotent: existing deliveries are left as they are
 * (and keep their dispatcher and claim). Returns the deliveries it meant to create, including those that already
 * existed.
 */
export async function startDeliveries(deps: FiringDeps, fired: readonly Firing[]): Promise<number> {
  if (fired.length === 0) return 0;
  return withDeliveries(deps, fired, async () => undefined);
}

/**
 * Records firings and creates their deliveries (as startDeliveries) in one transaction: one commit between an
 * evaluation and its first delivery attempt. Called by the relay for the triggers it evaluates itself and by the
 * trigger workflows (as a local activity). Idempotent on (trigger, event, kind) and on the deliveries' keys.
 */
export async function recordFiringsAndStartDeliveries(
  deps: FiringDeps,
  firings: readonly TriggerFiring[],
): Promise<number> {
  if (firings.length === 0) return 0;
  const fired = firings.map((f) => ({ triggerId: f.triggerId, eventSeq: f.match.eventSeq, kind: f.match.kind }));
  return withDeliveries(deps, fired, (client) => recordFirings(client, firings));
}

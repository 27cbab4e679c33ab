/**
 * A trigger's firings: recording them (idempotent on trigger, event and kind) and starting one delivery per action.
 * The trigger workflows do this through local activities; the relay does it directly for the triggers whose firing
 * depends on the event alone (src/relay/trigger-dispatcher.ts).
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import type { ActionType } from '../actions/config.js';
import { buildTemplateContext } from '../actions/templates.js';
import { templateStateKeys } from './store.js';

export interface MatchRecord {
  eventSeq: string;
  eventId: string;
  agentKey: string;
  kind: 'match' | 'absence';
  /** Block time, Unix seconds. */
  timestamp: number;
  evaluation: unknown;
}

export interface FiringDeps {
  pool: pg.Pool;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
}

export function deliveryKey(triggerId: string, eventSeq: string, kind: string, actionId: number): string {
  return `dlv_${triggerId}_${eventSeq}_${kind}_${actionId}`;
}

/** Records firings; returns how many were new (a replayed batch records nothing twice). */
export async function recordMatches(pool: pg.Pool, triggerId: string, matches: MatchRecord[]): Promise<number> {
  if (matches.length === 0) return 0;
  const { rowCount } = await pool.query(
    `INSERT INTO trigger_matches (trigger_id, event_seq, event_id, agent_key, kind, block_time, evaluation)
     SELECT $1, s, i, a, k, to_timestamp(t), e
     FROM unnest($2::int8[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::jsonb[]) AS u(s, i, a, k, t, e)
     ON CONFLICT (trigger_id, event_seq, kind) DO NOTHING`,
    [
      triggerId,
      matches.map((m) => m.eventSeq),
      matches.map((m) => m.eventId),
      matches.map((m) => m.agentKey),
      matches.map((m) => m.kind),
      matches.map((m) => m.timestamp),
      matches.map((m) => JSON.stringify(m.evaluation)),
    ],
  );
  return rowCount ?? 0;
}

/**
 * Creates one delivery per (firing, action) and starts their workflows, actions in priority order (lower first).
 * Idempotent: existing deliveries and running or finished workflows are left alone. Called by the trigger workflows
 * (as a local activity) and by the relay for the triggers it evaluates itself.
 */
export async function startDeliveries(
  deps: FiringDeps,
  triggerId: string,
  fired: { eventSeq: string; kind: 'match' | 'absence' }[],
): Promise<number> {
  const { pool, logger: log } = deps;
  if (fired.length === 0) return 0;
  const { rows } = await pool.query(
    `SELECT m.id AS match_id, m.event_seq::text AS event_seq, m.event_id, m.kind, m.agent_key, m.evaluation, m.matched_at,
       t.organization_id, t.name, t.chain_id::float8 AS chain_id, t.registry,
       to_jsonb(e) - 'created_at' AS event, to_char(e.block_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS block_time_iso,
       e.value::text AS value_text, e.agent_id::text AS agent_id_text, e.feedback_index::text AS feedback_index_text
     FROM trigger_matches m JOIN triggers t ON t.id = m.trigger_id JOIN events e ON e.ingest_seq = m.event_seq
     WHERE m.trigger_id = $1 AND (m.event_seq::text, m.kind) IN (SELECT * FROM unnest($2::text[], $3::text[]))
     ORDER BY m.event_seq`,
    [triggerId, fired.map((f) => f.eventSeq), fired.map((f) => f.kind)],
  );
  // The trigger's actions (in priority order) and its conditions (for template names), in one round trip.
  const { rows: [parts] } = await pool.query<{
    actions: { id: number; action_type: ActionType; priority: number }[];
    conditions: { id: number; condition_type: string; config: Record<string, unknown> | null }[];
  }>(
    `SELECT coalesce((SELECT json_agg(json_build_object('id', a.id, 'action_type', a.action_type, 'priority', a.priority) ORDER BY a.priority, a.id)
                      FROM trigger_actions a WHERE a.trigger_id = $1), '[]') AS actions,
            coalesce((SELECT json_agg(json_build_object('id', c.id, 'condition_type', c.condition_type, 'config', c.config) ORDER BY c.id)
                      FROM trigger_conditions c WHERE c.trigger_id = $1), '[]') AS conditions`,
    [triggerId],
  );
  const { actions, conditions } = parts!;
  /** Condition values under every name a template may use (id, type, config.name). */
  const withAliases = (values: Record<string, { result: boolean; metric?: number | string | null }> | undefined) => {
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
  let started = 0;
  for (const m of rows) {
    // Exact numbers stay strings: to_jsonb would have turned NUMERIC into JSON numbers.
    const event = { ...m.event, value: m.value_text, agent_id: m.agent_id_text, feedback_index: m.feedback_index_text, block_time: m.block_time_iso, ingest_seq: m.event_seq };
    const context = buildTemplateContext({
      event,
      trigger: { id: triggerId, name: m.name, chain_id: m.chain_id, registry: m.registry, organization_id: m.organization_id },
      agentKey: m.agent_key,
      values: m.kind === 'match' ? withAliases(m.evaluation) : undefined,
      // Absence firings have no condition values: templates still see every state name (result false, metric null).
      stateKeys: templateStateKeys(conditions),
      firedAt: m.matched_at,
      kind: m.kind,
    });
    for (const action of actions) {
      const key = deliveryKey(triggerId, m.event_seq, m.kind, action.id);
      await pool.query(
        `INSERT INTO deliveries (idempotency_key, organization_id, trigger_id, action_id, action_type, match_id, event_seq, event_id, context, workflow_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (idempotency_key) DO NOTHING`,
        [key, m.organization_id, triggerId, action.id, action.action_type, m.match_id, m.event_seq, m.event_id, JSON.stringify(context), `delivery/${key}`],
      );
      try {
        await deps.temporal.workflow.start('deliveryWorkflow', {
          workflowId: `delivery/${key}`,
          taskQueue: deps.taskQueue,
          args: [{ idempotencyKey: key }],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          memo: { triggerId, action: action.action_type },
        });
        started++;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    }
  }
  if (started > 0) log.debug({ triggerId, started }, 'started deliveries');
  return started;
}

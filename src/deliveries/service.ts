/**
 * The delivery log from the outside: listing deliveries and their attempts, dead letters, and replaying them. A replay
 * starts a new delivery workflow for the same delivery — same idempotency key, so a receiver that already processed
 * it can recognise it.
 */
import type { Client } from '@temporalio/client';
import type * as s from 'zapatos/schema';
import type { Db } from '../db/pool.js';
import { deliveryWorkflow } from '../../workflows/delivery.js';
import { deliveryWorkflowLabel, replayWorkflowId } from './ids.js';

export interface DeliveryFilter {
  organizationId: string;
  triggerId?: string;
  actionId?: number;
  status?: 'pending' | 'parked' | 'delivered' | 'dead' | 'quota_exceeded';
  since?: Date;
  limit?: number;
}

export interface DeliveryView {
  idempotencyKey: string;
  triggerId: string | null;
  actionId: number | null;
  actionType: string;
  eventId: string;
  destination: string | null;
  status: string;
  attempts: number;
  lastError: string | null;
  lastHttpStatus: number | null;
  replays: number;
  createdAt: string;
  deliveredAt: string | null;
  deadAt: string | null;
}

const VIEW_COLUMNS = [
  'idempotency_key',
  'trigger_id',
  'action_id',
  'action_type',
  'event_id',
  'destination',
  'status',
  'attempts',
  'last_error',
  'last_http_status',
  'replays',
  'created_at',
  'delivered_at',
  'dead_at',
] as const;
type ViewRow = Pick<s.deliveries.Selectable, (typeof VIEW_COLUMNS)[number]>;
const VIEW = VIEW_COLUMNS.join(', ');

function toView(r: ViewRow): DeliveryView {
  return {
    idempotencyKey: r.idempotency_key,
    triggerId: r.trigger_id,
    actionId: r.action_id,
    actionType: r.action_type,
    eventId: r.event_id,
    destination: r.destination,
    status: r.status,
    attempts: r.attempts,
    lastError: r.last_error,
    lastHttpStatus: r.last_http_status,
    replays: r.replays,
    createdAt: r.created_at.toISOString(),
    deliveredAt: r.delivered_at?.toISOString() ?? null,
    deadAt: r.dead_at?.toISOString() ?? null,
  };
}

export async function listDeliveries(pool: Db, f: DeliveryFilter): Promise<DeliveryView[]> {
  const { rows } = await pool.query<ViewRow>(
    `SELECT ${VIEW} FROM deliveries
     WHERE organization_id = $1 AND ($2::uuid IS NULL OR trigger_id = $2) AND ($3::int IS NULL OR action_id = $3)
       AND ($4::text IS NULL OR status = $4) AND ($5::timestamptz IS NULL OR created_at >= $5)
     ORDER BY created_at DESC LIMIT $6`,
    [
      f.organizationId,
      f.triggerId ?? null,
      f.actionId ?? null,
      f.status ?? null,
      f.since ?? null,
      Math.min(f.limit ?? 100, 1_000),
    ],
  );
  return rows.map(toView);
}

/** Every attempt of one delivery (action_results), oldest first. */
export async function deliveryAttempts(pool: Db, organizationId: string, idempotencyKey: string) {
  const { rows } = await pool.query<
    Pick<
      s.action_results.Selectable,
      'attempt' | 'status' | 'http_status' | 'duration_ms' | 'error_message' | 'response_data' | 'executed_at'
    >
  >(
    `SELECT r.attempt, r.status, r.http_status, r.duration_ms, r.error_message, r.response_data, r.executed_at
     FROM action_results r JOIN deliveries d ON d.idempotency_key = r.idempotency_key
     WHERE d.organization_id = $1 AND r.idempotency_key = $2 ORDER BY r.executed_at, r.attempt`,
    [organizationId, idempotencyKey],
  );
  return rows;
}

/**
 * Replays dead letters — one (by key), or all of a trigger, optionally since a time. Returns the keys replayed.
 * Only the organization's own dead deliveries are touched.
 */
export async function replayDeadLetters(
  pool: Db,
  temporal: Client,
  taskQueue: string,
  target: { organizationId: string; idempotencyKey?: string; triggerId?: string; since?: Date },
): Promise<string[]> {
  if (!target.idempotencyKey && !target.triggerId) throw new Error('give a delivery key or a trigger id');
  const { rows } = await pool.query<
    Pick<s.deliveries.Selectable, 'idempotency_key' | 'replays' | 'trigger_id' | 'destination'> & {
      trigger_name: string | null;
      event_type: string | null;
      agent_key: string | null;
      kind: string | null;
    }
  >(
    `UPDATE deliveries SET status = 'pending', replays = replays + 1, dead_at = NULL
     WHERE organization_id = $1 AND status = 'dead'
       AND ($2::text IS NULL OR idempotency_key = $2) AND ($3::uuid IS NULL OR trigger_id = $3)
       AND ($4::timestamptz IS NULL OR dead_at >= $4)
     RETURNING idempotency_key, replays, trigger_id, destination, context #>> '{trigger,name}' AS trigger_name,
       context #>> '{event,event_type}' AS event_type, context #>> '{agent,key}' AS agent_key, context ->> 'kind' AS kind`,
    [target.organizationId, target.idempotencyKey ?? null, target.triggerId ?? null, target.since ?? null],
  );
  for (const row of rows) {
    const workflowId = replayWorkflowId(row.idempotency_key, row.replays);
    await pool.query('UPDATE deliveries SET workflow_id = $2 WHERE idempotency_key = $1', [
      row.idempotency_key,
      workflowId,
    ]);
    await temporal.workflow.start(deliveryWorkflow, {
      workflowId,
      taskQueue,
      args: [{ idempotencyKey: row.idempotency_key }],
      ...deliveryWorkflowLabel({
        idempotencyKey: row.idempotency_key,
        triggerName: row.trigger_name,
        triggerId: row.trigger_id,
        destination: row.destination,
        eventType: row.event_type,
        agentKey: row.agent_key,
        kind: row.kind,
        replay: row.replays,
      }),
    });
  }
  return rows.map((r) => r.idempotency_key);
}

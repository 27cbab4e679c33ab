/**
 * The deliveries table and its attempts (action_results): reading a delivery with its action, claiming a dispatcher's
 * pending deliveries (leases), recording attempts, and settling deliveries.
 */
import type pg from 'pg';
import type * as s from 'zapatos/schema';
import type { ActionType } from '../actions/config.js';
import type { TemplateContext } from '../actions/templates.js';
import type { Row } from '../db/rows.js';
import { attemptJobId, DISPATCHER_ID_PATTERN } from './ids.js';
import type { DeliveryMark, SentOutcome } from './types.js';

/** A delivery with its action's config and its trigger's conditions (for template names). */
export type DeliveryRow = Row<
  s.deliveries.Selectable,
  | 'idempotency_key'
  | 'match_id'
  | 'organization_id'
  | 'trigger_id'
  | 'action_id'
  | 'action_type'
  | 'status'
  | 'attempts'
  | 'context',
  { action_type: ActionType; context: TemplateContext }
> & {
  /** The action's (trigger_actions.config); null when the action was deleted. */
  config: Record<string, unknown> | null;
  conditions: (Pick<s.trigger_conditions.JSONSelectable, 'id' | 'condition_type'> & {
    config: Record<string, unknown> | null;
  })[];
};

/** One attempt, as made. */
export interface AttemptRecord {
  idempotencyKey: string;
  organizationId: string;
  attempt: number;
  destination: string;
  outcome: SentOutcome;
  durationMs: number;
}

/** Where a batch leaves a delivery: its state, and the attempt it made (none when it handed the attempt off). */
export type SettledDelivery = Pick<s.deliveries.Selectable, 'destination' | 'workflow_id'> & {
  key: string;
  status: 'delivered' | 'dead' | 'pending';
  error: string | null;
  attempt: AttemptRecord | null;
};

/** What action_results keeps of an attempt. */
type AttemptResultRow = Pick<
  s.action_results.Selectable,
  'job_id' | 'attempt' | 'status' | 'duration_ms' | 'error_message' | 'response_data' | 'http_status' | 'destination'
> & { idempotency_key: string };

/** What of a destination's answer is kept, in action_results and as the delivery's last error. */
export const EXCERPT = 2_048;
const ERROR_LENGTH = 2_000;

/** A delivery with its action's config and its trigger's conditions, from `deliveries d`. */
export const DELIVERY_COLUMNS = `d.idempotency_key, d.match_id::text AS match_id, d.organization_id, d.trigger_id, d.action_id, d.action_type, d.status,
  d.attempts, d.context, a.config,
  coalesce((SELECT json_agg(json_build_object('id', c.id, 'condition_type', c.condition_type, 'config', c.config) ORDER BY c.id)
            FROM trigger_conditions c WHERE c.trigger_id = d.trigger_id), '[]') AS conditions`;

function attemptResultRow(r: AttemptRecord): AttemptResultRow {
  const { outcome } = r;
  return {
    job_id: attemptJobId(r.idempotencyKey, r.attempt),
    idempotency_key: r.idempotencyKey,
    attempt: r.attempt,
    status: outcome.ok ? 'success' : outcome.permanent ? 'failed' : 'retrying',
    duration_ms: r.durationMs,
    error_message: outcome.ok ? null : outcome.error.slice(0, ERROR_LENGTH),
    response_data: outcome.excerpt === undefined ? null : { excerpt: outcome.excerpt.slice(0, EXCERPT) },
    http_status: outcome.status ?? null,
    destination: r.destination,
  };
}

export class DeliveryRepository {
  constructor(
    private readonly pool: pg.Pool,
    /** How long a pump's claim holds without being extended. */
    readonly claimLeaseMs: number,
  ) {}

  async load(key: string): Promise<DeliveryRow | undefined> {
    const { rows } = await this.pool.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries d LEFT JOIN trigger_actions a ON a.id = d.action_id WHERE d.idempotency_key = $1`,
      [key],
    );
    return rows[0];
  }

  async organizationOf(key: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<Pick<s.deliveries.Selectable, 'organization_id'>>(
      'SELECT organization_id FROM deliveries WHERE idempotency_key = $1',
      [key],
    );
    return rows[0]?.organization_id;
  }

  /**
   * Claims, for the lease, among a dispatcher's pending deliveries that nobody holds (new ones, and any whose claim
   * expired: its run died, or stalled), every delivery of the firings of the `limit` oldest, and reads them, grouped
   * by firing with each firing's actions in priority order. On `db`: the pump's own connection.
   */
  async claimPending(db: pg.ClientBase, dispatcherId: string, claim: string, limit: number): Promise<DeliveryRow[]> {
    const { rows } = await db.query<DeliveryRow>(
      // Whole firings — those of the `limit` oldest pending deliveries — so a firing's actions stay in one batch, in
      // priority order. A claim from before claims were leases has no expiry: it is free.
      `WITH d AS (
         UPDATE deliveries SET claim = $2, claim_expires_at = now() + make_interval(secs => $4::float8 / 1000) WHERE idempotency_key IN (
           SELECT idempotency_key FROM deliveries
           WHERE workflow_id = $1 AND status = 'pending' AND claim IS DISTINCT FROM $2 AND (claim_expires_at IS NULL OR claim_expires_at < now()) AND match_id IN (
             SELECT match_id FROM deliveries
             WHERE workflow_id = $1 AND status = 'pending' AND claim IS DISTINCT FROM $2 AND (claim_expires_at IS NULL OR claim_expires_at < now())
             ORDER BY created_at LIMIT $3)
           FOR UPDATE SKIP LOCKED)
         RETURNING *)
       SELECT ${DELIVERY_COLUMNS} FROM d LEFT JOIN trigger_actions a ON a.id = d.action_id
       ORDER BY d.match_id, a.priority, a.id`,
      [dispatcherId, claim, limit, this.claimLeaseMs],
    );
    return rows;
  }

  /** Extends this run's claims on the deliveries it has not settled yet. */
  async extendClaims(dispatcherId: string, claim: string): Promise<void> {
    await this.pool.query(
      `UPDATE deliveries SET claim_expires_at = now() + make_interval(secs => $3::float8 / 1000) WHERE workflow_id = $1 AND status = 'pending' AND claim = $2`,
      [dispatcherId, claim, this.claimLeaseMs],
    );
  }

  /** Extends `claim` on those of these deliveries it still holds unsettled (a direct sender's: by key). */
  async extendClaimsOn(keys: readonly string[], claim: string): Promise<void> {
    if (keys.length === 0) return;
    await this.pool.query(
      `UPDATE deliveries SET claim_expires_at = now() + make_interval(secs => $3::float8 / 1000)
       WHERE idempotency_key = ANY($1::text[]) AND status = 'pending' AND claim = $2`,
      [keys, claim, this.claimLeaseMs],
    );
  }

  /** Of these deliveries, those still claimed by `claim` (not taken over after its lease expired). */
  async stillClaimed(keys: readonly string[], claim: string): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const { rows } = await this.pool.query<Pick<s.deliveries.Selectable, 'idempotency_key'>>(
      'SELECT idempotency_key FROM deliveries WHERE idempotency_key = ANY($1::text[]) AND claim = $2',
      [keys, claim],
    );
    return new Set(rows.map((r) => r.idempotency_key));
  }

  /** The delivery's workflow took it up: pending, to this destination. */
  async setPending(key: string, destination: string): Promise<void> {
    await this.pool.query(`UPDATE deliveries SET destination = $2, status = 'pending' WHERE idempotency_key = $1`, [
      key,
      destination,
    ]);
  }

  /** Inserts attempts into action_results: one statement for any number of them. */
  async recordAttempts(records: readonly AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    const rows = records.map(attemptResultRow);
    await this.pool.query(
      `INSERT INTO action_results (job_id, trigger_id, action_id, event_id, event_seq, action_type, status, duration_ms, error_message, response_data,
         retry_count, idempotency_key, attempt, http_status, destination)
       SELECT r.job_id, d.trigger_id, d.action_id, d.event_id, d.event_seq, d.action_type, r.status, r.duration_ms,
         r.error, r.response, r.attempt - 1, d.idempotency_key, r.attempt, r.http_status, r.destination
       FROM unnest($1::text[], $2::text[], $3::int4[], $4::text[], $5::int4[], $6::text[], $7::jsonb[], $8::int4[], $9::text[])
         AS r(job_id, key, attempt, status, duration_ms, error, response, http_status, destination)
       JOIN deliveries d ON d.idempotency_key = r.key`,
      [
        rows.map((r) => r.job_id),
        rows.map((r) => r.idempotency_key),
        rows.map((r) => r.attempt),
        rows.map((r) => r.status),
        rows.map((r) => r.duration_ms),
        rows.map((r) => r.error_message),
        rows.map((r) => (r.response_data === null ? null : JSON.stringify(r.response_data))),
        rows.map((r) => r.http_status),
        rows.map((r) => r.destination),
      ],
    );
  }

  /** The delivery's side of one attempt of its workflow: how many were made, and the last error. */
  async recordAttemptOnDelivery(record: AttemptRecord): Promise<void> {
    const { outcome } = record;
    await this.pool.query(
      `UPDATE deliveries SET attempts = greatest(attempts, $2), last_error = $3, last_http_status = $4 WHERE idempotency_key = $1`,
      [
        record.idempotencyKey,
        record.attempt,
        outcome.ok ? null : outcome.error.slice(0, ERROR_LENGTH),
        outcome.status ?? null,
      ],
    );
  }

  /** Writes where a batch left its deliveries; returns how many were still this run's claim (the rest were taken over). */
  async settle(settled: readonly SettledDelivery[], claim: string): Promise<number> {
    if (settled.length === 0) return 0;
    const { rowCount } = await this.pool.query(
      `UPDATE deliveries d SET status = r.status, destination = r.destination,
         attempts = greatest(d.attempts, coalesce(r.attempt, 0)),
         last_error = CASE WHEN r.attempt IS NULL THEN coalesce(r.error, d.last_error) ELSE r.error END,
         last_http_status = CASE WHEN r.attempt IS NULL THEN d.last_http_status ELSE r.http_status END,
         workflow_id = coalesce(r.workflow_id, d.workflow_id),
         delivered_at = CASE WHEN r.status = 'delivered' THEN now() ELSE d.delivered_at END,
         dead_at = CASE WHEN r.status = 'dead' THEN now() ELSE d.dead_at END
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::int4[])
         AS r(key, status, destination, error, workflow_id, attempt, http_status)
       -- Only what is still this run's claim: a run that took over an expired claim settles it.
       WHERE d.idempotency_key = r.key AND d.claim = $8`,
      [
        settled.map((s) => s.key),
        settled.map((s) => s.status),
        settled.map((s) => s.destination),
        settled.map((s) => s.error?.slice(0, ERROR_LENGTH) ?? null),
        settled.map((s) => s.workflow_id),
        settled.map((s) => s.attempt?.attempt ?? null),
        settled.map((s) => s.attempt?.outcome.status ?? null),
        claim,
      ],
    );
    return rowCount ?? 0;
  }

  async mark(key: string, status: DeliveryMark, error?: string): Promise<void> {
    await this.pool.query(
      `UPDATE deliveries SET status = $2, last_error = coalesce($3, last_error),
         delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,
         dead_at = CASE WHEN $2 = 'dead' THEN now() ELSE dead_at END
       WHERE idempotency_key = $1`,
      [key, status, error ?? null],
    );
  }

  /** The dispatchers of deliveries that have waited over a minute. */
  async dispatchersWaitingOverAMinute(): Promise<string[]> {
    const { rows } = await this.pool.query<{ workflow_id: string }>(
      `SELECT DISTINCT workflow_id FROM deliveries
       WHERE status = 'pending' AND workflow_id LIKE $1 AND created_at < now() - interval '1 minute'`,
      [DISPATCHER_ID_PATTERN],
    );
    return rows.map((r) => r.workflow_id);
  }
}

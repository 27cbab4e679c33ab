/**
 * Attempts: a delivery's plan, single attempts for its workflow (render, send, record the attempt, feed the circuit
 * breaker), and the first attempts of a batch of claimed deliveries for the dispatchers' pump — handing what does not
 * settle to the delivery's own workflow.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type pg from 'pg';
import {
  breakerGate,
  breakerGates,
  breakerKeyId,
  destinationHealth,
  recordBreakerOutcomes,
  type BreakerGate,
  type BreakerOptions,
} from '../actions/breaker.js';
import { DEFAULT_RETRY, destinationOf } from '../actions/config.js';
import { webhookSecretsOf } from '../actions/webhook-secrets.js';
import { forEachConcurrently } from '../concurrency.js';
import type { Logger } from '../logger.js';
import type { SecretBox } from '../secrets.js';
import { deliveryWorkflow } from '../../workflows/delivery.js';
import { deliveryWorkflowId, deliveryWorkflowLabel } from './ids.js';
import type { AttemptRecord, DeliveryRepository, DeliveryRow, SettledDelivery } from './repository.js';
import type { CheckedConfig, Senders, SecretsOf } from './senders.js';
import type { AttemptOutcome, AttemptRequest, BatchResult, DeliveryPlan, FirstAttempt, SentOutcome } from './types.js';

/** An attempt slower than this marks its destination slow: the batches then leave it to per-delivery workflows. */
const SLOW_ATTEMPT_MS = 1_000;
const SLOW_LANE_MS = 5 * 60_000;
/**
 * Deliveries to one slow destination handed off per window, at most: each costs a workflow, and a stream handed off
 * whole (a busy machine makes every answer slow) would overrun Temporal; beyond it the batches attempt them themselves.
 */
const SLOW_HAND_OFFS_PER_WINDOW = 50;
const SLOW_HAND_OFF_WINDOW_MS = 10_000;
/** Firings attempted at once within a batch (a firing's actions go one after the other, in priority order). */
const BATCH_CONCURRENCY = 32;
/** Delivery workflows started at once when a batch hands deliveries off (a destination down: many of them). */
const HAND_OFF_CONCURRENCY = 16;

export interface DelivererDeps {
  pool: pg.Pool;
  repository: DeliveryRepository;
  senders: Senders;
  secrets: SecretBox;
  temporal: Client;
  taskQueue: string;
  logger: Logger;
  /** Circuit breaker tuning (tests shorten the pause). */
  breaker?: BreakerOptions;
}

/** What the delivery needs up front, from its row alone; null when there is nothing (left) to deliver. */
export function planOf(row: DeliveryRow | undefined, checked: CheckedConfig | undefined): DeliveryPlan | null {
  if (!row || !checked || row.status === 'delivered' || !row.config) return null;
  let destination = `${row.action_type}:invalid`;
  let retry = DEFAULT_RETRY;
  let timeoutMs = 10_000;
  if (checked.config) {
    destination = destinationOf(row.action_type, checked.config, row.context.agent.key);
    retry = { ...DEFAULT_RETRY, ...(checked.config.retry ?? {}) };
    timeoutMs = checked.config.timeout_ms;
  }
  return { destination, retry, attemptsBefore: row.attempts, timeoutMs };
}

/** What an attempt tells its organization's breaker of the destination (a tenant's own mistakes tell it nothing). */
const breakerOutcome = (a: AttemptRecord) => ({
  key: { organizationId: a.organizationId, destination: a.destination },
  health: destinationHealth(a.outcome),
});

/** The outcome as a workflow sees it (the answer's excerpt is only recorded). */
function withoutExcerpt({ excerpt: _excerpt, ...outcome }: SentOutcome): AttemptOutcome {
  return outcome;
}

export class Deliverer {
  private readonly log: Logger;
  /** Destinations whose attempts were slow lately (this worker's view): batches hand their deliveries off. */
  private readonly slowUntil = new Map<string, number>();
  /** Per slow destination: hand-offs in the current window (bounded by SLOW_HAND_OFFS_PER_WINDOW). */
  private readonly slowHandOffs = new Map<string, { since: number; count: number }>();

  constructor(private readonly deps: DelivererDeps) {
    this.log = deps.logger;
  }

  private isSlow(destination: string): boolean {
    return (this.slowUntil.get(destination) ?? 0) > Date.now();
  }

  /** Whether a delivery to this slow destination may still be handed off in the current window (and counts it). */
  private slowHandOff(destination: string): boolean {
    const now = Date.now();
    let window = this.slowHandOffs.get(destination);
    if (!window || now - window.since >= SLOW_HAND_OFF_WINDOW_MS) {
      window = { since: now, count: 0 };
      this.slowHandOffs.set(destination, window);
    }
    if (window.count >= SLOW_HAND_OFFS_PER_WINDOW) return false;
    window.count++;
    return true;
  }

  /** What the delivery workflow needs up front; null when there is nothing (left) to deliver. */
  async prepare(key: string): Promise<DeliveryPlan | null> {
    const row = await this.deps.repository.load(key);
    return this.prepareRow(key, row, row && this.deps.senders.checkConfig(row));
  }

  private async prepareRow(
    key: string,
    row: DeliveryRow | undefined,
    checked: CheckedConfig | undefined,
  ): Promise<DeliveryPlan | null> {
    const plan = planOf(row, checked);
    if (plan) await this.deps.repository.setPending(key, plan.destination);
    return plan;
  }

  /**
   * The gate of the delivery's organization's breaker for `destination`. Without the delivery's key (a workflow
   * started before breakers were per organization) no breaker applies: it attempts, and the attempt feeds its
   * organization's breaker.
   */
  async checkBreaker(destination: string, idempotencyKey?: string): Promise<BreakerGate> {
    const organizationId =
      idempotencyKey === undefined ? undefined : await this.deps.repository.organizationOf(idempotencyKey);
    if (organizationId === undefined) return { open: false, failing: false };
    return breakerGate(this.deps.pool, { organizationId, destination });
  }

  /** One attempt of the delivery's workflow. */
  async attempt(request: AttemptRequest): Promise<AttemptOutcome> {
    const row = await this.deps.repository.load(request.idempotencyKey);
    return this.attemptRow(row, request, row && this.deps.senders.checkConfig(row));
  }

  /**
   * The common case in one step, for the delivery workflow's local activity: prepare, check the breaker and, when it
   * is closed, make the first attempt — marking the delivery delivered when it succeeds.
   */
  async deliverFirstAttempt(key: string): Promise<FirstAttempt> {
    const { repository, senders } = this.deps;
    const row = await repository.load(key);
    const checked = row && senders.checkConfig(row);
    const plan = await this.prepareRow(key, row, checked);
    if (!plan) return { plan: null };
    if (
      (await breakerGate(this.deps.pool, { organizationId: row!.organization_id, destination: plan.destination })).open
    )
      return { plan };
    const outcome = await this.attemptRow(
      row,
      { idempotencyKey: key, attempt: plan.attemptsBefore + 1, destination: plan.destination },
      checked,
    );
    if (outcome.ok) await repository.mark(key, 'delivered');
    return { plan, outcome };
  }

  /** One attempt: render, send, record it in action_results, update the delivery and the breaker. */
  private async attemptRow(
    row: DeliveryRow | undefined,
    { idempotencyKey, attempt, destination }: AttemptRequest,
    checked: CheckedConfig | undefined,
  ): Promise<AttemptOutcome> {
    if (!row || !checked)
      return { ok: false, permanent: true, error: 'the delivery no longer exists (trigger deleted)' };
    const { outcome, durationMs } = await this.send(row, checked, this.deps.senders.secretsNow, destination);
    const record = { idempotencyKey, organizationId: row.organization_id, attempt, destination, outcome, durationMs };
    const { repository } = this.deps;
    await Promise.all([repository.recordAttempts([record]), repository.recordAttemptOnDelivery(record)]);
    await recordBreakerOutcomes(this.deps.pool, [breakerOutcome(record)], new Map(), this.deps.breaker);
    this.logFailedAttempts([record]);
    return withoutExcerpt(outcome);
  }

  /** Sends, timing the attempt and keeping the slow lane up to date. */
  private async send(
    row: DeliveryRow,
    checked: CheckedConfig,
    secretsOf: SecretsOf,
    destination: string,
  ): Promise<{ outcome: SentOutcome; durationMs: number }> {
    const started = performance.now();
    // Marked slow as soon as it is (not when it ends): batches starting meanwhile already hand this destination off.
    const slow = setTimeout(() => this.slowUntil.set(destination, Date.now() + SLOW_LANE_MS), SLOW_ATTEMPT_MS);
    const outcome = await this.deps.senders.send(row, checked, secretsOf);
    clearTimeout(slow);
    const durationMs = Math.round(performance.now() - started);
    // A quick answer (from a per-delivery workflow's attempt, say) brings the destination back into the batches.
    if (durationMs < SLOW_ATTEMPT_MS) {
      this.slowUntil.delete(destination);
      this.slowHandOffs.delete(destination);
    }
    return { outcome, durationMs };
  }

  private logFailedAttempts(records: readonly AttemptRecord[]): void {
    for (const r of records) {
      if (!r.outcome.ok)
        this.log.warn(
          {
            idempotencyKey: r.idempotencyKey,
            attempt: r.attempt,
            permanent: r.outcome.permanent,
            status: r.outcome.status,
            error: r.outcome.error,
          },
          'delivery attempt failed',
        );
    }
  }

  /** Starts a delivery's own workflow, which carries on from what the batch did (retries, parking, dead letter). */
  private async handOff(row: DeliveryRow, first: FirstAttempt): Promise<void> {
    const key = row.idempotency_key;
    try {
      await this.deps.temporal.workflow.start(deliveryWorkflow, {
        workflowId: deliveryWorkflowId(key),
        taskQueue: this.deps.taskQueue,
        args: [{ idempotencyKey: key, first }],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        ...deliveryWorkflowLabel({
          idempotencyKey: key,
          triggerName: row.context.trigger?.name ?? null,
          triggerId: row.trigger_id,
          destination: first.plan?.destination ?? null,
          eventType: typeof row.context.event?.event_type === 'string' ? row.context.event.event_type : null,
          agentKey: row.context.agent?.key ?? null,
          kind: row.context.kind ?? null,
        }),
      });
    } catch (err) {
      // Started by an earlier run of the same batch (rerun after a crash).
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /**
   * First attempts for a batch of claimed deliveries: each firing's actions in priority order, firings side by side;
   * records every attempt and the final states in a handful of statements whatever the batch size; and hands what did
   * not settle to per-delivery workflows: transient failures (to retry), destinations whose breaker is open (to park)
   * and destinations that answered slowly lately (so that one slow receiver does not hold up the batches behind it).
   */
  async attemptBatch(rows: DeliveryRow[], claim: string): Promise<BatchResult> {
    const { pool, repository, senders } = this.deps;
    const planned = rows.map((row) => {
      const checked = senders.checkConfig(row);
      return { row, checked, plan: planOf(row, checked) };
    });
    // What the attempts need, read side by side: the breakers of the destinations, the signing secrets of webhooks.
    const restActions = rows.flatMap((r) =>
      r.action_type === 'rest' && r.action_id !== null
        ? [{ actionId: r.action_id, organizationId: r.organization_id }]
        : [],
    );
    const [gates, webhookSecrets] = await Promise.all([
      breakerGates(
        pool,
        planned.flatMap((p) =>
          p.plan ? [{ organizationId: p.row.organization_id, destination: p.plan.destination }] : [],
        ),
      ),
      restActions.length > 0 ? webhookSecretsOf(pool, this.deps.secrets, restActions) : new Map<number, string[]>(),
    ]);
    const secretsOf: SecretsOf = async (row) => webhookSecrets.get(row.action_id!) ?? senders.secretsNow(row);

    const attempts: AttemptRecord[] = [];
    const handOffs: { key: string; row: DeliveryRow; first: FirstAttempt }[] = [];
    const settled: SettledDelivery[] = [];
    const firings = new Map<string, typeof planned>();
    for (const p of planned) {
      const firing = firings.get(p.row.match_id);
      if (firing) firing.push(p);
      else firings.set(p.row.match_id, [p]);
    }
    const runFiring = async (firing: typeof planned) => {
      for (const { row, checked, plan } of firing) {
        const key = row.idempotency_key;
        if (!plan) {
          settled.push({
            key,
            status: 'dead',
            destination: `${row.action_type}:invalid`,
            error: 'the action no longer exists',
            workflow_id: null,
            attempt: null,
          });
          continue;
        }
        const { destination } = plan;
        const gate = gates.get(breakerKeyId({ organizationId: row.organization_id, destination }));
        if (gate?.open || (this.isSlow(destination) && this.slowHandOff(destination))) {
          handOffs.push({ key, row, first: { plan } });
          settled.push({
            key,
            status: 'pending',
            destination,
            error: null,
            workflow_id: deliveryWorkflowId(key),
            attempt: null,
          });
          continue;
        }
        const { outcome, durationMs } = await this.send(row, checked, secretsOf, destination);
        const attempt: AttemptRecord = {
          idempotencyKey: key,
          organizationId: row.organization_id,
          attempt: plan.attemptsBefore + 1,
          destination,
          outcome,
          durationMs,
        };
        attempts.push(attempt);
        if (outcome.ok)
          settled.push({ key, status: 'delivered', destination, error: null, workflow_id: null, attempt });
        else if (outcome.permanent)
          settled.push({ key, status: 'dead', destination, error: outcome.error, workflow_id: null, attempt });
        else {
          handOffs.push({ key, row, first: { plan, outcome: withoutExcerpt(outcome) } });
          settled.push({
            key,
            status: 'pending',
            destination,
            error: outcome.error,
            workflow_id: deliveryWorkflowId(key),
            attempt,
          });
        }
      }
    };
    await forEachConcurrently([...firings.values()], BATCH_CONCURRENCY, runFiring);

    // Hand-offs first: should the worker die before the states below are written, the run that takes over attempts
    // again (same idempotency keys) and finds the delivery workflows already started. Only of deliveries still ours: a
    // run that took over an expired claim carries on with them.
    const ours = await repository.stillClaimed(
      handOffs.map((h) => h.key),
      claim,
    );
    const handedOff = handOffs.filter((h) => ours.has(h.key));
    await forEachConcurrently(handedOff, HAND_OFF_CONCURRENCY, (h) => this.handOff(h.row, h.first));
    const [, settledCount] = await Promise.all([
      repository.recordAttempts(attempts),
      repository.settle(settled, claim),
    ]);
    const lost = settled.length - settledCount;
    if (lost > 0)
      this.log.warn({ claim, lost }, 'delivery claims expired and were taken over: left to the run that holds them');
    await recordBreakerOutcomes(pool, attempts.map(breakerOutcome), gates, this.deps.breaker);
    this.logFailedAttempts(attempts);
    const result: BatchResult = {
      claimed: rows.length,
      delivered: settled.filter((s) => s.status === 'delivered').length,
      dead: settled.filter((s) => s.status === 'dead').length,
      handedOff: handedOff.length,
    };
    this.log.debug({ claim, ...result }, 'delivery batch');
    return result;
  }
}

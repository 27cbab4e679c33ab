/**
 * The direct sender: first attempts made in the process that created the deliveries, right after the commit that
 * created them, without the NOTIFY → pump claim round trip. The deliveries are claimed for it in that same transaction
 * (src/deliveries/firings.ts), under a lease it extends while it works; the durable rows stay the truth: should this
 * process die or stall, the lease expires and the dispatcher's pump, which owns those rows otherwise, takes them over
 * (same idempotency keys: at least once, and a receiver can recognise a repeat). What does not settle at the first
 * attempt continues in its own delivery workflow, as from a pump (Deliverer.attemptBatch). It takes a bounded number
 * of deliveries at a time; beyond that they go to the pumps.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { BreakerOptions } from '../actions/breaker.js';
import type { Logger } from '../logger.js';
import { Deliverer } from './deliverer.js';
import { CLAIM_LEASE_MS } from './pump.js';
import { DeliveryRepository, type DeliveryRow } from './repository.js';
import { Senders, type SenderDeps } from './senders.js';

/** Deliveries a direct sender holds at most (beyond it, new deliveries are left to the pumps). */
export const DIRECT_MAX_IN_FLIGHT = 1_000;
/**
 * Batches (one per commit) it attempts at once, as a pump does: beyond them the sends would only slow each other down
 * (and a send slower than a second hands its destination's deliveries off to per-delivery workflows); the pumps, which
 * batch what waits, take the surplus.
 */
export const DIRECT_BATCHES_IN_FLIGHT = 4;

export interface DirectSenderOptions {
  repository: DeliveryRepository;
  deliverer: Deliverer;
  logger: Logger;
  maxInFlight?: number;
  maxBatches?: number;
}

export class DirectSender {
  /** This sender's claim (one per process run): a pump takes over only once its lease has expired. */
  readonly claim = `direct:${randomUUID()}`;
  readonly claimLeaseMs: number;
  /** First attempts made (delivered, dead or handed off) since start: metrics, tests. */
  attempted = 0;
  private readonly log: Logger;
  private readonly maxInFlight: number;
  private readonly maxBatches: number;
  /** The deliveries in flight, by key. */
  private readonly holding = new Set<string>();
  private readonly batches = new Set<Promise<void>>();
  private extender: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: DirectSenderOptions) {
    this.claimLeaseMs = options.repository.claimLeaseMs;
    this.maxInFlight = options.maxInFlight ?? DIRECT_MAX_IN_FLIGHT;
    this.maxBatches = options.maxBatches ?? DIRECT_BATCHES_IN_FLIGHT;
    this.log = options.logger.child({ component: 'direct-sender', claim: this.claim });
  }

  /** Whether it takes `count` more deliveries now; if not, they are left to the dispatchers' pumps. */
  accepts(count: number): boolean {
    return !this.closed && this.batches.size < this.maxBatches && this.holding.size + count <= this.maxInFlight;
  }

  /** Attempts deliveries claimed for it (committed), in the background. */
  send(rows: DeliveryRow[]): void {
    for (const row of rows) this.holding.add(row.idempotency_key);
    this.extender ??= setInterval(() => void this.extendClaims(), this.claimLeaseMs / 3).unref();
    const batch = this.options.deliverer
      .attemptBatch(rows, this.claim)
      .then(
        (result) => void (this.attempted += result.claimed),
        (err: unknown) =>
          this.log.warn(
            { err, deliveries: rows.length },
            'direct first attempts failed; the pumps take these deliveries over when their claim expires',
          ),
      )
      .finally(() => {
        for (const row of rows) this.holding.delete(row.idempotency_key);
        this.batches.delete(batch);
        if (this.holding.size === 0) {
          clearInterval(this.extender);
          this.extender = undefined;
        }
      });
    this.batches.add(batch);
  }

  /** Deliveries in flight. */
  get inFlight(): number {
    return this.holding.size;
  }

  /** Takes no more deliveries and waits for those in flight (what it cannot finish, the pumps take over later). */
  async close(): Promise<void> {
    this.closed = true;
    // A commit that found room before the close may still hand its deliveries over meanwhile: wait for those too.
    while (this.batches.size > 0) await Promise.allSettled([...this.batches]);
  }

  private async extendClaims(): Promise<void> {
    try {
      await this.options.repository.extendClaimsOn([...this.holding], this.claim);
    } catch (err) {
      this.log.warn({ err }, 'could not extend direct delivery claims');
    }
  }
}

/** A direct sender with its own deliverer, for a process without the worker's (the relay on its own). */
export function createDirectSender(
  deps: SenderDeps & {
    temporal: Client;
    taskQueue: string;
    logger: Logger;
    breaker?: BreakerOptions;
    claimLeaseMs?: number;
    maxInFlight?: number;
  },
): DirectSender {
  const repository = new DeliveryRepository(deps.pool, deps.claimLeaseMs ?? CLAIM_LEASE_MS);
  const logger = deps.logger.child({ component: 'deliveries' });
  const deliverer = new Deliverer({
    pool: deps.pool,
    repository,
    senders: new Senders(deps),
    secrets: deps.secrets,
    temporal: deps.temporal,
    taskQueue: deps.taskQueue,
    logger,
    breaker: deps.breaker,
  });
  return new DirectSender({ repository, deliverer, logger, maxInFlight: deps.maxInFlight });
}

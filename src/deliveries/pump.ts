/**
 * The dispatchers' pump (one shift of it): claims a dispatcher's new deliveries in batches and makes their first
 * attempts, a few batches at a time, woken by NOTIFY when deliveries are created and sweeping every couple of seconds
 * besides. It reports progress through `heartbeat` throughout; when `signal` aborts (worker shutdown) it stops
 * claiming, gives the batches in flight a moment and leaves the rest to the next run, which takes over its claims.
 */
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { Deliverer } from './deliverer.js';
import { DELIVERIES_CREATED_CHANNEL } from './dispatchers.js';
import type { DeliveryRepository } from './repository.js';
import type { PumpResult } from './types.js';

/** Deliveries a batch starts from (whole firings are claimed: their other actions come along). */
const PUMP_BATCH_SIZE = 500;
/** Batches a pump attempts at once: a batch held up by a slow receiver leaves room for the others. */
const PUMP_BATCHES_IN_FLIGHT = 4;
/** A pump looks for deliveries this often even without a notification (one lost with a dropped connection). */
const PUMP_SWEEP_MS = 2_000;
const PUMP_CANCEL_GRACE_MS = 2_000;
/**
 * A pump's claims are leases: held this long, extended while the pump works (at a third of it), and taken over by
 * another run only once expired. Above the pump's heartbeat timeout (10 s), so a run that Temporal gave up on is
 * replaced before its claims are taken, and a run that is merely slow keeps them.
 */
export const CLAIM_LEASE_MS = 20_000;

export interface PumpDeps {
  /** Where the pump opens its own connection (it listens, and it claims). */
  connectionString: string | undefined;
  repository: DeliveryRepository;
  deliverer: Deliverer;
  logger: Logger;
}

export interface PumpShift {
  dispatcherId: string;
  shiftMs: number;
  /** This run's claim on the deliveries it takes (unique per run and attempt of the pump). */
  claim: string;
  heartbeat: (progress: PumpResult) => void;
  /** Aborted when the pump is to stop early (its activity was cancelled). */
  signal: AbortSignal;
}

export class DeliveryPump {
  constructor(private readonly deps: PumpDeps) {}

  /** One shift; what it did. When cancelled, it returns what it did once the batches in flight have had their moment. */
  async run({ dispatcherId, shiftMs, claim, heartbeat, signal: cancelled }: PumpShift): Promise<PumpResult> {
    const { repository, deliverer } = this.deps;
    const { claimLeaseMs } = repository;
    const log = this.deps.logger.child({ dispatcherId, claim });
    let wake: (() => void) | undefined;
    let woken = true;
    const poke = () => {
      woken = true;
      wake?.();
    };
    // A claim need not survive a Postgres crash (the next pump run claims again whatever is pending), so its commit
    // does not wait for the WAL flush: that is on every delivery's path.
    const listener = new pg.Client({
      connectionString: this.deps.connectionString,
      application_name: 'erc8004-delivery-pump',
      options: '-c synchronous_commit=off',
    });
    listener.on('notification', (n) => n.payload === dispatcherId && poke());
    // The shift starts once the pump listens: on a busy machine connecting can take longer than a short shift.
    let endAt = Infinity;
    // Without its LISTEN connection the pump would only sweep: it ends its shift, and the next run listens again.
    const listenerLost = (err?: Error) => {
      if (cancelled.aborted || Date.now() >= endAt) return;
      log.warn({ err }, 'delivery pump LISTEN connection lost; ending the shift early');
      endAt = Date.now();
      poke();
    };
    listener.on('error', listenerLost);
    listener.on('end', () => listenerLost());
    cancelled.addEventListener('abort', poke);
    const result: PumpResult = { batches: 0, claimed: 0, delivered: 0, dead: 0, handedOff: 0 };
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    // Claims are extended well before they expire, as long as this run works (also while it drains).
    let extendAt = Date.now() + claimLeaseMs / 3;
    const keepClaims = async () => {
      if (Date.now() < extendAt) return;
      extendAt = Date.now() + claimLeaseMs / 3;
      await repository.extendClaims(dispatcherId, claim);
    };
    try {
      await listener.connect();
      await listener.query(`LISTEN ${DELIVERIES_CREATED_CHANNEL}`);
      if (endAt === Infinity) endAt = Date.now() + shiftMs;
      while (!cancelled.aborted && failure === undefined && Date.now() < endAt) {
        heartbeat(result);
        await keepClaims();
        if (woken && inFlight.size < PUMP_BATCHES_IN_FLIGHT) {
          woken = false;
          const rows = await repository.claimPending(listener, dispatcherId, claim, PUMP_BATCH_SIZE);
          if (rows.length > 0) {
            // More may be waiting: claim again at once (up to the batches in flight).
            woken = true;
            const batch = deliverer
              .attemptBatch(rows, claim)
              .then(
                (r) => {
                  result.batches++;
                  result.claimed += r.claimed;
                  result.delivered += r.delivered;
                  result.dead += r.dead;
                  result.handedOff += r.handedOff;
                },
                (err: unknown) => void (failure ??= err),
              )
              .finally(() => {
                inFlight.delete(batch);
                poke();
              });
            inFlight.add(batch);
            continue;
          }
        }
        await new Promise<void>((resolve) => {
          const sweep = setTimeout(
            () => {
              woken = true;
              resolve();
            },
            Math.min(PUMP_SWEEP_MS, Math.max(0, endAt - Date.now())),
          );
          wake = () => {
            clearTimeout(sweep);
            resolve();
          };
        });
        wake = undefined;
      }
      // The batches in flight finish (cancelled: for a moment only), heartbeating and keeping their claims meanwhile.
      const drained = Promise.all(inFlight);
      const drainUntil = cancelled.aborted ? Date.now() + PUMP_CANCEL_GRACE_MS : Infinity;
      while (inFlight.size > 0 && Date.now() < drainUntil) {
        heartbeat(result);
        await keepClaims().catch((err: unknown) => log.warn({ err }, 'could not extend delivery claims'));
        let tick: NodeJS.Timeout | undefined;
        await Promise.race([
          drained,
          new Promise((r) => (tick = setTimeout(r, Math.min(PUMP_SWEEP_MS, drainUntil - Date.now())))),
        ]);
        clearTimeout(tick);
      }
    } finally {
      endAt = 0;
      cancelled.removeEventListener('abort', poke);
      await listener.end().catch(() => undefined);
    }
    // A batch that failed as a whole (Postgres unreachable): the run fails and Temporal retries it; the next run
    // takes over the claims.
    if (failure !== undefined) throw failure;
    if (!cancelled.aborted) log.debug(result, 'delivery pump shift ended');
    return result;
  }
}

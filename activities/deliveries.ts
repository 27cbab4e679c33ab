/**
 * The delivery activities: src/deliveries wired to Temporal. Creating deliveries for a trigger's firings, the
 * dispatchers' pump (one shift per activity run), single attempts and marks for the per-delivery workflows, and the
 * maintenance safety net for dispatchers.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { BreakerOptions } from '../src/actions/breaker.js';
import type { RegistrationCache } from '../src/actions/registration.js';
import type { AllowList } from '../src/actions/safe-http.js';
import type { TelegramLimiter } from '../src/actions/telegram.js';
import { Deliverer } from '../src/deliveries/deliverer.js';
import { ensureWaitingDispatchers, type DispatchSettings } from '../src/deliveries/dispatchers.js';
import { DirectSender } from '../src/deliveries/direct.js';
import { recordFiringsAndStartDeliveries, startDeliveries } from '../src/deliveries/firings.js';
import { CLAIM_LEASE_MS, DeliveryPump } from '../src/deliveries/pump.js';
import { DeliveryRepository } from '../src/deliveries/repository.js';
import { Senders } from '../src/deliveries/senders.js';
import type { DeliveryWorkflowActivities, MatchRecord } from '../src/deliveries/types.js';
import type { Logger } from '../src/logger.js';
import type { SecretBox } from '../src/secrets.js';

export interface DeliveryDeps {
  pool: pg.Pool;
  logger: Logger;
  temporal: Client;
  taskQueue: string;
  secrets: SecretBox;
  telegram: { baseUrl: string; defaultBotToken: string | undefined; limiter: TelegramLimiter };
  allow: AllowList;
  ipfsGateway: string;
  registrations: RegistrationCache;
  /** Circuit breaker tuning (tests shorten the pause). */
  breaker?: BreakerOptions;
  /** How many delivery dispatcher workflows share the first attempts (see workflows/delivery-dispatcher.ts). */
  dispatch?: DispatchSettings;
  /** How long a pump's claim holds without being extended (default CLAIM_LEASE_MS). */
  claimLeaseMs?: number;
  /** Gets what must be closed when the worker stops (the direct sender, which waits for its attempts in flight). */
  onClose?: (close: () => Promise<void>) => void;
}

export function createDeliveryActivities(deps: DeliveryDeps) {
  const { pool, temporal, taskQueue } = deps;
  const log = deps.logger.child({ component: 'deliveries' });
  const repository = new DeliveryRepository(pool, deps.claimLeaseMs ?? CLAIM_LEASE_MS);
  const senders = new Senders(deps);
  const deliverer = new Deliverer({
    pool,
    repository,
    senders,
    secrets: deps.secrets,
    temporal,
    taskQueue,
    logger: log,
    breaker: deps.breaker,
  });
  const pump = new DeliveryPump({
    connectionString: (pool.options as pg.PoolConfig).connectionString,
    repository,
    deliverer,
    logger: log,
  });
  // Firings recorded here (trigger workflows' local activities) get their first attempts in this worker at once.
  const direct = new DirectSender({ repository, deliverer, logger: log });
  deps.onClose?.(() => direct.close());
  const firingDeps = { pool, temporal, taskQueue, logger: log, dispatch: deps.dispatch, direct };

  const workflowActivities: DeliveryWorkflowActivities = {
    prepareDelivery: (key) => deliverer.prepare(key),
    checkBreaker: (destination, idempotencyKey) => deliverer.checkBreaker(destination, idempotencyKey),
    attemptDelivery: (request) => deliverer.attempt(request),
    markDelivery: (key, status, error) => repository.mark(key, status, error),
    deliverFirstAttempt: (key) => deliverer.deliverFirstAttempt(key),

    /** One shift of a dispatcher's pump, as a long-running activity that heartbeats (workflows/delivery-dispatcher.ts). */
    async pumpDeliveries({ dispatcherId, shiftMs }) {
      const ctx = Context.current();
      const run = ctx.info.workflowExecution?.runId ?? 'standalone';
      const signal = ctx.cancellationSignal;
      const result = await pump.run({
        dispatcherId,
        shiftMs,
        claim: `${dispatcherId}#${run}/${ctx.info.activityId}/${ctx.info.attempt}`,
        heartbeat: (progress) => ctx.heartbeat(progress),
        signal,
      });
      if (signal.aborted) throw new CancelledFailure('delivery pump cancelled; the next run takes over its claims');
      return result;
    },
  };

  return {
    ...workflowActivities,

    startDeliveries(triggerId: string, fired: { eventSeq: string; kind: 'match' | 'absence' }[]): Promise<number> {
      return startDeliveries(
        firingDeps,
        fired.map((f) => ({ triggerId, ...f })),
      );
    },

    /** A trigger workflow's firings in one local activity: recorded, and their deliveries created, in one transaction. */
    recordAndDeliver(triggerId: string, matches: MatchRecord[]): Promise<number> {
      return recordFiringsAndStartDeliveries(
        firingDeps,
        matches.map((match) => ({ triggerId, match })),
      );
    },

    /** Safety net, run by the maintenance workflow: see ensureWaitingDispatchers. */
    ensureWaitingDispatchers: (): Promise<string[]> => ensureWaitingDispatchers(repository, temporal, log),
  };
}

/** x402 in an API process: the gate in front of the paid endpoints, and the reconciler of undecided payments. */
import type { Queryable } from '../../db/transaction.js';
import type { Logger } from '../../logger.js';
import type { X402Settings } from './config.js';
import { createFacilitatorClient, paymentNetworkClient } from './facilitator.js';
import { X402Gate, type X402GateDeps } from './gate.js';
import { startX402Reconciler } from './reconcile.js';

export interface X402Service {
  gate: X402Gate;
  close(): Promise<void>;
}

export function createX402Service(
  settings: X402Settings,
  deps: { pool: Queryable; logger: Logger } & Pick<X402GateDeps, 'priceOf' | 'route'>,
): X402Service {
  const network = paymentNetworkClient(settings);
  const gate = new X402Gate({ ...deps, settings, network, facilitator: createFacilitatorClient(settings) });
  // A claim younger than this may still be settling in its request (two receipt waits: the x402 server retries once).
  const staleAfterMs = 2 * settings.confirmationTimeoutMs + 60_000;
  const reconciler = network
    ? startX402Reconciler({ ...deps, network, staleAfterMs, intervalMs: settings.reconcileIntervalMs })
    : undefined;
  if (!network) {
    deps.logger.warn('x402: no RPC for the payment network (X402_RPC_URL): pending payments are not reconciled');
  }
  return { gate, close: async () => reconciler?.stop() };
}

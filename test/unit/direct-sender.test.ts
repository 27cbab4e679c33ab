import { describe, expect, it } from 'vitest';
import { DirectSender } from '../../src/deliveries/direct.js';
import type { Deliverer } from '../../src/deliveries/deliverer.js';
import type { DeliveryRepository, DeliveryRow } from '../../src/deliveries/repository.js';
import { testLogger } from '../helpers/logger.js';

/** A deliverer whose batches end when the test says so, the oldest first. */
function heldDeliverer() {
  const pending: (() => void)[] = [];
  const deliverer = {
    attemptBatch: (rows: DeliveryRow[]) =>
      new Promise((resolve) =>
        pending.push(() => resolve({ claimed: rows.length, delivered: rows.length, dead: 0, handedOff: 0 })),
      ),
  } as unknown as Deliverer;
  return { deliverer, release: () => pending.shift()?.() };
}

const repository = { claimLeaseMs: 60_000, extendClaimsOn: async () => undefined } as unknown as DeliveryRepository;
const row = (key: string) => ({ idempotency_key: key }) as DeliveryRow;

describe('DirectSender.close', () => {
  it('takes no more deliveries and waits for every batch in flight, also one handed over while it closes', async () => {
    const { deliverer, release } = heldDeliverer();
    const direct = new DirectSender({ repository, deliverer, logger: testLogger });
    expect(direct.accepts(1)).toBe(true);
    direct.send([row('a')]);
    let closed = false;
    const closing = direct.close().then(() => (closed = true));
    expect(direct.accepts(1)).toBe(false);
    // A commit that found room before the close hands its claimed deliveries over now.
    direct.send([row('b')]);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(false);
    expect(direct.inFlight).toBe(1);
    release();
    await closing;
    expect(direct.inFlight).toBe(0);
    expect(direct.attempted).toBe(2);
  });
});

/**
 * Delivery dispatcher (id `deliveries/{taskQueue}/{n}`): keeps one long-running activity going — the pump
 * (src/deliveries/pump.ts) — that makes the first attempts of the deliveries assigned to this
 * dispatcher, in batches, woken by NOTIFY as the relay (or a trigger workflow) creates them. The deliveries themselves
 * are durable rows; Temporal keeps the pump alive: it heartbeats, and when its worker dies it is retried on another
 * one, which takes over what the dead run had claimed. What does not settle at the first attempt — a transient
 * failure, an open breaker, a slow destination — continues in its own delivery workflow (workflows/delivery.ts).
 *
 * The pump works in shifts (it returns after `shiftMs`, having finished its batches), so that the history stays short
 * and a new version of the code takes over; after `shiftsPerRun` shifts the workflow continues as new.
 */
import { continueAsNew, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { DeliveryWorkflowActivities } from '../src/deliveries/types.js';

export interface DeliveryDispatcherInput {
  /** How long one run of the pump lasts (default 10 minutes). */
  shiftMs?: number;
  /** Shifts before the workflow continues as new (default 50). */
  shiftsPerRun?: number;
}

export async function deliveryDispatcherWorkflow(args: DeliveryDispatcherInput): Promise<void> {
  const shiftMs = args.shiftMs ?? 10 * 60_000;
  const { pumpDeliveries } = proxyActivities<DeliveryWorkflowActivities>({
    // The shift, then time to finish the batches in flight (the longest action timeout is 120 s).
    startToCloseTimeout: shiftMs + 5 * 60_000,
    // A pump whose worker died is noticed within this, and retried elsewhere.
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  });
  const { workflowId } = workflowInfo();
  for (let shift = 0; shift < (args.shiftsPerRun ?? 50); shift++) {
    await pumpDeliveries({ dispatcherId: workflowId, shiftMs });
  }
  await continueAsNew<typeof deliveryDispatcherWorkflow>(args);
}

/**
 * One A2A query task (workflow id `a2a/{taskId}`): hold the price (or take an included call) → compute (heartbeating, retried on another worker
 * if this one dies) → capture the price → write the terminal task state. Every step is idempotent on the task, so a
 * workflow replayed after a crash completes once and charges once. Cancelled before the answer is in, it releases the
 * hold and writes CANCELED; once the answer is in, it finishes (capture and COMPLETED) whatever is asked.
 */
import { CancellationScope, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { A2ATaskActivities, A2ATaskInput, A2ATaskResult } from '../src/a2a/workflow-types.js';

const { holdTaskPrice, markTaskWorking, captureTaskPrice, releaseTaskHold, finishA2ATask } =
  proxyActivities<A2ATaskActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds' },
  });

/** The computation: its heartbeats tell a live worker from a dead one long before the start-to-close timeout. */
const { computeTaskAnswer } = proxyActivities<A2ATaskActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '5 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    // The caller's mistakes and refusals do not get better by trying again.
    nonRetryableErrorTypes: ['QueryError', 'BillingError'],
  },
});

function reasonOf(err: unknown): string {
  let cause: unknown = err;
  // ActivityFailure wraps the activity's own ApplicationFailure, whose message is the reason.
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}

export async function a2aTaskWorkflow(input: A2ATaskInput): Promise<A2ATaskResult> {
  const { taskId, organizationId } = input;
  // Not cancellable: a hold reserved by an activity the workflow stopped waiting for could not be released.
  const held = await CancellationScope.nonCancellable(() => holdTaskPrice(input));
  if ('refused' in held) {
    await finishA2ATask({ taskId, state: 'rejected', text: held.refused });
    return { state: 'rejected', charged: '0' };
  }
  // Without a hold, the task took one of the organization's included calls: nothing to capture.
  const holdId = 'holdId' in held ? held.holdId : undefined;
  try {
    await markTaskWorking(taskId);
    await computeTaskAnswer({ ...input, holdId });
  } catch (err) {
    const canceled = isCancellation(err);
    await CancellationScope.nonCancellable(async () => {
      await releaseTaskHold({ organizationId, taskId });
      await finishA2ATask(
        canceled
          ? { taskId, state: 'canceled', text: 'canceled at the caller’s request; nothing was charged' }
          : { taskId, state: 'failed', text: `${reasonOf(err)}; nothing was charged` },
      );
    });
    if (canceled) throw err;
    return { state: 'failed', charged: '0' };
  }
  return CancellationScope.nonCancellable(async () => {
    const charged =
      holdId === undefined ? '0' : await captureTaskPrice({ organizationId, holdId, amount: input.price });
    await finishA2ATask({ taskId, state: 'completed', cost: charged });
    return { state: 'completed' as const, charged };
  });
}

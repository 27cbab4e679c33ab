import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  attemptJobId,
  deliveryKey,
  deliveryWorkflowId,
  dispatcherTaskQueue,
  dispatcherWorkflowId,
  replayWorkflowId,
} from '../../src/deliveries/ids.js';

describe('delivery ids', () => {
  it('names a delivery, its workflows and its attempts as the recorded histories and receivers know them', () => {
    const key = deliveryKey('a1b2c3d4-0000-4000-8000-000000000001', '42', 'match', 7);
    expect(key).toBe('dlv_a1b2c3d4-0000-4000-8000-000000000001_42_match_7');
    expect(deliveryWorkflowId(key)).toBe(`delivery/${key}`);
    expect(replayWorkflowId(key, 2)).toBe(`delivery/${key}/replay-2`);
    expect(attemptJobId(key, 3)).toBe(`delivery/${key}#3`);
    expect(dispatcherWorkflowId('triggers', 1)).toBe('deliveries/triggers/1');
  });

  it("reads a dispatcher's task queue back from its workflow id (task queues may contain slashes)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.nat(), (taskQueue, index) => {
        expect(dispatcherTaskQueue(dispatcherWorkflowId(taskQueue, index))).toBe(taskQueue);
      }),
    );
  });
});

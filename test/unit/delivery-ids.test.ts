import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  attemptJobId,
  deliveryKey,
  deliveryWorkflowId,
  deliveryWorkflowLabel,
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

  it("labels a delivery workflow for the Temporal UI with its trigger's name and destination", () => {
    const key = deliveryKey('a1b2c3d4-0000-4000-8000-000000000001', '42', 'match', 7);
    const label = deliveryWorkflowLabel({
      idempotencyKey: key,
      triggerName: 'Low score alert',
      triggerId: 'a1b2c3d4-0000-4000-8000-000000000001',
      destination: 'rest:hooks.example.com',
      eventType: 'NewFeedback',
      agentKey: '8453:12',
      kind: 'match',
    });
    expect(label.staticSummary).toBe('Low score alert → rest:hooks.example.com');
    expect(label.staticDetails.split('\n')).toEqual([
      'Delivery of trigger **Low score alert** (`a1b2c3d4-0000-4000-8000-000000000001`)',
      'Destination: `rest:hooks.example.com`',
      'Event: NewFeedback for agent `8453:12`',
      `Idempotency key: \`${key}\``,
    ]);
  });

  it('keeps the summary one short line, says which replay it is, and copes with a deleted trigger', () => {
    const label = deliveryWorkflowLabel({
      idempotencyKey: 'dlv_x',
      triggerName: 'n'.repeat(500),
      triggerId: null,
      destination: null,
      eventType: null,
      agentKey: null,
      kind: 'absence',
      replay: 2,
    });
    expect(label.staticSummary).toBe(`${'n'.repeat(119)}… → unknown destination (replay 2)`);
    expect(label.staticDetails).toContain('Event: unknown (absence)');
    expect(
      deliveryWorkflowLabel({
        ...{ idempotencyKey: 'k', triggerId: null, destination: 'telegram:42' },
        triggerName: null,
        eventType: null,
        agentKey: null,
        kind: null,
      }).staticSummary,
    ).toBe('deleted trigger → telegram:42');
  });
});

import type { TriggerEvent } from '../../src/triggers/engine.js';

export const T0 = 1_700_000_000;

/**
 * A full TriggerEvent for the evaluator's tests: a NewFeedback of agent '0' on chain 1, value 50, 12 s of block time
 * per ingest seq from T0. Overrides win.
 */
export function triggerEvent(seq: number, overrides: Partial<TriggerEvent> = {}): TriggerEvent {
  return {
    ingest_seq: String(seq),
    id: `evt-${seq}`,
    chain_id: 1,
    block_number: 1_000 + seq,
    log_index: 0,
    timestamp: T0 + seq * 12,
    registry: 'reputation',
    event_type: 'NewFeedback',
    agent_id: '0',
    value: '50',
    value_decimals: 0,
    tag1: null,
    tag2: null,
    tag: null,
    validator_address: null,
    file_uri: null,
    response: null,
    request_hash: null,
    ...overrides,
  };
}

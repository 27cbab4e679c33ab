/**
 * The floor of bench:triggers: N workflows that only count their signals (test/bench/floor-workflow.ts, run by the
 * benchmark's worker process on a task queue of their own), fed by the production Relay — read in ingest order,
 * grouped per target, signalWithStart with the dispatcher's chunking and bounded concurrency, cursor moved once every
 * signal was accepted — minus the candidate lookup and the evaluation. The highest rate it sustains is the ceiling the
 * stateful path is measured against, in the same run, on the same machine.
 */
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Logger } from '../../src/logger.js';
import { forEachConcurrently } from '../../src/concurrency.js';
import { Relay, type Dispatcher, type RelayItem } from '../../src/relay/relay.js';
import { chunkItems, toTriggerEvent } from '../../src/relay/trigger-dispatcher.js';
import type { TriggerItem } from '../../src/triggers/drain.js';
import { ascending } from './common.js';

export const floorWorkflowId = (agent: string) => `floor/${agent}`;

/** The TriggerDispatcher's signalling (one signalWithStart per target and chunk, 16 targets at a time), nothing else. */
export class FloorDispatcher implements Dispatcher {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  async dispatch(batch: readonly RelayItem[]): Promise<void> {
    const byAgent = new Map<string, TriggerItem[]>();
    for (const item of batch) {
      if (item.kind !== 'event' || item.event.agent_id === null) continue;
      const items = byAgent.get(item.event.agent_id) ?? [];
      items.push({ kind: 'event', event: toTriggerEvent(item.event) });
      byAgent.set(item.event.agent_id, items);
    }
    await forEachConcurrently([...byAgent], 16, async ([agent, items]) => {
      for (const chunk of chunkItems(items, 200)) {
        await this.client.workflow.signalWithStart('signalCounterWorkflow', {
          workflowId: floorWorkflowId(agent),
          taskQueue: this.taskQueue,
          signal: 'events',
          signalArgs: [{ items: chunk }],
        });
      }
    });
  }
}

export function floorRelay(options: {
  pool: pg.Pool;
  databaseUrl: string;
  client: Client;
  taskQueue: string;
  logger: Logger;
}): Relay {
  return new Relay({
    pool: options.pool,
    databaseUrl: options.databaseUrl,
    logger: options.logger,
    name: 'bench-floor',
    dispatcher: new FloorDispatcher(options.client, options.taskQueue),
  });
}

/** committed → handled latencies (ms) of the floor's samples, from the events' created_at (database clock, same host). */
export async function floorLatencies(
  pool: pg.Pool,
  after: string,
  upTo: string,
  samples: readonly [string, number][],
): Promise<{ latency: number[]; missing: number }> {
  const { rows } = await pool.query<{ seq: string; created: number }>(
    `SELECT ingest_seq::text AS seq, extract(epoch FROM created_at)::float8 * 1000 AS created
     FROM events WHERE ingest_seq > $1 AND ingest_seq <= $2`,
    [after, upTo],
  );
  const handled = new Map<string, number>();
  for (const [seq, at] of samples) if (!handled.has(seq)) handled.set(seq, at);
  const latency: number[] = [];
  let missing = 0;
  for (const row of rows) {
    const at = handled.get(row.seq);
    if (at === undefined) missing++;
    else latency.push(at - row.created);
  }
  return { latency: ascending(latency), missing };
}

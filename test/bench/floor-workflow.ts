/**
 * The floor of bench:triggers (test/bench/triggers.ts): a workflow that only counts the relay's signals — no
 * evaluation, no activity — so the rate it sustains is the ceiling of "a signal per event to a long-lived workflow" on
 * the machine at hand. Each handled signal is reported through a sink (the worker's process times it), not recorded in
 * history. Bundled by the benchmark's worker process only (test/bench/triggers-worker.ts), never by production.
 */
import { condition, defineSignal, proxySinks, setHandler, type Sinks } from '@temporalio/workflow';

export interface FloorSinks extends Sinks {
  floor: {
    started(): void;
    /** The ingest_seqs of the items of one handled signal. */
    handled(seqs: string[]): void;
  };
}

/** Same name and payload shape as the trigger workflow's events signal. */
export const floorEventsSignal =
  defineSignal<[{ items: ({ kind: 'event'; event: { ingest_seq: string } } | { kind: 'retraction'; seq: string })[] }]>(
    'events',
  );

const { floor } = proxySinks<FloorSinks>();

export async function signalCounterWorkflow(): Promise<number> {
  let count = 0;
  floor.started();
  setHandler(floorEventsSignal, ({ items }) => {
    count += items.length;
    floor.handled(items.map((i) => (i.kind === 'event' ? i.event.ingest_seq : i.seq)));
  });
  await condition(() => false);
  return count;
}

import type { Logger } from '../logger.js';
import type { Dispatcher, RelayItem } from './relay.js';

/**
 * Dispatcher used until triggers consume the relay: it only reports what passes (counts per kind), so that the relay's
 * cursor and lag are real and observable from the start.
 */
export class LogDispatcher implements Dispatcher {
  constructor(private readonly logger: Logger) {}
  async dispatch(batch: readonly RelayItem[]): Promise<void> {
    const retractions = batch.filter((i) => i.kind === 'retraction').length;
    this.logger.debug({ events: batch.length - retractions, retractions, lastSeq: batch.at(-1)?.seq }, 'relayed');
  }
}

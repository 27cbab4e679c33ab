/**
 * The time an answer is as of. The indexer records no timestamp for blocks without events, so the as-of time is the
 * block time of the latest canonical event of the chain at or below the as-of block: it depends only on the block,
 * like everything else in an answer, and is what "the last 30 days" and an unfinished period are measured from.
 */
import type { Queryable } from '../db/transaction.js';
import type { AsOf } from './as-of.js';

/** Unix seconds; 0 when the chain has no event at or below the block. */
export async function asOfBlockTime(db: Queryable, asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>): Promise<number> {
  const { rows } = await db.query<{ timestamp: string }>(
    `SELECT "timestamp"::text AS "timestamp" FROM canonical_events
     WHERE chain_id = $1 AND block_number <= $2 ORDER BY block_number DESC, log_index DESC LIMIT 1`,
    [asOf.chainId, asOf.asOfBlock],
  );
  return rows[0] ? Number(rows[0].timestamp) : 0;
}

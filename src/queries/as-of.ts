/**
 * "As of which block" an answer is. The default is the chain's checkpoint: the head the indexer has fully written,
 * which it only advances to head − confirmations, so a default answer counts confirmed events only. An explicit
 * `asOfBlock` may be any block at or below it; its hash comes from what the indexer recorded (indexed_blocks, or an
 * event of that block), else from the chain's RPC when one is given.
 */
import type { Queryable } from '../db/transaction.js';
import { QueryError } from './errors.js';

export interface AsOf {
  chainId: number;
  asOfBlock: number;
  asOfBlockHash: string;
}

/** Asks a chain's RPC for a block's hash (undefined when the chain is not configured here). */
export type BlockHashLookup = (chainId: number, blockNumber: number) => Promise<string | undefined>;

export async function resolveAsOf(
  db: Queryable,
  chainId: number,
  asOfBlock: number | undefined,
  lookupBlockHash?: BlockHashLookup,
): Promise<AsOf> {
  const head = await db.query<{ block: string; hash: string }>({
    name: 'query-as-of-checkpoint',
    text: 'SELECT last_block_number::text AS block, last_block_hash AS hash FROM checkpoints WHERE chain_id = $1',
    values: [chainId],
  });
  const checkpoint = head.rows[0];
  if (!checkpoint) throw new QueryError('chain_not_indexed', `chain ${chainId} is not indexed here`);
  const headBlock = Number(checkpoint.block);
  if (asOfBlock === undefined || asOfBlock === headBlock) {
    return { chainId, asOfBlock: headBlock, asOfBlockHash: checkpoint.hash };
  }
  if (asOfBlock > headBlock) {
    throw new QueryError(
      'block_not_indexed',
      `asOfBlock ${asOfBlock} is above chain ${chainId}'s indexed and confirmed head ${headBlock}`,
    );
  }
  const known = await db.query<{ hash: string }>(
    `SELECT block_hash AS hash FROM indexed_blocks WHERE chain_id = $1 AND block_number = $2
     UNION ALL
     (SELECT block_hash FROM canonical_events WHERE chain_id = $1 AND block_number = $2 LIMIT 1)
     LIMIT 1`,
    [chainId, asOfBlock],
  );
  const hash = known.rows[0]?.hash ?? (await lookupBlockHash?.(chainId, asOfBlock));
  if (!hash) {
    throw new QueryError('block_hash_unknown', `the hash of block ${asOfBlock} on chain ${chainId} is not known here`);
  }
  return { chainId, asOfBlock, asOfBlockHash: hash };
}

/** A BlockHashLookup over the configured chains' RPC endpoints (clients made on first use). */
export function rpcBlockHashLookup(
  chains: readonly { chainId: number; rpcUrl: string }[],
  clientOf: (rpcUrl: string) => { getBlock(args: { blockNumber: bigint }): Promise<{ hash: string | null }> },
): BlockHashLookup {
  const clients = new Map<number, ReturnType<typeof clientOf>>();
  return async (chainId, blockNumber) => {
    const chain = chains.find((c) => c.chainId === chainId);
    if (!chain) return undefined;
    let client = clients.get(chainId);
    if (!client) clients.set(chainId, (client = clientOf(chain.rpcUrl)));
    try {
      const block = await client.getBlock({ blockNumber: BigInt(blockNumber) });
      return block.hash ?? undefined;
    } catch {
      // An RPC that fails leaves the hash unknown: the caller is told so, as for a chain without RPC.
      return undefined;
    }
  };
}

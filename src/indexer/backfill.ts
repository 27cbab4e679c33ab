/**
 * Backfill: writes the registry events of a block range, in chunks claimed in `ingest_ranges` so that neither the live
 * indexer nor another backfill writes the same blocks. The claim owner is derived from the request, so a backfill that
 * was killed and is started again with the same arguments takes its unfinished chunks back at once.
 */
import type pg from 'pg';
import type { ChainConfig } from '../chain/config.js';
import type { Logger } from '../logger.js';
import { ChainReader, CLAIM_LEASE_MS } from './chain-indexer.js';
import { claimRange } from './store.js';
import { blockCount, type BlockRange } from './ranges.js';
import { sleep } from './rpc.js';

export interface BackfillProgress {
  from: number;
  to: number;
  blocksDone: number;
  blocksTotal: number;
  eventsWritten: number;
  elapsedMs: number;
  blocksPerSecond: number;
  eventsPerSecond: number;
  /** Seconds left at the current pace; undefined until there is a pace. */
  etaSeconds: number | undefined;
}

export interface BackfillOptions {
  chain: ChainConfig;
  pool: pg.Pool;
  logger: Logger;
  from: number;
  /** Default and upper bound: head − confirmations. */
  to?: number;
  signal?: AbortSignal;
  onProgress?: (progress: BackfillProgress) => void;
  /** Blocks per claimed chunk; default the chain's maxBlockRange. */
  chunkSize?: number;
}

export class BackfillRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackfillRequestError';
  }
}

export function backfillOwner(chainId: number, range: BlockRange): string {
  return `backfill:${chainId}:${range.from}-${range.to}`;
}

export async function runBackfill(options: BackfillOptions): Promise<BackfillProgress> {
  const { chain, pool, signal } = options;
  const reader = new ChainReader({ chain, pool, logger: options.logger, signal });
  const log = options.logger.child({ component: 'backfill', chainId: chain.chainId });
  const safeHead = (await reader.head()) - chain.confirmations;
  const to = options.to ?? safeHead;
  if (options.from < 0 || !Number.isInteger(options.from))
    throw new BackfillRequestError(`--from must be a block number >= 0, got ${options.from}`);
  if (to < options.from) throw new BackfillRequestError(`--to (${to}) is below --from (${options.from})`);
  if (to > safeHead) {
    throw new BackfillRequestError(
      `--to ${to} is beyond the confirmed head ${safeHead} (head − ${chain.confirmations} confirmations); the live indexer covers newer blocks`,
    );
  }
  const range = { from: options.from, to };
  const owner = backfillOwner(chain.chainId, range);
  const chunkSize = options.chunkSize ?? chain.maxBlockRange;
  const started = performance.now();
  let blocksDone = 0;
  let eventsWritten = 0;

  const progress = (): BackfillProgress => {
    const elapsedMs = performance.now() - started;
    const seconds = Math.max(elapsedMs / 1000, 1e-3);
    const blocksPerSecond = blocksDone / seconds;
    const total = to - range.from + 1;
    return {
      ...range,
      blocksDone,
      blocksTotal: total,
      eventsWritten,
      elapsedMs,
      blocksPerSecond,
      eventsPerSecond: eventsWritten / seconds,
      etaSeconds: blocksPerSecond > 0 ? (total - blocksDone) / blocksPerSecond : undefined,
    };
  };

  log.info({ ...range, owner }, 'backfill started');
  // Chunks still held by someone else; revisited until they are done (or their owner's lease lapses and we take them).
  let pending: BlockRange[] = [];
  for (let cursor = range.from; cursor <= to; cursor += chunkSize)
    pending.push({ from: cursor, to: Math.min(to, cursor + chunkSize - 1) });

  while (pending.length > 0) {
    const waiting: BlockRange[] = [];
    for (const chunk of pending) {
      if (signal?.aborted) return progress();
      const segments = await claimRange(pool, chain.chainId, chunk, owner, CLAIM_LEASE_MS);
      for (const segment of segments) {
        if (segment.status === 'busy') {
          waiting.push({ from: segment.from, to: segment.to });
          continue;
        }
        if (segment.status === 'mine') eventsWritten += await reader.writeRange(segment, owner);
        blocksDone += blockCount([segment]);
      }
      options.onProgress?.(progress());
    }
    pending = waiting;
    if (pending.length > 0) {
      log.info({ blocks: blockCount(pending) }, 'some blocks are being written by another process; waiting for them');
      await sleep(Math.min(CLAIM_LEASE_MS / 4, 5_000), signal).catch(() => undefined);
    }
  }
  const result = progress();
  log.info({ ...range, events: eventsWritten, seconds: Math.round(result.elapsedMs) / 1000 }, 'backfill finished');
  return result;
}

/** One line of progress: a bar, blocks/s, events/s and the ETA. */
export function formatProgress(p: BackfillProgress, width = 30): string {
  const ratio = p.blocksTotal > 0 ? p.blocksDone / p.blocksTotal : 1;
  const filled = Math.round(ratio * width);
  const eta = p.etaSeconds === undefined ? '--' : p.etaSeconds < 1 ? '<1s' : `${Math.round(p.etaSeconds)}s`;
  const n = (v: number) => Math.round(v).toLocaleString('en-US');
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(ratio * 100).toFixed(1).padStart(5)}% ` +
    `${n(p.blocksDone)}/${n(p.blocksTotal)} blocks · ${n(p.blocksPerSecond)} blocks/s · ${n(p.eventsWritten)} events (${n(p.eventsPerSecond)}/s) · ETA ${eta}`
  );
}

/**
 * Ingestion for one chain: reads registry logs up to head − confirmations, decodes them with each deployment's own
 * ABI, and writes events, block hashes, the written range and the checkpoint in one transaction. Detects reorgs by
 * comparing stored block hashes with the chain and retracts what was orphaned. Resumes from its checkpoint after any
 * crash; ranges written by a backfill are skipped, never written twice.
 */
import type { Hex, PublicClient } from 'viem';
import type pg from 'pg';
import type { ChainConfig, Deployment } from '../chain/config.js';
import { liveStartBlock } from '../chain/config.js';
import { acquireSingletonLock } from '../db/singleton-lock.js';
import type { Logger } from '../logger.js';
import { decodeRegistryLog, UnknownLogError, type EventRecord } from './decode.js';
import type { BlockRange } from './ranges.js';
import {
  AdaptiveRange,
  AbortedError,
  BlockCache,
  createChainClient,
  getLogs,
  isRangeError,
  sleep,
  withRetry,
  type RpcLog,
} from './rpc.js';
import {
  claimRange,
  completeRange,
  insertEvents,
  loadCheckpoint,
  pruneBlockHashes,
  recordHead,
  releaseClaims,
  retractAbove,
  saveCheckpoint,
  storedBlockHashes,
  withIngestTransaction,
  type Checkpoint,
} from './store.js';

export const LIVE_OWNER = 'live';
/** How long a claimed range stays reserved if its process dies mid-way. */
export const CLAIM_LEASE_MS = 120_000;
/** Block hashes kept behind the checkpoint for finding a reorg's common ancestor. */
const HASH_WINDOW = 2_048;
/** Blocks between two prunings of those hashes. */
const PRUNE_EVERY = 32;

export interface IndexerStats {
  chainId: number;
  head: number | undefined;
  checkpoint: number | undefined;
  eventsWritten: number;
  unknownLogs: number;
  reorgs: number;
  retracted: number;
  /** Pushed (ingested) events that disagreed with the chain and were replaced by its logs. */
  superseded: number;
  rpcErrors: number;
}

export interface ChainReaderOptions {
  chain: ChainConfig;
  pool: pg.Pool;
  logger: Logger;
  client?: PublicClient;
  signal?: AbortSignal;
}

/** Reading and writing block ranges: shared by the live indexer and backfills. */
export class ChainReader {
  readonly chain: ChainConfig;
  readonly client: PublicClient;
  readonly blocks: BlockCache;
  readonly range: AdaptiveRange;
  protected readonly pool: pg.Pool;
  protected readonly log: Logger;
  /** Stops the work: the caller's signal, and while the live indexer runs, also the loss of its lock. */
  protected signal: AbortSignal | undefined;
  private readonly byAddress: Map<string, Deployment>;
  private readonly addresses: Hex[];
  readonly stats: IndexerStats;

  constructor(options: ChainReaderOptions) {
    this.chain = options.chain;
    this.pool = options.pool;
    this.signal = options.signal;
    this.log = options.logger.child({ component: 'indexer', chainId: options.chain.chainId });
    this.client = options.client ?? createChainClient(options.chain);
    this.blocks = new BlockCache(this.client);
    this.range = new AdaptiveRange(options.chain.maxBlockRange);
    this.byAddress = new Map(options.chain.deployments.map((d) => [d.address.toLowerCase(), d as Deployment]));
    this.addresses = [...this.byAddress.keys()] as Hex[];
    this.stats = {
      chainId: options.chain.chainId,
      head: undefined,
      checkpoint: undefined,
      eventsWritten: 0,
      unknownLogs: 0,
      reorgs: 0,
      retracted: 0,
      superseded: 0,
      rpcErrors: 0,
    };
  }

  protected retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(
      async () => {
        try {
          return await fn();
        } catch (err) {
          this.stats.rpcErrors++;
          throw err;
        }
      },
      { logger: this.log, what, signal: this.signal },
    );
  }

  async head(): Promise<number> {
    const head = Number(await this.retry('eth_blockNumber', () => this.client.getBlockNumber({ cacheTime: 0 })));
    this.stats.head = head;
    return head;
  }

  /** All registry logs in [from, to], splitting the range while the node refuses it. */
  async readLogs(from: number, to: number): Promise<RpcLog[]> {
    const logs: RpcLog[] = [];
    let cursor = from;
    let delay = 250;
    while (cursor <= to) {
      if (this.signal?.aborted) throw new AbortedError();
      const end = Math.min(to, cursor + this.range.size - 1);
      try {
        const batch = await getLogs(this.client, this.addresses, cursor, end);
        this.range.succeeded(batch.length);
        logs.push(...batch);
        cursor = end + 1;
        delay = 250;
      } catch (err) {
        this.stats.rpcErrors++;
        if (isRangeError(err) && this.range.refused(end - cursor + 1)) {
          this.log.debug({ from: cursor, to: end, nextSize: this.range.size }, 'node refused the log range; shrinking');
          continue;
        }
        this.log.warn({ err, from: cursor, to: end, retryInMs: delay }, 'eth_getLogs failed; retrying');
        await sleep(delay, this.signal);
        delay = Math.min(delay * 2, 30_000);
      }
    }
    return logs;
  }

  /** Decodes logs of our deployments; logs that are not ERC-8004 events are counted and skipped. */
  async decode(logs: readonly RpcLog[]): Promise<EventRecord[]> {
    const rows: EventRecord[] = [];
    for (const log of logs) {
      if (log.removed) continue;
      const deployment = this.byAddress.get(log.address.toLowerCase());
      if (!deployment || Number(log.blockNumber) < deployment.firstBlock) continue;
      const timestamp =
        log.blockTimestamp !== undefined && log.blockTimestamp !== null
          ? Number(log.blockTimestamp)
          : (await this.retry('eth_getBlockByNumber', () => this.blocks.get(Number(log.blockNumber)))).timestamp;
      try {
        rows.push(decodeRegistryLog(log, deployment, this.chain.chainId, timestamp));
      } catch (err) {
        if (!(err instanceof UnknownLogError)) throw err;
        this.stats.unknownLogs++;
        this.log.debug({ reason: err.message }, 'skipped a log that is not an ERC-8004 event');
      }
    }
    return rows;
  }

  /**
   * Reads and writes one claimed range in a single transaction: its events, the range as done, and — for the live
   * indexer — block hashes and the checkpoint.
   */
  async writeRange(range: BlockRange, owner: string, checkpointHash?: Hex | Promise<Hex>): Promise<number> {
    // The range's logs and (live) its last block's hash are read side by side.
    const [logs] = await Promise.all([this.readLogs(range.from, range.to), checkpointHash]);
    checkpointHash = await checkpointHash;
    const rows = await this.decode(logs);
    const { inserted, superseded } = await withIngestTransaction(this.pool, async (client) => {
      const outcome = await insertEvents(client, rows);
      if (checkpointHash) {
        const eventBlocks = new Map(rows.map((r) => [r.block_number, r.block_hash]));
        eventBlocks.set(range.to, checkpointHash.toLowerCase() as Hex);
        const blocks = [...eventBlocks].map(([number, hash]) => ({ number, hash }));
        await saveCheckpoint(
          client,
          { chainId: this.chain.chainId, blockNumber: range.to, blockHash: checkpointHash },
          blocks,
        );
        // Pruning now and then is enough: the window only has to stay at least HASH_WINDOW deep.
        if (Math.floor(range.to / PRUNE_EVERY) !== Math.floor((range.from - 1) / PRUNE_EVERY)) {
          await pruneBlockHashes(client, this.chain.chainId, range.to - HASH_WINDOW);
        }
      }
      await completeRange(client, this.chain.chainId, range, owner);
      return outcome;
    });
    this.stats.eventsWritten += inserted;
    if (superseded.length > 0) {
      // The chain wins over a pushed row; someone pushed content the chain does not have (a bug or a forgery).
      this.stats.superseded += superseded.length;
      this.log.warn(
        { from: range.from, to: range.to, superseded },
        'pushed events disagreed with the chain: retracted them and wrote the logs',
      );
    }
    return inserted;
  }
}

export interface ChainIndexerOptions extends ChainReaderOptions {
  /** Called after each tick that wrote something (tests, metrics). */
  onProgress?: (stats: IndexerStats) => void;
}

/** The live indexer of one chain. */
export class ChainIndexer extends ChainReader {
  private readonly onProgress: ((stats: IndexerStats) => void) | undefined;

  constructor(options: ChainIndexerOptions) {
    super(options);
    this.onProgress = options.onProgress;
  }

  /**
   * One pass: checks for a reorg at the checkpoint, then writes everything up to head − confirmations that is not
   * already written by a backfill. `knownHead`: the head a new-head subscription just announced (saves asking the node
   * for it). Returns the new checkpoint.
   */
  async tick(knownHead?: number): Promise<Checkpoint | undefined> {
    const chainId = this.chain.chainId;
    // Independent reads and writes go side by side: each round trip here adds to every event's latency.
    let [head, checkpoint] = await Promise.all([
      knownHead === undefined ? this.head() : this.announcedHead(knownHead),
      loadCheckpoint(this.pool, chainId),
    ]);
    // The head is recorded (for lag metrics) once per pass: here when there is a checkpoint's row to record it on.
    const headRecorded = checkpoint !== undefined;
    if (checkpoint) {
      [, checkpoint] = await Promise.all([recordHead(this.pool, chainId, head), this.checkForReorg(checkpoint, head)]);
    }
    const target = head - this.chain.confirmations;
    let next = checkpoint ? checkpoint.blockNumber + 1 : liveStartBlock(this.chain);
    while (next <= target) {
      if (this.signal?.aborted) throw new AbortedError();
      const chunk = { from: next, to: Math.min(target, next + this.chain.maxBlockRange - 1) };
      // The chunk's last block (usually the one segment's end) is fetched while the range is claimed.
      const chunkEnd = this.retry('eth_getBlockByNumber', () => this.blocks.get(chunk.to));
      chunkEnd.catch(() => undefined); // unused when a backfill holds the range; its errors surface where awaited
      const segments = await claimRange(this.pool, chainId, chunk, LIVE_OWNER, CLAIM_LEASE_MS);
      let advanced = false;
      for (const segment of segments) {
        if (segment.status === 'busy') break; // a backfill is writing these blocks: wait for it
        const endBlock =
          segment.to === chunk.to ? chunkEnd : this.retry('eth_getBlockByNumber', () => this.blocks.get(segment.to));
        if (segment.status !== 'done') {
          const inserted = await this.writeRange(
            segment,
            LIVE_OWNER,
            endBlock.then((b) => b.hash),
          );
          if (inserted > 0) this.log.debug({ from: segment.from, to: segment.to, inserted }, 'wrote events');
        }
        const end = await endBlock;
        if (segment.status === 'done') {
          // Written by a backfill: move the checkpoint over it.
          await withIngestTransaction(this.pool, async (client) => {
            await saveCheckpoint(client, { chainId, blockNumber: segment.to, blockHash: end.hash }, [
              { number: segment.to, hash: end.hash },
            ]);
          });
        }
        checkpoint = { chainId, blockNumber: segment.to, blockHash: end.hash };
        next = segment.to + 1;
        advanced = true;
      }
      if (!advanced || next <= chunk.to) break;
    }
    if (checkpoint && !headRecorded) await recordHead(this.pool, chainId, head);
    this.stats.checkpoint = checkpoint?.blockNumber;
    this.onProgress?.(this.stats);
    return checkpoint;
  }

  private announcedHead(head: number): number {
    this.stats.head = head;
    return head;
  }

  /** Compares the checkpoint's hash with the chain; on a mismatch, retracts back to the common ancestor. */
  private async checkForReorg(checkpoint: Checkpoint, head: number): Promise<Checkpoint | undefined> {
    const onChain =
      checkpoint.blockNumber <= head
        ? await this.retry('eth_getBlockByNumber', () => this.blocks.fresh(checkpoint.blockNumber))
        : undefined;
    if (onChain && onChain.hash.toLowerCase() === checkpoint.blockHash) return checkpoint;

    this.stats.reorgs++;
    let ancestor: { number: number; hash: string } | undefined;
    let below = checkpoint.blockNumber;
    search: while (below >= 0) {
      const stored = await storedBlockHashes(this.pool, this.chain.chainId, below, 128);
      if (stored.length === 0) break;
      for (const block of stored) {
        const current =
          block.number <= head
            ? await this.retry('eth_getBlockByNumber', () => this.blocks.fresh(block.number))
            : undefined;
        if (current && current.hash.toLowerCase() === block.hash) {
          ancestor = block;
          break search;
        }
      }
      below = stored[stored.length - 1]!.number - 1;
    }
    const retracted = await retractAbove(this.pool, this.chain.chainId, ancestor);
    this.blocks.forgetAbove(ancestor?.number ?? -1);
    this.stats.retracted += retracted;
    this.log.warn(
      {
        checkpoint: checkpoint.blockNumber,
        ancestor: ancestor?.number ?? null,
        depth: checkpoint.blockNumber - (ancestor?.number ?? -1),
        retracted,
      },
      'reorg: retracted orphaned events and rewinding to the common ancestor',
    );
    return ancestor
      ? { chainId: this.chain.chainId, blockNumber: ancestor.number, blockHash: ancestor.hash }
      : undefined;
  }

  /**
   * Runs until the signal aborts: a tick, then waits for the next head (WebSocket subscription when configured: `wake`
   * subscribes `notify`, which takes the new head's number when known) or the poll interval. A head that arrives during
   * a pass starts a follow-up pass as soon as the pass ends (several such heads: one pass, to the newest). Only one live
   * indexer per chain writes at a time (a session advisory lock); others stand by.
   */
  async run(options: { wake?: (notify: (head?: number) => void) => () => void } = {}): Promise<void> {
    const stop = this.signal ?? new AbortController().signal;
    const lock = await acquireSingletonLock(this.pool, {
      key: `live-indexer:${this.chain.chainId}`,
      logger: this.log,
      signal: stop,
      standbyMs: this.chain.pollIntervalMs * 5,
    });
    if (!lock) return;
    // Every pass (and its RPC retries) stops when the lock is lost, not only on shutdown.
    this.signal = AbortSignal.any([stop, lock.lost]);
    let wakeUp: (() => void) | undefined;
    // A head that arrives during a pass must not be lost: remember it and start the next pass at once.
    let pending: boolean;
    /** The newest head announced since the last pass started (undefined: ask the node). */
    let announced: number | undefined;
    const unsubscribe = options.wake?.((head) => {
      pending = true;
      if (head !== undefined) announced = Math.max(announced ?? head, head);
      wakeUp?.();
    });
    try {
      this.log.info(
        { confirmations: this.chain.confirmations, deployments: this.chain.deployments.length },
        'live indexer started',
      );
      while (!this.signal.aborted) {
        pending = false;
        const head = announced;
        announced = undefined;
        try {
          await this.tick(head);
        } catch (err) {
          if (err instanceof AbortedError || this.signal.aborted) break;
          this.log.error({ err }, 'indexer pass failed; retrying');
        }
        // An abort that arrived during the pass fired no listener yet: without this check the wait below would
        // sleep out the whole poll interval.
        if (pending || this.signal.aborted) continue;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.signal?.removeEventListener('abort', done);
            wakeUp = undefined;
            resolve();
          };
          const timer = setTimeout(done, this.chain.pollIntervalMs);
          this.signal?.addEventListener('abort', done, { once: true });
          wakeUp = done;
        });
      }
      if (lock.lost.aborted && !stop.aborted) throw lock.error();
    } finally {
      this.signal = stop;
      unsubscribe?.();
      // Claims are released only while the lock is ours: after losing it, another indexer may own them already.
      if (!lock.lost.aborted) await releaseClaims(this.pool, this.chain.chainId, LIVE_OWNER).catch(() => undefined);
      await lock.release();
      this.log.info('live indexer stopped');
    }
  }
}

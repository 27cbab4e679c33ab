/**
 * JSON-RPC access for the indexer: eth_getLogs in ranges that adapt to what the node accepts, block headers with a
 * small cache, and retries with backoff for transient failures (logged, never skipped).
 */
import { createPublicClient, http, webSocket, type Hex, type PublicClient, type Log } from 'viem';
import type { ChainConfig } from '../chain/config.js';
import type { Logger } from '../logger.js';

export interface BlockHeader {
  number: number;
  hash: Hex;
  parentHash: Hex;
  timestamp: number;
}

export function createChainClient(chain: Pick<ChainConfig, 'rpcUrl'>): PublicClient {
  // Our own retry loop decides what is transient; viem's would retry range errors too.
  return createPublicClient({ transport: http(chain.rpcUrl, { retryCount: 0, timeout: 30_000 }) });
}

export function createHeadSubscriptionClient(chain: Pick<ChainConfig, 'wsUrl'>): PublicClient | undefined {
  if (!chain.wsUrl) return undefined;
  return createPublicClient({
    transport: webSocket(chain.wsUrl, { retryCount: 5, reconnect: { attempts: Infinity, delay: 1_000 } }),
  });
}

const RANGE_ERROR =
  /blocks? range|range (is )?too (large|wide)|limited to (a )?[\d,]+|(?<!rate )limit exceeded|more than [\d,]+ (results|logs)|too many (results|logs|blocks)|exceed(s|ed)? .*(limit|range|max)|response size|query timeout|-32005|-32614/i;
/** Rate limiting is transient: back off, do not shrink the range. */
const RATE_LIMIT = /rate.?limit|too many requests|\b429\b/i;
/** JSON-RPC codes providers use for "range or result too large". */
const RANGE_CODES = new Set([-32005, -32614]);

function errorParts(err: unknown): { texts: string[]; codes: number[] } {
  const texts: string[] = [];
  const codes: number[] = [];
  let current: unknown = err;
  for (let depth = 0; current && depth < 5; depth++) {
    if (typeof current === 'string') texts.push(current);
    else if (typeof current === 'object') {
      const e = current as {
        message?: unknown;
        details?: unknown;
        shortMessage?: unknown;
        code?: unknown;
        cause?: unknown;
      };
      for (const t of [e.message, e.details, e.shortMessage]) if (typeof t === 'string') texts.push(t);
      if (typeof e.code === 'number') codes.push(e.code);
      current = e.cause;
      continue;
    }
    break;
  }
  return { texts, codes };
}

/** True when the node refused the request because of its range or result size (so a smaller range may pass). */
export function isRangeError(err: unknown): boolean {
  const { texts, codes } = errorParts(err);
  const text = texts.join(' ');
  if (RATE_LIMIT.test(text)) return false;
  return RANGE_ERROR.test(text) || codes.some((c) => RANGE_CODES.has(c));
}

/**
 * The eth_getLogs range size: halves when the node refuses a range, grows back (doubling) after successes with
 * comfortably few logs, never above the configured maximum.
 */
export class AdaptiveRange {
  size: number;
  constructor(
    readonly max: number,
    readonly growBelowLogs = 5_000,
  ) {
    this.size = max;
  }
  /** The node refused a request of `attempted` blocks: halve from what was asked (not from the maximum). */
  refused(attempted = this.size): boolean {
    const from = Math.min(this.size, attempted);
    if (from <= 1) return false;
    this.size = Math.max(1, Math.floor(from / 2));
    return true;
  }
  succeeded(logCount: number) {
    if (logCount < this.growBelowLogs) this.size = Math.min(this.max, this.size * 2);
  }
}

export interface RetryOptions {
  logger: Logger;
  what: string;
  signal?: AbortSignal;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Stop retrying after this many attempts (default: until aborted). */
  maxAttempts?: number;
}

export class AbortedError extends Error {
  constructor() {
    super('stopped');
    this.name = 'AbortedError';
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retries `fn` with exponential backoff and jitter, logging every failure. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  let delay = options.initialDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new AbortedError();
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AbortedError) throw err;
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) throw err;
      options.logger.warn({ err, attempt, retryInMs: delay }, `${options.what} failed; retrying`);
      await sleep(delay * (0.8 + Math.random() * 0.4), options.signal);
      delay = Math.min(delay * 2, options.maxDelayMs ?? 30_000);
    }
  }
}

/** Block headers by number, cached (timestamps and hashes do not change unless a reorg replaces the block). */
export class BlockCache {
  private readonly entries = new Map<number, BlockHeader>();
  constructor(
    private readonly client: PublicClient,
    private readonly capacity = 4_096,
  ) {}

  async get(number: number): Promise<BlockHeader> {
    const hit = this.entries.get(number);
    if (hit) return hit;
    const block = await this.client.getBlock({ blockNumber: BigInt(number) });
    if (!block.hash) throw new Error(`block ${number} has no hash yet`);
    const header = { number, hash: block.hash, parentHash: block.parentHash, timestamp: Number(block.timestamp) };
    this.put(header);
    return header;
  }

  /** Fresh from the node, bypassing the cache (reorg checks). */
  async fresh(number: number): Promise<BlockHeader | undefined> {
    const block = await this.client.getBlock({ blockNumber: BigInt(number) }).catch((err: unknown) => {
      if (/not found|could not be found|BlockNotFound/i.test(String((err as Error).message ?? err))) return undefined;
      throw err;
    });
    if (!block?.hash) return undefined;
    const header = { number, hash: block.hash, parentHash: block.parentHash, timestamp: Number(block.timestamp) };
    this.put(header);
    return header;
  }

  put(header: BlockHeader) {
    this.entries.delete(header.number);
    this.entries.set(header.number, header);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  forgetAbove(number: number) {
    for (const key of [...this.entries.keys()]) if (key > number) this.entries.delete(key);
  }
}

export type RpcLog = Log<bigint, number, false> & { blockTimestamp?: bigint | Hex | number };

export async function getLogs(client: PublicClient, addresses: Hex[], from: number, to: number): Promise<RpcLog[]> {
  return (await client.getLogs({ address: addresses, fromBlock: BigInt(from), toBlock: BigInt(to) })) as RpcLog[];
}

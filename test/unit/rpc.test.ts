import fc from 'fast-check';
import pino from 'pino';
import { HttpRequestError, InvalidParamsRpcError, LimitExceededRpcError, RpcRequestError } from 'viem';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AbortedError, AdaptiveRange, isRangeError, sleep, withRetry } from '../../src/indexer/rpc.js';

const logger = pino({ level: 'silent' });

/** A JSON-RPC error as viem's http transport raises it (message: "RPC Request failed. … Details: <message>"). */
function rpcError(code: number, message: string): RpcRequestError {
  return new RpcRequestError({
    body: { method: 'eth_getLogs', params: [] },
    error: { code, message },
    url: 'https://rpc.example',
  });
}

describe('isRangeError', () => {
  const rangeMessages = [
    // geth / Infura (code -32005)
    'query returned more than 10000 results',
    'query returned more than 10000 results. Try with this block range [0x1, 0x2].',
    // Infura's live block-range limit
    'range 1000000 exceeds limit of 10000',
    // Ankr, Frontier/Moonbeam
    'block range is too wide',
    'block range is too wide (maximum 1024)',
    // Alchemy
    'Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size.',
    'You can make eth_getLogs requests with up to a 500 block range. Based on your parameters, this block range should work: [0x1, 0x2]',
    // BSC / publicnode
    'exceed maximum block range: 5000',
    // Polygon zkEVM, Scroll, Morph, others
    'logs are limited to a 10000 block range',
    'block range is bigger than maxBlockRange',
    'block range is larger than max block range, block range = 5120, max block range = 5000',
    'block range too high',
    // Avalanche
    'requested too many blocks from 0 to 100000, maximum is set to 2048',
    // Chainstack and similar
    'Block range limit exceeded.',
    'query timeout exceeded',
  ];

  it.each(rangeMessages)('is true for Error(%j)', (message) => {
    expect(isRangeError(new Error(message))).toBe(true);
  });

  it.each(rangeMessages)('is true for a viem RpcRequestError whose details are %j', (message) => {
    expect(isRangeError(rpcError(-32000, message))).toBe(true);
  });

  it('is true for an error whose only hint is in `details`', () => {
    const err = Object.assign(new Error('RPC Request failed.'), { details: 'exceed maximum block range: 5000' });
    expect(isRangeError(err)).toBe(true);
    expect(isRangeError(Object.assign(new Error('RPC Request failed.'), { details: 'fetch failed' }))).toBe(false);
  });

  it('is true for an error whose only hint is in `cause.message`', () => {
    const err = new Error('eth_getLogs failed', { cause: new Error('query returned more than 10000 results') });
    expect(isRangeError(err)).toBe(true);
  });

  it('is true for code -32005 errors as viem raises them (LimitExceededRpcError)', () => {
    const err = new LimitExceededRpcError(rpcError(-32005, 'query returned more than 10000 results'));
    expect(err.code).toBe(-32005);
    expect(isRangeError(err)).toBe(true);
    // Even when the node's own text says nothing about ranges, viem's -32005 message does ("exceeds defined limit").
    expect(isRangeError(new LimitExceededRpcError(rpcError(-32005, 'resource limit')))).toBe(true);
  });

  it('is true for a -32005 error whose message carries the code', () => {
    expect(isRangeError(new Error('error code -32005: request failed'))).toBe(true);
    expect(isRangeError(new Error('RPC error -32005'))).toBe(true);
  });

  it('is true for a -32602 InvalidParamsRpcError about the block range', () => {
    expect(isRangeError(new InvalidParamsRpcError(rpcError(-32602, 'exceed maximum block range: 5000')))).toBe(true);
  });

  it('is true for plain strings', () => {
    expect(isRangeError('query returned more than 10000 results')).toBe(true);
  });

  it.each([
    'fetch failed',
    'ECONNREFUSED',
    'connect ECONNREFUSED 127.0.0.1:8545',
    'execution reverted',
    'header not found',
    'Too Many Requests',
    'socket hang up',
  ])('is false for Error(%j)', (message) => {
    expect(isRangeError(new Error(message))).toBe(false);
  });

  it('is false for transport failures as viem raises them', () => {
    expect(isRangeError(new HttpRequestError({ url: 'https://rpc.example', body: {}, details: 'fetch failed' }))).toBe(
      false,
    );
    expect(
      isRangeError(
        new HttpRequestError({
          url: 'https://rpc.example',
          body: {},
          cause: new Error('connect ECONNREFUSED 127.0.0.1:8545'),
        }),
      ),
    ).toBe(false);
    expect(isRangeError(rpcError(3, 'execution reverted'))).toBe(false);
  });

  it('is false for non-errors', () => {
    expect(isRangeError(undefined)).toBe(false);
    expect(isRangeError(null)).toBe(false);
    expect(isRangeError({})).toBe(false);
  });

  // Messages real providers send (QuickNode, raw JSON-RPC objects), and a rate limit that must not shrink the range.
  // QuickNode answers HTTP 413 with {"code":-32614,"message":"eth_getLogs is limited to a 10,000 range"}.
  it("is true for QuickNode's 'eth_getLogs is limited to a 10,000 range'", () => {
    expect(isRangeError(new Error('eth_getLogs is limited to a 10,000 range'))).toBe(true);
  });
  it("is true for QuickNode's 413 as viem raises it (code -32614)", () => {
    expect(isRangeError(rpcError(-32614, 'eth_getLogs is limited to a 10,000 range'))).toBe(true);
  });
  // Older QuickNode wording: "blocks range" does not contain "block range".
  it("is true for QuickNode's 'eth_getLogs and eth_newFilter are limited to a 10,000 blocks range'", () => {
    expect(isRangeError(new Error('eth_getLogs and eth_newFilter are limited to a 10,000 blocks range'))).toBe(true);
  });
  // A raw JSON-RPC error object (not wrapped by viem) is only stringified as "[object Object]": its code is never read.
  it('is true for a raw JSON-RPC error object with code -32005', () => {
    expect(isRangeError({ code: -32005, message: 'query returned more than 10000 results' })).toBe(true);
  });
  // False positive: a rate limit is not a range problem, yet "limit exceeded" matches, so the indexer halves its range
  // (without sleeping) instead of backing off.
  it("is false for a rate limit ('rate limit exceeded')", () => {
    expect(isRangeError(new Error('rate limit exceeded'))).toBe(false);
  });
});

describe('AdaptiveRange', () => {
  it('starts at the maximum', () => {
    expect(new AdaptiveRange(2_000).size).toBe(2_000);
  });

  it('halves down to 1, then refuses', () => {
    const range = new AdaptiveRange(1_000);
    const sizes: number[] = [];
    while (range.refused()) sizes.push(range.size);
    expect(sizes).toEqual([500, 250, 125, 62, 31, 15, 7, 3, 1]);
    expect(range.size).toBe(1);
    expect(range.refused()).toBe(false);
    expect(range.size).toBe(1);
  });

  it('refuses at once with a maximum of 1', () => {
    const range = new AdaptiveRange(1);
    expect(range.refused()).toBe(false);
    expect(range.size).toBe(1);
  });

  it('grows back by doubling, capped at the maximum', () => {
    const range = new AdaptiveRange(1_000);
    while (range.refused());
    const sizes: number[] = [];
    for (let i = 0; i < 12; i++) {
      range.succeeded(0);
      sizes.push(range.size);
    }
    expect(sizes).toEqual([2, 4, 8, 16, 32, 64, 128, 256, 512, 1_000, 1_000, 1_000]);
  });

  it('does not grow after a batch with >= growBelowLogs logs', () => {
    const range = new AdaptiveRange(1_000, 100);
    range.refused();
    range.refused();
    expect(range.size).toBe(250);
    range.succeeded(100);
    expect(range.size).toBe(250);
    range.succeeded(5_000);
    expect(range.size).toBe(250);
    range.succeeded(99);
    expect(range.size).toBe(500);
  });

  it('uses 5000 logs as the default growth threshold', () => {
    const range = new AdaptiveRange(1_000);
    range.refused();
    range.succeeded(5_000);
    expect(range.size).toBe(500);
    range.succeeded(4_999);
    expect(range.size).toBe(1_000);
  });

  it('stays within [1, max] for any sequence of refusals and successes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.array(fc.oneof(fc.constant<'refused'>('refused'), fc.nat({ max: 10_000 })), { maxLength: 60 }),
        (max, ops) => {
          const range = new AdaptiveRange(max, 1_000);
          for (const op of ops) {
            const before = range.size;
            if (op === 'refused') {
              const shrank = range.refused();
              expect(shrank).toBe(before > 1);
              expect(range.size).toBe(shrank ? Math.max(1, Math.floor(before / 2)) : before);
            } else {
              range.succeeded(op);
              expect(range.size).toBe(op < 1_000 ? Math.min(max, before * 2) : before);
            }
            expect(Number.isInteger(range.size)).toBe(true);
            expect(range.size).toBeGreaterThanOrEqual(1);
            expect(range.size).toBeLessThanOrEqual(max);
          }
        },
      ),
    );
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves after the delay, not before', async () => {
    vi.useFakeTimers();
    let resolved = false;
    const sleeping = sleep(20).then(() => (resolved = true));
    await vi.advanceTimersByTimeAsync(19);
    expect(resolved).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;
    expect(resolved).toBe(true);
  });

  it('rejects with AbortedError when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(sleep(10_000, controller.signal)).rejects.toBeInstanceOf(AbortedError);
  });

  it('rejects with AbortedError when the signal aborts while sleeping, without waiting for the delay', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const sleeping = sleep(10_000, controller.signal);
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await expect(sleeping).rejects.toBeInstanceOf(AbortedError);
    expect(vi.getTimerCount()).toBe(0); // its timer was cleared, not left to fire
  });
});

describe('withRetry', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('returns at once when the first attempt succeeds', async () => {
    const fn = vi.fn(async () => 'ok');
    await expect(withRetry(fn, { logger, what: 'test', initialDelayMs: 1 })).resolves.toBe('ok');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('retries until it succeeds, logging each failure', async () => {
    const warn = vi.spyOn(logger, 'warn');
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 4) throw new Error(`transient ${calls}`);
        return calls;
      },
      { logger, what: 'eth_getLogs', initialDelayMs: 1 },
    );
    expect(result).toBe(4);
    expect(calls).toBe(4);
    expect(warn).toHaveBeenCalledTimes(3);
    expect(warn.mock.calls.map((c) => (c[0] as unknown as { attempt: number }).attempt)).toEqual([1, 2, 3]);
    warn.mockRestore();
  });

  it('gives up after maxAttempts and rethrows the last error', async () => {
    let calls = 0;
    const errors: Error[] = [];
    const promise = withRetry(
      async () => {
        calls++;
        const err = new Error(`failure ${calls}`);
        errors.push(err);
        throw err;
      },
      { logger, what: 'test', initialDelayMs: 1, maxAttempts: 3 },
    );
    const caught = await promise.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(calls).toBe(3);
    expect(errors).toHaveLength(3);
    expect(caught).toBe(errors[2]);
    expect((caught as Error).message).toBe('failure 3');
  });

  it('with maxAttempts 1 does not retry at all', async () => {
    const fn = vi.fn(async () => {
      throw new Error('once');
    });
    await expect(withRetry(fn, { logger, what: 'test', initialDelayMs: 1, maxAttempts: 1 })).rejects.toThrow('once');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not retry an AbortedError thrown by fn', async () => {
    const fn = vi.fn(async () => {
      throw new AbortedError();
    });
    await expect(withRetry(fn, { logger, what: 'test', initialDelayMs: 1 })).rejects.toBeInstanceOf(AbortedError);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not call fn when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const fn = vi.fn(async () => 'never');
    await expect(withRetry(fn, { logger, what: 'test', signal: controller.signal })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(fn).not.toHaveBeenCalled();
  });

  it('stops with AbortedError when the signal aborts during the backoff sleep', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    let calls = 0;
    const promise = withRetry(
      async () => {
        calls++;
        setTimeout(() => controller.abort(), 10);
        throw new Error('node down');
      },
      { logger, what: 'test', signal: controller.signal, initialDelayMs: 60_000 },
    );
    const outcome = expect(promise).rejects.toBeInstanceOf(AbortedError);
    // 10 ms of a 60 s backoff pass: only the abort can end it now.
    await vi.advanceTimersByTimeAsync(10);
    await outcome;
    expect(calls).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('backs off exponentially with ±20 % jitter, capped at maxDelayMs', async () => {
    vi.useFakeTimers();
    const callTimes: number[] = [];
    const promise = withRetry(
      async () => {
        callTimes.push(Date.now());
        if (callTimes.length < 5) throw new Error('again');
        return 'done';
      },
      { logger, what: 'test', initialDelayMs: 100, maxDelayMs: 300 },
    );
    await vi.advanceTimersByTimeAsync(10_000);
    await expect(promise).resolves.toBe('done');
    const gaps = callTimes.slice(1).map((t, i) => t - callTimes[i]!);
    // Nominal delays: 100, 200, 300 (capped from 400), 300 (capped from 800).
    const nominal = [100, 200, 300, 300];
    expect(gaps).toHaveLength(4);
    gaps.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual(Math.floor(nominal[i]! * 0.8));
      expect(gap).toBeLessThanOrEqual(Math.ceil(nominal[i]! * 1.2));
    });
  });
});

describe('AdaptiveRange.refused(attempted)', () => {
  it('halves from the range that was refused, not from the maximum', () => {
    const range = new AdaptiveRange(10_000);
    expect(range.refused(198)).toBe(true);
    expect(range.size).toBe(99);
    expect(range.refused(50)).toBe(true);
    expect(range.size).toBe(25);
    expect(range.refused(1)).toBe(false);
    expect(range.size).toBe(25);
  });
});

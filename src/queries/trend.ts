/**
 * Feedback over time in contiguous UTC buckets (day, ISO week starting Monday, calendar month), empty buckets
 * included. Revoked feedback is left out of every figure, including past buckets: history is restated as of the
 * answer's block. Cumulative figures count everything before the bucket's end (or the window's), including feedback
 * before the window starts.
 */
import { QueryError } from './errors.js';
import { meanWad } from './exact-decimal.js';
import type { FeedbackPoint } from './feedback-point.js';

export const GRANULARITIES = ['day', 'week', 'month'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

/** At most this many buckets per answer: a window that needs more is refused; a default window keeps the latest. */
export const MAX_TREND_BUCKETS = 365;

const DAY = 86_400;

/** Start (Unix seconds, UTC) of the bucket that holds `time`. */
export function bucketStart(time: number, granularity: Granularity): number {
  const day = Math.floor(time / DAY);
  switch (granularity) {
    case 'day':
      return day * DAY;
    case 'week': {
      // 1970-01-01 was a Thursday: (day + 3) mod 7 counts days since Monday.
      const sinceMonday = (((day + 3) % 7) + 7) % 7;
      return (day - sinceMonday) * DAY;
    }
    case 'month': {
      const date = new Date(time * 1000);
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1) / 1000;
    }
  }
}

/** Start of the bucket after the one starting at `start`. */
export function nextBucketStart(start: number, granularity: Granularity): number {
  switch (granularity) {
    case 'day':
      return start + DAY;
    case 'week':
      return start + 7 * DAY;
    case 'month': {
      const date = new Date(start * 1000);
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1) / 1000;
    }
  }
}

/** The bucket `count` buckets before the one starting at `start`. */
function bucketsBefore(start: number, count: number, granularity: Granularity): number {
  if (granularity === 'month') {
    const date = new Date(start * 1000);
    return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() - count, 1) / 1000;
  }
  return start - count * (granularity === 'day' ? DAY : 7 * DAY);
}

/** The window of the last `count` buckets up to `asOfTime` (the last one unfinished, so partial). */
export function lastBuckets(asOfTime: number, granularity: Granularity, count: number): Required<TrendWindow> {
  return { from: bucketsBefore(bucketStart(asOfTime, granularity), count - 1, granularity), to: asOfTime + 1 };
}

export interface TrendBucket {
  /** Bucket bounds, Unix seconds, [start, end). */
  start: number;
  end: number;
  count: number;
  /** Truncated mean of the bucket's feedback as WAD; null when empty. */
  meanWad: bigint | null;
  uniqueClients: number;
  /** Clients whose first counted feedback falls in this bucket. */
  newClients: number;
  cumulativeCount: number;
  cumulativeMeanWad: bigint | null;
  /** The bucket is not wholly inside the window (the current, unfinished period, or one cut by the window's edge). */
  partial: boolean;
}

export interface TrendWindow {
  /** Unix seconds, inclusive; default: the first counted feedback (keeping at most MAX_TREND_BUCKETS buckets). */
  from?: number;
  /** Unix seconds, exclusive; default and latest: just after `asOfTime` (nothing is known beyond it). */
  to?: number;
}

export interface Trend {
  granularity: Granularity;
  from: number;
  to: number;
  buckets: TrendBucket[];
}

/**
 * Buckets of `feedback` over the window. `asOfTime` is the block time the answer is as of (the default window's end).
 * Throws invalid_params when the window is empty or needs more than MAX_TREND_BUCKETS buckets.
 */
export function computeTrend(
  feedback: readonly FeedbackPoint[],
  granularity: Granularity,
  asOfTime: number,
  window: TrendWindow = {},
): Trend {
  const counted = feedback.filter((f) => !f.revoked).sort((a, b) => a.time - b.time);
  const to = Math.min(window.to ?? Infinity, asOfTime + 1);
  const lastStart = bucketStart(to - 1, granularity);
  let from: number;
  if (window.from !== undefined) {
    from = window.from;
  } else {
    const earliest = bucketsBefore(lastStart, MAX_TREND_BUCKETS - 1, granularity);
    from = Math.max(earliest, bucketStart(Math.min(counted[0]?.time ?? lastStart, lastStart), granularity));
  }
  if (from >= to) throw new QueryError('invalid_params', 'the window must end after it starts');

  const buckets: TrendBucket[] = [];
  const firstSeen = new Map<string, number>();
  for (const f of counted) if (!firstSeen.has(f.client)) firstSeen.set(f.client, f.time);

  let cumulativeCount = 0;
  let cumulativeSum = 0n;
  let next = 0; // index into `counted` of the first feedback not yet in the cumulative figures
  for (let start = bucketStart(from, granularity); start < to; start = nextBucketStart(start, granularity)) {
    if (buckets.length === MAX_TREND_BUCKETS) {
      throw new QueryError(
        'invalid_params',
        `the window needs more than ${MAX_TREND_BUCKETS} ${granularity} buckets: shorten it or use a coarser granularity`,
      );
    }
    const end = nextBucketStart(start, granularity);
    const inFrom = Math.max(start, from);
    const inTo = Math.min(end, to);
    let count = 0;
    let sum = 0n;
    const clients = new Set<string>();
    for (; next < counted.length && counted[next]!.time < inTo; next++) {
      const f = counted[next]!;
      cumulativeCount++;
      cumulativeSum += f.wad;
      if (f.time < inFrom) continue; // before the window: cumulative only
      count++;
      sum += f.wad;
      clients.add(f.client);
    }
    let newClients = 0;
    for (const client of clients) if (firstSeen.get(client)! >= inFrom) newClients++;
    buckets.push({
      start,
      end,
      count,
      meanWad: count > 0 ? meanWad(sum, count) : null,
      uniqueClients: clients.size,
      newClients,
      cumulativeCount,
      cumulativeMeanWad: cumulativeCount > 0 ? meanWad(cumulativeSum, cumulativeCount) : null,
      partial: start < from || end > to,
    });
  }
  return { granularity, from, to, buckets };
}

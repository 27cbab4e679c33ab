/**
 * Block-range arithmetic for ingestion claims (pure). A request [from, to] is cut into consecutive segments, each
 * either already written ('done'), held by another live claim ('busy'), or free ('free': the caller may claim it).
 */
export interface BlockRange {
  from: number;
  to: number;
}

export interface OccupiedRange extends BlockRange {
  state: 'done' | 'claimed';
  owner: string;
}

export type SegmentStatus = 'done' | 'busy' | 'free' | 'mine';

export interface Segment extends BlockRange {
  status: SegmentStatus;
}

/**
 * Splits [from, to] against the occupied ranges. `owner`'s own claims come back as 'mine' (a restarted process taking
 * its work back). Adjacent segments with the same status are merged. Result covers [from, to] exactly, in order.
 */
export function segmentRange(request: BlockRange, occupied: readonly OccupiedRange[], owner: string): Segment[] {
  if (request.to < request.from) return [];
  const relevant = occupied
    .filter((r) => r.to >= request.from && r.from <= request.to)
    .map((r) => ({
      from: Math.max(r.from, request.from),
      to: Math.min(r.to, request.to),
      status: (r.state === 'done' ? 'done' : r.owner === owner ? 'mine' : 'busy') as SegmentStatus,
    }))
    // 'done' wins over a claim on the same blocks (a claim is only a promise), a foreign claim over our own.
    .sort((a, b) => a.from - b.from || rank(a.status) - rank(b.status));

  const out: Segment[] = [];
  let cursor = request.from;
  for (const r of relevant) {
    if (r.to < cursor) continue;
    if (r.from > cursor) push(out, { from: cursor, to: r.from - 1, status: 'free' });
    push(out, { from: Math.max(r.from, cursor), to: r.to, status: r.status });
    cursor = r.to + 1;
    if (cursor > request.to) break;
  }
  if (cursor <= request.to) push(out, { from: cursor, to: request.to, status: 'free' });
  return out;
}

function rank(status: SegmentStatus): number {
  return status === 'done' ? 0 : status === 'busy' ? 1 : status === 'mine' ? 2 : 3;
}

function push(out: Segment[], segment: Segment) {
  const last = out[out.length - 1];
  if (last && last.status === segment.status && last.to + 1 === segment.from) last.to = segment.to;
  else out.push(segment);
}

/** Total number of blocks in the ranges. */
export function blockCount(ranges: readonly BlockRange[]): number {
  return ranges.reduce((n, r) => n + (r.to - r.from + 1), 0);
}

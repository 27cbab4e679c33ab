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
    }));
  // Cut [from, to] at every boundary; each piece takes the strongest status covering it: 'done' wins over any claim
  // (a claim is only a promise), another owner's claim over our own, and our own over nothing.
  const cuts = new Set<number>([request.from, request.to + 1]);
  for (const r of relevant) cuts.add(r.from).add(r.to + 1);
  const points = [...cuts].sort((a, b) => a - b);
  const out: Segment[] = [];
  for (let i = 0; i < points.length - 1; i++) {
    const piece = { from: points[i]!, to: points[i + 1]! - 1 };
    let status: SegmentStatus = 'free';
    for (const r of relevant) {
      if (r.from <= piece.from && r.to >= piece.to && rank(r.status) < rank(status)) status = r.status;
    }
    push(out, { ...piece, status });
  }
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

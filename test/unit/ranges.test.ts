import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  blockCount,
  segmentRange,
  type BlockRange,
  type OccupiedRange,
  type Segment,
  type SegmentStatus,
} from '../../src/indexer/ranges.js';

const ME = 'me';
const OTHER = 'other';

const done = (from: number, to: number, owner = OTHER): OccupiedRange => ({ from, to, state: 'done', owner });
const claimed = (from: number, to: number, owner = OTHER): OccupiedRange => ({ from, to, state: 'claimed', owner });

/** The status the contract promises for one block: done beats any claim, a foreign claim beats our own. */
function expectedStatus(block: number, occupied: readonly OccupiedRange[], owner: string): SegmentStatus {
  const covering = occupied.filter((r) => r.from <= block && block <= r.to);
  if (covering.some((r) => r.state === 'done')) return 'done';
  if (covering.some((r) => r.owner !== owner)) return 'busy';
  if (covering.length > 0) return 'mine';
  return 'free';
}

/** Status of `block` in the segment list (undefined when not covered). */
function statusAt(segments: readonly Segment[], block: number): SegmentStatus | undefined {
  return segments.find((s) => s.from <= block && block <= s.to)?.status;
}

describe('segmentRange — examples', () => {
  it('returns one free segment when nothing is occupied', () => {
    expect(segmentRange({ from: 10, to: 20 }, [], ME)).toEqual([{ from: 10, to: 20, status: 'free' }]);
  });

  it('returns a single-block request as one segment', () => {
    expect(segmentRange({ from: 5, to: 5 }, [], ME)).toEqual([{ from: 5, to: 5, status: 'free' }]);
    expect(segmentRange({ from: 5, to: 5 }, [done(0, 9)], ME)).toEqual([{ from: 5, to: 5, status: 'done' }]);
  });

  it('cuts a done range out of the middle', () => {
    expect(segmentRange({ from: 0, to: 100 }, [done(40, 59)], ME)).toEqual([
      { from: 0, to: 39, status: 'free' },
      { from: 40, to: 59, status: 'done' },
      { from: 60, to: 100, status: 'free' },
    ]);
  });

  it("reports another owner's claim as busy", () => {
    expect(segmentRange({ from: 0, to: 100 }, [claimed(30, 49, OTHER)], ME)).toEqual([
      { from: 0, to: 29, status: 'free' },
      { from: 30, to: 49, status: 'busy' },
      { from: 50, to: 100, status: 'free' },
    ]);
  });

  it("reports the caller's own claim as mine", () => {
    expect(segmentRange({ from: 0, to: 100 }, [claimed(30, 49, ME)], ME)).toEqual([
      { from: 0, to: 29, status: 'free' },
      { from: 30, to: 49, status: 'mine' },
      { from: 50, to: 100, status: 'free' },
    ]);
  });

  it('treats a done range owned by the caller as done, not mine', () => {
    expect(segmentRange({ from: 0, to: 10 }, [done(0, 10, ME)], ME)).toEqual([{ from: 0, to: 10, status: 'done' }]);
  });

  it('lets done win over a claim starting at the same block', () => {
    expect(segmentRange({ from: 0, to: 100 }, [claimed(10, 60, OTHER), done(10, 40)], ME)).toEqual([
      { from: 0, to: 9, status: 'free' },
      { from: 10, to: 40, status: 'done' },
      { from: 41, to: 60, status: 'busy' },
      { from: 61, to: 100, status: 'free' },
    ]);
  });

  it('lets done win over a claim that it overlaps from the left', () => {
    expect(segmentRange({ from: 0, to: 100 }, [done(10, 40), claimed(30, 60, OTHER)], ME)).toEqual([
      { from: 0, to: 9, status: 'free' },
      { from: 10, to: 40, status: 'done' },
      { from: 41, to: 60, status: 'busy' },
      { from: 61, to: 100, status: 'free' },
    ]);
  });

  it('lets done win over a claim that starts before it', () => {
    expect(segmentRange({ from: 0, to: 100 }, [claimed(10, 60, OTHER), done(30, 40)], ME)).toEqual([
      { from: 0, to: 9, status: 'free' },
      { from: 10, to: 29, status: 'busy' },
      { from: 30, to: 40, status: 'done' },
      { from: 41, to: 60, status: 'busy' },
      { from: 61, to: 100, status: 'free' },
    ]);
  });

  // Same bug, other rank: our own earlier claim swallows a foreign claim inside it (the caller would then re-claim
  // and ingest blocks another process holds).
  it("lets another owner's claim win over our own claim that starts before it", () => {
    expect(segmentRange({ from: 0, to: 100 }, [claimed(0, 50, ME), claimed(20, 30, OTHER)], ME)).toEqual([
      { from: 0, to: 19, status: 'mine' },
      { from: 20, to: 30, status: 'busy' },
      { from: 31, to: 50, status: 'mine' },
      { from: 51, to: 100, status: 'free' },
    ]);
  });

  it("lets another owner's claim win over our own claim starting at the same block", () => {
    expect(segmentRange({ from: 0, to: 20 }, [claimed(0, 20, ME), claimed(0, 10, OTHER)], ME)).toEqual([
      { from: 0, to: 10, status: 'busy' },
      { from: 11, to: 20, status: 'mine' },
    ]);
  });

  it('clips occupied ranges to the request and ignores ranges outside it', () => {
    expect(
      segmentRange(
        { from: 50, to: 60 },
        [done(0, 52), claimed(58, 99, OTHER), done(70, 80), claimed(0, 10, OTHER)],
        ME,
      ),
    ).toEqual([
      { from: 50, to: 52, status: 'done' },
      { from: 53, to: 57, status: 'free' },
      { from: 58, to: 60, status: 'busy' },
    ]);
  });

  it('merges adjacent occupied ranges of the same status', () => {
    expect(segmentRange({ from: 0, to: 30 }, [done(0, 9), done(10, 19, ME)], ME)).toEqual([
      { from: 0, to: 19, status: 'done' },
      { from: 20, to: 30, status: 'free' },
    ]);
  });

  it('does not depend on the order of the occupied list', () => {
    const occupied = [claimed(60, 70, OTHER), done(0, 9), claimed(20, 29, ME)];
    expect(segmentRange({ from: 0, to: 80 }, occupied, ME)).toEqual(
      segmentRange({ from: 0, to: 80 }, [...occupied].reverse(), ME),
    );
  });

  it('returns [] when to < from', () => {
    expect(segmentRange({ from: 10, to: 9 }, [], ME)).toEqual([]);
    expect(segmentRange({ from: 10, to: 0 }, [done(0, 20)], ME)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------- properties

const DOMAIN = 60;
const owners = fc.constantFrom(ME, OTHER, 'third');
const rangeIn = (max: number) =>
  fc.tuple(fc.nat({ max }), fc.nat({ max })).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));
const occupiedRange: fc.Arbitrary<OccupiedRange> = fc
  .tuple(rangeIn(DOMAIN), fc.constantFrom<'done' | 'claimed'>('done', 'claimed'), owners)
  .map(([r, state, owner]) => ({ ...r, state, owner }));
/** Any occupied ranges, overlapping each other freely. */
const anyOccupied = fc.array(occupiedRange, { maxLength: 8 });
/** Occupied ranges that do not overlap each other (what the claim protocol normally stores). */
const disjointOccupied = anyOccupied.map((ranges) => {
  const out: OccupiedRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.from - b.from))
    if (out.length === 0 || r.from > out[out.length - 1]!.to) out.push(r);
  return out;
});
const request: fc.Arbitrary<BlockRange> = rangeIn(DOMAIN);
const caller = owners;

describe('segmentRange — properties', () => {
  it('tiles [from, to] exactly, in order, without gaps or overlaps', () => {
    fc.assert(
      fc.property(request, anyOccupied, caller, (req, occupied, owner) => {
        const segments = segmentRange(req, occupied, owner);
        expect(segments.length).toBeGreaterThan(0);
        expect(segments[0]!.from).toBe(req.from);
        expect(segments[segments.length - 1]!.to).toBe(req.to);
        for (const [i, s] of segments.entries()) {
          expect(s.from).toBeLessThanOrEqual(s.to);
          if (i > 0) expect(s.from).toBe(segments[i - 1]!.to + 1);
        }
        expect(blockCount(segments)).toBe(req.to - req.from + 1);
      }),
      { numRuns: 500 },
    );
  });

  it('never returns two adjacent segments with the same status', () => {
    fc.assert(
      fc.property(request, anyOccupied, caller, (req, occupied, owner) => {
        const segments = segmentRange(req, occupied, owner);
        for (let i = 1; i < segments.length; i++) expect(segments[i]!.status).not.toBe(segments[i - 1]!.status);
      }),
      { numRuns: 500 },
    );
  });

  it('marks a block free exactly when no occupied range covers it', () => {
    fc.assert(
      fc.property(request, anyOccupied, caller, (req, occupied, owner) => {
        const segments = segmentRange(req, occupied, owner);
        for (let b = req.from; b <= req.to; b++) {
          const covered = occupied.some((r) => r.from <= b && b <= r.to);
          expect(statusAt(segments, b) === 'free').toBe(!covered);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('returns [] for every request with to < from', () => {
    fc.assert(
      fc.property(request, anyOccupied, caller, (req, occupied, owner) => {
        fc.pre(req.from < req.to);
        expect(segmentRange({ from: req.to, to: req.from }, occupied, owner)).toEqual([]);
      }),
    );
  });

  describe('with occupied ranges that do not overlap each other', () => {
    it('gives every block the status of the range covering it (done / busy / mine / free)', () => {
      fc.assert(
        fc.property(request, disjointOccupied, caller, (req, occupied, owner) => {
          const segments = segmentRange(req, occupied, owner);
          for (let b = req.from; b <= req.to; b++)
            expect(statusAt(segments, b)).toBe(expectedStatus(b, occupied, owner));
        }),
        { numRuns: 500 },
      );
    });
  });

  describe('with overlapping occupied ranges', () => {
    it('gives every block the status the oracle gives it: done beats any claim, a foreign claim beats our own', () => {
      fc.assert(
        fc.property(request, anyOccupied, caller, (req, occupied, owner) => {
          const segments = segmentRange(req, occupied, owner);
          for (let b = req.from; b <= req.to; b++)
            expect(statusAt(segments, b)).toBe(expectedStatus(b, occupied, owner));
        }),
        { seed: 8004, numRuns: 2_000 },
      );
    });

    it('marks every block of a done range as done when done ranges overlap only each other', () => {
      const doneOnly = fc.array(
        rangeIn(DOMAIN).map((r) => done(r.from, r.to)),
        { maxLength: 8 },
      );
      fc.assert(
        fc.property(request, doneOnly, caller, (req, occupied, owner) => {
          const segments = segmentRange(req, occupied, owner);
          for (let b = req.from; b <= req.to; b++)
            expect(statusAt(segments, b)).toBe(expectedStatus(b, occupied, owner));
        }),
      );
    });

    it('marks every block inside a done occupied range as done', () => {
      fc.assert(
        fc.property(request, anyOccupied, caller, (req, occupied, owner) => {
          const segments = segmentRange(req, occupied, owner);
          for (const r of occupied.filter((o) => o.state === 'done')) {
            for (let b = Math.max(r.from, req.from); b <= Math.min(r.to, req.to); b++)
              expect(statusAt(segments, b)).toBe('done');
          }
        }),
        { seed: 8004, numRuns: 2_000 },
      );
    });

    // Same bug: a block in a foreign claim and in no done range can come back 'mine' when our own claim starts earlier.
    it("marks a block in another owner's claim, and in no done range, as busy", () => {
      fc.assert(
        fc.property(request, anyOccupied, caller, (req, occupied, owner) => {
          const segments = segmentRange(req, occupied, owner);
          for (let b = req.from; b <= req.to; b++) {
            const covering = occupied.filter((r) => r.from <= b && b <= r.to);
            if (
              covering.some((r) => r.state === 'claimed' && r.owner !== owner) &&
              !covering.some((r) => r.state === 'done')
            ) {
              expect(statusAt(segments, b)).toBe('busy');
            }
          }
        }),
        { seed: 8004, numRuns: 2_000 },
      );
    });
  });
});

describe('blockCount', () => {
  it('counts inclusive ranges', () => {
    expect(blockCount([])).toBe(0);
    expect(blockCount([{ from: 5, to: 5 }])).toBe(1);
    expect(
      blockCount([
        { from: 0, to: 9 },
        { from: 20, to: 24 },
      ]),
    ).toBe(15);
    expect(blockCount([{ from: 1_000_000, to: 1_009_999 }])).toBe(10_000);
  });

  it('equals the number of blocks enumerated (property)', () => {
    fc.assert(
      fc.property(fc.array(rangeIn(200), { maxLength: 10 }), (ranges) => {
        let n = 0;
        for (const r of ranges) for (let b = r.from; b <= r.to; b++) n++;
        expect(blockCount(ranges)).toBe(n);
      }),
    );
  });
});

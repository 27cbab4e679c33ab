/**
 * The parameters tools share to choose feedback (clients, tags, a time window, a block range) and to page, as zod
 * schemas that are query-string friendly (numbers coerced, a list as comma-separated text or an array), and their
 * translation into a FeedbackFilter.
 */
import { z } from 'zod';
import { QueryError } from './errors.js';
import type { FeedbackFilter, FeedbackPosition } from './feedback-set.js';

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const ADDRESS_LIST = /^0x[0-9a-fA-F]{40}(,0x[0-9a-fA-F]{40})*$/;
export const MAX_LISTED_ADDRESSES = 100;

/** Distinct lower-case addresses, in first-seen order. */
const distinctLower = (list: readonly string[]) => [...new Set(list.map((a) => a.toLowerCase()))];

/** A list of addresses: a JSON array, or comma-separated text in a query string. Deduplicated, lower-cased. */
export function addressList(what: string) {
  return z
    .union([
      z.array(z.string().regex(ADDRESS, 'must be a 0x-prefixed 20-byte address')).min(1).max(MAX_LISTED_ADDRESSES),
      z.string().regex(ADDRESS_LIST, 'must be 0x-prefixed 20-byte addresses separated by commas'),
    ])
    .transform((v) => distinctLower(typeof v === 'string' ? v.split(',') : v))
    .refine((list) => list.length <= MAX_LISTED_ADDRESSES, `at most ${MAX_LISTED_ADDRESSES} addresses`)
    .describe(what);
}

const isoTime = (what: string) =>
  z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time, e.g. 2026-01-31T00:00:00Z' }).describe(what);
const blockNumber = (what: string) => z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).describe(what);
const tag = (what: string) => z.string().max(256).describe(what);

/** Clients, tags, window and block range: which feedback a tool looks at. */
export const feedbackScopeParams = {
  clients: addressList('Only feedback given by these client addresses (comma-separated in a query string).').optional(),
  tag1: tag(
    'Only feedback whose tag1 is exactly this; empty or absent: any tag1 (as the registry treats it).',
  ).optional(),
  tag2: tag('Only feedback whose tag2 is exactly this; empty or absent: any tag2.').optional(),
  from: isoTime('Start of the block-time window, included (UTC).').optional(),
  to: isoTime('End of the block-time window, excluded (UTC).').optional(),
  fromBlock: blockNumber('Only feedback at or above this block.').optional(),
  toBlock: blockNumber('Only feedback at or below this block (the as-of block caps it).').optional(),
};

/** Which registries' feedback a figure covers: v1.0 values and v0.4 scores (0–100) are different scales. */
export const abiVersionParam = z
  .enum(['v1.0', 'v0.4'])
  .default('v1.0')
  .describe(
    'Which registries’ feedback to look at: v1.0 values (default) or v0.4 scores (0–100) — never mixed, ' +
      'they are different scales.',
  );

export interface FeedbackScope {
  clients?: string[];
  tag1?: string;
  tag2?: string;
  from?: string;
  to?: string;
  fromBlock?: number;
  toBlock?: number;
}

/** The filter for a scope; refuses a window or range that ends before it starts. Empty tags match any tag. */
export function scopeFilter(scope: FeedbackScope): FeedbackFilter {
  const from = scope.from === undefined ? undefined : new Date(scope.from);
  const to = scope.to === undefined ? undefined : new Date(scope.to);
  if (from && to && to < from) throw new QueryError('invalid_params', '`to` is before `from`');
  if (scope.fromBlock !== undefined && scope.toBlock !== undefined && scope.toBlock < scope.fromBlock) {
    throw new QueryError('invalid_params', '`toBlock` is below `fromBlock`');
  }
  return {
    clients: scope.clients,
    tag1: scope.tag1 || undefined,
    tag2: scope.tag2 || undefined,
    from,
    to,
    fromBlock: scope.fromBlock,
    toBlock: scope.toBlock,
  };
}

/** Whether a scope narrows by time or block (the registry's own summary has neither). */
export function scopeHasWindow(scope: FeedbackScope): boolean {
  return [scope.from, scope.to, scope.fromBlock, scope.toBlock].some((v) => v !== undefined);
}

// ------------------------------------------------------------------------------------------------ paging

export const pageParams = {
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('Rows per page (1–500, default 50).'),
  cursor: z
    .string()
    .regex(/^\d{1,16}\.\d{1,9}$/, 'is not a cursor from this API')
    .optional()
    .describe('Opaque: the `nextCursor` of the previous page (same parameters and as-of block).'),
};

/** A position in chain order as an opaque cursor, and back. */
export function encodeCursor(position: FeedbackPosition): string {
  return `${position.blockNumber}.${position.logIndex}`;
}

export function decodeCursor(cursor: string | undefined): FeedbackPosition | undefined {
  if (cursor === undefined) return undefined;
  const [block, logIndex] = cursor.split('.').map(Number);
  if (!Number.isSafeInteger(block) || !Number.isSafeInteger(logIndex)) {
    throw new QueryError('invalid_params', 'the cursor is not one from this API');
  }
  return { blockNumber: block!, logIndex: logIndex! };
}

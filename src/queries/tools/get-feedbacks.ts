/** getFeedbacks (tier 0): an agent's feedback rows as of a block, with revocation and responses, filtered and paged. */
import { z } from 'zod';
import { defineQueryTool } from '../tool.js';
import { formatValue } from '../exact-decimal.js';
import { feedbackAsOf, type FeedbackRow } from '../feedback-set.js';
import { decodeCursor, encodeCursor, feedbackScopeParams, pageParams, scopeFilter } from '../feedback-params.js';

const params = z.object({
  ...feedbackScopeParams,
  abiVersion: z
    .enum(['v1.0', 'v0.4'])
    .optional()
    .describe('Only feedback of registries with this ERC-8004 version (v0.4 scores are 0–100); absent: both.'),
  order: z.enum(['desc', 'asc']).default('desc').describe('Chain order: newest first (default) or oldest first.'),
  ...pageParams,
});

export const feedbackOutput = z.object({
  registry: z.string().describe('The reputation registry (contract address).'),
  abiVersion: z.enum(['v1.0', 'v0.4']),
  client: z.string().describe('The client address that gave the feedback.'),
  feedbackIndex: z.string().describe('1-based per (agent, client) in its registry (uint64, decimal).'),
  value: z.string().describe('The raw int128 value (decimal); the feedback is value / 10^valueDecimals.'),
  valueDecimals: z.number().int().min(0).max(18),
  decimal: z.string().describe('value / 10^valueDecimals as an exact decimal.'),
  tag1: z.string(),
  tag2: z.string(),
  endpoint: z.string().nullable(),
  fileUri: z.string().nullable().describe('feedbackURI (v0.4: fileuri).'),
  fileHash: z.string().nullable(),
  blockNumber: z.number(),
  logIndex: z.number(),
  blockTime: z.string().describe('ISO 8601, UTC.'),
  transactionHash: z.string(),
  revoked: z.boolean().describe('Revoked at or below the as-of block.'),
  revokedAtBlock: z.number().nullable(),
  responses: z.number().int().describe('ResponseAppended events for it at or below the as-of block.'),
});

const data = z.object({
  feedbacks: z.array(feedbackOutput),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
});

/** A feedback row as tools answer it (exact strings, no BigInt). */
export function feedbackAnswer(row: FeedbackRow): z.output<typeof feedbackOutput> {
  const { wad: _wad, ...rest } = row;
  return { ...rest, decimal: formatValue(row.value, row.valueDecimals) };
}

export const getFeedbacks = defineQueryTool({
  name: 'getFeedbacks',
  tier: 0,
  title: 'Feedback of an agent',
  description:
    'The feedback an agent received as of a block, each with its exact value, tags, revocation and response count; ' +
    'filter by clients, tags, time window or block range; paged in chain order.',
  params,
  data,
  async run(ctx, p) {
    const rows = await feedbackAsOf(
      ctx.db,
      ctx.asOf,
      ctx.agentId,
      { ...scopeFilter(p), abiVersions: p.abiVersion ? [p.abiVersion] : undefined },
      { order: p.order, after: decodeCursor(p.cursor), limit: p.limit + 1 },
    );
    const page = rows.slice(0, p.limit);
    const last = page.at(-1);
    return {
      feedbacks: page.map(feedbackAnswer),
      nextCursor: rows.length > p.limit && last ? encodeCursor(last) : null,
    };
  },
});

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const searchEventsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/events',
    tags: ['Events'],
    summary: 'Browse indexed ERC-8004 events (canonical chain), newest first',
    protect: true,
  },
};
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address')
  .transform((a) => a.toLowerCase());
const block = z.coerce.number().int().min(0);
export const ZSearchEventsRequest = z.object({
  chainId: z.coerce.number().int().positive().optional(),
  registry: z.enum(['identity', 'reputation', 'validation']).optional(),
  eventType: z
    .enum([
      'Registered',
      'Transfer',
      'MetadataSet',
      'URIUpdated',
      'NewFeedback',
      'FeedbackRevoked',
      'ResponseAppended',
      'ValidationRequest',
      'ValidationResponse',
    ])
    .optional(),
  agentId: z
    .string()
    .regex(/^\d{1,78}$/, 'must be a whole agent id')
    .optional(),
  clientAddress: address.optional(),
  validatorAddress: address.optional(),
  fromBlock: block.optional(),
  toBlock: block.optional(),
  from: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time' }).optional(),
  to: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 time' }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  /** Opaque: the nextCursor of the previous page. */
  cursor: z
    .string()
    .regex(/^\d{1,19}$/, 'is not a cursor from this API')
    .optional(),
});
// toBlock below fromBlock is an empty range (no events), not an error: JSON Schema cannot compare two fields.
export const eventOutput = z.object({
  id: z.string(),
  seq: z.string(),
  chainId: z.number(),
  blockNumber: z.number(),
  blockHash: z.string(),
  transactionHash: z.string(),
  logIndex: z.number(),
  registry: z.string(),
  eventType: z.string(),
  agentId: z.string().nullable(),
  timestamp: z.number(),
  blockTime: z.string(),
  fields: z.record(z.string(), z.union([z.string(), z.number(), z.null()])),
  /** Who wrote the event: our indexer reading the chain, or a push to the ingestion endpoint; null before provenance was recorded. */
  source: z.enum(['indexer', 'ingest']).nullable(),
  /** The ingestion credential of a pushed event (a fingerprint, never the token). */
  pushedBy: z.string().nullable(),
});
export const ZSearchEventsResponse = z.object({ items: z.array(eventOutput), nextCursor: z.string().nullable() });

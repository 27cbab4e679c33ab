/**
 * The payload external indexers (e.g. a Ponder deployment) send to POST /api/v1/ingest/events. Rows use the column
 * names of `events`; each event type requires the fields it carries, and all values are checked as strictly as the
 * database would, so a bad row is refused with its exact path before anything is written.
 */
import { z } from 'zod';
import { EVENT_COLUMNS, type EventRecord } from './decode.js';

const MAX_INT128 = 2n ** 127n - 1n;
const MIN_INT128 = -(2n ** 127n);
const MAX_UINT256 = 2n ** 256n - 1n;
const MAX_UINT64 = 2n ** 64n - 1n;

const hex32 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex string')
  .transform((v) => v.toLowerCase());
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((v) => v.toLowerCase());
const hexBytes = z
  .string()
  .regex(/^0x([0-9a-fA-F]{2})*$/, 'must be 0x-prefixed hex bytes')
  .max(2 + 2 * 65_536, 'at most 64 KiB')
  .transform((v) => v.toLowerCase());
const text = (max = 8_192) => z.string().max(max, `at most ${max} characters`);

function integerString(min: bigint, max: bigint, what: string) {
  return z.union([z.string(), z.number().int()]).transform((v, ctx) => {
    const s = String(v);
    if (!/^-?\d+$/.test(s)) {
      ctx.addIssue({ code: 'custom', message: `must be a whole number (${what}) as a decimal string` });
      return z.NEVER;
    }
    const n = BigInt(s);
    if (n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `out of range for ${what}` });
      return z.NEVER;
    }
    return n.toString();
  });
}

const agentId = integerString(0n, MAX_UINT256, 'uint256 agent id');
const feedbackIndex = integerString(0n, MAX_UINT64, 'uint64 feedback index');

const base = z.object({
  block_number: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  block_hash: hex32,
  transaction_hash: hex32,
  log_index: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  contract_address: address,
  abi_version: z.enum(['v1.0', 'v0.4']).default('v1.0'),
  timestamp: z
    .number()
    .int()
    .min(0)
    .max(2 ** 40),
  agent_id: agentId,
});

const identity = { registry: z.literal('identity') };
const reputation = { registry: z.literal('reputation') };
const validation = { registry: z.literal('validation') };

export const ingestEventSchema = z.discriminatedUnion('event_type', [
  base.extend({ ...identity, event_type: z.literal('Transfer'), from_address: address, owner: address }),
  base.extend({ ...identity, event_type: z.literal('Registered'), token_uri: text(), owner: address }),
  base.extend({ ...identity, event_type: z.literal('MetadataSet'), metadata_key: text(256), metadata_value: hexBytes }),
  base.extend({ ...identity, event_type: z.literal('URIUpdated'), token_uri: text(), updated_by: address }),
  base.extend({
    ...reputation,
    event_type: z.literal('NewFeedback'),
    client_address: address,
    feedback_index: feedbackIndex.nullable().default(null),
    value: integerString(MIN_INT128, MAX_INT128, 'int128 value'),
    value_decimals: z.number().int().min(0, 'must be 0..18').max(18, 'must be 0..18'),
    tag1: text(256).default(''),
    tag2: text(256).default(''),
    endpoint: text().default(''),
    file_uri: text().default(''),
    file_hash: hex32.nullable().default(null),
  }),
  base.extend({
    ...reputation,
    event_type: z.literal('FeedbackRevoked'),
    client_address: address,
    feedback_index: feedbackIndex,
  }),
  base.extend({
    ...reputation,
    event_type: z.literal('ResponseAppended'),
    client_address: address,
    feedback_index: feedbackIndex,
    responder: address,
    response_uri: text(),
    response_hash: hex32,
  }),
  base.extend({
    ...validation,
    event_type: z.literal('ValidationRequest'),
    validator_address: address,
    request_uri: text(),
    request_hash: hex32,
  }),
  base.extend({
    ...validation,
    event_type: z.literal('ValidationResponse'),
    validator_address: address,
    request_hash: hex32,
    response: z.number().int().min(0, 'must be 0..100').max(100, 'must be 0..100'),
    response_uri: text(),
    response_hash: hex32,
    tag: text(256).default(''),
  }),
]);

export const MAX_INGEST_EVENTS = 1_000;

export const ingestRequestSchema = z.object({
  chainId: z.number().int().positive('must be a positive chain id').max(Number.MAX_SAFE_INTEGER),
  events: z
    .array(ingestEventSchema)
    .min(1, 'send at least one event')
    .max(MAX_INGEST_EVENTS, `at most ${MAX_INGEST_EVENTS} events per request`),
});

export type IngestRequest = z.infer<typeof ingestRequestSchema>;

/** The validated payload as rows for the shared write path. */
export function toEventRecords(request: IngestRequest): EventRecord[] {
  const nulls = Object.fromEntries(EVENT_COLUMNS.map((c) => [c, null])) as unknown as EventRecord;
  return request.events.map(
    (e) =>
      ({
        ...nulls,
        ...e,
        chain_id: request.chainId,
        id: `${request.chainId}-${e.block_number}-${e.log_index}`,
      }) as EventRecord,
  );
}

/**
 * Turns raw registry logs into `events` rows. Pure: no I/O, so every mapping rule is unit-tested.
 *
 * Rules: addresses and hashes are lower-case hex; uint256/int128/uint64 values are decimal strings (exact);
 * bytes are 0x-hex ('0x' when empty); v0.4 bytes32 tags become their text (null padding removed) or stay hex when they
 * are not UTF-8; v0.4 `score` is value = score with value_decimals = 0; v0.4 `UriUpdated` is stored as `URIUpdated`.
 */
import { decodeEventLog, type Abi, type Hex } from 'viem';
import { registryEvents, type Erc8004Version, type RegistryKind } from '../chain/abis.js';
import type { Deployment } from '../chain/config.js';
import type * as s from 'zapatos/schema';

export const EVENT_TYPES = {
  identity: ['Registered', 'Transfer', 'MetadataSet', 'URIUpdated'],
  reputation: ['NewFeedback', 'FeedbackRevoked', 'ResponseAppended'],
  validation: ['ValidationRequest', 'ValidationResponse'],
} as const satisfies Record<RegistryKind, readonly string[]>;

export type EventType = (typeof EVENT_TYPES)[RegistryKind][number];

/** One row of `events`, as written (ingest_seq and created_at come from the database). */
export interface EventRecord {
  id: string;
  chain_id: number;
  block_number: number;
  block_hash: Hex;
  transaction_hash: Hex;
  log_index: number;
  contract_address: Hex;
  registry: RegistryKind;
  event_type: EventType;
  abi_version: Erc8004Version;
  agent_id: string | null;
  timestamp: number;
  owner: string | null;
  from_address: string | null;
  token_uri: string | null;
  metadata_key: string | null;
  metadata_value: string | null;
  updated_by: string | null;
  client_address: string | null;
  feedback_index: string | null;
  value: string | null;
  value_decimals: number | null;
  tag1: string | null;
  tag2: string | null;
  endpoint: string | null;
  file_uri: string | null;
  file_hash: string | null;
  responder: string | null;
  validator_address: string | null;
  request_hash: string | null;
  request_uri: string | null;
  response: number | null;
  response_uri: string | null;
  response_hash: string | null;
  tag: string | null;
}

/** Columns of `events` the store writes and the relay reads, by name: one renamed in a migration fails to typecheck. */
export const EVENT_COLUMNS = [
  'id',
  'chain_id',
  'block_number',
  'block_hash',
  'transaction_hash',
  'log_index',
  'contract_address',
  'registry',
  'event_type',
  'abi_version',
  'agent_id',
  'timestamp',
  'owner',
  'from_address',
  'token_uri',
  'metadata_key',
  'metadata_value',
  'updated_by',
  'client_address',
  'feedback_index',
  'value',
  'value_decimals',
  'tag1',
  'tag2',
  'endpoint',
  'file_uri',
  'file_hash',
  'responder',
  'validator_address',
  'request_hash',
  'request_uri',
  'response',
  'response_uri',
  'response_hash',
  'tag',
] as const satisfies readonly (keyof EventRecord & keyof s.events.Insertable)[];

/** The minimal log shape we need (viem's Log has it; so does a JSON-RPC log once numbers are parsed). */
export interface RawLog {
  address: Hex;
  topics: readonly Hex[];
  data: Hex;
  blockNumber: bigint | number;
  blockHash: Hex;
  transactionHash: Hex;
  logIndex: number;
}

const EMPTY_ROW: Omit<
  EventRecord,
  | 'id'
  | 'chain_id'
  | 'block_number'
  | 'block_hash'
  | 'transaction_hash'
  | 'log_index'
  | 'contract_address'
  | 'registry'
  | 'event_type'
  | 'abi_version'
  | 'timestamp'
> = {
  agent_id: null,
  owner: null,
  from_address: null,
  token_uri: null,
  metadata_key: null,
  metadata_value: null,
  updated_by: null,
  client_address: null,
  feedback_index: null,
  value: null,
  value_decimals: null,
  tag1: null,
  tag2: null,
  endpoint: null,
  file_uri: null,
  file_hash: null,
  responder: null,
  validator_address: null,
  request_hash: null,
  request_uri: null,
  response: null,
  response_uri: null,
  response_hash: null,
  tag: null,
};

const lower = (v: unknown): string => String(v).toLowerCase();
const dec = (v: unknown): string => (v as bigint).toString();

/** bytes32 text (v0.4 tags): strip the null padding; keep hex if the bytes are not clean UTF-8 text. */
export function bytes32ToText(value: Hex): string {
  const bytes = Buffer.from(value.slice(2), 'hex');
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  const body = bytes.subarray(0, end);
  if (body.includes(0)) return value.toLowerCase();
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    return value.toLowerCase();
  }
}

export class UnknownLogError extends Error {
  constructor(
    readonly log: RawLog,
    reason: string,
  ) {
    super(`unknown log at ${log.address} block ${log.blockNumber} index ${log.logIndex}: ${reason}`);
    this.name = 'UnknownLogError';
  }
}

/** Decodes one log of a known deployment; throws UnknownLogError for anything that is not one of its ERC-8004 events. */
export function decodeRegistryLog(
  log: RawLog,
  deployment: Pick<Deployment, 'registry' | 'abiVersion'>,
  chainId: number,
  timestamp: number,
): EventRecord {
  const abi = registryEvents[deployment.abiVersion][deployment.registry] as Abi;
  let decoded: { eventName: string; args: Record<string, unknown> };
  try {
    decoded = decodeEventLog({
      abi,
      topics: log.topics as [Hex, ...Hex[]],
      data: log.data,
      strict: true,
    }) as unknown as typeof decoded;
  } catch (err) {
    throw new UnknownLogError(log, (err as Error).message.split('\n')[0] ?? 'does not decode');
  }
  const a = decoded.args;
  const blockNumber = Number(log.blockNumber);
  const base = {
    ...EMPTY_ROW,
    id: `${chainId}-${blockNumber}-${log.logIndex}`,
    chain_id: chainId,
    block_number: blockNumber,
    block_hash: log.blockHash.toLowerCase() as Hex,
    transaction_hash: log.transactionHash.toLowerCase() as Hex,
    log_index: log.logIndex,
    contract_address: log.address.toLowerCase() as Hex,
    registry: deployment.registry,
    abi_version: deployment.abiVersion,
    timestamp,
  };
  const v04 = deployment.abiVersion === 'v0.4';

  switch (decoded.eventName) {
    case 'Transfer':
      return {
        ...base,
        event_type: 'Transfer',
        agent_id: dec(a.tokenId),
        owner: lower(a.to),
        from_address: lower(a.from),
      };
    case 'Registered':
      return {
        ...base,
        event_type: 'Registered',
        agent_id: dec(a.agentId),
        token_uri: String(v04 ? a.tokenURI : a.agentURI),
        owner: lower(a.owner),
      };
    case 'MetadataSet':
      return {
        ...base,
        event_type: 'MetadataSet',
        agent_id: dec(a.agentId),
        metadata_key: String(v04 ? a.key : a.metadataKey),
        metadata_value: String(v04 ? a.value : a.metadataValue).toLowerCase(),
      };
    case 'URIUpdated':
    case 'UriUpdated':
      return {
        ...base,
        event_type: 'URIUpdated',
        agent_id: dec(a.agentId),
        token_uri: String(v04 ? a.newUri : a.newURI),
        updated_by: lower(a.updatedBy),
      };
    case 'NewFeedback':
      if (v04) {
        return {
          ...base,
          event_type: 'NewFeedback',
          agent_id: dec(a.agentId),
          client_address: lower(a.clientAddress),
          value: String(a.score),
          value_decimals: 0,
          tag1: bytes32ToText(a.tag1 as Hex),
          tag2: bytes32ToText(a.tag2 as Hex),
          file_uri: String(a.fileuri),
          file_hash: lower(a.filehash),
        };
      }
      return {
        ...base,
        event_type: 'NewFeedback',
        agent_id: dec(a.agentId),
        client_address: lower(a.clientAddress),
        feedback_index: dec(a.feedbackIndex),
        value: dec(a.value),
        value_decimals: Number(a.valueDecimals),
        tag1: String(a.tag1),
        tag2: String(a.tag2),
        endpoint: String(a.endpoint),
        file_uri: String(a.feedbackURI),
        file_hash: lower(a.feedbackHash),
      };
    case 'FeedbackRevoked':
      return {
        ...base,
        event_type: 'FeedbackRevoked',
        agent_id: dec(a.agentId),
        client_address: lower(a.clientAddress),
        feedback_index: dec(a.feedbackIndex),
      };
    case 'ResponseAppended':
      return {
        ...base,
        event_type: 'ResponseAppended',
        agent_id: dec(a.agentId),
        client_address: lower(a.clientAddress),
        feedback_index: dec(a.feedbackIndex),
        responder: lower(a.responder),
        response_uri: String(v04 ? a.responseUri : a.responseURI),
        response_hash: lower(a.responseHash),
      };
    case 'ValidationRequest':
      return {
        ...base,
        event_type: 'ValidationRequest',
        agent_id: dec(a.agentId),
        validator_address: lower(a.validatorAddress),
        request_uri: String(v04 ? a.requestUri : a.requestURI),
        request_hash: lower(a.requestHash),
      };
    case 'ValidationResponse':
      return {
        ...base,
        event_type: 'ValidationResponse',
        agent_id: dec(a.agentId),
        validator_address: lower(a.validatorAddress),
        request_hash: lower(a.requestHash),
        response: Number(a.response),
        response_uri: String(v04 ? a.responseUri : a.responseURI),
        response_hash: lower(a.responseHash),
        tag: v04 ? bytes32ToText(a.tag as Hex) : String(a.tag),
      };
    default:
      throw new UnknownLogError(log, `event ${decoded.eventName} is not indexed`);
  }
}

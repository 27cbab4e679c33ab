/**
 * Event ABIs of the ERC-8004 registries, per version. Every shape change between versions alters an event's
 * topic0, so the indexer must pick the ABI of the deployment it reads (by chain, address and first block).
 *
 * The signatures are exactly the standard's (types and indexed flags decide topic0; parameter names decide the
 * keys of decoded `args`). Source: /work/shared/reference/erc8004.md.
 */
import { parseAbi } from 'viem';

// ---------------------------------------------------------------------------------------------------- v1.0

/** IdentityRegistry v1.0 (ERC-721 + URI storage). */
export const identityEventsV1 = parseAbi([
  'event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)',
  'event Registered(uint256 indexed agentId, string agentURI, address indexed owner)',
  'event MetadataSet(uint256 indexed agentId, string indexed indexedMetadataKey, string metadataKey, bytes metadataValue)',
  'event URIUpdated(uint256 indexed agentId, string newURI, address indexed updatedBy)',
] as const);

/** ERC-4906 event the identity registry also emits on register (not part of ERC-8004 itself; same in every version). */
export const erc4906Events = parseAbi(['event MetadataUpdate(uint256 _tokenId)'] as const);

/** ReputationRegistry v1.0: signed int128 `value` with `valueDecimals` (0..18), string tags, 1-based feedbackIndex. */
export const reputationEventsV1 = parseAbi([
  'event NewFeedback(uint256 indexed agentId, address indexed clientAddress, uint64 feedbackIndex, int128 value, uint8 valueDecimals, string indexed indexedTag1, string tag1, string tag2, string endpoint, string feedbackURI, bytes32 feedbackHash)',
  'event FeedbackRevoked(uint256 indexed agentId, address indexed clientAddress, uint64 indexed feedbackIndex)',
  'event ResponseAppended(uint256 indexed agentId, address indexed clientAddress, uint64 feedbackIndex, address indexed responder, string responseURI, bytes32 responseHash)',
] as const);

/** ValidationRegistry v1.0: `tag` is a string. */
export const validationEventsV1 = parseAbi([
  'event ValidationRequest(address indexed validatorAddress, uint256 indexed agentId, string requestURI, bytes32 indexed requestHash)',
  'event ValidationResponse(address indexed validatorAddress, uint256 indexed agentId, bytes32 indexed requestHash, uint8 response, string responseURI, bytes32 responseHash, string tag)',
] as const);

// ---------------------------------------------------------------------------------------------------- v0.4

/**
 * IdentityRegistry v0.4: `UriUpdated` (not `URIUpdated`, a different topic0). Transfer, Registered and MetadataSet
 * have the same types as in v1.0 (hence the same topic0); only the parameter names differ.
 */
export const identityEventsV04 = parseAbi([
  'event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)',
  'event Registered(uint256 indexed agentId, string tokenURI, address indexed owner)',
  'event MetadataSet(uint256 indexed agentId, string indexed indexedKey, string key, bytes value)',
  'event UriUpdated(uint256 indexed agentId, string newUri, address indexed updatedBy)',
] as const);

/**
 * ReputationRegistry v0.4: uint8 `score`, bytes32 tags (null-padded text), no feedbackIndex in NewFeedback.
 * FeedbackRevoked and ResponseAppended have the same types as in v1.0 (same topic0).
 */
export const reputationEventsV04 = parseAbi([
  'event NewFeedback(uint256 indexed agentId, address indexed clientAddress, uint8 score, bytes32 indexed tag1, bytes32 tag2, string fileuri, bytes32 filehash)',
  'event FeedbackRevoked(uint256 indexed agentId, address indexed clientAddress, uint64 indexed feedbackIndex)',
  'event ResponseAppended(uint256 indexed agentId, address indexed clientAddress, uint64 feedbackIndex, address indexed responder, string responseUri, bytes32 responseHash)',
] as const);

/** ValidationRegistry v0.4: `tag` is bytes32 in ValidationResponse. */
export const validationEventsV04 = parseAbi([
  'event ValidationRequest(address indexed validatorAddress, uint256 indexed agentId, string requestUri, bytes32 indexed requestHash)',
  'event ValidationResponse(address indexed validatorAddress, uint256 indexed agentId, bytes32 indexed requestHash, uint8 response, string responseUri, bytes32 responseHash, bytes32 tag)',
] as const);

// ---------------------------------------------------------------------------------------------------- lookup

export type RegistryKind = 'identity' | 'reputation' | 'validation';
export type Erc8004Version = 'v0.4' | 'v1.0';

export const registryEvents = {
  'v1.0': { identity: identityEventsV1, reputation: reputationEventsV1, validation: validationEventsV1 },
  'v0.4': { identity: identityEventsV04, reputation: reputationEventsV04, validation: validationEventsV04 },
} as const;

import fc from 'fast-check';
import {
  encodeAbiParameters,
  encodeEventTopics,
  getAddress,
  keccak256,
  stringToHex,
  toHex,
  zeroAddress,
  type Abi,
  type AbiEvent,
  type Hex,
} from 'viem';
import { describe, expect, it } from 'vitest';
import {
  erc4906Events,
  identityEventsV04,
  identityEventsV1,
  reputationEventsV04,
  reputationEventsV1,
  validationEventsV04,
  validationEventsV1,
  type Erc8004Version,
  type RegistryKind,
} from '../../src/chain/abis.js';
import {
  EVENT_COLUMNS,
  UnknownLogError,
  bytes32ToText,
  decodeRegistryLog,
  type EventRecord,
  type RawLog,
} from '../../src/indexer/decode.js';

// ---------------------------------------------------------------------------------------------------- fixtures

const CHAIN_ID = 84532;
const TIMESTAMP = 1_767_225_600;
const BLOCK = 123_456n;
const LOG_INDEX = 7;

// Mixed-case (checksummed) input; the decoder must hand back lower-case hex.
const IDENTITY = getAddress('0x8004a818bfb912233c491871b3d84c89a494bd9e');
const REPUTATION = getAddress('0x8004b663056a597dffe9eccc1965a193b7388713');
const VALIDATION = getAddress('0x8004cafecafecafecafecafecafecafecafecafe');
const OWNER = getAddress('0xabcdef0123456789abcdef0123456789abcdef01');
const CLIENT = getAddress('0xfedcba9876543210fedcba9876543210fedcba98');
const RESPONDER = getAddress('0x1111aaaa2222bbbb3333cccc4444dddd5555eeee');
const VALIDATOR = getAddress('0x9999ffff8888eeee7777dddd6666cccc5555bbbb');
const BLOCK_HASH = `0x${'AB'.repeat(32)}` as Hex;
const TX_HASH = `0x${'CD'.repeat(32)}` as Hex;
const HASH_A = `0x${'EF'.repeat(32)}` as Hex;
const HASH_B = `0x${'0A'.repeat(32)}` as Hex;

const UINT256_MAX = 2n ** 256n - 1n;
const INT128_MIN = -(2n ** 127n);
const INT128_MAX = 2n ** 127n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

const DEPLOYMENT_ADDRESS: Record<RegistryKind, Hex> = {
  identity: IDENTITY,
  reputation: REPUTATION,
  validation: VALIDATION,
};

/** Builds a raw log the way a node would return it: topics from the indexed args, ABI-encoded data from the rest. */
function makeLog(abi: Abi, eventName: string, args: Record<string, unknown>, overrides: Partial<RawLog> = {}): RawLog {
  const event = abi.find((item): item is AbiEvent => item.type === 'event' && item.name === eventName);
  if (!event) throw new Error(`no event ${eventName} in the ABI`);
  const topics = encodeEventTopics({ abi: [event], eventName, args } as never) as (Hex | null)[];
  if (topics.some((t) => t === null)) throw new Error(`missing indexed argument for ${eventName}`);
  const nonIndexed = event.inputs.filter((input) => !input.indexed);
  const data = encodeAbiParameters(nonIndexed, nonIndexed.map((input) => args[input.name!]) as never);
  return {
    address: IDENTITY,
    topics: topics as Hex[],
    data,
    blockNumber: BLOCK,
    blockHash: BLOCK_HASH,
    transactionHash: TX_HASH,
    logIndex: LOG_INDEX,
    ...overrides,
  };
}

function decode(
  log: RawLog,
  registry: RegistryKind,
  abiVersion: Erc8004Version = 'v1.0',
  chainId = CHAIN_ID,
  timestamp = TIMESTAMP,
) {
  return decodeRegistryLog(log, { registry, abiVersion }, chainId, timestamp);
}

/** The full expected row: every column not named in `columns` must be null. */
function expectedRow(registry: RegistryKind, abiVersion: Erc8004Version, columns: Partial<EventRecord>): EventRecord {
  const nulls = Object.fromEntries(EVENT_COLUMNS.map((c) => [c, null])) as unknown as EventRecord;
  return {
    ...nulls,
    id: `${CHAIN_ID}-${BLOCK}-${LOG_INDEX}`,
    chain_id: CHAIN_ID,
    block_number: Number(BLOCK),
    block_hash: BLOCK_HASH.toLowerCase() as Hex,
    transaction_hash: TX_HASH.toLowerCase() as Hex,
    log_index: LOG_INDEX,
    contract_address: DEPLOYMENT_ADDRESS[registry].toLowerCase() as Hex,
    registry,
    abi_version: abiVersion,
    timestamp: TIMESTAMP,
    ...columns,
  };
}

/** Right-padded bytes32 of raw bytes. */
function bytes32(bytes: Uint8Array | number[]): Hex {
  const buf = Buffer.alloc(32);
  Buffer.from(bytes).copy(buf);
  return `0x${buf.toString('hex')}`;
}

const lc = (v: string) => v.toLowerCase();

// ---------------------------------------------------------------------------------------------------- v1.0

describe('decodeRegistryLog — v1.0 identity', () => {
  it('maps Transfer (mint from the zero address)', () => {
    const log = makeLog(identityEventsV1, 'Transfer', { from: zeroAddress, to: OWNER, tokenId: 42n });
    const row = decode(log, 'identity');
    expect(row).toEqual(
      expectedRow('identity', 'v1.0', {
        event_type: 'Transfer',
        agent_id: '42',
        owner: lc(OWNER),
        from_address: zeroAddress,
      }),
    );
    expect(Object.keys(row).sort()).toEqual([...EVENT_COLUMNS].sort());
  });

  it('maps Transfer between owners', () => {
    const log = makeLog(identityEventsV1, 'Transfer', { from: OWNER, to: CLIENT, tokenId: 3n });
    expect(decode(log, 'identity')).toEqual(
      expectedRow('identity', 'v1.0', {
        event_type: 'Transfer',
        agent_id: '3',
        owner: lc(CLIENT),
        from_address: lc(OWNER),
      }),
    );
  });

  it('maps Registered, with agentId 0 as a real id', () => {
    const log = makeLog(identityEventsV1, 'Registered', {
      agentId: 0n,
      agentURI: 'ipfs://bafyAgentZero',
      owner: OWNER,
    });
    expect(decode(log, 'identity')).toEqual(
      expectedRow('identity', 'v1.0', {
        event_type: 'Registered',
        agent_id: '0',
        token_uri: 'ipfs://bafyAgentZero',
        owner: lc(OWNER),
      }),
    );
  });

  it('maps MetadataSet with a 20-byte agentWallet value', () => {
    const log = makeLog(identityEventsV1, 'MetadataSet', {
      agentId: 9n,
      indexedMetadataKey: 'agentWallet',
      metadataKey: 'agentWallet',
      metadataValue: OWNER,
    });
    expect(decode(log, 'identity')).toEqual(
      expectedRow('identity', 'v1.0', {
        event_type: 'MetadataSet',
        agent_id: '9',
        metadata_key: 'agentWallet',
        metadata_value: lc(OWNER),
      }),
    );
  });

  it("maps MetadataSet with empty bytes to '0x' (wallet cleared on transfer)", () => {
    const log = makeLog(identityEventsV1, 'MetadataSet', {
      agentId: 9n,
      indexedMetadataKey: 'agentWallet',
      metadataKey: 'agentWallet',
      metadataValue: '0x',
    });
    const row = decode(log, 'identity');
    expect(row.metadata_value).toBe('0x');
    expect(row).toEqual(
      expectedRow('identity', 'v1.0', {
        event_type: 'MetadataSet',
        agent_id: '9',
        metadata_key: 'agentWallet',
        metadata_value: '0x',
      }),
    );
  });

  it('maps URIUpdated', () => {
    const uri = 'data:application/json;base64,eyJuYW1lIjoiQSJ9';
    const log = makeLog(identityEventsV1, 'URIUpdated', { agentId: 5n, newURI: uri, updatedBy: OWNER });
    expect(decode(log, 'identity')).toEqual(
      expectedRow('identity', 'v1.0', {
        event_type: 'URIUpdated',
        agent_id: '5',
        token_uri: uri,
        updated_by: lc(OWNER),
      }),
    );
  });
});

describe('decodeRegistryLog — v1.0 reputation', () => {
  const address = REPUTATION;

  it('maps NewFeedback (negative value, decimals, string tags, endpoint, URI, hash)', () => {
    const log = makeLog(
      reputationEventsV1,
      'NewFeedback',
      {
        agentId: 17n,
        clientAddress: CLIENT,
        feedbackIndex: 1n,
        value: -12_345n,
        valueDecimals: 2,
        indexedTag1: 'quality',
        tag1: 'quality',
        tag2: 'café ☕',
        endpoint: 'https://agent.example/.well-known/agent-card.json',
        feedbackURI: 'ipfs://bafyFeedback',
        feedbackHash: HASH_A,
      },
      { address },
    );
    expect(decode(log, 'reputation')).toEqual(
      expectedRow('reputation', 'v1.0', {
        event_type: 'NewFeedback',
        agent_id: '17',
        client_address: lc(CLIENT),
        feedback_index: '1',
        value: '-12345',
        value_decimals: 2,
        tag1: 'quality',
        tag2: 'café ☕',
        endpoint: 'https://agent.example/.well-known/agent-card.json',
        file_uri: 'ipfs://bafyFeedback',
        file_hash: lc(HASH_A),
      }),
    );
  });

  it('keeps empty string tags as empty strings (not null)', () => {
    const log = makeLog(
      reputationEventsV1,
      'NewFeedback',
      {
        agentId: 1n,
        clientAddress: CLIENT,
        feedbackIndex: 2n,
        value: 0n,
        valueDecimals: 0,
        indexedTag1: '',
        tag1: '',
        tag2: '',
        endpoint: '',
        feedbackURI: '',
        feedbackHash: HASH_B,
      },
      { address },
    );
    const row = decode(log, 'reputation');
    expect([row.tag1, row.tag2, row.endpoint, row.file_uri]).toEqual(['', '', '', '']);
    expect([row.value, row.value_decimals]).toEqual(['0', 0]);
  });

  it('maps FeedbackRevoked', () => {
    const log = makeLog(
      reputationEventsV1,
      'FeedbackRevoked',
      { agentId: 17n, clientAddress: CLIENT, feedbackIndex: UINT64_MAX },
      { address },
    );
    expect(decode(log, 'reputation')).toEqual(
      expectedRow('reputation', 'v1.0', {
        event_type: 'FeedbackRevoked',
        agent_id: '17',
        client_address: lc(CLIENT),
        feedback_index: UINT64_MAX.toString(),
      }),
    );
  });

  it('maps ResponseAppended', () => {
    const log = makeLog(
      reputationEventsV1,
      'ResponseAppended',
      {
        agentId: 17n,
        clientAddress: CLIENT,
        feedbackIndex: 3n,
        responder: RESPONDER,
        responseURI: 'https://r.example/1',
        responseHash: HASH_A,
      },
      { address },
    );
    expect(decode(log, 'reputation')).toEqual(
      expectedRow('reputation', 'v1.0', {
        event_type: 'ResponseAppended',
        agent_id: '17',
        client_address: lc(CLIENT),
        feedback_index: '3',
        responder: lc(RESPONDER),
        response_uri: 'https://r.example/1',
        response_hash: lc(HASH_A),
      }),
    );
  });
});

describe('decodeRegistryLog — v1.0 validation', () => {
  const address = VALIDATION;

  it('maps ValidationRequest', () => {
    const log = makeLog(
      validationEventsV1,
      'ValidationRequest',
      { validatorAddress: VALIDATOR, agentId: 8n, requestURI: 'ipfs://bafyRequest', requestHash: HASH_A },
      { address },
    );
    expect(decode(log, 'validation')).toEqual(
      expectedRow('validation', 'v1.0', {
        event_type: 'ValidationRequest',
        agent_id: '8',
        validator_address: lc(VALIDATOR),
        request_uri: 'ipfs://bafyRequest',
        request_hash: lc(HASH_A),
      }),
    );
  });

  it('maps ValidationResponse with a string tag', () => {
    const log = makeLog(
      validationEventsV1,
      'ValidationResponse',
      {
        validatorAddress: VALIDATOR,
        agentId: 8n,
        requestHash: HASH_A,
        response: 100,
        responseURI: 'ipfs://bafyResponse',
        responseHash: HASH_B,
        tag: 'tee-attestation',
      },
      { address },
    );
    expect(decode(log, 'validation')).toEqual(
      expectedRow('validation', 'v1.0', {
        event_type: 'ValidationResponse',
        agent_id: '8',
        validator_address: lc(VALIDATOR),
        request_hash: lc(HASH_A),
        response: 100,
        response_uri: 'ipfs://bafyResponse',
        response_hash: lc(HASH_B),
        tag: 'tee-attestation',
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------------- v0.4

describe('decodeRegistryLog — v0.4', () => {
  it('maps NewFeedback: bytes32 tags become text, score becomes value with 0 decimals, no feedback index', () => {
    const log = makeLog(
      reputationEventsV04,
      'NewFeedback',
      {
        agentId: 4n,
        clientAddress: CLIENT,
        score: 85,
        tag1: stringToHex('quality', { size: 32 }),
        tag2: stringToHex('naïve ✓', { size: 32 }),
        fileuri: 'ipfs://bafyOldFeedback',
        filehash: HASH_A,
      },
      { address: REPUTATION },
    );
    expect(decode(log, 'reputation', 'v0.4')).toEqual(
      expectedRow('reputation', 'v0.4', {
        event_type: 'NewFeedback',
        agent_id: '4',
        client_address: lc(CLIENT),
        value: '85',
        value_decimals: 0,
        tag1: 'quality',
        tag2: 'naïve ✓',
        file_uri: 'ipfs://bafyOldFeedback',
        file_hash: lc(HASH_A),
      }),
    );
  });

  it('maps NewFeedback with a zero tag to the empty string and a non-text tag to lower-case hex', () => {
    const nonText = bytes32([0xff, 0xfe, 0x41]);
    const log = makeLog(
      reputationEventsV04,
      'NewFeedback',
      { agentId: 4n, clientAddress: CLIENT, score: 0, tag1: bytes32([]), tag2: nonText, fileuri: '', filehash: HASH_B },
      { address: REPUTATION },
    );
    const row = decode(log, 'reputation', 'v0.4');
    expect(row.tag1).toBe('');
    expect(row.tag2).toBe(nonText.toLowerCase());
    expect([row.value, row.value_decimals]).toEqual(['0', 0]);
  });

  it("stores UriUpdated as event_type 'URIUpdated'", () => {
    const log = makeLog(identityEventsV04, 'UriUpdated', {
      agentId: 2n,
      newUri: 'https://agent.example/card.json',
      updatedBy: OWNER,
    });
    expect(decode(log, 'identity', 'v0.4')).toEqual(
      expectedRow('identity', 'v0.4', {
        event_type: 'URIUpdated',
        agent_id: '2',
        token_uri: 'https://agent.example/card.json',
        updated_by: lc(OWNER),
      }),
    );
  });

  it('maps Registered (tokenURI) and MetadataSet (key/value)', () => {
    const registered = makeLog(identityEventsV04, 'Registered', {
      agentId: 1n,
      tokenURI: 'ipfs://bafyOld',
      owner: OWNER,
    });
    expect(decode(registered, 'identity', 'v0.4')).toEqual(
      expectedRow('identity', 'v0.4', {
        event_type: 'Registered',
        agent_id: '1',
        token_uri: 'ipfs://bafyOld',
        owner: lc(OWNER),
      }),
    );
    const metadata = makeLog(identityEventsV04, 'MetadataSet', {
      agentId: 1n,
      indexedKey: 'name',
      key: 'name',
      value: '0xC0FFEE',
    });
    expect(decode(metadata, 'identity', 'v0.4')).toEqual(
      expectedRow('identity', 'v0.4', {
        event_type: 'MetadataSet',
        agent_id: '1',
        metadata_key: 'name',
        metadata_value: '0xc0ffee',
      }),
    );
  });

  it('maps ResponseAppended (responseUri) and ValidationRequest (requestUri)', () => {
    const response = makeLog(
      reputationEventsV04,
      'ResponseAppended',
      {
        agentId: 6n,
        clientAddress: CLIENT,
        feedbackIndex: 1n,
        responder: RESPONDER,
        responseUri: 'ipfs://r',
        responseHash: HASH_B,
      },
      { address: REPUTATION },
    );
    expect(decode(response, 'reputation', 'v0.4')).toEqual(
      expectedRow('reputation', 'v0.4', {
        event_type: 'ResponseAppended',
        agent_id: '6',
        client_address: lc(CLIENT),
        feedback_index: '1',
        responder: lc(RESPONDER),
        response_uri: 'ipfs://r',
        response_hash: lc(HASH_B),
      }),
    );
    const request = makeLog(
      validationEventsV04,
      'ValidationRequest',
      { validatorAddress: VALIDATOR, agentId: 6n, requestUri: 'ipfs://q', requestHash: HASH_A },
      { address: VALIDATION },
    );
    expect(decode(request, 'validation', 'v0.4')).toEqual(
      expectedRow('validation', 'v0.4', {
        event_type: 'ValidationRequest',
        agent_id: '6',
        validator_address: lc(VALIDATOR),
        request_uri: 'ipfs://q',
        request_hash: lc(HASH_A),
      }),
    );
  });

  it('maps ValidationResponse with a bytes32 tag as text', () => {
    const log = makeLog(
      validationEventsV04,
      'ValidationResponse',
      {
        validatorAddress: VALIDATOR,
        agentId: 6n,
        requestHash: HASH_A,
        response: 42,
        responseUri: 'ipfs://resp',
        responseHash: HASH_B,
        tag: stringToHex('zkml', { size: 32 }),
      },
      { address: VALIDATION },
    );
    expect(decode(log, 'validation', 'v0.4')).toEqual(
      expectedRow('validation', 'v0.4', {
        event_type: 'ValidationResponse',
        agent_id: '6',
        validator_address: lc(VALIDATOR),
        request_hash: lc(HASH_A),
        response: 42,
        response_uri: 'ipfs://resp',
        response_hash: lc(HASH_B),
        tag: 'zkml',
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------------- base columns

describe('decodeRegistryLog — base columns', () => {
  it('lower-cases address, block hash and transaction hash and keeps chain, block, index and timestamp', () => {
    const log = makeLog(identityEventsV1, 'Transfer', { from: OWNER, to: CLIENT, tokenId: 1n });
    expect(log.address).not.toBe(log.address.toLowerCase());
    const row = decode(log, 'identity', 'v1.0', 1, 1_700_000_000);
    expect(row.contract_address).toBe(lc(IDENTITY));
    expect(row.block_hash).toBe(lc(BLOCK_HASH));
    expect(row.transaction_hash).toBe(lc(TX_HASH));
    expect(row.chain_id).toBe(1);
    expect(row.timestamp).toBe(1_700_000_000);
    expect(row.registry).toBe('identity');
    expect(row.abi_version).toBe('v1.0');
  });

  it('accepts a numeric blockNumber as well as a bigint', () => {
    const log = makeLog(
      identityEventsV1,
      'Transfer',
      { from: OWNER, to: CLIENT, tokenId: 1n },
      { blockNumber: 99, logIndex: 0 },
    );
    const row = decode(log, 'identity');
    expect(row.block_number).toBe(99);
    expect(row.id).toBe(`${CHAIN_ID}-99-0`);
  });

  it('builds id as `${chainId}-${block}-${logIndex}` (property)', () => {
    const base = makeLog(identityEventsV1, 'Transfer', { from: OWNER, to: CLIENT, tokenId: 1n });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.bigInt({ min: 0n, max: BigInt(Number.MAX_SAFE_INTEGER) }),
        fc.nat({ max: 100_000 }),
        fc.boolean(),
        (chainId, block, logIndex, asNumber) => {
          const row = decode(
            { ...base, blockNumber: asNumber ? Number(block) : block, logIndex },
            'identity',
            'v1.0',
            chainId,
          );
          expect(row.id).toBe(`${chainId}-${block}-${logIndex}`);
          expect(row.block_number).toBe(Number(block));
          expect(row.log_index).toBe(logIndex);
          expect(row.chain_id).toBe(chainId);
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------------- properties

describe('decodeRegistryLog — exact numbers (properties)', () => {
  const feedbackLog = (value: bigint, valueDecimals: number, agentId = 1n, feedbackIndex = 1n) =>
    makeLog(
      reputationEventsV1,
      'NewFeedback',
      {
        agentId,
        clientAddress: CLIENT,
        feedbackIndex,
        value,
        valueDecimals,
        indexedTag1: 't',
        tag1: 't',
        tag2: '',
        endpoint: '',
        feedbackURI: '',
        feedbackHash: HASH_A,
      },
      { address: REPUTATION },
    );

  it('round-trips the int128 extremes exactly', () => {
    for (const value of [INT128_MIN, INT128_MAX, -1n, 0n, 1n, 2n ** 53n + 1n]) {
      const row = decode(feedbackLog(value, 18), 'reputation');
      expect(row.value).toBe(value.toString());
      expect(BigInt(row.value!)).toBe(value);
    }
  });

  it('round-trips any int128 value and valueDecimals 0..18 as exact decimal strings', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: INT128_MIN, max: INT128_MAX }),
        fc.integer({ min: 0, max: 18 }),
        (value, decimals) => {
          const row = decode(feedbackLog(value, decimals), 'reputation');
          expect(row.value).toBe(value.toString());
          expect(row.value).toMatch(/^-?(0|[1-9]\d*)$/);
          expect(row.value_decimals).toBe(decimals);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('round-trips any uint64 feedbackIndex', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: UINT64_MAX }), (index) => {
        expect(decode(feedbackLog(1n, 0, 1n, index), 'reputation').feedback_index).toBe(index.toString());
      }),
    );
  });

  const agentIdLogs: [string, RegistryKind, (id: bigint) => RawLog][] = [
    [
      'Transfer',
      'identity',
      (id) => makeLog(identityEventsV1, 'Transfer', { from: zeroAddress, to: OWNER, tokenId: id }),
    ],
    [
      'Registered',
      'identity',
      (id) => makeLog(identityEventsV1, 'Registered', { agentId: id, agentURI: 'u', owner: OWNER }),
    ],
    ['NewFeedback', 'reputation', (id) => feedbackLog(5n, 1, id)],
    [
      'FeedbackRevoked',
      'reputation',
      (id) =>
        makeLog(
          reputationEventsV1,
          'FeedbackRevoked',
          { agentId: id, clientAddress: CLIENT, feedbackIndex: 1n },
          { address: REPUTATION },
        ),
    ],
    [
      'ValidationRequest',
      'validation',
      (id) =>
        makeLog(
          validationEventsV1,
          'ValidationRequest',
          { validatorAddress: VALIDATOR, agentId: id, requestURI: 'r', requestHash: HASH_A },
          { address: VALIDATION },
        ),
    ],
  ];

  it.each([0n, 1n, UINT256_MAX])('round-trips agentId %s in every event that carries one', (id) => {
    for (const [, registry, build] of agentIdLogs) expect(decode(build(id), registry).agent_id).toBe(id.toString());
  });

  it('round-trips any uint256 agentId (0 included) as an exact decimal string', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(0n, UINT256_MAX), fc.bigInt({ min: 0n, max: UINT256_MAX })),
        fc.constantFrom(...agentIdLogs),
        (id, [eventName, registry, build]) => {
          const row = decode(build(id), registry);
          expect(row.event_type).toBe(eventName);
          expect(row.agent_id).toBe(id.toString());
        },
      ),
      {
        numRuns: 300,
        examples: [
          [0n, agentIdLogs[0]!],
          [UINT256_MAX, agentIdLogs[2]!],
        ],
      },
    );
  });
});

// ---------------------------------------------------------------------------------------------------- bytes32ToText

describe('bytes32ToText', () => {
  const utf8 = (s: string) => Buffer.from(s, 'utf8');
  /**
   * Text that survives a UTF-8 round trip (no lone surrogates), has no NUL and fits 32 bytes; a fifth of it starts with
   * U+FEFF, which a default TextDecoder would swallow as a byte order mark.
   */
  const text32 = fc
    .tuple(fc.nat({ max: 4 }), fc.string({ unit: 'binary', maxLength: 32 }))
    .map(([bom, s]) => (bom === 0 ? `\uFEFF${s}` : s))
    .filter((s) => utf8(s).toString('utf8') === s && !s.includes('\0') && utf8(s).length <= 32);

  it('returns simple texts', () => {
    expect(bytes32ToText(stringToHex('quality', { size: 32 }))).toBe('quality');
    expect(bytes32ToText(bytes32([]))).toBe('');
    expect(bytes32ToText(toHex(utf8('x'.repeat(32))))).toBe('x'.repeat(32));
  });

  it('returns the text of any right-padded UTF-8 string up to 32 bytes', () => {
    fc.assert(
      fc.property(text32, (text) => {
        expect(bytes32ToText(bytes32(utf8(text)))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('returns the text of grapheme strings cut to at most 32 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 32 }), (s) => {
        fc.pre(!s.includes('\0'));
        let text = s;
        while (utf8(text).length > 32) text = [...text].slice(0, -1).join('');
        fc.pre(utf8(text).toString('utf8') === text);
        expect(bytes32ToText(bytes32(utf8(text)))).toBe(text);
      }),
    );
  });

  it('returns lower-case hex for bytes that are not UTF-8', () => {
    // 0xff and 0xfe never occur in UTF-8; a lone continuation byte 0x80 and a truncated sequence are invalid too.
    for (const bytes of [[0xff], [0x61, 0xfe], [0x80], [0xe2, 0x82], [0xc3, 0x28]]) {
      const upper = bytes32(bytes).toUpperCase().replace('0X', '0x') as Hex;
      expect(bytes32ToText(upper)).toBe(upper.toLowerCase());
    }
  });

  it('returns lower-case hex for any bytes32 containing an invalid UTF-8 byte (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 31 }),
        fc.constantFrom(0xff, 0xfe, 0xc0, 0xc1, 0xf5),
        fc.nat({ max: 31 }),
        (bytes, bad, at) => {
          const arr = [...bytes];
          arr.splice(Math.min(at, arr.length), 0, bad);
          const hex = bytes32(arr.slice(0, 32));
          const upper = `0x${hex.slice(2).toUpperCase()}` as Hex;
          expect(bytes32ToText(upper)).toBe(hex.toLowerCase());
        },
      ),
    );
  });

  it('returns lower-case hex when a NUL byte sits between non-zero bytes', () => {
    expect(bytes32ToText(bytes32([0x61, 0x00, 0x62]))).toBe(bytes32([0x61, 0x00, 0x62]));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 15 }),
        fc.uint8Array({ minLength: 1, maxLength: 15 }),
        (head, tail) => {
          fc.pre(tail.some((b) => b !== 0));
          const hex = bytes32([...head, 0, ...tail]);
          const upper = `0x${hex.slice(2).toUpperCase()}` as Hex;
          // Embedded NUL: not clean text, whatever the surrounding bytes are.
          const trimmed = Buffer.from(hex.slice(2), 'hex');
          let end = trimmed.length;
          while (end > 0 && trimmed[end - 1] === 0) end--;
          fc.pre(trimmed.subarray(0, end).includes(0));
          expect(bytes32ToText(upper)).toBe(hex);
        },
      ),
    );
  });

  it('keeps a leading U+FEFF (BOM) in the text', () => {
    expect(bytes32ToText(bytes32(utf8('\uFEFFa')))).toBe('\uFEFFa');
  });
});

// ---------------------------------------------------------------------------------------------------- unknown logs

describe('decodeRegistryLog — unknown logs', () => {
  function expectUnknown(log: RawLog, registry: RegistryKind, abiVersion: Erc8004Version = 'v1.0') {
    let caught: unknown;
    try {
      decode(log, registry, abiVersion);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UnknownLogError);
    expect((caught as UnknownLogError).name).toBe('UnknownLogError');
    expect((caught as UnknownLogError).log).toBe(log);
    expect((caught as UnknownLogError).message).toContain(String(log.address));
  }

  it('throws UnknownLogError for an ERC-4906 MetadataUpdate from the identity registry', () => {
    expectUnknown(makeLog(erc4906Events, 'MetadataUpdate', { _tokenId: 1n }), 'identity');
    expectUnknown(makeLog(erc4906Events, 'MetadataUpdate', { _tokenId: 1n }), 'identity', 'v0.4');
  });

  it('throws UnknownLogError for a wrong topic0', () => {
    const good = makeLog(identityEventsV1, 'Transfer', { from: OWNER, to: CLIENT, tokenId: 1n });
    expectUnknown({ ...good, topics: [keccak256(toHex('Nope(uint256)')), ...good.topics.slice(1)] }, 'identity');
  });

  it('throws UnknownLogError for a log without topics (anonymous event)', () => {
    expectUnknown(
      { ...makeLog(identityEventsV1, 'Transfer', { from: OWNER, to: CLIENT, tokenId: 1n }), topics: [] },
      'identity',
    );
  });

  it('throws UnknownLogError for an ERC-20-shaped Transfer (same topic0, value in data)', () => {
    const erc20 = makeLog(
      [
        {
          type: 'event',
          name: 'Transfer',
          inputs: [
            { type: 'address', name: 'from', indexed: true },
            { type: 'address', name: 'to', indexed: true },
            { type: 'uint256', name: 'value', indexed: false },
          ],
        },
      ],
      'Transfer',
      { from: OWNER, to: CLIENT, value: 5n },
    );
    expect(erc20.topics[0]).toBe(
      makeLog(identityEventsV1, 'Transfer', { from: OWNER, to: CLIENT, tokenId: 1n }).topics[0],
    );
    expectUnknown(erc20, 'identity');
  });

  it('throws UnknownLogError for truncated data', () => {
    const good = makeLog(
      validationEventsV1,
      'ValidationRequest',
      { validatorAddress: VALIDATOR, agentId: 1n, requestURI: 'r', requestHash: HASH_A },
      { address: VALIDATION },
    );
    expectUnknown({ ...good, data: '0x' }, 'validation');
  });

  it('throws UnknownLogError for a v0.4 NewFeedback read with the v1.0 deployment, and vice versa', () => {
    const v04 = makeLog(
      reputationEventsV04,
      'NewFeedback',
      {
        agentId: 1n,
        clientAddress: CLIENT,
        score: 1,
        tag1: bytes32([]),
        tag2: bytes32([]),
        fileuri: '',
        filehash: HASH_A,
      },
      { address: REPUTATION },
    );
    expectUnknown(v04, 'reputation', 'v1.0');
    const v1 = makeLog(
      reputationEventsV1,
      'NewFeedback',
      {
        agentId: 1n,
        clientAddress: CLIENT,
        feedbackIndex: 1n,
        value: 1n,
        valueDecimals: 0,
        indexedTag1: '',
        tag1: '',
        tag2: '',
        endpoint: '',
        feedbackURI: '',
        feedbackHash: HASH_A,
      },
      { address: REPUTATION },
    );
    expectUnknown(v1, 'reputation', 'v0.4');
  });

  it('throws UnknownLogError for v1.0 URIUpdated read as v0.4 and v0.4 UriUpdated read as v1.0', () => {
    expectUnknown(
      makeLog(identityEventsV1, 'URIUpdated', { agentId: 1n, newURI: 'u', updatedBy: OWNER }),
      'identity',
      'v0.4',
    );
    expectUnknown(
      makeLog(identityEventsV04, 'UriUpdated', { agentId: 1n, newUri: 'u', updatedBy: OWNER }),
      'identity',
      'v1.0',
    );
  });

  it('throws UnknownLogError for a v0.4 ValidationResponse (bytes32 tag) read as v1.0', () => {
    const log = makeLog(
      validationEventsV04,
      'ValidationResponse',
      {
        validatorAddress: VALIDATOR,
        agentId: 1n,
        requestHash: HASH_A,
        response: 1,
        responseUri: '',
        responseHash: HASH_B,
        tag: bytes32([]),
      },
      { address: VALIDATION },
    );
    expectUnknown(log, 'validation', 'v1.0');
  });

  it("throws UnknownLogError for another registry's event", () => {
    expectUnknown(makeLog(identityEventsV1, 'Transfer', { from: OWNER, to: CLIENT, tokenId: 1n }), 'reputation');
    expectUnknown(
      makeLog(
        reputationEventsV1,
        'FeedbackRevoked',
        { agentId: 1n, clientAddress: CLIENT, feedbackIndex: 1n },
        { address: REPUTATION },
      ),
      'validation',
    );
  });
});

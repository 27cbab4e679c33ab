/**
 * The self-written ERC-8004 test registries on a real anvil: they must emit exactly the v1.0 (and v0.4 legacy)
 * events, so that src/chain/abis.ts decodes them and their topic0 equals the official deployments'.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPublicClient,
  createWalletClient,
  decodeEventLog,
  encodePacked,
  getAddress,
  hexToString,
  http,
  keccak256,
  stringToHex,
  toEventSelector,
  toHex,
  type Abi,
  type Address,
  type Hex,
  type Log,
  type PublicClient,
  type TransactionReceipt,
  type WalletClient,
} from 'viem';
import {
  erc4906Events,
  identityEventsV04,
  identityEventsV1,
  reputationEventsV04,
  reputationEventsV1,
  validationEventsV04,
  validationEventsV1,
} from '../../src/chain/abis.js';
import {
  startAnvil,
  deployRegistries,
  type AnvilInstance,
  type DeployedRegistries,
} from '../../src/chain/dev/anvil.js';
import { loadArtifacts, type Artifacts } from '../../src/chain/dev/compile.js';
import { DevRegistries, gasWithHeadroom } from '../../src/chain/dev/registry-client.js';

/** Copied verbatim from the standard (erc8004.md), independently of src/chain/abis.ts. */
const STANDARD_V1 = {
  Transfer: 'event Transfer(address indexed from, address indexed to, uint256 indexed tokenId)',
  Registered: 'event Registered(uint256 indexed agentId, string agentURI, address indexed owner)',
  MetadataSet:
    'event MetadataSet(uint256 indexed agentId, string indexed indexedMetadataKey, string metadataKey, bytes metadataValue)',
  URIUpdated: 'event URIUpdated(uint256 indexed agentId, string newURI, address indexed updatedBy)',
  NewFeedback:
    'event NewFeedback(uint256 indexed agentId, address indexed clientAddress, uint64 feedbackIndex, int128 value, uint8 valueDecimals, string indexed indexedTag1, string tag1, string tag2, string endpoint, string feedbackURI, bytes32 feedbackHash)',
  FeedbackRevoked:
    'event FeedbackRevoked(uint256 indexed agentId, address indexed clientAddress, uint64 indexed feedbackIndex)',
  ResponseAppended:
    'event ResponseAppended(uint256 indexed agentId, address indexed clientAddress, uint64 feedbackIndex, address indexed responder, string responseURI, bytes32 responseHash)',
  ValidationRequest:
    'event ValidationRequest(address indexed validatorAddress, uint256 indexed agentId, string requestURI, bytes32 indexed requestHash)',
  ValidationResponse:
    'event ValidationResponse(address indexed validatorAddress, uint256 indexed agentId, bytes32 indexed requestHash, uint8 response, string responseURI, bytes32 responseHash, string tag)',
} as const;
const STANDARD_V04 = {
  NewFeedback:
    'event NewFeedback(uint256 indexed agentId, address indexed clientAddress, uint8 score, bytes32 indexed tag1, bytes32 tag2, string fileuri, bytes32 filehash)',
  UriUpdated: 'event UriUpdated(uint256 indexed agentId, string newUri, address indexed updatedBy)',
  ValidationResponseSig: 'ValidationResponse(address,uint256,bytes32,uint8,string,bytes32,bytes32)',
} as const;
const sel = (name: keyof typeof STANDARD_V1) => toEventSelector(STANDARD_V1[name]);
const METADATA_UPDATE = toEventSelector('event MetadataUpdate(uint256 _tokenId)');

const identityAbi = [...identityEventsV1, ...erc4906Events] as const;

let anvil: AnvilInstance;
let reg: DeployedRegistries;
let artifacts: Artifacts;
let pub: PublicClient;
let wallet: WalletClient;
let owner: Address;
let client: Address;
let validator: Address;
let other: Address;

async function send(
  from: Address,
  address: Address,
  abi: Abi,
  functionName: string,
  args: readonly unknown[],
): Promise<TransactionReceipt> {
  const gas = await gasWithHeadroom(pub, { address, abi, functionName, args, account: from });
  const hash = await wallet.writeContract({ address, abi, functionName, args, account: from, chain: reg.chain, gas });
  const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  expect(receipt.status).toBe('success');
  return receipt;
}

function logsOf(receipt: TransactionReceipt, address: Address): Log[] {
  return receipt.logs.filter((l) => getAddress(l.address) === address);
}

beforeAll(async () => {
  [anvil, artifacts] = await Promise.all([startAnvil(), loadArtifacts()]);
  reg = await deployRegistries(anvil.rpcUrl);
  pub = createPublicClient({ chain: reg.chain, transport: http(anvil.rpcUrl), pollingInterval: 50 });
  wallet = createWalletClient({ chain: reg.chain, transport: http(anvil.rpcUrl), pollingInterval: 50 });
  const accounts = (await wallet.getAddresses()).map((a) => getAddress(a));
  [owner, client, validator, other] = accounts as [Address, Address, Address, Address];
  expect(owner).toBe(reg.deployer);
});

afterAll(async () => {
  await anvil?.stop();
});

describe('deployment', () => {
  it('deploys the four registries in order, from the first default account', async () => {
    expect(new Set([reg.identity, reg.reputation, reg.validation, reg.legacyReputation]).size).toBe(4);
    expect(reg.deployBlock).toBe(1n);
    for (const address of [reg.identity, reg.reputation, reg.validation, reg.legacyReputation]) {
      expect((await pub.getCode({ address }))?.length ?? 0).toBeGreaterThan(2);
    }
  });
});

describe('topic0 equals the standard', () => {
  it('every v1.0 event in src/chain/abis.ts has the selector of the standard signature', () => {
    const ours = [...identityEventsV1, ...reputationEventsV1, ...validationEventsV1];
    expect(ours.map((e) => e.name).sort()).toEqual(Object.keys(STANDARD_V1).sort());
    for (const e of ours) expect(toEventSelector(e)).toBe(sel(e.name));
    // Known constant: ERC-721 Transfer.
    expect(sel('Transfer')).toBe('0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef');
  });

  it('v0.4 events differ where the standard changed', () => {
    const newFeedbackV04 = reputationEventsV04.find((e) => e.name === 'NewFeedback')!;
    expect(toEventSelector(newFeedbackV04)).toBe(toEventSelector(STANDARD_V04.NewFeedback));
    expect(toEventSelector(newFeedbackV04)).not.toBe(sel('NewFeedback'));
    const uriUpdatedV04 = identityEventsV04.find((e) => e.name === 'UriUpdated')!;
    expect(toEventSelector(uriUpdatedV04)).toBe(toEventSelector(STANDARD_V04.UriUpdated));
    expect(toEventSelector(uriUpdatedV04)).not.toBe(sel('URIUpdated'));
    const responseV04 = validationEventsV04.find((e) => e.name === 'ValidationResponse')!;
    expect(toEventSelector(responseV04)).toBe(toEventSelector(STANDARD_V04.ValidationResponseSig));
    expect(toEventSelector(responseV04)).not.toBe(sel('ValidationResponse'));
    // Unchanged shapes keep their topic0.
    for (const name of ['FeedbackRevoked', 'ResponseAppended'] as const) {
      expect(toEventSelector(reputationEventsV04.find((e) => e.name === name)!)).toBe(sel(name));
    }
  });

  it('the compiled contracts declare exactly the standard events', () => {
    const declared = (abi: Abi) =>
      abi.filter((i) => i.type === 'event').map((e) => toEventSelector(e as Parameters<typeof toEventSelector>[0]));
    expect(declared(artifacts.IdentityRegistry.abi).sort()).toEqual(
      [sel('Transfer'), METADATA_UPDATE, sel('Registered'), sel('MetadataSet'), sel('URIUpdated')].sort(),
    );
    expect(declared(artifacts.ReputationRegistry.abi).sort()).toEqual(
      [sel('NewFeedback'), sel('FeedbackRevoked'), sel('ResponseAppended')].sort(),
    );
    expect(declared(artifacts.ValidationRegistry.abi).sort()).toEqual(
      [sel('ValidationRequest'), sel('ValidationResponse')].sort(),
    );
    expect(declared(artifacts.LegacyReputationRegistryV04.abi).sort()).toEqual(
      [toEventSelector(STANDARD_V04.NewFeedback), sel('FeedbackRevoked'), sel('ResponseAppended')].sort(),
    );
  });
});

describe('IdentityRegistry', () => {
  it("register('ipfs://x') emits Transfer, MetadataUpdate, Registered, MetadataSet(agentWallet) for agent 0", async () => {
    const receipt = await send(owner, reg.identity, artifacts.IdentityRegistry.abi, 'register', ['ipfs://x']);
    const logs = logsOf(receipt, reg.identity);
    expect(logs.map((l) => l.topics[0])).toEqual([
      sel('Transfer'),
      METADATA_UPDATE,
      sel('Registered'),
      sel('MetadataSet'),
    ]);
    const decoded = logs.map((l) => decodeEventLog({ abi: identityAbi, data: l.data, topics: l.topics }));
    expect(decoded[0]).toEqual({
      eventName: 'Transfer',
      args: { from: '0x0000000000000000000000000000000000000000', to: owner, tokenId: 0n },
    });
    expect(decoded[1]).toEqual({ eventName: 'MetadataUpdate', args: { _tokenId: 0n } });
    expect(decoded[2]).toEqual({ eventName: 'Registered', args: { agentId: 0n, agentURI: 'ipfs://x', owner } });
    expect(decoded[3]).toEqual({
      eventName: 'MetadataSet',
      args: {
        agentId: 0n,
        indexedMetadataKey: keccak256(toHex('agentWallet')),
        metadataKey: 'agentWallet',
        metadataValue: owner.toLowerCase(), // abi.encodePacked(owner): 20 bytes
      },
    });
    expect(logs[3]!.topics[2]).toBe(keccak256(toHex('agentWallet')));

    const read = { address: reg.identity, abi: artifacts.IdentityRegistry.abi } as const;
    expect(await pub.readContract({ ...read, functionName: 'ownerOf', args: [0n] })).toBe(owner);
    expect(await pub.readContract({ ...read, functionName: 'tokenURI', args: [0n] })).toBe('ipfs://x');
    expect(await pub.readContract({ ...read, functionName: 'balanceOf', args: [owner] })).toBe(1n);
  });

  it('register with metadata adds one MetadataSet per entry (5 logs) and agentIds count up', async () => {
    const receipt = await send(owner, reg.identity, artifacts.IdentityRegistry.abi, 'register', [
      'ipfs://y',
      [{ metadataKey: 'ens', metadataValue: stringToHex('agent.eth') }],
    ]);
    const logs = logsOf(receipt, reg.identity);
    expect(logs.map((l) => l.topics[0])).toEqual([
      sel('Transfer'),
      METADATA_UPDATE,
      sel('Registered'),
      sel('MetadataSet'),
      sel('MetadataSet'),
    ]);
    const last = decodeEventLog({ abi: identityEventsV1, data: logs[4]!.data, topics: logs[4]!.topics });
    expect(last.eventName).toBe('MetadataSet');
    if (last.eventName !== 'MetadataSet') throw new Error('unreachable');
    expect(last.args.agentId).toBe(1n);
    expect(last.args.metadataKey).toBe('ens');
    expect(hexToString(last.args.metadataValue)).toBe('agent.eth');
    expect(
      await pub.readContract({
        address: reg.identity,
        abi: artifacts.IdentityRegistry.abi,
        functionName: 'getMetadata',
        args: [1n, 'ens'],
      }),
    ).toBe(stringToHex('agent.eth'));
  });

  it('setAgentURI emits URIUpdated; a transfer clears agentWallet before Transfer', async () => {
    const r1 = await send(owner, reg.identity, artifacts.IdentityRegistry.abi, 'setAgentURI', [1n, 'https://a/b.json']);
    const [uri] = logsOf(r1, reg.identity).map((l) => decodeEventLog({ abi: identityEventsV1, ...l }));
    expect(uri).toEqual({
      eventName: 'URIUpdated',
      args: { agentId: 1n, newURI: 'https://a/b.json', updatedBy: owner },
    });

    const r2 = await send(owner, reg.identity, artifacts.IdentityRegistry.abi, 'transferFrom', [owner, other, 1n]);
    const decoded = logsOf(r2, reg.identity).map((l) => decodeEventLog({ abi: identityEventsV1, ...l }));
    expect(decoded).toEqual([
      {
        eventName: 'MetadataSet',
        args: {
          agentId: 1n,
          indexedMetadataKey: keccak256(toHex('agentWallet')),
          metadataKey: 'agentWallet',
          metadataValue: '0x',
        },
      },
      { eventName: 'Transfer', args: { from: owner, to: other, tokenId: 1n } },
    ]);
    await expect(
      pub.simulateContract({
        address: reg.identity,
        abi: artifacts.IdentityRegistry.abi,
        functionName: 'setAgentURI',
        args: [1n, 'ipfs://nope'],
        account: owner,
      }),
    ).rejects.toThrow(/NotAgentOwner/);
  });
});

describe('ReputationRegistry', () => {
  const hash = keccak256(toHex('feedback file'));

  it('giveFeedback emits NewFeedback with exact int128 value and decimals; feedbackIndex 1 then 2', async () => {
    const args = [0n, -12345n, 18, 'starred', 'uptime', 'https://agent.example/mcp', 'ipfs://fb', hash] as const;
    const r1 = await send(client, reg.reputation, artifacts.ReputationRegistry.abi, 'giveFeedback', args);
    const logs1 = logsOf(r1, reg.reputation);
    expect(logs1).toHaveLength(1);
    expect(logs1[0]!.topics[0]).toBe(sel('NewFeedback'));
    expect(decodeEventLog({ abi: reputationEventsV1, ...logs1[0]! })).toEqual({
      eventName: 'NewFeedback',
      args: {
        agentId: 0n,
        clientAddress: client,
        feedbackIndex: 1n,
        value: -12345n,
        valueDecimals: 18,
        indexedTag1: keccak256(toHex('starred')),
        tag1: 'starred',
        tag2: 'uptime',
        endpoint: 'https://agent.example/mcp',
        feedbackURI: 'ipfs://fb',
        feedbackHash: hash,
      },
    });

    // Extreme int128 values survive exactly.
    const min = -(2n ** 127n);
    const r2 = await send(client, reg.reputation, artifacts.ReputationRegistry.abi, 'giveFeedback', [
      0n,
      min,
      0,
      '',
      '',
      '',
      '',
      `0x${'00'.repeat(32)}` as Hex,
    ]);
    const second = decodeEventLog({ abi: reputationEventsV1, ...logsOf(r2, reg.reputation)[0]! });
    if (second.eventName !== 'NewFeedback') throw new Error(`unexpected ${second.eventName}`);
    expect(second.args.feedbackIndex).toBe(2n);
    expect(second.args.value).toBe(min);
    expect(second.args.valueDecimals).toBe(0);

    // The index is per (agentId, client): another client starts at 1 again.
    const r3 = await send(validator, reg.reputation, artifacts.ReputationRegistry.abi, 'giveFeedback', args);
    const third = decodeEventLog({ abi: reputationEventsV1, ...logsOf(r3, reg.reputation)[0]! });
    if (third.eventName !== 'NewFeedback') throw new Error(`unexpected ${third.eventName}`);
    expect(third.args.feedbackIndex).toBe(1n);
  });

  it("rejects the owner's feedback on its own agent, decimals > 18 and unknown agents", async () => {
    const base = { address: reg.reputation, abi: artifacts.ReputationRegistry.abi, functionName: 'giveFeedback' };
    const fb = (agentId: bigint, decimals: number) =>
      [agentId, 1n, decimals, 't', '', '', '', `0x${'00'.repeat(32)}`] as const;
    await expect(pub.simulateContract({ ...base, args: fb(0n, 0), account: owner })).rejects.toThrow(
      /SelfFeedbackNotAllowed/,
    );
    // anvil accepts a reverting eth_sendTransaction from an unlocked account and mines it as reverted (no logs).
    const hash = await wallet.writeContract({ ...base, args: fb(0n, 0), account: owner, chain: reg.chain });
    const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 50 });
    expect(receipt.status).toBe('reverted');
    expect(receipt.logs).toEqual([]);
    await expect(pub.simulateContract({ ...base, args: fb(0n, 19), account: client })).rejects.toThrow(
      /InvalidValueDecimals/,
    );
    await expect(pub.simulateContract({ ...base, args: fb(999n, 0), account: client })).rejects.toThrow(
      /AgentNotFound/,
    );
  });

  it('revokeFeedback and appendResponse emit the v1.0 events', async () => {
    const r1 = await send(client, reg.reputation, artifacts.ReputationRegistry.abi, 'revokeFeedback', [0n, 2n]);
    expect(decodeEventLog({ abi: reputationEventsV1, ...logsOf(r1, reg.reputation)[0]! })).toEqual({
      eventName: 'FeedbackRevoked',
      args: { agentId: 0n, clientAddress: client, feedbackIndex: 2n },
    });
    const responseHash = keccak256(toHex('response'));
    const r2 = await send(owner, reg.reputation, artifacts.ReputationRegistry.abi, 'appendResponse', [
      0n,
      client,
      1n,
      'ipfs://resp',
      responseHash,
    ]);
    expect(decodeEventLog({ abi: reputationEventsV1, ...logsOf(r2, reg.reputation)[0]! })).toEqual({
      eventName: 'ResponseAppended',
      args: {
        agentId: 0n,
        clientAddress: client,
        feedbackIndex: 1n,
        responder: owner,
        responseURI: 'ipfs://resp',
        responseHash,
      },
    });
    const summary = await pub.readContract({
      address: reg.reputation,
      abi: artifacts.ReputationRegistry.abi,
      functionName: 'getSummary',
      args: [0n, [], '', ''],
    });
    // Two non-revoked feedbacks of -12345e-18 each.
    expect(summary).toEqual([2n, -12345n, 18]);
  });
});

describe('ValidationRegistry', () => {
  const requestHash = keccak256(toHex('request #1'));

  it('validationRequest (owner only, unique hash) and repeated validationResponse (validator only)', async () => {
    const r1 = await send(owner, reg.validation, artifacts.ValidationRegistry.abi, 'validationRequest', [
      validator,
      0n,
      'ipfs://req',
      requestHash,
    ]);
    expect(logsOf(r1, reg.validation)[0]!.topics[0]).toBe(sel('ValidationRequest'));
    expect(decodeEventLog({ abi: validationEventsV1, ...logsOf(r1, reg.validation)[0]! })).toEqual({
      eventName: 'ValidationRequest',
      args: { validatorAddress: validator, agentId: 0n, requestURI: 'ipfs://req', requestHash },
    });

    const v = { address: reg.validation, abi: artifacts.ValidationRegistry.abi } as const;
    await expect(
      pub.simulateContract({
        ...v,
        functionName: 'validationRequest',
        args: [validator, 0n, 'ipfs://req', requestHash],
        account: owner,
      }),
    ).rejects.toThrow(/RequestAlreadyExists/);
    await expect(
      pub.simulateContract({
        ...v,
        functionName: 'validationRequest',
        args: [validator, 0n, 'ipfs://req', keccak256(toHex('other'))],
        account: client,
      }),
    ).rejects.toThrow(/NotAgentOwner/);

    const responseHash = keccak256(toHex('validated'));
    for (const [response, tag] of [
      [50, 'soft-finality'],
      [100, 'hard-finality'],
    ] as const) {
      const r = await send(validator, reg.validation, artifacts.ValidationRegistry.abi, 'validationResponse', [
        requestHash,
        response,
        'ipfs://resp',
        responseHash,
        tag,
      ]);
      expect(decodeEventLog({ abi: validationEventsV1, ...logsOf(r, reg.validation)[0]! })).toEqual({
        eventName: 'ValidationResponse',
        args: {
          validatorAddress: validator,
          agentId: 0n,
          requestHash,
          response,
          responseURI: 'ipfs://resp',
          responseHash,
          tag,
        },
      });
    }
    await expect(
      pub.simulateContract({
        ...v,
        functionName: 'validationResponse',
        args: [requestHash, 101, '', responseHash, ''],
        account: validator,
      }),
    ).rejects.toThrow(/InvalidResponse/);
    await expect(
      pub.simulateContract({
        ...v,
        functionName: 'validationResponse',
        args: [requestHash, 1, '', responseHash, ''],
        account: client,
      }),
    ).rejects.toThrow(/NotValidator/);

    const status = (await pub.readContract({ ...v, functionName: 'getValidationStatus', args: [requestHash] })) as [
      Address,
      bigint,
      number,
      Hex,
      string,
      bigint,
    ];
    expect(status.slice(0, 5)).toEqual([validator, 0n, 100, responseHash, 'hard-finality']);
  });
});

describe('LegacyReputationRegistryV04', () => {
  it('emits the v0.4 NewFeedback (uint8 score, bytes32 tags, no feedbackIndex) and FeedbackRevoked', async () => {
    const tag1 = stringToHex('quality', { size: 32 });
    const tag2 = stringToHex('speed', { size: 32 });
    const filehash = keccak256(encodePacked(['string'], ['file']));
    const r1 = await send(client, reg.legacyReputation, artifacts.LegacyReputationRegistryV04.abi, 'giveFeedback', [
      0n,
      87,
      tag1,
      tag2,
      'ipfs://old',
      filehash,
    ]);
    const [log] = logsOf(r1, reg.legacyReputation);
    expect(log!.topics[0]).toBe(toEventSelector(STANDARD_V04.NewFeedback));
    expect(log!.topics[3]).toBe(tag1); // a bytes32 indexed topic is the value itself, not a hash
    expect(decodeEventLog({ abi: reputationEventsV04, ...log! })).toEqual({
      eventName: 'NewFeedback',
      args: { agentId: 0n, clientAddress: client, score: 87, tag1, tag2, fileuri: 'ipfs://old', filehash },
    });
    expect(hexToString(tag1, { size: 32 })).toBe('quality');
    // The v1.0 ABI must not decode it.
    expect(() => decodeEventLog({ abi: reputationEventsV1, ...log! })).toThrow();

    const r2 = await send(client, reg.legacyReputation, artifacts.LegacyReputationRegistryV04.abi, 'revokeFeedback', [
      0n,
      1n,
    ]);
    expect(decodeEventLog({ abi: reputationEventsV04, ...logsOf(r2, reg.legacyReputation)[0]! })).toEqual({
      eventName: 'FeedbackRevoked',
      args: { agentId: 0n, clientAddress: client, feedbackIndex: 1n },
    });
  });
});

describe('DevRegistries (the simulator, tests and benchmarks send through it)', () => {
  it("refuses a reverting call with the error's name instead of mining it", async () => {
    const dev = await DevRegistries.connect(anvil.rpcUrl, reg);
    const before = await pub.getBlockNumber();
    const unknown = keccak256(toHex('no such request'));
    await expect(
      dev.send(validator, reg.validation, artifacts.ValidationRegistry.abi, 'validationResponse', [
        unknown,
        1,
        '',
        unknown,
        '',
      ]),
    ).rejects.toThrow(/RequestNotFound/);
    expect(await pub.getBlockNumber()).toBe(before);
  });

  it('pads gas: a response estimated in the same second as its request still succeeds', async () => {
    const dev = await DevRegistries.connect(anvil.rpcUrl, reg);
    const requestHash = keccak256(toHex('same-second'));
    const request = await dev.validationRequest(owner, { validator, agentId: 0n, requestURI: '', requestHash });
    const requestBlock = await pub.getBlock({ blockNumber: request.blockNumber });
    // Put anvil's clock back to the request's second: the estimate then sees `lastUpdate = block.timestamp` as a
    // no-op write, while the transaction runs in a later second and pays for a real one (the CI flake this fixes).
    await pub.request({ method: 'evm_setTime' as never, params: [Number(requestBlock.timestamp)] as never });
    const response = await dev.validationResponse(validator, {
      requestHash,
      response: 70,
      responseURI: '',
      responseHash: requestHash,
      tag: '',
    });
    expect(response.status).toBe('success');
    const call = {
      address: reg.validation,
      abi: artifacts.ValidationRegistry.abi,
      functionName: 'validationResponse',
      args: [requestHash, 71, '', requestHash, ''],
      account: validator,
    } as const;
    expect(await gasWithHeadroom(pub, call)).toBeGreaterThan((await pub.estimateContractGas(call)) + 2_800n);
  });
});

describe('the dev registry client', () => {
  it("sends one account's transactions at once without reusing a nonce", async () => {
    const registries = await DevRegistries.connect(anvil.rpcUrl, reg);
    const receipts = await Promise.all(
      Array.from({ length: 30 }, () => registries.register(other, 'ipfs://same-sender')),
    );
    const agentIds = receipts.map((r) => BigInt(logsOf(r, reg.identity)[0]!.topics[3]!));
    expect(receipts.every((r) => r.status === 'success')).toBe(true);
    expect(new Set(agentIds).size).toBe(30);
  });
});

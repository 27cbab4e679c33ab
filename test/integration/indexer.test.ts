/**
 * The live indexer against a real anvil chain running our registries: every event type arrives with every column right.
 */
import { keccak256, stringToHex, toHex, pad, type Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { canonicalEvents, startTestChain, testIndexer, type TestChain } from '../helpers/chain.js';

let db: TestDatabase;
let chain: TestChain;
let owner: Address, client: Address, validator: Address, newOwner: Address;

beforeAll(async () => {
  [db, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  [owner, client, validator, newOwner] = chain.registries.accounts as [Address, Address, Address, Address];
});
afterAll(async () => {
  await chain?.stop();
  await db?.drop();
});

const lc = (a: string) => a.toLowerCase();
const hash = (s: string) => keccak256(stringToHex(s));

describe('live indexer', () => {
  it('maps every v1.0 and v0.4 event to an exact events row', async () => {
    const r = chain.registries;
    const agent0 = 0n;
    await r.register(owner, 'ipfs://agent-zero'); // agent 0: Transfer, Registered, MetadataSet(agentWallet)
    await r.register(owner, 'https://agent.one/card.json', [{ metadataKey: 'skills', metadataValue: '0xdeadbeef' }]);
    await r.setAgentURI(owner, agent0, 'ipfs://agent-zero-v2');
    await r.setMetadata(owner, agent0, 'empty', '0x');
    const min = -(2n ** 127n);
    await r.giveFeedback(client, {
      agentId: agent0,
      value: min,
      valueDecimals: 18,
      tag1: 'quality',
      tag2: 'speed',
      endpoint: 'https://a0/mcp',
      feedbackURI: 'ipfs://fb1',
      feedbackHash: hash('fb1'),
    });
    await r.giveFeedback(client, { agentId: agent0, value: -12345n, valueDecimals: 2, tag1: 'quality' });
    await r.revokeFeedback(client, agent0, 1n);
    await r.appendResponse(owner, {
      agentId: agent0,
      clientAddress: client,
      feedbackIndex: 2n,
      responseURI: 'ipfs://resp',
      responseHash: hash('resp'),
    });
    await r.validationRequest(owner, {
      validator,
      agentId: agent0,
      requestURI: 'ipfs://req',
      requestHash: hash('req'),
    });
    await r.validationResponse(validator, {
      requestHash: hash('req'),
      response: 87,
      responseURI: 'ipfs://vresp',
      responseHash: hash('vresp'),
      tag: 'zk',
    });
    await r.legacyGiveFeedback(client, {
      agentId: 1n,
      score: 42,
      tag1: pad(stringToHex('legacy'), { dir: 'right' }),
      tag2: pad('0x00', { size: 32 }),
      fileuri: 'ipfs://old',
      filehash: hash('old'),
    });
    await r.transfer(owner, newOwner, agent0);

    const indexer = testIndexer(chain.config, db.pool);
    const checkpoint = await indexer.tick();
    const head = Number(await r.publicClient.getBlockNumber({ cacheTime: 0 }));
    expect(checkpoint?.blockNumber).toBe(head);

    const events = await canonicalEvents(db.pool, chain.config.chainId);
    const summary = events.map((e) => `${e.registry}/${e.event_type}/${e.agent_id}`);
    expect(summary).toEqual([
      'identity/Transfer/0',
      'identity/Registered/0',
      'identity/MetadataSet/0',
      'identity/Transfer/1',
      'identity/Registered/1',
      'identity/MetadataSet/1',
      'identity/MetadataSet/1',
      'identity/URIUpdated/0',
      'identity/MetadataSet/0',
      'reputation/NewFeedback/0',
      'reputation/NewFeedback/0',
      'reputation/FeedbackRevoked/0',
      'reputation/ResponseAppended/0',
      'validation/ValidationRequest/0',
      'validation/ValidationResponse/0',
      'reputation/NewFeedback/1',
      'identity/MetadataSet/0',
      'identity/Transfer/0',
    ]);
    const [mint0, registered0, wallet0] = events;
    expect(mint0).toMatchObject({ from_address: '0x' + '0'.repeat(40), owner: lc(owner), agent_id: '0' });
    expect(registered0).toMatchObject({ token_uri: 'ipfs://agent-zero', owner: lc(owner), abi_version: 'v1.0' });
    expect(wallet0).toMatchObject({ metadata_key: 'agentWallet', metadata_value: lc(owner) });
    expect(events[6]).toMatchObject({ metadata_key: 'skills', metadata_value: '0xdeadbeef' });
    expect(events[7]).toMatchObject({
      event_type: 'URIUpdated',
      token_uri: 'ipfs://agent-zero-v2',
      updated_by: lc(owner),
    });
    expect(events[8]).toMatchObject({ metadata_key: 'empty', metadata_value: '0x' });
    expect(events[9]).toMatchObject({
      client_address: lc(client),
      feedback_index: '1',
      value: min.toString(),
      value_decimals: 18,
      tag1: 'quality',
      tag2: 'speed',
      endpoint: 'https://a0/mcp',
      file_uri: 'ipfs://fb1',
      file_hash: hash('fb1'),
    });
    expect(events[10]).toMatchObject({
      feedback_index: '2',
      value: '-12345',
      value_decimals: 2,
      tag2: '',
      endpoint: '',
      file_uri: '',
    });
    expect(events[11]).toMatchObject({
      event_type: 'FeedbackRevoked',
      client_address: lc(client),
      feedback_index: '1',
    });
    expect(events[12]).toMatchObject({
      responder: lc(owner),
      feedback_index: '2',
      response_uri: 'ipfs://resp',
      response_hash: hash('resp'),
    });
    expect(events[13]).toMatchObject({
      validator_address: lc(validator),
      request_uri: 'ipfs://req',
      request_hash: hash('req'),
    });
    expect(events[14]).toMatchObject({
      response: 87,
      response_uri: 'ipfs://vresp',
      response_hash: hash('vresp'),
      tag: 'zk',
      request_hash: hash('req'),
    });
    expect(events[15]).toMatchObject({
      abi_version: 'v0.4',
      contract_address: lc(chain.deployed.legacyReputation),
      value: '42',
      value_decimals: 0,
      tag1: 'legacy',
      tag2: '',
      file_uri: 'ipfs://old',
      file_hash: hash('old'),
      feedback_index: null,
    });
    // A transfer clears agentWallet first.
    expect(events[16]).toMatchObject({ metadata_key: 'agentWallet', metadata_value: '0x' });
    expect(events[17]).toMatchObject({ from_address: lc(owner), owner: lc(newOwner) });

    // Positions, ids and block data are the chain's.
    for (const e of events) {
      expect(e.id).toBe(`${e.chain_id}-${e.block_number}-${e.log_index}`);
      const block = await r.publicClient.getBlock({ blockNumber: BigInt(e.block_number) });
      expect(e.block_hash).toBe(block.hash);
      expect(Number(e.timestamp)).toBe(Number(block.timestamp));
      expect(e.block_time.getTime()).toBe(Number(block.timestamp) * 1000);
    }
    // The ERC-4906 MetadataUpdate logs were skipped as unknown, not fatal.
    expect(indexer.stats.unknownLogs).toBe(2);
  });

  it('writes nothing twice and resumes from its checkpoint', async () => {
    const before = (await canonicalEvents(db.pool, chain.config.chainId)).length;
    const again = testIndexer(chain.config, db.pool);
    await again.tick();
    expect((await canonicalEvents(db.pool, chain.config.chainId)).length).toBe(before);
    await chain.registries.giveFeedback(client, { agentId: 1n, value: 5n, valueDecimals: 0 });
    await again.tick();
    const after = await canonicalEvents(db.pool, chain.config.chainId);
    expect(after.length).toBe(before + 1);
    expect(after.at(-1)).toMatchObject({ event_type: 'NewFeedback', agent_id: '1', value: '5' });
  });

  it('waits for confirmations', async () => {
    const cautious = testIndexer({ ...chain.config, confirmations: 3 }, db.pool);
    const before = (await canonicalEvents(db.pool, chain.config.chainId)).length;
    await chain.registries.giveFeedback(client, { agentId: 1n, value: 6n, valueDecimals: 0, tag1: toHex('x') });
    await cautious.tick();
    expect((await canonicalEvents(db.pool, chain.config.chainId)).length).toBe(before);
    await chain.registries.publicClient.request({ method: 'anvil_mine' as never, params: [toHex(3)] as never });
    await cautious.tick();
    expect((await canonicalEvents(db.pool, chain.config.chainId)).length).toBe(before + 1);
  });
});

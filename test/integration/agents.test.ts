/**
 * Agents and their owners through the API, with real signatures on anvil: linking by the owner EOA (EIP-191 and
 * EIP-712) and by an ERC-1271 wallet, refusals that change nothing (wrong signer, expired, replayed, foreign challenge,
 * wrong role, another organization), a link moved by a fresh proof, the lapse on transfer (indexer → relay → mail),
 * agent MCP tokens, follow/unfollow with real trigger workflows, and "my agents".
 */
import { getAddress, parseAbi, type Address } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lapseLink, LinkLapseDispatcher } from '../../src/agents/lapses.js';
import { loadArtifacts } from '../../src/chain/dev/compile.js';
import { createMailer } from '../../src/mail/mailer.js';
import { Relay, type RelayItem } from '../../src/relay/relay.js';
import { agentSecret } from '../../src/secrets.js';
import { code, joinByInvitation, startTestApi, verifyByMail, type ApiCaller, type TestApi } from '../helpers/api.js';
import { startTestChain, testIndexer, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, databaseFingerprint, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';

let db: TestDatabase;
let chain: TestChain;
let api: TestApi;
let chainId: number;

beforeAll(async () => {
  [db, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  chainId = chain.config.chainId;
  api = await startTestApi(db, { withWorker: true, env: { CHAINS: JSON.stringify([chain.config]) } });
}, 120_000);
afterAll(async () => {
  await api?.close();
  await chain?.stop();
  await db?.drop();
});

let n = 0;
/** A new user with a personal organization (enterprise: no quota gets in the way). */
async function account() {
  n++;
  const email = `agents${n}_${Date.now()}@example.test`;
  const c = await api.caller({}, `10.20.0.${n}`);
  const session = await c.auth.register({
    username: `agents${n}_${Date.now() % 100000}`,
    email,
    password: 'correct horse battery',
  });
  await db.pool.query(`UPDATE organizations SET plan = 'enterprise' WHERE id = $1`, [session.organizationId]);
  const as = await api.caller({ authorization: `Bearer ${session.accessToken}` }, `10.21.0.${n}`);
  return { email, userId: session.userId, org: session.organizationId!, as };
}
type Account = Awaited<ReturnType<typeof account>>;

const identityAbi = parseAbi(['function totalSupply() view returns (uint256)']);

/** Registers an agent owned by `owner` (an anvil account); returns its id. */
async function registerAgent(owner: Address, uri = 'https://agent.example/registration.json'): Promise<string> {
  await chain.registries.register(owner, uri);
  const supply = await chain.registries.publicClient.readContract({
    address: chain.deployed.identity,
    abi: identityAbi,
    functionName: 'totalSupply',
  });
  return (supply - 1n).toString();
}

/** The challenge for the agent, signed by an unlocked anvil account in the given form. */
async function signedChallenge(
  caller: ApiCaller,
  org: string,
  agentId: string,
  signer: Address,
  scheme: 'eip191' | 'eip712' = 'eip191',
) {
  const c = await caller.agents.createLinkChallenge({ organizationId: org, chainId, agentId });
  const wallet = chain.registries.wallet;
  const signature =
    scheme === 'eip191'
      ? await wallet.signMessage({ account: signer, message: c.message })
      : await wallet.signTypedData({
          account: signer,
          domain: c.typedData.domain,
          types: c.typedData.types,
          primaryType: 'AgentLink',
          message: c.typedData.message,
        });
  return { organizationId: org, chainId, agentId, nonce: c.nonce, signature, scheme, challenge: c };
}

const linkInput = (s: Awaited<ReturnType<typeof signedChallenge>>) => {
  const { challenge: _challenge, ...input } = s;
  return input;
};

/** Our ERC-1271 test wallet, whose one signer is `signer`. */
async function deployContractWallet(signer: Address): Promise<Address> {
  const { TestERC1271Wallet } = await loadArtifacts();
  const hash = await chain.registries.wallet.deployContract({
    abi: TestERC1271Wallet.abi,
    bytecode: TestERC1271Wallet.bytecode,
    args: [signer],
    account: signer,
    chain: chain.deployed.chain,
  });
  const receipt = await chain.registries.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
  return getAddress(receipt.contractAddress!);
}

const linkFingerprint = () =>
  databaseFingerprint(db.pool, { tables: ['rate_limit_counters'], columns: { api_keys: ['last_used_at'] } });

describe('linking', () => {
  let owner: Account;
  let agentId: string;
  let eoa: Address;
  beforeAll(async () => {
    owner = await account();
    eoa = chain.registries.accounts[1]!;
    agentId = await registerAgent(eoa);
  });

  it('issues a challenge bound to domain, chain, registry, agent, organization, nonce and expiry, in both forms', async () => {
    const c = await owner.as.agents.createLinkChallenge({ organizationId: owner.org, chainId, agentId });
    expect(c.message).toContain(`Agent: ${agentId}`);
    expect(c.message).toContain(`Agent registry: eip155:${chainId}:${chain.deployed.identity.toLowerCase()}`);
    expect(c.message).toContain(`Organization: ${owner.org}`);
    expect(c.message).toContain(`Nonce: ${c.nonce}`);
    expect(c.typedData.message).toMatchObject({ agentId, organizationId: owner.org, nonce: c.nonce });
    expect(c.typedData.domain.chainId).toBe(chainId);
    expect(new Date(c.expiresAt).getTime() - new Date(c.issuedAt).getTime()).toBe(600_000);
    expect(
      await code(owner.as.agents.createLinkChallenge({ organizationId: owner.org, chainId: 999_999, agentId })),
    ).toBe('NOT_FOUND');
  });

  it('refuses, changing nothing: another signer, a foreign challenge, an expired one, an unregistered agent', async () => {
    const stranger = chain.registries.accounts[5]!;
    const other = await account();
    const before = await linkFingerprint();
    const wrongSigner = await signedChallenge(owner.as, owner.org, agentId, stranger);
    expect(await code(owner.as.agents.link(linkInput(wrongSigner)))).toBe('FORBIDDEN');
    const wrongTyped = await signedChallenge(owner.as, owner.org, agentId, stranger, 'eip712');
    expect(await code(owner.as.agents.link(linkInput(wrongTyped)))).toBe('FORBIDDEN');
    // The owner's signature of an EIP-191 challenge presented as EIP-712: not a signature of that data.
    const mislabelled = await signedChallenge(owner.as, owner.org, agentId, eoa);
    expect(await code(owner.as.agents.link({ ...linkInput(mislabelled), scheme: 'eip712' }))).toBe('FORBIDDEN');
    // A challenge issued to another organization, or for another agent, does not link here.
    const theirs = await signedChallenge(other.as, other.org, agentId, eoa);
    expect(await code(owner.as.agents.link({ ...linkInput(theirs), organizationId: owner.org }))).toBe('BAD_REQUEST');
    const otherAgent = await registerAgent(eoa);
    const forOther = await signedChallenge(owner.as, owner.org, otherAgent, eoa);
    expect(await code(owner.as.agents.link({ ...linkInput(forOther), agentId }))).toBe('BAD_REQUEST');
    expect(await code(owner.as.agents.link({ ...linkInput(forOther), signature: '0x1234' }))).toBe('FORBIDDEN');
    const missing = await signedChallenge(owner.as, owner.org, '999999', eoa);
    expect(await code(owner.as.agents.link(linkInput(missing)))).toBe('NOT_FOUND');
    expect(await linkFingerprint()).toEqual(before);

    // Expired: the service's clock moves past the challenge's expiry.
    const fresh = await signedChallenge(owner.as, owner.org, agentId, eoa);
    const links = api.services.agents.links as unknown as { deps: { now?: () => number } };
    links.deps.now = () => Date.now() + 601_000;
    try {
      const err = await owner.as.agents.link(linkInput(fresh)).catch((e: Error) => e);
      expect(err).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('expired') });
    } finally {
      links.deps.now = undefined;
    }
    expect(await linkFingerprint()).toEqual(before);
  });

  it('links with the owner EOA (EIP-191), once per challenge; lists, and unlinks', async () => {
    const signed = await signedChallenge(owner.as, owner.org, agentId, eoa);
    const link = await owner.as.agents.link(linkInput(signed));
    expect(link).toMatchObject({
      chainId,
      agentId,
      status: 'active',
      walletAddress: eoa.toLowerCase(),
      signerKind: 'owner',
      signatureScheme: 'eip191',
    });
    const before = await linkFingerprint();
    const replay = await owner.as.agents.link(linkInput(signed)).catch((e: Error) => e);
    expect(replay).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('already used') });
    expect(await linkFingerprint()).toEqual(before);
    const { rows } = await db.pool.query(`SELECT purpose, chain_id::int FROM used_nonces WHERE purpose = 'agent_link'`);
    expect(rows).toContainEqual({ purpose: 'agent_link', chain_id: chainId });

    expect((await owner.as.agents.listLinks({ organizationId: owner.org })).items).toEqual([link]);
    const other = await account();
    expect((await other.as.agents.listLinks({ organizationId: other.org })).items).toEqual([]);
    expect(await code(other.as.agents.listLinks({ organizationId: owner.org }))).toBe('FORBIDDEN');
    expect(await code(other.as.agents.unlink({ organizationId: other.org, chainId, agentId }))).toBe('NOT_FOUND');

    await owner.as.agents.unlink({ organizationId: owner.org, chainId, agentId });
    expect((await owner.as.agents.listLinks({ organizationId: owner.org })).items).toEqual([]);
    expect(
      (await owner.as.agents.listLinks({ organizationId: owner.org, includeInactive: 'true' })).items,
    ).toMatchObject([{ agentId, status: 'revoked' }]);
    expect(await code(owner.as.agents.unlink({ organizationId: owner.org, chainId, agentId }))).toBe('NOT_FOUND');
  });

  it('two concurrent link calls with one signed challenge: exactly one links', async () => {
    const racer = await account();
    const racedAgent = await registerAgent(eoa);
    const input = linkInput(await signedChallenge(racer.as, racer.org, racedAgent, eoa));
    const outcomes = await Promise.allSettled([racer.as.agents.link(input), racer.as.agents.link(input)]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({
      reason: { code: 'CONFLICT', message: expect.stringContaining('already used') },
    });
    expect((await racer.as.agents.listLinks({ organizationId: racer.org })).items).toMatchObject([
      { agentId: racedAgent, status: 'active' },
    ]);
  });

  it('links with EIP-712 typed data; a fresh proof by the owner moves the link to another organization', async () => {
    const first = await owner.as.agents.link(
      linkInput(await signedChallenge(owner.as, owner.org, agentId, eoa, 'eip712')),
    );
    expect(first).toMatchObject({ status: 'active', signatureScheme: 'eip712', signerKind: 'owner' });
    const other = await account();
    const moved = await other.as.agents.link(linkInput(await signedChallenge(other.as, other.org, agentId, eoa)));
    expect(moved).toMatchObject({ status: 'active', agentId });
    expect((await owner.as.agents.listLinks({ organizationId: owner.org, includeInactive: 'true' })).items).toEqual([]);
    expect((await other.as.agents.listLinks({ organizationId: other.org })).items).toEqual([moved]);
    await other.as.agents.unlink({ organizationId: other.org, chainId, agentId });
  });

  it('links an agent owned by an ERC-1271 contract wallet, in both forms; its signer alone is refused as an EOA', async () => {
    const signer = chain.registries.accounts[2]!;
    const contractWallet = await deployContractWallet(signer);
    const walletAgent = await registerAgent(signer);
    await chain.registries.transfer(signer, contractWallet, BigInt(walletAgent));
    for (const scheme of ['eip191', 'eip712'] as const) {
      const link = await owner.as.agents.link(
        linkInput(await signedChallenge(owner.as, owner.org, walletAgent, signer, scheme)),
      );
      expect(link).toMatchObject({
        walletAddress: contractWallet.toLowerCase(),
        signerKind: 'owner',
        signatureScheme: scheme,
      });
    }
    // Someone else signing for the wallet: the wallet's isValidSignature says no.
    const forged = await signedChallenge(owner.as, owner.org, walletAgent, chain.registries.accounts[6]!);
    expect(await code(owner.as.agents.link(linkInput(forged)))).toBe('FORBIDDEN');
  });

  it('only admins and the owner link and unlink; members and viewers may not, readers may list', async () => {
    const member = await account();
    const viewer = await account();
    await verifyByMail(api, owner.email);
    await joinByInvitation(api, owner.as, owner.org, { email: member.email, as: member.as }, 'member');
    await joinByInvitation(api, owner.as, owner.org, { email: viewer.email, as: viewer.as }, 'viewer');
    const agent = await registerAgent(eoa);
    const before = await linkFingerprint();
    for (const who of [member, viewer]) {
      expect(
        await code(who.as.agents.createLinkChallenge({ organizationId: owner.org, chainId, agentId: agent })),
      ).toBe('FORBIDDEN');
      const signed = await signedChallenge(owner.as, owner.org, agent, eoa);
      expect(await code(who.as.agents.link(linkInput(signed)))).toBe('FORBIDDEN');
      expect(await code(who.as.agents.unlink({ organizationId: owner.org, chainId, agentId: agent }))).toBe(
        'FORBIDDEN',
      );
    }
    expect(await linkFingerprint()).toEqual(before);
    expect(await code(viewer.as.agents.listLinks({ organizationId: owner.org }))).toBe('OK');
  });
});

/** Waits until the lapse relay has dispatched every stored event. */
async function relayCaughtUp() {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    const { rows } = await db.pool.query<{ behind: boolean }>(
      `SELECT coalesce((SELECT position FROM relay_cursors WHERE name = 'agent-links'), 0)
                < (SELECT coalesce(max(ingest_seq), 0) FROM events) AS behind`,
    );
    if (!rows[0]!.behind) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the agent-links relay did not catch up');
}

/** The lapse relay (cursor 'agent-links') as the relay process runs it, mailing to the test mailbox. */
async function withLapseRelay(fn: () => Promise<void>) {
  const mailer = createMailer(
    { mail: { smtpUrl: api.mailbox.url, from: 'Test <no-reply@example.test>' }, nodeEnv: 'test' },
    testLogger,
  );
  const relay = new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    name: 'agent-links',
    logger: testLogger,
    idlePollMs: 100,
    dispatcher: new LinkLapseDispatcher({
      pool: db.pool,
      mailer,
      publicUrl: 'https://api.example.test',
      logger: testLogger,
    }),
  });
  const controller = new AbortController();
  const running = relay.run(controller.signal);
  try {
    await fn();
  } finally {
    controller.abort();
    await running.catch(() => undefined);
    mailer.close();
  }
}

describe('over REST with an admin API key', () => {
  it('challenge, sign with EIP-712, link, list, and my agents, as the README shows', async () => {
    const owner = await account();
    const key = await owner.as.apiKeys.create({ organizationId: owner.org, name: 'linker', permissions: ['admin'] });
    const eoa = chain.registries.accounts[1]!;
    const agentId = await registerAgent(eoa);
    const rest = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${api.server.url}/api/v1/organizations/${owner.org}${path}`, {
        method,
        headers: { 'x-api-key': key.key, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const challenge = await rest('POST', `/agents/${chainId}/${agentId}/link-challenge`);
    expect(challenge.status).toBe(200);
    const typed = challenge.body.typedData as Parameters<typeof chain.registries.wallet.signTypedData>[0];
    const signature = await chain.registries.wallet.signTypedData({ ...typed, account: eoa });
    const linked = await rest('POST', `/agents/${chainId}/${agentId}/link`, {
      nonce: challenge.body.nonce,
      signature,
      scheme: 'eip712',
    });
    expect(linked).toMatchObject({ status: 200, body: { agentId, status: 'active', signatureScheme: 'eip712' } });
    const again = await rest('POST', `/agents/${chainId}/${agentId}/link`, {
      nonce: challenge.body.nonce,
      signature,
      scheme: 'eip712',
    });
    expect(again.status).toBe(409);
    expect((await rest('GET', '/agent-links')).body.items).toMatchObject([{ agentId }]);
    await testIndexer(chain.config, db.pool).tick();
    expect((await rest('GET', '/my-agents')).body.items).toMatchObject([{ agentId, summary: { data: { count: 0 } } }]);
  });
});

describe('lapse', () => {
  it('a transfer seen by the indexer lapses the link, deletes its MCP token and mails the owner', async () => {
    const owner = await account();
    const from = chain.registries.accounts[3]!;
    const to = chain.registries.accounts[4]!;
    const agentId = await registerAgent(from);
    const indexer = testIndexer(chain.config, db.pool);
    await indexer.tick();
    await owner.as.agents.link(linkInput(await signedChallenge(owner.as, owner.org, agentId, from)));
    await owner.as.agents.registerMcpToken({ organizationId: owner.org, chainId, agentId, token: 'tok_lapse_12345' });

    await withLapseRelay(async () => {
      // Events at or below the block the proof was read at (the registration) lapse nothing.
      await relayCaughtUp();
      expect((await owner.as.agents.listLinks({ organizationId: owner.org })).items).toMatchObject([
        { status: 'active' },
      ]);

      await chain.registries.transfer(from, to, BigInt(agentId));
      await indexer.tick();
      // The first mail to the address is the registration's verification mail.
      const mail = await api.mailbox.waitFor(owner.email, 2);
      expect(mail.subject).toBe(
        `Agent ${agentId} on chain ${chainId} is no longer linked to ${(await owner.as.auth.me({})).organizations[0]!.name}`,
      );
      expect(mail.text).toContain('the agent was transferred to another owner');
      const [link] = (await owner.as.agents.listLinks({ organizationId: owner.org, includeInactive: 'true' })).items;
      expect(link).toMatchObject({ status: 'lapsed', lapseReason: 'transferred' });
      expect(link!.lapsedAt).not.toBeNull();
      expect(
        (
          await db.pool.query('SELECT 1 FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2', [
            chainId,
            agentId,
          ])
        ).rowCount,
      ).toBe(0);
      expect(
        await code(
          owner.as.agents.registerMcpToken({ organizationId: owner.org, chainId, agentId, token: 'tok_again_1234' }),
        ),
      ).toBe('FORBIDDEN');
      // The new owner links it afresh.
      const relinked = await owner.as.agents.link(linkInput(await signedChallenge(owner.as, owner.org, agentId, to)));
      expect(relinked).toMatchObject({ status: 'active', walletAddress: to.toLowerCase(), lapsedAt: null });
      // One mail per lapse: the relay moved on.
      await relayCaughtUp();
      expect(api.mailbox.to(owner.email).filter((m) => m.subject.startsWith('Agent '))).toHaveLength(1);
    });
  });

  it('a batch dispatched twice at once (a replay, or two relays on one cursor) lapses once and mails once', async () => {
    const owner = await account();
    const from = chain.registries.accounts[3]!;
    const agentId = await registerAgent(from);
    const indexer = testIndexer(chain.config, db.pool);
    await owner.as.agents.link(linkInput(await signedChallenge(owner.as, owner.org, agentId, from)));
    await chain.registries.transfer(from, chain.registries.accounts[4]!, BigInt(agentId));
    await indexer.tick();
    const { rows: batch } = await db.pool.query<RelayItem>(
      `SELECT 'event' AS kind, ingest_seq::text AS seq, json_build_object('id', id, 'registry', registry,
         'event_type', event_type, 'agent_id', agent_id::text, 'metadata_key', metadata_key,
         'chain_id', chain_id::float8, 'block_number', block_number::float8, 'transaction_hash', transaction_hash) AS event
       FROM events WHERE chain_id = $1 AND agent_id = $2 ORDER BY ingest_seq`,
      [chainId, agentId],
    );
    expect(batch.map((i) => i.kind === 'event' && i.event.event_type)).toContain('Transfer');
    const mailer = createMailer(
      { mail: { smtpUrl: api.mailbox.url, from: 'Test <no-reply@example.test>' }, nodeEnv: 'test' },
      testLogger,
    );
    const dispatcher = new LinkLapseDispatcher({
      pool: db.pool,
      mailer,
      publicUrl: 'https://api.example.test',
      logger: testLogger,
    });
    try {
      await Promise.all([dispatcher.dispatch(batch), dispatcher.dispatch(batch)]);
      await dispatcher.dispatch(batch);
    } finally {
      mailer.close();
    }
    // The first mail to the address is the registration's verification mail.
    await api.mailbox.waitFor(owner.email, 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(api.mailbox.to(owner.email).filter((m) => m.subject.startsWith('Agent '))).toHaveLength(1);
    expect(
      (await owner.as.agents.listLinks({ organizationId: owner.org, includeInactive: 'true' })).items,
    ).toMatchObject([{ status: 'lapsed', lapseReason: 'transferred' }]);
  });

  it('the agentWallet signs a link; a wallet change lapses it (wallet_changed)', async () => {
    const owner = await account();
    const agentOwner = chain.registries.accounts[1]!;
    const agentWallet = chain.registries.accounts[2]!;
    const agentId = await registerAgent(agentOwner);
    await chain.registries.setAgentWallet(agentOwner, BigInt(agentId), agentWallet);
    const indexer = testIndexer(chain.config, db.pool);
    await indexer.tick();
    const link = await owner.as.agents.link(
      linkInput(await signedChallenge(owner.as, owner.org, agentId, agentWallet, 'eip712')),
    );
    expect(link).toMatchObject({ signerKind: 'agentWallet', walletAddress: agentWallet.toLowerCase() });
    await withLapseRelay(async () => {
      await chain.registries.setAgentWallet(agentOwner, BigInt(agentId), chain.registries.accounts[3]!);
      await indexer.tick();
      const mail = await api.mailbox.waitFor(owner.email, 2);
      expect(mail.text).toContain("the agent's agentWallet changed");
      expect(
        (await owner.as.agents.listLinks({ organizationId: owner.org, includeInactive: 'true' })).items,
      ).toMatchObject([{ status: 'lapsed', lapseReason: 'wallet_changed' }]);
    });
  });

  it('a use-time check lapses a link whose signer no longer owns the agent, before the indexer sees it', async () => {
    const owner = await account();
    const from = chain.registries.accounts[7]!;
    const agentId = await registerAgent(from);
    await owner.as.agents.link(linkInput(await signedChallenge(owner.as, owner.org, agentId, from)));
    await chain.registries.transfer(from, chain.registries.accounts[8]!, BigInt(agentId));
    const err = await owner.as.agents
      .registerMcpToken({ organizationId: owner.org, chainId, agentId, token: 'tok_use_time_1' })
      .catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('lapsed') });
    expect(
      (await owner.as.agents.listLinks({ organizationId: owner.org, includeInactive: 'true' })).items,
    ).toMatchObject([{ status: 'lapsed', lapseReason: 'owner_changed' }]);
  });
});

describe('agent MCP tokens', () => {
  it('a lapse committed while a token is being registered leaves no token behind', async () => {
    const owner = await account();
    const eoa = chain.registries.accounts[9]!;
    const agentId = await registerAgent(eoa);
    const ref = { organizationId: owner.org, chainId, agentId };
    await owner.as.agents.link(linkInput(await signedChallenge(owner.as, owner.org, agentId, eoa)));
    // A lapse in flight: it holds the link row (as lapseLink's UPDATE does) while the registration runs.
    const lapse = await db.pool.connect();
    try {
      await lapse.query('BEGIN');
      await lapseLink(lapse, { chainId, agentId, reason: 'transferred' });
      const registering = code(owner.as.agents.registerMcpToken({ ...ref, token: 'tok_racing_lapse_1' }));
      await new Promise((r) => setTimeout(r, 500));
      await lapse.query('COMMIT');
      expect(await registering).toBe('FORBIDDEN');
    } finally {
      lapse.release();
    }
    const { rowCount } = await db.pool.query('SELECT 1 FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2', [
      chainId,
      agentId,
    ]);
    expect(rowCount).toBe(0);
  });

  it('only an organization with an active link registers, rotates and deletes; reads show no token', async () => {
    const owner = await account();
    const other = await account();
    const eoa = chain.registries.accounts[9]!;
    const agentId = await registerAgent(eoa);
    const ref = { organizationId: owner.org, chainId, agentId };
    expect(await code(owner.as.agents.registerMcpToken({ ...ref, token: 'tok_unlinked_1' }))).toBe('FORBIDDEN');
    await owner.as.agents.link(linkInput(await signedChallenge(owner.as, owner.org, agentId, eoa)));

    const registered = await owner.as.agents.registerMcpToken({ ...ref, token: 'tok_first_secret_abcd' });
    expect(registered).toMatchObject({
      chainId,
      agentId,
      last4: 'abcd',
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(JSON.stringify(registered)).not.toContain('tok_first');
    expect(await code(owner.as.agents.registerMcpToken({ ...ref, token: 'tok_second_xyz9' }))).toBe('CONFLICT');
    const { rows } = await db.pool.query<{ token: string }>(
      'SELECT token FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2',
      [chainId, agentId],
    );
    expect(rows[0]!.token).not.toContain('tok_first');
    expect(api.services.secrets.decrypt(rows[0]!.token, agentSecret(chainId, agentId, 'agent_mcp_tokens.token'))).toBe(
      'tok_first_secret_abcd',
    );

    const rotated = await owner.as.agents.rotateMcpToken({ ...ref, token: 'tok_rotated_secret_wxyz' });
    expect(rotated.last4).toBe('wxyz');
    expect(rotated.fingerprint).not.toBe(registered.fingerprint);
    expect(await owner.as.agents.getMcpToken(ref)).toMatchObject({ last4: 'wxyz', fingerprint: rotated.fingerprint });

    // Another organization, and a link-less one: refused, nothing changed.
    const before = await linkFingerprint();
    const foreign = { organizationId: other.org, chainId, agentId };
    expect(await code(other.as.agents.rotateMcpToken({ ...foreign, token: 'tok_theirs_0000' }))).toBe('FORBIDDEN');
    expect(await code(other.as.agents.deleteMcpToken(foreign))).toBe('FORBIDDEN');
    expect(await code(other.as.agents.getMcpToken(foreign))).toBe('FORBIDDEN');
    expect(await code(other.as.agents.rotateMcpToken({ ...ref, token: 'tok_theirs_0000' }))).toBe('FORBIDDEN');
    expect(await linkFingerprint()).toEqual(before);

    await owner.as.agents.deleteMcpToken(ref);
    expect(await owner.as.agents.getMcpToken(ref)).toBeNull();
    expect(await code(owner.as.agents.deleteMcpToken(ref))).toBe('NOT_FOUND');
    expect(await code(owner.as.agents.rotateMcpToken({ ...ref, token: 'tok_nothing_1234' }))).toBe('NOT_FOUND');

    // Unlinking deletes the token registered under the link.
    await owner.as.agents.registerMcpToken({ ...ref, token: 'tok_before_unlink' });
    await owner.as.agents.unlink(ref);
    expect(
      (await db.pool.query('SELECT 1 FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2', [chainId, agentId]))
        .rowCount,
    ).toBe(0);
  });
});

describe('follow an agent', () => {
  const actions = [{ action_type: 'rest' as const, config: { url: 'https://receiver.example/follow' } }];

  it('creates a managed set of real triggers once, lists it, and unfollow removes them all', async () => {
    const owner = await account();
    const other = await account();
    const agentId = await registerAgent(chain.registries.accounts[1]!);
    const ref = { organizationId: owner.org, chainId, agentId };
    const first = await owner.as.agents.follow({ ...ref, actions, reputationDropBelow: 2.5 });
    expect(first.created).toBe(true);
    expect(first.triggers.map((t) => t.kind).sort()).toEqual([
      'feedback',
      'reputation_drop',
      'revocation',
      'validation_response',
    ]);
    const triggers = (await owner.as.triggers.list({ organizationId: owner.org })).items;
    expect(triggers.map((t) => t.id).sort()).toEqual(first.triggers.map((t) => t.triggerId).sort());
    for (const t of triggers) {
      expect(t.conditions).toContainEqual(
        expect.objectContaining({ condition_type: 'agent_id_equals', value: agentId }),
      );
      expect(t.actions).toMatchObject([{ action_type: 'rest', config: { url: 'https://receiver.example/follow' } }]);
      // A real trigger workflow runs for each.
      await api.services.temporal.workflow.getHandle(`trigger/${t.id}`).describe();
    }
    const drop = triggers.find((t) => t.name.endsWith('reputation drop'))!;
    expect(drop.conditions).toContainEqual(expect.objectContaining({ condition_type: 'ema_threshold', value: '2.5' }));

    const again = await owner.as.agents.follow({ ...ref, actions });
    expect(again).toMatchObject({ created: false, id: first.id });
    expect((await owner.as.triggers.list({ organizationId: owner.org })).items).toHaveLength(4);
    expect((await owner.as.agents.listFollows({ organizationId: owner.org })).items).toMatchObject([
      { id: first.id, agentId },
    ]);
    expect((await other.as.agents.listFollows({ organizationId: other.org })).items).toEqual([]);
    expect(await code(other.as.agents.unfollow({ organizationId: other.org, chainId, agentId }))).toBe('NOT_FOUND');

    await owner.as.agents.unfollow(ref);
    expect((await owner.as.triggers.list({ organizationId: owner.org })).items).toEqual([]);
    expect((await owner.as.agents.listFollows({ organizationId: owner.org })).items).toEqual([]);
    expect(await code(owner.as.agents.unfollow(ref))).toBe('NOT_FOUND');
  });

  it('two concurrent follow calls make one set', async () => {
    const owner = await account();
    const ref = { organizationId: owner.org, chainId, agentId: await registerAgent(chain.registries.accounts[1]!) };
    const [a, b] = await Promise.all([
      owner.as.agents.follow({ ...ref, actions }),
      owner.as.agents.follow({ ...ref, actions }),
    ]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.id).toBe(b.id);
    expect((await owner.as.triggers.list({ organizationId: owner.org })).items).toHaveLength(4);
    expect((await owner.as.agents.listFollows({ organizationId: owner.org })).items).toMatchObject([
      { id: a.id, triggers: expect.arrayContaining([expect.objectContaining({ kind: 'reputation_drop' })]) },
    ]);
  });

  it('a refused action leaves no half-made set', async () => {
    const owner = await account();
    const ref = { organizationId: owner.org, chainId, agentId: '0' };
    expect(await code(owner.as.agents.follow({ ...ref, actions: [{ action_type: 'rest', config: {} }] }))).toBe(
      'BAD_REQUEST',
    );
    expect((await owner.as.triggers.list({ organizationId: owner.org })).items).toEqual([]);
    expect((await owner.as.agents.listFollows({ organizationId: owner.org })).items).toEqual([]);
  });
});

describe('my agents', () => {
  it('lists the linked agents with their reputation summary, without charging', async () => {
    const owner = await account();
    const eoa = chain.registries.accounts[1]!;
    const agentId = await registerAgent(eoa);
    await chain.registries.giveFeedback(chain.registries.accounts[5]!, {
      agentId: BigInt(agentId),
      value: 75n,
      valueDecimals: 0,
    });
    await chain.registries.giveFeedback(chain.registries.accounts[6]!, {
      agentId: BigInt(agentId),
      value: 825n,
      valueDecimals: 1,
    });
    await testIndexer(chain.config, db.pool).tick();
    await owner.as.agents.link(linkInput(await signedChallenge(owner.as, owner.org, agentId, eoa)));
    const balanceBefore = await db.pool.query(
      'SELECT count(*)::int AS n FROM credit_transactions WHERE organization_id = $1',
      [owner.org],
    );
    const { items } = await owner.as.agents.myAgents({ organizationId: owner.org });
    expect(items).toMatchObject([{ agentId, status: 'active', summary: { data: { count: 2, mean: '78.75' } } }]);
    const balanceAfter = await db.pool.query(
      'SELECT count(*)::int AS n FROM credit_transactions WHERE organization_id = $1',
      [owner.org],
    );
    expect(balanceAfter.rows).toEqual(balanceBefore.rows);
  });
});

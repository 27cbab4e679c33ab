import { describe, expect, it } from 'vitest';
import {
  ContractFunctionRevertedError,
  getAddress,
  hashTypedData,
  recoverMessageAddress,
  recoverTypedDataAddress,
  type PublicClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  issueLinkChallenge,
  linkMessage,
  linkTypedData,
  openLinkChallenge,
  parseLinkMessage,
  type LinkBinding,
} from '../../src/agents/challenge.js';
import { AgentChains, walletFromMetadata } from '../../src/agents/chain.js';
import { AgentError } from '../../src/agents/errors.js';
import { followTriggers } from '../../src/agents/follows.js';
import { lapseMail, lapseReasonOf } from '../../src/agents/lapses.js';
import type { StoredEvent } from '../../src/relay/relay.js';
import { compileDefinition } from '../../src/triggers/definition.js';

const secret = new Uint8Array(32).fill(7);
const binding: LinkBinding = {
  domain: 'api.example.com',
  chainId: 84532,
  identityRegistry: '0x8004a818bfb912233c491871b3d84c89a494bd9e',
  agentId: '0',
  organizationId: '5f1d6a3e-1c2b-4d5e-8f90-123456789abc',
};
const now = Date.UTC(2026, 11, 8, 1, 0, 0);

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as AgentError).code;
  }
  return 'no error';
};

describe('link challenges', () => {
  it('open again from their nonce, with the same times, for the same binding only', () => {
    const c = issueLinkChallenge(secret, binding, { now });
    expect(c.issuedAt.getTime()).toBe(now);
    expect(c.expiresAt.getTime()).toBe(now + 600_000);
    expect(openLinkChallenge(secret, binding, c.nonce, now + 1_000)).toEqual(c);
    for (const other of [
      { ...binding, agentId: '1' },
      { ...binding, chainId: 1 },
      { ...binding, organizationId: '00000000-0000-4000-8000-000000000000' },
      { ...binding, domain: 'evil.example' },
      { ...binding, identityRegistry: '0x0000000000000000000000000000000000000001' as const },
    ]) {
      expect(codeOf(() => openLinkChallenge(secret, other, c.nonce, now))).toBe('invalid_challenge');
    }
    expect(codeOf(() => openLinkChallenge(new Uint8Array(32), binding, c.nonce, now))).toBe('invalid_challenge');
    expect(codeOf(() => openLinkChallenge(secret, binding, 'not-a-nonce', now))).toBe('invalid_challenge');
    // A nonce whose expiry was edited no longer carries a valid MAC.
    const later = c.nonce.slice(0, 40) + 'ffffffff' + c.nonce.slice(48);
    expect(codeOf(() => openLinkChallenge(secret, binding, later, now))).toBe('invalid_challenge');
  });

  it('expire', () => {
    const c = issueLinkChallenge(secret, binding, { now, ttlSeconds: 60 });
    expect(codeOf(() => openLinkChallenge(secret, binding, c.nonce, now + 60_000))).toBe('challenge_expired');
    expect(codeOf(() => openLinkChallenge(secret, binding, c.nonce, now + 59_000))).toBe('no error');
  });

  it('have an EIP-191 text that names every binding and parses back', () => {
    const c = issueLinkChallenge(secret, binding, { now });
    const text = linkMessage(c);
    expect(text).toContain('api.example.com wants you to link an ERC-8004 agent');
    expect(text).toContain(`Agent registry: eip155:84532:${binding.identityRegistry}`);
    expect(parseLinkMessage(text)).toEqual({
      domain: binding.domain,
      agentId: '0',
      agentRegistry: `eip155:84532:${binding.identityRegistry}`,
      organizationId: binding.organizationId,
      chainId: 84532,
      nonce: c.nonce,
      issuedAt: c.issuedAt,
      expiresAt: c.expiresAt,
    });
    expect(parseLinkMessage('hello')).toBeUndefined();
    expect(parseLinkMessage(text.replace(/Nonce: .*/, ''))).toBeUndefined();
  });

  it('sign and recover in both forms, and the typed data changes with every field', async () => {
    const account = privateKeyToAccount(`0x${'11'.repeat(32)}`);
    const c = issueLinkChallenge(secret, binding, { now });
    const typed = linkTypedData(c);
    expect(typed.domain).toEqual({ name: 'ERC-8004 agent link', version: '1', chainId: 84532 });
    expect(typed.message.agentId).toBe(0n);
    const personal = await account.signMessage({ message: linkMessage(c) });
    expect(await recoverMessageAddress({ message: linkMessage(c), signature: personal })).toBe(account.address);
    const typedSignature = await account.signTypedData(typed);
    expect(await recoverTypedDataAddress({ ...typed, signature: typedSignature })).toBe(account.address);
    const other = linkTypedData({ ...c, organizationId: '00000000-0000-4000-8000-000000000000' });
    expect(hashTypedData(other)).not.toBe(hashTypedData(typed));
  });
});

describe('the agentWallet metadata', () => {
  it('reads as an address from 20 bytes or an ABI word; empty or zero is no wallet', () => {
    const a = '0x1111111111111111111111111111111111111111';
    expect(walletFromMetadata(a)).toBe(a);
    expect(walletFromMetadata(`0x${'00'.repeat(12)}${a.slice(2)}`)).toBe(a);
    expect(walletFromMetadata('0x')).toBeUndefined();
    expect(walletFromMetadata(`0x${'00'.repeat(20)}`)).toBeUndefined();
    expect(walletFromMetadata('0x1234')).toBeUndefined();
  });
});

describe('a follow', () => {
  it('is four trigger definitions about the agent that compile', () => {
    const set = followTriggers({ chainId: 1, agentId: '0' }, { reputationDropBelow: 2.5 });
    expect(set.map((t) => [t.kind, t.write.registry])).toEqual([
      ['feedback', 'reputation'],
      ['revocation', 'reputation'],
      ['validation_response', 'validation'],
      ['reputation_drop', 'reputation'],
    ]);
    for (const { write } of set) {
      const def = compileDefinition({
        ...write,
        id: 'x',
        organizationId: 'o',
        conditions: write.conditions.map((c, i) => ({ key: String(i), ...c }) as never),
      });
      expect(def.conditions[0]!.params).toEqual({ kind: 'agent_id', op: '=', ids: ['0'] });
    }
    const drop = set[3]!.write.conditions[2]!;
    expect(drop).toMatchObject({ condition_type: 'ema_threshold', operator: '<', value: '2.5' });
  });
});

describe('lapse reasons', () => {
  const event = (
    registry: 'identity' | 'reputation',
    event_type: StoredEvent['event_type'],
    metadata_key: string | null = null,
    agent_id: string | null = '3',
  ) => ({
    registry,
    event_type,
    metadata_key,
    agent_id,
  });
  it('a transfer or an agentWallet change ends a proof of control; nothing else does', () => {
    expect(lapseReasonOf(event('identity', 'Transfer'))).toBe('transferred');
    expect(lapseReasonOf(event('identity', 'MetadataSet', 'agentWallet'))).toBe('wallet_changed');
    expect(lapseReasonOf(event('identity', 'MetadataSet', 'name'))).toBeUndefined();
    expect(lapseReasonOf(event('identity', 'URIUpdated'))).toBeUndefined();
    expect(lapseReasonOf(event('identity', 'Registered'))).toBeUndefined();
    expect(lapseReasonOf(event('reputation', 'NewFeedback'))).toBeUndefined();
    expect(lapseReasonOf(event('identity', 'Transfer', null, null))).toBeUndefined();
  });
  it('the mail names the agent, the reason and how to link again', () => {
    const mail = lapseMail({
      to: 'a@example.test',
      organizationName: 'Acme',
      chainId: 8453,
      agentId: '7',
      reason: 'wallet_changed',
      publicUrl: 'https://api.example.com/',
    });
    expect(mail.subject).toBe('Agent 7 on chain 8453 is no longer linked to Acme');
    expect(mail.text).toContain("the agent's agentWallet changed");
    expect(mail.text).toContain(
      'POST https://api.example.com/api/v1/organizations/<organizationId>/agents/8453/7/link-challenge',
    );
  });
});

describe("an agent's control, read from its registry", () => {
  const chain = {
    chainId: 1,
    rpcUrl: 'http://rpc.invalid',
    confirmations: 0,
    pollIntervalMs: 1_000,
    maxBlockRange: 1_000,
    deployments: [
      {
        registry: 'identity' as const,
        address: '0x8004a169fb4a3325136eb29fa0ceb6d2e539a432' as const,
        abiVersion: 'v1.0' as const,
        firstBlock: 0,
      },
    ],
  };
  const owner = '0x1111111111111111111111111111111111111111';
  const wallet = '0x2222222222222222222222222222222222222222';
  const revert = (functionName: string) =>
    new ContractFunctionRevertedError({ abi: [], functionName, message: 'execution reverted' });
  const clientWith = (answers: Record<string, () => unknown>) =>
    ({
      getBlockNumber: async () => 100n,
      readContract: async ({ functionName }: { functionName: string }) => answers[functionName]!(),
    }) as unknown as PublicClient;

  it('reads getAgentWallet, falls back to the agentWallet metadata, and knows an unregistered agent', async () => {
    const modern = new AgentChains([chain], () => clientWith({ ownerOf: () => owner, getAgentWallet: () => wallet }));
    expect(await modern.control(1, '5')).toEqual({
      block: 100n,
      owner: getAddress(owner),
      agentWallet: getAddress(wallet),
    });
    const metadataOnly = new AgentChains([chain], () =>
      clientWith({
        ownerOf: () => owner,
        getAgentWallet: () => {
          throw revert('getAgentWallet');
        },
        getMetadata: () => wallet,
      }),
    );
    expect((await metadataOnly.control(1, '5')).agentWallet).toBe(getAddress(wallet));
    const cleared = new AgentChains([chain], () =>
      clientWith({ ownerOf: () => owner, getAgentWallet: () => '0x0000000000000000000000000000000000000000' }),
    );
    expect((await cleared.control(1, '5')).agentWallet).toBeUndefined();
    const missing = new AgentChains([chain], () =>
      clientWith({
        ownerOf: () => {
          throw revert('ownerOf');
        },
      }),
    );
    await expect(missing.control(1, '5')).rejects.toMatchObject({ code: 'agent_not_found' });
    await expect(missing.control(2, '5')).rejects.toMatchObject({ code: 'unknown_chain' });
    const down = new AgentChains([chain], () =>
      clientWith({
        ownerOf: () => {
          throw new Error('connect ECONNREFUSED');
        },
      }),
    );
    await expect(down.control(1, '5')).rejects.toMatchObject({ code: 'chain_unavailable' });
  });
});

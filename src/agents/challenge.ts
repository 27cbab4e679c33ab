/**
 * Link challenges: what an agent's owner (or agentWallet) signs to prove that an organization controls the agent.
 *
 * A challenge is bound to the service's domain, the chain, the identity registry, the agent, the organization, a nonce
 * and an expiry. The nonce is self-verifying (like the SIWE nonces of src/auth/siwe.ts): 32 hex chars of randomness,
 * 8 of issue time and 8 of expiry (unix seconds), then 32 hex chars of HMAC-SHA256 over all of those and every binding,
 * so any API process can rebuild and check a challenge from its nonce without stored state; consumption is recorded in
 * used_nonces. The same challenge has two forms to sign: an EIP-191 personal_sign text and EIP-712 typed data.
 * Pure: no I/O.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Address, TypedDataDomain } from 'viem';
import { AgentError } from './errors.js';

export const LINK_CHALLENGE_TTL_SECONDS = 10 * 60;
const NONCE_RE = /^([0-9a-f]{32})([0-9a-f]{8})([0-9a-f]{8})([0-9a-f]{32})$/;

export interface LinkBinding {
  /** The service's domain (host of the public base URL), e.g. api.example.com. */
  domain: string;
  chainId: number;
  /** The identity registry the agent is registered in (lower-case address). */
  identityRegistry: Address;
  /** Decimal agent id (0 is an agent). */
  agentId: string;
  organizationId: string;
}

export interface LinkChallenge extends LinkBinding {
  nonce: string;
  issuedAt: Date;
  expiresAt: Date;
}

function mac(secret: Uint8Array, b: LinkBinding, random: string, issued: string, expiry: string): string {
  const bound = [b.domain, b.chainId, b.identityRegistry.toLowerCase(), b.agentId, b.organizationId].join('\n');
  return createHmac('sha256', secret)
    .update(`erc8004-agent-link:v1\n${bound}\n${random}${issued}${expiry}`)
    .digest('hex')
    .slice(0, 32);
}

const hex8 = (seconds: number) => Math.max(0, seconds).toString(16).padStart(8, '0');

/** A fresh challenge for the binding, valid for 10 minutes by default. */
export function issueLinkChallenge(
  secret: Uint8Array,
  binding: LinkBinding,
  opts: { ttlSeconds?: number; now?: number } = {},
): LinkChallenge {
  const issuedSeconds = Math.floor((opts.now ?? Date.now()) / 1000);
  const expirySeconds = issuedSeconds + (opts.ttlSeconds ?? LINK_CHALLENGE_TTL_SECONDS);
  const random = randomBytes(16).toString('hex');
  const issued = hex8(issuedSeconds);
  const expiry = hex8(expirySeconds);
  return {
    ...binding,
    nonce: `${random}${issued}${expiry}${mac(secret, binding, random, issued, expiry)}`,
    issuedAt: new Date(issuedSeconds * 1000),
    expiresAt: new Date(expirySeconds * 1000),
  };
}

/**
 * Rebuilds the challenge a nonce was issued for, if it was issued by this service for exactly this binding and has not
 * expired. Throws AgentError 'invalid_challenge' (not ours, or issued for another chain, agent, organization or
 * domain) or 'challenge_expired'.
 */
export function openLinkChallenge(
  secret: Uint8Array,
  binding: LinkBinding,
  nonce: string,
  now: number = Date.now(),
): LinkChallenge {
  const m = NONCE_RE.exec(nonce);
  const notOurs = () =>
    new AgentError(
      'invalid_challenge',
      'the challenge nonce was not issued by this service for this chain, agent and organization: request a new challenge',
    );
  if (!m) throw notOurs();
  const [, random, issued, expiry, given] = m as unknown as [string, string, string, string, string];
  if (!timingSafeEqual(Buffer.from(mac(secret, binding, random, issued, expiry), 'hex'), Buffer.from(given, 'hex')))
    throw notOurs();
  const expiresAt = new Date(parseInt(expiry, 16) * 1000);
  if (expiresAt.getTime() <= now)
    throw new AgentError(
      'challenge_expired',
      `the link challenge expired at ${expiresAt.toISOString()}: request a new one`,
    );
  return { ...binding, nonce, issuedAt: new Date(parseInt(issued, 16) * 1000), expiresAt };
}

/** The CAIP-10-like name of a registry, as the registration file's `agentRegistry` spells it. */
export const agentRegistryName = (chainId: number, identityRegistry: string) =>
  `eip155:${chainId}:${identityRegistry.toLowerCase()}`;

/** The EIP-191 (personal_sign) form: a text a wallet shows its user. */
export function linkMessage(c: LinkChallenge): string {
  return [
    `${c.domain} wants you to link an ERC-8004 agent to an organization.`,
    '',
    'Signing proves that you control the agent (its owner or its agentWallet). It costs nothing and sends no transaction.',
    '',
    `Agent: ${c.agentId}`,
    `Agent registry: ${agentRegistryName(c.chainId, c.identityRegistry)}`,
    `Organization: ${c.organizationId}`,
    `Chain ID: ${c.chainId}`,
    `Nonce: ${c.nonce}`,
    `Issued At: ${c.issuedAt.toISOString()}`,
    `Expiration Time: ${c.expiresAt.toISOString()}`,
  ].join('\n');
}

const LINE_RE = /^([A-Za-z ]+): (.+)$/;

/** The fields of a link message (for clients and tests that hold only the text); undefined when it is not one. */
export function parseLinkMessage(
  text: string,
): (Omit<LinkChallenge, 'identityRegistry'> & { agentRegistry: string }) | undefined {
  const first = /^(\S+) wants you to link an ERC-8004 agent to an organization\.$/.exec(text.split('\n')[0] ?? '');
  if (!first) return undefined;
  const fields = new Map<string, string>();
  for (const line of text.split('\n').slice(1)) {
    const m = LINE_RE.exec(line);
    if (m) fields.set(m[1]!, m[2]!);
  }
  const get = (name: string) => fields.get(name);
  const [agentId, agentRegistry, organizationId, chainId, nonce, issuedAt, expiresAt] = [
    'Agent',
    'Agent registry',
    'Organization',
    'Chain ID',
    'Nonce',
    'Issued At',
    'Expiration Time',
  ].map(get);
  if (!agentId || !agentRegistry || !organizationId || !chainId || !nonce || !issuedAt || !expiresAt) return undefined;
  const issued = new Date(issuedAt);
  const expires = new Date(expiresAt);
  if (!/^\d+$/.test(chainId) || Number.isNaN(issued.getTime()) || Number.isNaN(expires.getTime())) return undefined;
  return {
    domain: first[1]!,
    agentId,
    agentRegistry,
    organizationId,
    chainId: Number(chainId),
    nonce,
    issuedAt: issued,
    expiresAt: expires,
  };
}

export const LINK_TYPED_DATA_TYPES = {
  AgentLink: [
    { name: 'service', type: 'string' },
    { name: 'agentRegistry', type: 'address' },
    { name: 'agentId', type: 'uint256' },
    { name: 'organizationId', type: 'string' },
    { name: 'nonce', type: 'string' },
    { name: 'issuedAt', type: 'uint256' },
    { name: 'expiresAt', type: 'uint256' },
  ],
} as const;

export interface LinkTypedData {
  domain: TypedDataDomain & { name: string; version: string; chainId: number };
  types: typeof LINK_TYPED_DATA_TYPES;
  primaryType: 'AgentLink';
  message: {
    service: string;
    agentRegistry: Address;
    agentId: bigint;
    organizationId: string;
    nonce: string;
    issuedAt: bigint;
    expiresAt: bigint;
  };
}

/** The EIP-712 form: what eth_signTypedData_v4 signs (the domain's chainId is the agent's chain). */
export function linkTypedData(c: LinkChallenge): LinkTypedData {
  return {
    domain: { name: 'ERC-8004 agent link', version: '1', chainId: c.chainId },
    types: LINK_TYPED_DATA_TYPES,
    primaryType: 'AgentLink',
    message: {
      service: c.domain,
      agentRegistry: c.identityRegistry,
      agentId: BigInt(c.agentId),
      organizationId: c.organizationId,
      nonce: c.nonce,
      issuedAt: BigInt(Math.floor(c.issuedAt.getTime() / 1000)),
      expiresAt: BigInt(Math.floor(c.expiresAt.getTime() / 1000)),
    },
  };
}

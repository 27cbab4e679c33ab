import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { agentInput } from './schema.js';

export const createLinkChallengeMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/link-challenge',
    tags: ['Agents'],
    summary: "Issue a challenge for the agent's owner or agentWallet to sign (EIP-191 text or EIP-712 typed data)",
    description:
      "The challenge is bound to this service's domain, the chain and identity registry, the agent, the organization, a " +
      'nonce and an expiry (10 minutes). Sign `message` with personal_sign, or `typedData` with eth_signTypedData_v4, ' +
      'and send the signature with the nonce to the link operation.',
    protect: true,
  },
};
export const ZCreateLinkChallengeRequest = agentInput;
export const ZCreateLinkChallengeResponse = z.object({
  nonce: z.string(),
  issuedAt: z.string(),
  expiresAt: z.string(),
  identityRegistry: z.string(),
  message: z.string().describe('EIP-191 text to sign with personal_sign.'),
  typedData: z
    .object({
      domain: z.object({ name: z.string(), version: z.string(), chainId: z.number() }),
      types: z.record(z.string(), z.array(z.object({ name: z.string(), type: z.string() }))),
      primaryType: z.literal('AgentLink'),
      message: z.record(z.string(), z.string()),
    })
    .describe('EIP-712 typed data to sign with eth_signTypedData_v4 (uint256 fields as decimal strings).'),
});

import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { agentInput, linkOutput } from './schema.js';

export const linkAgentMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/link',
    tags: ['Agents'],
    summary: 'Link the agent to the organization with a signed challenge',
    description:
      "The signature is checked against the agent's current ERC-721 owner and its agentWallet (EOA signatures, and " +
      'smart-contract wallets through ERC-1271). A challenge links once. An agent linked by another organization moves ' +
      'to this one (its MCP token is deleted). 403 for a signature of anyone else, 400 for an expired or foreign ' +
      'challenge, 409 for a challenge used already.',
    protect: true,
  },
};
export const ZLinkAgentRequest = agentInput.extend({
  nonce: z.string().max(200),
  signature: z
    .string()
    .regex(/^0x[0-9a-fA-F]+$/, 'must be 0x-prefixed hex')
    .max(20_000),
  scheme: z.enum(['eip191', 'eip712']).default('eip191'),
});
export const ZLinkAgentResponse = linkOutput;

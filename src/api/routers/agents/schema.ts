/** Shared shapes of the agent procedures (src/agents). */
import { z } from 'zod';
import type { AgentLinkRecord } from '../../../agents/links.js';
import type { McpTokenSummary } from '../../../agents/mcp-tokens.js';
import type { FollowRecord } from '../../../agents/follows.js';
import { FOLLOW_KINDS } from '../../../agents/follows.js';

/** The agent a call is about (path parameters: strings on REST, coerced). */
export const agentInput = z.object({
  chainId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  agentId: z.string().regex(/^(0|[1-9]\d{0,76})$/, 'must be a whole agent id (decimal, no leading zeros)'),
});

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const linkOutput = z.object({
  chainId: z.number(),
  agentId: z.string(),
  status: z.enum(['active', 'revoked', 'lapsed']),
  walletAddress: z.string().describe('The address that signed the challenge (the owner or the agentWallet then).'),
  signerKind: z.enum(['owner', 'agentWallet']).nullable(),
  signatureScheme: z.enum(['eip191', 'eip712']).nullable(),
  verifiedBlock: z.string().nullable().describe('The block ownership was read at; later changes lapse the link.'),
  linkedAt: z.string(),
  revokedAt: z.string().nullable(),
  lapsedAt: z.string().nullable(),
  lapseReason: z.string().nullable(),
});

export const toLinkOutput = (l: AgentLinkRecord): z.infer<typeof linkOutput> => ({
  ...l,
  linkedAt: l.linkedAt.toISOString(),
  revokedAt: iso(l.revokedAt),
  lapsedAt: iso(l.lapsedAt),
});

export const mcpTokenOutput = z.object({
  chainId: z.number(),
  agentId: z.string(),
  fingerprint: z.string().nullable().describe('First 16 hex characters of the sha256 of the token.'),
  last4: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const toMcpTokenOutput = (t: McpTokenSummary): z.infer<typeof mcpTokenOutput> => ({
  ...t,
  createdAt: t.createdAt.toISOString(),
  updatedAt: t.updatedAt.toISOString(),
});

export const mcpTokenInput = z.object({ token: z.string().min(8).max(4_096) });

export const followOutput = z.object({
  id: z.uuid(),
  chainId: z.number(),
  agentId: z.string(),
  createdAt: z.string(),
  triggers: z.array(z.object({ kind: z.enum(FOLLOW_KINDS), triggerId: z.uuid() })),
});

export const toFollowOutput = (f: FollowRecord): z.infer<typeof followOutput> => ({
  ...f,
  createdAt: f.createdAt.toISOString(),
});

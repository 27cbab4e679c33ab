/**
 * Agent MCP tokens: the credential the service presents to an agent's own MCP server (src/deliveries/senders.ts sends
 * it only to the MCP endpoint the agent's registration file publishes). Only the organization holding an active link
 * to the agent registers, rotates or deletes it; the token is sealed at rest bound to its chain, agent and column, and
 * never read back: reads show a fingerprint, its last four characters and timestamps.
 */
import { createHash } from 'node:crypto';
import type * as s from 'zapatos/schema';
import type { Db } from '../db/pool.js';
import { withTransaction } from '../db/transaction.js';
import type { Row } from '../db/rows.js';
import { agentSecret, type SecretBox } from '../secrets.js';
import { AgentError } from './errors.js';
import type { AgentLinks, AgentRef } from './links.js';

export interface McpTokenSummary {
  chainId: number;
  agentId: string;
  /** First 16 hex chars of the token's sha256: tells two tokens apart without revealing either. */
  fingerprint: string | null;
  last4: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const tokenFingerprint = (token: string) => createHash('sha256').update(token).digest('hex').slice(0, 16);

type TokenRow = Row<
  s.agent_mcp_tokens.Selectable,
  'fingerprint' | 'last4' | 'created_at' | 'updated_at' | 'chain_id' | 'agent_id',
  { chain_id: number; agent_id: string }
>;
const COLUMNS = 'chain_id::float8 AS chain_id, agent_id::text AS agent_id, fingerprint, last4, created_at, updated_at';
const toSummary = (r: TokenRow): McpTokenSummary => ({
  chainId: r.chain_id,
  agentId: r.agent_id,
  fingerprint: r.fingerprint,
  last4: r.last4,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class AgentMcpTokens {
  constructor(private readonly deps: { pool: Db; secrets: SecretBox; links: AgentLinks }) {}

  /**
   * Registers the agent's token, or replaces it ('rotate' requires one to exist, 'register' that none does). The
   * caller's link is re-checked on chain first.
   */
  async put(ref: AgentRef, token: string, mode: 'register' | 'rotate'): Promise<McpTokenSummary> {
    await this.deps.links.requireActiveLink(ref);
    const sealed = this.deps.secrets.encrypt(token, agentSecret(ref.chainId, ref.agentId, 'agent_mcp_tokens.token'));
    const values = [ref.chainId, ref.agentId, sealed, tokenFingerprint(token), token.slice(-4)];
    const rows = await withTransaction(this.deps.pool, async (client) => {
      // The link row stays shared-locked until the token is written: a lapse, unlink or move (which delete the token)
      // either committed before (no active link: refused) or waits for this write and deletes it.
      const held = await client.query(
        `SELECT 1 FROM agent_links WHERE chain_id = $1 AND agent_id = $2 AND account_id = $3 AND status = 'active'
         FOR SHARE`,
        [ref.chainId, ref.agentId, ref.organizationId],
      );
      if (held.rowCount !== 1) throw notLinked(ref);
      const { rows } =
        mode === 'register'
          ? await client.query<TokenRow>(
              `INSERT INTO agent_mcp_tokens (chain_id, agent_id, token, fingerprint, last4) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (chain_id, agent_id) DO NOTHING RETURNING ${COLUMNS}`,
              values,
            )
          : await client.query<TokenRow>(
              `UPDATE agent_mcp_tokens SET token = $3, fingerprint = $4, last4 = $5 WHERE chain_id = $1 AND agent_id = $2
               RETURNING ${COLUMNS}`,
              values,
            );
      return rows;
    });
    if (!rows[0]) {
      throw mode === 'register'
        ? new AgentError('token_exists', `agent ${ref.agentId} on chain ${ref.chainId} has an MCP token: rotate it`)
        : new AgentError('token_not_found', `agent ${ref.agentId} on chain ${ref.chainId} has no MCP token to rotate`);
    }
    return toSummary(rows[0]);
  }

  async delete(ref: AgentRef): Promise<void> {
    await this.deps.links.requireActiveLink(ref);
    const { rowCount } = await this.deps.pool.query(
      'DELETE FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2',
      [ref.chainId, ref.agentId],
    );
    if (rowCount !== 1)
      throw new AgentError('token_not_found', `agent ${ref.agentId} on chain ${ref.chainId} has no MCP token`);
  }

  /** The token's summary, for an organization with an active link (no on-chain check: it reveals nothing secret). */
  async get(ref: AgentRef): Promise<McpTokenSummary | null> {
    const link = await this.deps.links.get(ref);
    if (link?.status !== 'active') throw notLinked(ref);
    const { rows } = await this.deps.pool.query<TokenRow>(
      `SELECT ${COLUMNS} FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2`,
      [ref.chainId, ref.agentId],
    );
    return rows[0] ? toSummary(rows[0]) : null;
  }
}

const notLinked = (ref: AgentRef) =>
  new AgentError('not_linked', `organization ${ref.organizationId} has no active link to agent ${ref.agentId}`);

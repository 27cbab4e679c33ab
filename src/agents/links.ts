/**
 * Agent links: an organization proves it controls an agent by a signature of the agent's owner or agentWallet over a
 * challenge (src/agents/challenge.ts), and keeps the link until it unlinks or the link lapses (src/agents/lapses.ts).
 * One organization holds an agent's link per chain (agent_links is unique by chain and agent): a fresh proof by
 * whoever controls the agent now moves the link to the organization that presents it, and the MCP token registered
 * under the previous link is deleted with it.
 */
import { createHash } from 'node:crypto';
import { isAddressEqual, isHex, type Address, type Hex } from 'viem';
import type * as s from 'zapatos/schema';
import type { Db } from '../db/pool.js';
import type { Row } from '../db/rows.js';
import { withTransaction } from '../db/transaction.js';
import type { Logger } from '../logger.js';
import {
  issueLinkChallenge,
  linkMessage,
  linkTypedData,
  openLinkChallenge,
  type LinkBinding,
  type LinkChallenge,
} from './challenge.js';
import type { AgentChains, SignatureScheme, SignerKind } from './chain.js';
import { AgentError } from './errors.js';
import { lapseLink } from './lapses.js';

export interface AgentRef {
  organizationId: string;
  chainId: number;
  /** Decimal agent id. */
  agentId: string;
}

export interface AgentLinkRecord {
  chainId: number;
  agentId: string;
  status: 'active' | 'revoked' | 'lapsed';
  /** The address that signed: the owner or the agentWallet at the time. */
  walletAddress: string;
  signerKind: SignerKind | null;
  signatureScheme: SignatureScheme | null;
  verifiedBlock: string | null;
  linkedAt: Date;
  revokedAt: Date | null;
  lapsedAt: Date | null;
  lapseReason: string | null;
}

type LinkRow = Row<
  s.agent_links.Selectable,
  | 'status'
  | 'wallet_address'
  | 'signer_kind'
  | 'signature_scheme'
  | 'linked_at'
  | 'revoked_at'
  | 'lapsed_at'
  | 'lapse_reason'
  | 'chain_id'
  | 'agent_id'
  | 'verified_block',
  { chain_id: number; agent_id: string; verified_block: string | null }
>;

const LINK_COLUMNS = `chain_id::float8 AS chain_id, agent_id::text AS agent_id, status, wallet_address, signer_kind,
  signature_scheme, verified_block::text AS verified_block, linked_at, revoked_at, lapsed_at, lapse_reason`;

function toRecord(r: LinkRow): AgentLinkRecord {
  return {
    chainId: r.chain_id,
    agentId: r.agent_id,
    status: r.status as AgentLinkRecord['status'],
    walletAddress: r.wallet_address,
    signerKind: r.signer_kind as SignerKind | null,
    signatureScheme: r.signature_scheme as SignatureScheme | null,
    verifiedBlock: r.verified_block,
    linkedAt: r.linked_at,
    revokedAt: r.revoked_at,
    lapsedAt: r.lapsed_at,
    lapseReason: r.lapse_reason,
  };
}

export interface AgentLinksDeps {
  pool: Db;
  chains: AgentChains;
  /** Makes challenge nonces self-verifying (at least 32 bytes). */
  secret: Uint8Array;
  /** The service's domain named in every challenge (host of the public base URL). */
  domain: string;
  logger: Logger;
  now?: () => number;
}

export interface IssuedChallenge {
  challenge: LinkChallenge;
  /** The EIP-191 text to sign with personal_sign. */
  message: string;
  /** The EIP-712 form (eth_signTypedData_v4). */
  typedData: ReturnType<typeof linkTypedData>;
}

export class AgentLinks {
  private readonly log: Logger;
  constructor(private readonly deps: AgentLinksDeps) {
    this.log = deps.logger.child({ component: 'agent-links' });
  }

  private now() {
    return (this.deps.now ?? Date.now)();
  }

  private binding(ref: AgentRef): LinkBinding {
    const { identityRegistry } = this.deps.chains.registryOf(ref.chainId);
    return { domain: this.deps.domain, identityRegistry, ...ref };
  }

  createChallenge(ref: AgentRef): IssuedChallenge {
    const challenge = issueLinkChallenge(this.deps.secret, this.binding(ref), { now: this.now() });
    return { challenge, message: linkMessage(challenge), typedData: linkTypedData(challenge) };
  }

  /**
   * Verifies a signed challenge against the agent's current owner and agentWallet and stores the link. Nothing changes
   * unless every check passes; the challenge is then consumed (a replay fails with 'challenge_used').
   */
  async link(
    input: AgentRef & { userId: string | null; nonce: string; signature: string; scheme: SignatureScheme },
  ): Promise<AgentLinkRecord> {
    const challenge = openLinkChallenge(this.deps.secret, this.binding(input), input.nonce, this.now());
    // Any length: a contract wallet's signature is what its isValidSignature reads (65 bytes for an EOA).
    if (!isHex(input.signature, { strict: true }) || input.signature.length < 4)
      throw new AgentError('invalid_signature', 'the signature must be 0x-prefixed hex (65 bytes for an EOA)');
    const signature = input.signature as Hex;
    const control = await this.deps.chains.control(input.chainId, input.agentId);
    const candidates: [SignerKind, Address][] = [['owner', control.owner]];
    if (control.agentWallet && !isAddressEqual(control.agentWallet, control.owner))
      candidates.push(['agentWallet', control.agentWallet]);
    let signer: [SignerKind, Address] | undefined;
    for (const candidate of candidates) {
      if (await this.deps.chains.signedBy(challenge, input.scheme, signature, candidate[1], control.block)) {
        signer = candidate;
        break;
      }
    }
    if (!signer) {
      throw new AgentError(
        'invalid_signature',
        `the ${input.scheme === 'eip191' ? 'EIP-191' : 'EIP-712'} signature is neither the agent's owner's (${control.owner})` +
          (control.agentWallet ? ` nor its agentWallet's (${control.agentWallet})` : '') +
          ' over this challenge',
      );
    }
    const [signerKind, signerAddress] = signer;
    const signed =
      input.scheme === 'eip191' ? linkMessage(challenge) : JSON.stringify(linkTypedData(challenge), jsonBigInt);
    const outcome = await withTransaction(this.deps.pool, async (client) => {
      const consumed = await client.query(
        `INSERT INTO used_nonces (nonce_hash, agent_id, wallet_address, expires_at, purpose, chain_id)
         VALUES ($1, $2, $3, $4, 'agent_link', $5) ON CONFLICT (nonce_hash) DO NOTHING`,
        [
          createHash('sha256').update(`agent-link:${challenge.nonce}`).digest('hex'),
          input.agentId,
          signerAddress.toLowerCase(),
          challenge.expiresAt,
          input.chainId,
        ],
      );
      if (consumed.rowCount !== 1)
        return new AgentError('challenge_used', 'this link challenge was already used: request a new one');
      const previous = await client.query<Pick<s.agent_links.Selectable, 'account_id'>>(
        'SELECT account_id FROM agent_links WHERE chain_id = $1 AND agent_id = $2 FOR UPDATE',
        [input.chainId, input.agentId],
      );
      const { rows } = await client.query<LinkRow>(
        `INSERT INTO agent_links (chain_id, agent_id, account_id, wallet_address, linked_by_signature, signature_message,
           status, signer_kind, signature_scheme, verified_block, linked_by)
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $10)
         ON CONFLICT (agent_id, chain_id) DO UPDATE SET account_id = EXCLUDED.account_id,
           wallet_address = EXCLUDED.wallet_address, linked_by_signature = EXCLUDED.linked_by_signature,
           signature_message = EXCLUDED.signature_message, status = 'active', signer_kind = EXCLUDED.signer_kind,
           signature_scheme = EXCLUDED.signature_scheme, verified_block = EXCLUDED.verified_block,
           linked_by = EXCLUDED.linked_by, linked_at = now(), revoked_at = NULL, lapsed_at = NULL, lapse_reason = NULL,
           lapse_event_id = NULL, lapse_notified_at = NULL
         RETURNING ${LINK_COLUMNS}`,
        [
          input.chainId,
          input.agentId,
          input.organizationId,
          signerAddress.toLowerCase(),
          signature,
          signed,
          signerKind,
          input.scheme,
          control.block.toString(),
          input.userId,
        ],
      );
      const movedFrom = previous.rows[0]?.account_id;
      if (movedFrom && movedFrom !== input.organizationId) {
        // The token was registered under the other organization's link: it does not follow the agent to this one.
        await client.query('DELETE FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2', [
          input.chainId,
          input.agentId,
        ]);
      }
      return { link: toRecord(rows[0]!), movedFrom: movedFrom !== input.organizationId ? movedFrom : undefined };
    });
    if (outcome instanceof AgentError) throw outcome;
    this.log.info(
      { ...input, signature: undefined, nonce: undefined, signerKind, movedFrom: outcome.movedFrom },
      'agent linked',
    );
    return outcome.link;
  }

  /** Ends the organization's link (active or lapsed) and deletes the agent's MCP token registered under it. */
  async unlink(ref: AgentRef): Promise<void> {
    const removed = await withTransaction(this.deps.pool, async (client) => {
      const { rowCount } = await client.query(
        `UPDATE agent_links SET status = 'revoked', revoked_at = now(), lapsed_at = NULL, lapse_reason = NULL
         WHERE chain_id = $1 AND agent_id = $2 AND account_id = $3 AND status <> 'revoked'`,
        [ref.chainId, ref.agentId, ref.organizationId],
      );
      if (rowCount === 1)
        await client.query('DELETE FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2', [
          ref.chainId,
          ref.agentId,
        ]);
      return rowCount === 1;
    });
    if (!removed) throw linkNotFound(ref);
  }

  async list(organizationId: string, opts: { includeInactive?: boolean } = {}): Promise<AgentLinkRecord[]> {
    const { rows } = await this.deps.pool.query<LinkRow>(
      `SELECT ${LINK_COLUMNS} FROM agent_links WHERE account_id = $1 AND ($2 OR status = 'active')
       ORDER BY linked_at DESC, chain_id, agent_id`,
      [organizationId, opts.includeInactive ?? false],
    );
    return rows.map(toRecord);
  }

  async get(ref: AgentRef): Promise<AgentLinkRecord | undefined> {
    const { rows } = await this.deps.pool.query<LinkRow>(
      `SELECT ${LINK_COLUMNS} FROM agent_links WHERE chain_id = $1 AND agent_id = $2 AND account_id = $3`,
      [ref.chainId, ref.agentId, ref.organizationId],
    );
    return rows[0] && toRecord(rows[0]);
  }

  /**
   * The organization's active link to the agent, re-checked on chain: when the signer no longer controls the agent
   * (the indexer has not caught up yet, or is not running) the link lapses now. AgentError 'not_linked' otherwise.
   */
  async requireActiveLink(ref: AgentRef): Promise<AgentLinkRecord> {
    const link = await this.get(ref);
    if (!link || link.status !== 'active')
      throw new AgentError(
        'not_linked',
        `organization ${ref.organizationId} has no active link to agent ${ref.agentId} on chain ${ref.chainId}: link it first`,
      );
    const control = await this.deps.chains.control(ref.chainId, ref.agentId);
    const current = link.signerKind === 'agentWallet' ? control.agentWallet : control.owner;
    if (!current || !isAddressEqual(current, link.walletAddress as Address)) {
      await lapseLink(this.deps.pool, {
        chainId: ref.chainId,
        agentId: ref.agentId,
        reason: link.signerKind === 'agentWallet' ? 'wallet_changed' : 'owner_changed',
      });
      throw new AgentError(
        'not_linked',
        `the link to agent ${ref.agentId} on chain ${ref.chainId} has lapsed: ${link.walletAddress} no longer controls it`,
      );
    }
    return link;
  }
}

const linkNotFound = (ref: AgentRef) =>
  new AgentError(
    'link_not_found',
    `organization ${ref.organizationId} has no link to agent ${ref.agentId} on chain ${ref.chainId}`,
  );

/** JSON.stringify replacer for the typed data's uint256 fields. */
export const jsonBigInt = (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);

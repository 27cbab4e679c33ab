/**
 * Lapsing links: a link stands for "the organization proved control of the agent at block B". When the indexer sees,
 * above B, the agent transferred (identity `Transfer`) or its wallet changed (`MetadataSet` of `agentWallet`, which a
 * transfer also emits, clearing it), the proof no longer holds: the link lapses, the agent's MCP token (registered under
 * that link) is deleted, and the organization's owner and admins are mailed.
 *
 * The hook is a relay consumer on its own cursor ('agent-links'), composed next to the trigger relay rather than inside
 * it: it reads the same ordered event log, moves only after its batch is done (a lapse is never missed, at least once),
 * and leaves the trigger dispatcher and the indexer untouched. Lapsing is idempotent (only active links change), and
 * the mail is a second step over links lapsed but not yet told, so a failed mail is retried with the next batch
 * without lapsing anything twice. A retracted (reorged) event does not restore a link: a fresh proof does.
 */
import type * as s from 'zapatos/schema';
import type { Db } from '../db/pool.js';
import { withTransaction, type Queryable } from '../db/transaction.js';
import type { Logger } from '../logger.js';
import type { Mailer } from '../mail/mailer.js';
import type { Row } from '../db/rows.js';
import type { Dispatcher, RelayItem, StoredEvent } from '../relay/relay.js';

export type LapseReason = 'transferred' | 'wallet_changed' | 'owner_changed';

export interface LapsedLink {
  id: string;
  organizationId: string;
  chainId: number;
  agentId: string;
  reason: LapseReason;
}

/**
 * Lapses the active link of an agent whose control changed above the block its proof was read at (any block when
 * `aboveBlock` is undefined: a use-time check saw the change itself), and deletes the agent's MCP token with it.
 */
export async function lapseLink(
  db: Queryable,
  change: { chainId: number; agentId: string; reason: LapseReason; eventId?: string; aboveBlock?: number },
): Promise<LapsedLink | undefined> {
  const { rows } = await db.query<
    Row<s.agent_links.Selectable, 'id' | 'account_id' | 'agent_id'> & { chain_id: number }
  >(
    // One statement: the token goes with the lapse or not at all (a replay finds the link no longer active).
    `WITH lapsed AS (
       UPDATE agent_links SET status = 'lapsed', lapsed_at = now(), lapse_reason = $3, lapse_event_id = $4
       WHERE chain_id = $1 AND agent_id = $2 AND status = 'active' AND ($5::numeric IS NULL OR coalesce(verified_block, 0) < $5)
       RETURNING id, account_id, chain_id, agent_id),
     token AS (DELETE FROM agent_mcp_tokens t USING lapsed WHERE t.chain_id = lapsed.chain_id AND t.agent_id = lapsed.agent_id)
     SELECT id, account_id, chain_id::float8 AS chain_id, agent_id::text AS agent_id FROM lapsed`,
    [change.chainId, change.agentId, change.reason, change.eventId ?? null, change.aboveBlock ?? null],
  );
  const row = rows[0];
  if (!row) return undefined;
  return {
    id: row.id,
    organizationId: row.account_id,
    chainId: row.chain_id,
    agentId: row.agent_id,
    reason: change.reason,
  };
}

/** Which events end a proof of control, and why; undefined for every other event. */
export function lapseReasonOf(
  e: Pick<StoredEvent, 'registry' | 'event_type' | 'agent_id' | 'metadata_key'>,
): LapseReason | undefined {
  if (e.registry !== 'identity' || e.agent_id === null) return undefined;
  if (e.event_type === 'Transfer') return 'transferred';
  if (e.event_type === 'MetadataSet' && e.metadata_key === 'agentWallet') return 'wallet_changed';
  return undefined;
}

const REASON_TEXT: Record<LapseReason, string> = {
  transferred: 'the agent was transferred to another owner',
  wallet_changed: "the agent's agentWallet changed",
  owner_changed: "the agent's owner or agentWallet is no longer the address that signed the link",
};

export function lapseMail(input: {
  to: string;
  organizationName: string;
  chainId: number;
  agentId: string;
  reason: LapseReason;
  publicUrl: string;
}) {
  const api = input.publicUrl.replace(/\/+$/, '');
  return {
    to: input.to,
    subject: `Agent ${input.agentId} on chain ${input.chainId} is no longer linked to ${input.organizationName}`,
    text: [
      `The link between agent ${input.agentId} (chain ${input.chainId}) and your organization ${input.organizationName} has lapsed:`,
      `${REASON_TEXT[input.reason]}.`,
      '',
      'Its MCP token was deleted. If you still control the agent, link it again with a fresh signature:',
      `POST ${api}/api/v1/organizations/<organizationId>/agents/${input.chainId}/${input.agentId}/link-challenge`,
    ].join('\n'),
  };
}

export interface LinkLapseDispatcherOptions {
  pool: Db;
  mailer: Mailer;
  publicUrl: string;
  logger: Logger;
}

const transferKey = (e: { chain_id: number; agent_id: string | null; transaction_hash: string }) =>
  `${e.chain_id}:${e.agent_id}:${e.transaction_hash}`;

/** The relay consumer (cursor 'agent-links') that lapses links and tells their organizations. */
export class LinkLapseDispatcher implements Dispatcher {
  private readonly log: Logger;
  constructor(private readonly options: LinkLapseDispatcherOptions) {
    this.log = options.logger.child({ component: 'agent-link-lapses' });
  }

  async dispatch(batch: readonly RelayItem[]): Promise<void> {
    const changes = batch.flatMap((i) => (i.kind === 'event' && lapseReasonOf(i.event) ? [i.event] : []));
    if (changes.length > 0) await this.lapse(changes);
    await notifyLapses(this.options);
  }

  private async lapse(changes: StoredEvent[]): Promise<void> {
    // One read for the batch: most identity events are about agents nobody linked (a first run reads all history).
    const { rows } = await this.options.pool.query<{ key: string }>(
      `SELECT chain_id::text || ':' || agent_id::text AS key FROM agent_links
       WHERE status = 'active' AND (chain_id, agent_id) IN (SELECT * FROM unnest($1::bigint[], $2::numeric[]))`,
      [changes.map((e) => e.chain_id), changes.map((e) => e.agent_id)],
    );
    const linked = new Set(rows.map((r) => r.key));
    // A transfer clears agentWallet first, in the same transaction: name such a lapse after the transfer.
    const transfers = new Set(changes.filter((e) => e.event_type === 'Transfer').map(transferKey));
    for (const e of changes) {
      if (!linked.has(`${e.chain_id}:${e.agent_id}`)) continue;
      const lapsed = await lapseLink(this.options.pool, {
        chainId: e.chain_id,
        agentId: e.agent_id!,
        reason: transfers.has(transferKey(e)) ? 'transferred' : lapseReasonOf(e)!,
        eventId: e.id,
        aboveBlock: e.block_number,
      });
      if (lapsed) this.log.info({ ...lapsed, eventId: e.id }, 'agent link lapsed');
    }
  }
}

/**
 * Mails the owner and admins of each organization whose link lapsed and was not told yet (up to 100 links); marks it
 * told. Each link is claimed (FOR UPDATE SKIP LOCKED) until it is marked, so a batch dispatched twice at once (a
 * replay, two relays on one cursor) mails once; a crash before the mark mails again (at least once).
 */
export async function notifyLapses(options: Pick<LinkLapseDispatcherOptions, 'pool' | 'mailer' | 'publicUrl'>) {
  for (let told = 0; told < 100; told++) {
    const more = await withTransaction(options.pool, async (client) => {
      const { rows } = await client.query<{
        id: string;
        chain_id: number;
        agent_id: string;
        lapse_reason: LapseReason;
        organization_name: string;
        emails: string[];
      }>(
        `SELECT l.id, l.chain_id::float8 AS chain_id, l.agent_id::text AS agent_id, l.lapse_reason, o.name AS organization_name,
                array(SELECT DISTINCT u.email FROM organization_members m JOIN users u ON u.id = m.user_id
                      WHERE m.organization_id = o.id AND m.role = 'admin' AND u.is_active
                      UNION SELECT u.email FROM users u WHERE u.id = o.owner_id AND u.is_active) AS emails
         FROM agent_links l JOIN organizations o ON o.id = l.account_id
         WHERE l.status = 'lapsed' AND l.lapse_notified_at IS NULL
         ORDER BY l.lapsed_at LIMIT 1 FOR UPDATE OF l SKIP LOCKED`,
      );
      const row = rows[0];
      if (!row) return false;
      for (const to of row.emails.filter((e) => !e.endsWith('@wallet.invalid'))) {
        await options.mailer.send(
          lapseMail({
            to,
            organizationName: row.organization_name,
            chainId: row.chain_id,
            agentId: row.agent_id,
            reason: row.lapse_reason,
            publicUrl: options.publicUrl,
          }),
        );
      }
      await client.query('UPDATE agent_links SET lapse_notified_at = now() WHERE id = $1', [row.id]);
      return true;
    });
    if (!more) return;
  }
}

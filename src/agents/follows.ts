/**
 * Following an agent: one call creates a managed set of real trigger workflows (src/triggers/service.ts) about the
 * agent — new feedback, revocations, validation responses and a reputation drop (an EMA of feedback values falling
 * below a threshold) — each with the caller's actions. The set is recorded in agent_follows / agent_follow_triggers so
 * that it is listed and removed together; following again returns the existing set.
 */
import type * as s from 'zapatos/schema';
import type { Db } from '../db/pool.js';
import type { Row } from '../db/rows.js';
import { TriggerNotFoundError, type TriggerService } from '../triggers/service.js';
import type { TriggerWrite } from '../triggers/store.js';
import type { Logger } from '../logger.js';
import { AgentError } from './errors.js';
import type { AgentRef } from './links.js';

export const FOLLOW_KINDS = ['feedback', 'revocation', 'validation_response', 'reputation_drop'] as const;
export type FollowKind = (typeof FOLLOW_KINDS)[number];

export interface FollowOptions {
  actions: NonNullable<TriggerWrite['actions']>;
  /** The reputation drop: fire when the EMA of feedback values falls below this (default 50). */
  reputationDropBelow?: number;
  /** Feedback the EMA averages over (α = 2/(n+1); default 10). */
  reputationWindow?: number;
}

/** The trigger definitions of a follow: pure, so the set is one reviewed list. */
export function followTriggers(
  ref: Omit<AgentRef, 'organizationId'>,
  opts: Pick<FollowOptions, 'reputationDropBelow' | 'reputationWindow'>,
): { kind: FollowKind; write: Omit<TriggerWrite, 'organizationId' | 'userId' | 'actions'> }[] {
  const agent = { condition_type: 'agent_id_equals', operator: '=', value: ref.agentId };
  const eventType = (value: string) => ({ condition_type: 'event_type_equals', operator: '=', value });
  const name = (what: string) => `Follow agent ${ref.agentId} (chain ${ref.chainId}): ${what}`;
  const base = { chainId: ref.chainId, description: 'Managed by "follow agent"; unfollow removes it.' };
  return [
    {
      kind: 'feedback',
      write: {
        ...base,
        name: name('new feedback'),
        registry: 'reputation',
        conditions: [agent, eventType('NewFeedback')],
      },
    },
    {
      kind: 'revocation',
      write: {
        ...base,
        name: name('revocations'),
        registry: 'reputation',
        conditions: [agent, eventType('FeedbackRevoked')],
      },
    },
    {
      kind: 'validation_response',
      write: {
        ...base,
        name: name('validation responses'),
        registry: 'validation',
        conditions: [agent, eventType('ValidationResponse')],
      },
    },
    {
      kind: 'reputation_drop',
      write: {
        ...base,
        name: name('reputation drop'),
        registry: 'reputation',
        // Fires once when the average crosses below the threshold, again only after it recovered.
        settings: { hysteresis: true },
        conditions: [
          agent,
          eventType('NewFeedback'),
          {
            condition_type: 'ema_threshold',
            operator: '<',
            value: String(opts.reputationDropBelow ?? 50),
            config: { window_size: opts.reputationWindow ?? 10 },
          },
        ],
      },
    },
  ];
}

export interface FollowRecord {
  id: string;
  chainId: number;
  agentId: string;
  createdAt: Date;
  triggers: { kind: FollowKind; triggerId: string }[];
}

type FollowRow = Row<
  s.agent_follows.Selectable,
  'id' | 'chain_id' | 'agent_id' | 'created_at',
  { chain_id: number; agent_id: string }
> & { triggers: { kind: FollowKind; triggerId: string }[] };

const SELECT = `SELECT f.id, f.chain_id::float8 AS chain_id, f.agent_id::text AS agent_id, f.created_at,
    coalesce((SELECT json_agg(json_build_object('kind', t.kind, 'triggerId', t.trigger_id) ORDER BY t.kind)
              FROM agent_follow_triggers t WHERE t.follow_id = f.id), '[]') AS triggers
  FROM agent_follows f`;

const toRecord = (r: FollowRow): FollowRecord => ({
  id: r.id,
  chainId: r.chain_id,
  agentId: r.agent_id,
  createdAt: r.created_at,
  triggers: r.triggers,
});

export class AgentFollows {
  private readonly log: Logger;
  constructor(private readonly deps: { pool: Db; triggers: TriggerService; logger: Logger }) {
    this.log = deps.logger.child({ component: 'agent-follows' });
  }

  async get(ref: AgentRef): Promise<FollowRecord | undefined> {
    const { rows } = await this.deps.pool.query<FollowRow>(
      `${SELECT} WHERE f.organization_id = $1 AND f.chain_id = $2 AND f.agent_id = $3`,
      [ref.organizationId, ref.chainId, ref.agentId],
    );
    return rows[0] && toRecord(rows[0]);
  }

  async list(organizationId: string): Promise<FollowRecord[]> {
    const { rows } = await this.deps.pool.query<FollowRow>(
      `${SELECT} WHERE f.organization_id = $1 ORDER BY f.created_at DESC, f.id`,
      [organizationId],
    );
    return rows.map(toRecord);
  }

  /** Creates the set (or returns the existing one: following twice changes nothing). */
  async follow(
    ref: AgentRef & { userId: string },
    opts: FollowOptions,
  ): Promise<{ follow: FollowRecord; created: boolean }> {
    const claimed = await this.deps.pool.query<{ id: string }>(
      `INSERT INTO agent_follows (organization_id, chain_id, agent_id, created_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (organization_id, chain_id, agent_id) DO NOTHING RETURNING id`,
      [ref.organizationId, ref.chainId, ref.agentId, ref.userId],
    );
    const followId = claimed.rows[0]?.id;
    if (!followId) return { follow: (await this.get(ref))!, created: false };
    const created: string[] = [];
    try {
      for (const { kind, write } of followTriggers(ref, opts)) {
        const triggerId = await this.deps.triggers.create({
          ...write,
          organizationId: ref.organizationId,
          userId: ref.userId,
          actions: opts.actions,
        });
        created.push(triggerId);
        await this.deps.pool.query(
          'INSERT INTO agent_follow_triggers (follow_id, trigger_id, kind) VALUES ($1, $2, $3)',
          [followId, triggerId, kind],
        );
      }
    } catch (err) {
      // All or nothing: a refused definition or a quota leaves no half-made set behind.
      for (const id of created) await this.deps.triggers.delete(id, ref.organizationId).catch(() => undefined);
      await this.deps.pool.query('DELETE FROM agent_follows WHERE id = $1', [followId]);
      throw err;
    }
    this.log.info({ ...ref, followId, triggers: created.length }, 'agent followed');
    return { follow: (await this.get(ref))!, created: true };
  }

  /** Deletes the set's triggers (their workflows complete), then the follow. */
  async unfollow(ref: AgentRef): Promise<void> {
    const follow = await this.get(ref);
    if (!follow)
      throw new AgentError(
        'follow_not_found',
        `organization ${ref.organizationId} does not follow agent ${ref.agentId} on chain ${ref.chainId}`,
      );
    for (const t of follow.triggers) {
      await this.deps.triggers.delete(t.triggerId, ref.organizationId).catch((err: unknown) => {
        // Deleted by hand already: the set is still removed.
        if (!(err instanceof TriggerNotFoundError)) throw err;
      });
    }
    await this.deps.pool.query('DELETE FROM agent_follows WHERE id = $1 AND organization_id = $2', [
      follow.id,
      ref.organizationId,
    ]);
    this.log.info({ ...ref, followId: follow.id }, 'agent unfollowed');
  }
}

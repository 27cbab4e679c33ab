/**
 * Figures over every agent of a chain, read from the same as-of feedback set as one agent's (feedbackAsOfSql with all
 * agents): per-agent aggregates for compareToBaseline and "which of these clients rated another agent" for the client
 * analysis. Only non-revoked feedback counts. Sums of WADs are exact in SQL numeric and divided in BigInt, never in SQL.
 */
import type { Queryable } from '../db/transaction.js';
import type { AsOf } from './as-of.js';
import { feedbackAsOfSql, feedbackFilterConditions, type FeedbackFilter } from './feedback-set.js';

const FEEDBACK_OF_CHAIN_AS_OF = feedbackAsOfSql({ allAgents: true });

/** One agent's counted feedback: how much, its WAD sum, its distinct clients and Σ(per-client count)² for HHI. */
export interface AgentAggregate {
  agentId: string;
  count: number;
  wadSum: bigint;
  clients: number;
  sumOfSquaredClientCounts: bigint;
}

/** Every agent of the chain with counted feedback in `filter`'s scope, as of the block; in agent id order. */
export async function agentAggregates(
  db: Queryable,
  asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>,
  filter: Pick<FeedbackFilter, 'tag1' | 'tag2' | 'from' | 'to' | 'abiVersions'> = {},
): Promise<AgentAggregate[]> {
  const params: unknown[] = [asOf.chainId, asOf.asOfBlock];
  const where = feedbackFilterConditions(filter, (value) => `$${params.push(value)}`);
  const { rows } = await db.query<{ agent_id: string; n: string; wad_sum: string; clients: number; sum_sq: string }>(
    `WITH scoped AS (
       ${FEEDBACK_OF_CHAIN_AS_OF}
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ), per_client AS (
       SELECT agent_id, client, count(*) AS n,
              sum(value::numeric * ('1' || repeat('0', 18 - value_decimals))::numeric) AS wad_sum
       FROM scoped WHERE revoked_at_block IS NULL
       GROUP BY agent_id, client
     )
     SELECT agent_id, sum(n)::text AS n, sum(wad_sum)::text AS wad_sum, count(*)::int AS clients,
            sum(n * n)::text AS sum_sq
     FROM per_client GROUP BY agent_id ORDER BY agent_id::numeric`,
    params,
  );
  return rows.map((r) => ({
    agentId: r.agent_id,
    count: Number(r.n),
    wadSum: BigInt(r.wad_sum),
    clients: r.clients,
    sumOfSquaredClientCounts: BigInt(r.sum_sq),
  }));
}

/** Which of `clients` gave counted feedback, as of the block, to an agent other than `agentId`. */
export async function clientsRatingOtherAgents(
  db: Queryable,
  asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>,
  agentId: string,
  clients: readonly string[],
): Promise<Set<string>> {
  if (clients.length === 0) return new Set();
  const params: unknown[] = [asOf.chainId, asOf.asOfBlock];
  const [byClient] = feedbackFilterConditions({ clients }, (value) => `$${params.push(value)}`);
  params.push(agentId);
  const { rows } = await db.query<{ client: string }>(
    `WITH scoped AS (
       ${FEEDBACK_OF_CHAIN_AS_OF}
       WHERE ${byClient} AND f.agent_id <> $${params.length}::numeric
     )
     SELECT DISTINCT client FROM scoped WHERE revoked_at_block IS NULL`,
    params,
  );
  return new Set(rows.map((r) => r.client));
}

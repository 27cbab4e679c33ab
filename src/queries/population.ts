/**
 * Figures over every agent of a chain, read from the same as-of feedback and validation sets as one agent's
 * (feedbackAsOfSql and validationsAsOfSql with all agents): per-agent aggregates for compareToBaseline and "which of
 * these clients rated another agent" for the client analysis. Only non-revoked feedback counts. Sums of WADs are exact
 * in SQL numeric and divided in BigInt, never in SQL.
 */
import type { Queryable } from '../db/transaction.js';
import type { AsOf } from './as-of.js';
import { canonicalJson } from './canonical-json.js';
import { feedbackAsOfSql, feedbackFilterConditions, type FeedbackFilter } from './feedback-set.js';
import { validationsAsOfSql } from './validation-set.js';

const FEEDBACK_OF_CHAIN_AS_OF = feedbackAsOfSql({ allAgents: true });

/** One agent's counted feedback: how much, its WAD sum, its distinct clients and Σ(per-client count)² for HHI. */
export interface AgentAggregate {
  agentId: string;
  count: number;
  wadSum: bigint;
  clients: number;
  sumOfSquaredClientCounts: bigint;
}

export type PopulationFilter = Pick<FeedbackFilter, 'tag1' | 'tag2' | 'from' | 'to' | 'abiVersions'>;

/**
 * The chain's aggregates as of a block are the same for every agent asked about at that block, and reading them takes
 * one pass over the chain's whole feedback set (≈0.5–1 s at 100,000 feedback): the latest few are kept in this
 * process. The key holds the block's hash, so a reorg below the block (which changes its hash) never serves stale
 * figures.
 */
const MEMO_ENTRIES = 16;
const memo = new Map<string, Promise<unknown>>();

function memoised<T>(key: unknown, read: () => Promise<T>): Promise<T> {
  const text = canonicalJson(key);
  let figures = memo.get(text) as Promise<T> | undefined;
  if (figures) {
    memo.delete(text); // re-inserted below: the Map's order is the recency order
  } else {
    figures = read();
    figures.catch(() => memo.delete(text));
    if (memo.size >= MEMO_ENTRIES) memo.delete(memo.keys().next().value!);
  }
  memo.set(text, figures);
  return figures;
}

/** Every agent of the chain with counted feedback in `filter`'s scope, as of the block; in agent id order. */
export function agentAggregates(db: Queryable, asOf: AsOf, filter: PopulationFilter = {}): Promise<AgentAggregate[]> {
  const filterKey = { ...filter, from: filter.from?.toISOString(), to: filter.to?.toISOString() };
  return memoised({ figures: 'feedback', asOf, filter: filterKey }, () => readAgentAggregates(db, asOf, filter));
}

/** One agent's responded validation requests and the sum of their latest responses (0–100 each). */
export interface AgentValidationAggregate {
  agentId: string;
  responded: number;
  responseSum: bigint;
}

const VALIDATIONS_OF_CHAIN_AS_OF = validationsAsOfSql({ allAgents: true });

/** Every agent of the chain with a responded validation request as of the block; in agent id order. */
export function agentValidationAggregates(db: Queryable, asOf: AsOf): Promise<AgentValidationAggregate[]> {
  return memoised({ figures: 'validations', asOf }, async () => {
    const { rows } = await db.query<{ agent_id: string; responded: number; response_sum: string }>(
      `WITH requests AS (${VALIDATIONS_OF_CHAIN_AS_OF})
       SELECT agent_id, count(*)::int AS responded, sum(response)::text AS response_sum
       FROM requests WHERE response_count > 0
       GROUP BY agent_id ORDER BY agent_id::numeric`,
      [asOf.chainId, asOf.asOfBlock],
    );
    return rows.map((r) => ({ agentId: r.agent_id, responded: r.responded, responseSum: BigInt(r.response_sum) }));
  });
}

async function readAgentAggregates(
  db: Queryable,
  asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>,
  filter: PopulationFilter,
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

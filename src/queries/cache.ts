/**
 * Answers kept in query_cache. An answer is as of a block and never changes for that block, so it may be served for
 * its tier's lifetime; a question without `asOfBlock` ("latest") is cached under "latest" and its answer says which
 * block it is as of. Expired rows are skipped here and deleted by the maintenance workflow (purgeExpiredAnswers).
 */
import type { Queryable } from '../db/transaction.js';
import { canonicalHash } from './canonical-json.js';
import { SEMANTICS_VERSION, TIER_DEFAULTS, type QueryAnswer, type QueryTool } from './tool.js';

export interface CacheQuestion {
  tool: QueryTool;
  chainId: number;
  agentId: string;
  params: Record<string, unknown>;
  asOfBlock: number | undefined;
}

/** `t{tier}:{tool}:{chainId}:{agentId}:{sha256 of the canonical params, block and semantics}`. */
export function cacheKey(q: CacheQuestion): string {
  const digest = canonicalHash({
    params: q.params,
    asOfBlock: q.asOfBlock ?? 'latest',
    semanticsVersion: SEMANTICS_VERSION,
  });
  return `t${q.tool.tier}:${q.tool.name}:${q.chainId}:${q.agentId}:${digest}`;
}

export async function cachedAnswer(db: Queryable, key: string): Promise<QueryAnswer | undefined> {
  const { rows } = await db.query<{ result: QueryAnswer }>(
    'SELECT result FROM query_cache WHERE cache_key = $1 AND expires_at > now()',
    [key],
  );
  return rows[0]?.result;
}

export async function storeAnswer(db: Queryable, key: string, q: CacheQuestion, answer: QueryAnswer): Promise<void> {
  await db.query(
    `INSERT INTO query_cache (cache_key, tier, tool, arguments, result, expires_at, chain_id, as_of_block, semantics_version)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6), $7, $8, $9)
     ON CONFLICT (cache_key) DO UPDATE SET result = EXCLUDED.result, expires_at = EXCLUDED.expires_at,
       as_of_block = EXCLUDED.as_of_block, created_at = now()`,
    [
      key,
      q.tool.tier,
      q.tool.name,
      JSON.stringify(q.params),
      JSON.stringify(answer),
      TIER_DEFAULTS[q.tool.tier].cacheTtlSeconds,
      q.chainId,
      answer.asOfBlock,
      SEMANTICS_VERSION,
    ],
  );
}

export async function purgeExpiredAnswers(db: Queryable, batchSize = 10_000): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM query_cache WHERE id IN (SELECT id FROM query_cache WHERE expires_at <= now() LIMIT $1)`,
    [batchSize],
  );
  return rowCount ?? 0;
}

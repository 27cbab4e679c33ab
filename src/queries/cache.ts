/**
 * Answers kept in query_cache. An answer is as of a block and never changes for that block, so it may be served for
 * its tier's lifetime; a question without `asOfBlock` ("latest") is cached under "latest" and its answer says which
 * block it is as of. Expired rows are skipped here and deleted by the maintenance workflow (purgeExpiredAnswers).
 * Each process remembers recent answers for a short while (AnswerCache).
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

/** How long this process serves an answer from memory before asking query_cache again (another process may have
 * replaced it with a fresher one: a `fresh` call). */
const MEMORY_SECONDS = 30;
/** The memory's budget, in characters of answer JSON. */
const MEMORY_BUDGET = 32 * 1024 * 1024;

interface Remembered {
  answer: QueryAnswer;
  /** Date.now() after which it is asked for again. */
  until: number;
  size: number;
}

/**
 * query_cache with a small memory in front: an answer read or stored here is served from memory for up to
 * MEMORY_SECONDS (never past its row's expiry), least recently used first out when over MEMORY_BUDGET. A cached
 * call then costs no cache round trip, the one read that every cached call made.
 */
export class AnswerCache {
  private readonly memory = new Map<string, Remembered>();
  private size = 0;

  async lookup(db: Queryable, key: string): Promise<QueryAnswer | undefined> {
    const remembered = this.memory.get(key);
    if (remembered) {
      this.forget(key);
      if (remembered.until > Date.now()) {
        this.remember(key, remembered);
        return remembered.answer;
      }
    }
    const { rows } = await db.query<{ result: string; seconds_left: number }>({
      name: 'query-cache-lookup',
      text: `SELECT result::text AS result, extract(epoch FROM expires_at - now())::float8 AS seconds_left
       FROM query_cache WHERE cache_key = $1 AND expires_at > now()`,
      values: [key],
    });
    const row = rows[0];
    if (!row) return undefined;
    const answer = JSON.parse(row.result) as QueryAnswer;
    this.remember(key, {
      answer,
      until: Date.now() + 1000 * Math.min(MEMORY_SECONDS, row.seconds_left),
      size: row.result.length,
    });
    return answer;
  }

  async store(db: Queryable, key: string, q: CacheQuestion, answer: QueryAnswer): Promise<void> {
    const result = JSON.stringify(answer);
    const ttl = TIER_DEFAULTS[q.tool.tier].cacheTtlSeconds;
    await db.query({
      name: 'query-cache-store',
      text: `INSERT INTO query_cache (cache_key, tier, tool, arguments, result, expires_at, chain_id, as_of_block, semantics_version)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6), $7, $8, $9)
       ON CONFLICT (cache_key) DO UPDATE SET result = EXCLUDED.result, expires_at = EXCLUDED.expires_at,
         as_of_block = EXCLUDED.as_of_block, created_at = now()`,
      values: [
        key,
        q.tool.tier,
        q.tool.name,
        JSON.stringify(q.params),
        result,
        ttl,
        q.chainId,
        answer.asOfBlock,
        SEMANTICS_VERSION,
      ],
    });
    this.forget(key);
    this.remember(key, { answer, until: Date.now() + 1000 * Math.min(MEMORY_SECONDS, ttl), size: result.length });
  }

  private remember(key: string, entry: Remembered): void {
    if (entry.size > MEMORY_BUDGET / 16) return;
    this.memory.set(key, entry);
    this.size += entry.size;
    for (const [oldest, old] of this.memory) {
      if (this.size <= MEMORY_BUDGET) break;
      this.memory.delete(oldest);
      this.size -= old.size;
    }
  }

  private forget(key: string): void {
    const entry = this.memory.get(key);
    if (!entry) return;
    this.memory.delete(key);
    this.size -= entry.size;
  }
}

export async function purgeExpiredAnswers(db: Queryable, batchSize = 10_000): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM query_cache WHERE id IN (SELECT id FROM query_cache WHERE expires_at <= now() LIMIT $1)`,
    [batchSize],
  );
  return rowCount ?? 0;
}

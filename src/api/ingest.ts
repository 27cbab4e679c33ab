import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { ingestRequestSchema, toEventRecords } from '../indexer/ingest-schema.js';
import { insertEvents, withIngestTransaction } from '../indexer/store.js';
import { HttpError, readJsonBody } from './http.js';

/** 1,000 events of ordinary size fit well below this. */
export const MAX_INGEST_BODY_BYTES = 2 * 1024 * 1024;

function sameSecret(given: string, expected: string): boolean {
  // Compare digests: constant time regardless of where the strings differ or how long they are.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Names the credential a push came with (events.pushed_by) without revealing it. */
function tokenFingerprint(token: string): string {
  return `token:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;
}

/**
 * POST /api/v1/ingest/events — batch insert for external indexers, through the same validation and the same idempotent
 * write path as our own indexer. The batch is all or nothing. Pushed rows are marked as such (events.source = 'ingest')
 * and never replace a stored event: a row whose log is already stored with other content is refused and counted in
 * `conflicts`; when our indexer later reads a log that a pushed row got wrong, the chain's content supersedes it.
 */
export async function handleIngest(
  req: http.IncomingMessage,
  deps: { pool: pg.Pool; logger: Logger; token: string | undefined },
): Promise<{ status: number; body: unknown }> {
  if (!deps.token) throw new HttpError(404, 'ingestion is disabled (set INGEST_API_TOKEN to enable it)');
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (!match || !sameSecret(match[1]!.trim(), deps.token)) {
    throw new HttpError(401, 'missing or invalid bearer token', { 'www-authenticate': 'Bearer' });
  }
  const json = await readJsonBody(req, MAX_INGEST_BODY_BYTES);
  const parsed = ingestRequestSchema.safeParse(json);
  if (!parsed.success) {
    throw new HttpError(400, 'invalid ingestion payload', undefined, {
      issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  const rows = toEventRecords(parsed.data);
  const pushedBy = tokenFingerprint(deps.token);
  const { inserted, conflicts } = await withIngestTransaction(deps.pool, (client) =>
    insertEvents(client, rows, { source: 'ingest', pushedBy }),
  );
  const summary = { chainId: parsed.data.chainId, pushedBy, received: rows.length, inserted, conflicts };
  if (conflicts > 0)
    deps.logger.warn(summary, 'refused pushed events whose logs are already stored with other content');
  else deps.logger.info(summary, 'ingested external events');
  return {
    status: 200,
    body: { received: rows.length, inserted, duplicates: rows.length - inserted - conflicts, conflicts },
  };
}

/** How often a trigger has fired, counted from the recorded matches. */
import type { Queryable } from '../db/transaction.js';

/**
 * The trigger's recorded firings; undefined when the organization has no such trigger. Counted from what is recorded,
 * not from the workflow: a trigger that depends on the event alone is evaluated by the relay, and its workflow never
 * sees those events.
 */
export async function countFirings(
  db: Queryable,
  organizationId: string,
  triggerId: string,
): Promise<number | undefined> {
  const { rows } = await db.query<{ fired: string }>(
    `SELECT (SELECT count(*) FROM trigger_matches m WHERE m.trigger_id = t.id) AS fired FROM triggers t WHERE t.id = $1 AND t.organization_id = $2`,
    [triggerId, organizationId],
  );
  return rows[0] ? Number(rows[0].fired) : undefined;
}

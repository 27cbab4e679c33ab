/**
 * Each REST action's own Standard Webhooks signing secret (one per endpoint, as Standard Webhooks recommends), sealed
 * at rest and bound to its organization and action. A signature made for one action does not verify with another's
 * secret, so signed bodies collected at one URL cannot be replayed to another action's receiver.
 *
 * The secret belongs to the action row: it is created when the action is saved (or at its first delivery), survives
 * trigger edits that keep the action's URL (src/triggers/store.ts keeps such rows) and goes with the action; an
 * action pointed at another URL is a new endpoint with a new secret. Rotation keeps the previous secret signing
 * alongside the new one for a window, so receivers can switch without dropping deliveries.
 */
import type { SecretBox } from '../secrets.js';
import { organizationSecret, type SecretBinding } from '../secrets.js';
import { generateWebhookSecret } from './webhook-signing.js';
import type pg from 'pg';
import type { Db } from '../db/pool.js';

export const DEFAULT_ROTATION_WINDOW_HOURS = 24;

/** The REST action a secret signs for. */
export interface WebhookAction {
  actionId: number;
  organizationId: string;
}

/** What a caller (the organization's receiver operator) is shown. */
export interface ActionWebhookSecret {
  secret: string;
  /** The previous secret while it still signs (rotation window), else null. */
  previousSecret: string | null;
  previousValidUntil: Date | null;
}

/** The binding of an action's signing secrets (current and previous): its organization and the action. */
export function webhookSecretBinding({ organizationId, actionId }: WebhookAction): SecretBinding {
  return organizationSecret(organizationId, `action_webhook_secrets.secret.${actionId}`);
}

interface SecretRow {
  action_id: number;
  organization_id: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_valid_until: Date | null;
  previous_valid: boolean;
}

/** Creates the missing secrets of these actions (an existing secret is kept). */
export async function ensureWebhookSecrets(
  db: Pick<Db, 'query'> | pg.PoolClient,
  box: SecretBox,
  actions: readonly WebhookAction[],
): Promise<void> {
  if (actions.length === 0) return;
  await db.query(
    // An action deleted meanwhile (trigger edited or removed) gets none.
    `INSERT INTO action_webhook_secrets (action_id, organization_id, secret_sealed)
     SELECT n.* FROM unnest($1::int4[], $2::uuid[], $3::text[]) AS n(action_id, organization_id, secret_sealed)
     WHERE EXISTS (SELECT 1 FROM trigger_actions a WHERE a.id = n.action_id)
     ON CONFLICT (action_id) DO NOTHING`,
    [
      actions.map((a) => a.actionId),
      actions.map((a) => a.organizationId),
      actions.map((a) => box.encrypt(generateWebhookSecret(), webhookSecretBinding(a))),
    ],
  );
}

async function readSecretRows(db: Db, actions: readonly WebhookAction[]): Promise<SecretRow[]> {
  const { rows } = await db.query<SecretRow>(
    `SELECT action_id, organization_id::text AS organization_id, secret_sealed, previous_secret_sealed, previous_valid_until,
       coalesce(previous_valid_until > now(), false) AS previous_valid
     FROM action_webhook_secrets WHERE action_id = ANY($1::int4[])`,
    [actions.map((a) => a.actionId)],
  );
  return rows;
}

/**
 * The secrets to sign with now, per action (a delivery batch: one read, plus one insert for actions that have none
 * yet): the current one, plus the previous one during its rotation window. A secret opens only for the action's own
 * organization (a row whose organization differs from the action's does not count).
 */
export async function webhookSecretsOf(
  db: Db,
  box: SecretBox,
  actions: readonly WebhookAction[],
): Promise<Map<number, string[]>> {
  const unique = [...new Map(actions.map((a) => [a.actionId, a])).values()];
  const byAction = async () => new Map((await readSecretRows(db, unique)).map((r) => [r.action_id, r]));
  let rows = await byAction();
  if (rows.size < unique.length) {
    await ensureWebhookSecrets(
      db,
      box,
      unique.filter((a) => !rows.has(a.actionId)),
    );
    rows = await byAction();
  }
  const secrets = new Map<number, string[]>();
  for (const action of unique) {
    const row = rows.get(action.actionId);
    if (!row) continue;
    const binding = webhookSecretBinding(action);
    const list = [box.decrypt(row.secret_sealed, binding)];
    if (row.previous_secret_sealed && row.previous_valid) list.push(box.decrypt(row.previous_secret_sealed, binding));
    secrets.set(action.actionId, list);
  }
  return secrets;
}

/** The secrets one action signs with now (current first). */
export async function actionWebhookSecrets(db: Db, box: SecretBox, action: WebhookAction): Promise<string[]> {
  return (await webhookSecretsOf(db, box, [action])).get(action.actionId)!;
}

/** The action's secret, shown to the organization so its receiver can verify signatures. */
export async function currentWebhookSecret(
  db: Db,
  box: SecretBox,
  action: WebhookAction,
): Promise<ActionWebhookSecret> {
  await ensureWebhookSecrets(db, box, [action]);
  const [row] = await readSecretRows(db, [action]);
  const binding = webhookSecretBinding(action);
  return {
    secret: box.decrypt(row!.secret_sealed, binding),
    previousSecret:
      row!.previous_secret_sealed && row!.previous_valid ? box.decrypt(row!.previous_secret_sealed, binding) : null,
    previousValidUntil: row!.previous_valid ? row!.previous_valid_until : null,
  };
}

/** Replaces the action's secret; the old one keeps signing for `windowHours`. Returns the new state. */
export async function rotateWebhookSecret(
  db: Db,
  box: SecretBox,
  action: WebhookAction,
  windowHours = DEFAULT_ROTATION_WINDOW_HOURS,
): Promise<ActionWebhookSecret> {
  await ensureWebhookSecrets(db, box, [action]);
  await db.query(
    `UPDATE action_webhook_secrets SET previous_secret_sealed = secret_sealed, previous_valid_until = now() + make_interval(hours => $3),
       secret_sealed = $2, rotated_at = now() WHERE action_id = $1`,
    [action.actionId, box.encrypt(generateWebhookSecret(), webhookSecretBinding(action)), windowHours],
  );
  return currentWebhookSecret(db, box, action);
}

/** The organization's REST action `actionId` of trigger `triggerId`; undefined when there is none. */
export async function findWebhookAction(
  db: Db,
  organizationId: string,
  triggerId: string,
  actionId: number,
): Promise<WebhookAction | undefined> {
  const { rows } = await db.query<{ id: number }>(
    `SELECT a.id FROM trigger_actions a JOIN triggers t ON t.id = a.trigger_id
     WHERE a.id = $1 AND a.trigger_id = $2 AND t.organization_id = $3 AND a.action_type = 'rest'`,
    [actionId, triggerId, organizationId],
  );
  return rows[0] ? { actionId: rows[0].id, organizationId } : undefined;
}

/**
 * The secrets of the REST actions a caller just created (a trigger saved), shown once in that answer: whoever creates
 * an endpoint learns its secret; reading it later is for admins.
 */
export async function newActionWebhookSecrets(
  db: Db,
  box: SecretBox,
  organizationId: string,
  actions: readonly { id: number; action_type: string }[],
  existingIds: readonly number[] = [],
): Promise<{ actionId: number; secret: string }[]> {
  const created = actions.filter((a) => a.action_type === 'rest' && !existingIds.includes(a.id));
  const secrets = await webhookSecretsOf(
    db,
    box,
    created.map((a) => ({ actionId: a.id, organizationId })),
  );
  return created.map((a) => ({ actionId: a.id, secret: secrets.get(a.id)![0]! }));
}

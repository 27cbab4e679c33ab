/**
 * Each organization's Standard Webhooks signing secret, sealed at rest. Created on first use; rotation keeps the
 * previous secret signing alongside the new one for a window, so receivers can switch without dropping deliveries.
 */
import type { SecretBox } from '../secrets.js';
import { generateWebhookSecret } from './webhook-signing.js';
import type { Db } from '../db/pool.js';

export const DEFAULT_ROTATION_WINDOW_HOURS = 24;

/** The secrets to sign with now: the current one, plus the previous one during its rotation window. */
export async function organizationWebhookSecrets(pool: Db, box: SecretBox, organizationId: string): Promise<string[]> {
  return (await webhookSecretsOf(pool, box, [organizationId])).get(organizationId)!;
}

/**
 * The signing secrets of several organizations (a delivery batch): one read, plus one insert for organizations that
 * have none yet.
 */
export async function webhookSecretsOf(pool: Db, box: SecretBox, organizationIds: readonly string[]): Promise<Map<string, string[]>> {
  const ids = [...new Set(organizationIds)];
  const read = () =>
    pool.query<{ organization_id: string; secret_sealed: string; previous_secret_sealed: string | null; previous_valid: boolean }>(
      `SELECT organization_id::text AS organization_id, secret_sealed, previous_secret_sealed, coalesce(previous_valid_until > now(), false) AS previous_valid
       FROM organization_webhook_secrets WHERE organization_id = ANY($1::uuid[])`,
      [ids],
    );
  let { rows } = await read();
  if (rows.length < ids.length) {
    const missing = ids.filter((id) => !rows.some((r) => r.organization_id === id));
    await pool.query(
      `INSERT INTO organization_webhook_secrets (organization_id, secret_sealed) SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT (organization_id) DO NOTHING`,
      [missing, missing.map(() => box.encrypt(generateWebhookSecret()))],
    );
    ({ rows } = await read());
  }
  const secrets = new Map<string, string[]>();
  for (const row of rows) {
    const list = [box.decrypt(row.secret_sealed)];
    if (row.previous_secret_sealed && row.previous_valid) list.push(box.decrypt(row.previous_secret_sealed));
    secrets.set(row.organization_id, list);
  }
  return secrets;
}

/** Reads the current secret (shown to the organization so its receivers can verify signatures). */
export async function currentWebhookSecret(pool: Db, box: SecretBox, organizationId: string): Promise<string> {
  return (await organizationWebhookSecrets(pool, box, organizationId))[0]!;
}

/** Replaces the secret; the old one keeps signing for `windowHours`. Returns the new secret. */
export async function rotateWebhookSecret(pool: Db, box: SecretBox, organizationId: string, windowHours = DEFAULT_ROTATION_WINDOW_HOURS): Promise<string> {
  await organizationWebhookSecrets(pool, box, organizationId);
  const fresh = generateWebhookSecret();
  await pool.query(
    `UPDATE organization_webhook_secrets SET previous_secret_sealed = secret_sealed, previous_valid_until = now() + make_interval(hours => $3),
       secret_sealed = $2, rotated_at = now() WHERE organization_id = $1`,
    [organizationId, box.encrypt(fresh), windowHours],
  );
  return fresh;
}

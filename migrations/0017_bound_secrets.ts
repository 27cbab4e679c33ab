/**
 * Secrets bound to what they belong to, a signing secret per webhook endpoint, and Telegram chats verified for an
 * organization (the platform bot posts only to those).
 *
 *  - Sealed secrets move from the `v1` format (one constant AES-GCM additional data for every value, so a ciphertext
 *    pasted into another organization's action opened there) to `v2`, whose additional data names the owner and the
 *    field (src/secrets.ts). Every stored `v1` value is opened here with the application key and sealed again as `v2`
 *    for its owner: action configs' `bot_token` and `secret_headers.*` for their trigger's organization, MCP tokens for
 *    their agent. This is the only place `v1` is still read. A value that does not open with the key is left as it
 *    is; the application then refuses it with "retired 'v1' format, enter the secret again".
 *  - Each REST action gets its own Standard Webhooks secret (`action_webhook_secrets`), replacing the organization's
 *    single secret. For a smooth switch, an existing action's previous secret is its organization's old secret, which
 *    keeps signing alongside the new one for LEGACY_SECRET_WINDOW_HOURS; then it stops.
 *
 * The application key comes from APP_ENCRYPTION_KEY, else from DATA_DIR's development key file (never created
 * here). It is needed only when there are stored secrets to convert.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { MigrationBuilder } from 'node-pg-migrate';
import {
  APP_KEY_FILE,
  agentSecret,
  keyId,
  organizationSecret,
  parseAppKey,
  SecretBox,
  type SecretBinding,
} from '../src/secrets.js';
import { generateWebhookSecret } from '../src/actions/webhook-signing.js';

const LEGACY_SECRET_WINDOW_HOURS = 72;

// ---------------------------------------------------------------------------------------------- the v1 format
const V1_AAD = Buffer.from('erc8004-secret-v1');
const V1_PATTERN = /^v1:(?:([0-9a-f]{8}):)?([A-Za-z0-9+/]+={0,2})$/;

/** Opens a `v1` value; undefined when it is not one, or does not open with `key`. */
function openV1(key: Buffer, sealed: string): string | undefined {
  const match = V1_PATTERN.exec(sealed);
  if (!match || (match[1] !== undefined && match[1] !== keyId(key))) return undefined;
  const data = Buffer.from(match[2]!, 'base64');
  if (data.length < 28) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12), { authTagLength: 16 });
    decipher.setAAD(V1_AAD);
    decipher.setAuthTag(data.subarray(12, 28));
    return Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Seals as `v1` (down migration only). */
function sealV1(key: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(V1_AAD);
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `v1:${keyId(key)}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64')}`;
}

/** The application key, read only when there is something to convert. */
function applicationKey(what: string): Buffer {
  const fromEnv = process.env.APP_ENCRYPTION_KEY;
  if (fromEnv) return parseAppKey(fromEnv);
  const file = path.resolve(process.env.DATA_DIR || '.data', APP_KEY_FILE);
  if (fs.existsSync(file)) return parseAppKey(fs.readFileSync(file, 'utf8'));
  throw new Error(
    `migration 0017 converts ${what} and needs the application key: set APP_ENCRYPTION_KEY (or DATA_DIR to the directory holding ${APP_KEY_FILE})`,
  );
}

// ---------------------------------------------------------------------------------------------- stored secrets
interface StoredSecret {
  /** Reads the stored values to convert. */
  rows: { ref: string; values: Record<string, string> }[];
  binding(ref: string, field: string): SecretBinding;
  write(ref: string, values: Record<string, string>): Promise<void>;
}

/** The secret-bearing fields of a Telegram or REST action's stored config. */
type ActionConfig = { bot_token?: string; secret_headers?: Record<string, string> } & Record<string, unknown>;

async function actionConfigSecrets(pgm: MigrationBuilder): Promise<StoredSecret> {
  const rows = await pgm.db.select(
    `SELECT a.id::text AS ref, t.organization_id::text AS organization_id, a.config
     FROM trigger_actions a JOIN triggers t ON t.id = a.trigger_id
     WHERE (a.action_type = 'telegram' AND a.config ? 'bot_token') OR (a.action_type = 'rest' AND jsonb_typeof(a.config->'secret_headers') = 'object')`,
  );
  const organizationOf = new Map(rows.map((r) => [r.ref as string, r.organization_id as string]));
  const configOf = new Map(rows.map((r) => [r.ref as string, r.config as ActionConfig]));
  return {
    rows: rows.map((r) => ({
      ref: r.ref,
      values:
        r.config.bot_token !== undefined
          ? { bot_token: r.config.bot_token }
          : Object.fromEntries(
              Object.entries(r.config.secret_headers as Record<string, string>).map(([name, v]) => [
                `secret_headers.${name}`,
                v,
              ]),
            ),
    })),
    binding: (ref, field) => organizationSecret(organizationOf.get(ref)!, `trigger_actions.config.${field}`),
    async write(ref, values) {
      const config = { ...configOf.get(ref)! };
      if (values.bot_token !== undefined) config.bot_token = values.bot_token;
      else
        config.secret_headers = Object.fromEntries(
          Object.keys(config.secret_headers ?? {}).map((name) => [name, values[`secret_headers.${name}`]!]),
        );
      await pgm.db.query('UPDATE trigger_actions SET config = $2 WHERE id = $1', [ref, JSON.stringify(config)]);
    },
  };
}

async function agentTokenSecrets(pgm: MigrationBuilder): Promise<StoredSecret> {
  const rows = await pgm.db.select(
    `SELECT chain_id::text || ':' || agent_id::text AS ref, token FROM agent_mcp_tokens`,
  );
  return {
    rows: rows.map((r) => ({ ref: r.ref, values: { token: r.token } })),
    binding: (ref, field) => {
      const [chainId, agentId] = ref.split(':');
      return agentSecret(Number(chainId), agentId!, `agent_mcp_tokens.${field}`);
    },
    async write(ref, values) {
      const [chainId, agentId] = ref.split(':');
      await pgm.db.query('UPDATE agent_mcp_tokens SET token = $3 WHERE chain_id = $1 AND agent_id = $2', [
        chainId,
        agentId,
        values.token,
      ]);
    },
  };
}

/** Rewrites every stored value with `convert` (undefined: leave that value as it is). */
async function convertAll(
  stores: StoredSecret[],
  convert: (value: string, binding: SecretBinding) => string | undefined,
): Promise<void> {
  for (const store of stores) {
    for (const row of store.rows) {
      let changed = false;
      const values = Object.fromEntries(
        Object.entries(row.values).map(([field, value]) => {
          const next = typeof value === 'string' ? convert(value, store.binding(row.ref, field)) : undefined;
          if (next !== undefined) changed = true;
          return [field, next ?? value];
        }),
      );
      if (changed) await store.write(row.ref, values);
    }
  }
}

const WEBHOOK_SECRETS_TABLE = `
  CREATE TABLE action_webhook_secrets (
      action_id INTEGER PRIMARY KEY REFERENCES trigger_actions(id) ON DELETE CASCADE,
      organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      secret_sealed TEXT NOT NULL,
      previous_secret_sealed TEXT,
      previous_valid_until TIMESTAMPTZ,
      rotated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
      created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
  );
  CREATE INDEX idx_action_webhook_secrets_organization ON action_webhook_secrets (organization_id);
  ALTER TABLE action_webhook_secrets ENABLE ROW LEVEL SECURITY;
  CREATE POLICY tenant_isolation ON action_webhook_secrets
      USING (organization_id = app_current_organization()) WITH CHECK (organization_id = app_current_organization());`;

// Chats verified for an organization by a one-time code sent to the platform bot (src/actions/telegram-chats.ts).
const TELEGRAM_CHAT_TABLES = `
  CREATE TABLE telegram_chat_link_codes (
      code_hash TEXT PRIMARY KEY,
      organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      created_by UUID REFERENCES users(id) ON DELETE SET NULL,
      expires_at TIMESTAMPTZ NOT NULL,
      used_at TIMESTAMPTZ,
      chat_id TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
  );
  CREATE INDEX idx_telegram_chat_link_codes_organization ON telegram_chat_link_codes (organization_id);
  CREATE TABLE telegram_verified_chats (
      organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
      chat_id TEXT NOT NULL,
      title TEXT,
      verified_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
      PRIMARY KEY (organization_id, chat_id)
  );
  ALTER TABLE telegram_chat_link_codes ENABLE ROW LEVEL SECURITY;
  CREATE POLICY tenant_isolation ON telegram_chat_link_codes
      USING (organization_id = app_current_organization()) WITH CHECK (organization_id = app_current_organization());
  ALTER TABLE telegram_verified_chats ENABLE ROW LEVEL SECURITY;
  CREATE POLICY tenant_isolation ON telegram_verified_chats
      USING (organization_id = app_current_organization()) WITH CHECK (organization_id = app_current_organization());`;

export async function up(pgm: MigrationBuilder): Promise<void> {
  await pgm.db.query(WEBHOOK_SECRETS_TABLE);
  await pgm.db.query(TELEGRAM_CHAT_TABLES);
  const stores = [await actionConfigSecrets(pgm), await agentTokenSecrets(pgm)];
  const restActions = await pgm.db.select(
    `SELECT a.id, t.organization_id::text AS organization_id, o.secret_sealed AS legacy_secret
     FROM trigger_actions a JOIN triggers t ON t.id = a.trigger_id LEFT JOIN organization_webhook_secrets o ON o.organization_id = t.organization_id
     WHERE a.action_type = 'rest'`,
  );
  const toConvert = stores.reduce((n, s) => n + s.rows.length, 0) + restActions.length;
  if (toConvert > 0) {
    const key = applicationKey(`${toConvert} stored secret(s)`);
    const box = new SecretBox(key);
    await convertAll(stores, (value, binding) => {
      const plain = openV1(key, value);
      return plain === undefined ? undefined : box.encrypt(plain, binding);
    });
    for (const action of restActions) {
      const binding = organizationSecret(action.organization_id, `action_webhook_secrets.secret.${action.id}`);
      const legacy = action.legacy_secret ? openV1(key, action.legacy_secret) : undefined;
      await pgm.db.query(
        `INSERT INTO action_webhook_secrets (action_id, organization_id, secret_sealed, previous_secret_sealed, previous_valid_until)
         VALUES ($1, $2, $3, $4, CASE WHEN $4::text IS NULL THEN NULL ELSE now() + make_interval(hours => $5) END)`,
        [
          action.id,
          action.organization_id,
          box.encrypt(generateWebhookSecret(), binding),
          legacy === undefined ? null : box.encrypt(legacy, binding),
          LEGACY_SECRET_WINDOW_HOURS,
        ],
      );
    }
  }
  await pgm.db.query('DROP TABLE organization_webhook_secrets');
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  // The organization secrets come back empty (made again at the first delivery); the per-action ones are dropped.
  await pgm.db.query(`
    CREATE TABLE organization_webhook_secrets (
        organization_id UUID PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
        secret_sealed TEXT NOT NULL,
        previous_secret_sealed TEXT,
        previous_valid_until TIMESTAMPTZ,
        rotated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
        created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
    );
    ALTER TABLE organization_webhook_secrets ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON organization_webhook_secrets
        USING (organization_id = app_current_organization()) WITH CHECK (organization_id = app_current_organization());
    DROP TABLE action_webhook_secrets;
    DROP TABLE telegram_verified_chats;
    DROP TABLE telegram_chat_link_codes;`);
  const stores = [await actionConfigSecrets(pgm), await agentTokenSecrets(pgm)];
  const toConvert = stores.reduce((n, s) => n + s.rows.length, 0);
  if (toConvert === 0) return;
  const key = applicationKey(`${toConvert} stored secret(s) back to 'v1'`);
  const box = new SecretBox(key);
  await convertAll(stores, (value, binding) => {
    try {
      return sealV1(key, box.decrypt(value, binding));
    } catch {
      return undefined;
    }
  });
}

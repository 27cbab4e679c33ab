import { createCipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionSecretBinding } from '../../src/actions/action-secrets.js';
import { webhookSecretBinding } from '../../src/actions/webhook-secrets.js';
import { migrate, MIGRATIONS_DIR } from '../../src/db/migrate.js';
import { agentSecret, keyId, SecretBox } from '../../src/secrets.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';

const SEED_TABLES = [
  'users',
  'organizations',
  'organization_members',
  'triggers',
  'trigger_conditions',
  'trigger_actions',
  'trigger_state',
  'events',
  'checkpoints',
  'action_results',
  'agent_mcp_tokens',
  'credits',
  'credit_transactions',
  'subscriptions',
  'payment_nonces',
  'a2a_tasks',
  'api_keys',
  'agent_links',
  'used_nonces',
  'oauth_clients',
  'oauth_tokens',
  'query_cache',
  'usage_logs',
];
const UPDATED_AT_TRIGGERS = [
  'update_users_updated_at',
  'update_triggers_updated_at',
  'update_agent_mcp_tokens_updated_at',
  'update_organizations_updated_at',
];

async function schemaObjects(db: TestDatabase) {
  const q = async (sql: string) => (await db.pool.query<{ name: string }>(sql)).rows.map((r) => r.name).sort();
  return {
    tables: await q(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`),
    matviews: await q(`SELECT matviewname AS name FROM pg_matviews WHERE schemaname = 'public'`),
    views: await q(`SELECT viewname AS name FROM pg_views WHERE schemaname = 'public'`),
    functions: await q(
      `SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = 'public' AND p.prokind = 'f' AND NOT EXISTS (
         SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')`,
    ),
    triggers: await q(`SELECT tgname AS name FROM pg_trigger WHERE NOT tgisinternal`),
    indexes: await q(`SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public'`),
    policies: await q(`SELECT tablename || '.' || policyname AS name FROM pg_policies WHERE schemaname = 'public'`),
  };
}

const exists = async (db: TestDatabase, sql: string) => ((await db.pool.query(sql)).rowCount ?? 0) > 0;
const hasColumn = (db: TestDatabase, table: string, column: string) =>
  exists(db, `SELECT 1 FROM information_schema.columns WHERE table_name = '${table}' AND column_name = '${column}'`);

/** For each migration after 0015: true while what it adds is there. A new migration adds its entry here. */
const LATER_MIGRATION_PROBES: Record<string, (db: TestDatabase) => Promise<boolean>> = {
  '0016_event_provenance_and_retention': (db) => hasColumn(db, 'events', 'source'),
  '0017_bound_secrets': (db) => exists(db, `SELECT 1 FROM pg_tables WHERE tablename = 'action_webhook_secrets'`),
  '0018_email_verification_and_invitations': (db) => hasColumn(db, 'users', 'email_verified_at'),
  '0019_breakers_per_organization_and_claim_leases': (db) => hasColumn(db, 'delivery_breakers', 'organization_id'),
  '0020_credits_ledger': (db) => exists(db, `SELECT 1 FROM pg_tables WHERE tablename = 'credit_holds'`),
  '0021_stripe_billing': (db) => exists(db, `SELECT 1 FROM pg_tables WHERE tablename = 'stripe_events'`),
  '0022_plan_changes': (db) => exists(db, `SELECT 1 FROM pg_tables WHERE tablename = 'plan_changes'`),
  '0023_query_metering': (db) => exists(db, `SELECT 1 FROM pg_tables WHERE tablename = 'query_allowances'`),
  '0024_x402_payments': (db) => exists(db, `SELECT 1 FROM pg_tables WHERE tablename = 'x402_payments'`),
  '0025_query_tool_indexes': (db) =>
    exists(db, `SELECT 1 FROM pg_indexes WHERE indexname = 'idx_events_agent_type_block'`),
  '0026_a2a_tasks_v1': (db) => hasColumn(db, 'a2a_tasks', 'workflow_id'),
  '0027_agent_links': (db) => exists(db, `SELECT 1 FROM pg_tables WHERE tablename = 'agent_follows'`),
  '0028_trigger_index_notify': (db) => exists(db, `SELECT 1 FROM pg_trigger WHERE tgname = 'triggers_notify_index'`),
};

describe('migrations on an empty database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
  });
  afterAll(async () => db?.drop());

  it('go up, all the way down, and up again to the same schema', async () => {
    const up = await migrate({ databaseUrl: db.url, logger: testLogger });
    expect(up.length).toBeGreaterThanOrEqual(6);
    const first = await schemaObjects(db);

    for (const table of SEED_TABLES) expect(first.tables, `table ${table}`).toContain(table);
    expect(first.matviews).toEqual(expect.arrayContaining(['events_hourly', 'action_metrics_hourly']));
    expect(first.views).toContain('canonical_events');
    expect(first.functions).toEqual(
      expect.arrayContaining([
        'update_updated_at_column',
        'notify_new_event',
        'cleanup_old_action_results',
        'refresh_reporting_views',
        'apply_event_retention',
      ]),
    );
    expect(first.triggers).toEqual(expect.arrayContaining(['events_notify_trigger', ...UPDATED_AT_TRIGGERS]));
    // Both names of the seed's confused index exist, each covering what its name says.
    expect(first.indexes).toEqual(
      expect.arrayContaining(['idx_triggers_chain_registry_enabled', 'idx_triggers_org_chain_registry_enabled']),
    );

    const down = await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down', count: Infinity });
    expect(down).toEqual([...up].reverse());
    const empty = await schemaObjects(db);
    expect(empty.tables).toEqual(['pgmigrations']);
    expect(empty.matviews).toEqual([]);
    expect(empty.views).toEqual([]);
    expect(empty.functions).toEqual([]);
    expect(empty.triggers).toEqual([]);

    const again = await migrate({ databaseUrl: db.url, logger: testLogger });
    expect(again).toEqual(up);
    expect(await schemaObjects(db)).toEqual(first);
  });

  it('is a no-op when everything is applied', async () => {
    expect(await migrate({ databaseUrl: db.url, logger: testLogger })).toEqual([]);
  });

  it('reverts one step at a time', async () => {
    const notifyTriggers = async () =>
      (await db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgname LIKE '%notify_access' ORDER BY 1`)).rows.map(
        (r) => r.tgname,
      );
    expect(await notifyTriggers()).toEqual(['organization_members_notify_access', 'organizations_notify_access']);
    const claimColumn = async () =>
      (
        await db.pool.query(
          `SELECT 1 FROM information_schema.columns WHERE table_name = 'deliveries' AND column_name = 'claim'`,
        )
      ).rowCount;
    expect(await claimColumn()).toBe(1);
    // Migrations after 0015, newest first: each one reverted alone takes away what it added.
    const appliedMigrations = async () =>
      (await db.pool.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY id')).rows.map((r) => r.name);
    const laterMigrations = (await appliedMigrations()).filter((name) => name.slice(0, 4) > '0015').reverse();
    expect(laterMigrations.length).toBeGreaterThan(0);
    for (const name of laterMigrations) {
      const probe = LATER_MIGRATION_PROBES[name];
      expect(probe, `a probe for ${name} in LATER_MIGRATION_PROBES`).toBeDefined();
      expect(await probe!(db), `${name} applied`).toBe(true);
      expect(await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down' })).toEqual([name]);
      expect(await probe!(db), `${name} reverted`).toBe(false);
    }
    expect(await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down' })).toEqual([
      '0015_delivery_claims',
    ]);
    expect(await claimColumn()).toBe(0);
    expect(await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down', count: 2 })).toEqual([
      '0014_trigger_candidate_indexes',
      '0013_organization_access_notify',
    ]);
    expect(await notifyTriggers()).toEqual([]);
    const [last] = await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down' });
    expect(last).toBe('0012_row_level_security');
    const rowSecurity = async () =>
      (
        await db.pool.query(
          `SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname IN ('triggers', 'api_keys') ORDER BY 1`,
        )
      ).rows;
    expect(await rowSecurity()).toEqual([
      { relname: 'api_keys', relrowsecurity: false },
      { relname: 'triggers', relrowsecurity: false },
    ]);
    expect(await migrate({ databaseUrl: db.url, logger: testLogger })).toEqual([
      '0012_row_level_security',
      '0013_organization_access_notify',
      '0014_trigger_candidate_indexes',
      '0015_delivery_claims',
      ...[...laterMigrations].reverse(),
    ]);
    for (const name of laterMigrations)
      expect(await LATER_MIGRATION_PROBES[name]!(db), `${name} applied again`).toBe(true);
    expect(await claimColumn()).toBe(1);
    expect(await notifyTriggers()).toEqual(['organization_members_notify_access', 'organizations_notify_access']);
    expect(await rowSecurity()).toEqual([
      { relname: 'api_keys', relrowsecurity: true },
      { relname: 'triggers', relrowsecurity: true },
    ]);
  });

  it('without TimescaleDB, refreshes the plain reporting views', async () => {
    await db.pool.query('SELECT refresh_reporting_views()');
    const { rows } = await db.pool.query(`SELECT matviewname FROM pg_matviews WHERE ispopulated ORDER BY 1`);
    expect(rows.map((r) => r.matviewname)).toEqual(['action_metrics_hourly', 'events_hourly']);
  });
});

/** The retired 'v1' sealed format (one constant additional data for every value), as 0017 found it stored. */
function sealV1(key: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  cipher.setAAD(Buffer.from('erc8004-secret-v1'));
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `v1:${keyId(key)}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64')}`;
}

describe('0017_bound_secrets on stored secrets', () => {
  let db: TestDatabase;
  const key = randomBytes(32);
  const box = new SecretBox(key);
  const savedKey = process.env.APP_ENCRYPTION_KEY;
  beforeAll(async () => {
    db = await createTestDatabase({ empty: true });
    process.env.APP_ENCRYPTION_KEY = key.toString('base64');
  });
  afterAll(async () => {
    if (savedKey === undefined) delete process.env.APP_ENCRYPTION_KEY;
    else process.env.APP_ENCRYPTION_KEY = savedKey;
    await db?.drop();
  });

  it("re-seals 'v1' values for their organization and field, and gives each REST action its own secret", async () => {
    const before = fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_/.test(f) && f < '0017').length;
    await migrate({ databaseUrl: db.url, logger: testLogger, count: before });
    const userId = await insertUser(db.pool);
    const [orgA, orgB] = [await insertOrganization(db.pool, userId), await insertOrganization(db.pool, userId)];
    const {
      rows: [trigger],
    } = await db.pool.query(
      `INSERT INTO triggers (user_id, organization_id, name, chain_id, registry) VALUES ($1, $2, 'stored', 31337, 'reputation') RETURNING id`,
      [userId, orgA],
    );
    const insertAction = async (type: string, config: Record<string, unknown>) =>
      (
        await db.pool.query(
          `INSERT INTO trigger_actions (trigger_id, action_type, config) VALUES ($1, $2, $3) RETURNING id`,
          [trigger.id, type, JSON.stringify(config)],
        )
      ).rows[0].id as number;
    const telegramId = await insertAction('telegram', {
      chat_id: '1',
      message_template: 'x',
      bot_token: sealV1(key, '123:bot'),
    });
    const restId = await insertAction('rest', {
      url: 'https://receiver.example/a',
      secret_headers: { authorization: sealV1(key, 'Bearer rk'), 'x-api-key': sealV1(key, 'k2') },
    });
    const unreadableId = await insertAction('telegram', {
      chat_id: '2',
      message_template: 'x',
      bot_token: sealV1(randomBytes(32), '999:lost'),
    });
    await db.pool.query(`INSERT INTO agent_mcp_tokens (chain_id, agent_id, token) VALUES (31337, 5, $1)`, [
      sealV1(key, 'mcp-token'),
    ]);
    await db.pool.query(`INSERT INTO organization_webhook_secrets (organization_id, secret_sealed) VALUES ($1, $2)`, [
      orgA,
      sealV1(key, 'whsec_b2xkIG9yZ2FuaXphdGlvbiBzZWNyZXQgMDEyMzQ1Njc='),
    ]);

    expect(await migrate({ databaseUrl: db.url, logger: testLogger, count: 1 })).toEqual(['0017_bound_secrets']);
    const configOf = async (id: number) =>
      (await db.pool.query(`SELECT config FROM trigger_actions WHERE id = $1`, [id])).rows[0].config;
    const telegram = await configOf(telegramId);
    expect(telegram.bot_token).toMatch(/^v2:/);
    expect(box.decrypt(telegram.bot_token, actionSecretBinding(orgA, 'bot_token'))).toBe('123:bot');
    expect(() => box.decrypt(telegram.bot_token, actionSecretBinding(orgB, 'bot_token'))).toThrow(
      /another owner or field/,
    );
    const rest = await configOf(restId);
    expect(
      box.decrypt(rest.secret_headers.authorization, actionSecretBinding(orgA, 'secret_headers.authorization')),
    ).toBe('Bearer rk');
    expect(box.decrypt(rest.secret_headers['x-api-key'], actionSecretBinding(orgA, 'secret_headers.x-api-key'))).toBe(
      'k2',
    );
    expect(rest.url).toBe('https://receiver.example/a');
    // Sealed with a key we do not have: left as it was, refused when opened.
    expect((await configOf(unreadableId)).bot_token).toMatch(/^v1:/);
    const {
      rows: [agent],
    } = await db.pool.query(`SELECT token FROM agent_mcp_tokens WHERE agent_id = 5`);
    expect(box.decrypt(agent.token, agentSecret(31337, '5', 'agent_mcp_tokens.token'))).toBe('mcp-token');

    // The REST action has its own secret; the organization's old one signs beside it for a while, then the table is gone.
    const { rows: secrets } = await db.pool.query(
      `SELECT action_id, organization_id::text AS organization_id, secret_sealed, previous_secret_sealed, previous_valid_until > now() AS previous_valid FROM action_webhook_secrets`,
    );
    expect(secrets.map((s) => s.action_id)).toEqual([restId]);
    const binding = webhookSecretBinding({ actionId: restId, organizationId: orgA });
    expect(box.decrypt(secrets[0].secret_sealed, binding)).toMatch(/^whsec_/);
    expect(box.decrypt(secrets[0].previous_secret_sealed, binding)).toBe(
      'whsec_b2xkIG9yZ2FuaXphdGlvbiBzZWNyZXQgMDEyMzQ1Njc=',
    );
    expect(secrets[0].previous_valid).toBe(true);
    expect((await db.pool.query(`SELECT to_regclass('organization_webhook_secrets') AS t`)).rows[0].t).toBeNull();

    // Down: back to 'v1', the per-action secrets dropped.
    expect(await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down' })).toEqual([
      '0017_bound_secrets',
    ]);
    expect((await configOf(telegramId)).bot_token).toMatch(/^v1:/);
    expect((await db.pool.query(`SELECT to_regclass('action_webhook_secrets') AS t`)).rows[0].t).toBeNull();
  });
});

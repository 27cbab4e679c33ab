import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';

const SEED_TABLES = [
  'users', 'organizations', 'organization_members', 'triggers', 'trigger_conditions', 'trigger_actions',
  'trigger_state', 'events', 'checkpoints', 'action_results', 'agent_mcp_tokens', 'credits', 'credit_transactions',
  'subscriptions', 'payment_nonces', 'a2a_tasks', 'api_keys', 'agent_links', 'used_nonces', 'oauth_clients',
  'oauth_tokens', 'query_cache', 'usage_logs',
];
const UPDATED_AT_TRIGGERS = [
  'update_users_updated_at', 'update_triggers_updated_at', 'update_agent_mcp_tokens_updated_at',
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
      expect.arrayContaining(['update_updated_at_column', 'notify_new_event', 'cleanup_old_action_results', 'refresh_reporting_views', 'apply_event_retention']),
    );
    expect(first.triggers).toEqual(expect.arrayContaining(['events_notify_trigger', ...UPDATED_AT_TRIGGERS]));
    // Both names of the seed's confused index exist, each covering what its name says.
    expect(first.indexes).toEqual(expect.arrayContaining(['idx_triggers_chain_registry_enabled', 'idx_triggers_org_chain_registry_enabled']));

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
      (await db.pool.query(`SELECT tgname FROM pg_trigger WHERE tgname LIKE '%notify_access' ORDER BY 1`)).rows.map((r) => r.tgname);
    expect(await notifyTriggers()).toEqual(['organization_members_notify_access', 'organizations_notify_access']);
    const claimColumn = async () => (await db.pool.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'deliveries' AND column_name = 'claim'`)).rowCount;
    expect(await claimColumn()).toBe(1);
    expect(await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down' })).toEqual(['0016_event_provenance_and_retention']);
    expect(await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down' })).toEqual(['0015_delivery_claims']);
    expect(await claimColumn()).toBe(0);
    expect(await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down', count: 2 })).toEqual(['0014_trigger_candidate_indexes', '0013_organization_access_notify']);
    expect(await notifyTriggers()).toEqual([]);
    const [last] = await migrate({ databaseUrl: db.url, logger: testLogger, direction: 'down' });
    expect(last).toBe('0012_row_level_security');
    const rowSecurity = async () =>
      (await db.pool.query(`SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname IN ('triggers', 'api_keys') ORDER BY 1`)).rows;
    expect(await rowSecurity()).toEqual([
      { relname: 'api_keys', relrowsecurity: false },
      { relname: 'triggers', relrowsecurity: false },
    ]);
    expect(await migrate({ databaseUrl: db.url, logger: testLogger })).toEqual(['0012_row_level_security', '0013_organization_access_notify', '0014_trigger_candidate_indexes', '0015_delivery_claims', '0016_event_provenance_and_retention']);
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

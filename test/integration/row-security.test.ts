/**
 * Postgres row-level security, the second line of tenancy (migration 0012, src/db/tenant.ts): organization-scoped
 * queries that forget their organization filter still see and change only their organization's rows.
 */
import http from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiContext } from '../../src/api/trpc/context.js';
import { createCallerFactory, orgProcedure, router } from '../../src/api/trpc/trpc.js';
import { createTenantPool, TenantDb } from '../../src/db/tenant.js';
import { withTransaction } from '../../src/db/transaction.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { feedbackEvent, insertEvent, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';

let db: TestDatabase;
let tenantPool: pg.Pool;
let orgA: string;
let orgB: string;
let userA: string;
let userB: string;
const triggersOf: Record<string, string[]> = {};

async function insertTrigger(userId: string, organizationId: string, name: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO triggers (user_id, organization_id, name, chain_id, registry) VALUES ($1, $2, $3, 1, 'reputation') RETURNING id`,
    [userId, organizationId, name],
  );
  await db.pool.query(
    `INSERT INTO trigger_conditions (trigger_id, condition_type, field, operator, value) VALUES ($1, 'score_threshold', 'value', '<', '50')`,
    [rows[0]!.id],
  );
  return rows[0]!.id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  // One connection: every TenantDb below reuses it, so a value left behind by an earlier organization would show.
  tenantPool = createTenantPool(db.url, testLogger, { max: 1 });
  userA = await insertUser(db.pool);
  userB = await insertUser(db.pool);
  orgA = await insertOrganization(db.pool, userA);
  orgB = await insertOrganization(db.pool, userB);
  triggersOf[orgA] = [await insertTrigger(userA, orgA, 'a1'), await insertTrigger(userA, orgA, 'a2')];
  triggersOf[orgB] = [await insertTrigger(userB, orgB, 'b1')];
  for (const [org, user] of [
    [orgA, userA],
    [orgB, userB],
  ] as const) {
    await db.pool.query(
      `INSERT INTO api_keys (organization_id, created_by, name, prefix, environment, key_hash) VALUES ($1, $2, 'k', $3, 'test', '$argon2id$fake')`,
      [org, user, `sk_test_${org.slice(0, 8)}`],
    );
  }
});
afterAll(async () => {
  await tenantPool?.end();
  await db?.drop();
});

describe('the schema', () => {
  it('has row security and a policy on every table that carries an organization', async () => {
    const { rows } = await db.pool.query<{ table: string; rls: boolean; policies: number }>(
      `SELECT c.relname AS table, c.relrowsecurity AS rls,
              (SELECT count(*)::int FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname) AS policies
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND EXISTS (
         SELECT 1 FROM pg_constraint f WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid = 'organizations'::regclass)
       ORDER BY 1`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(13);
    expect(rows.filter((r) => !r.rls || r.policies < 1)).toEqual([]);
  });
});

describe('a TenantDb', () => {
  it('sees only its organization when a query has no organization filter', async () => {
    for (const org of [orgA, orgB, orgA]) {
      const tenant = new TenantDb(tenantPool, org);
      const triggers = await tenant.query<{ id: string; organization_id: string }>(
        'SELECT id, organization_id FROM triggers',
      );
      expect(triggers.rows.map((r) => r.id).sort()).toEqual([...triggersOf[org]!].sort());
      const keys = await tenant.query<{ organization_id: string }>('SELECT organization_id FROM api_keys');
      expect(keys.rows).toEqual([{ organization_id: org }]);
      const orgs = await tenant.query<{ id: string }>('SELECT id FROM organizations');
      expect(orgs.rows).toEqual([{ id: org }]);
      // Child tables follow their parent.
      const conditions = await tenant.query<{ n: number }>('SELECT count(*)::int AS n FROM trigger_conditions');
      expect(conditions.rows[0]!.n).toBe(triggersOf[org]!.length);
    }
  });

  it('changes only its organization and refuses rows of another', async () => {
    const tenant = new TenantDb(tenantPool, orgA);
    const updated = await tenant.query(`UPDATE triggers SET description = 'touched'`);
    expect(updated.rowCount).toBe(triggersOf[orgA]!.length);
    const deleted = await tenant.query(`DELETE FROM trigger_conditions WHERE trigger_id = $1`, [triggersOf[orgB]![0]]);
    expect(deleted.rowCount).toBe(0);
    await expect(
      tenant.query(
        `INSERT INTO triggers (user_id, organization_id, name, chain_id, registry) VALUES ($1, $2, 'x', 1, 'identity')`,
        [userB, orgB],
      ),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(tenant.query(`UPDATE triggers SET organization_id = $1`, [orgB])).rejects.toMatchObject({
      code: '42501',
    });

    const { rows } = await db.pool.query<{ organization_id: string; description: string | null; n: number }>(
      `SELECT organization_id, description, count(*)::int AS n FROM triggers GROUP BY 1, 2 ORDER BY n DESC`,
    );
    expect(rows).toEqual(
      expect.arrayContaining([
        { organization_id: orgA, description: 'touched', n: 2 },
        { organization_id: orgB, description: null, n: 1 },
      ]),
    );
    expect(
      (await db.pool.query('SELECT 1 FROM trigger_conditions WHERE trigger_id = $1', [triggersOf[orgB]![0]])).rowCount,
    ).toBe(1);
    await db.pool.query(`UPDATE triggers SET description = NULL`);
  });

  it('scopes the clients it hands out, transactions included', async () => {
    const names = await withTransaction(new TenantDb(tenantPool, orgB), async (client) => {
      await client.query(`UPDATE triggers SET description = 'in a transaction'`);
      return (await client.query<{ name: string }>('SELECT name FROM triggers WHERE description IS NOT NULL')).rows;
    });
    expect(names).toEqual([{ name: 'b1' }]);
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM triggers WHERE description IS NOT NULL`,
    );
    expect(rows[0]!.n).toBe(1);
    await db.pool.query(`UPDATE triggers SET description = NULL`);
  });

  it('fails closed: a tenant connection with no organization set sees nothing', async () => {
    const raw = new pg.Client({ connectionString: db.url, options: '-c role=erc8004_tenant' });
    await raw.connect();
    try {
      expect((await raw.query('SELECT current_user AS u')).rows).toEqual([{ u: 'erc8004_tenant' }]);
      expect((await raw.query('SELECT count(*)::int AS n FROM triggers')).rows).toEqual([{ n: 0 }]);
      expect((await raw.query('SELECT count(*)::int AS n FROM api_keys')).rows).toEqual([{ n: 0 }]);
      // Public chain data is not organization-owned and stays readable, all of it.
      await insertEvent(db.pool, feedbackEvent());
      const everyEvent = (await db.pool.query('SELECT count(*)::int AS n FROM events')).rows;
      expect(everyEvent[0].n).toBeGreaterThan(0);
      expect((await raw.query('SELECT count(*)::int AS n FROM events')).rows).toEqual(everyEvent);
    } finally {
      await raw.end();
    }
  });
});

describe('organization-scoped procedures', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(db);
  });
  afterAll(async () => api?.close());

  it('run under row security: a procedure that forgets its organization filter still cannot leak', async () => {
    // A deliberately careless procedure, built with the same builder every real one uses.
    const careless = router({
      allTriggers: orgProcedure('read').query(
        async ({ ctx }) => (await ctx.pool.query<{ id: string }>('SELECT id FROM triggers')).rows,
      ),
    });
    const token = await api.services.tokens.signAccessToken(userA);
    const req = {
      headers: { authorization: `Bearer ${token}` },
      socket: { remoteAddress: '127.0.0.1' },
    } as unknown as http.IncomingMessage;
    const caller = createCallerFactory(careless)(await createApiContext(api.services, req, () => undefined));
    const seen = await caller.allTriggers({ organizationId: orgA });
    expect(seen.map((r) => r.id).sort()).toEqual([...triggersOf[orgA]!].sort());
    // The membership check stays the first line: another organization's id is refused before any query.
    await expect(caller.allTriggers({ organizationId: orgB })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});

import * as db from 'zapatos/db';
import type * as s from 'zapatos/schema';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readCommittedDbTypes, renderDbTypes } from '../../scripts/db-types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertUser } from '../helpers/fixtures.js';

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

it('committed zapatos types match the migrated schema (run `npm run db:types` after changing migrations)', async () => {
  const fresh = await renderDbTypes(testDb.url);
  const committed = await readCommittedDbTypes();
  expect(committed === fresh, 'src/db/zapatos/schema.d.ts is stale: run `npm run db:types`').toBe(true);
});

it('types queries against the real tables', async () => {
  const owner = await insertUser(testDb.pool, { username: 'typed' });
  const org: s.organizations.JSONSelectable = await db
    .insert('organizations', { name: 'Typed Org', slug: 'typed-org', owner_id: owner })
    .run(testDb.pool);
  expect(org).toMatchObject({ name: 'Typed Org', plan: 'free', is_personal: false });
  const found = await db
    .selectExactlyOne('organizations', { slug: 'typed-org' }, { columns: ['id', 'owner_id'] })
    .run(testDb.pool);
  expect(found).toEqual({ id: org.id, owner_id: owner });
});

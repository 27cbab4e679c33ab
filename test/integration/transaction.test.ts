/** inTransaction (src/db/transaction.ts): a function's own transaction becomes a savepoint of the caller's. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBillingError } from '../../src/billing/errors.js';
import { credit, debit, getAccount } from '../../src/billing/ledger.js';
import { inTransaction, withTransaction } from '../../src/db/transaction.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';

let db: TestDatabase;
let organizationId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  organizationId = await insertOrganization(db.pool, await insertUser(db.pool));
});
afterAll(async () => db?.drop());

const balance = async () => (await getAccount(db.pool, organizationId)).balance;

describe('inTransaction', () => {
  it("commits and rolls back with the caller's transaction, not on its own", async () => {
    await expect(
      withTransaction(db.pool, async (client) => {
        await credit(inTransaction(client), { organizationId, kind: 'grant', key: 'rolled-back', amount: '5' });
        throw new Error('the caller fails after the nested credit');
      }),
    ).rejects.toThrow('the caller fails');
    expect(await balance()).toBe('0.00000000');

    await withTransaction(db.pool, async (client) => {
      await credit(inTransaction(client), { organizationId, kind: 'grant', key: 'kept', amount: '5' });
      // Not visible outside before the caller commits.
      expect(await balance()).toBe('0.00000000');
    });
    expect(await balance()).toBe('5.00000000');
  });

  it("undoes only the nested part when it fails, leaving the caller's transaction usable", async () => {
    await withTransaction(db.pool, async (client) => {
      await client.query(`UPDATE organizations SET name = 'Renamed' WHERE id = $1`, [organizationId]);
      const refused = await debit(inTransaction(client), { organizationId, key: 'too-much', amount: '50' }).catch(
        (e: unknown) => e,
      );
      expect(isBillingError(refused, 'insufficient_credits')).toBe(true);
      await credit(inTransaction(client), { organizationId, kind: 'grant', key: 'after-refusal', amount: '1' });
    });
    const { rows } = await db.pool.query('SELECT name FROM organizations WHERE id = $1', [organizationId]);
    expect(rows[0].name).toBe('Renamed');
    expect(await balance()).toBe('6.00000000');
  });
});
